"""Resolution: a parsed scenario -> a `Program` of concrete calls, plus its symbol table.

Takes the root `ScenarioFile` and a `ResolveConfig`; returns a `Program`:
- `&include` files are parsed and inlined (searched in the including file's folder, then PROJECT_DIR,
  then EXPERIMENT_DIR; cycles and misses are diagnostics);
- `&module` paths are found and read statically (`signatures.py`), building the callback table;
- `$NAME` is substituted, looked up in order: the loop variable, variables `@! set` on an earlier line
  (text order, includes inline), the `.conf` keys upper-cased, the variables `gscen run` defines, the
  environment;
- `for` loops expand into one call per value; peer specs become `PeerSet`s.
Resolution never raises for user mistakes: it appends diagnostics and goes on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path

from .diagnostics import Diagnostic, diag
from .nodes import (
    Argument,
    Bound,
    Event,
    IncludeDirective,
    ModuleDirective,
    PeerSpec,
    ScenarioFile,
    Span,
    VarRef,
    Word,
    frozen,
)
from .parse import bulk_allocation, parse_lines, read_source
from .peers import PeerSet
from .signatures import BUILTINS, CallbackTable, ModuleInfo, ModuleMiss, ModuleReader, default_search_path
from .variables import expand_variables

# Variables `gscen run` defines for every command and peer (documented in docs/variables.md).
RUN_VARIABLES = (
    "OUTPUT_DIR",
    "EXPERIMENT_DIR",
    "PROJECT_DIR",
    "SCENARIO_FILE",
    "SYNC_HOST",
    "SYNC_PORT",
    "INSTANCES_TO_RUN",
    "LOCAL_RUN",
)

# Gumby's base class: accepted with a warning (it defines no callbacks). Gumby's other modules that
# gscen answers (runtime/gumby_api) resolve like any module; one it does not answer is not found (SC201).
GUMBY_EQUIVALENTS: Mapping[str, str] = {
    "gumby.modules.experiment_module.ExperimentModule": "scenario_lang.ExperimentModule",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EVERYONE = PeerSet.everyone()
_NOBODY_MARK = PeerSet.of(())  # in the peer cache: this spec selects nobody (warn at every use)


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """A scenario file as the resolver sees it: its AST, its lines and the diagnostics of reading it."""

    ast: ScenarioFile | None
    lines: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]


def load_file(path: str) -> LoadedFile:
    """Read and parse a scenario file from disk."""
    source, diags = read_source(path)
    if source is None:
        return LoadedFile(None, (), tuple(diags))
    tree, parse_diags = parse_lines(source.lines, path)
    return LoadedFile(tree, source.lines, tuple(diags + parse_diags))


@dataclass(frozen=True)
class ResolveConfig:
    """What resolution needs besides the text. Everything is passed in: no global state is read."""

    conf_variables: Mapping[str, str] = field(default_factory=dict)
    conf_path: str | None = None
    run_variables: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    module_search: tuple[str, ...] | None = None
    include_dirs: tuple[str, ...] = ()
    instances: int | None = None
    experiment_time: float | None = None
    loader: Callable[[str], LoadedFile] = load_file
    module_reader: ModuleReader | None = None


@frozen
class Call:
    """One call a peer will make: an event occurrence after substitution (and loop expansion).

    `args` are the positional values, aligned with `arg_nodes`; `kwargs` the named ones, aligned
    with `kwarg_nodes`. `order` is the program order (text order, includes inline, loops expanded).
    """

    event: Event
    order: int
    time: float | None
    callback: str
    args: tuple[str, ...]
    arg_nodes: tuple[Argument, ...]
    kwargs: tuple[tuple[str, str], ...]
    kwarg_nodes: tuple[Argument, ...]
    peers: PeerSet
    loop_value: int | None


@frozen
class VariableDef:
    """`@! set NAME VALUE`: `$NAME` means VALUE from the line after `span` on (in program order)."""

    name: str
    value: str
    span: Span
    order: int


@dataclass(frozen=True)
class Program:
    """A resolved scenario: every file read, the calls in program order, and the symbols."""

    root: str
    files: Mapping[str, ScenarioFile]
    lines: Mapping[str, tuple[str, ...]]
    calls: tuple[Call, ...]
    modules: tuple[ModuleInfo, ...]
    module_directives: tuple[tuple[ModuleDirective, ModuleInfo | None], ...]
    callbacks: CallbackTable
    unchecked_callbacks: bool
    variables: tuple[VariableDef, ...]
    includes: tuple[tuple[IncludeDirective, str | None], ...]
    diagnostics: tuple[Diagnostic, ...]
    config: ResolveConfig
    environment_names: frozenset[str] = frozenset()
    files_read: frozenset[str] = frozenset()
    missed_files: bool = False

    def line_of(self, path: str, line: int) -> str | None:
        lines = self.lines.get(path)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]


@dataclass(frozen=True)
class Seed:
    """The state a chunk of a file starts from when its lines are resolved apart from the rest
    (`project.analyze` checks large files in parallel chunks): the modules and the variables set
    before the chunk. Directives in the chunk are skipped; they were resolved with the seed."""

    modules: tuple[ModuleInfo, ...]
    module_directives: tuple[tuple[ModuleDirective, ModuleInfo | None], ...]
    unchecked: bool
    variables: tuple[VariableDef, ...]


class _Resolver:
    def __init__(self, config: ResolveConfig, root_path: str) -> None:
        self.config = config
        search = config.module_search
        if search is None:
            search = default_search_path(root_path, environ=dict(config.environment))
        self.reader = config.module_reader or ModuleReader(search)
        self.diagnostics: list[Diagnostic] = []
        self.files: dict[str, ScenarioFile] = {}
        self.lines: dict[str, tuple[str, ...]] = {}
        self.calls: list[Call] = []
        self.modules: list[ModuleInfo] = []
        self.module_directives: list[tuple[ModuleDirective, ModuleInfo | None]] = []
        self.includes: list[tuple[IncludeDirective, str | None]] = []
        self.unchecked = False
        self.variables: dict[str, VariableDef] = {}
        self.variable_defs: list[VariableDef] = []
        self.order = 0
        self._peer_cache: dict[object, PeerSet] = {}
        self._seen_modules: dict[str, Span] = {}
        self.environment_names: set[str] = set()
        self.missed = False  # a module or include that was not found: the answer may change
        self.skip_directives = False

    def seed(self, seed: Seed) -> None:
        self.modules = list(seed.modules)
        self.module_directives = list(seed.module_directives)
        self.unchecked = seed.unchecked
        for var in seed.variables:
            self.variables[var.name] = var
        self.skip_directives = True

    # ---- variables
    def lookup(self, name: str, loop: tuple[str, int] | None) -> str | None:
        if loop is not None and loop[0] == name:
            return str(loop[1])
        var = self.variables.get(name)
        if var is not None:
            return var.value
        for table in (self.config.conf_variables, self.config.run_variables):
            value = table.get(name)
            if value is not None:
                return value
        self.environment_names.add(name)
        return self.config.environment.get(name)

    def undefined(self, ref: VarRef) -> None:
        known = [
            *self.variables,
            *self.config.conf_variables,
            *self.config.run_variables,
        ]
        close = get_close_matches(ref.name, known, n=1)
        where = ["not set with `@! set` on an earlier line"]
        if self.config.conf_path:
            where.append(f"not a key of {self.config.conf_path}")
        else:
            where.append("no experiment file (.conf) was given or found")
        where.append("not a variable `gscen run` defines")
        where.append("not in the environment")
        if close:
            suggestion = f"did you mean `${close[0]}`?"
        elif not self.config.conf_path:
            suggestion = "pass the experiment file that defines it: `--conf EXP.conf`"
        else:
            suggestion = f"define it first: `@! set {ref.name} VALUE`"
        self.diagnostics.append(
            diag(
                "SC401",
                f"`${ref.name}` is not defined",
                ref.span,
                notes=("; ".join(where),),
                suggestion=suggestion,
                replacement=f"${close[0]}" if close else None,
            )
        )

    def word_value(self, word: Word, loop: tuple[str, int] | None) -> str:
        parts = word.parts
        if len(parts) == 1 and type(parts[0]) is str:
            return parts[0]
        out: list[str] = []
        for part in parts:
            if type(part) is str:
                out.append(part)
            else:
                assert isinstance(part, VarRef)
                value = self.lookup(part.name, loop)
                if value is None:
                    self.undefined(part)
                    value = "$" + part.name
                out.append(value)
        return "".join(out)

    def bound_value(self, bound: Bound, loop: tuple[str, int] | None, what: str) -> int | None:
        if isinstance(bound, int):
            return bound
        value = self.lookup(bound.name, loop)
        if value is None:
            self.undefined(bound)
            return None
        try:
            return int(value)
        except ValueError:
            self.diagnostics.append(
                diag(
                    "SC508",
                    f"{what} `${bound.name}` is `{value}`, not an integer",
                    bound.span,
                )
            )
            return None

    # ---- peers
    def peer_set(self, spec: PeerSpec | None, loop: tuple[str, int] | None) -> PeerSet | None:
        if spec is None:
            return _EVERYONE
        items = spec.items
        if not items:
            return _EVERYONE
        key: object = None
        if len(items) == 1:
            first = items[0]
            simple = type(first.low) is int and (first.high is None or type(first.high) is int)
            key = (spec.negated, first.low, first.high)
        else:
            simple = all(type(it.low) is int and (it.high is None or type(it.high) is int) for it in items)
            key = (spec.negated, tuple((it.low, it.high) for it in items))
        if simple:
            cached = self._peer_cache.get(key)
            if cached is not None:
                if cached is _NOBODY_MARK:
                    self.selects_nobody(spec)
                    return self._peer_cache[(key, "set")]
                return cached
        else:
            key = None
        ranges: list[tuple[int, int]] = []
        ok = True
        for item in spec.items:
            low = self.bound_value(item.low, loop, "peer number")
            high = low if item.high is None else self.bound_value(item.high, loop, "peer number")
            if low is None or high is None:
                ok = False
                continue
            if high < low:
                self.diagnostics.append(
                    diag(
                        "SC502",
                        f"reversed peer range `{low}-{high}`",
                        item.span,
                        notes=("Gumby runs an empty or reversed range on every peer; gscen refuses it",),
                        suggestion=f"write `{high}-{low}`",
                        replacement=f"{high}-{low}" if simple else None,
                    )
                )
                ok = False
                continue
            instances = self.config.instances
            if low < 1 or (instances is not None and high > instances):
                bad = low if low < 1 else high
                limit = f"1..{instances}" if instances is not None else "1 or more"
                self.diagnostics.append(
                    diag(
                        "SC501",
                        f"peer {bad} does not exist: peers are numbered {limit}",
                        item.span,
                        notes=(
                            (f"the experiment has {instances} instances",) if instances is not None else ()
                        ),
                    )
                )
                ok = False
                continue
            ranges.append((low, high))
        if not ok:
            return None
        result = PeerSet.of(ranges, spec.negated)
        instances = self.config.instances
        if instances is not None and result.count(instances) == 0:
            self.selects_nobody(spec)
            if key is not None:  # every later use of this spec must warn too
                self._peer_cache[key] = _NOBODY_MARK
                self._peer_cache[(key, "set")] = result
            return result
        if key is not None:
            self._peer_cache[key] = result
        return result

    def selects_nobody(self, spec: PeerSpec) -> None:
        self.diagnostics.append(
            diag("SC503", f"peer spec selects none of the {self.config.instances} peers", spec.span)
        )

    # ---- statements
    def file(self, loaded: LoadedFile, path: str, stack: tuple[str, ...]) -> None:
        self.diagnostics.extend(loaded.diagnostics)
        if loaded.ast is None:
            return
        self.files[path] = loaded.ast
        self.lines[path] = loaded.lines
        for stmt in loaded.ast.statements:
            t = type(stmt)
            if t is Event:
                self.event(stmt)  # type: ignore[arg-type]
            elif self.skip_directives:
                continue
            elif t is ModuleDirective:
                self.module(stmt)  # type: ignore[arg-type]
            elif t is IncludeDirective:
                self.include(stmt, path, stack)  # type: ignore[arg-type]

    def event(self, ev: Event) -> None:
        loop_clause = ev.loop
        if loop_clause is None:
            self.call(ev, None)
            return
        name = loop_clause.var.value
        if name in self.variables:
            self.diagnostics.append(
                diag(
                    "SC403",
                    f"loop variable `{name}` hides the variable `${name}` set on line "
                    f"{self.variables[name].span.line}",
                    loop_clause.var.span,
                    notes=("inside the loop, gscen uses the loop value; Gumby used the set value instead",),
                    suggestion="rename the loop variable",
                )
            )
        start = self.bound_value(loop_clause.start, None, "loop bound")
        stop = self.bound_value(loop_clause.stop, None, "loop bound")
        if start is None or stop is None:
            return
        step = 1 if stop >= start else -1
        for value in range(start, stop + step, step):
            self.call(ev, (name, value))

    def call(self, ev: Event, loop: tuple[str, int] | None) -> None:
        spec = ev.peers
        peers = _EVERYONE if spec is None else self.peer_set(spec, loop)
        if peers is None:
            peers = _EVERYONE  # the peer spec is in error; the call is still checked
        values: list[str] = []
        named = False
        word_value = self.word_value
        for arg in ev.args:
            if arg.key is not None:
                named = True
            parts = arg.value.parts
            if len(parts) == 1 and type(parts[0]) is str:
                values.append(parts[0])
            else:
                values.append(word_value(arg.value, loop))
        if named:
            args = tuple(v for v, a in zip(values, ev.args, strict=True) if a.key is None)
            arg_nodes = tuple(a for a in ev.args if a.key is None)
            kwargs = tuple((a.key, v) for v, a in zip(values, ev.args, strict=True) if a.key is not None)
            kwarg_nodes = tuple(a for a in ev.args if a.key is not None)
        else:
            args, arg_nodes, kwargs, kwarg_nodes = tuple(values), ev.args, (), ()
        order = self.order
        self.order += 1
        callback = ev.callback.value
        time = ev.time.seconds
        if callback == "set":
            self.set_variable(ev, list(args), time, loop)
        self.calls.append(
            Call(
                ev,
                order,
                time,
                callback,
                args,
                arg_nodes,
                kwargs,
                kwarg_nodes,
                peers,
                loop[1] if loop is not None else None,
            )
        )

    def set_variable(
        self, ev: Event, args: list[str], time: float | None, loop: tuple[str, int] | None
    ) -> None:
        if len(args) != 2:
            return  # the checker reports the arity
        name, value = args
        if time is not None:
            self.diagnostics.append(
                diag(
                    "SC402",
                    f"`set {name}` at a time does not change `${name}` on any line",
                    ev.time.span,
                    notes=("substitution happens before the experiment starts; only `@! set` counts",),
                    suggestion="use `@! set` to define a variable for the following lines",
                    replacement="@!",
                )
            )
            return
        if not _NAME.match(name):
            self.diagnostics.append(
                diag(
                    "SC404",
                    f"`{name}` is not a valid variable name",
                    ev.args[0].span,
                    notes=("a name starts with a letter or `_` and holds letters, digits and `_`",),
                )
            )
            return
        if ev.peers is not None and ev.peers.items:
            self.diagnostics.append(
                diag(
                    "SC405",
                    "`set` with a peer spec: gscen variables are the same on every peer",
                    ev.peers.span,
                    notes=("Gumby defined the variable on the listed peers only",),
                    suggestion="remove the peer spec, or use one variable per peer group",
                )
            )
            return
        var = VariableDef(name, value, ev.span, self.order)
        self.variables[name] = var
        self.variable_defs.append(var)

    def module(self, directive: ModuleDirective) -> None:
        target = directive.target
        span = directive.target_span
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", target):
            words = target.split()
            fix = words[-1] if words and re.fullmatch(r"[\w.]+", words[-1]) else None
            self.diagnostics.append(
                diag(
                    "SC205",
                    f"`{target}` is not a dotted module path",
                    span,
                    suggestion=f"did you mean `{fix}`?" if fix else None,
                    replacement=fix,
                )
            )
            self.unchecked = True
            self.module_directives.append((directive, None))
            return
        if target in self._seen_modules:
            self.diagnostics.append(
                diag(
                    "SC206",
                    f"module `{target}` is already loaded (line {self._seen_modules[target].line})",
                    span,
                    suggestion="remove this line",
                )
            )
            return
        self._seen_modules[target] = span
        if target in GUMBY_EQUIVALENTS or target.split(".")[-1] == "ExperimentModule":
            self.diagnostics.append(
                diag(
                    "SC207",
                    "`ExperimentModule` is the base class: loading it adds no callbacks",
                    span,
                    suggestion="remove this line",
                    replacement=None,
                )
            )
            self.module_directives.append((directive, None))
            return
        result = self.reader.resolve(target)
        if isinstance(result, ModuleInfo):
            self.modules.append(result)
            self.module_directives.append((directive, result))
            return
        self.module_directives.append((directive, None))
        self.unchecked = True
        self.missed = True
        self.module_miss(target, span, result)

    def module_miss(self, target: str, span: Span, miss: ModuleMiss) -> None:
        if miss.kind == "not_found":
            shown = [s for s in miss.searched[:4]]
            gumby = (
                (
                    "gscen answers Gumby's experiment and IPv8 modules itself; for others, put Gumby's "
                    "source on the module search path",
                )
                if target.startswith("gumby.")
                else ()
            )
            self.diagnostics.append(
                diag(
                    "SC201",
                    f"module `{target}` not found",
                    span,
                    notes=(
                        "searched the scenario's folder and its parents up to the repository root, the "
                        "workspace, the current folder, PYTHONPATH and the installed packages",
                        *(f"looked in {s}" for s in shown),
                        *gumby,
                    ),
                    suggestion="check the dotted path, or run from the experiment's project folder",
                )
            )
        elif miss.kind == "is_module":
            classes = ", ".join(f"`{c}`" for c in miss.classes) or "no classes"
            fix = f"{target}.{miss.classes[0]}" if len(miss.classes) == 1 else None
            self.diagnostics.append(
                diag(
                    "SC202",
                    f"`{target}` is a Python module, not a class",
                    span,
                    notes=(f"{miss.detail} defines {classes}",),
                    suggestion=f"did you mean `{fix}`?"
                    if fix
                    else "name the class: `&module package.module.Class`",
                    replacement=fix,
                )
            )
        elif miss.kind == "no_class":
            close = get_close_matches(miss.detail, miss.classes, n=1)
            module_path = target.rsplit(".", 1)[0]
            self.diagnostics.append(
                diag(
                    "SC203",
                    f"class `{miss.detail}` not found in `{module_path}`",
                    span,
                    notes=(f"it defines {', '.join(miss.classes) or 'no classes'}",),
                    suggestion=f"did you mean `{close[0]}`?" if close else None,
                    replacement=f"{module_path}.{close[0]}" if close else None,
                )
            )
        else:
            self.diagnostics.append(diag("SC208", f"cannot read module source: {miss.detail}", span))

    def include(self, directive: IncludeDirective, path: str, stack: tuple[str, ...]) -> None:
        raw = directive.target
        expanded = expand_variables(raw, lambda name: self.lookup(name, None) or None)
        expanded = os.path.expanduser(expanded)
        candidates: list[Path] = []
        if os.path.isabs(expanded):
            candidates.append(Path(expanded))
        else:
            candidates.append(Path(path).parent / expanded)
            candidates.extend(Path(d) / expanded for d in self.config.include_dirs)
        found: Path | None = None
        for candidate in candidates:
            if candidate.exists():
                found = candidate
                break
        span = directive.target_span
        if found is None:
            self.missed = True
            self.diagnostics.append(
                diag(
                    "SC210",
                    f"included file `{raw}` not found",
                    span,
                    notes=tuple(f"looked for {c}" for c in candidates),
                )
            )
            self.includes.append((directive, None))
            return
        if found.is_dir():
            self.diagnostics.append(diag("SC212", f"`{raw}` is a folder, not a scenario file", span))
            self.includes.append((directive, None))
            return
        target = os.path.normpath(str(found))
        self.includes.append((directive, target))
        if target in stack or os.path.normpath(path) == target:
            chain = " -> ".join(os.path.basename(p) for p in (*stack, target))
            self.diagnostics.append(
                diag("SC211", f"include cycle: `{raw}` includes itself", span, notes=(f"cycle: {chain}",))
            )
            return
        self.file(self.config.loader(target), target, (*stack, os.path.normpath(path)))


def resolve(
    tree: ScenarioFile, lines: tuple[str, ...], config: ResolveConfig | None = None, seed: Seed | None = None
) -> Program:
    """Resolve a parsed root file (and everything it includes) into a `Program`."""
    config = config or ResolveConfig()
    r = _Resolver(config, tree.path)
    if seed is not None:
        r.seed(seed)
    with bulk_allocation():
        r.file(LoadedFile(tree, lines, ()), tree.path, ())
    callbacks = CallbackTable()
    for sig in BUILTINS.values():
        callbacks.add(sig)
    for info in r.modules:
        for sig in info.callbacks:
            callbacks.add(sig)
    return Program(
        root=tree.path,
        files=r.files,
        lines=r.lines,
        calls=tuple(r.calls),
        modules=tuple(r.modules),
        module_directives=tuple(r.module_directives),
        callbacks=callbacks,
        unchecked_callbacks=r.unchecked,
        variables=tuple(r.variable_defs),
        includes=tuple(r.includes),
        diagnostics=tuple(r.diagnostics),
        config=config,
        environment_names=frozenset(r.environment_names),
        files_read=frozenset([*r.files, *r.reader.files_read]),
        missed_files=r.missed,
    )


def resolve_file(path: str, config: ResolveConfig | None = None) -> Program:
    """Read, parse and resolve a scenario file; read errors become diagnostics of an empty program."""
    config = config or ResolveConfig()
    loaded = config.loader(path)
    if loaded.ast is None:
        empty = ScenarioFile(Span(path, 1, 1, 1, 1), path, ())
        program = resolve(empty, (), config)
    else:
        program = resolve(loaded.ast, loaded.lines, config)
    return replace(program, diagnostics=tuple(loaded.diagnostics) + program.diagnostics)
