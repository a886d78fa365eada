"""The peer's scheduler: a peer's timeline + its callback targets + a clock -> events fired on time.

One timer walks the peer's part of the plan in order (not one task per event: Gumby creates 86,778
pending tasks for the largest corpus file). It sleeps until the next event is due, then fires every
event that is due, in plan order: immediate (`@!`) events at the start instant, in program order,
then timed events at start + t, ties in program order (a loop's events in loop order).

Firing an event calls every target registered under its name, in registration order (built-ins, then
modules in `&module` order):
- a plain function is called inline, on the scheduler's task (keep them fast: a slow one delays the
  events after it, and its lateness shows in events.csv);
- a coroutine function runs as its own task in the scheduler's `asyncio.TaskGroup`, so it runs
  concurrently with later events, as every timed event did in Gumby. A plain function that returns
  an awaitable gets the same treatment. Such a task starts when the walker next yields: after the
  plain callbacks due at the same instant, and in plan order among the async ones.
Arguments are converted per target (`loader.ArgumentPlan`). An exception (or an argument that does
not fit) is logged with the event's `scenario:line`, recorded as `failed` and counted; it never stops
other events or targets. A full disk is not the callback's bug: that error is one line, no traceback.

The walk ends (`run()` returns the reason):
- `stop`: the built-in `stop` asked for it. The rest of that event's targets still run, and its
  async ones (modules' `stop` handlers) run to completion; other callbacks still running are then
  cancelled.
- `experiment_time`: `end_after` seconds after the start; running callbacks are cancelled.
- `signal` (or any other reason given to `request_stop()` from outside): running callbacks are
  cancelled. A second request while the `stop` handlers finish cancels them too.
- `done`: only with `exit_when_done`: the last event was fired and no callback is running. Without
  it (the default, as Gumby) the peer keeps running after its last event, until one of the above.

Time comes from one injected `Clock`: `LoopClock` (the event loop's monotonic clock) in a real peer,
`VirtualClock` (jumps to each deadline at once) for tests and dry runs.

Every call is written to the `EventLog` as it finishes (see its docstring for events.csv).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import inspect
import logging
import math
import time
from array import array
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

from . import timer_slack
from .cpu_slice import ThreadSlice
from .held_events import HELD_STATUS
from .loader import ArgumentError, Target
from .output_files import WriteFailure, is_disk_full, write_failure

log = logging.getLogger(__name__)

START_FINISH = 0.05
"""The last seconds before the start instant are slept blocking: when many peers share a machine,
they all wake from the loop timer this early, and only a precise sleep is left for the instant."""
EVENTS_FILE = "events.csv"
EVENTS_HEADER = (
    "planned",
    "actual",
    "lateness",
    "duration",
    "callback",
    "target",
    "source",
    "status",
    "error",
)


# --------------------------------------------------------------------------- clocks
class Clock(Protocol):
    """Monotonic seconds, and a wait that an event can cut short."""

    def now(self) -> float: ...

    async def wait_until(
        self,
        deadline: float | None,
        wake: Wake,
        finish: float | None = None,
        *,
        on_approach: Callable[[], None] | None = None,
    ) -> bool:
        """Wait until `deadline` (None: no deadline) or until `wake` is set; True if `wake` is set.

        `finish`: how much of the wait may be spent blocking (precise, but the loop does nothing
        else meanwhile); None: the clock's default. `on_approach`: a scenario event is due at
        `deadline`; called as the last moments before it begin, to make it ready (LoopClock waits
        those out with a short time slice)."""
        ...


class Wake:
    """A flag the scheduler's waits also end on: `asyncio.Event`'s `set`, `clear`, `is_set` and
    `wait`, where `wait` can also end at a loop time. Every scheduler wait ends on a timer, most
    often; an `asyncio.timeout` would end it by cancelling the task and turning the cancellation into
    a TimeoutError, several times the cost of the plain timer and future used here, paid at each event
    and by every peer at the start instant."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def clear(self) -> None:
        self._flag = False

    async def wait(self, loop: asyncio.AbstractEventLoop | None = None, until: float | None = None) -> bool:
        """Wait until set (True at once when already set) or, given `until`, until that time of
        `loop` (returns whether the flag is set)."""
        if self._flag:
            return True
        fut = (loop or asyncio.get_running_loop()).create_future()
        self._waiters.append(fut)
        timer = None if until is None or loop is None else loop.call_at(until, _resolve, fut)
        try:
            await fut
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):  # gone already when `set` resolved it
                self._waiters.remove(fut)
        return self._flag


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class LoopClock:
    """The running event loop's clock (`loop.time()`, monotonic), with sub-millisecond wake-ups.

    Two things make a plain loop timer late: asyncio rounds the selector's timeout up to whole
    milliseconds, and Linux lets a poll/epoll timeout fire late by 0.1% of its length (timer slack:
    5 ms after a 5 s wait). So `wait_until` waits on the loop in steps, each ending 0.2% of the
    remaining time plus `finish` seconds before the deadline, until less than about `finish` + 1 ms
    is left; that rest it sleeps in `time.sleep` (a precise nanosleep), blocking the loop for that
    long at most. The clock asks for the finest timer slack for the thread that creates it, the
    loop's (timer_slack.py), so that sleep ends at the deadline rather than up to 50 us after it.

    When a scenario event is due at the deadline (`on_approach` given), the last `approach` seconds
    (or `finish`, when longer) are its approach: the loop thread asks the kernel for a short time
    slice (cpu_slice.py) as it enters them, so that when its sleep ends it preempts whatever other process
    runs instead of queueing behind it, and gives it back at the next wait that begins before an
    approach (after the event fired) or is not for an event; as the approach begins, `on_approach`
    makes the event ready (with the default slice still). The start instant is not waited so:
    every peer of a machine reaches it together, and with short slices they preempt one another (the
    spread of 200 peers' start instants was 2-4 times as wide).
    """

    SLACK = 0.002
    """Each loop wait ends this fraction of the remaining time early (twice the kernel's slack)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        finish: float = 0.0015,
        approach: float = 0.005,
        cpu_slice: ThreadSlice | None = None,
    ) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self.finish = finish
        self.approach = approach
        self.cpu_slice = cpu_slice if cpu_slice is not None else ThreadSlice()
        self.fine_timers = timer_slack.make_fine()

    def now(self) -> float:
        return self._loop.time()

    async def wait_until(
        self,
        deadline: float | None,
        wake: Wake,
        finish: float | None = None,
        *,
        on_approach: Callable[[], None] | None = None,
    ) -> bool:
        loop = self._loop
        early = self.finish if finish is None else finish
        approach = math.inf if on_approach is None else max(self.approach, early)
        approached = False
        cpu_slice = self.cpu_slice
        if on_approach is None or deadline is None:
            cpu_slice.restore()  # only an event's approach is waited with the short slice
        while not wake.is_set():
            if deadline is None:
                await wake.wait()
                break
            now = loop.time()
            left = deadline - now
            if left > approach + 0.001:  # not near yet: a plain loop wait, with the default slice
                cpu_slice.restore()
                await wake.wait(loop, deadline - approach - left * self.SLACK)
                continue
            if on_approach is not None and not approached:
                approached = True
                on_approach()  # with the default slice: the kernel lets it finish
                cpu_slice.shorten()
                now = loop.time()
                left = deadline - now
            target = deadline - early - left * self.SLACK
            if target - now < 0.001:
                if left > 0:
                    time.sleep(left)
                return wake.is_set()
            await wake.wait(loop, target)
        return True


class VirtualClock:
    """A clock that jumps: `wait_until` lets ready tasks run once, then moves time to the deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def wait_until(
        self,
        deadline: float | None,
        wake: Wake,
        finish: float | None = None,
        *,
        on_approach: Callable[[], None] | None = None,
    ) -> bool:
        await asyncio.sleep(0)
        if wake.is_set():
            return True
        if deadline is None:
            await wake.wait()
            return True
        if on_approach is not None:
            on_approach()
        self._now = max(self._now, deadline)
        return False


