"""The peer's side of the sync protocol: server address + token -> id, all vars, start instant, messages.

Takes a `SyncClientConfig` (where the server is, the run's token, the timeouts); gives the peer its id,
the `AllVars` document every peer got, the start instant in its own clock (`time.time()` terms), and
the messages other peers send it. The wire protocol and the token line are described in `sync.py`.

Use (the order is the protocol's; the peer runs its hooks between the steps)::

    config = SyncClientConfig(host, port, token=token)
    async with SyncClient(config) as client:
        my_id = await client.connect()              # retries until connect_timeout; token, time -> id
        ...                                         # on_id_received hooks
        all_vars = await client.ready({"key": "v"})  # `set` lines + `ready` -> the all-vars document
        ...                                         # on_all_vars_received hooks (all_vars.raw to a file)
        client.set_message_handler(on_message)      # on_message(from_id, msg_type, payload)
        start = await client.wait_go()              # `vars_received` -> go: the start instant
        ...                                         # sleep until `start`, run the experiment
        client.send_message(2, b"hello", b"payload")
        await client.wait_closed()                  # the server closed the connection

Every failure is a `sync.SyncError`: `SyncConnectError` (no server before the connect deadline),
`SyncRefusedError` (the server sent `error:<reason>` before go: wrong token, or another peer broke
the sync), `SyncServerProtocolError` (an unexpected line, or the server went away before go),
`SyncTimeoutError` (a step took longer than its timeout), `SyncClosedError` (used after close).
After go, `error:` lines from the server (e.g. a message to an unknown peer) are not fatal: they go to
the error handler (`set_error_handler`; by default they are logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

from .sync_protocol import (
    BASE_PORT,
    COMPACT_VARS_LINE,
    SyncClosedError,
    SyncConnectError,
    SyncError,
    SyncRefusedError,
    SyncServerProtocolError,
    SyncTimeoutError,
    check_token_text,
    expand_compact,
    format_address,
)

__all__ = ["AllVars", "ErrorHandler", "MessageHandler", "SyncClient", "SyncClientConfig"]

log = logging.getLogger(__name__)

MessageHandler = Callable[[int, bytes, bytes], None]
"""Called as handler(from_id, msg_type, payload) for each message another peer sent, after go."""
ErrorHandler = Callable[[str], None]
"""Called with the reason of each `error:` line the server sends after go."""

RETRY_FIRST: Final = 0.05
RETRY_MAX: Final = 1.0
"""Connection retries back off from RETRY_FIRST, doubling, to at most RETRY_MAX seconds apart."""


@dataclass(frozen=True, slots=True)
class SyncClientConfig:
    """Where the sync server is and how long each step may take.

    `token`: the run's secret (None: send no token line, as a Gumby client). Timeouts in seconds
    (None: wait forever): `connect_timeout` bounds the connection attempts (refused connections are
    retried until then); `id_timeout` runs from sending `time:` to receiving the id (it includes
    waiting for every other peer to join); `vars_timeout` from `ready` to the all-vars line;
    `go_timeout` from `vars_received` to go. `max_line`: the longest line accepted (the all-vars line
    grows about 57 bytes per peer in Gumby's form). `compact_vars`: ask for the compact all-vars
    document (sync.py's docstring); a server that does not know the request ignores it or, as Gumby's
    would, fails the connection, so False is for talking to such a server. `requested_id`: ask the
    server for this id (`request-id:<n>`, gscen's addition; None: the server picks). `publish_host`:
    `ready()` publishes this peer's own address (the local end of its connection to the server, so an
    address the server's network reaches) as `host`, unless the vars already set one.
    """

    host: str
    port: int
    token: str | None = None
    connect_timeout: float | None = 30.0
    id_timeout: float | None = 300.0
    vars_timeout: float | None = 300.0
    go_timeout: float | None = 300.0
    max_line: int = 1 << 26
    compact_vars: bool = True
    requested_id: int | None = None
    publish_host: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        if self.requested_id is not None and self.requested_id < 1:
            raise ValueError(f"requested_id must be at least 1, got {self.requested_id}")
        if self.token is not None:
            check_token_text(self.token)
        for name in ("connect_timeout", "id_timeout", "vars_timeout", "go_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")


@dataclass(frozen=True, slots=True)
class AllVars:
    """The all-vars document: `server` (global_random) and `clients` (id -> that peer's vars).

    A peer's vars hold `time_offset`, `host`, `port` and every key it `set` (values as sent, strings),
    whichever form the server sent (the compact form is expanded). `raw` is the line as received
    (Gumby writes it to all_vars.txt).
    """

    raw: bytes
    server: Mapping[str, Any]
    clients: Mapping[int, Mapping[str, Any]]

    @classmethod
    def parse(cls, line: bytes) -> AllVars:
        """Read the all-vars line; raises SyncServerProtocolError if it is not such a document."""
        try:
            document = json.loads(line)
            entries = expand_compact(document) if "gscen" in document else document["clients"]
            clients = {int(k): v for k, v in entries.items()}
            server = document.get("server", {})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SyncServerProtocolError(f"the all-vars line is not a valid document: {exc}") from None
        if not isinstance(server, dict) or not all(isinstance(v, dict) for v in clients.values()):
            raise SyncServerProtocolError("the all-vars line is not a valid document")
        return cls(raw=line, server=server, clients=clients)

    @property
    def peer_ids(self) -> tuple[int, ...]:
        """Every peer's id, ascending."""
        return tuple(sorted(self.clients))

    @property
    def global_random(self) -> int:
        """The one random draw the server made for this run (0 if absent)."""
        return int(self.server.get("global_random", 0))

    def address_of(self, peer_id: int) -> tuple[str, int]:
        """(host, port) a peer published (or the server filled in); KeyError for an unknown id."""
        entry = self.clients[peer_id]
        return str(entry.get("host", "")), int(entry.get("port", BASE_PORT + peer_id))


class _Step(enum.Enum):
    NEW = "before connect()"
    HAS_ID = "after connect()"
    HAS_VARS = "after ready()"
    RUNNING = "after wait_go()"
    CLOSED = "after aclose()"


class SyncClient:
    """One peer's connection to the sync server; an async context manager (see the module docstring).

    Methods must be called in protocol order: `connect()`, `ready()`, `wait_go()`; then
    `send_message()` and `wait_closed()`. Message and error handlers may be set at any time;
    messages that arrive before a message handler is set are kept and delivered when it is set.
    """

    def __init__(
        self,
        config: SyncClientConfig,
        *,
        on_message: MessageHandler | None = None,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.config = config
        self._on_message = on_message
        self._on_error = on_error
        self._pending: deque[tuple[int, bytes, bytes]] = deque()
        self._step = _Step.NEW
        self._group: asyncio.TaskGroup | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._server_closed = asyncio.Event()
        self._my_id: int | None = None
        self._all_vars: AllVars | None = None
        self._start_time: float | None = None
        self._rejoined = False  # rejoin() instead of connect(): go comes unasked

    # -- lifecycle
    async def __aenter__(self) -> Self:
        if self._step is _Step.CLOSED:
            raise SyncClosedError("the sync client is closed")
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()
        group, self._group = self._group, None
        if group is not None:
            # As in SyncServer.aclose: only a cancellation goes to the group, other errors propagate.
            if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
                await group.__aexit__(exc_type, exc, tb)
            else:
                await group.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close the connection (the server sees this peer stop). Further calls raise SyncClosedError."""
        await self._close()

    async def _close(self) -> None:
        if self._step is _Step.CLOSED:
            return
        self._step = _Step.CLOSED
        if self._reader_task is not None:
            self._reader_task.cancel()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._server_closed.set()

    # -- state
    @property
    def my_id(self) -> int:
        """This peer's id (after `connect()`)."""
        if self._my_id is None:
            raise RuntimeError("no id yet: call connect() first")
        return self._my_id

    @property
    def all_vars(self) -> AllVars:
        """The all-vars document (after `ready()`)."""
        if self._all_vars is None:
            raise RuntimeError("no all-vars document yet: call ready() first")
        return self._all_vars

    @property
    def time_offset(self) -> float:
        """This peer's clock minus the server's, as the server measured it (0 within 0.5 s)."""
        return float(self.all_vars.clients[self.my_id].get("time_offset", 0))

    @property
    def start_time(self) -> float:
        """The start instant in this peer's clock (`time.time()` terms), after `wait_go()`."""
        if self._start_time is None:
            raise RuntimeError("no start instant yet: call wait_go() first")
        return self._start_time

    @property
    def local_host(self) -> str:
        """This peer's address on the connection to the server (after `connect()`)."""
        if self._writer is None:
            raise SyncClosedError("the sync client is not connected")
        name = self._writer.get_extra_info("sockname")
        host = str(name[0]) if isinstance(name, tuple) and name else ""
        return host[7:] if host.startswith("::ffff:") and "." in host else host

    def set_message_handler(self, handler: MessageHandler | None) -> None:
        """Deliver messages to handler(from_id, msg_type, payload); queued ones are delivered now."""
        self._on_message = handler
        while handler is not None and self._pending and self._on_message is handler:
            self._deliver(handler, *self._pending.popleft())

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Deliver the reasons of `error:` lines after go to handler (None: log them as warnings)."""
        self._on_error = handler

    # -- the protocol steps
    async def connect(self) -> int:
        """Connect (retrying refused attempts until `connect_timeout`), send token and time, get the id."""
        self._expect(_Step.NEW, "connect()")
        cfg = self.config
        self._reader, self._writer = await self._open()
        head = b"token:%s\r\n" % cfg.token.encode("ascii") if cfg.token is not None else b""
        if cfg.compact_vars:
            head += COMPACT_VARS_LINE + b"\r\n"
        if cfg.requested_id is not None:
            head += b"request-id:%d\r\n" % cfg.requested_id
        self._writer.write(head + b"time:%r\r\n" % time.time())
        line = await self._read("id", cfg.id_timeout, "waiting for its id")
        key, sep, value = line.partition(b":")
        if key != b"id" or not sep or not value.strip().isdigit():
            raise SyncServerProtocolError(f"expected id:<n> from the sync server, got {line[:60]!r}")
        self._my_id = int(value)
        self._step = _Step.HAS_ID
        log.debug("sync client: got id %d", self._my_id)
        return self._my_id

    async def rejoin(self, peer_id: int) -> int:
        """Take peer `peer_id`'s place again after the run started (a restarted process): the
        server answers at once with the id, the all-vars document and go (no barrier). Then
        `wait_go()` returns the run's start instant without another exchange."""
        self._expect(_Step.NEW, "rejoin()")
        cfg = self.config
        self._reader, self._writer = await self._open()
        head = b"token:%s\r\n" % cfg.token.encode("ascii") if cfg.token is not None else b""
        if cfg.compact_vars:
            head += COMPACT_VARS_LINE + b"\r\n"
        self._writer.write(head + b"rejoin:%d\r\n" % peer_id)
        line = await self._read("id", cfg.id_timeout, "waiting for its id")
        if line != b"id:%d" % peer_id:
            raise SyncServerProtocolError(f"expected id:{peer_id} from the sync server, got {line[:60]!r}")
        self._my_id = peer_id
        self._all_vars = AllVars.parse(
            await self._read("vars", cfg.vars_timeout, "waiting for the all-vars line")
        )
        self._rejoined = True
        self._step = _Step.HAS_VARS
        return peer_id

    async def ready(self, vars: Mapping[str, str] | None = None) -> AllVars:
        """Publish `vars` (key -> string) to every peer, send ready, and return the all-vars document.

        Keys must not contain ':' and neither keys nor values line breaks. `port` and `host`, if set,
        replace what the server would fill in for this peer.
        """
        self._expect(_Step.HAS_ID, "ready()")
        lines = []
        published = dict(vars or {})
        if self.config.publish_host and "host" not in published:
            published["host"] = self.local_host
        for key, value in published.items():
            if not key or ":" in key or _has_line_break(key) or _has_line_break(value):
                raise ValueError(f"cannot publish var {key!r}: no ':' in keys, no line breaks anywhere")
            lines.append(b"set:%s:%s\r\n" % (key.encode(), value.encode()))
        lines.append(b"ready\r\n")
        self._write(b"".join(lines))
        line = await self._read("vars", self.config.vars_timeout, "waiting for the all-vars line")
        self._all_vars = AllVars.parse(line)
        self._step = _Step.HAS_VARS
        return self._all_vars

    async def wait_go(self) -> float:
        """Acknowledge the all-vars document, wait for go, return the start instant (local clock).

        From then on messages are delivered to the message handler until the server closes.
        """
        self._expect(_Step.HAS_VARS, "wait_go()")
        if self._group is None:
            raise RuntimeError("use `async with SyncClient(...)` to receive messages after go")
        if not self._rejoined:  # a rejoined peer's go follows the all-vars line unasked
            self._write(b"vars_received\r\n")
        line = await self._read("go", self.config.go_timeout, "waiting for go")
        key, sep, value = line.partition(b":")
        try:
            start = float(value) if key == b"go" and sep else math.nan
        except ValueError:
            start = math.nan
        if not math.isfinite(start):
            raise SyncServerProtocolError(f"expected go:<time> from the sync server, got {line[:60]!r}")
        self._start_time = start
        self._step = _Step.RUNNING
        self._reader_task = self._group.create_task(self._receive(), name=f"sync-client-{self._my_id}")
        return start

    def send_message(self, to: int, msg_type: bytes, payload: bytes) -> None:
        """Send a message to peer `to` through the server (after go).

        `msg_type` must not contain ':' and neither argument CR or LF; surrounding whitespace is
        dropped on the way (as in Gumby). The server answers an unknown `to` with an error line.
        """
        self._expect(_Step.RUNNING, "send_message()")
        if not msg_type or b":" in msg_type or _has_line_break(msg_type) or _has_line_break(payload):
            raise ValueError("msg_type must be non-empty without ':'; no line breaks in type or payload")
        self._write(b"msg:%d:%s:%s\r\n" % (to, msg_type, payload))

    async def drain(self) -> None:
        """Wait until what was sent has been handed to the operating system."""
        if self._writer is None:
            raise SyncClosedError("the sync client is closed")
        await self._writer.drain()

    async def wait_closed(self) -> None:
        """Wait until the server closes the connection (or `aclose()` is called)."""
        await self._server_closed.wait()

    # -- internals
    def _expect(self, step: _Step, what: str) -> None:
        if self._step is _Step.CLOSED:
            raise SyncClosedError(f"cannot call {what}: the sync client is closed")
        if self._step is not step:
            raise RuntimeError(f"cannot call {what} {self._step.value}; expected {step.value}")

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        cfg = self.config
        where = format_address(cfg.host, cfg.port)
        delay = RETRY_FIRST
        last: OSError | None = None
        try:
            async with asyncio.timeout(cfg.connect_timeout):
                while True:
                    try:
                        return await asyncio.open_connection(cfg.host, cfg.port, limit=cfg.max_line)
                    except OSError as exc:
                        last = exc
                        log.debug("sync client: connecting to %s: %s; retrying in %.2f s", where, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
        except TimeoutError:
            why = f": {last.strerror or last}" if last is not None else ""
            raise SyncConnectError(
                f"cannot connect to the sync server at {where} within {cfg.connect_timeout} s{why}"
            ) from None

    def _write(self, data: bytes) -> None:
        if self._writer is None:
            raise SyncClosedError("the sync client is closed")
        self._writer.write(data)

    async def _read_line(self) -> bytes | None:
        """The next non-empty line, stripped; None at end of stream."""
        reader = self._reader
        if reader is None:
            raise SyncClosedError("the sync client is closed")
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                rest = exc.partial.strip()
                return rest or None
            except asyncio.LimitOverrunError:
                raise SyncServerProtocolError(
                    f"the sync server sent a line longer than {self.config.max_line} bytes"
                ) from None
            line = raw.strip()
            if line:
                return line

    async def _read(self, phase: str, limit: float | None, waiting: str) -> bytes:
        """The next line before go: `error:` lines and the end of stream become errors."""
        try:
            async with asyncio.timeout(limit):
                line = await self._read_line()
        except TimeoutError:
            raise SyncTimeoutError(
                phase, f"no answer from the sync server within {limit} s {waiting}"
            ) from None
        except ConnectionError as exc:
            raise SyncServerProtocolError(f"lost the sync server {waiting}: {exc}") from None
        if line is None:
            raise SyncServerProtocolError(f"the sync server closed the connection {waiting}")
        if line.startswith(b"error:"):
            raise SyncRefusedError(line[6:].decode("utf-8", "replace").strip())
        return line

    async def _receive(self) -> None:
        """After go: hand each line to the message or error handler until the server closes."""
        try:
            while True:
                try:
                    line = await self._read_line()
                except (ConnectionError, SyncError) as exc:
                    log.warning("sync client: connection to the sync server lost: %s", exc)
                    break
                if line is None:
                    break
                if line.startswith(b"msg:"):
                    self._message(line)
                elif line.startswith(b"error:"):
                    reason = line[6:].decode("utf-8", "replace").strip()
                    if self._on_error is None:
                        log.warning("sync server: %s", reason)
                    else:
                        self._on_error(reason)
                else:
                    log.warning("sync client: unexpected line from the sync server: %r", line[:60])
        finally:
            self._server_closed.set()

    def _message(self, line: bytes) -> None:
        parts = line.split(b":", 3)
        try:
            from_id = int(parts[1])
            msg_type, payload = parts[2].strip(), parts[3].strip()
        except (IndexError, ValueError):
            log.warning("sync client: malformed msg line from the sync server: %r", line[:60])
            return
        handler = self._on_message
        if handler is None:
            self._pending.append((from_id, msg_type, payload))
        else:
            self._deliver(handler, from_id, msg_type, payload)

    @staticmethod
    def _deliver(handler: MessageHandler, from_id: int, msg_type: bytes, payload: bytes) -> None:
        try:
            handler(from_id, msg_type, payload)
        except Exception:
            log.exception(
                "sync client: message handler failed on a %r message from peer %d", msg_type, from_id
            )


def _has_line_break(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return b"\n" in text or b"\r" in text
    return "\n" in text or "\r" in text
