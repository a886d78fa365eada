"""Checker cases: each `.scenario` under cases/ marks its expected diagnostics with a column-0
`# expect: error[SC301]` line just above the line they are reported on; missing or extra ones fail.
Files named `_*.scenario` are only included by others. A first line `# gscen-test: --instances N`
sets the peer count; a `.conf` naming the scenario is found beside it, as `gscen check` does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scenario_lang.project import CheckOptions, analyze

CASES = Path(__file__).parent / "cases"
EXPECT = re.compile(r"# expect: (error|warning|info)\[(SC\d{3})\]")
HEADER = re.compile(r"# gscen-test: --instances (\d+)")


def expected_in(path: str, lines: tuple[str, ...]) -> set[tuple[str, int, str, str]]:
    found = set()
    pending: list[tuple[str, str]] = []
    for number, text in enumerate(lines, 1):
        m = EXPECT.match(text)
        if m:
            pending.append((m[1], m[2]))
            continue
        for severity, code in pending:
            found.add((path, number, severity, code))
        pending = []
    return found


def case_files() -> list[Path]:
    return sorted(p for p in CASES.glob("*.scenario") if not p.name.startswith("_") and p.is_file())


@pytest.mark.parametrize("case", case_files(), ids=lambda p: p.stem)
def test_checker_reports_exactly_the_expected_diagnostics(case: Path) -> None:
    first = case.read_text(encoding="utf-8").splitlines()[0]
    header = HEADER.match(first)
    instances = int(header[1]) if header else None
    analysis = analyze(str(case), CheckOptions(instances=instances, environment={}))
    expected: set[tuple[str, int, str, str]] = set()
    for path, lines in analysis.program.lines.items():
        expected |= expected_in(path, lines)
    actual = {(d.span.path, d.span.line, d.severity.value, d.code) for d in analysis.diagnostics}
    missing = sorted(expected - actual)
    extra = sorted(actual - expected)
    assert not missing and not extra, f"missing: {missing}\nextra: {extra}"


def test_every_case_expectation_names_a_known_code() -> None:
    from scenario_lang.diagnostics import CODES

    for case in (p for p in CASES.glob("*.scenario") if p.is_file()):
        for m in EXPECT.finditer(case.read_text(encoding="utf-8")):
            assert m[2] in CODES, f"{case.name}: {m[2]}"
            assert CODES[m[2]].severity.value == m[1], (
                f"{case.name}: {m[2]} is a {CODES[m[2]].severity.value}"
            )
