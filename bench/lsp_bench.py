"""Language-server benchmark on the corpus' largest scenario (118,770 lines), over real stdio.

Builds, in a temporary folder, a copy of experiments/dispersy/social_act_processed.scenario with one
`&module` line on top, the typed bench module (bench/social_module.py, shared with
front_end_bench.py) and a `.conf` giving COMMUNITY_TYPE and 4,000 instances, so that the check is
complete and clean, beside a second module (`extra_module.ExtraModule`) and a small scenario to
include (`common.scenario`). Starts `python -m scenario_lang.lsp` (its check cache in a fresh folder) and
measures, as an editor sees them:

- the first diagnostics after didOpen (cold: no check cache; warm: reopened, cache written),
- updated diagnostics after a one-line edit in the middle of the file (incremental), after an edit
  that introduces an error, after inserting a line, after editing a `stop` and an `@! set` line
  and after adding and removing an `&module` line (median and max),
- the only `&module` line naming another version of the module and back: with one signature
  changed (the lines with diagnostics are bound again), with `send_post`'s changed (its 78,763
  calls are), and, reopened with a typo in that line, the typo fixed (every call is bound),
- typing an `&module` line character by character (the module is not found until the name is
  complete: calls turn unchecked and back; median and max per keystroke),
- adding (and removing) a `stop` at the top that puts 114,766 events after it (SC506 each), and
  edits while their warnings stand,
- typing an `&include` line (a small included file that sets a variable, reads one, has events
  and a `stop`), commenting it out and back, naming a file with an `&module` line instead and
  back, then `stop` edits and `@! set` edits of the variable it reads,
- completion and hover answers,
- requests in the same batch as the edit: hover and completion right after a one-line edit and
  after a full-text change, and 50 keystrokes with a completion after each; and a hover and a
  completion sent right after references to `send_post` (78,763 of them), with and without a
  partialResultToken (`--only pipelined` runs only these, after the first diagnostics).

The server runs with `-v --log-file` in the temporary folder; for the edits that publish many
diagnostics (and the slowest of some series) the bench also prints what the server logged: when
its diagnostics were ready after the edit, and how long writing and sending them took (the client
still has to parse them).

Run: `python bench/lsp_bench.py [--edits N]`. Prints one line per figure (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus" / "gumby"
SCENARIO = "experiments/dispersy/social_act_processed.scenario"


def corpus_file() -> Path:
    if (CORPUS / SCENARIO).is_file():
        return CORPUS / SCENARIO
    raise SystemExit(f"cannot find {SCENARIO} in the corpus (expected beside the repository, in {CORPUS})")


def build(folder: Path) -> Path:
    (folder / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    shutil.copy(HERE / "social_module.py", folder / "social_module.py")
    # other versions of the module (every callback's owner differs): `start_dispersy` takes a port;
    # `send_post` takes a string
    other = (HERE / "social_module.py").read_text()
    (folder / "social_other.py").write_text(
        other.replace("def start_dispersy(self)", "def start_dispersy(self, port: int)", 1)
    )
    (folder / "social_posts.py").write_text(other.replace("post_id: int", "post_id: str", 1))
    (folder / "social.conf").write_text(
        "scenario_file = social.scenario\ncommunity_type = SocialCommunity\ninstances_to_run = 4000\n"
    )
    (folder / "extra_module.py").write_text(EXTRA_MODULE)
    (folder / "common.scenario").write_text(COMMON)
    (folder / "with_module.scenario").write_text(WITH_MODULE)
    scenario = folder / "social.scenario"
    scenario.write_text("&module social_module.SocialModule\n" + corpus_file().read_text())
    return scenario


EXTRA_MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class ExtraModule(ExperimentModule):
    @experiment_callback
    def ping(self, count: int) -> None:
        \"\"\"Ping the others.\"\"\"
"""

