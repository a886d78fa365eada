"""Checking: a resolved `Program` -> every diagnostic about it, sorted and deduplicated.

Calls are checked against the callback signatures read from the `&module` classes (and the
built-ins `echo`, `annotate`, `stop`, `set`): unknown callbacks, arity, named arguments, and literal
values converted as the parameter's annotation says (`int()` and `float()` semantics, `bool` as
yes/no/true/false/1/0, Optional/Union, Literal, Enum member names, Path). Times and stops are
checked per event. Checks append diagnostics and never raise for user mistakes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from typing import Any

from .diagnostics import CODES, Diagnostic, diag, sort_unique
from .faults import check_fault_calls, check_fault_sequence
from .nodes import Argument, Event, Span, TimeSpec
from .parse import bulk_allocation
from .peers import PeerSet, Ranges
from .resolve import Call, Program
from .signatures import BUILTINS, FAULT_BUILTINS, UNIT_KINDS, CallbackSig, Param, ParamKind, TypeSpec, convert

_WARNING = CODES["SC506"].severity


def _converts(value: str, t: TypeSpec) -> bool:
    try:
        convert(value, t)
    except (ValueError, OverflowError):
        return False
    return True


def _unit_help(value: str, t: TypeSpec) -> str | None:
    """For a quantity with a unit, why `value` does not read (the units' own words)."""
    if t.kind not in UNIT_KINDS:
        return None
    try:
        convert(value, t)
    except ValueError as exc:
        return str(exc)
    return None


def _type_phrase(t: TypeSpec) -> str:
    if t.kind == "literal":
        return "one of " + ", ".join(f"`{v}`" for v in t.values)
    if t.kind == "enum":
        return f"a member of `{t.text}` (" + ", ".join(f"`{v}`" for v in t.values) + ")"
    if t.kind == "bool":
        return "a boolean (true/false, yes/no, 1/0)"
    if t.kind == "int":
        return "an integer"
    if t.kind == "float":
        return "a number"
    return _UNIT_PHRASES.get(t.kind, f"`{t.text}`")


_UNIT_PHRASES = {
    "duration": "a duration (`100ms`, `1.5s`)",
    "ratio": "a percentage or a fraction (`5%`, `0.05`)",
    "rate": "a rate (`1mbit`, `100kbps`)",
    "peers": "a peer list (`1-5`, `1,3,6-9`)",
}


@dataclass(frozen=True, slots=True)
class _Binder:
    """A signature prepared for binding many calls quickly."""

    sig: CallbackSig
    positional: tuple[Param, ...]
    by_name: dict[str, Param]
    required: tuple[Param, ...]

    @staticmethod
    def of(sig: CallbackSig) -> _Binder:
        positional = tuple(p for p in sig.params if p.kind is not ParamKind.KEYWORD_ONLY)
        by_name = {p.name: p for p in sig.params if p.kind is not ParamKind.POSITIONAL_ONLY}
        required = tuple(p for p in sig.params if not p.has_default)
        return _Binder(sig, positional, by_name, required)


# what `_Checker.plan` returns: (where the value is, its type's verdicts by value, the type)
_Plan = tuple[tuple[int, dict[str, bool], TypeSpec], ...]
_UNPLANNED: Any = object()  # (a shape not seen yet)


class _Checker:
    def __init__(
        self,
        program: Program,
        stops: Sequence[Call] | None = None,
        modules: bool = True,
        cutoffs: StopCutoffs | None = None,
    ) -> None:
        self.program = program
        self.stops = stops
        self.cutoffs = cutoffs
        self.with_modules = modules
        self.out: list[Diagnostic] = list(program.diagnostics)
        self.binders: dict[str, list[_Binder]] = {
            name: [_Binder.of(s) for s in sigs] for name, sigs in program.callbacks.by_name.items()
        }
        self._bad_times: set[int] = set()  # ids of events whose time is in error
        self._converts: dict[TypeSpec, dict[str, bool]] = {}  # a type -> value -> converts
        self._plans: dict[tuple[object, ...], _Plan | None] = {}

    def run(self) -> list[Diagnostic]:
        with bulk_allocation():
            self.check_times()
            if self.with_modules:
                self.check_modules()
            self.check_calls()
            self.out += check_fault_calls(self.program)
            if self.with_modules:
                self.out += check_fault_sequence(self.program)
            self.check_overlay_names()
            self.check_stops()
        return sort_unique(self.out)

    # ---- per event node (once, also for loops)
    def check_times(self) -> None:
        limit = self.program.config.experiment_time
        valid: set[str] = set()  # time texts known to be fine
        for tree in self.program.files.values():
            for stmt in tree.statements:
                if type(stmt) is not Event:
                    continue
                ev: Event = stmt
                t = ev.time
                if t.seconds is None:
                    continue
                for arg in ev.args:
                    if arg.value.raw[:1] == "#":
                        self.check_trailing_comment(ev)
                        break
                if t.text in valid:
                    if limit is not None and t.seconds > limit:
                        self.beyond_limit(t, limit)
                    continue
                if len(t.fields) > 3 or not math.isfinite(t.seconds) or t.seconds < 0:
                    self._bad_times.add(id(ev))
                if len(t.fields) > 3:
                    self.out.append(
                        diag(
                            "SC507",
                            f"time `{t.text}` has {len(t.fields)} fields; the most is three, `H:M:S`",
                            t.span,
                            notes=("Gumby silently drops the leftmost fields",),
                        )
                    )
                    continue
                bad = [f for f in t.fields[:-1] if not f.lstrip("-").isdigit()]
                if bad:
                    self.out.append(
                        diag(
                            "SC108",
                            f"invalid time spec `{t.text}`: hours and minutes must be whole numbers",
                            t.span,
                            suggestion=f"write the fraction in seconds, e.g. `@{_as_seconds(t.seconds)}`",
                        )
                    )
                    continue
                if math.isnan(t.seconds) or math.isinf(t.seconds):
                    self.out.append(diag("SC505", f"time `{t.text}` is not a finite number", t.span))
                elif t.seconds < 0 or any(f.startswith("-") for f in t.fields):
                    self.out.append(
                        diag(
                            "SC504",
                            f"negative time `{t.text}`",
                            t.span,
                            notes=("Gumby runs negative times immediately; gscen refuses them",),
                            suggestion="use `@!` for an immediate event",
                        )
                    )
                else:
                    valid.add(t.text)
                    if limit is not None and t.seconds > limit:
                        self.beyond_limit(t, limit)

    def beyond_limit(self, t: TimeSpec, limit: float) -> None:
        assert t.seconds is not None
        self.out.append(
            diag(
                "SC509",
                f"event at {t.seconds:g} s is after the experiment ends ({limit:g} s)",
                t.span,
                notes=("peers are stopped at `experiment_time`",),
            )
        )

    def check_trailing_comment(self, ev: Event) -> None:
        for arg in ev.args:
            if arg.value.raw.startswith("#"):
                self.out.append(
                    diag(
                        "SC113",
                        "`#` here is not a comment: the rest of the line is passed as arguments",
                        Span(
                            arg.span.path, arg.span.line, arg.span.column, arg.span.line, ev.span.end_column
                        ),
                        notes=("scenario files have comments on lines of their own only",),
                        suggestion="move the comment to its own line",
                    )
                )
                return

    def check_modules(self) -> None:
        owners: dict[str, str] = {}
        for directive, info in self.program.module_directives:
            if info is None:
                continue
            for sig in info.callbacks:
                if sig.name in FAULT_BUILTINS:
                    where = f"{os.path.basename(sig.span.path)}:{sig.span.line}" if sig.span else info.path
                    self.out.append(
                        diag(
                            "SC310",
                            f"`{info.class_name}` defines a callback `{sig.name}`, the name of a built-in",
                            directive.target_span,
                            notes=(
                                f"`{sig.method}` at {where}",
                                "the fault and network built-ins cannot be answered by a module",
                            ),
                            suggestion="give it another scenario name: "
                            f'`@experiment_callback("my_{sig.name}")`',
                        )
                    )
                other = owners.get(sig.name)
                if other is not None and other != info.dotted:
                    self.out.append(
                        diag(
                            "SC308",
                            f"callback `{sig.name}` is also defined by `{other}`: both are called",
                            directive.target_span,
                            notes=("every module defining a name is called, in `&module` order",),
                        )
                    )
                owners.setdefault(sig.name, info.dotted)

    def check_overlay_names(self) -> None:
        """`isolate_ipv8_overlay NAME` with a NAME none of the modules' launchers loads (when every
        module was found and each launcher's overlay class can be read from its source)."""
        program = self.program
        if program.unchecked_callbacks or "isolate_ipv8_overlay" not in self.binders:
            return
        known: list[str] = []
        for info in program.modules:
            if info.overlays is None:
                return
            known.extend(n for n in info.overlays if n not in known)
        for call in program.calls:
            if call.callback != "isolate_ipv8_overlay" or len(call.args) != 1 or call.args[0] in known:
                continue
            close = get_close_matches(call.args[0], known, n=1)
            self.out.append(
                diag(
                    "SC309",
                    f"no launcher loads an overlay named `{call.args[0]}`",
                    call.arg_nodes[0].span,
                    notes=(f"the modules' launchers load {', '.join(f'`{n}`' for n in known) or 'nothing'}",),
                    suggestion=f"did you mean `{close[0]}`?" if close else None,
                    replacement=close[0] if close else None,
                )
            )

    # ---- per call
    def check_calls(
        self, calls: Iterable[Call] | None = None, marks: list[tuple[int, int]] | None = None
    ) -> None:
        """Check `calls` (the program's by default) against the signatures; with `marks`, append
        to it (the call's index, how many diagnostics `out` held before it) for each call that
        has some."""
        binders = self.binders
        unchecked = self.program.unchecked_callbacks
        known_names = list(binders)
        missing_reported: set[tuple[str, str]] = set()  # an unknown name is reported once per file
        # Calls with the same callback and values get the same verdict: check each shape once.
        clean: set[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]] = set()
        out = self.out
        plans = self._plans
        for k, call in enumerate(self.program.calls if calls is None else calls):
            name = call.callback
            found = binders.get(name)
            if found is None:
                if unchecked:
                    continue
                where = (call.event.span.path, name)
                if where not in missing_reported:
                    missing_reported.add(where)
                    if marks is not None:
                        marks.append((k, len(out)))
                    self.unknown_callback(call, known_names)
                continue
            # most calls are clean: their shape (how many values, which names) fits the one
            # signature, and each typed value converts (one lookup per value, cached)
            args = call.args
            kwargs = call.kwargs
            keys = tuple([key for key, _v in kwargs]) if kwargs else ()
            shape = (name, len(args), keys) if kwargs else (name, len(args))
            plan = plans.get(shape, _UNPLANNED)
            if plan is _UNPLANNED:
                plan = plans[shape] = self.plan(found, len(args), keys)
            if plan is not None:
                for i, verdicts, t in plan:
                    value = args[i] if i >= 0 else kwargs[-1 - i][1]
                    ok = verdicts.get(value)
                    if ok is None:
                        ok = verdicts[value] = _converts(value, t)
                    if not ok:
                        break
                else:
                    if not kwargs or all(v != "" for _k, v in kwargs):
                        continue  # clean
            value_key = (name, args, kwargs)
            if value_key in clean:
                continue
            before = len(out)
            for binder in found:
                self.bind(call, binder)
            if len(out) == before:
                clean.add(value_key)
            elif marks is not None:
                marks.append((k, before))

    def plan(self, found: list[_Binder], nargs: int, keys: tuple[str, ...]) -> _Plan | None:
        """How to tell quickly that a call with `nargs` positional values and these named ones is
        clean against its only signature: the values to convert, each with its type's cache of
        verdicts (a value by position, or by name: the index in the named values, negated, minus
        one). None when a call of that shape cannot be clean (`bind` reports why), or has
        several signatures."""
        if len(found) != 1:
            return None
        b = found[0]
        if nargs > len(b.positional) and not b.sig.varargs:
            return None
        typed: list[tuple[int, dict[str, bool], TypeSpec]] = []
        bound: set[str] = set()
        for i, p in enumerate(b.positional[:nargs]):
            bound.add(p.name)
            if p.type is not None and p.type.kind not in ("str", "any", "path"):
                typed.append((i, self._converts.setdefault(p.type, {}), p.type))
        for j, key in enumerate(keys):
            p_named = b.by_name.get(key)
            if p_named is None:
                if b.sig.varkw and key not in keys[:j]:
                    continue
                return None
            if key in bound:
                return None
            bound.add(key)
            if p_named.type is not None and p_named.type.kind not in ("str", "any", "path"):
                typed.append((-1 - j, self._converts.setdefault(p_named.type, {}), p_named.type))
        if any(p.name not in bound for p in b.required):
            return None
        return tuple(typed)

    def unknown_callback(self, call: Call, known: list[str]) -> None:
        name = call.callback
        close = get_close_matches(name, known, n=1, cutoff=0.6)
        modules = [d.target for d, info in self.program.module_directives if info is not None]
        note = (
            "loaded modules: " + ", ".join(f"`{m}`" for m in modules)
            if modules
            else "no `&module` is loaded: only the built-ins exist (" + ", ".join(BUILTINS) + ")"
        )
        self.out.append(
            diag(
                "SC301",
                f"unknown callback `{name}`",
                call.event.callback.span,
                notes=(note, "reported at its first use in this file only"),
                suggestion=f"did you mean `{close[0]}`?" if close else None,
                replacement=close[0] if close else None,
            )
        )

    def bind(self, call: Call, b: _Binder) -> None:
        sig = b.sig
        ev = call.event
        nargs = len(call.args)
        positional = b.positional
        if nargs > len(positional) and not sig.varargs:
            extra: Argument = call.arg_nodes[len(positional)]
            self.report_once(
                call,
                diag(
                    "SC303",
                    f"`{sig.name}` takes {len(positional)} positional argument"
                    f"{'s' if len(positional) != 1 else ''}, got {nargs}",
                    Span(
                        extra.span.path,
                        extra.span.line,
                        extra.span.column,
                        ev.span.line,
                        call.arg_nodes[-1].span.end_column,
                    ),
                    notes=(f"signature: {sig.signature_text()}", *self.owner_note(sig)),
                    suggestion="remove the extra arguments, or quote an argument that contains spaces",
                ),
            )
        bound: set[str] = set()
        type_checks: list[tuple[Param, str, Argument]] = []
        for i in range(min(nargs, len(positional))):
            p = positional[i]
            bound.add(p.name)
            if p.type is not None and p.type.kind not in ("str", "any", "path"):
                type_checks.append((p, call.args[i], call.arg_nodes[i]))
        seen_keys: dict[str, Argument] = {}
        for (key, value), node in zip(call.kwargs, call.kwarg_nodes, strict=True):
            if node.value.raw == "":
                self.report_once(
                    call,
                    diag(
                        "SC307",
                        f"named argument `{key}` has an empty value",
                        node.span,
                        notes=("Gumby reads every `word=...` token as a named argument, base64 padding too",),
                        suggestion=f"if this is data, escape the sign: `{key}\\=`",
                        replacement=f"{key}\\=",
                    ),
                )
            if key in seen_keys:
                self.report_once(
                    call,
                    diag(
                        "SC305",
                        f"argument `{key}` given twice",
                        node.key_span or node.span,
                        notes=(f"first given at column {seen_keys[key].span.column}",),
                    ),
                )
                continue
            seen_keys[key] = node
            p_named = b.by_name.get(key)
            if p_named is None:
                if sig.varkw:
                    continue
                close = get_close_matches(key, list(b.by_name), n=1)
                self.report_once(
                    call,
                    diag(
                        "SC304",
                        f"`{sig.name}` has no parameter `{key}`",
                        node.key_span or node.span,
                        notes=(f"signature: {sig.signature_text()}", *self.owner_note(sig)),
                        suggestion=f"did you mean `{close[0]}`?" if close else None,
                        replacement=close[0] if close else None,
                    ),
                )
                continue
            if key in bound:
                self.report_once(
                    call,
                    diag(
                        "SC305",
                        f"argument `{key}` of `{sig.name}` is given both by position and by name",
                        node.key_span or node.span,
                    ),
                )
                continue
            bound.add(key)
            if p_named.type is not None and p_named.type.kind not in ("str", "any", "path"):
                type_checks.append((p_named, value, node))
        missing = [p.name for p in b.required if p.name not in bound]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            self.report_once(
                call,
                diag(
                    "SC302",
                    f"`{sig.name}` is missing argument{'s' if len(missing) > 1 else ''} {names}",
                    ev.callback.span,
                    notes=(f"signature: {sig.signature_text()}", *self.owner_note(sig)),
                ),
            )
        for p, value, node in type_checks:
            assert p.type is not None
            verdicts = self._converts.setdefault(p.type, {})
            ok = verdicts.get(value)
            if ok is None:
                ok = verdicts[value] = _converts(value, p.type)
            if ok:
                continue
            if not node.value.is_literal and "$" in value:
                continue  # an undefined variable, reported already
            self.report_once(
                call,
                diag(
                    "SC306",
                    f"`{value}` is not {_type_phrase(p.type)} (parameter `{p.name}` of `{sig.name}`)",
                    node.value.span,
                    notes=(
                        *((f"with the loop value {call.loop_value}",) if call.loop_value is not None else ()),
                        f"signature: {sig.signature_text()}",
                    ),
                    suggestion=_unit_help(value, p.type),
                ),
            )

    def owner_note(self, sig: CallbackSig) -> tuple[str, ...]:
        if sig.owner == "builtin":
            return ("a built-in callback",)
        return (f"defined in `{sig.owner}`",)

    def report_once(self, call: Call, d: Diagnostic) -> None:
        self.out.append(d)

    def check_stops(self) -> None:
        candidates = self.program.calls if self.stops is None else self.stops
        stops = [c for c in candidates if c.callback == "stop" and c.time is not None and c.time >= 0]
        if not stops:
            return
        rule = StopRule(stops, self.program.config.instances)
        first = min(s.time for s in stops if s.time is not None)
        cutoffs = self.cutoffs if self.cutoffs is not None else StopCutoffs()
        warned: set[int] = set()
        stop_of = rule.stop_of
        for call in self.program.calls:
            t = call.time
            if t is None or t <= first or call.callback == "stop" or id(call.event) in self._bad_times:
                continue
            key = id(call.event)
            if key in warned:
                continue
            stop = stop_of(call)
            if stop is not None:
                warned.add(key)
                cutoffs.add(stop, call, rule)
        if self.cutoffs is None:
            self.out += cutoffs.diagnostics()


