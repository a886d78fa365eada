"""The document store's lifecycle: open documents, the worker that checks them, the check cache,
and publishing.

Takes open/change/save/close events and changed files from the server; keeps one `Document` per
open uri, and checks it off the event loop in one worker thread, debounced: the whole front end
(`configure`, `resolve`, `check`: what `gscen check` runs) when the document is new or an edit
needs it, else the incremental passes (`passes.edits`, one `EditContext` per check). Publishes
diagnostics that carry the document version, and the diagnostics of the files open documents
include. Reads `gscen check`'s cache for a file unchanged on disk, and writes to it only what
`gscen check` computes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from scenario_lang import cache
from scenario_lang.check import (
    check,
)
from scenario_lang.diagnostics import Diagnostic, sort_unique
from scenario_lang.parse import bulk_allocation, parse_lines, read_source
from scenario_lang.project import CheckOptions, analyze, configure
from scenario_lang.resolve import LoadedFile, ResolveConfig, resolve, resolve_file
from scenario_lang.signatures import ModuleReader

from .analysis import Analysis, FullCheckNeeded, build_analysis
from .document import Document
from .includers import diagnostics_in, in_context, workspace_candidates
from .lines import LineEntry, normalized, parse_entry, record_calls, tree_of
from .passes.context import EditContext
from .passes.edits import incremental_checks

logger = logging.getLogger(__name__)

EARLY_MIN_LINES = 20_000  # below this, the full check is quick enough to be the first answer


@dataclass
class FullResult:
    entries: list[LineEntry]  # the snapshot's entries, stale ones re-parsed at their line
    snapshot: list[LineEntry]
    diags: dict[int, tuple[Diagnostic, ...]]  # 1-based line -> diagnostics
    analysis: Analysis
    cacheable: bool
    # the lines the front end read of the document and of the open documents it includes: the
    # result goes to the check cache only if `gscen check` reads the same from disk
    inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the document's position index once these entries are installed (when it was not edited since)
    index: dict[int, int] = field(default_factory=dict)


class DocumentStore:
    """Every open document, the worker thread that checks them, and the module readers."""

    def __init__(
        self,
        publish: Callable[[Document], None],
        publish_other: Callable[[str, list[Diagnostic]], None],
        clear: Callable[[str], None],
        report: Callable[[str], None],
        options: CheckOptions | None = None,
        debounce: float = 0.015,
        publish_context: Callable[[Document, list[Diagnostic]], None] | None = None,
    ) -> None:
        self.docs: dict[str, Document] = {}
        self.publish = publish
        # an open document's diagnostics in the context of the files including it (see `includers`)
        self.publish_context = publish_context
        self.roots: list[str] = []  # the workspace folders (where files including a document are looked for)
        # per included document (normalized path): its version when the workspace's files including
        # it were checked, and their diagnostics in it; and those files (found once per document)
        self._context: dict[str, tuple[int | None, dict[str, list[Diagnostic]]]] = {}
        self._candidates: dict[str, list[str]] = {}
        self._included: dict[str, set[str]] = {}  # uri -> the files it included at its last check
        self.publish_other = publish_other
        self.clear = clear
        self.report = report
        self.options = options or CheckOptions()
        self.debounce = debounce
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gscen-check")
        self._readers: dict[tuple[str, ...], ModuleReader] = {}
        self._feature_readers: dict[tuple[str, ...], ModuleReader] = {}
        self._files: dict[str, tuple[tuple[float, int], LoadedFile]] = {}
        self._others: dict[str, tuple[Diagnostic, ...]] = {}
        self._buffer_reads: dict[str, tuple[str, ...]] = {}  # (the worker's, during a full check)
        self._tasks: set[asyncio.Task[None]] = set()
        self.timings: dict[str, float] = {}
        self.counts = {"full": 0, "incremental": 0}  # checks done, of each kind
        self.closed = False

    # ---- documents
    def open(self, uri: str, path: str, version: int | None, text: str) -> Document:
        doc = Document(uri, path, version, [])
        doc.replace_all(text)
        doc.matches_disk = disk_text(path) == text
        self.docs[uri] = doc
        self._dependents_changed(path)
        if doc.matches_disk:
            self._publish_cached(doc)
        self.schedule(doc)
        return doc

    def close(self, uri: str) -> None:
        doc = self.docs.pop(uri, None)
        if doc is None:
            return
        if doc.task is not None:
            doc.task.cancel()
        self.clear(uri)
        self._others.pop(doc.path, None)
        self._context.pop(os.path.normpath(doc.path), None)
        self._set_others()
        self._dependents_changed(doc.path)
        self._publish_included(doc)  # (they are no longer in its context)

    def get(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def changed(self, doc: Document, version: int | None) -> None:
        doc.version = version
        doc.changed_at = time.perf_counter()
        doc.matches_disk = False
        self._dependents_changed(doc.path, missed=False)
        self.schedule(doc)

    def saved(self, doc: Document) -> None:
        """On save, check the whole file again (as `gscen check` would now, module sources read
        afresh) and the files that include it; an unchanged file also refreshes the check cache."""
        doc.matches_disk = disk_text(doc.path) == doc.text()
        doc.full_needed = True
        self.schedule(doc)
        self._dependents_changed(doc.path)

    def files_changed(self, paths: Iterable[str]) -> None:
        """Files changed on disk (a module source, an included scenario, a `.conf`)."""
        changed = {os.path.normpath(p) for p in paths}
        for p in changed:
            self._files.pop(p, None)
        if any(p.endswith(".scenario") for p in changed):
            self._candidates.clear()  # (a file naming an open one may have come, or gone)
        any_conf = any(p.endswith(".conf") for p in changed)
        for doc in self.docs.values():
            a = doc.analysis
            if any_conf or a is None or a.program.missed_files or not changed.isdisjoint(a.deps):
                doc.full_needed = True
                self.schedule(doc)

    def _dependents_changed(self, path: str, missed: bool = True) -> None:
        """Re-check the open documents that read `path` (and, with `missed`, those that missed a
        module or an include: a file that appears or is saved may be it)."""
        norm = os.path.normpath(path)
        for other in self.docs.values():
            if other.path == path or other.analysis is None:
                continue
            if norm in other.analysis.deps or (missed and other.analysis.program.missed_files):
                other.full_needed = True
                self.schedule(other)

    # ---- scheduling
    def schedule(self, doc: Document) -> None:
        if self.closed:
            return
        doc.needs_check = True
        doc.checked.clear()
        if doc.task is None or doc.task.done():
            doc.task = asyncio.get_running_loop().create_task(self._run(doc))

    async def _run(self, doc: Document) -> None:
        while doc.needs_check and self.docs.get(doc.uri) is doc and not self.closed:
            await self._debounce(doc)
            doc.needs_check = False
            try:
                if doc.analysis is None or doc.full_needed or not doc.analysis.incremental_ok:
                    await self._full(doc)
                else:
                    await self._incremental(doc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: tell the client, keep serving (and start afresh)
                if self.closed:
                    return
                doc.full_needed = True
                logger.exception("checking %s failed", doc.uri)
                self.report(f"gscen: checking {doc.path} failed: {type(exc).__name__}: {exc}")
        if not doc.needs_check or self.closed or self.docs.get(doc.uri) is not doc:
            doc.checked.set()  # (closed: no check comes, the waiting requests answer)
            if not self.closed and self.docs.get(doc.uri) is doc:
                self._publish_included(doc)
                self._check_includers(doc)

    async def _debounce(self, doc: Document) -> None:
        """Wait for more edits to come (typing), unless a request waits for this check."""
        if doc.waiting:
            return
        doc.hurry.clear()
        try:
            async with asyncio.timeout(self.debounce):
                await doc.hurry.wait()
        except TimeoutError:
            return

    async def wait_current(self, uri: str, timeout: float = 30.0) -> None:
        """Wait until an open document is checked as it is now: parsed and checked once (right
        after didOpen of a large file, the worker is still at it), and every edit received so far
        checked, so that a request answers against the text and analysis after every
        notification before it (as the LSP asks). The check starts at once, not debounced."""
        doc = self.docs.get(uri)
        if doc is None or doc.checked.is_set():
            return
        doc.waiting += 1
        doc.hurry.set()
        try:
            async with asyncio.timeout(timeout):
                await doc.checked.wait()
        except TimeoutError:
            logger.warning("answering a request on %s before its check ended", uri)
        finally:
            doc.waiting -= 1

    # ---- the full check
    async def _full(self, doc: Document) -> None:
        loop = asyncio.get_running_loop()
        if (
            doc.analysis is None
            and not doc.early
            and doc.matches_disk
            and len(doc.entries) >= EARLY_MIN_LINES
        ):
            # a large file, unchanged on disk, not in the check cache: `gscen check`'s own parallel
            # check (diagnostics only) answers first; the analysis features need follows
            doc.early = True
            version = doc.version
            found = await loop.run_in_executor(self.executor, self._early_work, doc.path)
            if found is not None and doc.version == version and doc.analysis is None and not doc.dirty:
                self._publish_early(doc, found)
        snapshot = list(doc.entries)
        dirty, doc.dirty = doc.dirty, []
        doc.full_needed = False
        doc.scope_changed = False
        doc.stops_changed = False
        doc.modules_changed = False
        doc.gone_includes = []
        version = doc.version
        try:
            result = await loop.run_in_executor(
                self.executor, self._full_work, doc.path, snapshot, doc.matches_disk
            )
        except BaseException:
            doc.dirty = dirty + doc.dirty
            doc.full_needed = True
            raise
        for i, e in enumerate(result.entries):
            e.check_diags = result.diags.get(i + 1, e.parse_diags)
        index: dict[int, int] | None = None
        if doc.entries == snapshot:
            doc.entries[: len(result.entries)] = result.entries
            index = result.index
        else:
            # edited meanwhile: install the parsed entries that are still there (maybe moved)
            where = {id(e): i for i, e in enumerate(doc.entries)}
            for old, new in zip(snapshot, result.entries, strict=False):
                j = where.get(id(old))
                if j is not None and old is not new:
                    doc.entries[j] = new
        doc._index = index
        # entries past the front end's lines (the empty line after a final newline)
        for e in snapshot[len(result.entries) :]:
            e.check_diags = e.parse_diags
        doc.analysis = result.analysis
        self._set_others()
        if doc.version == version and not doc.dirty:
            self._publish_doc(doc)
        if result.cacheable and doc.matches_disk:
            self.executor.submit(self._store_cache, doc.path, result.analysis, result.diags, result.inputs)

    def _index_work(self, path: str, entries: list[LineEntry], analysis: Analysis) -> None:
        """What the incremental checks of `stop`, `@! set` and `&module` edits read: the calls of
        each line and the analysis' index."""
        try:
            record_calls(path, entries, analysis.program.calls)
            analysis.build_index(entries)
        except Exception:
            logger.exception("indexing %s failed", path)
            analysis.incremental_ok = False  # without the index, only the whole check is right

    def _early_work(self, path: str) -> list[Diagnostic] | None:
        started = time.perf_counter()
        try:
            result = analyze(path, replace(self.options, parallel=True))
        except Exception:  # only an accelerator: the full check follows
            logger.exception("the early check of %s failed", path)
            return None
        self.timings["early"] = time.perf_counter() - started
        found = list(result.diagnostics)
        program = result.program
        if not program.missed_files:  # as `gscen check` does: the next open finds it in the cache
            files = set(program.files_read) | {os.path.abspath(result.conf_path or path)}
            env = {n: self.options.environment.get(n) for n in program.environment_names}
            try:
                cache.store(path, self._cache_options(), files, env, found)
            except Exception:
                logger.exception("writing the check cache failed")
        return found

    def _configure(self, path: str) -> tuple[ResolveConfig, list[Diagnostic], str | None]:
        config, conf_diags, _experiment, conf_path = configure(path, self.options, loader=self._load)
        search = config.module_search or ()
        reader = self._readers.get(search)
        if reader is None:
            reader = self._readers[search] = ModuleReader(search)
        return replace(config, module_reader=reader), conf_diags, conf_path

    def feature_reader(self, config: ResolveConfig) -> ModuleReader:
        """A module reader for features on the event loop (the worker's is not shared across threads)."""
        search = config.module_search or ()
        reader = self._feature_readers.get(search)
        if reader is None:
            reader = self._feature_readers[search] = ModuleReader(search)
        return reader

    def _load(self, path: str) -> LoadedFile:
        """The resolver's loader: open documents from the editor buffer, others from disk (cached)."""
        norm = os.path.normpath(path)
        for doc in list(self.docs.values()):
            if os.path.normpath(doc.path) == norm:
                entries = normalized(list(doc.entries)[: doc.front_end_lines()], path)
                lines = tuple(e.text for e in entries)
                tree = tree_of(path, entries)
                diags = tuple(d for e in entries for d in e.parse_diags)
                self._buffer_reads[path] = lines
                return LoadedFile(tree, lines, diags)
        try:
            st = os.stat(path)
            key = (st.st_mtime, st.st_size)
        except OSError:
            key = (0.0, -1)
        cached = self._files.get(norm)
        if cached is not None and cached[0] == key:
            return cached[1]
        source, read_diags = read_source(path)
        if source is None:
            loaded = LoadedFile(None, (), tuple(read_diags))
        else:
            tree, parse_diags = parse_lines(source.lines, path)
            loaded = LoadedFile(tree, source.lines, tuple(read_diags + parse_diags))
        self._files[norm] = (key, loaded)
        return loaded

    def _full_work(self, path: str, snapshot: list[LineEntry], matches_disk: bool) -> FullResult:
        started = time.perf_counter()
        self._buffer_reads = {}
        n = len(snapshot)
        if n > 1 and snapshot[-1].text == "":
            n -= 1
        with bulk_allocation():
            entries = normalized(snapshot[:n], path)
            tree = tree_of(path, entries)
            lines = tuple(e.text for e in entries)
            config, conf_diags, conf_path = self._configure(path)
            program = resolve(tree, lines, config)
            parse_diags = [d for e in entries for d in e.parse_diags]
            everything = sort_unique([*parse_diags, *check(program), *conf_diags])
        by_line: dict[int, list[Diagnostic]] = {}
        other: dict[str, list[Diagnostic]] = {}
        loose: list[Diagnostic] = []
        for d in everything:
            if d.span.path == path:
                if 1 <= d.span.line <= n:
                    by_line.setdefault(d.span.line, []).append(d)
                else:
                    loose.append(d)
            else:
                other.setdefault(d.span.path, []).append(d)
        analysis = build_analysis(path, entries, program, config, conf_path, other, loose, by_line)
        # (~0.2 s on 118k lines: here, not in a later job, so that no edit's check waits for it;
        # the collector paused: it makes 100,000s of small objects)
        with bulk_allocation():
            self._index_work(path, entries, analysis)
        if program.includes:
            analysis.included_calls()
        analysis.duration = time.perf_counter() - started
        self.timings["full"] = analysis.duration
        self.counts["full"] += 1
        # the nodes just built live as long as the document: keep the cyclic GC from rescanning them
        gc.collect(0)
        gc.freeze()
        return FullResult(
            entries,
            snapshot,
            {k: tuple(v) for k, v in by_line.items()},
            analysis,
            cacheable=not program.missed_files and matches_disk,
            inputs={**self._buffer_reads, path: lines},
            # (built here, not by the first `Document.line_of` after an edit on the event loop)
            index={id(e): i for i, e in enumerate([*entries, *snapshot[len(entries) :]], 1)},
        )

    # ---- the incremental check
    async def _incremental(self, doc: Document) -> None:
        analysis = doc.analysis
        assert analysis is not None
        targets: list[tuple[int, LineEntry]] = []
        fe_lines = doc.front_end_lines()
        live = [e for e in doc.dirty if doc.line_of(e) is not None]
        doc.dirty = []
        seen: set[int] = set()
        for e in live:
            if id(e) in seen:
                continue
            seen.add(id(e))
            n = doc.line_of(e)
            assert n is not None
            if n > fe_lines:
                e.check_diags = e.parse_diags
                continue
            if e.parsed_line != n:
                fresh = parse_entry(e.text, doc.path, n)
                doc.entries[n - 1] = fresh
                if doc._index is not None:
                    doc._index[id(fresh)] = n
                e = fresh
            targets.append((n, e))
        version = doc.version
        rescope, doc.scope_changed = doc.scope_changed, False
        restop, doc.stops_changed = doc.stops_changed, False
        remodule, doc.modules_changed = doc.modules_changed, False
        gone, doc.gone_includes = doc.gone_includes, []
        loading = {id(e) for e in analysis.include_anchors.values()}
        gone = [e for e in gone if id(e) in loading]  # `&include` lines whose files go with them
        if targets or rescope or restop or remodule or gone:
            snapshot = list(doc.entries)
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            try:
                # (the cyclic garbage collector paused: a check may make many short-lived objects)
                context = EditContext(
                    doc.path, snapshot, analysis, targets, self.timings, rescope, restop, remodule, gone
                )
                outcome = await loop.run_in_executor(self.executor, gc_paused, incremental_checks, context)
            except FullCheckNeeded:
                doc.full_needed = True
                doc.needs_check = True  # `_run` goes round again, to the full check
                return
            except BaseException:
                doc.full_needed = True  # what this check would have done is lost: start afresh
                raise
            self.timings["incremental"] = time.perf_counter() - started
            logger.info(
                "checked %s version %s incrementally in %.1f ms (SC506 in %.1f ms)",
                doc.uri,
                version,
                self.timings["incremental"] * 1000,
                self.timings.get("sc506", 0.0) * 1000,
            )
            self.counts["incremental"] += 1
            program = outcome.program
            if program is not None:
                analysis.program = program
                analysis._calls_by_event = None
                analysis.deps = analysis.deps | {os.path.normpath(p) for p in program.files_read}
            if outcome.includes:
                # they load nothing (or the check would have been a full one): the program only
                # learns of them (a missed file, and the variables their paths use)
                analysis.program = replace(
                    analysis.program,
                    includes=(*analysis.program.includes, *((d, None) for d in outcome.includes)),
                    missed_files=True,
                )
                analysis._included = None
            if outcome.anchors is not None:
                analysis.include_anchors, analysis.stop_anchors = outcome.anchors
                analysis._included = None
            if outcome.scope is not None:
                analysis.scope_entries = outcome.scope
            if outcome.stops is not None:
                analysis.stops = outcome.stops
            if outcome.sc506 is not None:
                analysis.sc506 = outcome.sc506
            analysis.unknown_first = outcome.unknown
            if outcome.other is not None:
                analysis.other = outcome.other
                self._set_others()
            if remodule:  # (typing an `&module` line makes a new entry per keystroke)
                analysis.directives = [e for e in analysis.directives if doc.line_of(e) is not None]
            results = outcome.results
            if program is not None:
                for name in outcome.resigned:
                    analysis.verdict_sigs[name] = program.callbacks.by_name.get(name)
                    analysis.off_verdict.pop(name, None)
            analysis.note_checked(results)
            analysis.index(e for _old, e, _diags in results)
            for old, e, diags in results:
                e.check_diags = diags
                if old is not e:
                    n = doc.line_of(old)
                    if n is not None:
                        doc.entries[n - 1] = e
                        if doc._index is not None:
                            doc._index[id(e)] = n
        if doc.version == version and not doc.dirty:
            self._publish_doc(doc)

    # ---- an included document, in the context of the files including it
    def _publish_doc(self, doc: Document) -> None:
        """Publish a document's diagnostics: those the files including it report in it when there
        are such files (nothing yet while one of them is being checked again: its check publishes
        them), else its own check's."""
        found = self._in_context(doc)
        if found is None or self.publish_context is None:
            self.publish(doc)
        elif found is not _PENDING:
            self.publish_context(doc, found)

    def _in_context(self, doc: Document) -> list[Diagnostic] | None:
        norm = os.path.normpath(doc.path)
        per: dict[str, list[Diagnostic]] = {}
        for other in self.docs.values():
            if other is doc or other.analysis is None or not self._includes(other, norm):
                continue
            if not other.checked.is_set():
                return _PENDING
            per[other.path] = diagnostics_in(other.analysis.other, doc.path)
        kept = self._context.get(norm)
        if kept is not None and kept[1]:
            version, found = kept
            if version != doc.version:
                return _PENDING  # (`_check_includers` is at it)
            open_paths = {os.path.normpath(d.path) for d in self.docs.values()}
            per.update({w: ds for w, ds in found.items() if os.path.normpath(w) not in open_paths})
        return in_context(per) if per else None

    @staticmethod
    def _includes(doc: Document, norm: str) -> bool:
        a = doc.analysis
        return a is not None and any(os.path.normpath(p) == norm for p in a.program.files)

    def _publish_included(self, doc: Document) -> None:
        """After a document's check (or its closing): publish again the open documents it includes,
        and those it included before (no longer in its context)."""
        a = doc.analysis
        now = set() if a is None else {os.path.normpath(p) for p in a.program.files}
        now.discard(os.path.normpath(doc.path))
        files = now | self._included.pop(doc.uri, set())
        if now and self.docs.get(doc.uri) is doc:
            self._included[doc.uri] = now
        for other in list(self.docs.values()):
            if other is not doc and os.path.normpath(other.path) in files and other.checked.is_set():
                self._publish_doc(other)

    def _check_includers(self, doc: Document) -> None:
        """Check again, off the loop, the workspace's files (not open) that include `doc`, with
        its text as it is now; then publish its diagnostics in their context."""
        if self.publish_context is None or self.closed:
            return
        task = asyncio.get_running_loop().create_task(self._includers_checked(doc, doc.version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _includers_checked(self, doc: Document, version: int | None) -> None:
        loop = asyncio.get_running_loop()

        def current() -> bool:  # (read on the worker: an edit since makes this work moot)
            return self.docs.get(doc.uri) is doc and doc.version == version and not doc.dirty

        try:
            found = await loop.run_in_executor(self.executor, self._includers_work, doc.path, current)
        except RuntimeError:  # the executor was shut down
            return
        if found is None or not current():
            return  # (edited since: the check of that edit does it again)
        norm = os.path.normpath(doc.path)
        before = self._context.get(norm)
        self._context[norm] = (version, found)
        if found or (before is not None and before[1]):
            self._publish_doc(doc)

    def _includers_work(self, path: str, current: Callable[[], bool]) -> dict[str, list[Diagnostic]] | None:
        """`gscen check` of each workspace file (not open) including `path`: its diagnostics there;
        None once `current()` says the document was edited since (its own check comes first: a
        large includer's check would hold the worker for seconds on every keystroke)."""
        norm = os.path.normpath(path)
        candidates = self._candidates.get(norm)
        if candidates is None:
            candidates = self._candidates[norm] = workspace_candidates(
                self.roots or [os.path.dirname(path)], path
            )
        open_paths = {os.path.normpath(d.path) for d in list(self.docs.values())}
        out: dict[str, list[Diagnostic]] = {}
        for candidate in candidates:
            if os.path.normpath(candidate) in open_paths:
                continue  # (an open includer's own analysis has them)
            if not current():
                return None
            try:
                with bulk_allocation():
                    config, conf_diags, _conf_path = self._configure(candidate)
                    program = resolve_file(candidate, config)
                    if not any(os.path.normpath(p) == norm for p in program.files):
                        continue
                    everything = sort_unique([*check(program), *conf_diags])
            except Exception:
                logger.exception("checking %s (it may include %s) failed", candidate, path)
                continue
            out[candidate] = [d for d in everything if os.path.normpath(d.span.path) == norm]
        return out

    # ---- diagnostics of other files, and the check cache
    def _set_others(self) -> None:
        """Publish the diagnostics of files that are not open but that open documents include."""
        merged: dict[str, list[Diagnostic]] = {}
        for d in self.docs.values():
            if d.analysis is None:
                continue
            for p, ds in d.analysis.other.items():
                merged.setdefault(p, []).extend(ds)
        open_paths = {os.path.normpath(d.path) for d in self.docs.values()}
        for p in set(merged) | set(self._others):
            if os.path.normpath(p) in open_paths:
                continue
            found = tuple(sort_unique(merged.get(p, [])))
            if self._others.get(p, ()) != found:
                self._others[p] = found
                self.publish_other(p, list(found))

    def _cache_options(self) -> list[str]:
        conf = self.options.conf
        return [f"conf={os.path.abspath(conf) if conf else ''}", f"instances={self.options.instances}"]

    def _publish_cached(self, doc: Document) -> None:
        """Diagnostics from `gscen check`'s cache for an unchanged file, before the first check ends."""
        try:
            cached = cache.lookup(doc.path, self._cache_options(), self.options.environment)
        except Exception:  # the cache is only an accelerator
            logger.exception("reading the check cache failed")
            return
        if cached is not None:
            self._publish_early(doc, cached)
            doc.early = True

    def _publish_early(self, doc: Document, found: list[Diagnostic]) -> None:
        """Publish `gscen check`'s diagnostics of the file on disk (the same text) before the
        document's own analysis is ready."""
        root = os.path.normpath(doc.path)
        folder = os.path.dirname(doc.path)
        lines: dict[int, list[Diagnostic]] = {}
        for d in found:
            p = d.span.path if os.path.isabs(d.span.path) else os.path.join(folder, d.span.path)
            if os.path.normpath(p) != root:
                continue
            lines.setdefault(d.span.line, []).append(d)
        for n, ds in lines.items():
            e = doc.entry(n)
            if e is not None:
                e.check_diags = tuple(ds)
        for e in doc.entries:
            if e.check_diags is None:
                e.check_diags = ()
        self.publish(doc)
        for e in doc.entries:
            e.check_diags = None

    def _store_cache(
        self,
        path: str,
        analysis: Analysis,
        diags: dict[int, tuple[Diagnostic, ...]],
        inputs: Mapping[str, tuple[str, ...]],
    ) -> None:
        """Write a full check's result to `gscen check`'s cache, only when `gscen check` would
        compute it: each file the check read from the editor reads from disk, through the
        front end's own reader, as the same lines (not a binary or undecodable file: that is
        SC105 there)."""
        try:
            for p, lines in inputs.items():
                source, read_diags = read_source(p)
                if source is None or read_diags or source.lines != lines:
                    logger.info("not caching the check of %s: %s reads otherwise from disk", path, p)
                    return
            program = analysis.program
            files = set(program.files_read)
            if analysis.conf_path:
                files.add(os.path.abspath(analysis.conf_path))
            else:
                files.add(os.path.abspath(path))
            env = {n: self.options.environment.get(n) for n in program.environment_names}
            everything = [d for ds in diags.values() for d in ds]
            everything += analysis.loose + [d for ds in analysis.other.values() for d in ds]
            cache.store(path, self._cache_options(), files, env, sort_unique(everything))
        except Exception:
            logger.exception("writing the check cache failed")

    def shutdown(self) -> None:
        """The client asked the server to shut down: check nothing more."""
        self.closed = True
        self.executor.shutdown(wait=False, cancel_futures=True)


_T = TypeVar("_T")
# `_in_context` of a document whose includer is being checked again (compared by identity)
_PENDING: list[Diagnostic] = []


def gc_paused(work: Callable[..., _T], *args: Any) -> _T:
    """`work(*args)` with the cyclic garbage collector paused (see `parse.bulk_allocation`)."""
    with bulk_allocation():
        return work(*args)


def disk_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
