"""The synchronization server: N peers -> unique ids, one shared all-vars document, one start instant.

Takes a `SyncServerConfig` (how many peers, where to listen, the run's token, the timeouts) and returns,
through `SyncServer.wait_go()`, the start instant every peer received; or raises one `SyncError`
naming the peer that broke the handshake and why. `gscen sync-server` runs it alone (the equivalent of
Gumby's experiment_server.py); `sync_client.SyncClient` is the peer's side.

Wire protocol (Gumby's, docs/compatibility.md "The sync protocol"; a Gumby client can join when no
token is required). One line per message, ending in CR LF; whitespace around a line is ignored::

    client                                  server
      [token:<secret>] ------------------->   gscen's addition, see below
      [accept:compact-vars] -------------->   gscen's addition: this peer reads the compact form
      [request-id:<n>] ------------------->   gscen's addition: this peer wants id n (see Ids)
      time:<client epoch, float> --------->   offset = client - server clock; |offset| < 0.5 s -> 0
                                              (once N peers have joined, all ids go out at once)
      <----------------------------- id:<n>
      set:<key>:<value> ------------------>   any number; <value> may contain ':'
      ready ------------------------------>
                                              (once all N are ready, the same bytes to everyone)
      <-- {"server":{"global_random":R},"clients":{"<id>":{"time_offset":..,<set keys>,"port":..,"host":..}}}
      vars_received ---------------------->
                                              (once all N acknowledged: start = now + start_delay)
      <--------------- go:<start + offset>    "%f", the start instant in the peer's own clock
      msg:<to>:<type>:<payload> ---------->   after go, any number, either way
      <------------- msg:<from>:<type>:<payload>

    a peer's process restarted after go (gscen's addition, for the scenario's `restart`):
      [token:<secret>] [accept:compact-vars]
      rejoin:<id> ------------------------>   takes over peer <id>'s place (its old connection, if
      <----------------------------- id:<n>   still open, is closed); no barrier: the answer is at once
      <---------------------- <all-vars line>  the same document the others got
      <---------------------------- go:<start>  the run's start instant; then msg lines as above

The all-vars line is JSON without spaces, encoded once per form and sent as the same bytes to every
peer that reads that form. `port` is 12000 + id and `host` the peer's address as the server sees it,
unless the peer `set` them.

Two forms of the all-vars document (`SyncServerConfig.all_vars_form`):

- Gumby's, above: every peer's `time_offset`, `port` and `host` spelled out, about 57 bytes per peer
  (227 KB to each of 4,000 peers, 0.9 GB in all, which the peers must receive and parse before the
  start). A Gumby client reads this one.
- The compact form, for peers that sent `accept:compact-vars` (gscen's do): the same document with
  what the server fills in factored out. Each entry of `clients` holds only what that peer `set`,
  and its `time_offset` if not 0; a `gscen` member holds the rest::

      {"server":{"global_random":R},"clients":{"1":{},"2":{"key":"v"},"3":{"time_offset":0.8}},
       "gscen":{"form":1,"port_base":12000,"host":"127.0.0.1","hosts":{"<id>":"<host>"}}}

  `host` is the address most peers have, `hosts` the others'. `expand_compact()` turns it back into
  Gumby's `clients` map, equal to it key for key and in the same order; about 10 bytes per peer.

`all_vars_form="auto"` (the default) sends each connection the form it asked for: Gumby clients, which
do not ask, get Gumby's. "compact" sends the compact form to everyone (clients that all read it, such
as the load generator, which reads no JSON), "gumby" Gumby's to everyone.

Token: every gscen run has a secret (`new_token()`: 32 URL-safe characters from `secrets`). A gscen peer
sends `token:<secret>` as its first line, before `time:`. With `require_token=True` a connection whose
first line is not the right token gets `error:<reason>` and is closed; it never becomes a peer, so a
stray connection cannot break the run. With `require_token=False` (Gumby clients, `--no-token`) the
token line is optional; if one is sent while the server has a token, it must be right.

Clock offsets: a peer's offset is its `time:` minus the server's clock on reading the line, 0 within
0.5 s; peers on the server's own machine get 0 (see `SyncServerConfig.local_peers_share_clock`).

Ids: when the N-th peer joins, peers are grouped by address, addresses sorted (IPv4 numerically, then
IPv6, then anything else by name), and ids 1..N dealt round-robin across addresses, each address's
peers in accept order; an address with no peers left is skipped (Gumby's skip bug is not repeated).

A peer may ask for its id with `request-id:<n>` before `time:` (gscen's addition, for launchers that
place peers themselves: on a SLURM allocation a peer's id follows from its node's rank and its index
on that node, and nodes may share one address, so address order cannot tell them apart). Requested
ids are granted as asked; the peers that asked for none (Gumby's clients never do) get the remaining
ids, smallest first, in the address order above. An id outside 1..N, or one another connection has
already asked for, is a protocol error of the asking peer (it aborts the sync before go, naming it).

Failures: before go, a peer (a connection that presented the token, or without a token, sent `time:`)
that disconnects or sends a line the protocol does not allow at that point aborts the sync, and so
does a phase that runs out of time (`connect_timeout`: the longest wait for the next peer to join;
`ready_timeout`: ids sent -> all ready; `go_timeout`: all-vars sent -> all acknowledged). Aborting
sends every connection `error:sync aborted: <reason>`, closes them, and raises a `SyncError` subclass
from `wait_go()`/`wait_done()`. After go, a disconnect is a peer that stopped; a bad line, or a `msg`
to an unknown or gone peer, gets `error:<reason>` back and the connection stays open.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import json
import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from .sync_protocol import (
    ALL_VARS_FORMS,
    BASE_PORT,
    COMPACT_FORM,
    MAX_LINE,
    OFFSET_DEAD_BAND,
    AllVarsForm,
    PeerDisconnectedError,
    PeerError,
    PeerProtocolError,
    SyncClosedError,
    SyncConnectError,
    SyncError,
    SyncListenError,
    SyncRefusedError,
    SyncServerProtocolError,
    SyncTimeoutError,
    assign_ids,
    check_token_text,
    error_line,
    expand_compact,
    format_address,
    is_loopback,
    new_token,
    normal_host,
    shown,
)

__all__ = [
    "PeerDisconnectedError",
    "PeerError",
    "PeerProtocolError",
    "SyncClosedError",
    "SyncConnectError",
    "SyncError",
    "SyncListenError",
    "SyncRefusedError",
    "SyncServer",
    "SyncServerConfig",
    "SyncServerProtocolError",
    "SyncTimeoutError",
    "assign_ids",
    "expand_compact",
    "is_loopback",
    "new_token",
    "serve",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- server
@dataclass(frozen=True, slots=True)
class SyncServerConfig:
    """What the sync server needs for one run.

    `instances`: how many peers must join. `host`/`port`: where to listen (port 0: any free port, see
    `SyncServer.port`). `start_delay`: seconds from the last `vars_received` to the start instant.
    `token`/`require_token`: see the module docstring; `require_token=True` needs a `token`.
    Timeouts, in seconds (None: wait forever): `connect_timeout` is the longest wait for the next
    peer to join while fewer than `instances` have (armed by `start()`); `ready_timeout` runs from
    sending the ids to the last `ready`; `go_timeout` from sending the all-vars line to the last
    `vars_received`. `global_random`: the `server.global_random` value (None: a fresh random draw).
    `local_peers_share_clock`: a peer connecting from this machine (a loopback address, or the
    server's own address) reads the server's clock, so its offset is 0 whatever `time:` says: a
    measured offset would only be how late the server read the line (over 0.5 s when hundreds of
    local peers start at once, which would shift their starts apart). False measures every peer,
    as Gumby does. `all_vars_form`: which all-vars document each peer gets ("auto", "compact" or
    "gumby", see the module docstring).
    """

    instances: int
    host: str = "127.0.0.1"
    port: int = 0
    start_delay: float = 1.0
    token: str | None = None
    require_token: bool = True
    connect_timeout: float | None = 60.0
    ready_timeout: float | None = 60.0
    go_timeout: float | None = 60.0
    backlog: int = 65535
    global_random: int | None = None
    local_peers_share_clock: bool = True
    all_vars_form: AllVarsForm = "auto"

    def __post_init__(self) -> None:
        if self.instances < 1:
            raise ValueError(f"instances must be at least 1, got {self.instances}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not math.isfinite(self.start_delay) or self.start_delay < 0:
            raise ValueError(f"start_delay must be a finite number >= 0, got {self.start_delay}")
        for name in ("connect_timeout", "ready_timeout", "go_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")
        if self.token is not None:
            check_token_text(self.token)
        elif self.require_token:
            raise ValueError("require_token=True needs a token (see new_token())")
        if self.all_vars_form not in ALL_VARS_FORMS:
            forms = ", ".join(ALL_VARS_FORMS)
            raise ValueError(f"all_vars_form must be one of {forms}, got {self.all_vars_form!r}")
        if self.global_random is not None and not 0 <= self.global_random < 2**32:
            raise ValueError("global_random must be in 0..2**32-1")


class _State(enum.Enum):
    """A connection's place in the handshake; the value describes it in error messages."""

    AUTH = "before sending its token"
    TIME = "before sending its time line"
    JOINED = "while waiting for its id"
    ID_SENT = "after getting its id, before ready"
    READY = "after ready, before the all-vars line"
    VARS_SENT = "after getting the all-vars line, before vars_received"
    ACKED = "after vars_received, before go"
    RUNNING = "after go"
    CLOSED = "after it was closed"


class _Connection(asyncio.Protocol):
    """One TCP connection: splits lines and applies each to the handshake (callbacks, no task)."""

    __slots__ = (
        "_buf",
        "_discarding",
        "compact",
        "host",
        "is_local",
        "is_peer",
        "offset",
        "peer_id",
        "port",
        "requested",
        "seq",
        "server",
        "state",
        "transport",
        "vars",
    )

    def __init__(self, server: SyncServer, seq: int) -> None:
        self.server = server
        self.seq = seq  # accept order
        self.transport: asyncio.Transport | None = None
        self.host = "?"
        self.port = 0
        self.state = _State.TIME
        self.is_peer = False  # a failure of a peer aborts the sync; of a stray connection, only itself
        self.is_local = False  # connected from this machine: same clock as the server
        self.peer_id: int | None = None
        self.offset: float = 0
        self.vars: dict[str, str] = {}
        self.compact = False  # asked for the compact all-vars document
        self.requested: int | None = None  # the id it asked for (request-id:<n>)
        self._buf = bytearray()
        self._discarding = False  # after go: skipping the rest of an over-long line

    # -- description
    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def describe(self) -> str:
        if self.peer_id is not None:
            return f"peer {self.peer_id} ({self.address})"
        return f"connection from {self.address}"

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.host, self.port = normal_host(str(peer[0])), int(peer[1])
            local = transport.get_extra_info("sockname")
            self.is_local = is_loopback(self.host) or (
                isinstance(local, tuple) and normal_host(str(local[0])) == self.host
            )
        elif peer:
            self.host = str(peer)
        self.server._accepted(self)

    def connection_lost(self, exc: Exception | None) -> None:
        state = self.state
        self.state = _State.CLOSED
        self.server._lost(self, state, exc)

    def data_received(self, data: bytes) -> None:
        if self._buf:
            self._buf += data
            data = bytes(self._buf)
            self._buf.clear()
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
            elif end - start > MAX_LINE:
                self.line_too_long()
            else:
                line = data[start:end].strip()
                if line:
                    self.handle_line(line)
            start = end + 1
            if self.state is _State.CLOSED:
                return
        if start < len(data) and not self._discarding:
            if len(data) - start > MAX_LINE:
                self.line_too_long()
                if self.state is not _State.CLOSED:
                    self._discarding = True
            else:
                self._buf += data[start:] if start else data

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    # -- the handshake
    def handle_line(self, line: bytes) -> None:
        state = self.state
        server = self.server
        if state is _State.RUNNING:
            if line.startswith(b"msg:"):
                server._forward(self, line)
            else:
                self.notice(f"unexpected line after go: {shown(line)}")
            return
        head, sep, rest = line.partition(b":")
        if state is _State.TIME:
            if head == b"time" and sep:
                try:
                    client_time = float(rest)
                except ValueError:
                    client_time = math.nan
                if not math.isfinite(client_time):
                    server._failed(self, PeerProtocolError, f"sent a malformed time line {shown(line)}")
                    return
                server._join(self, client_time)
            elif head == b"token" and sep and not self.is_peer:
                server._check_token(self, rest)
            elif head == b"accept" and sep and (self.is_peer or not server.config.require_token):
                if rest == b"compact-vars":
                    self.compact = True
            elif head == b"request-id" and sep and (self.is_peer or not server.config.require_token):
                server._request_id(self, rest)
            elif head == b"rejoin" and sep and (self.is_peer or not server.config.require_token):
                server._rejoin(self, rest)
            elif server.config.require_token and not self.is_peer:
                server._refuse(self, "this sync server requires a token: send token:<secret> before time:")
            else:
                server._failed(self, PeerProtocolError, f"sent {shown(line)} instead of time:<seconds>")
        elif state is _State.ID_SENT or state is _State.JOINED:
            if head == b"set" and sep:
                key, sep2, value = rest.partition(b":")
                if not sep2 or not key:
                    server._failed(self, PeerProtocolError, f"sent a malformed set line {shown(line)}")
                    return
                text = value.decode("utf-8", "replace")
                if key == b"host" and text == self.host:
                    # A peer publishing the address the server sees anyway (gscen peers on SLURM
                    # do): leave it to the server to fill in, so the compact form stays compact.
                    return
                self.vars[key.decode("utf-8", "replace")] = text
            elif line == b"ready":
                server._ready(self)
            else:
                server._failed(self, PeerProtocolError, f"sent {shown(line)} {state.value}")
        elif state is _State.VARS_SENT and line == b"vars_received":
            server._acknowledged(self)
        elif state is _State.AUTH:
            if head == b"token" and sep:
                server._check_token(self, rest)
            else:
                server._refuse(self, "this sync server requires a token: send token:<secret> before time:")
        else:
            server._failed(self, PeerProtocolError, f"sent {shown(line)} {state.value}")

    def line_too_long(self) -> None:
        if self.state is _State.RUNNING:
            self.notice(f"line longer than {MAX_LINE} bytes ignored")
        else:
            self.server._failed(self, PeerProtocolError, f"sent a line longer than {MAX_LINE} bytes")

    # -- output
    def write(self, data: bytes | memoryview) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def notice(self, reason: str) -> None:
        """A non-fatal complaint after go: tell the peer, log it, keep the connection."""
        log.warning("%s: %s", self.describe(), reason)
        self.write(error_line(reason))

    def close_with(self, line: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(line)
            transport.close()


class SyncServer:
    """The sync server for one run; an async context manager.

    Use::

        config = SyncServerConfig(instances=4, token=token)
        async with SyncServer(config) as server:      # listening once inside
            port = server.port                        # give it to the peers
            start = await server.wait_go()            # all peers got go (server clock), or SyncError
            await server.wait_done()                  # all peers disconnected after go

    `start()` / `aclose()` do what `async with` does, and must be called from the same task (the
    server's coordinating task lives in a TaskGroup entered by `start()` and left by `aclose()`).
    Leaving the block closes every connection (peers read that as "stop"). After `aclose()`,
    `start()` raises `SyncClosedError`, and so do the waiters unless what they wait for had already
    happened. Failures of the sync itself come out of the waiters as `SyncError` subclasses.
    """

    def __init__(self, config: SyncServerConfig) -> None:
        self.config = config
        self._listener: asyncio.Server | None = None
        self._group: asyncio.TaskGroup | None = None
        self._closed = False
        self._coordinator: asyncio.Task[None] | None = None
        self._conns: set[_Connection] = set()
        self._accept_count = 0
        self._joined: list[_Connection] = []
        self._by_id: dict[int, _Connection] = {}
        self._requested: dict[int, _Connection] = {}  # id -> the connection that asked for it
        self._ids_sent = False
        self._ready_count = 0
        self._ack_count = 0
        self._running = 0
        self._refused: list[str] = []
        self._refused_count = 0
        self._last_activity = 0.0
        self._failure: SyncError | None = None
        self._wakeup = asyncio.Event()
        self._go = asyncio.Event()
        self._done = asyncio.Event()
        self._start_time: float | None = None
        self._all_vars_lines: dict[bool, bytes] = {}  # compact? -> the line sent in that form
        self._finished = False  # every peer disconnected after go
        self._global_random = (
            config.global_random if config.global_random is not None else secrets.randbelow(2**32)
        )

    # -- lifecycle
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(exc_type, exc, tb)

    async def start(self) -> None:
        """Listen; return once connections are accepted. Raises SyncListenError if binding fails."""
        if self._closed:
            raise SyncClosedError("the sync server is closed")
        if self._listener is not None:
            raise RuntimeError("the sync server is already started")
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        try:
            self._listener = await loop.create_server(
                self._new_connection, self.config.host, self.config.port, backlog=self.config.backlog
            )
        except OSError as exc:
            where = format_address(self.config.host, self.config.port)
            raise SyncListenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        self._coordinator = group.create_task(self._coordinate(), name="sync-server")
        host, port = self.address
        log.info(
            "sync server listening on %s for %d peers", format_address(host, port), self.config.instances
        )

    async def aclose(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Stop listening and close every connection; before go this aborts the sync."""
        if self._closed:
            return
        self._closed = True
        if self._failure is None and not self._go.is_set():
            self._abort(SyncClosedError("the sync server was closed before go"))
        self._close_all(b"")
        if self._listener is not None:
            self._listener.close()
        self._wakeup.set()
        self._go.set()
        self._done.set()
        if self._coordinator is not None:
            self._coordinator.cancel()
        group, self._group = self._group, None
        if group is not None:
            # Only a cancellation goes to the group (it may be its own); any other exception of the
            # caller's block propagates by itself instead of being wrapped in an ExceptionGroup.
            if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                await group.__aexit__(exc_type, exc, tb)
            else:
                await group.__aexit__(None, None, None)
        if self._listener is not None:
            await self._listener.wait_closed()

    # -- public state
    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the first socket's, if it has several)."""
        if self._listener is None or not self._listener.sockets:
            raise SyncClosedError("the sync server is not listening")
        name = self._listener.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    @property
    def port(self) -> int:
        """The bound port (useful with `port=0`)."""
        return self.address[1]

    @property
    def joined(self) -> int:
        """How many peers have joined so far."""
        return len(self._joined)

    @property
    def all_vars_line(self) -> bytes | None:
        """The all-vars document in Gumby's form (without CR LF), once sent (in either form)."""
        if not self._all_vars_lines:
            return None
        line = self._all_vars_lines.get(False)
        if line is None:
            line = self._all_vars_lines[False] = self._build_all_vars(False)
        return line

    @property
    def all_vars_sizes(self) -> dict[str, int]:
        """Bytes of the all-vars line (CR LF included) per form sent: {"gumby": n, "compact": m}."""
        return {"compact" if c else "gumby": len(line) + 2 for c, line in self._all_vars_lines.items()}

    async def wait_go(self) -> float:
        """Wait until every peer got go; return the start instant (server clock, `time.time()`)."""
        await self._go.wait()
        self._raise_failure()
        assert self._start_time is not None
        return self._start_time

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def wait_done(self) -> None:
        """Wait until every peer got go and then disconnected."""
        await self._done.wait()
        self._raise_failure()
        if not self._finished:
            raise SyncClosedError("the sync server was closed before every peer disconnected")

    # -- the coordinator: one task walking the phases, each under its deadline
    async def _coordinate(self) -> None:
        n = self.config.instances
        try:
            await self._wait_joined()
            self._hand_out_ids()
            await self._wait_phase(
                lambda: self._ready_count >= n, self.config.ready_timeout, "ready", _State.READY
            )
            self._send_all_vars()
            await self._wait_phase(lambda: self._ack_count >= n, self.config.go_timeout, "go", _State.ACKED)
            self._send_go()
            self._go.set()
            await self._wait_phase(lambda: self._running <= 0, None, "done", _State.CLOSED)
            self._finished = True
            self._done.set()
            log.info("sync server: all %d peers disconnected after go", n)
        except SyncError as exc:
            self._abort(exc)

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _wait_joined(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.config.connect_timeout
        while len(self._joined) < self.config.instances:
            self._check()
            self._wakeup.clear()
            try:
                deadline = None if limit is None else self._last_activity + limit
                async with asyncio.timeout_at(deadline):
                    await self._wakeup.wait()
            except TimeoutError:
                if limit is not None and loop.time() >= self._last_activity + limit:
                    raise self._connect_timeout(limit) from None
        self._check()

    async def _wait_phase(
        self, done: Callable[[], bool], limit: float | None, phase: str, state: _State
    ) -> None:
        try:
            async with asyncio.timeout(limit):
                while not done():
                    self._check()
                    self._wakeup.clear()
                    await self._wakeup.wait()
        except TimeoutError:
            behind = sorted(i for i, c in self._by_id.items() if c.state is not state)
            what = {"ready": "sent ready", "go": "sent vars_received"}.get(phase, phase)
            shown = ", ".join(f"{i} ({self._by_id[i].address})" for i in behind[:10])
            more = f" and {len(behind) - 10} more" if len(behind) > 10 else ""
            raise SyncTimeoutError(
                phase,
                f"{len(behind)} of {self.config.instances} peers never {what} within {limit} s:"
                f" peers {shown}{more}",
                behind,
            ) from None
        self._check()

    def _connect_timeout(self, limit: float) -> SyncTimeoutError:
        n, joined = self.config.instances, len(self._joined)
        if joined == 0:
            message = f"no peer joined within {limit:g} s (expected {n})"
        else:
            message = f"only {joined} of {n} peers joined; none joined in the last {limit:g} s"
        if self._refused_count:
            shown = "; ".join(self._refused[:5])
            more = self._refused_count - min(5, len(self._refused))
            message += (
                f"; {self._refused_count} connections refused ({shown}{f'; {more} more' if more else ''})"
            )
        return SyncTimeoutError("connect", message)

    # -- phase actions
    def _hand_out_ids(self) -> None:
        joined = sorted(self._joined, key=lambda c: c.seq)
        # Requested ids as asked (unique and in 1..N, see _request_id); the rest of the ids, smallest
        # first, to the others in address order.
        others = [c for c in joined if c.requested is None]
        taken = {c.requested for c in joined}
        free = [i for i in range(1, self.config.instances + 1) if i not in taken]
        dealt = dict(
            zip(others, (free[rank - 1] for rank in assign_ids([c.host for c in others])), strict=True)
        )
        ids = [conn.requested or dealt[conn] for conn in joined]
        for conn, peer_id in zip(joined, ids, strict=True):
            conn.peer_id = peer_id
            self._by_id[peer_id] = conn
            if conn.state is _State.JOINED:
                conn.state = _State.ID_SENT
        self._ids_sent = True
        for conn, peer_id in zip(joined, ids, strict=True):
            conn.write(b"id:%d\r\n" % peer_id)
        log.info("sync server: ids sent to %d peers", len(joined))

    def _build_all_vars(self, compact: bool) -> bytes:
        peers = [(peer_id, self._by_id[peer_id]) for peer_id in sorted(self._by_id)]
        clients: dict[str, dict[str, object]] = {}
        document: dict[str, object] = {"server": {"global_random": self._global_random}, "clients": clients}
        if not compact:
            for peer_id, conn in peers:
                entry: dict[str, object] = {"time_offset": conn.offset}
                entry.update(conn.vars)
                entry.setdefault("port", BASE_PORT + peer_id)
                entry.setdefault("host", conn.host)
                clients[str(peer_id)] = entry
        else:
            filled = Counter(conn.host for _, conn in peers if "host" not in conn.vars)
            host = filled.most_common(1)[0][0] if filled else ""
            hosts: dict[str, str] = {}
            for peer_id, conn in peers:
                entry = {"time_offset": conn.offset} if conn.offset else {}
                entry.update(conn.vars)
                clients[str(peer_id)] = entry
                if conn.host != host and "host" not in conn.vars:
                    hosts[str(peer_id)] = conn.host
            meta: dict[str, object] = {"form": COMPACT_FORM, "port_base": BASE_PORT, "host": host}
            if hosts:
                meta["hosts"] = hosts
            document["gscen"] = meta
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _send_all_vars(self) -> None:
        form = self.config.all_vars_form
        # One buffer per form for everyone; a view, so a partial send keeps no sliced copy per connection.
        sent: dict[bool, memoryview] = {}
        for conn in self._by_id.values():
            compact = form == "compact" or (form == "auto" and conn.compact)
            data = sent.get(compact)
            if data is None:
                line = self._build_all_vars(compact)
                self._all_vars_lines[compact] = line
                data = sent[compact] = memoryview(line + b"\r\n")
            conn.state = _State.VARS_SENT
            conn.write(data)
        log.info(
            "sync server: all-vars line sent to %d peers (%s)",
            len(self._by_id),
            ", ".join(f"{'compact' if c else 'Gumby'} form, {len(d)} bytes" for c, d in sent.items()),
        )

    def _send_go(self) -> None:
        start = time.time() + self.config.start_delay
        self._start_time = start
        lines: dict[float, bytes] = {}
        for conn in self._by_id.values():
            line = lines.get(conn.offset)
            if line is None:
                line = lines[conn.offset] = b"go:%f\r\n" % (start + conn.offset)
            conn.state = _State.RUNNING
            conn.write(line)
        self._running = len(self._by_id)  # each one leaves through _lost, exactly once
        log.info("sync server: go sent, start at %f", start)

    # -- connection callbacks
    def _new_connection(self) -> _Connection:
        self._accept_count += 1
        return _Connection(self, self._accept_count)

    def _accepted(self, conn: _Connection) -> None:
        if self._failure is not None or self._closed:
            conn.close_with(error_line("the sync server is closed"))
            return
        self._conns.add(conn)
        if self.config.require_token:
            conn.state = _State.AUTH
        self._last_activity = asyncio.get_running_loop().time()

    def _check_token(self, conn: _Connection, presented: bytes) -> None:
        expected = self.config.token
        if expected is not None and not hmac.compare_digest(presented, expected.encode("ascii")):
            self._refuse(conn, "wrong token")
            return
        conn.is_peer = True
        conn.state = _State.TIME

    def _join(self, conn: _Connection, client_time: float) -> None:
        if self._ids_sent:
            self._refuse(conn, f"all {self.config.instances} peers have already joined")
            return
        if conn.is_local and self.config.local_peers_share_clock:
            conn.offset = 0
        else:
            offset = client_time - time.time()
            conn.offset = 0 if abs(offset) < OFFSET_DEAD_BAND else offset
        conn.is_peer = True
        conn.state = _State.JOINED
        self._joined.append(conn)
        self._last_activity = asyncio.get_running_loop().time()
        if len(self._joined) >= self.config.instances:
            self._wakeup.set()

    def _request_id(self, conn: _Connection, text: bytes) -> None:
        n = self.config.instances
        wanted = int(text) if text.isdigit() else 0
        holder = self._requested.get(wanted)
        if not 1 <= wanted <= n:
            self._failed(conn, PeerProtocolError, f"asked for id {shown(text)}, not one of 1..{n}")
        elif holder is not None and holder is not conn:
            self._failed(conn, PeerProtocolError, f"asked for id {wanted}, which {holder.describe()} has")
        else:
            self._release_request(conn)
            conn.requested = wanted
            self._requested[wanted] = conn

    def _release_request(self, conn: _Connection) -> None:
        """A connection that leaves (or asks again) before the ids go out gives its request back."""
        if conn.requested is not None and self._requested.get(conn.requested) is conn:
            del self._requested[conn.requested]
        conn.requested = None

    def _ready(self, conn: _Connection) -> None:
        conn.state = _State.READY
        self._ready_count += 1
        if self._ready_count >= self.config.instances:
            self._wakeup.set()

    def _acknowledged(self, conn: _Connection) -> None:
        conn.state = _State.ACKED
        self._ack_count += 1
        if self._ack_count >= self.config.instances:
            self._wakeup.set()

    def _forward(self, sender: _Connection, line: bytes) -> None:
        parts = line.split(b":", 3)
        if len(parts) != 4:
            sender.notice(f"malformed msg line {shown(line)}: expected msg:<to>:<type>:<payload>")
            return
        try:
            target_id = int(parts[1])
        except ValueError:
            sender.notice(f"malformed msg line {shown(line)}: <to> must be a peer id")
            return
        target = self._by_id.get(target_id)
        if target is None or target.state is not _State.RUNNING:
            why = "no such peer" if target is None else "it has disconnected"
            sender.notice(f"cannot deliver msg to peer {target_id}: {why}")
            return
        target.write(b"msg:%d:%s:%s\r\n" % (sender.peer_id or 0, parts[2], parts[3]))

    def _rejoin(self, conn: _Connection, text: bytes) -> None:
        """A restarted peer takes its place again after go: id, all-vars and go at once, no barrier."""
        peer_id = int(text) if text.isdigit() else 0
        old = self._by_id.get(peer_id)
        if self._start_time is None or self._done.is_set():
            self._refuse(conn, "rejoin:<id> is for a restarted peer while the run goes on")
            return
        if old is None:
            self._refuse(conn, f"rejoin: there is no peer {shown(text)}")
            return
        if old is not conn and old.state is _State.RUNNING:
            old.close_with(error_line("replaced by a restarted process of this peer"))
        conn.is_peer = True
        conn.peer_id = peer_id
        conn.vars = old.vars
        self._by_id[peer_id] = conn
        compact = self.config.all_vars_form == "compact" or (
            self.config.all_vars_form == "auto" and conn.compact
        )
        line = self._all_vars_lines.get(compact)
        if line is None:
            line = self._all_vars_lines[compact] = self._build_all_vars(compact)
        conn.state = _State.RUNNING
        self._running += 1  # it leaves through _lost, as every running connection
        conn.write(b"id:%d\r\n%s\r\ngo:%f\r\n" % (peer_id, line, self._start_time))
        log.info("sync server: %s rejoined after a restart", conn.describe())

    def _refuse(self, conn: _Connection, reason: str) -> None:
        """Turn away a connection that is not (yet) a peer; the sync goes on without it."""
        log.warning("sync server: refused %s: %s", conn.describe(), reason)
        self._refused_count += 1
        self._release_request(conn)
        if len(self._refused) < 20:
            self._refused.append(f"{conn.address}: {reason}")
        self._conns.discard(conn)
        conn.state = _State.CLOSED
        conn.close_with(error_line(reason))

    def _failed(self, conn: _Connection, kind: type[PeerError], reason: str) -> None:
        if not conn.is_peer:
            self._refuse(conn, reason)
        elif self._failure is None and not self._go.is_set():
            self._abort(kind(conn.peer_id, conn.address, reason))
        else:
            conn.close_with(error_line(reason))

    def _lost(self, conn: _Connection, state: _State, exc: Exception | None) -> None:
        self._conns.discard(conn)
        if not self._ids_sent:
            self._release_request(conn)
        if state is _State.CLOSED or self._failure is not None or self._closed:
            return
        if state is _State.RUNNING:
            self._running -= 1
            log.info("sync server: %s disconnected after go", conn.describe())
            if self._running <= 0:
                self._wakeup.set()
            return
        if not conn.is_peer:
            log.info("sync server: %s went away before joining", conn.describe())
            return
        why = f": {exc}" if exc is not None else ""
        self._abort(PeerDisconnectedError(conn.peer_id, conn.address, f"disconnected {state.value}{why}"))

    # -- failure
    def _abort(self, error: SyncError) -> None:
        """Record the first failure, tell every connection, close them all, wake every waiter."""
        if self._failure is not None:
            return
        self._failure = error
        log.info("sync aborted: %s", error)
        self._close_all(error_line(f"sync aborted: {error}"))
        if self._listener is not None:
            self._listener.close()
        self._wakeup.set()
        self._go.set()
        self._done.set()

    def _close_all(self, line: bytes) -> None:
        conns, self._conns = self._conns, set()
        for conn in conns:
            conn.state = _State.CLOSED
            conn.close_with(line)


# --------------------------------------------------------------------------- command
async def serve(config: SyncServerConfig, on_listening: Callable[[str, int], None]) -> float:
    """Run one sync to its end: listen, report the address, wait for go and for every peer to leave.

    Returns the start instant; raises a SyncError subclass on failure.
    """
    async with SyncServer(config) as server:
        on_listening(*server.address)
        start = await server.wait_go()
        await server.wait_done()
    return start
