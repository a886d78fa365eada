"""UDP ports for the peers' IPv8 sockets: the run's free port base, and binding with a fallback.

`free_udp_port_base(count)` -> a base B such that B+1..B+count are free UDP ports on this machine now
(the run exports it as GSCEN_IPV8_PORT_BASE; peer `id` binds B+id), or None when no such range was
found. Gumby used a fixed 12000, so two runs on one machine collided.

`bind_udp(host, port, exact=...)` -> a bound non-blocking socket. A taken port moves on to the next
one (up to `PORT_ATTEMPTS`), as pyipv8 does, unless `exact`: then it is a `PortInUseError`. Standard
library only: the run imports it without pyipv8.
"""

from __future__ import annotations

import errno
import random
import socket

PORT_BASE_VARIABLE = "GSCEN_IPV8_PORT_BASE"
PORT_ATTEMPTS = 100  # ports tried above a taken one (pyipv8 tries 10,000; a run's peers sit close)
_LOWEST, _HIGHEST = 20000, 60000  # below the usual ephemeral range (32768-60999 on Linux) mostly


class PortInUseError(OSError):
    """An explicitly requested UDP port is taken."""


def bind_udp(host: str, port: int, *, exact: bool) -> socket.socket:
    """A non-blocking UDP socket bound to (host, port); port 0: any free port (see the docstring)."""
    attempts = 1 if exact or port == 0 else PORT_ATTEMPTS
    for offset in range(attempts):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port + offset if port else 0))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        sock.setblocking(False)
        return sock
    if exact:
        raise PortInUseError(errno.EADDRINUSE, f"UDP port {port} on {host} is already in use")
    raise OSError(errno.EADDRINUSE, f"no free UDP port in {port}..{port + attempts - 1} on {host}")


def _all_free(first: int, count: int) -> bool:
    held: list[socket.socket] = []
    try:
        for port in range(first, first + count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(sock)
            sock.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        for sock in held:
            sock.close()


def free_udp_port_base(count: int, tries: int = 20) -> int | None:
    """A base whose next `count` UDP ports are free now (None if `tries` random ranges were not)."""
    if count < 1 or count > _HIGHEST - _LOWEST:
        return None
    rng = random.Random()
    for _ in range(tries):
        base = rng.randrange(_LOWEST, _HIGHEST - count)
        if _all_free(base + 1, count):
            return base
    return None
