"""The sync protocol's vocabulary, shared by the server (sync.py) and the client (sync_client.py).

Takes nothing: the constants of the line protocol (ports, limits, the compact all-vars form), its
error hierarchy, tokens, the address-order id assignment Gumby's clients expect, host and address
formatting, and `expand_compact`, which turns the compact all-vars document back into Gumby's form.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

BASE_PORT: Final = 12000
"""A peer's `port` in the all-vars document is BASE_PORT + its id unless it sets one (as in Gumby)."""
OFFSET_DEAD_BAND: Final = 0.5
"""Clock offsets smaller than this (seconds, either sign) count as 0 (as in Gumby)."""
MAX_LINE: Final = 1 << 22
"""The longest line the server accepts from a peer (Gumby's limit on both sides, 4 MiB)."""
TOKEN_BYTES: Final = 24
"""`new_token()` draws this many random bytes: 32 URL-safe characters."""
COMPACT_VARS_LINE: Final = b"accept:compact-vars"
"""What a peer sends before `time:` to get the compact all-vars document."""
COMPACT_FORM: Final = 1
"""The version of the compact all-vars form (`gscen.form` in the document)."""
AllVarsForm = Literal["auto", "compact", "gumby"]
ALL_VARS_FORMS: Final[tuple[AllVarsForm, ...]] = ("auto", "compact", "gumby")


# --------------------------------------------------------------------------- errors
class SyncError(Exception):
    """Base of every error the sync server and client raise."""


class SyncClosedError(SyncError, RuntimeError):
    """The server or client was used after it was closed (or before it was started)."""


class SyncListenError(SyncError):
    """The server could not listen on the configured host and port."""


class PeerError(SyncError):
    """One peer broke the handshake before go; `peer_id` is None if it had no id yet."""

    def __init__(self, peer_id: int | None, address: str, reason: str) -> None:
        self.peer_id = peer_id
        self.address = address
        self.reason = reason
        who = f"peer {peer_id} ({address})" if peer_id is not None else f"peer at {address} (no id yet)"
        super().__init__(f"{who} {reason}")


class PeerDisconnectedError(PeerError):
    """A peer closed its connection before go."""


class PeerProtocolError(PeerError):
    """A peer sent a line the protocol does not allow at that point, before go."""


class SyncTimeoutError(SyncError):
    """A phase ran out of time; `phase` names it, `missing` lists the ids that held it up (if known)."""

    def __init__(self, phase: str, message: str, missing: Sequence[int] = ()) -> None:
        self.phase = phase
        self.missing = tuple(missing)
        super().__init__(message)


class SyncConnectError(SyncError):
    """(client) No connection to the server before the connect deadline."""


class SyncRefusedError(SyncError):
    """(client) The server sent `error:<reason>` before go: wrong token, or it aborted the sync."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"sync server: {reason}")


class SyncServerProtocolError(SyncError):
    """(client) The server sent something unexpected, or closed the connection before go."""


# --------------------------------------------------------------------------- pure helpers
def new_token() -> str:
    """A fresh secret for one run: 32 URL-safe characters (no ':' or whitespace)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def check_token_text(token: str) -> None:
    """Raise ValueError unless `token` can travel in a protocol line (printable ASCII, no spaces)."""
    if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ValueError("a sync token must be non-empty printable ASCII without whitespace")


def host_sort_key(host: str) -> tuple[int, int, str]:
    """Order of addresses for id assignment: IPv4 numerically, then IPv6, then names alphabetically."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return (2, 0, host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (0 if ip.version == 4 else 1, int(ip), host)


def assign_ids(hosts: Sequence[str]) -> list[int]:
    """Ids 1..N for connections whose addresses are `hosts`, in accept order.

    Round-robin across addresses sorted by `host_sort_key`; within one address, accept order. A host
    that runs out of connections is skipped, so every connection gets exactly one id.
    """
    by_host: dict[str, list[int]] = {}
    for index, host in enumerate(hosts):
        by_host.setdefault(host, []).append(index)
    queues = [by_host[h][::-1] for h in sorted(by_host, key=host_sort_key)]
    ids = [0] * len(hosts)
    next_id = 1
    while queues:
        for queue in queues:
            ids[queue.pop()] = next_id
            next_id += 1
        queues = [q for q in queues if q]
    return ids


def format_address(host: str, port: int) -> str:
    """`host:port`, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normal_host(host: str) -> str:
    """The address as JSON and error messages show it: IPv4-mapped IPv6 as plain IPv4."""
    if host.startswith("::ffff:"):
        try:
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
        except ValueError:
            return host
        if mapped is not None:
            return str(mapped)
    return host


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine's loopback: `localhost`, 127.0.0.0/8 or ::1 (an IPv6 zone, as in
    `::1%lo`, is ignored). Other names are not looked up: they count as other hosts."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def error_line(reason: str) -> bytes:
    """`error:<reason>` as one protocol line (line breaks in the reason become spaces)."""
    return b"error:" + " ".join(reason.split()).encode("utf-8", "replace") + b"\r\n"


def shown(line: bytes, limit: int = 60) -> str:
    """A received line quoted for an error message, shortened."""
    text = line[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(line) > limit else ""))


def expand_compact(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Gumby's `clients` map from a compact all-vars document (see the module docstring).

    Equal to the map of the Gumby form of the same document, key for key and in the same order.
    Raises ValueError (or KeyError, TypeError) if the document is not of a form this code reads.
    """
    meta = document["gscen"]
    if meta.get("form") != COMPACT_FORM:
        raise ValueError(f"unknown compact all-vars form {meta.get('form')!r}")
    base = int(meta.get("port_base", BASE_PORT))
    host = meta.get("host", "")
    hosts = meta.get("hosts", {})
    clients: dict[str, dict[str, Any]] = {}
    for key, entry in document["clients"].items():
        full: dict[str, Any] = {"time_offset": 0}
        full.update(entry)
        if "port" not in full:
            full["port"] = base + int(key)
        if "host" not in full:
            full["host"] = hosts.get(key, host)
        clients[key] = full
    return clients
