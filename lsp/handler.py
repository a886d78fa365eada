"""`Handler`: one LSP method a feature module answers, with its registration options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handler:
    method: str
    function: Callable[[Any], Any]
    options: Any = None