_SC506_NOTES = ("a stopped peer runs no further events",)


class StopRule:
    """SC506, the one rule (the checker's and the language server's incremental check's): a call
    comes after the first `stop` of `stops` (the valid ones, in program order) that is earlier and
    shares a peer with it. Whether two peer sets meet, and each message, is worked out once: a
    `stop` near the top of a large file puts most of its events after it."""

    def __init__(self, stops: Sequence[Call], instances: int | None) -> None:
        self.stops = [(s, s.time) for s in stops if s.time is not None]
        self.instances = instances
        self._meets: dict[tuple[int, int], bool] = {}  # by ids of the peer sets held in `_held`
        self._held: list[object] = []
        self._verdicts: dict[tuple[float, int], int] = {}  # (time, id of peers) -> index of the stop, -1
        self._messages: dict[tuple[float, int], str] = {}  # (time, index of the stop) -> message
        self._concrete: dict[int, Ranges] = {}  # id of a stop's peers -> its peers within `instances`
        # after every `stop`, the verdict depends on the peers only (most events of an early `stop`)
        self.latest = max((when for _s, when in self.stops), default=math.inf)
        self.after_all: dict[int, int] = {}  # id of peers (held in `_held`) -> index of the stop, -1

    def relabel(self, stops: Sequence[Call]) -> None:
        """Take `stops` in place of the rule's: the same times and peer sets in the same order
        (the verdicts hold), maybe on other lines (the messages are made again)."""
        self.stops = [(s, s.time) for s in stops if s.time is not None]
        self._messages.clear()

    def stop_of(self, call: Call) -> Call | None:
        """The `stop` that cuts a call off, or None when it comes after no `stop` sharing a peer."""
        k = self.stop_index(call)
        return None if k < 0 else self.stops[k][0]

    def warning(self, call: Call) -> Diagnostic | None:
        """SC506 for one call, or None when it comes after no `stop` it shares a peer with."""
        k = self.stop_index(call)
        if k < 0:
            return None
        t = call.time
        assert t is not None
        message = self._messages.get((t, k))
        if message is None:
            s, when = self.stops[k]
            message = self._messages[(t, k)] = (
                f"event at {t:g} s comes after `stop` at {when:g} s "
                f"(line {s.event.span.line}) for some of its peers"
            )
        return Diagnostic("SC506", _WARNING, message, call.event.time.span, _SC506_NOTES)

    def stop_index(self, call: Call) -> int:
        """The index in `stops` of the `stop` that cuts a call off, -1 when none does."""
        t = call.time
        if t is None:
            return -1
        peers = call.peers
        if t > self.latest:
            k = self.after_all.get(id(peers))
            if k is None:
                k = self.after_all[id(peers)] = self._first_stop(t, peers)
                self._held.append(peers)
            return k
        key = (t, id(peers))
        k = self._verdicts.get(key)
        if k is None:
            k = self._verdicts[key] = self._first_stop(t, peers)
            self._held.append(peers)
        return k

    def _first_stop(self, t: float, peers: PeerSet) -> int:
        for k, (s, when) in enumerate(self.stops):
            if not t > when:
                continue
            key = (id(peers), id(s.peers))
            meets = self._meets.get(key)
            if meets is None:
                meets = self._meets[key] = self._intersect(peers, s.peers)
            if meets:
                return k
        return -1

    def _intersect(self, peers: PeerSet, stop_peers: PeerSet) -> bool:
        instances = self.instances
        if instances is None:
            return peers.intersects(stop_peers, None)
        b = self._concrete.get(id(stop_peers))
        if b is None:
            b = self._concrete[id(stop_peers)] = stop_peers.concrete(instances)
        # `b` lies within 1..instances: ranges without exclusions need no clipping to meet it
        a = peers.include if peers.include is not None and not peers.exclude else peers.concrete(instances)
        return any(lo <= bhi and blo <= hi for lo, hi in a for blo, bhi in b)


