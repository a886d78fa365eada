"""Edits of `stop` lines (the stop list and SC506 recomputed) and of `@! set` lines (the variables in
scope recomputed) are checked incrementally and end with exactly `gscen check`'s diagnostics,
messages included (SC506 names the `stop`'s line)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import Session, codes
from .test_lsp_robustness import comparable, diagnostics_of, expected, expected_in


async def opened(
    client: LanguageClient, path: Path, text: str
) -> tuple[Session, str, list[str], list[types.Diagnostic]]:
    """`text` written to `path` and opened: the session, the uri, the lines, the first diagnostics."""
    path.write_text(text)
    s = Session(client)
    uri = s.open(path)
    return s, uri, text.split("\n"), await s.diagnostics(uri, version=1)


def same_as_gscen_check(
    found: list[types.Diagnostic], path: Path, lines: list[str], why: object
) -> list[tuple[object, ...]]:
    """Write the editor's text to `path`: what the server published is what `gscen check` says."""
    path.write_text("\n".join(lines))
    got: list[tuple[object, ...]] = [
        (*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)
    ]
    assert sorted(got) == sorted(expected(path)), why
    return got


STOPS = """\
&module mymod.MyModule
@! set key abc
@! set who 3
@0:1 write_peer_id {1}
@0:2 start_queries $key 5 rate=1e-3 {2-3}
@0:4 for i in 1 to 3 call start_queries k$i $i {$i}
@0:9 stop {1-2}
@0:10 echo late {2}
@0:11 echo later {$who}
@0:12 for i in 1 to 4 call echo x {$i}
@0:30 echo last
@1:2:3:4 echo bad time
"""

# (line, start, end, new text) on the editor's current lines, each followed by a comparison
EDITS = [
    (6, 0, 4, "@0:3"),  # the stop earlier: more events after it
    (6, 10, 15, "{3}"),  # other peers
    (6, 10, 13, "{$who}"),  # peers through a variable
    (3, 0, 0, "@0:20 stop {4}\n"),  # a second stop
    (0, 0, 0, "@0:5 echo top\n"),  # a line above both stops: their line numbers move
    (7, 0, 100, "@0:8 echo no longer a stop"),  # the first stop removed
    (4, 0, 15, ""),  # the second stop emptied
    (4, 0, 0, "@0:0 stop"),  # a stop before every event
    (4, 0, 9, "@-1 stop"),  # a stop with a time in error
]


async def test_stop_edits_end_with_gscen_checks_diagnostics(client: LanguageClient, project: Path) -> None:
    path = project / "stops.scenario"
    s, uri, lines, found = await opened(client, path, STOPS)
    got = [(*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)]
    assert sorted(got) == sorted(expected(path))
    for line, start, end, text in EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        same_as_gscen_check(found, path, lines, (line, text))


SET_EDITS = [
    (6, 10, 15, "{$who}"),  # the stop's peers through a variable
    (2, 11, 12, "4"),  # another value: the peers of the lines using $who change (the stop's too)
    (2, 7, 10, "whom"),  # renamed: every use of $who is undefined
    (2, 7, 11, "who"),  # back
    (1, 0, 0, "@! set who 1\n"),  # a second definition above the first
    (2, 0, 100, "@0:1 echo no longer a set"),  # the first definition gone
    (5, 0, 0, "@! set key $who\n"),  # a definition using another variable
]


async def test_set_edits_end_with_gscen_checks_diagnostics(client: LanguageClient, project: Path) -> None:
    path = project / "sets.scenario"
    s, uri, lines, _ = await opened(client, path, STOPS)
    for line, start, end, text in SET_EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        same_as_gscen_check(found, path, lines, (line, text))


MODULES = """\
&module mymod.MyModule
@! set key abc
@0:1 write_peer_id {1}
@0:2 ping 3
@0:3 ping x
@0:4 start_queries $key 5 rate=1e-3 {2-3}
@0:5 pong 1
@0:9 stop
"""