# included by the file for the `&include` figures: a variable, events (one after every `stop`, one
# reading the root's `unused`) and a `stop`
COMMON = "@! set common_key 1\n@0:5 echo included $unused {1-2}\n@9:0:5 echo late\n@9:0:6 stop {3}\n"
# the corpus' common scenarios hold `&module` lines (and call their callbacks)
WITH_MODULE = "&module extra_module.ExtraModule\n@0:5 ping 3\n"


class Bench:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.waiters: list[tuple[str, int | None, asyncio.Future[types.PublishDiagnosticsParams]]] = []

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            for item in list(self.waiters):
                uri, version, fut = item
                if params.uri == uri and (version is None or params.version == version) and not fut.done():
                    fut.set_result(params)
                    self.waiters.remove(item)

        @client.feature(types.WINDOW_LOG_MESSAGE)
        def log(params: types.LogMessageParams) -> None:
            if params.type == types.MessageType.Error:
                print("server error:", params.message, file=sys.stderr)

        @client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register(params: types.RegistrationParams) -> None:
            return None

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def show(params: types.ShowMessageParams) -> None:
            return None  # (references cut at 1,000 say so)

    def expect(self, uri: str, version: int | None) -> asyncio.Future[types.PublishDiagnosticsParams]:
        fut: asyncio.Future[types.PublishDiagnosticsParams] = asyncio.get_running_loop().create_future()
        self.waiters.append((uri, version, fut))
        return fut

    async def replace(self, uri: str, version: int, start: int, end: int, text: str) -> int:
        """Replace lines `start` to `end` (0-based, end excluded) by `text` as the next version,
        and wait for its diagnostics. Returns that version."""
        version += 1
        fut = self.expect(uri, version)
        replace_lines(self.client, uri, version, start, end, text)
        await fut
        return version


async def line_edits(
    bench: Bench, uri: str, version: int, line: int, texts: list[str], edits: int
) -> tuple[int, list[float], types.PublishDiagnosticsParams, tuple[float, int, int]]:
    """Replace a line `edits` times, cycling through `texts`, each time waiting for the diagnostics.

    Returns the last version, the durations, the last diagnostics and the slowest edit as
    (seconds, version, which edit, 1-based)."""
    durations: list[float] = []
    slowest = (0.0, 0, 0)
    got: types.PublishDiagnosticsParams | None = None
    for i in range(edits):
        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        edit(bench.client, uri, version, line, 0, 1000, texts[i % len(texts)])
        got = await fut
        durations.append(time.perf_counter() - t0)
        slowest = max(slowest, (durations[-1], version, i + 1))
    assert got is not None
    return version, durations, got, slowest


async def module_swaps(bench: Bench, uri: str, version: int, other: str, edits: int, label: str) -> int:
    """Name `other` instead of `social_module` in the `&module` line on line 1, and back, `edits`
    times; prints the medians and maxima. Returns the last version."""
    there, back = [], []
    counts = []
    for i in range(edits):
        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        old, new = ("social_module", other) if i % 2 == 0 else (other, "social_module")
        edit(bench.client, uri, version, 0, 8, 8 + len(old), new)
        got = await fut
        (there if i % 2 == 0 else back).append(time.perf_counter() - t0)
        counts.append(len(got.diagnostics))
    print(
        f"{label} in the only `&module` line / back -> diagnostics: median "
        f"{ms(statistics.median(there))} / {ms(statistics.median(back))}, max {ms(max(there))} / "
        f"{ms(max(back))} ({counts[0]} / {counts[-1]} diagnostics)"
    )
    return version


def edit(client: LanguageClient, uri: str, version: int, line: int, start: int, end: int, text: str) -> None:
    rng = types.Range(
        start=types.Position(line=line, character=start), end=types.Position(line=line, character=end)
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
        )
    )


def replace_lines(client: LanguageClient, uri: str, version: int, start: int, end: int, text: str) -> None:
    """Replace whole lines `start` to `end` (0-based, `end` excluded) by `text`."""
    rng = types.Range(
        start=types.Position(line=start, character=0), end=types.Position(line=end, character=0)
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
        )
    )


