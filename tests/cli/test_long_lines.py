"""A huge one-line scenario gives a few lines of diagnostics (text and JSON), not the line itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scenario_lang.commands import SOURCE_WIDTH, diagnostic_text
from scenario_lang.diagnostics import QUOTE_LIMIT, diag
from scenario_lang.nodes import Span


def test_a_span_far_into_a_long_line_is_shown_with_its_carets_under_it() -> None:
    line = "x" * 100_000 + " oops " + "y" * 100_000
    column = 100_002
    d = diag("SC301", "unknown callback `oops`", Span("f.scenario", 3, column, 3, column + 4))
    text = diagnostic_text(d, line).plain.splitlines()
    source, carets = text[2], text[3]
    assert len(source) < SOURCE_WIDTH + 20 and source.startswith("3 | …") and source.endswith("…")
    start = carets.index("^")
    assert source[start : start + 4] == "oops" and carets[start:] == "^^^^"


def test_a_50_mb_style_one_line_scenario_gives_short_diagnostics(tmp_path: Path) -> None:
    scenario = tmp_path / "big.scenario"
    scenario.write_text("@0:1 " + "{" * 2_000_000 + " x" * 2_000_000 + "\n")
    command = [sys.executable, "-m", "scenario_lang.cli", "check", str(scenario)]
    text = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert text.returncode == 1
    assert "error[SC101]" in text.stderr and "(2,000,000 characters)" in text.stderr
    assert len(text.stderr) + len(text.stdout) < 2_000
    as_json = subprocess.run([*command, "--format", "json"], capture_output=True, text=True, timeout=120)
    assert len(as_json.stdout) < 2_000
    (found,) = json.loads(as_json.stdout)["diagnostics"]
    assert found["code"] == "SC101" and found["end_column"] == 2_000_006  # the span stays whole
    assert len(found["message"]) < QUOTE_LIMIT + 80
