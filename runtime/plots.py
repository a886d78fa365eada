"""Plots of a run: resource series, annotations and fired events -> PNG files (replaces Gumby's R scripts).

Inputs are small typed values, so any stage can feed them:

* `TimeSeries` (from `resource_log`): `ResourceLog.cpu_series()` / `memory_series()`, per process or
  per peer (session);
* `Annotation`: (seconds since the experiment start, message, peer), read by `read_annotations` from a
  peer's `annotations.csv` (`<seconds>,<message>` lines) or from a merged file with a header naming a
  `peer` column (e.g. `peer,time,message`);
* `PeerEvents`: per peer, its `FiredEvent`s (planned and actual seconds since the start, callback name,
  whether it failed).

Outputs (each function returns the path it wrote, written atomically: never a truncated PNG):

* `plot_cpu` / `plot_memory` (or both at once with `plot_resources`): CPU seconds per second and RSS
  in MiB over time, one line per series; above `max_lines` series the figure shows the median and the
  min-max and quartile bands instead, so 100+ peers stay readable;
* `plot_event_timeline`: one row per peer with a mark per event, coloured by callback (above
  `max_rows` peers: a heat map of events per peer and time bin), and below it the lateness (actual -
  planned) over time, with p50/p99/max.

`plot_output_folder` draws all of them for a run's output folder (the resource log, the merged
annotations and each peer's events.csv, read with `peer_events_of`); `gscen run` and the
`graph_process_guard_data.sh` shim call it.

Annotations are drawn as vertical dashed lines, merged when several peers annotate the same message at
about the same time. matplotlib (Agg backend) is imported only inside the functions, so importing this
module is cheap.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output_files import write_atomically
from .resource_log import Grouping, ResourceLog, TimeSeries, read_resource_log
from .statistics import iter_peer_dirs
from .summary import read_peer_events

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "Annotation",
    "FiredEvent",
    "PeerEvents",
    "peer_events_of",
    "plot_cpu",
    "plot_event_timeline",
    "plot_memory",
    "plot_output_folder",
    "plot_resources",
    "read_annotations",
]

_DPI = 100
_WIDTH = 12.0
_MAX_LABELLED_ANNOTATIONS = 20
_MAX_SCATTER_POINTS = 20_000
_TIME_BINS = 200
_CALLBACK_COLOURS = 9


# --------------------------------------------------------------------------------------------- inputs
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


def read_annotations(path: Path, peer: str | None = None) -> list[Annotation]:
    """Read an `annotations.csv`.

    A peer's file has `<seconds>,<message>` lines (the message may hold commas); `peer` labels them.
    A merged file starts with a header naming its columns, one of them `peer`, one `time` (or
    `seconds`), and the message in `message` (or the last column). Lines in another format (Gumby's
    `print_dict_changes` lines share the file) are skipped. Raises OSError when the file can't be read.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        lines = f.read().splitlines()
    if not lines:
        return []
    first = [c.strip().lower() for c in next(csv.reader([lines[0]]))]
    if "peer" in first:
        return _read_merged(first, lines[1:])
    result: list[Annotation] = []
    for line in lines:
        seconds, sep, message = line.partition(",")
        value = _float(seconds)
        if sep and value is not None:
            result.append(Annotation(value, message, peer))
    return result