_PUBLISHED = re.compile(
    r"version (\d+) \((\d+) characters\): encoded in ([\d.]+) ms, ([\d.]+) ms after the edit; "
    r"sent in ([\d.]+) ms"
)


def server_side(log: Path, version: int) -> str:
    """What the server's log says of publishing `version`: from the edit to the diagnostics ready
    to send, how long writing them as JSON took, and sending them (a pipe: as fast as the client
    reads; the client then still parses them)."""
    for _attempt in range(50):  # the server logs once it has sent them: maybe just after we read them
        for m in _PUBLISHED.finditer(log.read_text()):
            if int(m[1]) == version:
                size = int(m[2]) / 1e6
                return (
                    f"server: ready {float(m[4]):.0f} ms after the edit, {float(m[3]):.0f} ms of it "
                    f"writing {size:.1f} MB of JSON, sent in {float(m[5]):.0f} ms"
                )
        time.sleep(0.02)
    return "server: not logged"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def ident(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


async def timed(request: Any) -> tuple[float, Any]:
    """How long a request (sent now) takes to be answered, and its answer."""
    t0 = time.perf_counter()
    result = await asyncio.ensure_future(request)
    return time.perf_counter() - t0, result


async def pipelined(
    bench: Bench, uri: str, version: int, lines: list[str], middle: int, number_at: int, edits: int
) -> int:
    """Requests sent in the same batch as the edit (as editors pipeline them): hover and
    completion right after a one-line range edit and after a full-text change, and 50 keystrokes
    typing a new line with a completion after each (as VS Code asks). Returns the last version."""
    client = bench.client
    hover_at = types.Position(line=middle, character=2)
    complete_at = types.Position(line=middle, character=number_at)
    series: dict[str, list[float]] = {"diagnostics": [], "hover": [], "completion": []}
    for i in range(edits):
        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        edit(client, uri, version, middle, number_at, number_at + 1, str((i + 3) % 10))
        (hover_s, _h), (comp_s, _c) = await asyncio.gather(
            timed(
                client.text_document_hover_async(
                    types.HoverParams(text_document=ident(uri), position=hover_at)
                )
            ),
            timed(
                client.text_document_completion_async(
                    types.CompletionParams(text_document=ident(uri), position=complete_at)
                )
            ),
        )
        await fut
        series["diagnostics"].append(time.perf_counter() - t0)
        series["hover"].append(hover_s)
        series["completion"].append(comp_s)
    print(
        "one-line edit with hover and completion in the same batch: "
        + ", ".join(f"{k} median {ms(statistics.median(v))} max {ms(max(v))}" for k, v in series.items())
    )
    # full-text changes (what sync kind Full sends): one line different each time
    text_lines = list(lines)
    series = {"diagnostics": [], "hover": []}
    for i in range(max(edits // 2, 3)):
        version += 1
        fut = bench.expect(uri, version)
        current = text_lines[middle]
        text_lines[middle] = current[:number_at] + str((i + 5) % 10) + current[number_at + 1 :]
        whole = "\n".join(text_lines) + "\n"
        t0 = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=whole)],
            )
        )
        hover_s, hover = await timed(
            client.text_document_hover_async(types.HoverParams(text_document=ident(uri), position=hover_at))
        )
        await fut
        series["diagnostics"].append(time.perf_counter() - t0)
        series["hover"].append(hover_s)
    print(
        "full-text change (one line different) with a hover in the same batch: "
        + ", ".join(f"{k} median {ms(statistics.median(v))} max {ms(max(v))}" for k, v in series.items())
        + f" ({'ok' if hover else 'none'})"
    )
    # 50 keystrokes typing a new line, a completion after each
    version += 1
    fut = bench.expect(uri, version)
    edit(client, uri, version, middle, 0, 0, "\n")
    await fut
    typed = "@0:5 send_post 1234567890 " + "x" * 24
    completions: list[float] = []
    t_last = 0.0
    for k, ch in enumerate(typed):
        version += 1
        if k == len(typed) - 1:
            fut = bench.expect(uri, version)
        t_last = time.perf_counter()
        edit(client, uri, version, middle, k, k, ch)
        comp_s, _c = await timed(
            client.text_document_completion_async(
                types.CompletionParams(
                    text_document=ident(uri), position=types.Position(line=middle, character=k + 1)
                )
            )
        )
        completions.append(comp_s)
    got = await fut
    last = time.perf_counter() - t_last
    print(
        f"{len(typed)} keystrokes, a completion after each: completion median "
        f"{ms(statistics.median(completions))}, max {ms(max(completions))}; last keystroke -> final "
        f"diagnostics {ms(last)} ({len(got.diagnostics)} diagnostics)"
    )
    # (the typed line removed again)
    version += 1
    fut = bench.expect(uri, version)
    replace_lines(client, uri, version, middle, middle + 1, "")
    await fut
    # references to `send_post` (78,763 calls) with a hover and a completion sent right after them
    at = types.Position(line=middle, character=lines[middle].index("send_post") + 2)
    received: list[int] = []  # the sizes of the partial results

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        if isinstance(params.value, list):
            received.append(len(params.value))

    for token in (None, "bench-refs"):
        received.clear()
        t0 = time.perf_counter()
        refs = asyncio.ensure_future(
            client.text_document_references_async(
                types.ReferenceParams(
                    text_document=ident(uri),
                    position=at,
                    context=types.ReferenceContext(include_declaration=True),
                    partial_result_token=token,
                )
            )
        )
        (hover_s, _h), (comp_s, _c) = await asyncio.gather(
            timed(
                client.text_document_hover_async(
                    types.HoverParams(text_document=ident(uri), position=hover_at)
                )
            ),
            timed(
                client.text_document_completion_async(
                    types.CompletionParams(text_document=ident(uri), position=complete_at)
                )
            ),
        )
        found = await refs
        total = time.perf_counter() - t0
        how = f"{sum(received):,} streamed" if token is not None else f"{len(found or []):,} answered"
        print(
            f"references to send_post ({'with' if token else 'without'} a partialResultToken: {how}) in "
            f"{ms(total)}; a hover / completion sent after them answered in {ms(hover_s)} / {ms(comp_s)}"
        )
    return version


