"""Edits of `stop` lines (the stop list and SC506 recomputed) and of `@! set` lines (the variables in
scope recomputed) are checked incrementally and end with exactly `gscen check`'s diagnostics,
messages included (SC506 names the `stop`'s line)."""

from __future__ import annotations

from pathlib import Path

from pytest_lsp import LanguageClient

from .conftest import Session, codes
from .test_lsp_robustness import comparable, expected

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
    path.write_text(STOPS)
    lines = STOPS.split("\n")
    s = Session(client)
    uri = s.open(path)
    found = await s.diagnostics(uri, version=1)
    got = [(*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)]
    assert sorted(got) == sorted(expected(path))
    for line, start, end, text in EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        path.write_text("\n".join(lines))
        got = [(*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)]
        assert sorted(got) == sorted(expected(path)), (line, text)


SET_EDITS = [
    (2, 11, 12, "4"),  # another value: the peers of the lines using $who change
    (2, 7, 10, "whom"),  # renamed: every use of $who is undefined
    (2, 7, 11, "who"),  # back
    (1, 0, 0, "@! set who 1\n"),  # a second definition above the first
    (2, 0, 100, "@0:1 echo no longer a set"),  # the first definition gone
    (5, 0, 0, "@! set key $who\n"),  # a definition using another variable
]


async def test_set_edits_end_with_gscen_checks_diagnostics(client: LanguageClient, project: Path) -> None:
    path = project / "sets.scenario"
    path.write_text(STOPS)
    lines = STOPS.split("\n")
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    for line, start, end, text in SET_EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        path.write_text("\n".join(lines))
        got = [(*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)]
        assert sorted(got) == sorted(expected(path)), (line, text)


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
    path.write_text(MODULES)
    lines = MODULES.split("\n")
    s = Session(client)
    uri = s.open(path)
    await s.diagnostics(uri, version=1)
    for line, start, end, text in MODULE_EDITS:
        end = min(end, len(lines[line]))
        version = s.edit(uri, line, start, end, text)
        lines[line : line + 1] = (lines[line][:start] + text + lines[line][end:]).split("\n")
        found = await s.diagnostics(uri, version=version)
        path.write_text("\n".join(lines))
        got = [(*c, comparable(d.message)) for c, d in zip(codes(found), found, strict=True)]
        assert sorted(got) == sorted(expected(path)), (line, text)
