"""Hypothesis strategies for scenario text, shared by the grammar, fmt and plan tests."""

from __future__ import annotations

from hypothesis import strategies as st

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
numbers = st.integers(min_value=0, max_value=400)


@st.composite
def time_specs(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["s", "ms", "hms", "frac", "imm", "noat"]))
    if kind == "imm":
        return "@!"
    s = draw(numbers)
    if kind == "s":
        return f"@{s}"
    if kind == "frac":
        return f"@0:{s}.{draw(st.integers(0, 99))}"
    if kind == "hms":
        return f"@{draw(st.integers(0, 3))}:{draw(st.integers(0, 70))}:{s}"
    if kind == "noat":
        return f"{draw(st.integers(0, 9))}:{s}"
    return f"@{draw(st.integers(0, 9))}:{s}"


plain_words = st.from_regex(r"[A-Za-z0-9_.,/:+\-]{1,10}", fullmatch=True)


@st.composite
def words(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "named", "var", "single", "double", "brace", "dollar"]))
    if kind == "plain":
        return draw(plain_words)
    if kind == "named":
        return f"{draw(names)}={draw(plain_words)}"
    if kind == "var":
        return f"{draw(plain_words)}${draw(names)}"
    if kind == "single":
        return "'" + draw(st.from_regex(r"[a-z $=]{0,8}", fullmatch=True)) + "'"
    if kind == "double":
        return '"' + draw(st.from_regex(r"[a-z \\$]{0,8}", fullmatch=True)).rstrip("\\") + '"'
    if kind == "brace":
        return "{" + draw(plain_words) + "}x"
    return "${" + draw(names) + "}"


@st.composite
def peer_specs(draw: st.DrawFn) -> str:
    items = []
    for _ in range(draw(st.integers(0, 3))):
        lo = draw(st.integers(1, 20))
        if draw(st.booleans()):
            items.append(f"{lo}-{lo + draw(st.integers(0, 5))}")
        else:
            items.append(str(lo))
    neg = "!" if items and draw(st.booleans()) else ""
    sep = draw(st.sampled_from([",", ", ", " , "]))
    return "{" + neg + sep.join(items) + "}"


@st.composite
def event_lines(draw: st.DrawFn) -> str:
    parts = [draw(time_specs())]
    if draw(st.integers(0, 9)) == 0:
        parts.append(f"for {draw(names)} in {draw(st.integers(-3, 5))} to {draw(st.integers(-3, 5))} call")
    parts.append(draw(names).replace("for", "fo") or "cb")
    parts.extend(draw(st.lists(words(), max_size=4)))
    if draw(st.booleans()):
        parts.append(draw(peer_specs()))
    sep = draw(st.sampled_from([" ", " ", " ", "  ", "\t"]))
    return sep.join(parts)


@st.composite
def scenario_lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["event"] * 6 + ["comment", "blank", "module", "include", "set"]))
    if kind == "event":
        return draw(event_lines())
    if kind == "comment":
        return "# " + draw(st.text(alphabet="abc xyz#", max_size=10))
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t"]))
    if kind == "module":
        return f"&module {draw(names)}.{draw(names)}.Module"
    if kind == "include":
        return f"&include {draw(names)}.scenario"
    return f"@! set {draw(names)} {draw(plain_words)}"


scenario_texts = st.lists(scenario_lines(), max_size=12).map(lambda lines: "\n".join(lines) + "\n")
