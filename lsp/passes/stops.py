"""The `stop` pass: SC506 of the whole document worked out again (`regroup`), as `check`
groups it per `stop` (its first `SC506_SHOWN` cut-off events marked, one summary for the rest),
from what each line keeps of its calls. Takes an `EditContext`, the lines checked and the `stop`s
at their lines; updates those lines and returns the lines holding SC506 and the included files'
diagnostics when their SC506 changed.
"""

from __future__ import annotations

import heapq
import math
import os
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import replace

from scenario_lang.check import (
    SC506_SHOWN,
    stop_summary,
)
from scenario_lang.diagnostics import Diagnostic, sort_unique
from scenario_lang.nodes import (
    Event,
)
from scenario_lang.resolve import Call

from ..analysis import FullCheckNeeded
from ..lines import SLOW, LineEntry, first_int, may_be_cut_off, parse_entry, positions_in, stop_index_of
from .context import Checked, EditContext
from .recheck import check_lines


def regroup(
    ctx: EditContext,
    results: list[Checked],
    placed: list[tuple[int, LineEntry | None, Call]],
) -> tuple[list[LineEntry] | None, dict[str, list[Diagnostic]] | None]:
    """SC506 of the whole document again, as `check` groups it: per `stop` (`placed`: at
    their lines, in program order), the first `SC506_SHOWN` events it cuts off, in program
    order (an included file's at its `&include` line), keep a warning each, and a `stop`
    cutting off more gets one summary. Only those lines get SC506: the others are counted
    (what they cost is a pass over the events timed after the earliest `stop`, from the
    calls each line keeps; a line whose calls are unknown is checked first). Updates
    `results` (the lines checked: SC506 set on them) and adds the lines whose SC506 changed;
    returns the lines now holding SC506 and the included files' diagnostics when their
    SC506 changed (None for either when nothing was to do)."""
    path, snapshot, analysis, index = ctx.path, ctx.snapshot, ctx.analysis, ctx.index
    valid = [(n, e, c) for n, e, c in placed if c.time is not None and c.time >= 0]
    other_had = any(d.code == "SC506" for ds in analysis.other.values() for d in ds)
    if not valid and not analysis.sc506 and not other_had:
        return None, None
    rule = analysis.stop_rule([c for _n, _e, c in valid])
    stop_index = rule.stop_index
    members: dict[int, list[int]] = {}  # index of the stop -> root lines of the events it cuts off
    included: dict[int, list[tuple[int, int, Call]]] = {}  # -> (`&include` line, order, call)
    threshold = min((c.time for _n, _e, c in valid if c.time is not None), default=math.inf)
    start = bisect_right(analysis.times, threshold)
    # by the events timed after the earliest `stop` (a few), or by every line (an early `stop`)
    by_time = len(analysis.timed) - start <= max(len(snapshot) // 8, 2_000)
    wanted = [old for old, _e, _d in results] + analysis.sc506 + list(analysis.include_anchors.values())
    if by_time and valid:
        wanted += analysis.timed[start:]
    # (the lines the incremental check placed already, `index`, need no pass over the file)
    pos = {id(e): n for e in wanted if (n := index.get(id(e), 0)) and snapshot[n - 1] is e}
    missing = [e for e in wanted if id(e) not in pos]
    if missing:
        pos.update(positions_in(snapshot, missing))
    at_result = {pos[id(old)]: k for k, (old, _e, _d) in enumerate(results) if id(old) in pos}
    if valid:
        unknown: list[tuple[int, LineEntry, LineEntry]] = []
        if by_time:
            seen: set[int] = set()
            pairs: list[tuple[int, LineEntry]] = [(n, results[k][1]) for n, k in at_result.items()]
            for e in analysis.timed[start:]:
                n = pos.get(id(e), 0)
                if n and n not in at_result and n not in seen:
                    seen.add(n)
                    pairs.append((n, e))
            pairs.sort(key=first_int)
            scan: Iterable[tuple[int, LineEntry]] = pairs
        else:
            view = list(snapshot)
            for n, k in at_result.items():
                view[n - 1] = results[k][1]
            scan = enumerate(view, 1)
        after_all, latest = rule.after_all, rule.latest  # (the rule's own cache, read inline)
        cut_off: list[list[int]] = [[] for _ in valid]
        # (an early `stop` puts 100,000 events after it: this loop is kept lean, from what
        # each line keeps of its call, `LineEntry.timing`)
        for n, e in scan:
            timing = e.timing
            if timing is None:
                continue
            if timing is SLOW:
                k = -1
                stmt = e.stmt
                if type(stmt) is Event and may_be_cut_off(stmt, threshold):
                    calls = e.calls
                    if calls is None:  # unknown: checked whole below
                        fresh = e if e.parsed_line == n else parse_entry(e.text, path, n)
                        unknown.append((n, e, fresh))
                        continue
                    k = stop_index_of(calls, stop_index)
            else:
                when, peers, call = timing
                if when > latest:
                    k = after_all.get(peers, -2)
                    if k == -2:
                        k = stop_index(call)
                elif when > threshold:
                    k = stop_index(call)
                else:
                    continue
            if k >= 0:
                cut_off[k].append(n)
        members = {k: found for k, found in enumerate(cut_off) if found}
        if unknown:  # check them whole (they resolve their calls), then count them
            for old, e, diags in check_lines(ctx, unknown):
                n = pos.get(id(old)) or snapshot.index(old) + 1
                at_result[n] = len(results)
                results.append((old, e, diags))
                k = stop_index_of(e.calls or (), stop_index)
                if k >= 0:
                    members.setdefault(k, []).append(n)
            for found in members.values():
                found.sort()
        if analysis.program.includes:
            anchors = analysis.include_anchors
            for made in analysis.included_calls():
                ev = made[0].event
                seconds = ev.time.seconds
                if seconds is None or seconds <= threshold or ev.callback.value == "stop":
                    continue
                if len(ev.time.fields) > 3 or not math.isfinite(seconds):
                    continue
                k = stop_index_of(made, stop_index)
                if k < 0:
                    continue
                through = anchors.get(os.path.normpath(ev.span.path))
                a = pos.get(id(through)) if through is not None else None
                if a is None:
                    raise FullCheckNeeded  # where its events come in the file order is unknown
                hit = next(c for c in made if stop_index(c) == k)
                included.setdefault(k, []).append((a, hit.order, hit))
    # the SC506 of each `stop`'s group, on the root lines and in the included files
    root: dict[int, list[Diagnostic]] = {}
    others: dict[str, list[Diagnostic]] = {}
    for k in sorted(members.keys() | included.keys()):
        stop_line, stop_entry, stop = valid[k]
        lines = members.get(k, [])
        inside = included.get(k, [])
        keyed: list[tuple[int, int, Call | None]] = [(n, -1, None) for n in lines[:SC506_SHOWN]]
        keyed += inside
        for n, _order, which in heapq.nsmallest(SC506_SHOWN, keyed, key=program_order):
            if which is None:  # a root line: its call that the stop cuts off
                e = results[at_result[n]][1] if n in at_result else snapshot[n - 1]
                which = next(c for c in e.calls or () if stop_index(c) == k)
                warning = rule.warning(which)
                assert warning is not None
                root.setdefault(n, []).append(warning)
            else:
                warning = rule.warning(which)
                assert warning is not None
                others.setdefault(which.event.span.path, []).append(warning)
        count = len(lines) + len(inside)
        if count <= SC506_SHOWN:
            continue
        spans: dict[str, tuple[int, int]] = {}
        firsts: list[tuple[tuple[int, int], str]] = []
        if lines:
            spans[path] = (lines[0], lines[-1])
            firsts.append(((spans[path][0], -1), path))
        per_file: dict[str, list[tuple[int, int, int]]] = {}
        for a, order, which in inside:
            per_file.setdefault(which.event.span.path, []).append((a, order, which.event.span.line))
        for p, spots in per_file.items():
            spans[p] = (min(x[2] for x in spots), max(x[2] for x in spots))
            firsts.append((min((x[0], x[1]) for x in spots), p))
        ordered = {p: spans[p] for _first, p in sorted(firsts)}  # files in the order first met
        summary = stop_summary(stop, count, ordered)
        if stop_entry is None:
            others.setdefault(stop.event.span.path, []).append(summary)
        else:
            span = replace(summary.span, line=stop_line, end_line=stop_line)
            root.setdefault(stop_line, []).append(replace(summary, span=span))
    # set them: on the lines that hold SC506 now or held it before
    touched = set(root)
    for e in analysis.sc506:
        held = pos.get(id(e))  # (its line, when it is still there)
        if held is not None:
            touched.add(held)
    holders: list[LineEntry] = []
    for n in sorted(touched):
        k_result = at_result.get(n)
        if k_result is not None:
            old, e, diags = results[k_result]
        else:
            old = e = snapshot[n - 1]
            diags = e.check_diags if e.check_diags is not None else e.parse_diags
        mine = root.get(n, [])
        if mine:
            holders.append(e)
        kept = [d for d in diags if d.code != "SC506"]
        if not mine and len(kept) == len(diags):
            continue
        after = tuple(sort_unique([*kept, *mine]))
        if k_result is not None:
            results[k_result] = (old, e, after)
        elif after != diags:
            results.append((old, e, after))
    other: dict[str, list[Diagnostic]] | None = None
    for p in {p for p, ds in analysis.other.items() if any(d.code == "SC506" for d in ds)} | set(others):
        before = analysis.other.get(p, [])
        after_other = sort_unique([*(d for d in before if d.code != "SC506"), *others.get(p, [])])
        if after_other != sort_unique(before):
            if other is None:
                other = dict(analysis.other)
            other[p] = after_other
    return holders, other


def program_order(item: tuple[int, int, Call | None]) -> tuple[int, int]:
    """A root line's events (order -1) come before an included file's, at its `&include` line."""
    return item[0], item[1]
