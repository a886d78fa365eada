"""One peer process (`gscen peer`, Gumby's launch_scenario.py): a plan + a sync server -> a peer folder.

Takes a `PeerConfig` (from flags or Gumby's environment variables, see peer_entry.py); returns a
`PeerOutcome` (exit code and why it ended) after writing the peer's files.

Sequence:
 1. Open the plan file (header only; `--plan`/GSCEN_PLAN_FILE). Without one, compile SCENARIO_FILE
    (relative: as given, then under EXPERIMENT_DIR) for INSTANCES_TO_RUN peers, as launch_scenario.py
    did (slow: this loads the whole front end; `gscen run` ships a compiled plan instead).
 2. EXPERIMENT_DIR first on sys.path; import each `&module` class from the file the checker resolved
    (`loader`), instantiate it with this peer's `PeerContext`, register its callbacks after the
    built-ins (`builtin_callbacks`); if the plan header lists its callback names, check that each has
    a target. A failure here is one clear error line and exit 1, before the peer ever connects.
    (Without that list, an event whose name has no target fails when it is due.)
 3. Connect to the sync server (SYNC_HOST:SYNC_PORT, the run token GSCEN_SYNC_TOKEN), get the id;
    select this peer's events from the plan (`scenario_lang.plan_file`).
 4. mkdir + chdir OUTPUT_DIR/<id>/ (the one chdir, at entry), open events.csv.
 5. `on_id_received` hooks, in a worker thread (`asyncio.to_thread`), in `&module` order (an `async
    def` hook runs on the loop instead); modules fill `self.vars` here.
 6. Send vars + ready; receive the all-vars document; write it to all_vars.txt.
 7. `on_all_vars_received` hooks (on the loop; awaited if async); the `@!` events fire (they prepare
    the peer, so the common start waits for every peer's preparation); acknowledge; wait for go. go is
    the start instant in this peer's clock: the server's start plus the clock offset it measured
    from our `time:` line. When the sync server is on this host (a loopback SYNC_HOST) the clocks
    are the same, and a non-zero offset is the server's own delay in reading that line (measured as
    Gumby does, 16 of 100 peers started on two cores got -0.5 to -0.7 s), so the peer takes it back
    out. (gscen's server already reports 0 for peers on its machine.)
 8. Sleep until the start instant; `on_experiment_start` hooks (plain ones inline, async ones as
    tasks beside the events); then the scheduler fires the timed events (`scheduler`).
 9. It ends at the built-in `stop`, at `experiment_time` seconds after the start (EXPERIMENT_TIME),
    on SIGTERM/SIGINT, when the sync server closes the connection (the run is over; Gumby's server
    never did), or, only with `--exit-when-done`, when the last event ran and no callback is
    running. Without that flag a peer whose events are all done keeps running (modules may still be
    working, as in Gumby) until stop, experiment_time or a signal.
10. `on_stop` hooks, awaited, in `&module` order (the modules' `stop` callbacks already ran to
    completion); close the sync connection; write result.json; exit.

A failed lifecycle hook before go is fatal (the peer leaves, so the sync server aborts the whole run
fast); after go, hook failures are counted like callback failures.

Messages: `send_message(peer_id, msg_type, payload)` goes through the sync server (after go only);
every module's `on_message(from_id, msg_type, payload)` is called for each message received, in
`&module` order (not Gumby's single `message_callback`: each module decides what is for it; async
ones run as tasks). Their failures are counted too.

Inputs (flag, or Gumby's environment variable): --plan/GSCEN_PLAN_FILE, else --scenario/SCENARIO_FILE
with --instances/INSTANCES_TO_RUN; --sync-host/SYNC_HOST (127.0.0.1), --sync-port/SYNC_PORT
(required), --token/GSCEN_SYNC_TOKEN (none: no token line, for a server that admits Gumby clients),
--output-dir/OUTPUT_DIR (./output), --experiment-dir/EXPERIMENT_DIR (default: the scenario's
folder), --experiment-time/EXPERIMENT_TIME (seconds from the start; 0 or unset: no limit),
--[no-]fail-on-callback-error/FAIL_ON_CALLBACK_ERROR (true), --exit-when-done/GSCEN_EXIT_WHEN_DONE
(false), --events-log/GSCEN_EVENTS_LOG (all | problems), --log-level/GUMBY_LOG_LEVEL (INFO),
--seed/GSCEN_SEED (none: picked), --connect-timeout (30 s), --sync-timeout (300 s per step),
--peer-id/GSCEN_PEER_ID (ask the sync server for this id; set by the slurm launcher),
--publish-host/GSCEN_PUBLISH_HOST (false: publish this peer's own address as `host`).

Files in OUTPUT_DIR/<id>/ (for `gscen run` and post-processing):
- `events.csv`: one row per callback call (see `scheduler.EventLog`): planned, actual, lateness,
  duration (seconds after the start, 6 decimals), callback, target, source (`scenario:line`), status
  (ok/failed/cancelled, or held: went well, planned while a scenario pause held the peer), error.
  The `on_experiment_start` and `on_stop` hooks a module defines also get rows (empty planned and
  source, callback = the hook's name); `on_message` calls only when they fail. A hook left at the base
  class's do-nothing default is neither called nor recorded.
- `all_vars.txt`: the all-vars JSON line, as received (from gscen's sync server, the compact form;
  `statistics.read_all_vars` reads either form).
- `annotations.csv`: `<seconds since start, 6 decimals>,<message>` per `annotate` (Gumby's format).
- `result.json`, written once at the end (atomically) if the peer got an id. When it (or a row of
  events.csv) cannot be written, e.g. on a full disk, the peer logs `cannot write <path>: <reason>`
  and exits 1 (a signal's code is kept); no partial or temporary file is left:
    peer_id, exit_reason (stop | experiment_time | done | sync_closed | signal | error), exit_code,
    signal (e.g. "SIGTERM", or null), error (the fatal error message, or null),
    events_planned, events_fired, events_failed (fired events with a failed call),
    calls, calls_failed, calls_cancelled (every target call, hooks included),
    lateness_seconds {p50, p99, max} (per fired event: first call's start - planned; null if none;
    events held by a scenario pause left out), events_held (fired events planned while a scenario
    `pause` ... `resume` held this peer: late on purpose; held_events.py),
    peak_rss_bytes (the peak resident set of the peer's own address space, VmHWM: pages shared with
    the fork server it was forked from count in full), pss_bytes and uss_bytes (proportional and
    unique set sizes as it ends, from /proc/self/smaps_rollup; null where unreadable),
    cpu_seconds (the whole process),
    start_time (the go instant, epoch seconds), started_at (when this peer actually started: read
    as it woke at the start instant, before its start hooks; null if it never did), end_time,
    plan_load_seconds, plan_load_cpu_seconds (reading the plan header and selecting this peer's
    events, wall and CPU; module imports not included),
    errors (up to 100 {source, callback, target, error}).
The log (stderr, which the launcher captures) has lines `<time> peer <id> <LEVEL> <logger>: <message>`,
unless EXPERIMENT_DIR/logger.conf (a logging INI file, as Gumby) configures logging otherwise.

Exit codes: 0 done; 1 a fatal error (plan, module, sync, hook), or callback failures unless
fail_on_callback_error is false; 128+N after signal N (SIGTERM: 143, SIGINT: 130) once the peer
has shut down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import random
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenario_lang.authoring import DEFAULT_HOOK_ATTRIBUTE
from scenario_lang.plan_file import PeerTimeline, PlanFileError, PlanFileReader
from scenario_lang.signatures import PROCESS_BUILTINS

from .builtin_callbacks import BuiltinCallbacks
from .held_events import HOLDING_CALLBACKS, HeldSpans, held_spans
from .loader import LoadedModules, ModuleLoadError, load_modules, module_roots
from .network import NetworkConditions
from .output_files import WriteFailure, write_atomically, write_failure
from .procfs import read_memory, read_peak_rss
from .scheduler import EVENTS_FILE, EventLog, LoopClock, Scheduler
from .seeds import pick_seed, seeded_random
from .sync import SyncError, is_loopback
from .sync_client import AllVars, SyncClient, SyncClientConfig

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
REJOIN_VARIABLE = "GSCEN_REJOIN_ID"  # set by the process guard on a peer it restarts
ALL_VARS_FILE = "all_vars.txt"


class PeerFatalError(Exception):
    """A fatal problem before or around the experiment (plan, modules, sync, lifecycle hooks)."""


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """Everything one peer needs. `plan` or `scenario` (compiled here, for `instances` peers) is required."""

    sync_host: str
    sync_port: int
    output_dir: Path
    plan: Path | None = None
    scenario: Path | None = None
    instances: int | None = None
    token: str | None = None
    experiment_dir: Path | None = None
    experiment_time: float | None = None
    fail_on_callback_error: bool = True
    exit_when_done: bool = False
    events_log: str = "all"
    connect_timeout: float = 30.0
    sync_timeout: float | None = 300.0
    requested_id: int | None = None  # ask the sync server for this id (a launcher placed the peer)
    publish_host: bool = False  # publish this peer's own address (peers on several machines)
    seed: int | None = None  # the run's seed (GSCEN_SEED); None: this peer picks one and logs it
    rejoin: int | None = None  # a restarted peer: its id (GSCEN_REJOIN_ID); it rejoins the running run


@dataclass
class PeerOutcome:
    exit_code: int
    reason: str
    error: str | None = None
    signal: str | None = None


@dataclass
class PeerState:
    """This peer as modules (`PeerContext`) and the built-ins (`BuiltinHost`) see it.

    Beyond the authoring contract it offers Gumby's ExperimentClient helpers (`get_peers`,
    `get_peer_ip_port_by_id`, `get_peer_id`, `server_vars`, `time_offset`, and the runtime
    `variables` of `set`), so modules ported from Gumby that call them through `self.experiment` run.
    """

    output_root: Path
    my_id: int | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    all_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    peer_ids: list[int] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    client: SyncClient | None = None
    scheduler: Scheduler | None = None
    server_vars: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    network: NetworkConditions = field(default_factory=NetworkConditions)
    endpoint: Any = None  # the ConditionedEndpoint of `condition_endpoint`, once there is one

    def condition_endpoint(self, endpoint: Any) -> Any:
        """Wrap the IPv8 endpoint this peer's overlays send through in the network-conditions endpoint
        (`netem.ConditionedEndpoint`): the built-ins `latency`, `loss`, ... act on it, and its counts
        go into result.json. Call it once the id is known (on_id_received or later)."""
        from .netem import ConditionedEndpoint

        if self.my_id is None:
            raise RuntimeError(
                "the network-conditions endpoint needs the peer's id: wrap it after on_id_received"
            )
        wrapped = ConditionedEndpoint(endpoint, self.my_id, self.seed, self.network, self.peer_addresses())
        self.endpoint = wrapped
        return wrapped

    def peer_addresses(self) -> dict[tuple[str, int], int]:
        """The (host, port) every peer published -> its id (empty before the all-vars document)."""
        out: dict[tuple[str, int], int] = {}
        for key in self.all_vars:
            address = self.get_peer_ip_port_by_id(int(key))
            if address is not None:
                out[address] = int(key)
        return out

    def seeded_random(self, label: str = "") -> random.Random:
        """A `random.Random` of this peer's own for `label`, from the run's seed: the same seed, peer
        id and label give the same numbers in every run."""
        return seeded_random(self.seed, "module", -1 if self.my_id is None else self.my_id, label)

    # Gumby's list of the loaded modules, in `&module` order (IPv8 overlay modules find their provider)
    experiment_modules: list[object] = field(default_factory=list)

    @property
    def output_dir(self) -> Path:
        """This peer's folder, OUTPUT_DIR/<id> (the output root before the id is known)."""
        return self.output_root / str(self.my_id) if self.my_id is not None else self.output_root

    def send_message(self, peer_id: int, msg_type: bytes, payload: bytes) -> None:
        if self.client is None or self.scheduler is None:
            raise RuntimeError("messages can be sent only after the experiment started (go)")
        self.client.send_message(peer_id, msg_type, payload)

    # Gumby's ExperimentClient helpers, for modules ported from Gumby (`self.experiment.<helper>`).
    def get_peers(self) -> list[int]:
        """Every peer's id (after the all-vars document arrived)."""
        return list(self.peer_ids)

    def get_peer_ip_port_by_id(self, peer_id: int) -> tuple[str, int] | None:
        """(host, port) a peer published, or the server filled in; None for an unknown id."""
        entry = self.all_vars.get(str(peer_id))
        if entry is None:
            return None
        return str(entry.get("host", "")), int(entry.get("port", 12000 + peer_id))

    def get_peer_id(self, host: str, port: int) -> int | None:
        """The id of the peer that published (host, port); None (and a logged error) if none did."""
        for key, entry in self.all_vars.items():
            if str(entry.get("host", "")) == host and int(entry.get("port", 12000 + int(key))) == port:
                return int(key)
        log.error("no peer has address %s:%d", host, port)
        return None

    @property
    def time_offset(self) -> float:
        """This peer's clock minus the sync server's, as the server measured it."""
        if self.my_id is None:
            return 0.0
        return float(self.all_vars.get(str(self.my_id), {}).get("time_offset", 0.0))

    def elapsed(self) -> float:
        return self.scheduler.elapsed() if self.scheduler is not None else 0.0

    def request_stop(self, reason: str) -> None:
        if self.scheduler is not None:
            self.scheduler.request_stop(reason)

    def register(self, module: object) -> None:
        """Gumby's `ExperimentClient.register`, which a real Gumby's `ExperimentModule` calls: list the
        module (its callbacks are registered by the loader, once)."""
        if module not in self.experiment_modules:
            self.experiment_modules.append(module)