# --------------------------------------------------------------------------- the event log
class EventLog:
    """Writes events.csv, one row per target call, as each call finishes; keeps the run's statistics.

    Columns: `planned` (seconds after the start, 6 decimals; empty for `@!` events), `actual` (when
    the call began), `lateness` (actual - planned; for `@!` events, actual - 0), `duration` (until the
    call returned or its task ended), `callback` (scenario name), `target` (`builtin.stop`,
    `MyModule.method`), `source` (`scenario:line`), `status` (`ok`, `failed`, `cancelled`, or `held`:
    went well, but the event was planned while a scenario pause held the peer), `error`
    (`ExceptionType: message`, empty when ok or held). Rows are written when a call ends, so async calls may
    appear out of plan order. Each row is flushed at once: a killed peer loses no finished row.
    `only_problems` writes only failed and cancelled calls (rows add up: 14 MB for peer 17 of the
    largest corpus scenario, 16 us of CPU per event instead of 9); the statistics count every call.
    A row that cannot be written (a full disk) is logged once as `cannot write <path>: <reason>`
    (`path` names the file) and kept in `write_failure`; no more rows are written, the statistics go on.
    `held` (planned time -> held?, held_events.py) names the events a scenario pause holds: they are
    counted in `events_held` and their lateness, the pause's length, stays out of `lateness`.
    """

    def __init__(
        self,
        stream: IO[str] | None,
        only_problems: bool = False,
        path: Path | None = None,
        header: bool = True,
        held: Callable[[float | None], bool] | None = None,
    ) -> None:
        self._held = held
        self.events_held = 0
        self._stream = stream
        self._path = path
        self.write_failure: WriteFailure | None = None
        self.only_problems = only_problems
        self._writer = csv.writer(stream, lineterminator="\n") if stream is not None else None
        if self._writer is not None and header:  # no header when a restarted peer appends
            self._writer.writerow(EVENTS_HEADER)
        self.events_fired = 0
        self._failed_events: set[int] = set()
        self.calls = 0
        self.calls_failed = 0
        self.calls_cancelled = 0
        self.lateness = array("d")
        self.errors: list[dict[str, str]] = []
        self.max_errors_kept = 100

    @property
    def events_failed(self) -> int:
        """Fired events with at least one failed call."""
        return len(self._failed_events)

    def fired(self, lateness: float, planned: float | None = None) -> None:
        self.events_fired += 1
        if self._held is not None and self._held(planned):
            self.events_held += 1
        else:
            self.lateness.append(lateness)

    def call(
        self,
        planned: float | None,
        actual: float,
        duration: float,
        callback: str,
        target: str,
        source: str,
        status: str,
        error: str = "",
        event_index: int | None = None,
    ) -> None:
        """Record one finished call; `event_index`: the timeline position (None: a hook or a message)."""
        self.calls += 1
        if status == "failed":
            self.calls_failed += 1
            if event_index is not None:
                self._failed_events.add(event_index)
            if len(self.errors) < self.max_errors_kept:
                self.errors.append({"source": source, "callback": callback, "target": target, "error": error})
        elif status == "cancelled":
            self.calls_cancelled += 1
        elif self._held is not None and self._held(planned):
            status = HELD_STATUS
        if (
            self._writer is not None
            and self._stream is not None
            and not (self.only_problems and status in ("ok", HELD_STATUS))
        ):
            try:
                self._writer.writerow(
                    (
                        "" if planned is None else f"{planned:.6f}",
                        f"{actual:.6f}",
                        f"{actual - (planned or 0.0):.6f}",
                        f"{duration:.6f}",
                        callback,
                        target,
                        source,
                        status,
                        error,
                    )
                )
                self._stream.flush()
            except OSError as exc:
                self._writer = None
                name = self._path if self._path is not None else getattr(self._stream, "name", "events")
                self.write_failure = write_failure(name, exc)
                log.error("%s; no more rows are written", self.write_failure)

    def lateness_summary(self) -> dict[str, float | None]:
        """p50, p99 and max lateness in seconds (None when nothing fired)."""
        values = sorted(self.lateness)
        if not values:
            return {"p50": None, "p99": None, "max": None}

        def pick(q: float) -> float:
            return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]

        return {"p50": pick(0.50), "p99": pick(0.99), "max": values[-1]}


