"""The fault and network built-ins, checked beyond their signatures: a resolved `Program` -> diagnostics.

Their signatures (`signatures.BUILTINS`) already convert the quantities (SC306 when `50xs` does not
read as a duration). What only these callbacks need:

- `check_fault_calls(program, calls)`, per call (it also runs on the chunks of a large file):
  a network condition in a scenario without an IPv8 module (SC311, once per file); a value out of
  range (SC312: a negative latency or jitter, a loss below 0 or above 100%, a bandwidth of 0); a
  `partition` or `heal` line with a peer selection of its own (SC512: they apply to every peer);
  partition groups that do not read as peer lists (SC306), are reversed (SC502), name peers that do
  not exist (SC501) or overlap (SC510).
- `check_fault_sequence(program)`, over the whole program: the process faults in time order (ties
  in program order) against each peer's state: `crash` or `pause` of a crashed peer and `resume` of
  a peer that is not paused are SC511; `restart` works on any peer (a running one is killed first);
  a process fault at `@!` (before the start, when there is no process to act on) is SC513.

Both append diagnostics and never raise for user mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .diagnostics import Diagnostic, diag
from .nodes import Argument, Span
from .peers import format_ranges, merge_ranges
from .resolve import Call, Program
from .signatures import NETWORK_BUILTINS, PROCESS_BUILTINS
from .units import parse_duration, parse_peer_groups, parse_rate, parse_ratio


def _values(call: Call, names: tuple[str, ...]) -> dict[str, tuple[str, Argument]]:
    """The call's values for the parameters `names` (in positional order), by position or by name."""
    found: dict[str, tuple[str, Argument]] = {}
    for name, value, node in zip(names, call.args, call.arg_nodes, strict=False):
        found[name] = (value, node)
    for (key, value), node in zip(call.kwargs, call.kwarg_nodes, strict=True):
        if key in names and key not in found:
            found[key] = (value, node)
    return found


def _number(parse: Callable[[str], float], text: str) -> float | None:
    try:
        return parse(text)
    except ValueError:
        return None  # SC306, reported against the signature


def _has_ipv8(program: Program) -> bool:
    # a module that was not found may be one: say nothing then (its own error is reported)
    return program.unchecked_callbacks or any(m.is_ipv8 for m in program.modules)


def check_fault_calls(program: Program, calls: Iterable[Call] | None = None) -> list[Diagnostic]:
    """The per-call checks of the fault and network built-ins among `calls` (the program's by default)."""
    out: list[Diagnostic] = []
    ipv8 = _has_ipv8(program)
    told: set[str] = set()  # files told about the missing IPv8 module
    instances = program.config.instances
    for call in program.calls if calls is None else calls:
        name = call.callback
        if name not in NETWORK_BUILTINS:
            continue
        if not ipv8 and call.event.span.path not in told:
            told.add(call.event.span.path)
            out.append(
                diag(
                    "SC311",
                    f"`{name}` acts on IPv8 traffic, but no `&module` of this scenario is an IPv8 module",
                    call.event.callback.span,
                    notes=(
                        "network conditions apply to the packets of the IPv8 instance an IPv8 module owns",
                        "a module is one when it derives from `BaseIPv8Module` or "
                        "`IPv8OverlayExperimentModule`; reported at the first use in this file only",
                    ),
                    suggestion="load the experiment's IPv8 module with `&module`",
                )
            )
        if name == "latency":
            for param in ("delay", "jitter"):
                got = _values(call, ("delay", "jitter")).get(param)
                if got is None:
                    continue
                seconds = _number(parse_duration, got[0])
                if seconds is not None and seconds < 0:
                    out.append(
                        diag(
                            "SC312",
                            f"negative {'latency' if param == 'delay' else 'jitter'} `{got[0]}`",
                            got[1].value.span,
                            suggestion="a delay is 0 or more: `0ms` ends it",
                        )
                    )
        elif name == "loss":
            got = _values(call, ("rate",)).get("rate")
            share = _number(parse_ratio, got[0]) if got else None
            if got is not None and share is not None and not 0 <= share <= 1:
                bare = not got[0].strip().endswith("%")
                fix = f"{got[0].strip()}%" if bare and 1 < share <= 100 else None
                out.append(
                    diag(
                        "SC312",
                        f"loss `{got[0]}` is {'below 0' if share < 0 else 'above 100%'}",
                        got[1].value.span,
                        notes=(("a number without `%` is a fraction of 1",) if bare else ()),
                        suggestion=f"did you mean `{fix}`?" if fix else "a loss is from 0% to 100%",
                        replacement=fix,
                    )
                )
        elif name == "bandwidth":
            got = _values(call, ("rate",)).get("rate")
            rate = _number(parse_rate, got[0]) if got else None
            if got is not None and rate is not None and rate <= 0:
                out.append(
                    diag(
                        "SC312",
                        f"bandwidth `{got[0]}` is not above zero",
                        got[1].value.span,
                        suggestion="`reset_network` lifts the limit",
                    )
                )
        elif name in ("partition", "heal"):
            spec = call.event.peers
            if spec is not None:
                out.append(
                    diag(
                        "SC512",
                        f"`{name}` applies to every peer: it takes no peer selection",
                        spec.span,
                        notes=(
                            ("the groups are written as peer lists without braces: `partition 1-5 6-10`",)
                            if name == "partition"
                            else ()
                        ),
                        suggestion="remove the `{...}`",
                    )
                )
            if name == "partition":
                out += _check_groups(call, instances)
    return out