# --------------------------------------------------------------------------- logging
class PeerIdFilter(logging.Filter):
    """Puts this peer's id (`?` before it has one) into every log record, as `%(peer)s`."""

    def __init__(self, state: PeerState | None = None) -> None:
        super().__init__()
        self.state = state

    def filter(self, record: logging.LogRecord) -> bool:
        peer_id = self.state.my_id if self.state is not None else None
        record.peer = "?" if peer_id is None else str(peer_id)
        return True


def configure_logging(level: str) -> PeerIdFilter:
    """Log lines `<time> peer <id> <LEVEL> <logger>: <message>` to stderr (the entry point calls this)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s peer %(peer)s %(levelname)s %(name)s: %(message)s"))
    peer_filter = PeerIdFilter()
    handler.addFilter(peer_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return peer_filter


# --------------------------------------------------------------------------- the peer
def _compile_scenario(config: PeerConfig) -> Path:
    """Compile SCENARIO_FILE to a temporary plan file (launch_scenario.py compatibility)."""
    assert config.scenario is not None
    scenario = config.scenario
    if not scenario.is_file() and config.experiment_dir is not None and not scenario.is_absolute():
        scenario = config.experiment_dir / scenario
    if not scenario.is_file():
        raise PeerFatalError(f"scenario file {config.scenario} not found")
    from scenario_lang.diagnostics import has_errors
    from scenario_lang.plan import compile_plan, write_plan_file
    from scenario_lang.project import CheckOptions, analyze

    analysis = analyze(str(scenario), CheckOptions(instances=config.instances))
    if has_errors(analysis.diagnostics):
        for d in analysis.diagnostics:
            log.error("%s:%d:%d: %s", d.span.path, d.span.line, d.span.column, d.message)
        raise PeerFatalError(f"{scenario} has errors; run `gscen check {scenario}`")
    plan = compile_plan(analysis.program, config.instances)
    import tempfile

    fd, name = tempfile.mkstemp(prefix="gscen-peer-", suffix=".plan")
    os.close(fd)
    write_plan_file(plan, name)
    return Path(name)


def _source_namer(plan: PlanFileReader) -> Callable[[str, int], str]:
    """`scenario:line` with the path relative to the main scenario's folder when it lies inside it."""
    base = os.path.dirname(plan.source) if plan.source else ""
    cache: dict[str, str] = {}

    def name(path: str, line: int) -> str:
        short = cache.get(path)
        if short is None:
            short = path
            if base and path.startswith(base + os.sep):
                short = path[len(base) + 1 :]
            cache[path] = short
        return f"{short}:{line}"

    return name


