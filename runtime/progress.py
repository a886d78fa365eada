"""Progress of `gscen run`: the pipeline's observer events -> a live rich display, or plain lines.

`make_progress(console)` picks the form: on a terminal, `LiveProgress` redraws a small panel (the
steps so far; peers connected and alive, the experiment clock, events fired and failed); otherwise
`PlainProgress` writes one timestamped line per step and a status line when something changed (at most
every few seconds), which suits logs and CI. Both implement `run.RunObserver` and write to the given
(stderr) console; user text is rich `Text`, never markup.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from .observer import RunSnapshot
from .steps import Step

__all__ = ["LiveProgress", "PlainProgress", "make_progress", "snapshot_text"]

_STATUS_STYLE = {"ok": "green", "listening": "green", "started": "green", "failed": "bold red"}


def snapshot_text(s: RunSnapshot) -> str:
    """`peers 5/5 connected, started, clock 3.2/20 s, events 12/30 fired (0 failed), 5 alive`."""
    parts: list[str] = [s.placement] if s.placement else []
    if s.instances is not None and s.planned is not None:
        parts.append(f"peers {s.connected}/{s.instances} connected")
        parts.append("started" if s.started else "waiting for the start")
    if s.clock is not None and s.clock >= 0:
        limit = f"/{s.experiment_time:g}" if s.experiment_time is not None else ""
        parts.append(f"clock {s.clock:.1f}{limit} s")
    if s.planned is not None:
        parts.append(f"events {s.events_fired} fired ({s.events_failed} failed)")
    parts.append(f"{s.alive}/{s.processes} processes alive")
    return ", ".join(parts)


class PlainProgress:
    """One line per step, and a status line when it changed (at most every `every` seconds)."""

    def __init__(self, console: Console, every: float = 2.0) -> None:
        self.console = console
        self.every = every
        self._last_text = ""
        self._last_time = 0.0
        self._last_key: tuple[Any, ...] = ()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _line(self, text: str, style: str = "") -> None:
        line = Text(time.strftime("%H:%M:%S "), style="dim")
        line.append(text, style=style)
        self.console.print(line)

    def step_started(self, step: Step) -> None:
        self._line(f"{step.key}: {step.describe()}")

    def step_finished(self, step: Step, status: str, detail: str | None) -> None:
        self._line(
            f"{step.key}: {status}" + (f" ({detail})" if detail else ""), _STATUS_STYLE.get(status, "")
        )

    def update(self, snapshot: RunSnapshot) -> None:
        key = (
            snapshot.connected,
            snapshot.started,
            snapshot.events_failed,
            snapshot.alive,
            snapshot.placement,
        )
        now = time.monotonic()
        if key == self._last_key and now - self._last_time < self.every:
            return
        if now - self._last_time < 0.5 and key[:2] == self._last_key[:2]:
            return
        text = snapshot_text(snapshot)
        if text != self._last_text:
            self._line(text)
            self._last_text = text
        self._last_key, self._last_time = key, now

    def note(self, text: str) -> None:
        self._line(text, "yellow")


class LiveProgress:
    """A live panel on a terminal: the steps so far and the current status line."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._steps: list[Text] = []
        self._status = Text("")
        self._live = Live(self._render(), console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._status = Text("")
        self._live.update(self._render(), refresh=True)
        self._live.__exit__(exc_type, exc, tb)

    def _render(self) -> Group:
        return Group(*self._steps, self._status)

    def _refresh(self) -> None:
        self._live.update(self._render())

    def step_started(self, step: Step) -> None:
        line = Text("… ", style="cyan")
        line.append(f"{step.key}: ", style="bold")
        line.append(step.describe())
        self._steps.append(line)
        self._refresh()

    def step_finished(self, step: Step, status: str, detail: str | None) -> None:
        mark = "✗ " if status == "failed" else "✓ "
        line = Text(mark, style=_STATUS_STYLE.get(status, "yellow"))
        line.append(f"{step.key}: ", style="bold")
        line.append(status, style=_STATUS_STYLE.get(status, "yellow"))
        if detail:
            line.append(f" ({detail})")
        # Replace the step's "…" line (the last one for this key).
        for i in range(len(self._steps) - 1, -1, -1):
            if self._steps[i].plain.startswith(f"… {step.key}:"):
                self._steps[i] = line
                break
        else:
            self._steps.append(line)
        self._refresh()

    def update(self, snapshot: RunSnapshot) -> None:
        self._status = Text("  " + snapshot_text(snapshot), style="bold")
        self._refresh()

    def note(self, text: str) -> None:
        self._steps.append(Text("  " + text, style="yellow"))
        self._refresh()


def make_progress(console: Console, live: bool | None = None) -> LiveProgress | PlainProgress:
    """A live display when `console` is a terminal (or `live` says so), plain lines otherwise."""
    if live is None:
        live = console.is_terminal and not console.is_dumb_terminal
    return LiveProgress(console) if live else PlainProgress(console)
