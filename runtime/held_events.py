"""Which of a peer's events a scenario pause holds: the peer's planned events -> `HeldSpans`.

Takes one peer's events as (planned seconds after the start or None for `@!`, callback name), in plan
order, and returns the spans during which the scenario keeps that peer paused: from a `pause` that
names it to the `resume` that lets it go on, inclusive (the guard's SIGCONT comes a little after the
resume's instant, so an event planned at that instant waits for it too); a `crash` or `restart` also
ends the span (the paused process is gone), and a pause never resumed lasts to the end.

An event planned inside such a span is *held*: the stopped process fires it when it is resumed, late
by as long as the pause lasted, on purpose. The peer still fires and records it (events.csv status
`held` for a call that went well; `failed` and `cancelled` keep their meaning), counts it in
`events_held`, and leaves its lateness out of the statistics, which then measure the scheduler and
not the scenario's fault. The spans come from the plan alone, never from timing: the peer knows
them before its start, and the results stage finds the same spans in the same plan.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a peer imports this module and needs no Plan (it reads the plan file)
    from scenario_lang.plan import Plan

__all__ = ["HELD_STATUS", "HOLDING_CALLBACKS", "HeldSpans", "held_spans", "held_spans_by_peer"]

HELD_STATUS = "held"
"""events.csv's status for a call that went well but whose event a scenario pause held."""

_OPENS = "pause"
_CLOSES = frozenset({"resume", "crash", "restart"})
HOLDING_CALLBACKS = frozenset({_OPENS, *_CLOSES})
"""The callbacks that open or close a span: `held_spans` needs a peer's events of these names only."""


@dataclass(frozen=True, slots=True)
class HeldSpans:
    """Disjoint closed spans (from, to) in seconds after the start, ascending; `to` may be inf."""

    spans: tuple[tuple[float, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.spans)

    def holds(self, planned: float | None) -> bool:
        """Whether an event planned at `planned` (None: an `@!` event, never held) falls in a span."""
        if planned is None or not self.spans:
            return False
        i = bisect.bisect_right(self.spans, (planned, math.inf)) - 1
        return i >= 0 and planned <= self.spans[i][1]


def held_spans(events: Iterable[tuple[float | None, str]]) -> HeldSpans:
    """The spans a peer is paused by its scenario, from its (time, callback) events in plan order."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for time, callback in events:
        if time is None:
            continue
        if callback == _OPENS and since is None:
            since = time
        elif callback in _CLOSES and since is not None:
            spans.append((since, time))
            since = None
    if since is not None:
        spans.append((since, math.inf))
    return HeldSpans(tuple(spans))


def held_spans_by_peer(plan: Plan) -> dict[int, HeldSpans]:
    """`held_spans` of every peer the plan pauses, in one pass over the plan (peers it never pauses
    are absent)."""
    events: dict[int, list[tuple[float | None, str]]] = {}
    for event in plan.events:
        if event.callback in HOLDING_CALLBACKS and event.time is not None:
            for peer in event.peers.peers(plan.instances):
                events.setdefault(peer, []).append((event.time, event.callback))
    spans = {peer: held_spans(mine) for peer, mine in events.items()}
    return {peer: held for peer, held in spans.items() if held}