async def run(edits: int, only: str) -> None:
    with tempfile.TemporaryDirectory(prefix="gscen-lsp-bench-") as tmp:
        folder = Path(tmp)
        scenario = build(folder)
        text = scenario.read_text()
        lines = text.splitlines()
        uri = scenario.as_uri()
        env = dict(os.environ, XDG_CACHE_HOME=str(folder / "cache"))
        client = LanguageClient("gscen-bench", "1")
        bench = Bench(client)
        log = folder / "server.log"
        await client.start_io(
            sys.executable, "-m", "scenario_lang.lsp", "--log-file", str(log), "-v", env=env, cwd=str(folder)
        )
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=folder.as_uri(), process_id=os.getpid()
            )
        )
        client.initialized(types.InitializedParams())
        print(f"file: {len(lines):,} lines")

        # ---- first diagnostics, cold then warm
        for label in ("cold", "warm (check cache)"):
            fut = bench.expect(uri, 1)
            t0 = time.perf_counter()
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uri, language_id="scenario", version=1, text=text
                    )
                )
            )
            first = await fut
            t1 = time.perf_counter()
            print(
                f"didOpen -> first diagnostics, {label}: {ms(t1 - t0)} ({len(first.diagnostics)} diagnostics)"
            )
            if label == "cold":
                await bench.expect(uri, 1)  # the analysis behind the first answer (features need it)
                # cold diagnostics come from the full check, which then writes the cache: reopen
                client.text_document_did_close(
                    types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
                )
                await asyncio.sleep(1.0)  # let the cache write finish before reopening

        # make sure the full analysis (not only cached diagnostics) is in: a no-op edit round trip
        version = 1
        middle = len(lines) // 2
        while not lines[middle].startswith("@0:") or " send_post " not in lines[middle]:
            middle += 1
        target = lines[middle]
        number_at = (
            target.rindex(" ") + 1 if not target.rstrip().endswith("}") else target.index("send_post") + 10
        )
        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        edit(client, uri, version, middle, number_at, number_at, "1")
        await fut
        print(f"first edit after open (waits for the full analysis): {ms(time.perf_counter() - t0)}")

        version = await pipelined(bench, uri, version, lines, middle, number_at, edits)
        if only == "pipelined":
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
            return

        # ---- one-line edits (incremental)
        durations = []
        for i in range(edits):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            edit(client, uri, version, middle, number_at, number_at + 1, str((i + 2) % 10))
            await fut
            durations.append(time.perf_counter() - t0)
        print(
            f"one-line edit -> diagnostics: median {ms(statistics.median(durations))}, "
            f"max {ms(max(durations))} over {edits} edits"
        )

        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        edit(client, uri, version, middle, number_at, number_at + 1, "x")
        got = await fut
        codes = sorted({str(d.code) for d in got.diagnostics})
        print(f"edit introducing an error -> diagnostics: {ms(time.perf_counter() - t0)} {codes}")

        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        edit(client, uri, version, middle, 0, 0, "@0:5 send_post 12\n")
        got = await fut
        print(
            f"inserting a line -> diagnostics: {ms(time.perf_counter() - t0)} "
            f"({len(got.diagnostics)} diagnostics)"
        )

        for label, line_text in (
            ("a new `@! set` line (variables recomputed)", "@! set unused 1\n"),
            ("a new `stop` line (stops and SC506 recomputed)", "@9:0:0 stop\n"),
        ):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            edit(client, uri, version, 1, 0, 0, line_text)
            await fut
            print(f"{label} -> diagnostics: {ms(time.perf_counter() - t0)}")

        # ---- `stop` and `@! set` edits in place (line 2 is the `stop` line, line 3 the `set` line)
        for label, line, texts in (
            ("`stop` time edit", 1, ["@9:0:1 stop", "@9:0:2 stop {1-5}", "@9:0:0 stop"]),
            ("`@! set` value edit", 2, ["@! set unused 2", "@! set unused 3", "@! set unused 1"]),
        ):
            version, durations, got, _ = await line_edits(bench, uri, version, line, texts, edits)
            print(
                f"{label} -> diagnostics: median {ms(statistics.median(durations))}, "
                f"max {ms(max(durations))} over {edits} edits ({len(got.diagnostics)} diagnostics at the end)"
            )

        # ---- an `&module` line added (the module loaded twice: SC206) and removed again
        durations = []
        for i in range(edits):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            if i % 2 == 0:
                edit(client, uri, version, 1, 0, 0, "&module social_module.SocialModule\n")
            else:
                rng = types.Range(
                    start=types.Position(line=1, character=0), end=types.Position(line=2, character=0)
                )
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                        content_changes=[types.TextDocumentContentChangePartial(range=rng, text="")],
                    )
                )
            got = await fut
            durations.append(time.perf_counter() - t0)
        print(
            f"`&module` line added / removed -> diagnostics: median {ms(statistics.median(durations))}, "
            f"max {ms(max(durations))} over {edits} edits ({len(got.diagnostics)} diagnostics at the end)"
        )

        # ---- a typo in the file's only `&module` line (every event calls its callbacks), then its fix
        name_end = len("&module social_module.SocialModule")
        typo, fix = [], []
        for i in range(min(edits, 10)):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            if i % 2 == 0:
                edit(client, uri, version, 0, name_end - 1, name_end, "")
            else:
                edit(client, uri, version, 0, name_end - 1, name_end - 1, "e")
            got = await fut
            (typo if i % 2 == 0 else fix).append(time.perf_counter() - t0)
        print(
            f"typo in the only `&module` line / its fix -> diagnostics: median {ms(statistics.median(typo))}"
            f" / {ms(statistics.median(fix))}, max {ms(max(typo))} / {ms(max(fix))}"
            f" ({len(got.diagnostics)} diagnostics at the end)"
        )

        # ---- the only `&module` line names another version of the module, and back: one where a
        # signature differs (the others have the same parameters: only the lines with diagnostics
        # are bound again), and one where `send_post` takes a string (its 78,763 calls are)
        for label, other_name in (
            ("another class, one signature changed", "social_other"),
            ("another class, `send_post` changed", "social_posts"),
        ):
            version = await module_swaps(bench, uri, version, other_name, min(edits, 10), label)

        # ---- typing an `&module` line, one character at a time, with a call to one of its callbacks
        # and a call to an unknown callback far down the file (SC301 comes and goes with the module)
        far = len(lines) - 10
        version = await bench.replace(uri, version, far, far, "@0:7 ping 1\n@0:7 pong\n")
        version = await bench.replace(uri, version, 1, 1, "\n")
        typed = "&module extra_module.ExtraModule"
        durations = []
        slowest = (0.0, 0)
        for i, char in enumerate(typed):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            edit(client, uri, version, 1, i, i, char)
            got = await fut
            durations.append(time.perf_counter() - t0)
            slowest = max(slowest, (durations[-1], version))
        codes = sorted({str(d.code) for d in got.diagnostics})
        print(
            f"typing `{typed}` -> diagnostics per keystroke: median {ms(statistics.median(durations))}, "
            f"max {ms(max(durations))} over {len(typed)} keystrokes ({codes} at the end; "
            f"the slowest, {server_side(log, slowest[1])})"
        )
        for start, end in ((1, 2), (far, far + 2)):  # the line and the two calls removed again
            version = await bench.replace(uri, version, start, end, "")

        # ---- a `stop` before almost every event: ~78k SC506 warnings, then removed again
        for label, new in (("added", "@0:01 stop\n"), ("removed", "")):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            replace_lines(client, uri, version, 1, 1 if new else 2, new)
            got = await fut
            print(
                f"an early `stop` {label} -> diagnostics: {ms(time.perf_counter() - t0)} "
                f"({len(got.diagnostics)} diagnostics; {server_side(log, version)})"
            )
            if not new:
                continue
            # edits elsewhere while they stand: a character typed, a line inserted (the lines
            # below move down: their diagnostics are written again) and deleted again
            for what, start, end, new_text in (
                ("a one-line edit", (middle, number_at), (middle, number_at), "1"),
                ("", (middle, number_at), (middle, number_at + 1), ""),
                ("inserting a line", (middle, 0), (middle, 0), "@0:5 send_post 12\n"),
                ("", (middle, 0), (middle + 1, 0), ""),
            ):
                version += 1
                fut = bench.expect(uri, version)
                t0 = time.perf_counter()
                rng = types.Range(
                    start=types.Position(line=start[0], character=start[1]),
                    end=types.Position(line=end[0], character=end[1]),
                )
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                        content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new_text)],
                    )
                )
                await fut
                if what:
                    print(
                        f"  {what} while they stand -> diagnostics: {ms(time.perf_counter() - t0)} "
                        f"({server_side(log, version)})"
                    )

        # ---- `stop` and `@! set` edits in a file with an `&include`, typed one character at a
        # time: no file is found until the last keystroke (then the file's block comes in)
        version = await bench.replace(uri, version, 3, 3, "\n")
        typed = "&include common.scenario"
        durations = []
        for i, char in enumerate(typed):
            version += 1
            fut = bench.expect(uri, version)
            t0 = time.perf_counter()
            edit(client, uri, version, 3, i, i, char)
            await fut
            durations.append(time.perf_counter() - t0)
        print(
            f"typing `{typed}` -> diagnostics per keystroke before the last: median"
            f" {ms(statistics.median(durations[:-1]))}, max {ms(max(durations[:-1]))};"
            f" the last (the file found: its variable, events and `stop` come in) {ms(durations[-1])}"
        )
        # the line commented out (its block goes) and back; another file at that line, one with an
        # `&module` line (the callbacks change: every call of the file is bound again), and back
        for label, other in (
            ("`&include` line commented out", "# &include common.scenario"),
            ("`&include` line naming a file with an `&module` line", "&include with_module.scenario"),
        ):
            version, durations, got, slowest = await line_edits(bench, uri, version, 3, [other, typed], edits)
            print(
                f"{label} / back -> diagnostics: median {ms(statistics.median(durations[0::2]))} / "
                f"{ms(statistics.median(durations[1::2]))}, max {ms(max(durations[0::2]))} / "
                f"{ms(max(durations[1::2]))} ({len(got.diagnostics)} diagnostics at the end; the slowest, "
                f"edit {slowest[2]}: {server_side(log, slowest[1])})"
            )
        for label, line, texts in (
            ("`stop` time edit, with `&include`", 1, ["@9:0:1 stop", "@9:0:2 stop {1-5}", "@9:0:0 stop"]),
            (
                "`@! set` value edit, with an `&include` whose file reads it",
                2,
                ["@! set unused 2", "@! set unused 3", "@! set unused 1"],
            ),
        ):
            version, durations, got, slowest = await line_edits(bench, uri, version, line, texts, edits)
            print(
                f"{label} -> diagnostics: median {ms(statistics.median(durations))}, "
                f"max {ms(max(durations))} over {edits} edits ({len(got.diagnostics)} diagnostics at the "
                f"end; the slowest, edit {slowest[2]}: {server_side(log, slowest[1])})"
            )

        spans = []
        for k in range(5):
            t0 = time.perf_counter()
            start = types.Position(line=middle + 100 * k, character=0)
            stop = types.Position(line=middle + 100 * (k + 1), character=0)
            tokens = await client.text_document_semantic_tokens_range_async(
                types.SemanticTokensRangeParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(start=start, end=stop),
                )
            )
            spans.append(time.perf_counter() - t0)
        count = len(tokens.data) // 5 if tokens else 0
        print(
            f"semantic tokens, 100 lines: median {ms(statistics.median(spans))}, "
            f"max {ms(max(spans))} ({count} tokens)"
        )

        # ---- completion and hover
        comp, hov = [], []
        for i in range(20):
            line = middle + 5 + i
            t0 = time.perf_counter()
            result = await client.text_document_completion_async(
                types.CompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=lines[line - 1].index(" ") + 1),
                )
            )
            comp.append(time.perf_counter() - t0)
            items = result.items if isinstance(result, types.CompletionList) else result or []
            t0 = time.perf_counter()
            hover = await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=lines[line - 1].index(" ") + 2),
                )
            )
            hov.append(time.perf_counter() - t0)
        print(f"completion: median {ms(statistics.median(comp))}, max {ms(max(comp))} ({len(items)} items)")
        print(f"hover: median {ms(statistics.median(hov))}, max {ms(max(hov))} ({'ok' if hover else 'none'})")

        # ---- reopened with a typo in the `&module` line (no call checked), then the typo fixed:
        # the module found for the first time since the file was opened binds every call
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        version += 1  # (versions go on: the server log is searched by version)
        fut = bench.expect(uri, version)
        typo_text = text.replace("social_module.SocialModule", "social_modul.SocialModule", 1)
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="scenario", version=version, text=typo_text
                )
            )
        )
        await fut
        version += 1
        fut = bench.expect(uri, version)
        edit(client, uri, version, middle, number_at, number_at, "")  # waits for the full analysis
        await fut
        await asyncio.sleep(2.0)  # (the check cache written)
        version += 1
        fut = bench.expect(uri, version)
        t0 = time.perf_counter()
        edit(client, uri, version, 0, len("&module social_modul"), len("&module social_modul"), "e")
        got = await fut
        print(
            f"the module found for the first time since the file was opened (every call bound) -> "
            f"diagnostics: {ms(time.perf_counter() - t0)} ({len(got.diagnostics)} diagnostics; "
            f"{server_side(log, version)})"
        )

        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument(
        "--only",
        choices=("all", "pipelined"),
        default="all",
        help="pipelined: open, then the requests-after-edit series",
    )
    args = parser.parse_args()
    asyncio.run(run(args.edits, args.only))


if __name__ == "__main__":
    main()
