"""The scenario AST: node classes and `Span`, nothing else.

Takes nothing; every other stage builds or reads these values. Nodes are frozen, slotted dataclasses
holding tuples, each with a `span` (1-based line and column, end-exclusive, counted in code points).
`iter_children` is the one generic walk; no stage writes its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def frozen(cls: type[T]) -> type[T]:
    """`@dataclass(frozen=True, slots=True)` with a faster `__init__`.

    The generated frozen `__init__` goes through `object.__setattr__` per field; parsing a 118k-line
    file builds about a million nodes, so this one writes the slots through their descriptors
    instead (about 1.7x faster). Equality, hashing, repr and immutability stay the dataclass's.
    """
    made: Any = dataclass(frozen=True, slots=True)(cls)
    names = [f.name for f in fields(made)]
    scope: dict[str, Any] = {f"_set_{n}": getattr(made, n).__set__ for n in names}
    params = []
    for f in fields(made):
        if f.default is not MISSING:  # immutable defaults only (no default_factory on records)
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(
        f"    _set_{n}(self, {n})" for n in names
    )
    namespace: dict[str, Callable[..., None]] = {}
    exec(source, scope, namespace)
    namespace["__init__"].__qualname__ = f"{made.__qualname__}.__init__"
    made.__init__ = namespace["__init__"]
    return made  # type: ignore[no-any-return]


@frozen
class Span:
    """A region of one source file: 1-based `line`/`column`, end-exclusive, in code points."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int


@frozen
class Node:
    """Base of every AST node."""

    span: Span


@frozen
class VarRef(Node):
    """`$name` (or `${name}`) inside an argument, a peer spec or a loop bound."""

    name: str


@frozen
class Word(Node):
    """One shell-like token: `abc`, `'a b'`, `x$i`, `"$key"`.

    `parts` alternate literal text (quotes and escapes already removed) and variables; `raw` is the
    token as written, quotes included, which the formatter reproduces.
    """

    raw: str
    parts: tuple[str | VarRef, ...]

    @property
    def is_literal(self) -> bool:
        return all(type(p) is str for p in self.parts)

    @property
    def literal(self) -> str:
        """The text with variables left as `$name`: the value when `is_literal`."""
        return "".join(p if type(p) is str else "$" + p.name for p in self.parts)  # type: ignore[union-attr]


@frozen
class Argument(Node):
    """A call argument: positional (`500`) or named (`hops=2`, `key` set)."""

    key: str | None
    key_span: Span | None
    value: Word


@frozen
class TimeSpec(Node):
    """`@H:M:S.f`, `@M:S`, `@S` (the `@` optional) or `@!` (immediate: `seconds` is None).

    `fields` are the numeric fields as written, leftmost first; `seconds` is their total.
    """

    text: str
    fields: tuple[str, ...]
    seconds: float | None

    @property
    def immediate(self) -> bool:
        return self.seconds is None


Bound = int | VarRef
"""A peer number or loop bound: a literal integer or a variable (`$i`)."""


@frozen
class PeerItem(Node):
    """`3` or `3-6` (a range, both ends inclusive) inside a peer spec."""

    low: Bound
    high: Bound | None


@frozen
class PeerSpec(Node):
    """`{1,3-6}` or `{!2}`: the peers an event is for; no items (`{}`) means every peer."""

    negated: bool
    items: tuple[PeerItem, ...]


@frozen
class Name(Node):
    """An identifier as written: a callback name, a loop variable."""

    value: str


@frozen
class LoopClause(Node):
    """`for i in 2 to 20 call`: the event repeats once per value, both bounds inclusive."""

    var: Name
    start: Bound
    stop: Bound


@frozen
class Event(Node):
    """`@0:10 start_queries $key {2-5}`, optionally with a `for ... call` loop before the callback."""

    time: TimeSpec
    loop: LoopClause | None
    callback: Name
    args: tuple[Argument, ...]
    peers: PeerSpec | None


@frozen
class ModuleDirective(Node):
    """`&module experiments.dht.dht_module.DHTModule`: load an experiment module class."""

    target: str
    target_span: Span


@frozen
class IncludeDirective(Node):
    """`&include common.scenario`: insert another scenario file's lines here."""

    target: str
    target_span: Span


@frozen
class Comment(Node):
    """`# text` on a line of its own (there are no trailing comments)."""

    text: str


@frozen
class Blank(Node):
    """An empty or whitespace-only line (kept so the formatter can keep it)."""


Statement = Event | ModuleDirective | IncludeDirective | Comment | Blank


@frozen
class ScenarioFile(Node):
    """A whole `.scenario` file: one statement per line that parsed, in line order."""

    path: str
    statements: tuple[Statement, ...]


def iter_children(node: Node) -> Iterator[Node]:
    """Yield the direct child nodes of `node`, in field order (tuples flattened)."""
    for f in fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    yield item


def walk(node: Node) -> Iterator[Node]:
    """Every node below and including `node`, depth first, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(iter_children(current))))
