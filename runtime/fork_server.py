"""The fork server: one process with the peer runtime imported that forks gscen peers on the guard's request.

Starting a peer as a fresh interpreter costs about 0.1 CPU-second (interpreter, imports); 200 of them on
two cores took 11 s to connect. The guard instead starts this server once per peers' step (`ForkServer`,
its client, used by guard.py) and asks it for each peer; a fork of a process that has already imported
`peer_entry` (and so the peer, the sync client and the scheduler) costs about a millisecond, and the
forked peers share those pages (their PSS is lower than a fresh interpreter's).

What each forked peer is, as the guard sees it (the same as a peer started through `/bin/sh -c exec`):

* a child of the guard's process: the server forks an intermediate that forks the peer and exits, so
  the peer is reparented to the guard, which is a child subreaper (lifetime.py). The guard reaps it
  and gets its exit status and CPU time from the kernel, signals it and samples it in /proc;
* the leader of its own session (and process group), stdin /dev/null, stdout/stderr the guard's
  `%05d.out` / `%05d.err` files (opened here, the `Starting #...` line written first);
* named `gscen-peer` (the `comm` in /proc/PID/stat), and it dies with the guard (PR_SET_PDEATHSIG);
* it runs `peer_entry.main` on the server's environment (the step's, as the shell's
  would be) and exits with its code. No command-line library is imported (click is not).

If the server dies (killed, out of memory), the peers already forked are unaffected (their parent is
the guard), the guard's next request fails with `ForkServerError`, and a peer forked but not yet
reported is found by the guard as a stray `gscen-peer` child and stopped. If the guard dies, the server
and the peers get SIGKILL. Linux only (it needs fork, the subreaper and prctl).

Protocol (one JSON object per line over a socket pair): the server says `{"ready": PID}` once it has
imported the runtime; then each request `{"index": N, "out": PATH|null, "err": PATH|null, "header": TEXT}`
(and `"env": {NAME: VALUE}`, variables for that peer alone, when the guard gives it some) gets
`{"index": N, "pid": PID}` or `{"index": N, "error": TEXT}`. End of file on the socket ends the server.

    python -m scenario_lang.runtime.fork_server FD GUARD_PID
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import os
import select
import selectors
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lifetime import die_with_parent, set_process_name

__all__ = ["PEER_PROCESS_NAME", "ForkServer", "ForkServerError", "serve"]

PEER_PROCESS_NAME = "gscen-peer"
SERVER_PROCESS_NAME = "gscen-forksrv"
# How long a forked peer waits to be reparented to the guard (its intermediate exits at once).
_REPARENT_WAIT = 5.0


class ForkServerError(Exception):
    """The fork server could not be started, or could not fork a peer, or is gone."""


# --------------------------------------------------------------------------------------------- server
def serve(sock_fd: int, guard_pid: int) -> None:
    """The server's loop (in its own process): answer spawn requests until end of file."""
    set_process_name(SERVER_PROCESS_NAME)
    # The server's only children are the intermediates: the kernel reaps them as they exit.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    die_with_parent(guard_pid)
    # Everything a peer imports before it reads its plan, imported once here and shared by every fork.
    import concurrent.futures.thread  # noqa: F401  (asyncio.to_thread's pool, imported late otherwise)

    from . import peer_entry  # noqa: F401

    # Keep the collector off the inherited objects: touching them would copy their pages into each peer.
    gc.collect()
    gc.freeze()
    os.write(sock_fd, json.dumps({"ready": os.getpid()}).encode() + b"\n")
    _answer(sock_fd, guard_pid)
    # Exit only once every intermediate has: then each peer forked, reported or not, is already the
    # guard's child when the guard sees this server gone (with SIGCHLD ignored, wait() returns when
    # no child is left).
    with contextlib.suppress(ChildProcessError):
        os.wait()


@dataclass(slots=True)
class _Pending:
    """A request being answered: the pipe its intermediate writes the peer's pid to, then the reply."""

    index: Any
    pipe: int | None = None
    reply: dict[str, Any] | None = None