def _read_merged(header: list[str], lines: list[str]) -> list[Annotation]:
    peer_col = header.index("peer")
    time_col = next((header.index(n) for n in ("time", "seconds") if n in header), None)
    if time_col is None:
        return []
    message_col = header.index("message") if "message" in header else len(header) - 1
    result: list[Annotation] = []
    for row in csv.reader(lines):
        if len(row) < len(header):
            continue
        # A message with unquoted commas spills into extra columns: join them back.
        extra = len(row) - len(header)
        message = ",".join(row[message_col : message_col + extra + 1])
        value = _float(row[time_col if time_col < message_col else time_col + extra])
        peer_value = row[peer_col if peer_col < message_col else peer_col + extra]
        if value is not None:
            result.append(Annotation(value, message, peer_value))
    return result


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------- resources
def plot_resources(
    log: ResourceLog,
    out_dir: Path,
    *,
    by: Grouping = "session",
    labels: dict[int, str] | None = None,
    annotations: Sequence[Annotation] = (),
    start: float | None = None,
    max_lines: int = 12,
) -> tuple[Path, Path]:
    """Write `cpu.png` and `memory.png` for a resource log into `out_dir`; return their paths.

    `by="session"` draws one series per guarded command (name them with `labels`: shell pid ->
    label, e.g. "peer 3"); `by="process"` one per process. See `plot_cpu` for `start`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    unit = "peer" if by == "session" else "process"
    cpu = plot_cpu(
        log.cpu_series(by, labels),
        out_dir / "cpu.png",
        annotations=annotations,
        start=start,
        max_lines=max_lines,
        unit=unit,
    )
    memory = plot_memory(
        log.memory_series(by, labels),
        out_dir / "memory.png",
        annotations=annotations,
        start=start,
        max_lines=max_lines,
        unit=unit,
    )
    return cpu, memory


def plot_cpu(
    series: Sequence[TimeSeries],
    path: Path,
    *,
    annotations: Sequence[Annotation] = (),
    start: float | None = None,
    max_lines: int = 12,
    unit: str = "process",
    title: str = "CPU usage",
) -> Path:
    """CPU seconds per second over time, per series.

    `start` is the experiment start (epoch seconds, the clock of the series); the x axis is seconds
    since it, the clock of annotations. Without it, the x axis starts at the first sample.
    """
    return _plot_series(series, path, annotations, start, max_lines, unit, title, "CPU (seconds per second)")


def plot_memory(
    series: Sequence[TimeSeries],
    path: Path,
    *,
    annotations: Sequence[Annotation] = (),
    start: float | None = None,
    max_lines: int = 12,
    unit: str = "process",
    title: str = "Memory (RSS)",
) -> Path:
    """Resident memory in MiB over time, per series (see `plot_cpu` for `start`)."""
    return _plot_series(series, path, annotations, start, max_lines, unit, title, "RSS (MiB)")


def _plot_series(
    series: Sequence[TimeSeries],
    path: Path,
    annotations: Sequence[Annotation],
    start: float | None,
    max_lines: int,
    unit: str,
    title: str,
    ylabel: str,
) -> Path:
    import numpy as np

    fig = _figure(_WIDTH, 5.5)
    ax = fig.subplots()
    present = [s for s in series if s.times]
    if start is None:
        start = min((s.times[0] for s in present), default=0.0)
    if not present:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    elif len(present) <= max_lines:
        for s in present:
            ax.plot(np.asarray(s.times) - start, s.values, linewidth=1.2, label=s.label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, title=unit)
    else:
        grid = np.asarray(sorted({t for s in present for t in s.times}))
        index = {t: i for i, t in enumerate(grid.tolist())}
        values = np.full((len(present), len(grid)), np.nan)
        for row, s in enumerate(present):
            values[row, [index[t] for t in s.times]] = s.values
        x = grid - start
        counts = np.sum(~np.isnan(values), axis=0)
        keep = counts > 0
        x, values = x[keep], values[:, keep]
        lo, q1, median, q3, hi = np.nanpercentile(values, [0, 25, 50, 75, 100], axis=0)
        ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.15, linewidth=0, label="min-max")
        ax.fill_between(x, q1, q3, color="tab:blue", alpha=0.35, linewidth=0, label="25-75 %")
        ax.plot(x, median, color="tab:blue", linewidth=1.5, label="median")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        title = f"{title}: {_plural(len(present), unit)}"
    ax.set_title(title)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _draw_annotations([ax], annotations)
    _save(fig, path)
    return path


# --------------------------------------------------------------------------------------------- events
def plot_event_timeline(
    peers: Sequence[PeerEvents],
    path: Path,
    *,
    annotations: Sequence[Annotation] = (),
    planned_only: bool = False,
    max_rows: int = 60,
    title: str | None = None,
) -> Path:
    """One row per peer with a mark per event, and the lateness of the events over time below.

    Marks are coloured by callback (the 9 most used; the rest grey); a red x is a failed callback, a
    hollow grey o an event that never ran (drawn at its planned time). Above `max_rows` peers the rows
    become a heat map of events per peer and time bin. Times are seconds since the experiment start.
    `planned_only=True` draws a plan before any run (`gscen plan --png`): every event at its planned
    time, no lateness panel, `actual` and `failed` ignored.
    """
    import numpy as np

    ordered = sorted(peers, key=lambda p: _natural_key(p.peer))
    rows = len(ordered)
    detailed = rows <= max_rows
    top_height = 1.2 + 0.22 * rows if detailed else 6.0
    top_height = min(max(top_height, 2.5), 14.0)
    if planned_only:
        fig = _figure(_WIDTH, top_height + 0.8)
        ax = fig.subplots()
        ax_late = None
    else:
        fig = _figure(_WIDTH, top_height + 3.0)
        ax, ax_late = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [top_height, 3.0]})
    row_of: list[int] = []
    planned: list[float] = []
    actual: list[float] = []
    names: list[str] = []
    failed: list[bool] = []
    for row, peer in enumerate(ordered):
        for event in peer.events:
            row_of.append(row)
            planned.append(event.planned)
            if planned_only:
                actual.append(event.planned)
                failed.append(False)
            else:
                actual.append(math.nan if event.actual is None else event.actual)
                failed.append(event.failed)
            names.append(event.callback)
    rows_a = np.asarray(row_of, dtype=float)
    planned_a = np.asarray(planned, dtype=float)
    actual_a = np.asarray(actual, dtype=float)
    failed_a = np.asarray(failed, dtype=bool)
    ran = ~np.isnan(actual_a)
    shown_at = np.where(ran, actual_a, planned_a)
    total = len(planned)
    if total == 0:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
    elif detailed:
        _draw_event_rows(ax, rows_a, shown_at, names, ran, failed_a)
    else:
        _draw_event_heatmap(fig, ax, rows_a, shown_at, rows)
        if failed_a.any():
            points = np.flatnonzero(failed_a)[:_MAX_SCATTER_POINTS]
            ax.scatter(shown_at[points], rows_a[points], marker="x", color="red", s=12, label="failed")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    labels = [str(p.peer) for p in ordered]
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
        _draw_annotations([ax], annotations)
    else:
        _draw_lateness(ax_late, planned_a[ran], (actual_a[ran] - planned_a[ran]) * 1000.0)
        ax_late.set_xlabel("time since start (s)")
        _draw_annotations([ax, ax_late], annotations, text_axes=ax)
    _save(fig, path)
    return path


def _draw_event_rows(ax: Axes, rows: Any, times: Any, names: list[str], ran: Any, failed: Any) -> None:
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
    if len(late_ms) <= _MAX_SCATTER_POINTS // 4:
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


# --------------------------------------------------------------------------------------------- shared
def _draw_annotations(
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


def _figure(width: float, height: float) -> Figure:
    # A Figure on an Agg canvas, without pyplot: no global figure registry, no backend switching
    # in the host process, safe to call from a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> None:
    # Rendered in memory, then written atomically: a full disk leaves no truncated PNG behind.
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomically(path, buffer.getvalue())


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}es" if unit.endswith("s") else f"{n} {unit}s"


# --------------------------------------------------------------------------------------------- a run's folder
def peer_events_of(output_dir: Path) -> list[PeerEvents]:
    """The events each peer logged in `output_dir/<id>/events.csv` (peers without events left out)."""
    out = []
    for peer in iter_peer_dirs(output_dir):
        events = read_peer_events(peer.path)
        if not events:
            continue
        fired = [
            FiredEvent(
                e.planned if e.planned is not None else (e.actual or 0.0), e.actual, e.callback, e.failed
            )
            for e in events
        ]
        out.append(PeerEvents(peer.peer_id, fired))
    return out


def plot_output_folder(
    output_dir: Path,
    labels: Mapping[int, str] | None = None,
    start: float | None = None,
    peer_events: Sequence[PeerEvents] | None = None,
) -> list[Path]:
    """Write the plots of an output folder (cpu.png, memory.png, and events.png when peers logged
    events); return the files written. Missing inputs mean fewer plots, never an error."""
    written: list[Path] = []
    annotations: list[Annotation] = []
    merged = output_dir / "annotations.csv"
    try:
        annotations = read_annotations(merged) if merged.is_file() else []
    except OSError:
        annotations = []
    log_path = output_dir / "resource_usage.log"
    if log_path.is_file():
        log = read_resource_log(log_path)
        if log.processes:
            written.extend(
                plot_resources(
                    log,
                    output_dir,
                    by="session",
                    labels=dict(labels or {}),
                    annotations=annotations,
                    start=start,
                )
            )
    if peer_events is None:
        peer_events = peer_events_of(output_dir)
    if peer_events:
        written.append(plot_event_timeline(peer_events, output_dir / "events.png", annotations=annotations))
    return written
