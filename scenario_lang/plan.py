"""The compiled plan: a checked `Program` -> an immutable, serializable `Plan` of timed events.

Each event is held once with the `PeerSet` it applies to; a peer's own timeline is derived on demand
(`Plan.for_peer`), never stored as copies. Events are in execution order: immediate (`@!`) events
first in program order, then timed events by time, ties in program order (a loop's events in loop
order).

Two serialized forms:
- JSON (`Plan.to_json` / `Plan.from_json`), the documented `gscen plan --format json` shape;
- the plan file (`write_plan_file` / `read_plan_file`), which the runtime ships to peers: its format
  is plan_file.py's, whose standard-library reader the peers use too: they map the file, select their
  events through the peer-set ids, and decode each event only when it is due.
This module imports no parser: the runtime loads plans without lark.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .files import write_atomically
from .nodes import frozen
from .peers import PeerSet, format_ranges, merge_ranges
from .plan_file import PLAN_VERSION, PlanFileReader, encode_plan_file
from .signatures import CallbackSig, ParamKind, convert

if TYPE_CHECKING:
    from .resolve import Call, Program

JsonValue = Any


@frozen
class PlannedEvent:
    """One event of the plan: `time` None is immediate; `args`/`kwargs` hold converted values.

    `texts` holds the arguments as written (after substitution) when a converted value does not read
    the same (`yes` -> true, `1e-3` -> 0.001): every target converts from them for its own
    annotations, so no target sees another's conversion. Without it, `str()` of a value is its text.
    """

    time: float | None
    callback: str
    args: tuple[JsonValue, ...]
    kwargs: tuple[tuple[str, JsonValue], ...]
    peers: PeerSet
    path: str
    line: int
    texts: tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None = None

    def to_json(self, instances: int, with_peers: bool = True) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "time": self.time,
            "callback": self.callback,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
        }
        if with_peers:
            out["peers"] = format_ranges(self.peers.concrete(instances))
        out["source"] = {"path": self.path, "line": self.line}
        if self.texts is not None:
            out["texts"] = {"args": list(self.texts[0]), "kwargs": dict(self.texts[1])}
        return out


@dataclass(frozen=True, slots=True)
class ModuleRef:
    """A module class the peers instantiate: `dotted` as written, found in `path` as `class_name`."""

    dotted: str
    path: str
    class_name: str


@dataclass(frozen=True)
class Plan:
    instances: int
    events: tuple[PlannedEvent, ...]
    modules: tuple[ModuleRef, ...] = ()
    source: str = ""
    version: int = PLAN_VERSION

    def for_peer(self, peer: int) -> Iterator[PlannedEvent]:
        """This peer's events, in execution order (derived: nothing is copied)."""
        relevant: dict[PeerSet, bool] = {}
        for ev in self.events:
            hit = relevant.get(ev.peers)
            if hit is None:
                hit = relevant[ev.peers] = peer in ev.peers
            if hit:
                yield ev

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "version": self.version,
            "instances": self.instances,
            "source": self.source,
            "modules": [{"dotted": m.dotted, "path": m.path, "class": m.class_name} for m in self.modules],
            "events": [e.to_json(self.instances) for e in self.events],
        }

    def peers_to_json(self, peers: Sequence[int]) -> dict[str, JsonValue]:
        """The per-peer form: `{"peers": {"1": [event without "peers", ...], ...}}`."""
        return {
            "version": self.version,
            "instances": self.instances,
            "peers": {
                str(p): [e.to_json(self.instances, with_peers=False) for e in self.for_peer(p)] for p in peers
            },
        }

    @staticmethod
    def from_json(data: Mapping[str, JsonValue]) -> Plan:
        instances = int(data["instances"])
        sets: dict[str, PeerSet] = {}
        events = []
        for e in data["events"]:
            text = e["peers"]
            peers = sets.get(text)
            if peers is None:
                peers = sets[text] = _peers_from_text(text)
            events.append(
                PlannedEvent(
                    e["time"],
                    e["callback"],
                    tuple(e["args"]),
                    tuple((k, v) for k, v in e["kwargs"].items()),
                    peers,
                    e["source"]["path"],
                    int(e["source"]["line"]),
                    _texts(e.get("texts")),
                )
            )
        modules = tuple(ModuleRef(m["dotted"], m["path"], m["class"]) for m in data.get("modules", ()))
        return Plan(instances, tuple(events), modules, data.get("source", ""), int(data.get("version", 1)))


