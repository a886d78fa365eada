"""Operator log lines of gscen's runtime commands on the terminal (`gscen run`, `gscen guard`).

`log_to_terminal(console, level)` sends the `scenario_lang` loggers' records at `level` and above to
`console` (stderr) through rich, as plain text (a message is never read as markup), once per process:
a package logger that already has a handler (set up by the caller or an embedding program) is left
alone. The records stop there instead of also reaching the root logger. Library code only logs;
peers log through their own format (peer.py), the sync server through `logging.basicConfig`.
"""

from __future__ import annotations

import logging

from rich.console import Console

__all__ = ["log_to_terminal"]


def log_to_terminal(console: Console, level: int, *, show_time: bool = False) -> None:
    """Log the `scenario_lang` records at `level` and above to `console` (see the module docstring)."""
    from rich.logging import RichHandler

    package = logging.getLogger("scenario_lang")
    if package.handlers:
        return
    handler = RichHandler(console=console, show_path=False, markup=False, show_time=show_time)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package.addHandler(handler)
    package.setLevel(level)
    package.propagate = False
