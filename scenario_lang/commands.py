"""The front-end commands: `gscen check`, `gscen plan`, `gscen fmt`.

Each parses options, calls the front end, and renders: diagnostics and progress on one stderr
Console, results on one stdout Console (or one JSON object with `--format json`). User text is built
as rich `Text`, never as markup. Exit codes: 0 fine or warnings only, 1 errors, 2 usage errors.
"""

from __future__ import annotations

import difflib
import gc
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .diagnostics import Diagnostic, Severity, clip_quotes, has_errors, sort_unique, summary_line
from .files import write_atomically
from .peers import PeerSet, parse_peer_selection

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold blue"}


def _batch_mode() -> None:
    """A one-shot command builds about a million acyclic nodes for a large file and then exits: the
    cyclic garbage collector would traverse them again and again (0.8 s on the 118k-line corpus file)
    and can free nothing, so it is switched off for the life of the process."""
    gc.disable()


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


SOURCE_WIDTH = 160
"""A source line longer than this is shown cut to about this many columns around the span."""
_BEFORE_SPAN = 40  # columns of context kept before the span in a cut line


def _window(line: str, column: int, end: int) -> tuple[str, int, int]:
    """The part of a long `line` shown around the span [column, end) (1-based), `…` where it is cut,
    and the span's columns in it."""
    if len(line) <= SOURCE_WIDTH:
        return line, column, end
    start = max(0, min(column - 1 - _BEFORE_SPAN, len(line) - SOURCE_WIDTH))
    stop = start + SOURCE_WIDTH
    head = "…" if start > 0 else ""
    tail = "…" if stop < len(line) else ""
    shift = len(head) - start
    return head + line[start:stop] + tail, column + shift, min(end, stop + 1) + shift


def diagnostic_text(d: Diagnostic, source_line: str | None) -> Text:
    """A diagnostic as rich Text: header, source line with carets, notes and help. A long source
    line is shown cut around the span, and long quoted source text in the message is cut, so a 50 MB
    one-line file gives a few lines of output, not 100 MB."""
    s = d.span
    t = Text()
    t.append(f"{s.path}:{s.line}:{s.column}: ", style="bold")
    t.append(f"{d.severity.value}[{d.code}]", style=_STYLE[d.severity])
    t.append(": ")
    t.append(clip_quotes(d.message), style="bold")
    if source_line is not None:
        source_line = source_line.replace("\t", " ")
        gutter = str(s.line)
        pad = " " * len(gutter)
        end = s.end_column if s.end_line == s.line else len(source_line) + 1
        shown, column, end = _window(source_line, s.column, end)
        width = max(1, end - column)
        t.append(f"\n{pad} |\n", style="blue")
        t.append(f"{gutter} | ", style="blue")
        t.append(shown)
        t.append(f"\n{pad} | ", style="blue")
        t.append(" " * (column - 1) + "^" * width, style=_STYLE[d.severity])
    for note in d.notes:
        t.append("\n  = note: ", style="bold")
        t.append(clip_quotes(note))
    if d.suggestion:
        t.append("\n  = help: ", style="bold cyan")
        t.append(clip_quotes(d.suggestion))
    return t