def _texts(data: Any) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    if data is None:
        return None
    args, kwargs = (data["args"], data["kwargs"]) if isinstance(data, dict) else data
    return tuple(args), tuple(kwargs.items())


def _peers_from_text(text: str) -> PeerSet:
    if not text or text == "none":
        return PeerSet.of(())
    ranges = []
    for item in text.split(","):
        lo, _, hi = item.partition("-")
        ranges.append((int(lo), int(hi or lo)))
    return PeerSet.of(ranges)


# --------------------------------------------------------------------------- compiling


def infer_instances(program: Program) -> int:
    """The highest peer number the program names (at least 1)."""
    highest = 1
    for call in program.calls:
        ps = call.peers
        for ranges in (ps.include, ps.exclude):
            if ranges:
                highest = max(highest, ranges[-1][1])
    return highest


def _convert_args(
    call: Call, sig: CallbackSig | None
) -> tuple[tuple[JsonValue, ...], tuple[tuple[str, JsonValue], ...]]:
    if sig is None:
        return call.args, call.kwargs
    positional = [p for p in sig.params if p.kind is not ParamKind.KEYWORD_ONLY]
    by_name = {p.name: p for p in sig.params}
    args: list[JsonValue] = []
    for i, value in enumerate(call.args):
        p = positional[i] if i < len(positional) else None
        args.append(_value(value, p.type if p else None))
    kwargs = tuple((k, _value(v, by_name[k].type if k in by_name else None)) for k, v in call.kwargs)
    return tuple(args), kwargs


def _reads_the_same(
    args: tuple[JsonValue, ...], kwargs: tuple[tuple[str, JsonValue], ...], call: Call
) -> bool:
    """Whether `str()` of every converted value gives back the text it came from."""
    return all(v is t or str(v) == t for v, t in zip(args, call.args, strict=True)) and all(
        v is t or str(v) == t for (_, v), (_, t) in zip(kwargs, call.kwargs, strict=True)
    )


def _value(value: str, t: Any) -> JsonValue:
    if t is None or t.kind in ("str", "any", "path", "enum", "literal", "peers"):
        return value
    try:
        out = convert(value, t)
    except (ValueError, OverflowError):
        return value
    if isinstance(out, float) and not math.isfinite(out):
        return value
    return out


class PlanError(Exception):
    """compile_plan was given a program with errors."""


def compile_plan(program: Program, instances: int | None = None, *, allow_errors: bool = False) -> Plan:
    """Compile a checked program. Refuses (PlanError) when `check` reports errors, unless told not to."""
    if not allow_errors:
        from .check import check
        from .diagnostics import has_errors

        if has_errors(check(program)):
            raise PlanError("the scenario has errors; run `gscen check` to see them")
    n = instances or program.config.instances or infer_instances(program)
    return assemble_plan(program, n, [planned_events(program, n)])


# An event with its sort key: (time or None for immediate, program order).
Keyed = tuple[float | None, tuple[int, int], PlannedEvent]