def _answer(sock_fd: int, guard_pid: int) -> None:
    """Fork for each request as it comes; reply in request order, each once its pid is known.

    The server does not wait for an intermediate to report before forking the next one: on a busy
    machine each such wait is a wait to be scheduled, and those waits, not the forks, were what made
    200 peers slow.
    """
    selector = selectors.DefaultSelector()
    selector.register(sock_fd, selectors.EVENT_READ)
    pending: collections.deque[_Pending] = collections.deque()
    buffered = b""
    reading = True
    while reading or pending:
        for key, _events in selector.select():
            if key.fd == sock_fd:
                data = os.read(sock_fd, 1 << 16)
                if not data:
                    reading = False
                    selector.unregister(sock_fd)
                buffered += data
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    entry = _start(json.loads(line), sock_fd, guard_pid)
                    pending.append(entry)
                    if entry.pipe is not None:
                        selector.register(entry.pipe, selectors.EVENT_READ, entry)
            else:
                entry = key.data
                text = b""
                with contextlib.suppress(OSError):
                    text = os.read(key.fd, 64).strip()
                selector.unregister(key.fd)
                os.close(key.fd)
                entry.pipe = None
                if text.isdigit():
                    entry.reply = {"index": entry.index, "pid": int(text)}
                else:
                    entry.reply = {"index": entry.index, "error": "cannot fork the peer"}
        while pending and pending[0].reply is not None:
            reply = pending.popleft().reply
            with contextlib.suppress(OSError):  # the guard is gone: the forks end with it
                os.write(sock_fd, json.dumps(reply).encode() + b"\n")


def _open_outputs(request: Mapping[str, Any]) -> tuple[int | None, int | None]:
    fds: list[int | None] = []
    try:
        for key in ("out", "err"):
            path = request.get(key)
            fds.append(None if path is None else os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
        if fds[0] is not None:
            os.write(fds[0], str(request.get("header", "")).encode())
    except OSError:
        for fd in fds:
            if fd is not None:
                os.close(fd)
        raise
    return fds[0], fds[1]


def _start(request: Mapping[str, Any], sock_fd: int, guard_pid: int) -> _Pending:
    """Fork the intermediate for one request; its pipe gives the peer's pid (an error is the reply)."""
    entry = _Pending(request.get("index"))
    try:
        out, err = _open_outputs(request)
    except OSError as exc:
        entry.reply = {"index": entry.index, "error": f"cannot write {exc.filename}: {exc.strerror or exc}"}
        return entry
    read_pid, write_pid = os.pipe()
    try:
        middle = os.fork()
    except OSError as exc:
        for fd in (out, err, read_pid, write_pid):
            if fd is not None:
                os.close(fd)
        entry.reply = {"index": entry.index, "error": f"cannot fork: {exc.strerror or exc}"}
        return entry
    if middle == 0:
        # The intermediate: fork the peer, tell its pid, exit (so the peer is reparented to the
        # guard). It is reaped by the kernel (SIGCHLD is ignored in the server).
        code = 0
        try:
            set_process_name(PEER_PROCESS_NAME)
            os.close(read_pid)
            pid = os.fork()
            if pid == 0:
                os.close(write_pid)
                _peer(out, err, sock_fd, guard_pid, request.get("env"))
            os.write(write_pid, b"%d\n" % pid)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_pid)
    for fd in (out, err):
        if fd is not None:
            os.close(fd)
    entry.pipe = read_pid
    return entry


def _wait_reparented(guard_pid: int, timeout: float) -> bool:
    """Block until this process's parent is `guard_pid` (its intermediate has exited); False on timeout.

    Sleeps on a pidfd of the intermediate rather than polling getppid: with hundreds of peers
    waiting for a busy CPU, polling every 0.2 ms kept them all runnable (load average 100+ at
    1,000 peers), which starved the intermediates and the guard they were waiting for. The kernel
    reparents a dying process's children before its pidfd turns readable.
    """
    deadline = time.monotonic() + timeout
    while (parent := os.getppid()) != guard_pid:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            pidfd = os.pidfd_open(parent)
        except ProcessLookupError:
            continue  # gone already: the next getppid() shows the new parent
        except (OSError, AttributeError):
            time.sleep(0.001)  # no pidfd here: poll, gently
            continue
        try:
            # Still our parent after the open: then the pidfd is the intermediate's, not a reused pid's.
            if os.getppid() == parent:
                select.select([pidfd], [], [], remaining)
        finally:
            os.close(pidfd)
    return True


