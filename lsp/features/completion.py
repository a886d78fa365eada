"""Completion: callbacks of the loaded modules (a snippet of their parameters), directives after
`&`, module paths after `&module`, scenario files after `&include`, variables in scope after `$`,
named arguments of the line's callback, and peer numbers inside `{}` when the peer count is known.

The context comes from the line's statement when it parses, and else from the characters before
the cursor (a line being typed rarely parses).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lsprotocol import types

from scenario_lang.nodes import Event
from scenario_lang.signatures import CallbackSig, ParamKind

from ..context import Context
from ..document import scope_at
from ..handler import Handler
from ..locate import Cursor, cursor, module_classes

TRIGGERS = ["&", "$", "{", ",", " ", "-"]
DIRECTIVES = (("module", "load an experiment module class"), ("include", "insert another scenario file"))
MAX_PEERS = 10_000
MAX_MODULE_FILES = 300
MAX_MODULE_DEPTH = 3  # package levels below the scenario's folder

_IDENT_TAIL = re.compile(r"[A-Za-z0-9_]*\Z")
_VAR_TAIL = re.compile(r"\$\{?([A-Za-z0-9_]*)\Z")
_TIME = r"\s*@?(?:!|[0-9.:]+)"
_CALLBACK_SLOT = re.compile(rf"{_TIME}\s+(?:for\s+\w+\s+in\s+\S+\s+to\s+\S+\s+call\s+)?([A-Za-z0-9_]*)\Z")
_AFTER_CALLBACK = re.compile(rf"{_TIME}\s+(?:for\s+\w+\s+in\s+\S+\s+to\s+\S+\s+call\s+)?([A-Za-z_]\w*)\s")
_OPEN_BRACE = re.compile(r"\{[^{}]*\Z")


def snippet(sig: CallbackSig) -> str:
    parts = [sig.name]
    n = 1
    for p in sig.params:
        if p.has_default:
            continue
        if p.kind is ParamKind.KEYWORD_ONLY:
            parts.append(f"{p.name}=${{{n}:{p.name}}}")
        else:
            parts.append(f"${{{n}:{p.name}}}")
        n += 1
    return " ".join(parts)


def _replace(cur: Cursor, ctx: Context, start_column: int) -> types.Range:
    text = cur.entry.text
    codec = ctx.codec
    return types.Range(
        start=codec.position(cur.line - 1, text, start_column - 1),
        end=codec.position(cur.line - 1, text, cur.column - 1),
    )


def callback_items(ctx: Context, cur: Cursor, start_column: int) -> list[types.CompletionItem]:
    a = cur.doc.analysis
    if a is None:
        return []
    rng = _replace(cur, ctx, start_column)
    items = []
    for name, sigs in sorted(a.program.callbacks.by_name.items()):
        sig = sigs[0]
        doc = sig.doc or ""
        owner = "built-in" if sig.owner == "builtin" else sig.owner
        items.append(
            types.CompletionItem(
                label=name,
                kind=types.CompletionItemKind.Function,
                detail=sig.signature_text(),
                documentation=types.MarkupContent(
                    kind=types.MarkupKind.Markdown, value=f"{doc}\n\n*{owner}*".strip()
                ),
                insert_text_format=types.InsertTextFormat.Snippet,
                text_edit=types.TextEdit(range=rng, new_text=snippet(sig)),
                filter_text=name,
                sort_text=("1" if sig.owner == "builtin" else "0") + name,
            )
        )
    return items


def variable_items(ctx: Context, cur: Cursor, start_column: int) -> list[types.CompletionItem]:
    rng = _replace(cur, ctx, start_column)
    found: dict[str, str] = {}
    stmt = cur.stmt
    if isinstance(stmt, Event) and stmt.loop is not None:
        found[stmt.loop.var.value] = "loop variable"
    for name, (var, _line) in scope_at(cur.doc, cur.line).items():
        found.setdefault(name, f"= {var.value}")
    a = cur.doc.analysis
    if a is not None:
        for name, value in a.config.conf_variables.items():
            found.setdefault(name, f"= {value} (.conf)")
        for name, value in a.config.run_variables.items():
            found.setdefault(name, f"= {value} (gscen run)")
    return [
        types.CompletionItem(
            label=name,
            kind=types.CompletionItemKind.Variable,
            detail=detail,
            text_edit=types.TextEdit(range=rng, new_text=name),
        )
        for name, detail in found.items()
    ]


def directive_items(ctx: Context, cur: Cursor, start_column: int) -> list[types.CompletionItem]:
    rng = _replace(cur, ctx, start_column)
    return [
        types.CompletionItem(
            label=f"&{name}",
            kind=types.CompletionItemKind.Keyword,
            detail=detail,
            text_edit=types.TextEdit(range=rng, new_text=f"&{name} "),
            filter_text=f"&{name}",
        )
        for name, detail in DIRECTIVES
    ]


def module_items(ctx: Context, cur: Cursor, start_column: int) -> list[types.CompletionItem]:
    """`package.module.Class` for every experiment module class below the scenario's folder."""
    a = cur.doc.analysis
    if a is None:
        return []
    reader = ctx.store.feature_reader(a.config)
    folder = Path(cur.doc.path).parent
    rng = _replace(cur, ctx, start_column)
    items: list[types.CompletionItem] = []
    seen = 0
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        deeper = len(rel.parts) < MAX_MODULE_DEPTH
        dirs[:] = sorted(
            d for d in dirs if deeper and not d.startswith((".", "__")) and d not in ("node_modules", "venv")
        )
        for name in sorted(files):
            if not name.endswith(".py") or name.startswith("__"):
                continue
            seen += 1
            if seen > MAX_MODULE_FILES:
                return items
            dotted = ".".join([*rel.parts, name[:-3]])
            for info in module_classes(reader, dotted):
                callbacks = ", ".join(s.name for s in info.callbacks)
                items.append(
                    types.CompletionItem(
                        label=info.dotted,
                        kind=types.CompletionItemKind.Module,
                        detail=f"callbacks: {callbacks}" if callbacks else "no callbacks",
                        text_edit=types.TextEdit(range=rng, new_text=info.dotted),
                    )
                )
    return items