# --------------------------------------------------------------------------- the scheduler
class EventLike(Protocol):
    @property
    def callback(self) -> str: ...
    @property
    def args(self) -> Sequence[Any]: ...
    @property
    def kwargs(self) -> Mapping[str, Any]: ...
    @property
    def path(self) -> str: ...
    @property
    def line(self) -> int: ...


class Timeline(Protocol):
    """A peer's events in execution order (`scenario_lang.plan_file.PeerTimeline`)."""

    def __len__(self) -> int: ...
    def time(self, k: int) -> float | None: ...
    def event(self, k: int) -> EventLike: ...


class TargetLookup(Protocol):
    def get(self, name: str) -> Sequence[Target]: ...


def _discard(awaitable: Awaitable[Any]) -> None:
    """Drop an awaitable that will never run (closing a coroutine avoids the never-awaited warning)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _trace(exc: BaseException) -> BaseException | None:
    """The traceback to log with a callback's failure: none for a full disk (the line says it all)."""
    return None if is_disk_full(exc) else exc


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class _Ready:
    """Event `k` of the timeline, ready to fire (Scheduler._ready)."""

    k: int
    event: EventLike
    source: str
    calls: list[tuple[Target, tuple[list[Any], dict[str, Any]] | Exception]] | None


class Scheduler:
    """Fires one peer's timeline (see the module docstring). Use once: `reason = await run(start)`."""

    def __init__(
        self,
        timeline: Timeline,
        targets: TargetLookup,
        clock: Clock,
        events: EventLog,
        *,
        end_after: float | None = None,
        exit_when_done: bool = False,
        describe_source: Callable[[str, int], str] | None = None,
        elsewhere: frozenset[str] = frozenset(),
    ) -> None:
        self.timeline = timeline
        # callbacks another process carries out (the guard's process faults): passed over here,
        # neither fired nor counted (`passed_over` says how many)
        self.elsewhere = elsewhere
        self.passed_over = 0
        self.targets = targets
        self.clock = clock
        self.events = events
        self.end_after = end_after
        self.exit_when_done = exit_when_done
        self._source = describe_source or (lambda path, line: f"{path}:{line}")
        self._start = 0.0
        self._wake = Wake()
        self._stop_reason: str | None = None
        self._stop_event_tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._group: asyncio.TaskGroup | None = None
        self._early: list[tuple[Awaitable[Any], str, str, bool]] = []
        self._pending: list[Coroutine[Any, Any, None]] = []  # coroutine callbacks fired before run()
        self.next_index = 0
        self._finished = False
        self._prepared: _Ready | None = None  # the next event, made ready before its instant

    # -- control
    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def request_stop(self, reason: str) -> None:
        """Stop the walk (after the current event, if called from inside one); see the module docstring."""
        if self._stop_reason is None:
            self._stop_reason = reason
        elif reason != "stop":
            for task in list(self._inflight):
                task.cancel()
        self._wake.set()

    def fire_immediate(self) -> int:
        """Fire the leading `@!` events now, before the synchronized start: they prepare the peer, so
        that at the start instant every peer only has its timed events left (no peer is held up by
        another's `@!` work on a shared core). Coroutine callbacks among them run as tasks once `run`
        starts. Their times are logged relative to this call. Returns the index of the next event."""
        self._start = self.clock.now()
        timeline = self.timeline
        n = len(timeline)
        k = self.next_index
        while k < n and self._stop_reason is None and timeline.time(k) is None:
            self.next_index = k + 1
            self._fire(k, None)
            k += 1
        return k

    def skip_until(self, offset: float) -> int:
        """Pass over the timed events planned at or before `offset` seconds after the start: a
        restarted peer runs its `@!` events again, then only what comes after its restart instant.
        Returns how many were passed over (they are not fired, nor counted as fired)."""
        timeline = self.timeline
        n = len(timeline)
        first = k = self.next_index
        while k < n:
            t = timeline.time(k)
            if t is not None and t > offset:
                break
            k += 1
        self.next_index = k
        return k - first

    def elapsed(self) -> float:
        """Seconds since the start instant."""
        return self.clock.now() - self._start

    def spawn(self, awaitable: Awaitable[Any], name: str, label: str, record_ok: bool = True) -> None:
        """Run an awaitable outside any event (a hook or message handler `label`, for `name`) as a task
        in the scheduler's group; its failure is logged and counted, its success recorded only if
        `record_ok`. Before `run()` starts the group, it is kept until then."""
        if self._finished:
            _discard(awaitable)
            return
        if self._group is None:
            self._early.append((awaitable, name, label, record_ok))
            return
        coro = self._await(awaitable, None, self.elapsed(), name, label, "", None, record_ok)
        self._track(self._group.create_task(coro))

    # -- running
    async def run(self, start: float, on_start: Callable[[float], None] | None = None) -> str:
        """Wait for start instant `start` (clock seconds), call `on_start` with the wall-clock time
        (`time.time()`) this peer reached it, fire the timeline; return why it ended. A stop requested
        before the start ends it at once (`on_start` is not called)."""
        self._start = start
        end = None if self.end_after is None else start + self.end_after
        async with asyncio.TaskGroup() as group:
            try:
                while self._stop_reason is None and self.clock.now() < start:
                    await self.clock.wait_until(start, self._wake, START_FINISH)
                    if self._stop_reason is None:
                        self._wake.clear()
                # Taken first: every peer of a machine wakes at this instant and the kernel runs each
                # until it blocks, so whatever runs before this line delays the peers queued behind.
                reached = time.time()
                self._group = group
                pending, self._pending = self._pending, []
                for coro in pending:
                    self._track(group.create_task(coro))
                if self._stop_reason is None and on_start is not None:
                    on_start(reached)
                early, self._early = self._early, []
                for awaitable, name, label, record_ok in early:
                    if self._stop_reason is None:
                        self.spawn(awaitable, name, label, record_ok)
                    else:
                        _discard(awaitable)
                reason = await self._walk(start, end)
                await self._finish(reason)
            finally:
                self._finished = True
                for task in list(self._inflight):
                    task.cancel()
        self._group = None
        return reason

    async def _walk(self, start: float, end: float | None) -> str:
        timeline, clock = self.timeline, self.clock
        n = len(timeline)
        k = self.next_index
        while k < n:
            if self._stop_reason is not None:
                break
            t = timeline.time(k)
            due = start if t is None else start + t
            if end is not None and due >= end:
                break
            now = clock.now()
            if due > now:
                woke = await clock.wait_until(due, self._wake, on_approach=partial(self._prepare, k))
                if self._stop_reason is not None:
                    break
                if woke:  # a callback task ended (exit_when_done): nothing to do yet
                    self._wake.clear()
                    continue
                now = clock.now()
            while k < n:
                t = timeline.time(k)
                due = start if t is None else start + t
                if due > now or (end is not None and due >= end):
                    break
                self.next_index = k = k + 1
                self._fire(k - 1, t)
                if self._stop_reason is not None:
                    break
        if self._stop_reason is not None:
            return self._stop_reason
        if self.exit_when_done:
            while self._inflight and self._stop_reason is None:
                self._wake.clear()
                if await clock.wait_until(end, self._wake) is False:
                    return "experiment_time"
            return self._stop_reason or "done"
        if await clock.wait_until(end, self._wake):
            return self._stop_reason or "stop"
        return "experiment_time"

    async def _finish(self, reason: str) -> None:
        if reason == "stop" and self._stop_event_tasks:
            pending = [t for t in self._stop_event_tasks if not t.done()]
            if pending:
                await asyncio.wait(pending)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        if self.exit_when_done:
            task.add_done_callback(lambda _: self._wake.set())

    def _ready(self, k: int) -> _Ready:
        """What firing event `k` needs: the event decoded, its source named, its targets found and
        their arguments converted (or the conversion's error, raised when the event fires, as the
        call's failure); no calls for an event another process carries out."""
        event = self.timeline.event(k)
        calls: list[tuple[Target, tuple[list[Any], dict[str, Any]] | Exception]] | None = None
        if event.callback not in self.elsewhere:
            calls = []
            for target in self.targets.get(event.callback):
                try:
                    calls.append((target, target.arguments.convert(*_arguments(event))))
                except Exception as exc:
                    calls.append((target, exc))
        return _Ready(k, event, self._source(event.path, event.line), calls)

    def _prepare(self, k: int) -> None:
        """Make event `k` ready before its instant, as the clock's approach to it begins, so that at
        the instant only the calls are left (the work took 0.1-0.6 ms on a core shared by many
        peers, all of it lateness). Not earlier: right after the start instant, while the peers of a
        machine are still waking, it would delay those queued behind."""
        if self._prepared is None or self._prepared.k != k:
            self._prepared = self._ready(k)

    def _fire(self, k: int, planned: float | None) -> None:
        ready = self._prepared
        self._prepared = None
        if ready is None or ready.k != k:
            ready = self._ready(k)
        name, source, calls = ready.event.callback, ready.source, ready.calls
        if calls is None:
            self.passed_over += 1
            return
        clock = self.clock
        fired_at = clock.now() - self._start
        self.events.fired(fired_at - (planned or 0.0), planned)
        if not calls:
            log.error("%s: no callback `%s` is registered on this peer", source, name)
            self.events.call(planned, fired_at, 0.0, name, "", source, "failed", f"no callback `{name}`", k)
            return
        stopping_before = self._stop_reason is not None
        for target, arguments in calls:
            actual = clock.now() - self._start
            try:
                if isinstance(arguments, Exception):
                    raise arguments
                result = target.func(*arguments[0], **arguments[1])
            except Exception as exc:
                self._failed(planned, actual, name, target, source, exc, k)
                continue
            if inspect.isawaitable(result):
                task = self._create(self._await(result, planned, actual, name, target.label, source, k))
                if task is not None and self._stop_reason is not None and not stopping_before:
                    self._stop_event_tasks.append(task)
            else:
                duration = clock.now() - self._start - actual
                self.events.call(planned, actual, duration, name, target.label, source, "ok", "", k)

    def _create(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        if self._group is None:  # fired before run(): started with the group
            self._pending.append(coro)
            return None
        task = self._group.create_task(coro)
        self._track(task)
        return task

    def _failed(
        self,
        planned: float | None,
        actual: float,
        name: str,
        target: Target,
        source: str,
        exc: Exception,
        k: int,
    ) -> None:
        duration = self.clock.now() - self._start - actual
        if isinstance(exc, ArgumentError):
            log.error("%s: `%s` (%s): %s", source, name, target.label, exc)
        else:
            log.error(
                "%s: `%s` (%s) raised %s", source, name, target.label, _error_text(exc), exc_info=_trace(exc)
            )
        self.events.call(planned, actual, duration, name, target.label, source, "failed", _error_text(exc), k)

    async def _await(
        self,
        awaitable: Awaitable[Any],
        planned: float | None,
        actual: float,
        name: str,
        label: str,
        source: str,
        k: int | None,
        record_ok: bool = True,
    ) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            duration = self.clock.now() - self._start - actual
            self.events.call(planned, actual, duration, name, label, source, "cancelled", "", k)
            raise
        except Exception as exc:
            duration = self.clock.now() - self._start - actual
            where = f"{source}: " if source else ""
            log.error("%s`%s` (%s) raised %s", where, name, label, _error_text(exc), exc_info=_trace(exc))
            self.events.call(planned, actual, duration, name, label, source, "failed", _error_text(exc), k)
        else:
            if record_ok:
                duration = self.clock.now() - self._start - actual
                self.events.call(planned, actual, duration, name, label, source, "ok", "", k)


def _arguments(event: Any) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """What each target converts from: the arguments as written when the plan converted one so that
    it no longer reads the same (`yes` -> True), else the plan's values (whose `str()` is the text)."""
    texts = getattr(event, "texts", None)
    if texts is not None:
        return texts[0], texts[1]
    return event.args, event.kwargs
