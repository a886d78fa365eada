"""When a run is meant to end: a plan + `experiment_time` -> each peer's planned end, and the events it
must have fired by then.

A peer's end is the earliest of: its first `stop` (seconds after the start signal), `experiment_time`,
and the instant the scenario itself stops its events on purpose (`scenario_stops_peer`). A peer with
none of these has no end (None): nothing but a signal ends it, and `gscen run` warns before starting
(SC610).

Every event planned before a peer's end (the `@!` ones included; one at the end itself is not owed,
as `stop` and the events sharing its instant race it) is owed: a peer that ends, hangs, is killed or
dies with such an event not fired fails the run. Peers still running at the end are stopped by the
guard, `STOP_GRACE` seconds later: when the end is `experiment_time`, that is the normal end (as
Gumby's guard timeout); when it is the peer's `stop`, a peer not gone `STOP_GRACE` seconds after it
fails the run.

Counting is done once per distinct peer set (not once per peer and event: 4,000 peers x 1 M events
must stay cheap): `PlannedEnds.owed_counts()` bisects each set's sorted times and spreads the counts
over the set's peer ranges; only a peer that falls short has its owed events listed one by one
(`owed_events`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scenario_lang.signatures import PROCESS_BUILTINS

if TYPE_CHECKING:
    from scenario_lang.peers import PeerSet
    from scenario_lang.plan import Plan, PlannedEvent

__all__ = ["STOP_GRACE", "PlannedEnds", "planned_ends", "scenario_stops_peer"]

STOP_GRACE = 5.0
"""Seconds a peer has, after its planned end, to exit before the guard stops it (and, after its `stop`,
before the run fails)."""


def scenario_stops_peer(plan: Plan, peer: int) -> float | None:
    """The hook for faults the scenario itself causes: the seconds after the start from which the
    scenario stops `peer`'s events on purpose (a planned crash or pause), else None.

    Events after that instant are not owed. Today results.py does not judge a peer whose process
    faults were carried out at all (a restart or resume makes later events owed again, which a
    single instant cannot say); this hook is where a finer rule would go.
    """
    del plan, peer
    return None


@dataclass(frozen=True)
class PlannedEnds:
    """Each peer's planned end (seconds after the start signal; None: nothing ends it)."""

    plan: Plan
    experiment_time: float | None
    ends: dict[int, float | None]
    by_stop: frozenset[int]  # peers whose end is their own `stop`
    _times: dict[PeerSet, list[float]] = field(repr=False, default_factory=dict)
    _counts: dict[int, int] = field(repr=False, default_factory=dict)  # owed_counts, once computed

    @property
    def run_end(self) -> float | None:
        """The last peer's end, or None when some peer has none."""
        if not self.ends or any(end is None for end in self.ends.values()):
            return None
        return max(end for end in self.ends.values() if end is not None)

    @property
    def endless(self) -> list[int]:
        """The peers nothing ends."""
        return [peer for peer, end in self.ends.items() if end is None]

    def owed_count(self, peer: int) -> int:
        """How many events `peer` must fire before its end."""
        return self.owed_counts().get(peer, 0)

    def owed_counts(self) -> dict[int, int]:
        """Every peer's owed count, in one pass per distinct end: each peer set adds its count of
        events before that end to its peers' ranges (a difference array), so 4,000 peers and 4,000
        distinct sets cost 4,000 bisects and ranges, not 16 M membership tests."""
        if self._counts:
            return self._counts
        n = self.plan.instances
        by_end: dict[float, list[int]] = {}
        for peer, end in self.ends.items():
            by_end.setdefault(math.inf if end is None else end, []).append(peer)
        for end, peers in by_end.items():
            delta = [0] * (n + 2)
            for peer_set, times in self._times.items():
                count = bisect.bisect_left(times, end)
                if count:
                    for lo, hi in peer_set.concrete(n):
                        delta[lo] += count
                        delta[hi + 1] -= count
            running = 0
            totals = []
            for value in delta[: n + 1]:
                running += value
                totals.append(running)
            for peer in peers:
                self._counts[peer] = totals[peer]
        return self._counts

    def owed_events(self, peer: int) -> Iterator[PlannedEvent]:
        """The events `peer` must fire before its end, in plan order."""
        end = self.ends.get(peer)
        for event in self.plan.for_peer(peer):
            if event.callback in PROCESS_BUILTINS:
                continue
            at = -math.inf if event.time is None else event.time
            if end is None or at < end:
                yield event


def planned_ends(plan: Plan, experiment_time: float | None) -> PlannedEnds:
    """Every peer's planned end, and each distinct peer set's sorted event times (see the module)."""
    times: dict[PeerSet, list[float]] = {}
    stops: dict[PeerSet, float] = {}
    for event in plan.events:
        if event.callback in PROCESS_BUILTINS:
            continue  # crash, pause...: the guard carries them out, the peer does not fire them
        at = -math.inf if event.time is None else event.time
        times.setdefault(event.peers, []).append(at)
        if event.callback == "stop":
            first = max(at, 0.0)
            stops[event.peers] = min(stops.get(event.peers, math.inf), first)
    for values in times.values():
        values.sort()
    ends: dict[int, float | None] = {}
    by_stop: set[int] = set()
    for peer in range(1, plan.instances + 1):
        stop = min((t for peers, t in stops.items() if peer in peers), default=None)
        candidates = [t for t in (stop, experiment_time, scenario_stops_peer(plan, peer)) if t is not None]
        end = min(candidates, default=None)
        ends[peer] = end
        if stop is not None and end == stop:
            by_stop.add(peer)
    return PlannedEnds(plan, experiment_time, ends, frozenset(by_stop), times)