def include_items(ctx: Context, cur: Cursor, start_column: int) -> list[types.CompletionItem]:
    folder = Path(cur.doc.path).parent
    rng = _replace(cur, ctx, start_column)
    items = []
    for p in sorted(folder.rglob("*.scenario"))[:500]:
        if os.path.normpath(p) == os.path.normpath(cur.doc.path):
            continue
        rel = str(p.relative_to(folder))
        items.append(
            types.CompletionItem(
                label=rel,
                kind=types.CompletionItemKind.File,
                text_edit=types.TextEdit(range=rng, new_text=rel),
            )
        )
    return items


def argument_items(ctx: Context, cur: Cursor, callback: str, start_column: int) -> list[types.CompletionItem]:
    a = cur.doc.analysis
    if a is None:
        return []
    sigs = a.program.callbacks.get(callback)
    used: set[str] = set()
    if isinstance(cur.stmt, Event):
        used = {arg.key for arg in cur.stmt.args if arg.key}
    rng = _replace(cur, ctx, start_column)
    items = []
    for sig in sigs:
        for p in sig.params:
            if p.kind is ParamKind.POSITIONAL_ONLY or p.name in used:
                continue
            kind = f": {p.type.text}" if p.type is not None else ""
            default = f" = {p.default}" if p.has_default else ""
            items.append(
                types.CompletionItem(
                    label=f"{p.name}=",
                    kind=types.CompletionItemKind.Property,
                    detail=f"{p.name}{kind}{default}",
                    text_edit=types.TextEdit(range=rng, new_text=f"{p.name}="),
                    filter_text=p.name,
                )
            )
    return items


def peer_items(ctx: Context, cur: Cursor, start_column: int) -> list[types.CompletionItem]:
    a = cur.doc.analysis
    instances = a.program.config.instances if a is not None else None
    if not instances:
        return []
    rng = _replace(cur, ctx, start_column)
    return [
        types.CompletionItem(
            label=str(n),
            kind=types.CompletionItemKind.Value,
            sort_text=f"{n:08d}",
            text_edit=types.TextEdit(range=rng, new_text=str(n)),
        )
        for n in range(1, min(instances, MAX_PEERS) + 1)
    ]


def complete(ctx: Context, cur: Cursor) -> list[types.CompletionItem]:
    prefix = cur.entry.text[: cur.column - 1]
    word_start = cur.column - len(_IDENT_TAIL.search(prefix)[0])  # type: ignore[index]
    stripped = prefix.lstrip()
    if stripped.startswith("&"):
        if " " not in stripped:
            return directive_items(ctx, cur, cur.column - len(stripped))
        head, _, rest = stripped.partition(" ")
        start = cur.column - len(rest.lstrip())
        if head == "&module":
            return module_items(ctx, cur, start)
        if head == "&include":
            return include_items(ctx, cur, start)
        return []
    if stripped.startswith("#"):
        return []
    var = _VAR_TAIL.search(prefix)
    if var is not None:
        return variable_items(ctx, cur, cur.column - len(var[1]))
    if _OPEN_BRACE.search(prefix) and _CALLBACK_SLOT.match(prefix) is None:
        number_start = cur.column - len(re.search(r"[0-9]*\Z", prefix)[0])  # type: ignore[index]
        return peer_items(ctx, cur, number_start)
    slot = _CALLBACK_SLOT.match(prefix)
    if slot is not None:
        return callback_items(ctx, cur, word_start)
    after = _AFTER_CALLBACK.match(prefix)
    if after is not None and "=" not in prefix[prefix.rfind(" ") + 1 :]:
        return argument_items(ctx, cur, after[1], word_start)
    return []


def handlers(ctx: Context) -> list[Handler]:
    def completion(params: types.CompletionParams) -> types.CompletionList | None:
        cur = cursor(ctx, params.text_document.uri, params.position)
        if cur is None:
            return None
        items = complete(ctx, cur)
        return types.CompletionList(is_incomplete=False, items=items)

    return [
        Handler(
            types.TEXT_DOCUMENT_COMPLETION,
            completion,
            types.CompletionOptions(trigger_characters=TRIGGERS),
        )
    ]
