"""Rendering a `Plan`: the `gscen plan` timeline for the terminal (rich) and as a PNG (matplotlib).

Renders the compiled plan, not the source: times as `H:MM:SS.fff` and seconds, peers compressed to
ranges, arguments after substitution and conversion, and `file:line` of each event. matplotlib is
imported only by `draw_timeline_png`.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator
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

    def __init__(self, plan: Plan, peer: int | None = None) -> None:
        self.plan = plan
        self.peer = peer

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
        for ev in events:
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

    def _peers(self, ev: PlannedEvent) -> str:
        ranges = ev.peers.concrete(self.plan.instances)
        if ranges == ((1, self.plan.instances),):
            return "all"
        return format_ranges(ranges) or "none"


def _segments(plan: Plan) -> Iterator[tuple[float, int, int, str]]:
    for ev in plan.events:
        t = 0.0 if ev.time is None else ev.time
        for lo, hi in ev.peers.concrete(plan.instances):
            yield t, lo, hi, ev.callback


def draw_timeline_png(plan: Plan, path: str) -> None:
    """Draw the plan's events per peer over time (one mark per event and peer range) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    segments = list(_segments(plan))
    counts = Counter(s[3] for s in segments)
    top = [name for name, _ in counts.most_common(9)]
    palette = plt.get_cmap("tab10")
    colour = {name: palette(i) for i, name in enumerate(top)}
    other = (0.6, 0.6, 0.6, 1.0)
    fig, ax = plt.subplots(figsize=(11, max(3.0, min(9.0, 2 + plan.instances * 0.05))), dpi=110)
    lines = [((t, lo - 0.4), (t, hi + 0.4)) for t, lo, hi, _ in segments]
    colours = [colour.get(name, other) for *_, name in segments]
    ax.add_collection(LineCollection(lines, colors=colours, linewidths=1.2))
    end = max((s[0] for s in segments), default=1.0)
    ax.set_xlim(-0.02 * max(end, 1.0), max(end, 1.0) * 1.02)
    ax.set_ylim(plan.instances + 0.8, 0.2)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("peer")
    ax.set_title(f"{os.path.basename(plan.source)}: {len(plan.events)} events, {plan.instances} peers")
    for name in top:
        ax.plot([], [], color=colour[name], label=f"{name} ({counts[name]})")
    if len(counts) > len(top):
        ax.plot([], [], color=other, label=f"other ({sum(counts.values()) - sum(counts[n] for n in top)})")
    if top:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    if not math.isfinite(end):
        end = 1.0
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
