"""`$NAME` and `${NAME}` outside the scenario grammar: the one pattern and its expansion.

`.conf` values (conf.py), `&include` targets (resolve.py) and the commands `gscen run` starts
(runtime/steps.py) all expand variables the same way: `expand_variables(text, lookup)` replaces each
reference whose name `lookup` knows and leaves the others as written; `variable_names(text)` lists the
names referred to. Names are ASCII words, as in the shell. Scenario lines get their variables from the
grammar instead (parse.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["VARIABLE", "expand_variables", "variable_names"]

VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)


def _name(reference: str) -> str:
    return reference[1:-1] if reference.startswith("{") else reference


def expand_variables(text: str, lookup: Callable[[str], str | None]) -> str:
    """`$NAME` / `${NAME}` replaced by `lookup(NAME)`; names it does not know (None) stay as written."""

    def replace(match: re.Match[str]) -> str:
        found = lookup(_name(match.group(1)))
        return match.group(0) if found is None else found

    return VARIABLE.sub(replace, text) if "$" in text else text


def variable_names(text: str) -> set[str]:
    """The names `text` refers to."""
    return {_name(reference) for reference in VARIABLE.findall(text)}