def _hook(module: object, name: str) -> Any:
    """Module `module`'s hook `name`, or None when it has none or leaves the base class's do-nothing
    default (`scenario_lang.authoring.default_hook`): such a hook is neither called nor recorded."""
    hook = getattr(module, name, None)
    if hook is None or getattr(hook, DEFAULT_HOOK_ATTRIBUTE, False):
        return None
    return hook


async def _call_hook(hook: Callable[..., Any], *args: Any) -> None:
    result = hook(*args)
    if inspect.isawaitable(result):
        await result


class Peer:
    """One run of one peer (see the module docstring); `await Peer(config).run()` -> PeerOutcome."""

    def __init__(self, config: PeerConfig, log_filter: PeerIdFilter | None = None) -> None:
        self.config = config
        seed = config.seed
        if seed is None:
            seed = pick_seed()
            log.info("no seed given (GSCEN_SEED): this peer's random choices use seed %d", seed)
        self.state = PeerState(output_root=config.output_dir.resolve(), seed=seed)
        if log_filter is not None:
            log_filter.state = self.state
        self.plan: PlanFileReader | None = None
        self.modules: LoadedModules | None = None
        self.events: EventLog | None = None
        self._events_file: Any = None
        self._signal: int | None = None
        self._main: asyncio.Task[Any] | None = None
        self._start_time: float | None = None
        self._started_at: float | None = None
        self._load_seconds = 0.0
        self._load_cpu = 0.0
        self._events_planned = 0
        self._restarted_at: float | None = None
        self._folder_ready = False

    # -- entry
    async def run(self) -> PeerOutcome:
        self._main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            outcome = await self._run()
        except asyncio.CancelledError:
            if self._signal is None:
                raise
            outcome = PeerOutcome(128 + self._signal, "signal")
        except (PeerFatalError, ModuleLoadError, PlanFileError, SyncError) as exc:
            log.error("%s", exc)
            outcome = PeerOutcome(1, "error", str(exc))
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
            if self.state.client is not None:
                with contextlib.suppress(Exception):
                    await self.state.client.aclose()
        if self._signal is not None:
            outcome.signal = signal.Signals(self._signal).name
        # events.csv first: a row it could not write fails the peer, and result.json says so.
        self._close_events(outcome)
        failure = self._write_result(outcome)
        if failure is not None:
            self._fail(outcome, str(failure))
        if self.plan is not None:
            self.plan.close()
        return outcome

    @staticmethod
    def _fail(outcome: PeerOutcome, message: str) -> None:
        """A file of the peer could not be written: it exits non-zero (a signal's code is kept)."""
        if outcome.exit_code == 0:
            outcome.exit_code = 1
        if outcome.error is None:
            outcome.error = message

    def _close_events(self, outcome: PeerOutcome) -> None:
        if self._events_file is None:
            return
        failure = self.events.write_failure if self.events is not None else None
        try:
            self._events_file.close()
        except OSError as exc:
            # Rows the EventLog could not write are retried by close(): one failure is enough to say.
            if failure is None:
                failure = write_failure(self.state.output_dir / EVENTS_FILE, exc)
                log.error("%s", failure)
        if failure is not None:
            self._fail(outcome, str(failure))

    def _on_signal(self, signum: int) -> None:
        log.warning("received %s: stopping", signal.Signals(signum).name)
        first = self._signal is None
        self._signal = signum
        if self.state.scheduler is not None and self._start_time is not None:
            self.state.scheduler.request_stop("signal")
        elif first and self._main is not None:
            self._main.cancel()

    async def _run(self) -> PeerOutcome:
        cfg = self.config
        state = self.state
        # 1-2. plan header, modules
        plan_path = cfg.plan
        if plan_path is None:
            if cfg.scenario is None:
                raise PeerFatalError("no plan: give --plan (GSCEN_PLAN_FILE) or a scenario (SCENARIO_FILE)")
            plan_path = await asyncio.to_thread(_compile_scenario, cfg)
            self.plan = PlanFileReader(plan_path)
            plan_path.unlink()
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            self.plan = PlanFileReader(plan_path)
            self._load_seconds = time.perf_counter() - t0
            self._load_cpu = time.process_time() - c0
        plan = self.plan
        # EXPERIMENT_DIR first, then the folders the plan's modules are imported from (as the checker
        # searched them), both before the installed packages.
        front = [str(cfg.experiment_dir)] if cfg.experiment_dir is not None else []
        front += [root for root in module_roots(plan.modules) if root not in front]
        sys.path[0:0] = [p for p in front if p not in sys.path]
        self.modules = load_modules(plan.modules, state, BuiltinCallbacks(state))
        if plan.callbacks is not None:
            registry = self.modules.registry
            missing = sorted(
                name for name in plan.callbacks if not registry.get(name) and name not in PROCESS_BUILTINS
            )
            if missing:
                raise PeerFatalError(
                    "no module answers the callback(s) "
                    + ", ".join(f"`{name}`" for name in missing)
                    + " that the plan calls (the modules changed since the plan was compiled?)"
                )
        log.debug("loaded %d module(s) from %s", len(self.modules.instances), plan_path)

        # 3. sync: id
        client_config = SyncClientConfig(
            cfg.sync_host,
            cfg.sync_port,
            token=cfg.token,
            connect_timeout=cfg.connect_timeout,
            id_timeout=cfg.sync_timeout,
            vars_timeout=cfg.sync_timeout,
            go_timeout=cfg.sync_timeout,
            requested_id=cfg.requested_id,
            publish_host=cfg.publish_host,
        )
        async with SyncClient(client_config) as client:
            state.client = client
            rejoin = cfg.rejoin
            my_id = await (client.connect() if rejoin is None else client.rejoin(rejoin))
            t0, c0 = time.perf_counter(), time.process_time()
            timeline = plan.timeline(my_id)
            self._load_seconds += time.perf_counter() - t0
            self._load_cpu += time.process_time() - c0
            self._events_planned = len(timeline)
            # 4. the peer's folder
            state.my_id = my_id
            try:
                state.output_dir.mkdir(parents=True, exist_ok=True)
                os.chdir(state.output_dir)
                # a restarted peer goes on in the files of its first process
                appending = rejoin is not None and os.path.exists(EVENTS_FILE)
                self._events_file = open(  # noqa: SIM115
                    EVENTS_FILE, "a" if appending else "w", encoding="utf-8", newline=""
                )
            except OSError as exc:
                raise PeerFatalError(f"cannot write the peer folder {state.output_dir}: {exc}") from None
            self._folder_ready = True
            held = _held_by_pauses(plan, timeline)
            self.events = EventLog(
                self._events_file,
                only_problems=cfg.events_log == "problems",
                path=state.output_dir / EVENTS_FILE,
                header=not appending,
                held=held.holds if held else None,
            )
            log.info("%d events, %d module(s)", len(timeline), len(self.modules.instances))
            # 5. on_id_received (worker thread), then vars + ready
            await self._pre_go_hooks("on_id_received", in_thread=True)
            published = {str(k): str(v) for k, v in state.vars.items()}
            # a restarted peer gets the document the others got, its first process's vars in it
            all_vars = await client.ready(published) if rejoin is None else client.all_vars
            self._take_all_vars(all_vars)
            # 7. on_all_vars_received, ack, go
            await self._pre_go_hooks("on_all_vars_received", in_thread=False)
            clock = LoopClock()
            scheduler = Scheduler(
                timeline,
                self.modules.registry,
                clock,
                self.events,
                end_after=cfg.experiment_time,
                exit_when_done=cfg.exit_when_done,
                describe_source=_source_namer(plan),
                elsewhere=PROCESS_BUILTINS,  # the process guard carries them out
            )
            state.scheduler = scheduler
            # `@!` events prepare the peer: they fire now, before it acknowledges the vars, so the
            # synchronized start waits for every peer's preparation and no peer's start instant is
            # held up by another's `@!` work.
            scheduler.fire_immediate()
            start_wall = await client.wait_go()
            offset = client.time_offset
            if offset and is_loopback(cfg.sync_host):
                # Same machine, same clock: the offset the server measured is its own delay in reading
                # our `time:` line (under load, more than the 0.5 s dead band). Undo it.
                log.info("ignoring the %.3f s clock offset the sync server measured on this host", offset)
                start_wall -= offset
            self._start_time = start_wall
            start = clock.now() + (start_wall - time.time())
            if rejoin is not None:
                restarted_at = time.time() - start_wall
                skipped = scheduler.skip_until(restarted_at)
                self._events_planned -= skipped
                self._restarted_at = restarted_at
                # a row without a source: the summary reads it as no event; a reader sees the marker
                self.events.call(
                    None,
                    restarted_at,
                    0.0,
                    "restart",
                    "guard.restart",
                    "",
                    "ok",
                    f"restarted process; {skipped} events planned before it not run",
                )
                log.info(
                    "rejoined at %.3f s after the start; %d earlier events left out", restarted_at, skipped
                )
            client.set_message_handler(self._on_message)
            log.info("go: start in %.3f s", start - clock.now())
            if self._signal is not None:
                scheduler.request_stop("signal")
            # 8. wait for the start instant (a signal cuts it short), hooks, events
            modules = self.modules.instances

            def experiment_start(reached: float) -> None:
                self._started_at = reached
                for module in modules:
                    self._hook_after_go(module, "on_experiment_start", scheduler)

            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(self._watch_sync(client, scheduler))
                reason = await scheduler.run(start, experiment_start)
                watcher.cancel()
            log.info("stopping (%s) after %d events", reason, self.events.events_fired)
            # 10. on_stop hooks
            for module in self.modules.instances:
                hook = _hook(module, "on_stop")
                if hook is None:
                    continue
                began = scheduler.elapsed()
                label = f"{type(module).__name__}.on_stop"
                try:
                    await _call_hook(hook)
                except Exception as exc:
                    log.error("%s raised %s: %s", label, type(exc).__name__, exc, exc_info=exc)
                    error = f"{type(exc).__name__}: {exc}"
                    self.events.call(
                        None, began, scheduler.elapsed() - began, "on_stop", label, "", "failed", error
                    )
                else:
                    self.events.call(None, began, scheduler.elapsed() - began, "on_stop", label, "", "ok")
        if self._signal is not None:
            return PeerOutcome(128 + self._signal, "signal")
        failed = self.events.calls_failed > 0
        if failed and cfg.fail_on_callback_error:
            return PeerOutcome(1, reason, f"{self.events.calls_failed} callback call(s) failed")
        return PeerOutcome(0, reason)

    @staticmethod
    async def _watch_sync(client: SyncClient, scheduler: Scheduler) -> None:
        """The sync server closing the connection after go means the run is over: stop."""
        await client.wait_closed()
        log.warning("the sync server closed the connection: stopping")
        scheduler.request_stop("sync_closed")

    # -- hooks and messages
    async def _pre_go_hooks(self, name: str, *, in_thread: bool) -> None:
        assert self.modules is not None
        for module in self.modules.instances:
            hook = _hook(module, name)
            if hook is None:
                continue
            label = f"{type(module).__name__}.{name}"
            try:
                if in_thread and not inspect.iscoroutinefunction(hook):
                    result = await asyncio.to_thread(hook)
                    if inspect.isawaitable(result):
                        await result
                else:
                    await _call_hook(hook)
            except Exception as exc:
                log.error("%s raised %s: %s", label, type(exc).__name__, exc, exc_info=exc)
                raise PeerFatalError(f"{label} failed: {type(exc).__name__}: {exc}") from exc

    def _hook_after_go(
        self, module: object, name: str, scheduler: Scheduler, *args: Any, record_ok: bool = True
    ) -> None:
        """Call a hook after go: plain ones inline, awaitables as tasks; failures logged and counted."""
        hook = _hook(module, name)
        if hook is None:
            return
        label = f"{type(module).__name__}.{name}"
        assert self.events is not None
        began = scheduler.elapsed()
        try:
            result = hook(*args)
        except Exception as exc:
            log.error("%s raised %s: %s", label, type(exc).__name__, exc, exc_info=exc)
            error = f"{type(exc).__name__}: {exc}"
            self.events.call(None, began, scheduler.elapsed() - began, name, label, "", "failed", error)
            return
        if inspect.isawaitable(result):
            scheduler.spawn(result, name, label, record_ok)
        elif record_ok:
            self.events.call(None, began, scheduler.elapsed() - began, name, label, "", "ok")

    def _on_message(self, from_id: int, msg_type: bytes, payload: bytes) -> None:
        scheduler = self.state.scheduler
        if self.modules is None or scheduler is None or scheduler.stop_reason is not None:
            return
        for module in self.modules.instances:
            self._hook_after_go(module, "on_message", scheduler, from_id, msg_type, payload, record_ok=False)

    def _take_all_vars(self, all_vars: AllVars) -> None:
        state = self.state
        state.all_vars = {str(k): dict(v) for k, v in all_vars.clients.items()}
        state.peer_ids = list(all_vars.peer_ids)
        state.server_vars = dict(all_vars.server)
        if state.endpoint is not None:
            state.endpoint.set_peer_addresses(state.peer_addresses())
        try:
            with open(ALL_VARS_FILE, "wb") as f:
                f.write(all_vars.raw + b"\n")
        except OSError as exc:
            raise PeerFatalError(str(write_failure(state.output_dir / ALL_VARS_FILE, exc))) from None

    # -- result.json
    def _write_result(self, outcome: PeerOutcome) -> WriteFailure | None:
        """Write result.json; when it cannot, log the one-line failure and return it."""
        if not self._folder_ready:
            return None
        events = self.events
        usage = resource.getrusage(resource.RUSAGE_SELF)
        memory = read_memory("self")
        result = {
            "peer_id": self.state.my_id,
            "exit_reason": outcome.reason,
            "exit_code": outcome.exit_code,
            "signal": outcome.signal,
            "events_planned": self._events_planned
            - (self.state.scheduler.passed_over if self.state.scheduler else 0),
            "events_fired": events.events_fired if events else 0,
            "events_failed": events.events_failed if events else 0,
            "calls": events.calls if events else 0,
            "calls_failed": events.calls_failed if events else 0,
            "calls_cancelled": events.calls_cancelled if events else 0,
            # fired, late on purpose: planned while a scenario pause held this peer (held_events.py)
            "events_held": events.events_held if events else 0,
            "lateness_seconds": events.lateness_summary()
            if events
            else {"p50": None, "p99": None, "max": None},
            # The peak of this process's own pages: ru_maxrss would be its parent's at fork time.
            "peak_rss_bytes": read_peak_rss() or usage.ru_maxrss * 1024,
            "pss_bytes": memory.pss if memory is not None else None,
            "uss_bytes": memory.uss if memory is not None else None,
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 6),
            "start_time": self._start_time,
            "started_at": self._started_at,
            "end_time": time.time(),
            "plan_load_seconds": round(self._load_seconds, 6),
            "plan_load_cpu_seconds": round(self._load_cpu, 6),
            "error": outcome.error,
            "errors": events.errors if events else [],
        }
        if self.state.endpoint is not None:
            result["network"] = self.state.endpoint.counts.to_json()
        if self._restarted_at is not None:
            result["restarted_at"] = round(self._restarted_at, 6)
        path = self.state.output_dir / RESULT_FILE
        try:
            write_atomically(path, json.dumps(result, indent=1) + "\n")
        except OSError as exc:
            failure = write_failure(path, exc)
            log.error("%s", failure)
            return failure
        return None


def _held_by_pauses(plan: PlanFileReader, timeline: PeerTimeline) -> HeldSpans:
    """The spans this peer's scenario keeps it paused (its `pause` ... `resume` events), from the
    process-fault events of its timeline alone (found without decoding the others)."""
    if plan.callbacks is not None and "pause" not in plan.callbacks:
        return HeldSpans()
    positions = timeline.positions_of(HOLDING_CALLBACKS)
    return held_spans((timeline.time(k), timeline.event(k).callback) for k in positions)


def run_peer(config: PeerConfig, log_filter: PeerIdFilter | None = None) -> PeerOutcome:
    """Run one peer to its end (the entry point: `asyncio.run` happens here)."""
    return asyncio.run(Peer(config, log_filter).run())
