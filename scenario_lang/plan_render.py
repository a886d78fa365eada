"""Rendering a `Plan`: the `gscen plan` timeline for the terminal (rich) and as a PNG (matplotlib).

Renders the compiled plan, not the source: times as `H:MM:SS.fff` and seconds, peers compressed to
ranges, arguments after substitution and conversion, and `file:line` of each event. The PNG is
`timeline_png`'s picture, the one `gscen run` draws of the events that fired; matplotlib is imported
only when it is drawn.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .peers import format_ranges
from .plan import Plan, PlannedEvent
from .signatures import FAULT_BUILTINS

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


def clock(seconds: float | None) -> str:
    """`H:MM:SS.fff`, or `@!` for an immediate event."""
    if seconds is None:
        return "@!"
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def _value(v: Any) -> str:
    if isinstance(v, str):
        if v == "" or any(c.isspace() for c in v) or v[:1] in "'\"":
            return json.dumps(v)
        return v
    return json.dumps(v)


def args_text(ev: PlannedEvent) -> str:
    args: tuple[Any, ...] = ev.args
    kwargs: tuple[tuple[str, Any], ...] = ev.kwargs
    if ev.texts is not None and ev.callback in FAULT_BUILTINS:
        args, kwargs = ev.texts  # `50ms` says more than 0.05
    parts = [_value(a) for a in args]
    parts.extend(f"{k}={_value(v)}" for k, v in kwargs)
    return " ".join(parts)


class PlanView:
    """A rich renderable of a plan's timeline, for all peers or for one."""

    def __init__(self, plan: Plan, peer: int | None = None, limit: int | None = None) -> None:
        self.plan = plan
        self.peer = peer
        self.limit = limit  # show at most this many events, then say how many more there are

    def _events(self) -> Iterable[PlannedEvent]:
        return self.plan.for_peer(self.peer) if self.peer is not None else self.plan.events

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        plan = self.plan
        events = list(self._events())
        base = os.path.dirname(plan.source)
        title = Text()
        if self.peer is not None:
            title.append(f"peer {self.peer}", style="bold")
            title.append(f" of {plan.instances}: {len(events)} events", style="dim")
        else:
            title.append(os.path.basename(plan.source) or "plan", style="bold")
            title.append(f": {len(events)} events for {plan.instances} peers", style="dim")
        yield title
        peers_width = 0
        if self.peer is None:
            peers_width = min(24, max((len(self._peers(e)) for e in events), default=5))
        shown = events if self.limit is None else events[: self.limit]
        for ev in shown:
            line = Text()
            line.append(f"{clock(ev.time):>13}", style="cyan")
            secs = "" if ev.time is None else f"{ev.time:.3f}s"
            line.append(f" {secs:>11}  ", style="dim")
            if self.peer is None:
                line.append(f"{self._peers(ev):<{peers_width}}  ", style="magenta")
            line.append(ev.callback, style="bold")
            text = args_text(ev)
            if text:
                line.append(" " + text)
            src = os.path.relpath(ev.path, base) if base and ev.path.startswith(base) else ev.path
            line.append(f"  {src}:{ev.line}", style="dim")
            yield line
        if len(shown) < len(events):
            yield Text(
                f"... and {len(events) - len(shown):,} more events (`gscen plan` lists them all)", style="dim"
            )

    def _peers(self, ev: PlannedEvent) -> str:
        ranges = ev.peers.concrete(self.plan.instances)
        if ranges == ((1, self.plan.instances),):
            return "all"
        return format_ranges(ranges) or "none"


def draw_timeline_png(plan: Plan, path: str) -> None:
    """Draw the plan's events per peer over time to a PNG (`timeline_png`, the picture `gscen run`
    draws of the fired events, here at the planned times). An event on a peer range is expanded to
    its peers as columns, never as one object per peer."""
    import numpy as np

    from .timeline_png import EventPoints, plot_event_timeline

    rows: list[Any] = []
    times: list[Any] = []
    names: list[str] = []
    for ev in plan.events:
        t = 0.0 if ev.time is None else ev.time
        for lo, hi in ev.peers.concrete(plan.instances):
            rows.append(np.arange(lo - 1, hi, dtype=float))
            times.append(np.full(hi - lo + 1, t))
            names.extend([ev.callback] * (hi - lo + 1))
    planned = np.concatenate(times) if times else np.zeros(0)
    points = EventPoints(
        tuple(str(p) for p in range(1, plan.instances + 1)),
        np.concatenate(rows) if rows else np.zeros(0),
        planned,
        planned,
        names,
        np.zeros(len(planned), dtype=bool),
    )
    title = os.path.basename(plan.source) or "plan"
    plot_event_timeline(points, Path(path), planned_only=True, title=title)
