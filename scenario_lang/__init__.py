"""gscen's front end: scenario text -> AST -> resolved program -> diagnostics -> Plan.

The facade names each stage (`parse`, `resolve`, `check`, `compile_plan`) and the authoring contract
(`ExperimentModule`, `experiment_callback`). Stages load lazily so that a peer process importing the
authoring contract does not pay for the parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .authoring import ExperimentModule, experiment_callback

if TYPE_CHECKING:
    from .check import check as check
    from .parse import parse as parse
    from .plan import compile_plan as compile_plan
    from .resolve import resolve as resolve

__all__ = ["ExperimentModule", "check", "compile_plan", "experiment_callback", "parse", "resolve"]

_LAZY = {
    "parse": ("parse", "parse"),
    "resolve": ("resolve", "resolve"),
    "check": ("check", "check"),
    "compile_plan": ("plan", "compile_plan"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