def planned_events(program: Program, instances: int, part: int = 0) -> list[Keyed]:
    """The program's calls as plan events with their sort keys (`part` orders chunks of one file)."""
    concrete: dict[PeerSet, PeerSet] = {}
    first_sig: dict[str, CallbackSig | None] = {}
    converted: dict[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], Any] = {}
    out: list[Keyed] = []
    for call in program.calls:
        peers = concrete.get(call.peers)
        if peers is None:
            peers = concrete[call.peers] = PeerSet.of(call.peers.concrete(instances))
        name = call.callback
        if name not in first_sig:
            sigs = program.callbacks.get(name)
            first_sig[name] = sigs[0] if sigs else None
        key = (name, call.args, call.kwargs)
        values = converted.get(key)
        if values is None:
            args, kwargs = _convert_args(call, first_sig[name])
            texts = None if _reads_the_same(args, kwargs, call) else (call.args, call.kwargs)
            values = converted[key] = (args, kwargs, texts)
        span = call.event.span
        event = PlannedEvent(call.time, name, values[0], values[1], peers, span.path, span.line, values[2])
        out.append((call.time, (part, call.order), event))
    return out


def assemble_plan(program: Program, instances: int, parts: Sequence[list[Keyed]]) -> Plan:
    """Order the events of one or more parts: immediate by program order, then by (time, order)."""
    immediate = sorted((k for part in parts for k in part if k[0] is None), key=lambda k: k[1])
    timed = sorted((k for part in parts for k in part if k[0] is not None), key=lambda k: (k[0], k[1]))
    events = tuple(k[2] for k in immediate) + tuple(k[2] for k in timed)
    modules = tuple(ModuleRef(m.dotted, m.path, m.class_name) for m in program.modules)
    return Plan(instances, events, modules, program.root)


# --------------------------------------------------------------------------- the plan file
def write_plan_file(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write the plan in the peer-loadable file form (plan_file.py), atomically: a temporary file,
    then rename.

    Raises OSError naming `path` when it cannot (a full disk); no temporary file is left behind then.
    """
    sets: dict[PeerSet, int] = {}
    paths: dict[str, int] = {}
    set_ids: list[int] = []
    times: list[float] = []
    payloads: list[bytes] = []
    for ev in plan.events:
        sid = sets.setdefault(ev.peers, len(sets))
        pid = paths.setdefault(ev.path, len(paths))
        set_ids.append(sid)
        times.append(math.nan if ev.time is None else ev.time)
        record: list[Any] = [ev.callback, list(ev.args), dict(ev.kwargs), pid, ev.line]
        if ev.texts is not None:
            record.append([list(ev.texts[0]), dict(ev.texts[1])])
        payloads.append(json.dumps(record, separators=(",", ":")).encode())
    header = {
        "version": plan.version,
        "instances": plan.instances,
        "source": plan.source,
        "modules": [{"dotted": m.dotted, "path": m.path, "class": m.class_name} for m in plan.modules],
        "peer_sets": [[list(map(list, ps.include or ())), list(map(list, ps.exclude))] for ps in sets],
        "callbacks": sorted({ev.callback for ev in plan.events}),
        "paths": list(paths),
    }
    write_atomically(path, encode_plan_file(header, times, set_ids, payloads))


def read_plan_file(path: str | os.PathLike[str]) -> Plan:
    """The whole `Plan` a plan file holds (`load(dump(p)) == p`). Raises PlanFileError."""
    with PlanFileReader(path) as reader:
        # A plan only holds concrete sets: an empty include list means "no peer".
        peer_sets = [
            PeerSet(merge_ranges(inc) if inc else (), merge_ranges(exc)) for inc, exc in reader.peer_sets
        ]
        events = []
        for i in range(reader.count):
            record = reader.event(i)
            texts = None
            if record.texts is not None:
                texts = (record.texts[0], tuple(record.texts[1].items()))
            events.append(
                PlannedEvent(
                    record.time,
                    record.callback,
                    record.args,
                    tuple(record.kwargs.items()),
                    peer_sets[reader.set_id(i)],
                    record.path,
                    record.line,
                    texts,
                )
            )
        modules = tuple(ModuleRef(m.dotted, m.path, m.class_name) for m in reader.modules)
        return Plan(reader.instances, tuple(events), modules, reader.source, reader.version)