SC506_SHOWN = 20  # the events a `stop` cuts off that get a warning each; the others are counted


@dataclass(slots=True)
class StopCutoff:
    """The events one `stop` cuts off, in program order: how many, the warnings of the first
    `SC506_SHOWN`, and the first and last line they are on in each file (files in the order met)."""

    stop: Call
    count: int = 0
    shown: list[Diagnostic] = field(default_factory=list)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def take(self, later: StopCutoff) -> None:
        """Add the events of `later`, which all come after these in program order."""
        self.count += later.count
        room = SC506_SHOWN - len(self.shown)
        if room > 0:
            self.shown += later.shown[:room]
        for path, (low, high) in later.lines.items():
            span = self.lines.get(path)
            if span is None:
                self.lines[path] = [low, high]
            else:
                span[0] = min(span[0], low)
                span[1] = max(span[1], high)

    def summary(self) -> Diagnostic | None:
        """One warning on the `stop` itself when it cuts off more events than are shown."""
        if self.count <= SC506_SHOWN:
            return None
        return stop_summary(self.stop, self.count, {p: (lo, hi) for p, (lo, hi) in self.lines.items()})


class StopCutoffs:
    """SC506 grouped per `stop` (by the span of its event): each `stop`'s first `SC506_SHOWN`
    cut-off events keep a warning each, and a `stop` cutting off more gets one summary. Filled in
    program order (`add`); parts of a file checked apart are joined in order (`take`)."""

    def __init__(self) -> None:
        self.groups: dict[Span, StopCutoff] = {}

    def add(self, stop: Call, call: Call, rule: StopRule) -> None:
        group = self.groups.get(stop.event.span)
        if group is None:
            group = self.groups[stop.event.span] = StopCutoff(stop)
        group.count += 1
        if len(group.shown) < SC506_SHOWN:
            warning = rule.warning(call)
            assert warning is not None
            group.shown.append(warning)
        span = call.event.span
        lines = group.lines.get(span.path)
        if lines is None:
            group.lines[span.path] = [span.line, span.line]
        elif span.line < lines[0]:
            lines[0] = span.line
        elif span.line > lines[1]:
            lines[1] = span.line

    def take(self, later: StopCutoffs) -> None:
        """Add the groups of a later part of the program."""
        for key, group in later.groups.items():
            mine = self.groups.get(key)
            if mine is None:
                self.groups[key] = StopCutoff(
                    group.stop, group.count, list(group.shown), {p: list(v) for p, v in group.lines.items()}
                )
            else:
                mine.take(group)

    def diagnostics(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        for group in self.groups.values():
            out += group.shown
            summary = group.summary()
            if summary is not None:
                out.append(summary)
        return out


def stop_summary(stop: Call, count: int, lines: dict[str, tuple[int, int]]) -> Diagnostic:
    """The one SC506 on a `stop` that cuts off `count` events (more than `SC506_SHOWN`), on the
    lines `lines` gives per file (first and last), for `gscen check` and the language server."""
    here = stop.event.span.path

    def where(path: str, low: int, high: int) -> str:
        text = f"line {low:,}" if low == high else f"lines {low:,}-{high:,}"
        return text if path == here and len(lines) == 1 else f"{text} of `{os.path.basename(path)}`"

    parts = [where(p, lo, hi) for p, (lo, hi) in lines.items()]
    place = parts[0] if len(parts) == 1 else f"in {len(parts)} files: " + ", ".join(parts)
    assert stop.time is not None
    return Diagnostic(
        "SC506",
        _WARNING,
        f"`stop` at {stop.time:g} s cuts off {count:,} later events on its peers ({place}); "
        f"the first {SC506_SHOWN} are marked",
        stop.event.callback.span,
        (
            "a stopped peer runs no further events",
            "the later ones have no warning of their own; `gscen plan --peer N` lists what a peer runs",
        ),
    )


def _as_seconds(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "S"
    return f"{seconds:g}"


def check(
    program: Program,
    *,
    stops: Sequence[Call] | None = None,
    modules: bool = True,
    cutoffs: StopCutoffs | None = None,
) -> list[Diagnostic]:
    """Every diagnostic of a resolved program (parse and resolution ones included), sorted.

    For a chunk of a file checked apart (see `project.analyze`): `stops` are the file's `stop` calls
    (events after them are warned about), `modules=False` leaves the module checks to the caller,
    and with `cutoffs` SC506 is left out and gathered there instead, for the caller to join the
    chunks' groups in order (`StopCutoffs.take`) and add `StopCutoffs.diagnostics()`.
    """
    return _Checker(program, stops, modules, cutoffs).run()


# the diagnostics of a call against the callback signatures (`check_call_bindings`)
CALL_CODES = frozenset({"SC301", "SC302", "SC303", "SC304", "SC305", "SC306", "SC307"})


def check_call_bindings(
    program: Program, calls: Iterable[Call], converts: dict[TypeSpec, dict[str, bool]] | None = None
) -> dict[int, list[Diagnostic]]:
    """Only the checks of `calls` against `program`'s callback signatures (the `CALL_CODES`: what
    changes when the `&module` lines do; the calls themselves do not depend on them): the index
    in `calls` of each call that has diagnostics -> its diagnostics. An unknown callback is
    reported at its first call in `calls` per file only, as `check` does over the whole program.
    `converts` keeps, per type, whether each value converts to it, from one call to the next."""
    checker = _Checker(replace(program, calls=(), diagnostics=()), modules=False)
    if converts is not None:
        checker._converts = converts
    marks: list[tuple[int, int]] = []
    with bulk_allocation():
        checker.check_calls(calls, marks)
    out = checker.out
    ends = [start for _k, start in marks[1:]] + [len(out)] if marks else []
    return {k: out[start:end] for (k, start), end in zip(marks, ends, strict=True)}


def check_modules(program: Program) -> list[Diagnostic]:
    """Only the checks about the `&module` lines (callbacks that several modules define)."""
    checker = _Checker(program)
    checker.out = []
    checker.check_modules()
    return checker.out
