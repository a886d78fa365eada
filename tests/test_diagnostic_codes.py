"""Every diagnostic code is documented with an example and raised by at least one test."""

from __future__ import annotations

import re
from pathlib import Path

from scenario_lang.diagnostics import CODES

REPO = Path(__file__).resolve().parent.parent


def test_every_code_has_a_documented_example() -> None:
    text = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    for code in CODES:
        section = re.search(rf"^## {code}: .*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        assert section is not None, f"{code} is not documented"
        assert "```" in section[1], f"{code} has no example"


def test_every_code_is_raised_by_some_test() -> None:
    mentioned: set[str] = set()
    for path in (REPO / "tests").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".scenario", ".conf", ".txt"):
            mentioned |= set(re.findall(r"SC\d{3}", path.read_text(encoding="utf-8", errors="replace")))
    mentioned.discard("SC999")
    missing = sorted(set(CODES) - mentioned)
    assert not missing, f"codes no test mentions: {missing}"
