"""Experiment files (`.conf`): Gumby's ConfigObj format -> a typed `ExperimentConfig` and diagnostics.

Takes the path of a `.conf` file and the environment mapping to apply (`GUMBY_*`/`GSCEN_*` overrides);
returns a `ConfigLoad`: the typed configuration (None only when the file cannot be read) and SC6xx
diagnostics. ConfigObj reads the values (quoting, lists, comments, `%(name)s` interpolation); since it
keeps no positions, this module finds each key and value on the file's lines itself, so diagnostics
point at the key or value they are about. User mistakes are diagnostics, never exceptions.

Decisions that differ from Gumby (see docs/conf.md): keys are case-insensitive (the later spelling wins,
SC607); `__unique_port__` becomes a port that is free at load time and the file is never written back;
`GSCEN_<X>` beats `GUMBY_<X>`, both beat the file; relative paths are resolved against the `.conf`'s
folder, never against the caller's working directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import configobj

from .diagnostics import Diagnostic, Severity, diag
from .nodes import Span
from .variables import expand_variables, variable_names

__all__ = [
    "ConfigEntry",
    "ConfigLoad",
    "EntrySource",
    "ExperimentConfig",
    "find_experiment_config",
    "load_experiment_config",
]

UNIQUE_PORT = "__unique_port__"
"""The only port placeholder: a value exactly equal to it becomes a free TCP port."""

Value = str | tuple[str, ...]
"""A value as ConfigObj reads it: a string, or a list (written with unquoted commas) as a tuple."""


class EntrySource(enum.Enum):
    """Where an entry's value comes from."""

    FILE = "file"
    ENVIRONMENT = "environment"  # a GUMBY_<X> / GSCEN_<X> override
    DEFAULT = "default"  # Gumby's spec default for a key the file does not set


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One key of the experiment file, after interpolation, overrides and port substitution.

    `key` is spelled as in the file (lower-case for overrides and defaults). `key_span` and `value_span`
    point into the file; they are None for defaults and for keys that only an override sets (an
    override of a key the file has keeps the file's key span, and its value span is None).
    """

    key: str
    value: Value
    source: EntrySource
    key_span: Span | None = None
    value_span: Span | None = None
    override_variable: str | None = None  # the environment variable that set the value, if any

    @property
    def variable(self) -> str:
        """The environment variable this key is exported as."""
        return self.key.upper()


@dataclass(frozen=True, slots=True)
class ExperimentConfig:
    """A loaded experiment file: the keys gscen understands, typed, and every entry in file order.

    `entries` holds one entry per key compared case-insensitively (the later spelling wins), in file
    order, then keys only the environment sets, then Gumby's defaults for the spec keys the file does
    not set. Relative paths in values are relative to `experiment_dir` (the `.conf`'s folder).

    The typed fields hold the value of their key (None or the default when unset or of the wrong type,
    which is an SC602); strings are as written, unexpanded (commands are expanded when run).
    `fail_on_callback_error` (gscen's own key, default True): an exception in a callback fails the
    run; False lets it go on (the failures are still counted). `sync_require_token` (gscen's own, default
    True): the sync server refuses connections without the run's token; False admits Gumby clients.
    `seed` (gscen's own, an integer >= 0): every random choice of the run derives from it (none: the
    run picks one and records it).
    """

    path: Path  # absolute
    experiment_dir: Path  # absolute: the `.conf`'s folder
    entries: tuple[ConfigEntry, ...]
    experiment_name: str | None = None
    workspace_dir: str = "./"
    output_dir: str = "output"
    instances_to_run: int | None = None
    experiment_time: float | None = None
    scenario_file: str | None = None
    local_setup_cmd: str = ""
    local_instance_cmd: str = ""
    post_process_cmd: str = ""
    experiment_server_cmd: str = "experiment_server.py"
    sync_host: str | None = None
    sync_port: int | None = None
    sync_experiment_start_delay: float = 1.0
    sync_require_token: bool = True
    fail_on_callback_error: bool = True
    seed: int | None = None
    use_local_venv: bool = True
    virtualenv_dir: str = "$HOME/venv"
    workspace_path: Path = field(default_factory=Path)  # workspace_dir, relative to experiment_dir
    scenario_path: Path | None = None  # the scenario file found for scenario_file
    ports: Mapping[str, int] = field(default_factory=dict, hash=False)  # key -> port for __unique_port__

    def get(self, key: str) -> ConfigEntry | None:
        """The entry for `key`, compared case-insensitively."""
        wanted = key.lower()
        for entry in self.entries:
            if entry.key.lower() == wanted:
                return entry
        return None

    def exported_variables(
        self, environ: Mapping[str, str], run_variables: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Every key as Gumby exports it: upper-cased, `str()`-ed, `$VAR` and a leading `~` expanded.

        Booleans of typed keys read `True`/`False`, lists use Python's list syntax. `$NAME` refers to
        `run_variables` first, then to the other keys (expanded in turn, in any order; a cycle stays
        literal), then to `environ`; an unknown name stays literal, as in Gumby.
        """
        run = dict(run_variables or {})
        raw = {entry.variable: _export_text(entry) for entry in self.entries}
        return _expand_all(raw, environ, run)

    def environment(
        self, base: Mapping[str, str], run_variables: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The environment of every command and peer: `base`, then the exported keys, then
        `run_variables` (OUTPUT_DIR, EXPERIMENT_DIR, ...: what the runner defines wins, as in Gumby's
        run_in_env)."""
        run = dict(run_variables or {})
        env = dict(base)
        env.update(self.exported_variables(base, run))
        env.update(run)
        return env

    def scenario_variables(
        self, environ: Mapping[str, str] | None = None, run_variables: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The `$NAME` table the scenario checker consults after the scenario's own `set` variables:
        upper-cased key -> the value a peer sees (`community_type = x` answers `$COMMUNITY_TYPE`).

        Pass the runner's `run_variables` to get the values peers really see: where one names the
        same variable as a key (OUTPUT_DIR), it wins, as it does in `environment`.
        """
        run = dict(run_variables or {})
        exported = self.exported_variables(environ or {}, run)
        return {name: run.get(name, value) for name, value in exported.items()}


@dataclass(frozen=True, slots=True)
class ConfigLoad:
    """The result of loading: the configuration (None when the file cannot be read) and diagnostics,
    sorted by position."""

    config: ExperimentConfig | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


# --- Keys gscen understands -------------------------------------------------------------------


class _Kind(enum.Enum):
    STR = "a string"
    INT = "an integer"
    FLOAT = "a number"
    BOOL = "a boolean"
    PORT = "a port number"


@dataclass(frozen=True, slots=True)
class _KeySpec:
    kind: _Kind
    gumby_default: str | None = None  # exported when the file does not set the key (Gumby's spec)
    minimum: float | None = None
    gumby_int: bool = False  # Gumby's spec converts it to int, so its export is normalised


_KEYS: Mapping[str, _KeySpec] = {
    "experiment_name": _KeySpec(_Kind.STR),
    "workspace_dir": _KeySpec(_Kind.STR, "./"),
    "output_dir": _KeySpec(_Kind.STR, "output"),
    "experiment_server_cmd": _KeySpec(_Kind.STR, "experiment_server.py"),
    "local_setup_cmd": _KeySpec(_Kind.STR, ""),
    "local_instance_cmd": _KeySpec(_Kind.STR, ""),
    "post_process_cmd": _KeySpec(_Kind.STR, ""),
    "use_local_venv": _KeySpec(_Kind.BOOL, "True"),
    "virtualenv_dir": _KeySpec(_Kind.STR, "$HOME/venv"),
    "sync_experiment_start_delay": _KeySpec(_Kind.FLOAT, "1", minimum=0, gumby_int=True),
    "scenario_file": _KeySpec(_Kind.STR, ""),
    "instances_to_run": _KeySpec(_Kind.INT, minimum=1),
    "experiment_time": _KeySpec(_Kind.FLOAT, minimum=0),
    "sync_host": _KeySpec(_Kind.STR),
    "sync_port": _KeySpec(_Kind.PORT),
    "sync_require_token": _KeySpec(_Kind.BOOL),
    "fail_on_callback_error": _KeySpec(_Kind.BOOL),
    "seed": _KeySpec(_Kind.INT, minimum=0),
}

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_OVERRIDE_PREFIXES = ("GUMBY_", "GSCEN_")  # later wins
_PLACEHOLDER = re.compile(r"__\w+__")
_PARSE_ERRORS = {  # ConfigObj's messages -> ours
    "Invalid line": "expected `key = value`, a comment or a blank line",
    "Parse error in value": "the value cannot be read (an unclosed quote?)",
    "Parse error in multiline value": "unterminated or malformed triple-quoted value",
    "Duplicate section name": "duplicate section name",
}


# --- Reading the file's lines -------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What ConfigObj accepts as a section marker and as a `key = value` line (its format, restated).
_SECTION = re.compile(r"^\s*((?:\[\s*)+)(.*?)((?:\s*\])+)\s*(#.*)?$")
_KEYWORD = re.compile(r"""^(\s*)((?:".*?")|(?:'.*?')|(?:[^'"=].*?))\s*=\s*(.*)$""")


@dataclass(frozen=True, slots=True)
class _Located:
    """Where one `key = value` entry sits: its first and last line, key and value spans."""

    key: str
    line: int
    last_line: int
    key_span: Span
    value_span: Span
    in_section: bool


@dataclass(frozen=True, slots=True)
class _SectionMark:
    name: str
    span: Span


def _split_lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def _unquote_key(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key


def _value_length(value: str) -> int:
    """Length of a one-line value without its trailing comment and spaces (quote-aware)."""
    pos, end, item_start = 0, len(value), True
    while pos < len(value):
        c = value[pos]
        if item_start and c in "\"'":
            close = value.find(c, pos + 1)
            if close == -1:
                break
            pos, item_start = close + 1, False
            continue
        if c == "#":
            end = pos
            break
        if c == ",":
            item_start = True
        elif not c.isspace():
            item_start = False
        pos += 1
    return len(value[:end].rstrip())


def _locate(path: str, lines: list[str]) -> tuple[list[_Located], list[_SectionMark]]:
    """Find every key and section marker the way ConfigObj classifies lines."""
    found: list[_Located] = []
    sections: list[_SectionMark] = []
    in_section = False
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        section = _SECTION.match(line)
        if section is not None:
            in_section = True
            start = len(line) - len(line.lstrip())
            end = section.end(3)
            sections.append(
                _SectionMark(section.group(2).strip(), Span(path, number, start + 1, number, end + 1))
            )
            index += 1
            continue
        keyword = _KEYWORD.match(line)
        if keyword is None:
            index += 1
            continue
        raw_key, value = keyword.group(2), keyword.group(3)
        key_start = keyword.start(2)
        key_span = Span(path, number, key_start + 1, number, key_start + len(raw_key.rstrip()) + 1)
        value_start = keyword.start(3)
        last = index
        quote = value[:3]
        if quote in ('"""', "'''") and quote not in value[3:]:
            closing = next((j for j in range(index + 1, len(lines)) if quote in lines[j]), None)
            if closing is not None:
                last = closing
                end_column = lines[closing].index(quote) + 3 + 1
                value_span = Span(path, number, value_start + 1, closing + 1, end_column)
            else:  # unterminated: ConfigObj reports it and reads on from the next line
                value_span = Span(path, number, value_start + 1, number, len(line) + 1)
        elif quote in ('"""', "'''"):
            end_column = value_start + 3 + value[3:].index(quote) + 3 + 1
            value_span = Span(path, number, value_start + 1, number, end_column)
        else:
            end_column = value_start + _value_length(value) + 1
            value_span = Span(path, number, value_start + 1, number, end_column)
        found.append(
            _Located(_unquote_key(raw_key.rstrip()), number, last + 1, key_span, value_span, in_section)
        )
        index = last + 1
    return found, sections


def _line_span(path: str, lines: list[str], number: int) -> Span:
    """The text of line `number` without its indentation and trailing spaces (a point if blank)."""
    if not 1 <= number <= len(lines):
        return Span(path, 1, 1, 1, 1)
    line = lines[number - 1]
    start = len(line) - len(line.lstrip()) + 1
    end = len(line.rstrip()) + 1
    return Span(path, number, start, number, max(start, end))


# --- Loading ---------------------------------------------------------------------------------


def load_experiment_config(path: str | os.PathLike[str], environ: Mapping[str, str]) -> ConfigLoad:
    """Read an experiment file; apply `GUMBY_<X>`/`GSCEN_<X>` overrides from `environ`; pick free ports
    for `__unique_port__`; type and check the keys gscen understands.

    `environ` is also what `$VAR` and `~` in `workspace_dir` and `scenario_file` expand against.
    """
    return _load(Path(path), os.fspath(path), environ, allocate_ports=True, apply_overrides=True)


def find_experiment_config(scenario: str | os.PathLike[str]) -> Path | None:
    """The `.conf` beside `scenario` whose `scenario_file` names it, or None.

    Every `*.conf` in the scenario's folder that reads as a Gumby experiment file (no SC601/SC604
    error) and whose own `scenario_file` (environment overrides are not applied) resolves to the
    scenario is a candidate. The best is, in order: one without errors, one whose name matches the
    scenario's (`x.conf` for `x.scenario`), then the first by file name.
    """
    target = Path(scenario)
    folder = target.parent
    try:
        wanted = target.resolve()
        candidates = sorted(p for p in folder.glob("*.conf") if p.is_file())
    except OSError:
        return None
    ranked: list[tuple[bool, bool, str, Path]] = []
    for candidate in candidates:
        result = _load(candidate, str(candidate), {}, allocate_ports=False, apply_overrides=False)
        config = result.config
        if config is None or config.scenario_path is None:
            continue
        if any(d.code in ("SC601", "SC604") for d in result.diagnostics):
            continue
        try:
            if config.scenario_path.resolve() != wanted:
                continue
        except OSError:
            continue
        ranked.append((result.has_errors, candidate.stem != target.stem, candidate.name, candidate))
    return min(ranked)[3] if ranked else None


def _load(
    path: Path, shown: str, environ: Mapping[str, str], *, allocate_ports: bool, apply_overrides: bool
) -> ConfigLoad:
    diagnostics: list[Diagnostic] = []
    file_span = Span(shown, 1, 1, 1, 1)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = "it does not exist" if isinstance(error, FileNotFoundError) else error.strerror or str(error)
        if isinstance(error, IsADirectoryError):
            reason = "it is a folder"
        return ConfigLoad(
            None, (diag("SC601", f"cannot read experiment file `{shown}`: {reason}", file_span),)
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return ConfigLoad(
            None,
            (diag("SC601", f"experiment file `{shown}` is not UTF-8 text", Span(shown, line, 1, line, 1)),),
        )
    if "\x00" in text:
        return ConfigLoad(None, (diag("SC601", f"experiment file `{shown}` is binary", file_span),))
    text = text.removeprefix("\ufeff")
    lines = _split_lines(text)
    located, sections = _locate(shown, lines)
    loader = _Loader(path, shown, lines, located, sections, diagnostics)
    config = loader.run(environ, allocate_ports=allocate_ports, apply_overrides=apply_overrides)
    return ConfigLoad(config, tuple(sorted(set(diagnostics), key=lambda d: d.sort_key)))


class _Loader:
    """One load of one file: the steps share the lines, the located entries and the diagnostics."""

    def __init__(
        self,
        path: Path,
        shown: str,
        lines: list[str],
        located: list[_Located],
        sections: list[_SectionMark],
        diagnostics: list[Diagnostic],
    ) -> None:
        self.path = path
        self.shown = shown
        self.lines = lines
        self.located = located
        self.sections = sections
        self.diagnostics = diagnostics
        self.top = [entry for entry in located if not entry.in_section]
        self.ports: dict[str, int] = {}

    def report(self, code: str, message: str, span: Span, **extra: Any) -> None:
        self.diagnostics.append(diag(code, message, span, **extra))

    def located_at(self, line: int) -> _Located | None:
        for entry in self.located:
            if entry.line <= line <= entry.last_line:
                return entry
        return None

    # -- steps --

    def parse(self) -> Any:
        """ConfigObj over the lines; its errors become SC603/SC604. Returns the (partial) ConfigObj."""
        try:
            return configobj.ConfigObj(self.lines, list_values=True, interpolation=True, raise_errors=False)
        except configobj.ConfigObjError as error:
            for problem in getattr(error, "errors", None) or [error]:
                self.report_parse_error(problem)
            partial = getattr(error, "config", None)  # what ConfigObj read around the bad lines
            return configobj.ConfigObj([]) if partial is None else partial

    def report_parse_error(self, problem: Any) -> None:
        line = int(getattr(problem, "line_number", 0) or 0)
        message = str(problem)
        entry = self.located_at(line)
        if (
            isinstance(problem, configobj.DuplicateError)
            and message.startswith("Duplicate keyword")
            and entry
        ):
            first = next((e for e in self.located if e.key == entry.key and e.line < entry.line), None)
            where = f" (first set on line {first.line})" if first else ""
            self.report(
                "SC603",
                f"`{entry.key}` is set twice{where}; Gumby refuses such a file",
                entry.key_span,
                suggestion="remove one of the two lines",
            )
            return
        reason = re.sub(r"\s*at line \d+\.?$", "", message.splitlines()[0]).strip() or "malformed line"
        for start, text in _PARSE_ERRORS.items():
            if reason.startswith(start):
                reason = text
        self.report(
            "SC604",
            f"cannot read this line: {reason[0].lower()}{reason[1:]}",
            _line_span(self.shown, self.lines, line),
        )

    def run(
        self, environ: Mapping[str, str], *, allocate_ports: bool, apply_overrides: bool
    ) -> ExperimentConfig:
        parsed = self.parse()
        section_names = [k for k in parsed if isinstance(dict.__getitem__(parsed, k), dict)]
        if section_names:  # one diagnostic for the file, at its first section
            first = section_names[0]
            mark = next((m for m in self.sections if _unquote_key(m.name) == first), None)
            more = len(section_names) - 1
            self.report(
                "SC604",
                f"experiment files have no sections: `[{first}]`"
                + (f" and {more} more section{'s' if more > 1 else ''}" if more else "")
                + " and their keys are ignored",
                mark.span if mark else self.file_span(),
                notes=("is this a logging or other INI file rather than an experiment file?",),
            )
        entries = self.file_entries(parsed)
        if apply_overrides:
            entries = self.overrides(entries, parsed, environ)
        entries = self.placeholders(entries, allocate_ports)
        present = {entry.key.lower() for entry in entries}
        defaults = [
            ConfigEntry(key, spec.gumby_default, EntrySource.DEFAULT)
            for key, spec in _KEYS.items()
            if spec.gumby_default is not None and key not in present
        ]
        return self.typed(tuple(entries + defaults), environ)

    def file_entries(self, parsed: Any) -> list[ConfigEntry]:
        """Top-level scalar keys in file order, interpolated; keys differing only in case collapse."""
        spans: dict[str, _Located] = {}
        for found in self.top:
            spans.setdefault(found.key, found)
        entries: list[ConfigEntry] = []
        for key in list(parsed.scalars):
            where = spans.get(key)
            try:
                value: Any = parsed[key]
            except configobj.InterpolationError as error:
                value = dict.__getitem__(parsed, key)
                span = where.value_span if where else Span(self.shown, 1, 1, 1, 1)
                self.report("SC604", f"`%(...)s` interpolation in `{key}` fails: {error}", span)
            entries.append(
                ConfigEntry(
                    key,
                    _to_value(value),
                    EntrySource.FILE,
                    where.key_span if where else None,
                    where.value_span if where else None,
                )
            )
        winners: dict[str, ConfigEntry] = {}
        for entry in entries:
            earlier = winners.get(entry.key.lower())
            if earlier is not None and entry.key_span is not None:
                line = earlier.key_span.line if earlier.key_span else 0
                self.report(
                    "SC607",
                    f"`{entry.key}` and `{earlier.key}` (line {line}) differ only in case: both set "
                    f"`{entry.variable}`, this later one wins",
                    entry.key_span,
                    suggestion="keep one spelling",
                )
            winners[entry.key.lower()] = entry
        return [entry for entry in entries if winners[entry.key.lower()] is entry]

    def overrides(
        self, entries: list[ConfigEntry], parsed: Any, environ: Mapping[str, str]
    ) -> list[ConfigEntry]:
        """`GUMBY_<X>` then `GSCEN_<X>` set key `<x>`; values go through ConfigObj's interpolation too."""
        chosen: dict[str, tuple[str, str]] = {}
        for prefix in _OVERRIDE_PREFIXES:
            for name in sorted(environ):
                if name.startswith(prefix) and len(name) > len(prefix):
                    chosen[name[len(prefix) :].lower()] = (name, environ[name])
        result = list(entries)
        for key, (variable, text) in chosen.items():
            index = next((i for i, e in enumerate(result) if e.key.lower() == key), None)
            spelled = result[index].key if index is not None else key
            value: Value = text
            try:
                parsed[spelled] = text
                value = _to_value(parsed[spelled])
            except configobj.ConfigObjError as error:
                self.report(
                    "SC604",
                    f"`%(...)s` interpolation in `{variable}` fails: {error}",
                    (result[index].key_span if index is not None else None) or self.file_span(),
                )
            if index is None:
                result.append(ConfigEntry(key, value, EntrySource.ENVIRONMENT, override_variable=variable))
            else:
                old = result[index]
                result[index] = ConfigEntry(
                    old.key, value, EntrySource.ENVIRONMENT, old.key_span, None, variable
                )
        return result

    def file_span(self) -> Span:
        return Span(self.shown, 1, 1, 1, 1)

    def placeholders(self, entries: list[ConfigEntry], allocate_ports: bool) -> list[ConfigEntry]:
        """`__unique_port__` -> a free port (distinct per key); other `__xyz__` values are SC606."""
        wanted: list[int] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry.value, str):
                continue
            if entry.value == UNIQUE_PORT:
                wanted.append(index)
            elif _PLACEHOLDER.fullmatch(entry.value):
                close = difflib.get_close_matches(entry.value.lower(), [UNIQUE_PORT], n=1, cutoff=0.6)
                self.report(
                    "SC606",
                    f"unknown placeholder `{entry.value}`: the only one is `{UNIQUE_PORT}`",
                    self.value_span(entry),
                    suggestion=f"did you mean `{UNIQUE_PORT}`?" if close else None,
                    replacement=UNIQUE_PORT if close and entry.value_span else None,
                )
        if not wanted or not allocate_ports:
            return entries
        host = next(
            (e.value for e in entries if e.key.lower() == "sync_host" and isinstance(e.value, str)), None
        )
        ports = _free_ports(host or "127.0.0.1", len(wanted))
        result = list(entries)
        for index, port in zip(wanted, ports, strict=True):
            old = result[index]
            self.ports[old.key] = port
            result[index] = ConfigEntry(
                old.key, str(port), old.source, old.key_span, old.value_span, old.override_variable
            )
        return result

    def value_span(self, entry: ConfigEntry) -> Span:
        return entry.value_span or entry.key_span or self.file_span()

    def notes(self, entry: ConfigEntry) -> tuple[str, ...]:
        if entry.override_variable:
            return (f"the value comes from the environment variable `{entry.override_variable}`",)
        return ()

    def typed(self, entries: tuple[ConfigEntry, ...], environ: Mapping[str, str]) -> ExperimentConfig:
        by_key = {entry.key.lower(): entry for entry in entries}
        values: dict[str, Any] = {}
        for key, spec in _KEYS.items():
            entry = by_key.get(key)
            if entry is None:
                continue
            converted = self.convert(key, spec, entry)
            if converted is not None:
                values[key] = converted
        experiment_dir = self.path.absolute().parent
        exported = _expand_all({e.variable: _export_text(e) for e in entries}, environ, {})
        workspace_dir = values.get("workspace_dir", "./")
        workspace_path = experiment_dir / _expand_path(workspace_dir, exported, environ)
        scenario_path = self.scenario(
            values.get("scenario_file"), by_key, experiment_dir, workspace_path, exported, environ
        )
        for optional in ("experiment_name", "scenario_file", "sync_host"):
            if optional in values:
                values[optional] = values[optional] or None  # empty means unset
        config = ExperimentConfig(
            path=self.path.absolute(),
            experiment_dir=experiment_dir,
            entries=entries,
            workspace_path=workspace_path,
            scenario_path=scenario_path,
            ports=dict(self.ports),
        )
        config = dataclasses.replace(config, **values)
        self.ignored(config, by_key, environ)
        return config

    def convert(self, key: str, spec: _KeySpec, entry: ConfigEntry) -> object | None:
        """The typed value of a known key, or None after an SC602."""
        value = entry.value
        span = self.value_span(entry)
        if not isinstance(value, str):
            self.report(
                "SC602",
                f"{key} must be {spec.kind.value}, got a list",
                span,
                notes=self.notes(entry),
                suggestion="an unquoted comma makes a list: quote the value",
            )
            return None
        if spec.kind is _Kind.STR:
            return value
        if entry.source is EntrySource.DEFAULT:
            return _parse_typed(spec, value)
        if _PLACEHOLDER.fullmatch(value):
            return None  # not allocated (find_experiment_config), or an SC606 already

        typed = _parse_typed(spec, value)
        if typed is None:
            expected = spec.kind.value
            if spec.minimum == 1:
                expected = "a positive integer"
            elif spec.minimum == 0:
                expected = (
                    "an integer (0 or more)" if spec.kind is _Kind.INT else "a number of seconds (0 or more)"
                )
            self.report("SC602", f"{key} must be {expected}, got {value!r}", span, notes=self.notes(entry))
        return typed

    def scenario(
        self,
        value: str | None,
        by_key: Mapping[str, ConfigEntry],
        experiment_dir: Path,
        workspace_path: Path,
        exported: Mapping[str, str],
        environ: Mapping[str, str],
    ) -> Path | None:
        """`scenario_file` relative to the `.conf`'s folder, then to the workspace; else SC605."""
        if not value:
            return None
        name = Path(_expand_path(value, exported, environ))
        tried = [name] if name.is_absolute() else [experiment_dir / name, workspace_path / name]
        for candidate in tried:
            if candidate.is_file():
                return candidate
        entry = by_key["scenario_file"]
        folder = next((c for c in tried if c.is_dir()), None)
        reason = (
            f"`{folder}` is a folder"
            if folder
            else "looked in " + ", ".join(f"`{c.parent}`" for c in _unique(tried))
        )
        self.report(
            "SC605",
            f"scenario file `{value}` not found: {reason}",
            self.value_span(entry),
            notes=self.notes(entry),
        )
        return None

    def ignored(
        self, config: ExperimentConfig, by_key: Mapping[str, ConfigEntry], environ: Mapping[str, str]
    ) -> None:
        """SC609, only where ignoring a setting changes what happens compared to Gumby."""
        venv_entry = by_key.get("virtualenv_dir")
        flag_entry = by_key.get("use_local_venv")
        written = [
            e for e in (venv_entry, flag_entry) if e is not None and e.source is not EntrySource.DEFAULT
        ]
        if config.use_local_venv and written:
            venv = Path(_expand_path(config.virtualenv_dir, {}, environ))
            if not venv.is_absolute():
                venv = config.experiment_dir / venv
            if venv.is_dir():
                target = venv_entry if venv_entry in written else flag_entry
                assert target is not None
                self.report(
                    "SC609",
                    f"gscen does not activate the virtualenv `{venv}` as Gumby would: "
                    "commands and peers run with gscen's Python",
                    self.value_span(target),
                    suggestion="set use_local_venv = False, or run gscen from inside that virtualenv",
                )
        heads = by_key.get("head_nodes")
        if heads is not None and heads.source is not EntrySource.DEFAULT:
            nodes = heads.value if isinstance(heads.value, tuple) else (heads.value,)
            if any(node.strip() for node in nodes):
                self.report(
                    "SC609",
                    "gscen runs experiments locally: `head_nodes` (pre-2021 remote runs) is ignored",
                    self.value_span(heads),
                )


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: list[Path] = []
    for p in paths:
        if p.parent not in [s.parent for s in seen]:
            seen.append(p)
    return seen


def _to_value(value: Any) -> Value:
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return str(value)


def _parse_typed(spec: _KeySpec, text: str) -> object | None:
    """`text` as the key's type (None if it is not), with range checks."""
    stripped = text.strip()
    if spec.kind is _Kind.BOOL:
        lowered = stripped.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    if spec.kind in (_Kind.INT, _Kind.PORT):
        try:
            number = int(stripped)
        except ValueError:
            return None
        if spec.kind is _Kind.PORT and not 1 <= number <= 65535:
            return None
        if spec.minimum is not None and number < spec.minimum:
            return None
        return number
    try:
        seconds = float(stripped)
    except ValueError:
        return None
    if not math.isfinite(seconds) or (spec.minimum is not None and seconds < spec.minimum):
        return None
    return seconds


def _export_text(entry: ConfigEntry) -> str:
    """`str()` of the value as Gumby exports it (typed booleans and Gumby's int keys normalised)."""
    value = entry.value
    if isinstance(value, tuple):
        return str(list(value))
    spec = _KEYS.get(entry.key.lower())
    if spec is not None and spec.kind is _Kind.BOOL:
        parsed = _parse_typed(spec, value)
        return value if parsed is None else str(parsed)
    if spec is not None and spec.gumby_int:
        try:
            return str(int(value.strip()))
        except ValueError:
            return value
    return value


def _expand_user(text: str, home: str | None) -> str:
    """A leading `~` (replaced by `home`) or `~user` (by that user's home folder), as `expanduser`."""
    if not text.startswith("~"):
        return text
    slash = text.find("/")
    user, rest = (text[1:], "") if slash == -1 else (text[1:slash], text[slash:])
    if user:
        try:
            import pwd

            home = pwd.getpwnam(user).pw_dir
        except (ImportError, KeyError):
            return text
    if home is None:
        return text
    return (home.rstrip("/") or "/") + rest if rest else home


def _expand_path(text: str, exported: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """A path value expanded against the exported keys, then `environ`."""

    def lookup(name: str) -> str | None:
        return exported.get(name, environ.get(name))

    return _expand_user(expand_variables(text, lookup), lookup("HOME"))


def _expand_all(raw: Mapping[str, str], environ: Mapping[str, str], run: Mapping[str, str]) -> dict[str, str]:
    """Expand every exported value; references between keys resolve whatever their order, and a
    reference to a key on a cycle (`a = $B`, `b = $A`) stays as written."""
    refs = {name: variable_names(text) & raw.keys() - run.keys() for name, text in raw.items()}
    cyclic = {name for name in raw if name in _reachable(name, refs)}
    done: dict[str, str] = {}

    def resolve(name: str) -> str | None:
        if name in run:
            return run[name]
        if name in raw:
            return None if name in cyclic else expand(name)
        return environ.get(name)

    def expand(name: str) -> str:
        if name not in done:
            done[name] = _expand_user(expand_variables(raw[name], resolve), resolve("HOME"))
        return done[name]

    return {name: expand(name) for name in raw}


def _reachable(start: str, refs: Mapping[str, set[str]]) -> set[str]:
    """The names reachable from `start` in one or more steps (an explicit stack, no recursion)."""
    seen: set[str] = set()
    stack = list(refs.get(start, ()))
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(refs.get(name, ()))
    return seen


def _free_ports(host: str, count: int) -> list[int]:
    """`count` distinct TCP ports free on `host` (bound to port 0, all held until all are chosen)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_bind_any(host))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _bind_any(host: str) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        infos = []
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.bind(address)
            return sock
        except OSError:
            sock.close()
    # Not an address of this machine (a head node's, say): a port free on every local interface.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("", 0))
    return sock
