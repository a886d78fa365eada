"""Events per peer over time -> a PNG: the one timeline picture, for a plan (`gscen plan --png`, the
planned times) and for a run (`gscen run`'s events.png: fired, failed and never-run events, lateness).

`plot_event_timeline(events, path)` takes `PeerEvents` (per peer, its `FiredEvent`s: planned and actual
seconds since the start, callback, failed), or the same as columns (`EventPoints`), which a plan with
thousands of peers per event builds without an object per peer and event. One row per peer with a
mark per event coloured by callback (above `max_rows` peers: a heat map of events per peer and time
bin); for a run, the lateness (actual - planned) below. `Annotation`s
(seconds since the start, message, peer) are dashed vertical lines, merged when several peers say the
same thing at about the same time. The files are written atomically (never a truncated PNG).

The shared pieces of every gscen figure live here too (`new_figure`, `save_png`, `draw_annotations`):
the runtime's resource plots use them. matplotlib (Agg, no pyplot) and numpy are imported only inside
the functions, so importing this module is cheap; it is part of the front end so that `gscen plan`
draws with it without importing the runtime.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import write_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "Annotation",
    "EventPoints",
    "FiredEvent",
    "PeerEvents",
    "draw_annotations",
    "event_points",
    "new_figure",
    "plot_event_timeline",
    "save_png",
]

DPI = 100
WIDTH = 12.0  # inches, every gscen figure
MAX_SCATTER_POINTS = 20_000
_MAX_LABELLED_ANNOTATIONS = 20
_TIME_BINS = 200
_CALLBACK_COLOURS = 9


@dataclass(frozen=True, slots=True)
class Annotation:
    """A moment worth marking: seconds since the experiment start, a message, the peer that said it."""

    time: float
    message: str
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class FiredEvent:
    """One scheduled event of a peer.

    Attributes:
        planned: when it was due, in seconds since the experiment start.
        actual: when its callback started, same clock; None if it never ran.
        callback: the callback name.
        failed: the callback raised.
    """

    planned: float
    actual: float | None
    callback: str
    failed: bool = False


@dataclass(frozen=True, slots=True)
class PeerEvents:
    """The events of one peer (any order)."""

    peer: int | str
    events: Sequence[FiredEvent]


@dataclass(frozen=True)
class EventPoints:
    """Events as columns, one entry per event and peer: `rows` the peer's row (an index into `labels`,
    the peers top to bottom), `planned` and `actual` seconds since the start (`actual` NaN: never ran),
    `names` the callbacks, `failed` whether the callback raised. The arrays are numpy arrays."""

    labels: Sequence[str]
    rows: Any
    planned: Any
    actual: Any
    names: Sequence[str]
    failed: Any


def event_points(peers: Sequence[PeerEvents]) -> EventPoints:
    """`PeerEvents` as columns, peers in natural order (2 before 10)."""
    import numpy as np

    ordered = sorted(peers, key=lambda p: _natural_key(p.peer))
    row_of: list[int] = []
    planned: list[float] = []
    actual: list[float] = []
    names: list[str] = []
    failed: list[bool] = []
    for row, peer in enumerate(ordered):
        for event in peer.events:
            row_of.append(row)
            planned.append(event.planned)
            actual.append(math.nan if event.actual is None else event.actual)
            failed.append(event.failed)
            names.append(event.callback)
    return EventPoints(
        tuple(str(p.peer) for p in ordered),
        np.asarray(row_of, dtype=float),
        np.asarray(planned, dtype=float),
        np.asarray(actual, dtype=float),
        names,
        np.asarray(failed, dtype=bool),
    )


def plot_event_timeline(
    events: Sequence[PeerEvents] | EventPoints,
    path: Path,
    *,
    annotations: Sequence[Annotation] = (),
    planned_only: bool = False,
    max_rows: int = 60,
    title: str | None = None,
) -> Path:
    """One row per peer with a mark per event, and the lateness of the events over time below.

    `events`: per peer, or as columns (`EventPoints`, what a plan with many peers per event builds
    without an object per peer and event). Marks are coloured by callback (the 9 most used; the rest
    grey); a red x is a failed callback, a hollow grey o an event that never ran (drawn at its planned
    time). Above `max_rows` peers the rows become a heat map of events per peer and time bin. Times
    are seconds since the experiment start. `planned_only=True` draws a plan before any run (`gscen
    plan --png`): every event at its planned time, no lateness panel, `actual` and `failed` ignored.
    """
    import numpy as np

    points = events if isinstance(events, EventPoints) else event_points(events)
    rows = len(points.labels)
    detailed = rows <= max_rows
    top_height = 1.2 + 0.22 * rows if detailed else 6.0
    top_height = min(max(top_height, 2.5), 14.0)
    if planned_only:
        fig = new_figure(WIDTH, top_height + 0.8)
        ax = fig.subplots()
        ax_late = None
    else:
        fig = new_figure(WIDTH, top_height + 3.0)
        ax, ax_late = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [top_height, 3.0]})
    rows_a, planned_a, names = points.rows, points.planned, points.names
    if planned_only:
        actual_a, failed_a = planned_a, np.zeros(len(planned_a), dtype=bool)
    else:
        actual_a, failed_a = points.actual, points.failed
    ran = ~np.isnan(actual_a)
    shown_at = np.where(ran, actual_a, planned_a)
    total = len(planned_a)
    if total == 0:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
    elif detailed:
        _draw_event_rows(ax, rows_a, shown_at, names, ran, failed_a)
    else:
        _draw_event_heatmap(fig, ax, rows_a, shown_at, rows)
        if failed_a.any():
            picks = np.flatnonzero(failed_a)[:MAX_SCATTER_POINTS]
            ax.scatter(shown_at[picks], rows_a[picks], marker="x", color="red", s=12, label="failed")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    labels = list(points.labels)
    if detailed:
        ax.set_yticks(range(rows), labels, fontsize=8 if rows <= 30 else 6)
    else:
        ticks = np.unique(np.linspace(0, rows - 1, num=min(rows, 12)).round().astype(int))
        ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=8)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_ylabel("peer")
    peers_text = f"{rows} peer{'s' * (rows != 1)}"
    if planned_only:
        ax.set_title(f"{title or 'Planned events'}: {total} events, {peers_text}")
    else:
        fired = int(ran.sum())
        ax.set_title(
            f"{title or 'Events'}: {fired} of {total} fired, {int(failed_a.sum())} failed, {peers_text}"
        )
    ax.grid(True, axis="x", alpha=0.3)
    if total:
        # From the start (0) on, with a margin so that marks at 0 are not hidden by the frame.
        lo, hi = min(0.0, float(np.nanmin(shown_at))), float(np.nanmax(shown_at))
        margin = 0.02 * (hi - lo) if hi > lo else 1.0
        ax.set_xlim(lo - margin, hi + margin)
    if ax_late is None:
        ax.set_xlabel("time since start (s)")
        draw_annotations([ax], annotations)
    else:
        _draw_lateness(ax_late, planned_a[ran], (actual_a[ran] - planned_a[ran]) * 1000.0)
        ax_late.set_xlabel("time since start (s)")
        draw_annotations([ax, ax_late], annotations, text_axes=ax)
    save_png(fig, path)
    return path


def _draw_event_rows(ax: Axes, rows: Any, times: Any, names: Sequence[str], ran: Any, failed: Any) -> None:
    import numpy as np

    counts = Counter(names)
    common = [name for name, _ in counts.most_common(_CALLBACK_COLOURS)]
    from matplotlib import colormaps

    colours = colormaps["tab10"]
    names_a = np.asarray(names, dtype=object)
    ok = ran & ~failed
    size = 80 if len(rows) <= 5000 else 20
    for i, name in enumerate(common):
        pick = ok & (names_a == name)
        ax.scatter(
            times[pick], rows[pick], marker="|", s=size, color=colours(i), label=f"{name} ({counts[name]})"
        )
    others = ok & ~np.isin(names_a, common)
    if others.any():
        ax.scatter(times[others], rows[others], marker="|", s=size, color="0.4", label="other callbacks")
    if failed.any():
        ax.scatter(times[failed], rows[failed], marker="x", s=30, color="red", label="failed")
    if (~ran).any():
        ax.scatter(
            times[~ran], rows[~ran], marker="o", s=20, facecolors="none", edgecolors="0.5", label="never ran"
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, title="callback")


def _draw_event_heatmap(fig: Figure, ax: Axes, rows: Any, times: Any, n_rows: int) -> None:
    import numpy as np

    lo, hi = float(np.nanmin(times)), float(np.nanmax(times))
    if hi <= lo:
        hi = lo + 1.0
    counts, x_edges, y_edges = np.histogram2d(
        times, rows, bins=[_TIME_BINS, n_rows], range=[[lo, hi], [-0.5, n_rows - 0.5]]
    )
    masked = np.ma.masked_equal(counts.T, 0)
    mesh = ax.pcolormesh(x_edges, y_edges, masked, cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"events per {(hi - lo) / _TIME_BINS:.3g} s", pad=0.01)


def _draw_lateness(ax: Axes, planned: Any, late_ms: Any) -> None:
    import numpy as np

    ax.set_ylabel("lateness (ms)")
    ax.grid(True, alpha=0.3)
    if len(late_ms) == 0:
        ax.text(0.5, 0.5, "no event ran", ha="center", va="center", transform=ax.transAxes)
        return
    p50, p99 = np.percentile(late_ms, [50, 99])
    worst = float(np.max(late_ms))
    if len(late_ms) <= MAX_SCATTER_POINTS // 4:
        ax.scatter(planned, late_ms, s=6, color="tab:blue", alpha=0.6, label="event")
    else:
        lo, hi = float(planned.min()), float(planned.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 101)
        which = np.clip(np.digitize(planned, edges) - 1, 0, 99)
        centres, med, high, top = [], [], [], []
        for b in range(100):
            values = late_ms[which == b]
            if len(values):
                centres.append((edges[b] + edges[b + 1]) / 2)
                m, h = np.percentile(values, [50, 99])
                med.append(m)
                high.append(h)
                top.append(values.max())
        ax.plot(centres, top, color="tab:red", linewidth=1, label="max")
        ax.plot(centres, high, color="tab:orange", linewidth=1, label="p99")
        ax.plot(centres, med, color="tab:blue", linewidth=1.5, label="p50")
    ax.set_title(
        f"lateness (actual - planned): p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms",
        loc="left",
        fontsize=10,
    )
    ax.set_ylim(bottom=min(0.0, float(np.min(late_ms))))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def draw_annotations(
    axes: Sequence[Axes], annotations: Sequence[Annotation], text_axes: Axes | None = None
) -> None:
    """Vertical lines; one per message and moment, however many peers said it (labelled `×N`)."""
    if not annotations or not axes:
        return
    text_axes = text_axes or axes[0]
    lo, hi = axes[0].get_xlim()
    times = [a.time for a in annotations]
    lo, hi = min(lo, *times), max(hi, *times)
    bucket = max((hi - lo) / 200.0, 1e-9)
    groups: dict[tuple[str, int], list[float]] = {}
    for a in annotations:
        groups.setdefault((a.message, round(a.time / bucket)), []).append(a.time)
    marks = sorted(((sorted(ts)[len(ts) // 2], message, len(ts)) for (message, _), ts in groups.items()))
    from matplotlib import patheffects

    # Dark dashes with a white halo: visible on white, on lines and on a dark heat map alike.
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white", alpha=0.8)]
    for ax in axes:
        for t, _message, _n in marks:
            ax.axvline(t, color="0.15", linestyle="--", linewidth=0.9, zorder=1.5, path_effects=halo)
        ax.set_xlim(lo, hi)
    transform = text_axes.get_xaxis_transform()
    for i, (t, message, n) in enumerate(marks):
        if i == _MAX_LABELLED_ANNOTATIONS:
            text_axes.text(
                1.0,
                1.01,
                f"+{len(marks) - i} more annotations",
                transform=text_axes.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color="0.35",
            )
            break
        text = message if n == 1 else f"{message} ×{n}"
        text_axes.text(
            t,
            0.99,
            _shorten(text),
            transform=transform,
            rotation=90,
            ha="right",
            va="top",
            fontsize=7,
            color="0.1",
            clip_on=True,
            zorder=4,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.0},
        )


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _natural_key(peer: int | str) -> tuple[int, int, str]:
    text = str(peer)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def new_figure(width: float, height: float) -> Figure:
    # A Figure on an Agg canvas, without pyplot: no global figure registry, no backend switching
    # in the host process, safe to call from a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: Path) -> None:
    # Rendered in memory, then written atomically: a full disk leaves no truncated PNG behind.
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomically(path, buffer.getvalue())