def _peer(
    out: int | None, err: int | None, sock_fd: int, guard_pid: int, env: Mapping[str, str] | None = None
) -> None:
    """The forked peer: own session and outputs, tied to the guard, then the peer itself; never returns."""
    code = 1
    try:
        os.setsid()
        if env:
            os.environ.update({str(k): str(v) for k, v in env.items()})
        for fd, target in ((out, 1), (err, 2)):
            if fd is not None:
                os.dup2(fd, target)
        # Nothing of the server's stays open in the peer: above all not its socket, whose end of
        # file tells the guard that the server is gone.
        os.closerange(3, 1 << 16)
        # The server's objects stay frozen: a collection that walked them would copy every page
        # holding one into this peer (17 ms and 1,650 page faults a peer, measured).
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        # The intermediate exits at once; until it has, the peer's parent is the intermediate,
        # and a death signal asked for now would come with its exit.
        if not _wait_reparented(guard_pid, _REPARENT_WAIT):
            os._exit(1)
        die_with_parent(guard_pid)
        from . import peer_entry
        from .peer_entry import main

        # What `python -m scenario_lang.runtime.peer_entry` would show a module that looks.
        sys.argv = [peer_entry.__file__]
        try:
            main([])  # exits with the peer's code
        except SystemExit as exc:
            code = _exit_code(exc)
        # As at an interpreter's exit: the handlers a module registered (the server registered none
        # that a peer needs; os._exit below skips the rest of the server's state).
        import atexit

        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


# --------------------------------------------------------------------------------------------- client
class ForkServer:
    """The guard's handle on a fork server (see the module docstring).

    `start()` returns once the server has imported the runtime; `spawn()` asks for one peer and returns
    its pid; `aclose()` ends the server (end of file, then TERM and KILL if it lingers) and reaps it.
    Raises ForkServerError when the server cannot start or is gone.
    """

    def __init__(self, python: str, env: Mapping[str, str], cwd: Path | None) -> None:
        self.python = python
        self.env = dict(env)
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self, timeout: float = 30.0) -> None:
        import socket

        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [self.python, "-m", __name__, str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                # Its own session: a terminal's Ctrl-C goes to gscen, which stops the server itself.
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"cannot start the fork server: {exc.strerror or exc}") from exc
        finally:
            theirs.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        try:
            async with asyncio.timeout(timeout):
                hello = await self._read()
        except TimeoutError:
            raise ForkServerError(f"the fork server was not ready within {timeout:g} s") from None
        if "ready" not in hello:
            raise ForkServerError(f"the fork server answered {hello!r}")

    async def _read(self) -> dict[str, Any]:
        assert self._reader is not None
        try:
            line = await self._reader.readline()
        except OSError:  # reset by a server killed with requests unread
            line = b""
        if not line:
            code = None if self._process is None else self._process.poll()
            how = "" if code is None else f" (exit status {code})"
            raise ForkServerError(f"the fork server is gone{how}")
        reply = json.loads(line)
        assert isinstance(reply, dict)
        return reply

    async def request(
        self,
        index: int,
        out: Path | None,
        err: Path | None,
        header: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Ask for one peer; `reply()` gives its pid later (requests are answered in order, so the
        caller may have several in flight while the server forks). `env`: variables this peer alone
        gets on top of the server's environment. Raises ForkServerError."""
        if self._writer is None:
            raise ForkServerError("the fork server is not running")
        request: dict[str, Any] = {
            "index": index,
            "out": None if out is None else str(out),
            "err": None if err is None else str(err),
            "header": header,
        }
        if env:
            request["env"] = dict(env)
        try:
            self._writer.write(json.dumps(request).encode() + b"\n")
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ForkServerError(f"the fork server is gone: {exc}") from None

    async def reply(self, index: int) -> int:
        """The pid of the peer of the oldest unanswered request, which must be `index`.

        Raises ForkServerError (the reason) when it could not be forked or the server is gone."""
        reply = await self._read()
        if reply.get("index") != index:
            raise ForkServerError(f"the fork server answered for #{reply.get('index')} instead of #{index}")
        if "pid" not in reply:
            raise ForkServerError(str(reply.get("error", reply)))
        return int(reply["pid"])

    async def spawn(self, index: int, out: Path | None, err: Path | None, header: str) -> int:
        """Fork one peer and wait for its pid."""
        await self.request(index, out, err, header)
        return await self.reply(index)

    async def aclose(self, grace: float = 2.0) -> None:
        """End the server and reap it; runs to the end even when the caller is cancelled."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.shield(writer.wait_closed())
        process = self._process
        if process is None:
            return
        await asyncio.shield(asyncio.to_thread(_end, process, grace))


def _end(process: subprocess.Popen[bytes], grace: float) -> None:
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