MODULE_EDITS = [
    (1, 0, 0, "&module extra.Extra\n"),  # ping is known now: its calls are checked
    (1, 14, 19, "Extr"),  # a module that is not there (every call unchecked: the whole check)
    (1, 14, 18, "Extra"),  # back
    (0, 0, 0, "&module mymod.Base\n"),  # write_peer_id defined twice (SC308)
    (2, 0, 100, "&module mymod.Base"),  # MyModule replaced: start_queries unknown
    (0, 0, 0, "&module mymod.Base\n"),  # loaded twice (SC206)
    (2, 0, 100, "@0:6 pong 2"),  # a module line becomes an event
    (1, 0, 100, "&module mymod.MyModule"),
]


async def test_module_edits_end_with_gscen_checks_diagnostics(client: LanguageClient, project: Path) -> None:
    path = project / "modules.scenario"
    s, uri, lines, _ = await opened(client, path, MODULES)
    for line, start, end, text in MODULE_EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        same_as_gscen_check(found, path, lines, (line, text))


# --------------------------------------------------------------------------- the last full-check gaps

# enough lines that re-checking the callers of a callback is a small part of the file
FILLER = "".join(f"@0:{i % 50} echo filler {i}\n" for i in range(60))

TYPING = (
    """\
&module mymod.MyModule
@0:1 write_peer_id {1}
@0:2 ping 3
@0:3 ping x
"""
    + FILLER
    + """\
@0:5 pong 1
@0:6 for i in 1 to $nothing call pang
@0:7 pang
@0:9 stop
"""
)


async def test_typing_a_module_line_character_by_character_keeps_gscen_checks_diagnostics(
    client: LanguageClient, project: Path
) -> None:
    # while the name is incomplete the module is not found: calls are not checked (no SC301 for
    # `pong` and `pang`, nor SC306 for `ping x`); once it is found they are checked again
    path = project / "typing.scenario"
    s, uri, lines, _ = await opened(client, path, TYPING)
    version = s.edit(uri, 1, 0, 0, "\n")
    lines.insert(1, "")
    await s.diagnostics(uri, version=version)
    typed = "&module extra.Extra"
    for i, char in enumerate(typed):
        version = s.edit(uri, 1, i, i, char)
        lines[1] = typed[: i + 1]
        found = await s.diagnostics(uri, version=version)
        same_as_gscen_check(found, path, lines, lines[1])
    for i in range(len(typed), len("&module "), -1):  # and erased again, down to `&module e`
        version = s.edit(uri, 1, i - 1, i, "")
        lines[1] = typed[: i - 1]
        found = await s.diagnostics(uri, version=version)
        same_as_gscen_check(found, path, lines, lines[1])


INCLUDED = """\
@! set common_key 1
@0:5 echo included {1-2}
@0:20 echo late $common_key
@0:15 stop {3}
@0:25 echo after both stops
"""

INCLUDING = (
    """\
&module mymod.MyModule
@! set key abc
&include inc.scenario
@0:1 write_peer_id {1}
@0:2 start_queries $key 5 rate=1e-3 {2-3}
@0:9 stop {1-2}
@0:10 echo late {2}
@0:30 echo last $common_key
"""
    + FILLER
)

# (line, start, end, new text): `stop`, `@! set` and `&module` edits in the including file
INCLUDE_EDITS = [
    (5, 0, 4, "@0:3"),  # the stop earlier: an included event comes after it
    (5, 10, 15, "{3}"),  # other peers
    (0, 0, 0, "@0:1 stop {4}\n"),  # a stop above the `&include`: first in the file order
    (1, 0, 100, "@0:2 stop"),  # and for every peer
    (1, 0, 100, "@0:0 echo no longer a stop"),
    (2, 11, 14, "abd"),  # a `set` value the included file does not read
    (2, 7, 10, "kez"),  # renamed: `$key` undefined below
    (2, 7, 10, "key"),
    (1, 0, 0, "&module extra.Extra\n"),  # a module the included file calls nothing of
    (1, 14, 19, "Extr"),  # not found: calls unchecked
    (1, 14, 18, "Extra"),
    (1, 0, 100, "@0:0 echo no longer a module"),
    (2, 0, 0, "@! set common_key 2\n"),  # a variable the included file reads: resolved again
]