def _check_groups(call: Call, instances: int | None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: list[tuple[str, tuple[tuple[int, int], ...]]] = []
    for index, (text, node) in enumerate(zip(call.args, call.arg_nodes, strict=True)):
        span: Span = node.value.span
        try:
            ranges = parse_peer_groups(text)
        except ValueError as exc:
            if index > 0:  # the first group is the signature's `group` parameter: SC306 already
                out.append(
                    diag(
                        "SC306",
                        f"`{text}` is not a peer list (group {index + 1} of `partition`)",
                        span,
                        suggestion=str(exc).split(": ", 1)[-1],
                    )
                )
            continue
        bad = False
        for lo, hi in ranges:
            if hi < lo:
                out.append(
                    diag(
                        "SC502",
                        f"reversed peer range `{lo}-{hi}` in a partition group",
                        span,
                        suggestion=f"write `{hi}-{lo}`",
                    )
                )
                bad = True
            elif lo < 1 or (instances is not None and hi > instances):
                limit = f"1..{instances}" if instances is not None else "1 or more"
                out.append(
                    diag(
                        "SC501",
                        f"peer {lo if lo < 1 else hi} does not exist: peers are numbered {limit}",
                        span,
                    )
                )
                bad = True
        if bad:
            continue
        merged = merge_ranges(ranges)
        for other_text, other in seen:
            common = merge_ranges((max(lo, olo), min(hi, ohi)) for lo, hi in merged for olo, ohi in other)
            if common:
                out.append(
                    diag(
                        "SC510",
                        f"partition group `{text}` overlaps group `{other_text}` "
                        f"(peer{'s' if len(common) > 1 or common[0][0] != common[0][1] else ''} "
                        f"{format_ranges(common)})",
                        span,
                        notes=("a peer is in one group only; the peers in no group form one more group",),
                    )
                )
                break
        seen.append((text, merged))
    return out


def check_fault_sequence(program: Program) -> list[Diagnostic]:
    """The process faults in time order against the state of each peer they name."""
    out: list[Diagnostic] = []
    timed: list[Call] = []
    for call in program.calls:
        if call.callback not in PROCESS_BUILTINS:
            continue
        if call.time is None:
            out.append(
                diag(
                    "SC513",
                    f"`{call.callback}` at `@!`: the peers' processes are faulted after the start only",
                    call.event.time.span,
                    notes=("`@!` events run while the peers prepare, before the common start",),
                    suggestion="give it a time: `@0 ...` is the start instant",
                )
            )
            continue
        timed.append(call)
    if not timed:
        return out
    timed.sort(key=lambda c: (c.time, c.order))
    instances = program.config.instances or _highest_peer(program.calls)
    state: dict[int, tuple[str, Call]] = {}  # peer -> ("crashed" | "paused", the call that made it so)
    for call in timed:
        name = call.callback
        wrong: dict[tuple[str, int], list[int]] = {}  # (what is wrong, the order of the call) -> peers
        whence: dict[int, Call] = {}
        for peer in call.peers.peers(instances):
            now = state.get(peer)
            problem: str | None = None
            if name == "crash":
                if now is not None and now[0] == "crashed":
                    problem = "crashed"
                else:
                    state[peer] = ("crashed", call)
            elif name == "pause":
                if now is not None:
                    problem = now[0]
                else:
                    state[peer] = ("paused", call)
            elif name == "resume":
                if now is None or now[0] != "paused":
                    problem = "crashed" if now is not None else "running"
                else:
                    del state[peer]
            else:  # restart: a fresh process whatever the old one was doing
                state.pop(peer, None)
            if problem is not None:
                cause = now[1] if now is not None else call
                wrong.setdefault((problem, cause.order), []).append(peer)
                whence[cause.order] = cause
        for (problem, order), peers in wrong.items():
            out.append(_sequence_error(call, problem, whence[order], peers))
    return out


def _sequence_error(call: Call, problem: str, cause: Call, peers: list[int]) -> Diagnostic:
    ranges = merge_ranges((p, p) for p in peers)
    who = f"peer{'s' if len(peers) > 1 else ''} {format_ranges(ranges)}"
    assert call.time is not None
    if problem == "running":
        message = f"`resume` at {call.time:g} s: {who} {'are' if len(peers) > 1 else 'is'} not paused"
        note = "`resume` lets a paused peer go on"
    else:
        is_are = "are" if len(peers) > 1 else "is"
        what = "not there" if problem == "crashed" else "paused already"
        assert cause.time is not None
        message = (
            f"`{call.callback}` at {call.time:g} s: {who} {is_are} {what} "
            f"({cause.callback} at {cause.time:g} s, line {cause.event.span.line})"
        )
        note = (
            "a crashed peer is back only after `restart`"
            if problem == "crashed"
            else "pause once, then `resume`"
        )
    spec = call.event.peers
    return diag("SC511", message, spec.span if spec is not None else call.event.callback.span, notes=(note,))


def _highest_peer(calls: Iterable[Call]) -> int:
    highest = 1
    for call in calls:
        for ranges in (call.peers.include, call.peers.exclude):
            if ranges:
                highest = max(highest, ranges[-1][1])
    return highest
