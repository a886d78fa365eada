"""The inputs of a check: a scenario, its experiment file, the peer count, the environment.

Takes a scenario path and `CheckOptions`; returns the `ResolveConfig` the resolver needs (variables
from the `.conf` given with `--conf` or found beside the scenario, the variables `gscen run` defines,
the environment, the module search path) and the `.conf`'s own diagnostics. `analyze` runs the whole
front end on one file. The CLI, the language server and the runtime all go through here.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .check import StopCutoffs, check, check_modules
from .conf import ExperimentConfig, find_experiment_config, load_experiment_config
from .diagnostics import Diagnostic, has_errors, sort_unique
from .faults import check_fault_sequence
from .nodes import IncludeDirective, ScenarioFile, Span
from .parse import bulk_allocation, parse_line, parse_lines, read_source
from .plan import Keyed, Plan, PlannedEvent, assemble_plan, compile_plan, planned_events
from .resolve import LoadedFile, Program, ResolveConfig, Seed, load_file, resolve, resolve_file
from .signatures import ModuleReader, default_search_path


@dataclass(frozen=True)
class CheckOptions:
    """How to check: `conf` (a `.conf` path, else one is looked for beside the scenario), the peer
    count `instances` (else the `.conf`'s `instances_to_run`), the environment, extra run variables."""

    conf: str | None = None
    instances: int | None = None
    environment: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    run_variables: Mapping[str, str] = field(default_factory=dict)
    find_conf: bool = True
    cwd: str | None = None
    parallel: bool = False  # check large files in two processes (only diagnostics are returned)


@dataclass(frozen=True)
class Analysis:
    """The front end's whole answer for one scenario file."""

    program: Program
    diagnostics: tuple[Diagnostic, ...]
    experiment: ExperimentConfig | None
    conf_path: str | None
    conf_lines: tuple[str, ...]
    complete: bool = True  # False: checked in chunks; `program` holds no calls, only what rendering needs


def project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding `.git` or `pyproject.toml` (else `start`)."""
    for d in (start, *start.parents):
        if (d / ".git").exists() or (d / "pyproject.toml").exists():
            return d
    return start


def default_run_variables(
    scenario: Path, experiment: ExperimentConfig | None, instances: int | None
) -> dict[str, str]:
    """The values `gscen run` would define, as far as they are known before a run."""
    experiment_dir = experiment.experiment_dir if experiment is not None else scenario.parent
    output = Path(experiment_dir) / (experiment.output_dir if experiment is not None else "output")
    out = {
        "EXPERIMENT_DIR": str(experiment_dir),
        "PROJECT_DIR": str(project_root(scenario.parent)),
        "SCENARIO_FILE": str(scenario),
        "OUTPUT_DIR": str(output),
        "SYNC_HOST": (
            experiment.sync_host if experiment is not None and experiment.sync_host else "127.0.0.1"
        ),
        "SYNC_PORT": str(experiment.sync_port) if experiment is not None and experiment.sync_port else "0",
        "LOCAL_RUN": "True",
    }
    if instances is not None:
        out["INSTANCES_TO_RUN"] = str(instances)
    return out


def configure(
    scenario_path: str,
    options: CheckOptions,
    loader: Callable[[str], LoadedFile] | None = None,
    module_reader: ModuleReader | None = None,
) -> tuple[ResolveConfig, list[Diagnostic], ExperimentConfig | None, str | None]:
    scenario = Path(scenario_path).resolve()
    diagnostics: list[Diagnostic] = []
    experiment: ExperimentConfig | None = None
    conf_path = options.conf
    if conf_path is None and options.find_conf:
        found = find_experiment_config(scenario)
        conf_path = str(found) if found is not None else None
    if conf_path is not None:
        loaded = load_experiment_config(conf_path, options.environment)
        diagnostics.extend(loaded.diagnostics)
        experiment = loaded.config
    instances = options.instances
    if instances is None and experiment is not None:
        instances = experiment.instances_to_run
    run_variables = default_run_variables(scenario, experiment, instances)
    run_variables.update(options.run_variables)
    conf_variables: dict[str, str] = {}
    if experiment is not None:
        exported = experiment.scenario_variables(options.environment, {})
        conf_variables = {k: v for k, v in exported.items() if k not in run_variables}
    search = default_search_path(
        str(scenario),
        str(experiment.workspace_path) if experiment is not None else None,
        options.cwd,
        dict(options.environment),
    )
    if experiment is not None:
        search = (str(experiment.experiment_dir), *search)
    include_dirs = (run_variables["PROJECT_DIR"], run_variables["EXPERIMENT_DIR"])
    config = ResolveConfig(
        conf_variables=conf_variables,
        conf_path=conf_path,
        run_variables=run_variables,
        environment=options.environment,
        module_search=search,
        include_dirs=include_dirs,
        instances=instances,
        experiment_time=experiment.experiment_time if experiment is not None else None,
        loader=loader or load_file,
        module_reader=module_reader,
    )
    return config, diagnostics, experiment, conf_path


def analyze(scenario_path: str, options: CheckOptions | None = None) -> Analysis:
    """Read, parse, resolve and check one scenario file with its experiment file."""
    return _analyze(scenario_path, options or CheckOptions(), compiling=False)[0]


def analyze_and_plan(scenario_path: str, options: CheckOptions) -> tuple[Analysis, Plan | None]:
    """Check a scenario and compile its plan when it has no errors and the peer count is known."""
    return _analyze(scenario_path, options, compiling=True)


def _analyze(scenario_path: str, options: CheckOptions, compiling: bool) -> tuple[Analysis, Plan | None]:
    """The one front-end pass behind `analyze` and `analyze_and_plan`: large files in parallel chunks
    when `options.parallel` (each chunk also compiles its plan events when `compiling`)."""
    config, conf_diags, experiment, conf_path = configure(scenario_path, options)
    conf_lines = _conf_lines(conf_path)
    instances = config.instances if compiling else None
    if options.parallel and (os.cpu_count() or 1) > 1 and (instances is not None or not compiling):
        # The results of every chunk pile up here, acyclic: without the pause, each allocation burst
        # would scan the growing pile again (the compile's time grew with the square of the file).
        with bulk_allocation():
            chunked = _check_in_chunks(scenario_path, config, instances)
            if chunked is not None:
                program, parts = chunked
                diagnostics = tuple(sort_unique([*program.diagnostics, *conf_diags]))
                plan = None
                if instances is not None and parts is not None and not has_errors(diagnostics):
                    plan = assemble_plan(program, instances, parts)
                return Analysis(program, diagnostics, experiment, conf_path, conf_lines, False), plan
    program = resolve_file(scenario_path, config)
    diagnostics = tuple(sort_unique([*check(program), *conf_diags]))
    plan = None
    if instances is not None and not has_errors(diagnostics):
        plan = compile_plan(program, instances, allow_errors=True)
    return Analysis(program, diagnostics, experiment, conf_path, conf_lines), plan


# --------------------------------------------------------------------------- large files, in chunks

CHUNKED_MIN_LINES = 20_000
# `crash`, `pause`, `resume`, `restart`: the process faults are checked in time order over the file
_GLOBAL_WORDS = ("&", "set", "stop", "crash", "pause", "resume", "restart")


@dataclass(frozen=True)
class _ChunkResult:
    diagnostics: tuple[Diagnostic, ...]
    environment_names: frozenset[str]
    files_read: frozenset[str]
    missed: bool
    events: list[Keyed] | None
    cutoffs: StopCutoffs  # SC506, grouped per `stop` once the halves are joined


def _check_chunk(
    path: str,
    lines: tuple[str, ...],
    start: int,
    stop: int,
    config: ResolveConfig,
    globals_: Program,
    part: int,
    compile_for: int | None,
) -> _ChunkResult:
    tree, parse_diags = parse_lines(lines[start:stop], path, first_line=start + 1)
    seed = Seed(
        globals_.modules,
        globals_.module_directives,
        globals_.unchecked_callbacks,
        tuple(v for v in globals_.variables if v.span.line <= start),
    )
    program = resolve(tree, lines, config, seed)
    stops = [c for c in globals_.calls if c.callback == "stop"]
    cutoffs = StopCutoffs()
    diagnostics = [*parse_diags, *check(program, stops=stops, modules=False, cutoffs=cutoffs)]
    events = None
    if compile_for is not None and not has_errors(diagnostics):
        events = planned_events(program, compile_for, part)
    return _ChunkResult(
        tuple(diagnostics),
        program.environment_names,
        program.files_read,
        program.missed_files,
        events,
        cutoffs,
    )


def _check_in_chunks(
    path: str, config: ResolveConfig, compile_for: int | None = None
) -> tuple[Program, list[list[Keyed]] | None] | None:
    """Check a large file in chunks, in worker processes forked before any result is held.

    Lines are independent except directives, `set` and `stop`: every line that could be one (it
    contains `&`, `set` or `stop`) is parsed first, through the grammar, and resolved on its own; each
    chunk then starts from those modules and the variables set before it, and warns about events after
    any `stop` of the file (each chunk counts the events per `stop`, and SC506 is grouped once the
    chunks are joined, in order). With `compile_for` (the peer count), each chunk also compiles its
    plan events.

    Memory stays linear in the file and bounded per chunk: a chunk is at most `CHUNK_LINES` lines, the
    workers (one per core, at most `CHUNK_WORKERS`) are forked up front, so they share only the file's
    lines with this process, and each sends a chunk's result down its pipe as soon as it has it and
    drops the chunk's syntax tree. Only results (diagnostics, plan events) accumulate, here. A chunk
    whose worker died is checked here instead. Returns None (check normally) for small files, files
    with `&include`, or when the file cannot be read.
    """
    source, _ = read_source(path)
    if source is None or len(source.lines) < CHUNKED_MIN_LINES:
        return None
    lines = source.lines
    statements = []
    for number, text in enumerate(lines, 1):
        if any(word in text for word in _GLOBAL_WORDS):
            stmt, _ = parse_line(text, path, number)
            if stmt is not None:
                if isinstance(stmt, IncludeDirective):
                    return None
                statements.append(stmt)
    globals_tree = ScenarioFile(Span(path, 1, 1, len(lines), 1), path, tuple(statements))
    globals_ = resolve(globals_tree, lines, config)
    count = max(2, -(-len(lines) // CHUNK_LINES))
    bounds = [(len(lines) * i // count, len(lines) * (i + 1) // count) for i in range(count)]

    def check_part(part: int) -> _ChunkResult:
        start, stop = bounds[part]
        return _check_chunk(path, lines, start, stop, config, globals_, part, compile_for)

    workers = max(1, min(CHUNK_WORKERS, os.cpu_count() or 1, count))
    results = _run_chunk_workers(check_part, count, workers)
    chunks = [r if r is not None else check_part(i) for i, r in enumerate(results)]
    cutoffs = StopCutoffs()
    for chunk in chunks:
        cutoffs.take(chunk.cutoffs)  # in file order: a later chunk's events come after
    diagnostics = _first_unknown_only(
        [
            *globals_.diagnostics,
            *check_modules(globals_),
            *check_fault_sequence(globals_),
            *(d for chunk in chunks for d in chunk.diagnostics),
            *cutoffs.diagnostics(),
        ]
    )
    parts = None
    if all(chunk.events is not None for chunk in chunks):
        parts = [chunk.events for chunk in chunks if chunk.events is not None]
    environment_names = set(globals_.environment_names)
    files_read = set(globals_.files_read)
    for chunk in chunks:
        environment_names |= chunk.environment_names
        files_read |= chunk.files_read
    program = replace(
        globals_,
        calls=(),
        diagnostics=tuple(diagnostics),
        environment_names=frozenset(environment_names),
        files_read=frozenset(files_read),
        missed_files=globals_.missed_files or any(chunk.missed for chunk in chunks),
    )
    return program, parts


CHUNK_LINES = 60_000
CHUNK_WORKERS = 2
_FRAME = struct.Struct("<IQ")  # chunk index, payload length


def _run_chunk_workers(
    check_part: Callable[[int], _ChunkResult], count: int, workers: int
) -> list[_ChunkResult | None]:
    """Check parts 0..count-1 in `workers` forked processes (worker w takes parts w, w+workers, ...);
    each part's result comes back framed on the worker's pipe as soon as it is done. A part whose
    result never came (the worker died, or could not be forked) is None."""
    results: list[_ChunkResult | None] = [None] * count
    readers: dict[int, bytearray] = {}
    pids = []
    try:
        for w in range(workers):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # a worker: check its parts, send each result, never return
                os.close(read_end)
                status = 0
                try:
                    with os.fdopen(write_end, "wb") as out:
                        for part in range(w, count, workers):
                            try:
                                payload = pickle.dumps(
                                    _flatten(check_part(part)), protocol=pickle.HIGHEST_PROTOCOL
                                )
                            except Exception:
                                continue  # the parent checks this part itself
                            out.write(_FRAME.pack(part, len(payload)))
                            out.write(payload)
                            out.flush()
                except BaseException:
                    status = 1
                os._exit(status)
            os.close(write_end)
            readers[read_end] = bytearray()
            pids.append(pid)
        with selectors.DefaultSelector() as selector:
            for fd in readers:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    fd = key.fd
                    data = os.read(fd, 1 << 20)
                    if not data:
                        selector.unregister(fd)
                        continue
                    buffer = readers[fd]
                    buffer += data
                    _take_frames(buffer, results)
    finally:
        for fd in readers:
            with contextlib.suppress(OSError):
                os.close(fd)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return results


def _take_frames(buffer: bytearray, results: list[_ChunkResult | None]) -> None:
    """Move every whole frame at the start of `buffer` into `results`."""
    while len(buffer) >= _FRAME.size:
        part, size = _FRAME.unpack_from(buffer)
        if len(buffer) < _FRAME.size + size:
            return
        payload = bytes(buffer[_FRAME.size : _FRAME.size + size])
        del buffer[: _FRAME.size + size]
        result = _unflatten(pickle.loads(payload))
        if 0 <= part < len(results):
            results[part] = result


def _first_unknown_only(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """An unknown callback is reported at its first use in a file; each chunk reported its own."""
    seen: set[tuple[str, str]] = set()
    out = []
    for d in sorted(diagnostics, key=lambda d: d.sort_key):
        if d.code == "SC301":
            key = (d.span.path, d.message)
            if key in seen:
                continue
            seen.add(key)
        out.append(d)
    return out


def _flatten(result: _ChunkResult) -> tuple[_ChunkResult, list[tuple[Any, ...]] | None]:
    """Plan events as plain tuples for the pipe: pickle moves tuples at C speed, records slowly."""
    if result.events is None:
        return result, None
    flat = [
        (t, key, e.callback, e.args, e.kwargs, e.peers, e.path, e.line, e.texts)
        for t, key, e in result.events
    ]
    return replace(result, events=None), flat


def _unflatten(data: Any) -> _ChunkResult | None:
    if not isinstance(data, tuple) or not isinstance(data[0], _ChunkResult):
        return None
    result: _ChunkResult = data[0]
    flat = data[1]
    if flat is None:
        return result
    events: list[Keyed] = [(t, key, PlannedEvent(t, *rest)) for t, key, *rest in flat]
    return replace(result, events=events)


def _conf_lines(conf_path: str | None) -> tuple[str, ...]:
    if conf_path is None:
        return ()
    try:
        return tuple(Path(conf_path).read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return ()


__all__ = ["Analysis", "CheckOptions", "LoadedFile", "analyze", "configure", "default_run_variables"]