async def test_structural_edits_in_a_file_with_an_include_keep_gscen_checks_diagnostics(
    client: LanguageClient, project: Path
) -> None:
    included = project / "inc.scenario"
    included.write_text(INCLUDED)
    path = project / "including.scenario"
    s, uri, lines, _ = await opened(client, path, INCLUDING)
    assert diagnostics_of(client, included) == expected_in(path, included)
    for line, start, end, text in INCLUDE_EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        same_as_gscen_check(found, path, lines, (line, text))
        # the included file's SC506 follow the including file's stops (published before its own)
        assert diagnostics_of(client, included) == expected_in(path, included), (line, text)


EARLY_STOP = "&module mymod.MyModule\n" + "".join(
    f"@0:{2 + i % 40} {'write_peer_id {1}' if i % 3 else f'echo {i}'}\n" for i in range(3000)
)


async def test_an_early_stop_marks_its_first_events_and_counts_the_others_as_gscen_check_does(
    client: LanguageClient, project: Path
) -> None:
    path = project / "early.scenario"
    s, uri, lines, _ = await opened(client, path, EARLY_STOP)
    for line, text in ((1, "@0:01 stop\n"), (1, "@0:03 stop {1}\n"), (2, "@0:02 stop {2}\n")):
        version = s.edit(uri, line, 0, 0, text)
        lines[line:line] = [text.rstrip("\n")]
        found = await s.diagnostics(uri, version=version)
        got = same_as_gscen_check(found, path, lines, text)
        summaries = [g for g in got if "cuts off" in g[-1]]  # one per `stop` cutting off more than 20
        assert summaries and len(got) <= 21 * (len(summaries) + 1)
    version = s.edit(uri, 1, 0, 0, "", end_line=4)  # every stop removed again
    assert await s.diagnostics(uri, version=version) == []


async def test_edits_while_an_early_stop_stands_keep_its_group_as_gscen_check_does(
    client: LanguageClient, project: Path
) -> None:
    # the marked events shift when one of them is no longer cut off, or a new one comes first;
    # the summary's count and lines follow; removing the stop removes every SC506
    path = project / "standing.scenario"
    s, uri, lines, _ = await opened(client, path, EARLY_STOP)
    edits = [
        (1, 0, 0, "@0:01 stop {1-2}\n", None),
        (3, 0, 100, "@0:0.5 echo no longer cut off", None),
        (2, 0, 0, "@0:7 echo a new first one {1}\n", None),
        (10, 0, 0, "", 11),  # a line deleted: an event gone
        (1, 0, 100, "# no stop", None),
    ]
    for line, start, end, text, end_line in edits:
        version = s.edit(uri, line, start, end, text, end_line=end_line)
        found = await s.diagnostics(uri, version=version)
        last = line if end_line is None else end_line
        joined = lines[line][:start] + text + lines[last][end:]
        lines[line : last + 1] = joined.split("\n")
        same_as_gscen_check(found, path, lines, text)
    assert not [d for d in found if d.code == "SC506"]


IPV8_OVERLAYS = """\
&module gumby.modules.base_ipv8_module.BaseIPv8Module
&module ipv8casemod.GossipModule
@0:0 isolate_ipv8_overlay GossipCommunity
@0:1 start_session
@0:10 stop
"""


async def test_an_module_edit_that_changes_the_loaded_overlays_checks_isolate_ipv8_overlay_again(
    client: LanguageClient, project: Path
) -> None:
    # SC309 depends on the overlays the modules' launchers load: an `&module` edit that drops the
    # module loading `GossipCommunity` makes the isolate line an error, and bringing it back clears it.
    cases = Path(__file__).resolve().parents[1] / "check" / "cases"
    (project / "ipv8casemod.py").write_text((cases / "ipv8casemod.py").read_text())
    path = project / "overlays.scenario"
    s, uri, lines, first = await opened(client, path, IPV8_OVERLAYS)
    assert not first
    edits = (
        (1, "&module extra.Extra", True),
        (1, "&module ipv8casemod.GossipModule", False),
        (2, "@0:0 isolate_ipv8_overlay GossipCommunit", True),  # the line itself, mistyped
        (2, "@0:0 isolate_ipv8_overlay GossipCommunity", False),
    )
    for line, text, sc309 in edits:
        version = s.edit(uri, line, 0, len(lines[line]), text)
        lines[line] = text
        found = await s.diagnostics(uri, version=version)
        got = same_as_gscen_check(found, path, lines, (line, text))
        assert any(g[0] == "SC309" for g in got) == sc309, (line, text)