class _Lines:
    """Source lines for rendering, read on demand (files the front end did not keep)."""

    def __init__(self) -> None:
        self.files: dict[str, Sequence[str]] = {}

    def add(self, path: str, lines: Sequence[str]) -> None:
        self.files[path] = lines

    def get(self, path: str, line: int) -> str | None:
        lines = self.files.get(path)
        if lines is None:
            try:
                from .parse import split_lines

                lines = split_lines(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                lines = ()
            self.files[path] = lines
        return lines[line - 1] if 1 <= line <= len(lines) else None


def _peer_option(value: str | None) -> PeerSet | None:
    if value is None:
        return None
    try:
        return parse_peer_selection(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--peer") from None


def _print_diagnostics(err: Console, diagnostics: Iterable[Diagnostic], lines: _Lines) -> None:
    for d in diagnostics:
        err.print(diagnostic_text(d, lines.get(d.span.path, d.span.line)))
        err.print()


def _check_one(
    path: str,
    conf: str | None,
    instances: int | None,
    use_cache: bool,
    lines: _Lines,
    need_calls: bool = False,
) -> tuple[list[Diagnostic], Any]:
    """Diagnostics for one root file (from the cache when valid) and the analysis (None if cached)."""
    from . import cache

    environment = dict(os.environ)
    options = [f"conf={os.path.abspath(conf) if conf else ''}", f"instances={instances}"]
    if use_cache:
        cached = cache.lookup(path, options, environment)
        if cached is not None:
            return cached, None
    from .project import CheckOptions, analyze

    analysis = analyze(
        path, CheckOptions(conf=conf, instances=instances, environment=environment, parallel=not need_calls)
    )
    for p, ls in analysis.program.lines.items():
        lines.add(p, ls)
    if analysis.conf_path:
        lines.add(analysis.conf_path, analysis.conf_lines)
    diagnostics = list(analysis.diagnostics)
    if use_cache and not analysis.program.missed_files and Path(path).is_file():
        files = set(analysis.program.files_read)
        if analysis.conf_path:
            files.add(os.path.abspath(analysis.conf_path))
        env = {n: environment.get(n) for n in analysis.program.environment_names}
        if analysis.conf_path is None:
            files.add(os.path.abspath(path))
        cache.store(path, options, files, env, diagnostics)
    return diagnostics, analysis


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option(
    "--conf",
    "conf",
    type=click.Path(path_type=str),
    help="The experiment file (.conf) to take variables and the peer count from.",
)
@click.option(
    "--instances", type=click.IntRange(min=1), help="The number of peers (Gumby's instances_to_run)."
)
@click.option(
    "--peer", "peer", metavar="SPEC", help="Report only problems of events for these peers (17, 1-4, all)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--no-cache", is_flag=True, help="Check everything again instead of using cached results.")
def check_command(
    files: tuple[str, ...],
    conf: str | None,
    instances: int | None,
    peer: str | None,
    fmt: str,
    no_cache: bool,
) -> None:
    """Check scenario files and report every problem, with its place and a fix where one fits."""
    _batch_mode()
    selection = _peer_option(peer)
    _, err = _consoles()
    lines = _Lines()
    everything: list[Diagnostic] = []
    for path in files:
        diagnostics, analysis = _check_one(path, conf, instances, not no_cache, lines, selection is not None)
        if selection is not None and analysis is not None:
            diagnostics = _for_peers(diagnostics, analysis, selection)
        everything.extend(diagnostics)
    everything = sort_unique(everything)
    if fmt == "json":
        payload = {"diagnostics": [d.to_json() for d in everything], "files": list(files)}
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        _print_diagnostics(err, everything, lines)
        err.print(Text(summary_line(everything, len(files)), style="bold"))
    sys.exit(1 if has_errors(everything) else 0)


def _for_peers(diagnostics: list[Diagnostic], analysis: Any, selection: PeerSet) -> list[Diagnostic]:
    """Keep diagnostics not tied to events, and those on lines with an event for a selected peer."""
    instances = analysis.program.config.instances
    event_lines: dict[tuple[str, int], bool] = {}
    for call in analysis.program.calls:
        key = (call.event.span.path, call.event.span.line)
        hit = call.peers.intersects(selection, instances)
        event_lines[key] = event_lines.get(key, False) or hit
    return [d for d in diagnostics if event_lines.get((d.span.path, d.span.line), True)]


@click.command("plan")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--conf", "conf", type=click.Path(path_type=str), help="The experiment file (.conf).")
@click.option("--instances", type=click.IntRange(min=1), help="The number of peers.")
@click.option("--peer", "peer", metavar="SPEC", help="Show each selected peer's own timeline (17, 1-4, all).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--png", "png", type=click.Path(path_type=str), help="Also draw the event timeline to this PNG file."
)
def plan_command(
    file: str, conf: str | None, instances: int | None, peer: str | None, fmt: str, png: str | None
) -> None:
    """Show the compiled timeline of a scenario: what each peer will do, and when."""
    _batch_mode()
    from .plan import compile_plan, infer_instances
    from .project import CheckOptions, analyze_and_plan

    selection = _peer_option(peer)
    out, err = _consoles()
    lines = _Lines()
    analysis, plan = analyze_and_plan(file, CheckOptions(conf=conf, instances=instances, parallel=True))
    for p, ls in analysis.program.lines.items():
        lines.add(p, ls)
    if analysis.conf_path:
        lines.add(analysis.conf_path, analysis.conf_lines)
    diagnostics = list(analysis.diagnostics)
    if has_errors(diagnostics):
        _print_diagnostics(err, diagnostics, lines)
        err.print(Text(summary_line(diagnostics, 1) + ": no plan", style="bold"))
        sys.exit(1)
    if diagnostics:
        _print_diagnostics(err, diagnostics, lines)
    if plan is None:  # the peer count is not known: the highest peer number the file names
        n = infer_instances(analysis.program)
        err.print(
            Text(
                f"note: the peer count is not given (--instances or a .conf): using {n}, "
                "the highest peer number the file names",
                style="dim",
            )
        )
        plan = compile_plan(analysis.program, n, allow_errors=True)
    if png:
        from .plan_render import draw_timeline_png

        draw_timeline_png(plan, png)
    if fmt == "json":
        if selection is not None:
            peers = list(selection.peers(plan.instances))
            sys.stdout.write(json.dumps(plan.peers_to_json(peers)) + "\n")
        else:
            sys.stdout.write(json.dumps(plan.to_json()) + "\n")
        return
    from .plan_render import PlanView

    if selection is not None:
        for peer_id in selection.peers(plan.instances):
            out.print(PlanView(plan, peer=peer_id))
    else:
        out.print(PlanView(plan))


@click.command("fmt")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", is_flag=True, help="Change nothing; print what would change as a unified diff.")
def fmt_command(files: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Format scenario files canonically (spacing, time and peer specs); comments are kept."""
    from .fmt import FormatError, format_text
    from .parse import read_source

    out, err = _consoles()
    lines = _Lines()
    changed = 0
    failed = False
    for path in files:
        source, diags = read_source(path)
        if source is None:
            _print_diagnostics(err, diags, lines)
            failed = True
            continue
        lines.add(path, source.lines)
        try:
            formatted = format_text(source.text, path)
        except FormatError as exc:
            _print_diagnostics(err, exc.diagnostics, lines)
            err.print(Text(f"{path}: not formatted: it has syntax errors", style="bold red"))
            failed = True
            continue
        if formatted == source.text:
            continue
        changed += 1
        if diff:
            out.print(
                Text(
                    "".join(
                        difflib.unified_diff(
                            source.text.splitlines(keepends=True),
                            formatted.splitlines(keepends=True),
                            fromfile=path,
                            tofile=path,
                        )
                    )
                ),
                end="",
            )
        elif check_only:
            err.print(Text(f"would reformat {path}"))
        else:
            write_atomically(path, formatted)
            err.print(Text(f"reformatted {path}"))
    verb = "would be reformatted" if (check_only or diff) else "reformatted"
    err.print(
        Text(
            f"{changed} file{'s' if changed != 1 else ''} {verb}, {len(files) - changed} unchanged",
            style="bold",
        )
    )
    if failed or ((check_only or diff) and changed):
        sys.exit(1)
