"""Hover: a callback's signature, docstring and module; a variable's value on that line; a time
spec in seconds and H:MM:SS; a peer spec expanded; what an `&module` or `&include` resolved to."""

from __future__ import annotations

import math
import os

from lsprotocol import types

from scenario_lang.nodes import (
    Argument,
    Event,
    IncludeDirective,
    ModuleDirective,
    Name,
    Node,
    PeerItem,
    PeerSpec,
    TimeSpec,
    VarRef,
)
from scenario_lang.peers import PeerSet
from scenario_lang.signatures import CallbackSig

from ..analysis import Analysis
from ..context import Context
from ..document import scope_at
from ..handler import Handler
from ..locate import Cursor, cursor, nodes_at


def clock(seconds: float) -> str:
    """`H:MM:SS` (with milliseconds when there is a fraction)."""
    whole = int(seconds)
    frac = seconds - whole
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = f"{h}:{m:02d}:{s:02d}"
    if frac > 1e-9:
        text += f".{round(frac * 1000):03d}"
    return text


def callback_markdown(sigs: list[CallbackSig]) -> str:
    parts: list[str] = []
    for sig in sigs:
        block = [f"```python\n{sig.signature_text()}\n```"]
        if sig.doc:
            block.append(sig.doc)
        if sig.owner == "builtin":
            block.append("*built-in callback*")
        else:
            where = f" ({os.path.basename(sig.span.path)}:{sig.span.line})" if sig.span else ""
            block.append(f"defined in `{sig.owner}`{where}")
        parts.append("\n\n".join(block))
    return "\n\n---\n\n".join(parts)


def variable_markdown(ctx: Context, cur: Cursor, name: str) -> str:
    stmt = cur.stmt
    if isinstance(stmt, Event) and stmt.loop is not None and stmt.loop.var.value == name:
        lp = stmt.loop
        low = lp.start if isinstance(lp.start, int) else f"${lp.start.name}"
        high = lp.stop if isinstance(lp.stop, int) else f"${lp.stop.name}"
        return f"`${name}`: loop variable, {low} to {high}"
    scope = scope_at(cur.doc, cur.line)
    if name in scope:
        var, line = scope[name]
        where = f"line {line}" if line is not None else f"{os.path.basename(var.span.path)}:{var.span.line}"
        return f"`${name}` = `{var.value}`\n\nset on {where}"
    a = cur.doc.analysis
    if a is not None:
        cfg = a.config
        if name in cfg.conf_variables:
            return f"`${name}` = `{cfg.conf_variables[name]}`\n\nfrom {a.conf_path}"
        if name in cfg.run_variables:
            return f"`${name}` = `{cfg.run_variables[name]}`\n\ndefined by `gscen run`"
        if name in cfg.environment:
            return f"`${name}` = `{cfg.environment[name]}`\n\nfrom the environment"
    return f"`${name}` is not defined here"


def time_markdown(t: TimeSpec) -> str:
    if t.seconds is None:
        return "`@!`: immediately, before the timed events"
    if math.isnan(t.seconds) or math.isinf(t.seconds):
        return f"`{t.text}` is not a finite time"
    return f"`{t.text}` = {t.seconds:g} s = {clock(t.seconds)}"


def peers_markdown(a: Analysis | None, event: Event, spec: PeerSpec) -> str:
    instances = a.program.config.instances if a is not None else None
    sets: list[tuple[int | None, PeerSet]] = []
    if a is not None:
        sets = [(c.loop_value, c.peers) for c in a.calls_of(event)]
    if not sets and all(isinstance(i.low, int) and not isinstance(i.high, VarRef) for i in spec.items):
        ranges = [(int(i.low), int(i.high if i.high is not None else i.low)) for i in spec.items]  # type: ignore[arg-type]
        sets = [(None, PeerSet.everyone() if not spec.items else PeerSet.of(ranges, spec.negated))]
    if not sets:
        return "peers: not known until the file checks"
    lines: list[str] = []
    for value, peers in sets[:8]:
        text = peers.describe(instances)
        count = f" ({peers.count(instances)} of {instances})" if instances is not None else ""
        prefix = f"with `{event.loop.var.value}` = {value}: " if value is not None and event.loop else ""
        lines.append(f"{prefix}peers {text}{count}")
    if len(sets) > 8:
        lines.append(f"... and {len(sets) - 8} more loop values")
    return "\n\n".join(lines)


def argument_markdown(a: Analysis | None, event: Event, arg: Argument) -> str | None:
    if a is None:
        return None
    sigs = a.program.callbacks.get(event.callback.value)
    if not sigs:
        return None
    sig = sigs[0]
    if arg.key is not None:
        param = next((p for p in sig.params if p.name == arg.key), None)
    else:
        index = [x for x in event.args if x.key is None].index(arg)
        positional = [p for p in sig.params if p.kind.value != "keyword_only"]
        param = positional[index] if index < len(positional) else None
    if param is None:
        return None
    kind = f": {param.type.text}" if param.type is not None else ""
    default = f" = {param.default}" if param.has_default else ""
    return f"parameter `{param.name}{kind}{default}` of `{sig.name}`"


def describe(ctx: Context, cur: Cursor, node: Node) -> str | None:
    a = cur.doc.analysis
    stmt = cur.stmt
    if isinstance(node, VarRef):
        return variable_markdown(ctx, cur, node.name)
    if isinstance(node, Name) and isinstance(stmt, Event):
        if node is stmt.callback:
            sigs = a.program.callbacks.get(node.value) if a is not None else []
            return callback_markdown(sigs) if sigs else f"`{node.value}`: unknown callback"
        return variable_markdown(ctx, cur, node.value)
    if isinstance(node, TimeSpec):
        return time_markdown(node)
    if isinstance(node, PeerItem | PeerSpec) and isinstance(stmt, Event) and stmt.peers is not None:
        return peers_markdown(a, stmt, stmt.peers)
    if isinstance(node, Argument) and isinstance(stmt, Event):
        return argument_markdown(a, stmt, node)
    if isinstance(node, ModuleDirective) and a is not None:
        for directive, info in a.program.module_directives:
            if directive.target == node.target and info is not None:
                names = ", ".join(f"`{s.name}`" for s in info.callbacks) or "no callbacks"
                return f"class `{info.class_name}` in {info.path}\n\ncallbacks: {names}"
        return f"`{node.target}`: not resolved"
    if isinstance(node, IncludeDirective) and a is not None:
        for inc, target in a.program.includes:
            if inc.target == node.target and inc.span.path == cur.doc.path:
                return f"includes {target}" if target else f"`{node.target}`: not found"
    return None


def handlers(ctx: Context) -> list[Handler]:
    def hover(params: types.HoverParams) -> types.Hover | None:
        cur = cursor(ctx, params.text_document.uri, params.position)
        if cur is None:
            return None
        for node in reversed(nodes_at(cur.stmt, cur.column)):
            text = describe(ctx, cur, node)
            if text:
                return types.Hover(
                    contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                    range=cur.range_of(node, ctx),
                )
        return None

    return [Handler(types.TEXT_DOCUMENT_HOVER, hover)]
