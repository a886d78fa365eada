"""Text -> AST: the only module that imports lark.

Takes the text of a `.scenario` file and returns a `ScenarioFile` plus SC1xx diagnostics. The grammar
(`grammar/scenario.lark`) is parsed one physical line at a time (start symbol `line`), so a bad line
never hides another and the language server can re-parse one line (`parse_line`).

Speed: most real lines are simple (`@0:181 send_post 577 {3}`). A line regex assembled at load time
from the grammar's own terminal patterns (TIME, CALLBACK, INT, and the unquoted form of WORD)
recognises those and builds the same nodes through the same constructors; every other line goes
through Lark (LALR, contextual lexer, transformer applied while parsing, no tree). A property test
checks that both paths give the same AST.
"""

from __future__ import annotations

import gc
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostic, diag
from .nodes import (
    Argument,
    Blank,
    Bound,
    Comment,
    Event,
    IncludeDirective,
    LoopClause,
    ModuleDirective,
    Name,
    PeerItem,
    PeerSpec,
    ScenarioFile,
    Span,
    Statement,
    TimeSpec,
    VarRef,
    Word,
)

DIRECTIVES = ("module", "include")

# --------------------------------------------------------------------------- source text


@dataclass(frozen=True, slots=True)
class Source:
    """A scenario file's text split into physical lines (`\\n`, `\\r\\n` and lone `\\r` end a line)."""

    path: str
    text: str
    lines: tuple[str, ...]


_NEWLINE = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> tuple[str, ...]:
    """The physical lines of `text`, without their line ends (a final newline adds no line)."""
    lines = _NEWLINE.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return tuple(lines)


def decode_source(data: bytes, path: str) -> tuple[Source | None, list[Diagnostic]]:
    """Decode file bytes as UTF-8 text; binary or undecodable input is an SC105 error."""
    if b"\x00" in data[:8192] or b"\x00" in data:
        pos = data.index(b"\x00")
        line = data.count(b"\n", 0, pos) + 1
        return None, [diag("SC105", "file is binary (it contains NUL bytes)", Span(path, line, 1, line, 2))]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            diag(
                "SC105",
                f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                Span(path, line, col, line, col + 1),
                suggestion="save the file as UTF-8",
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(path, text, split_lines(text)), []


def read_source(path: str) -> tuple[Source | None, list[Diagnostic]]:
    """Read and decode a scenario file; a missing or unreadable file is an SC105 error."""
    where = Span(path, 1, 1, 1, 1)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        return None, [diag("SC105", "is a folder, not a scenario file", where)]
    except FileNotFoundError:
        return None, [diag("SC105", "file not found", where)]
    except OSError as exc:
        return None, [diag("SC105", f"cannot read file: {exc.strerror or exc}", where)]
    return decode_source(data, path)


# --------------------------------------------------------------------------- node construction

_VAR = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_NAMED = re.compile(r"([A-Za-z0-9_]+)=|(['\"])([A-Za-z0-9_]+)=")


def make_word(raw: str, path: str, line: int, column: int, span: Span | None = None) -> Word:
    """Decode one shell-like token starting at `column`: quotes and escapes removed, `$name` split out.

    Single and double quotes group; a backslash escapes the next character outside single quotes (in
    double quotes only `\\`, `"` and `$`). `$name` is a variable everywhere, single quotes included (as
    in Gumby); `\\$` is a literal dollar.
    """
    if span is None:
        span = Span(path, line, column, line, column + len(raw))
    if "$" not in raw and "\\" not in raw and "'" not in raw and '"' not in raw:
        return Word(span, raw, (raw,))
    parts: list[str | VarRef] = []
    buf: list[str] = []
    i, n = 0, len(raw)
    quote = ""
    while i < n:
        ch = raw[i]
        if ch == "\\" and quote != "'" and i + 1 < n:
            nxt = raw[i + 1]
            if quote == '"' and nxt not in '\\"$':
                buf.append(ch)
                i += 1
                continue
            buf.append(nxt)
            i += 2
            continue
        if ch in "'\"" and (not quote or quote == ch):
            quote = "" if quote else ch
            i += 1
            continue
        if ch == "$":
            m = _VAR.match(raw, i)
            if m:
                if buf:
                    parts.append("".join(buf))
                    buf.clear()
                start = column + i
                parts.append(VarRef(Span(path, line, start, line, column + m.end()), m[1] or m[2]))
                i = m.end()
                continue
        buf.append(ch)
        i += 1
    if buf or not parts:
        parts.append("".join(buf))
    return Word(span, raw, tuple(parts))


def make_argument(raw: str, path: str, line: int, column: int) -> Argument:
    """A positional or named argument; `key=value` (also quoted whole, `'key=value'`) is named."""
    span = Span(path, line, column, line, column + len(raw))
    m = _NAMED.match(raw) if "=" in raw else None
    if m is None:
        return Argument(span, None, None, make_word(raw, path, line, column, span))
    if m[1] is not None:
        key = m[1]
        value_raw = raw[m.end() :]
        value_col = column + m.end()
    else:
        key = m[3]
        value_raw = m[2] + raw[m.end() :]
        value_col = column + m.end() - 1
    key_col = column + m.start(3 if m[1] is None else 1)
    key_span = Span(path, line, key_col, line, key_col + len(key))
    value = make_word(value_raw, path, line, value_col, Span(path, line, value_col, line, column + len(raw)))
    return Argument(span, key, key_span, value)


def time_seconds(fields: tuple[str, ...]) -> float:
    """Total seconds of `[[H:]M:]S` fields (more than three fields: the leftmost ones are ignored)."""
    total = 0.0
    scale = 1.0
    for text in reversed(fields[-3:]):
        total += float(text) * scale
        scale *= 60.0
    return total


_TIME_VALUES: dict[str, tuple[tuple[str, ...], float | None]] = {}


def make_time(text: str, path: str, line: int, column: int) -> TimeSpec:
    span = Span(path, line, column, line, column + len(text))
    known = _TIME_VALUES.get(text)
    if known is None:
        if text == "@!":
            known = ((), None)
        else:
            fields = tuple(text.removeprefix("@").split(":"))
            known = (fields, _seconds(fields))
        if len(_TIME_VALUES) < 100_000:
            _TIME_VALUES[text] = known
    return TimeSpec(span, text, known[0], known[1])


def _seconds(fields: tuple[str, ...]) -> float:
    try:
        return time_seconds(fields)
    except (ValueError, OverflowError):
        return math.nan


def make_bound(text: str, path: str, line: int, column: int) -> Bound:
    if text.startswith("$"):
        name = text[2:-1] if text.startswith("${") else text[1:]
        return VarRef(Span(path, line, column, line, column + len(text)), name)
    return int(text)


# --------------------------------------------------------------------------- the Lark path


class _LineBuilder(Transformer[Token, Any]):
    """Builds nodes while the LALR parser reduces (no tree); `path`, `lineno`, `text` are per line."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.path = ""
        self.lineno = 0
        self.text = ""
        self.diagnostics: list[Diagnostic] = []

    def _span(self, start: int, end: int) -> Span:
        return Span(self.path, self.lineno, start, self.lineno, end)

    def _tok_span(self, tok: Token) -> Span:
        return self._span(tok.column or 1, tok.end_column or 1)

    def line(self, children: list[Any]) -> Any:
        return children[0]

    def blank(self, children: list[Any]) -> Blank:
        return Blank(self._span(1, len(self.text) + 1))

    def comment(self, children: list[Token]) -> Comment:
        tok = children[0]
        node = Comment(self._tok_span(tok), str(tok))
        m = re.match(r"#\s*(include|module)\b", node.text)
        if m:
            self.diagnostics.append(
                diag(
                    "SC112",
                    f"`#{m[1]}` is a comment: this line does nothing",
                    node.span,
                    notes=("the April 2017 `#include`/`#module` spelling was never a directive in Gumby",),
                    suggestion=f"write `&{m[1]}` to make it a directive, or keep it as a comment",
                )
            )
        return node

    def timed(self, children: list[Token]) -> TimeSpec:
        tok = children[0]
        return make_time(str(tok), self.path, self.lineno, tok.column or 1)

    immediate = timed

    def loop_int(self, children: list[Token]) -> tuple[Bound, Span]:
        tok = children[0]
        return int(tok), self._tok_span(tok)

    def loop_var(self, children: list[Token]) -> tuple[Bound, Span]:
        tok = children[0]
        return make_bound(str(tok), self.path, self.lineno, tok.column or 1), self._tok_span(tok)

    def loop(self, children: list[Any]) -> LoopClause:
        for_tok, name_tok, _in, (start, _s), _to, (stop, _e), call_tok = children
        span = self._span(for_tok.column, call_tok.end_column)
        return LoopClause(span, Name(self._tok_span(name_tok), str(name_tok)), start, stop)

    def word(self, children: list[Token]) -> Argument:
        tok = children[0]
        return make_argument(str(tok), self.path, self.lineno, tok.column or 1)

    def peer_int(self, children: list[Token]) -> tuple[Bound, Span]:
        return self.loop_int(children)

    def peer_var(self, children: list[Token]) -> tuple[Bound, Span]:
        return self.loop_var(children)

    def peeritem(self, children: list[tuple[Bound, Span]]) -> PeerItem:
        (low, low_span) = children[0]
        if len(children) == 1:
            return PeerItem(low_span, low, None)
        (high, high_span) = children[1]
        return PeerItem(self._span(low_span.column, high_span.end_column), low, high)

    def peerspec(self, children: list[Any]) -> PeerSpec:
        open_tok, close_tok = children[0], children[-1]
        negated = any(isinstance(c, Token) and c.type == "NOT" for c in children)
        items = tuple(c for c in children if isinstance(c, PeerItem))
        return PeerSpec(self._span(open_tok.column, close_tok.end_column), negated, items)

    def event(self, children: list[Any]) -> Event:
        time = children[0]
        loop = None
        rest = children[1:]
        if rest and isinstance(rest[0], LoopClause):
            loop = rest[0]
            rest = rest[1:]
        cb_tok = rest[0]
        rest = rest[1:]
        peers = None
        if rest and isinstance(rest[-1], PeerSpec):
            peers = rest[-1]
            rest = rest[:-1]
        last = peers or (rest[-1] if rest else None)
        end = last.span.end_column if last is not None else cb_tok.end_column
        return Event(
            self._span(time.span.column, end),
            time,
            loop,
            Name(self._tok_span(cb_tok), str(cb_tok)),
            tuple(rest),
            peers,
        )

    def directive(self, children: list[Token]) -> Statement | None:
        name_tok = children[0]
        name = str(name_tok)[1:]
        arg = children[1] if len(children) > 1 else None
        end = (arg or name_tok).end_column or 1
        span = self._span(name_tok.column or 1, end)
        if name not in DIRECTIVES:
            close = get_close_matches(name, DIRECTIVES, n=1, cutoff=0.5)
            self.diagnostics.append(
                diag(
                    "SC103",
                    f"unknown directive `&{name}`",
                    self._tok_span(name_tok),
                    notes=("gscen knows `&module` and `&include`",),
                    suggestion=f"did you mean `&{close[0]}`?" if close else None,
                    replacement=f"&{close[0]}" if close else None,
                )
            )
            return None
        if arg is None:
            self.diagnostics.append(
                diag(
                    "SC104",
                    f"`&{name}` needs an argument",
                    span,
                    suggestion=(
                        "write `&module package.module.Class`"
                        if name == "module"
                        else "write `&include other.scenario`"
                    ),
                )
            )
            return None
        target_span = self._tok_span(arg)
        if name == "module":
            return ModuleDirective(span, str(arg), target_span)
        return IncludeDirective(span, str(arg), target_span)


def _load_lark(transformer: _LineBuilder | None) -> Lark:
    return Lark.open_from_package(
        "scenario_lang.grammar",
        "scenario.lark",
        start="line",
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=False,
        transformer=transformer,
        cache=True,
    )


class _ThreadParser(threading.local):
    """One Lark parser (with its own builder) per thread: the builder carries per-line state."""

    def __init__(self) -> None:
        self.builder = _LineBuilder()
        self.lark = _load_lark(self.builder)


_parsers = _ThreadParser()

# --------------------------------------------------------------------------- the fast path


def _fast_line_pattern(lark: Lark) -> re.Pattern[str]:
    """The common event line, assembled from the grammar's own terminal patterns."""

    def term(name: str) -> str:
        return str(lark.get_terminal(name).pattern.to_regexp())

    # WORD's first alternative, without braces: a word with no quotes, escapes or braces.
    plain_word = r"[^\s'\"\\{}]+"
    integer = term("INT")
    item = rf"{integer}(?:-{integer})?"
    keyword = re.escape(lark.get_terminal("FOR").pattern.value)
    return re.compile(
        rf"(?P<time>{term('TIME')}|{term('IMMEDIATE')}) (?!{keyword}(?![A-Za-z0-9_.\-]))"
        rf"(?P<cb>{term('CALLBACK')})(?P<args>(?: +{plain_word})*)"
        rf"(?: *(?P<peers>\{{{item}(?:,{item})*\}}))? *"
    )


_FAST: re.Pattern[str] = _fast_line_pattern(_parsers.lark)
_PLAIN_WORD = re.compile(r"[^\s'\"\\{}]+")
_PEER_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def _fast_event(
    m: re.Match[str],
    path: str,
    line: int,
    _span: type[Span] = Span,
    _arg: type[Argument] = Argument,
    _word: type[Word] = Word,
) -> Event:
    """Build the nodes of a line the fast pattern matched (same nodes as the Lark path)."""
    time_text, cb, args_text, peers_text = m.group("time", "cb", "args", "peers")
    time = make_time(time_text, path, line, 1)
    cb_start, cb_end = m.span("cb")
    callback = Name(_span(path, line, cb_start + 1, line, cb_end + 1), cb)
    end = cb_end + 1
    args: tuple[Argument, ...] = ()
    if args_text:
        column = m.start("args") + 1
        made = []
        for raw in args_text.split(" "):
            if not raw:
                column += 1
                continue
            stop = column + len(raw)
            if "=" in raw or "$" in raw:
                made.append(make_argument(raw, path, line, column))
            else:
                span = _span(path, line, column, line, stop)
                made.append(_arg(span, None, None, _word(span, raw, (raw,))))
            column = stop + 1
        args = tuple(made)
        end = args[-1].span.end_column
    peers = None
    if peers_text is not None:
        start, stop = m.span("peers")
        base = start + 1
        items = []
        for it in _PEER_ITEM.finditer(peers_text):
            low, high = it.group(1, 2)
            items.append(
                PeerItem(
                    _span(path, line, base + it.start(), line, base + it.end()),
                    int(low),
                    None if high is None else int(high),
                )
            )
        end = stop + 1
        peers = PeerSpec(_span(path, line, start + 1, line, end), False, tuple(items))
    return Event(_span(path, line, 1, line, end), time, None, callback, args, peers)


# --------------------------------------------------------------------------- errors

_EXPECTED_WORDS = {
    "TIME": "a time like `@0:10`",
    "IMMEDIATE": "`@!`",
    "CALLBACK": "a callback name",
    "NAME": "a loop variable name",
    "FOR": "`for`",
    "IN": "`in`",
    "TO": "`to`",
    "CALL": "`call`",
    "WORD": "an argument",
    "PEER_OPEN": "a peer spec `{...}`",
    "PEER_CLOSE": "`}`",
    "NOT": "`!`",
    "INT": "a peer number",
    "SIGNED_INT": "an integer",
    "VAR": "a `$variable`",
    "DIRECTIVE": "a directive",
    "DIRECTIVE_ARG": "the directive's argument",
    "COMMENT": "a comment",
    "COMMA": "`,`",
    "MINUS": "`-`",
    "$END": "the end of the line",
}
_LOOP_TERMINALS = {"NAME", "IN", "TO", "CALL", "SIGNED_INT"}
_PEER_TERMINALS = {"INT", "NOT", "PEER_CLOSE", "COMMA", "MINUS"}


def _describe(expected: set[str]) -> str:
    words = sorted({_EXPECTED_WORDS.get(t, t) for t in expected if t in _EXPECTED_WORDS})
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(exc: UnexpectedInput, text: str, path: str, line: int) -> Diagnostic:
    column = getattr(exc, "column", -1)
    if isinstance(exc, UnexpectedEOF) or column is None or column < 1:
        column = len(text.rstrip()) + 1
    expected: set[str] = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    found = ""
    end = column + 1
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        found = str(exc.token)
        end = column + max(1, len(found))
    elif isinstance(exc, UnexpectedCharacters):
        rest = text[column - 1 :]
        m = re.match(r"\S+", rest)
        found = m[0] if m else rest[:1]
        end = column + max(1, len(found))
    span = Span(path, line, column, line, end)
    what = f"`{found}`" if found else "the end of the line"
    if found[:1] in ("'", '"'):
        return diag(
            "SC102",
            f"unterminated {'single' if found[0] == chr(39) else 'double'} quote",
            Span(path, line, column, line, len(text) + 1),
            suggestion=f"close it with {found[0]} or escape it as \\{found[0]}",
        )
    if expected & _LOOP_TERMINALS or (expected == {"VAR"} and "for" in text):
        return diag(
            "SC106",
            f"malformed `for` loop: expected {_describe(expected)}, found {what}",
            span,
            notes=("a loop reads `@0:10 for i in 1 to 20 call callback args... {peers}`",),
        )
    if expected & _PEER_TERMINALS or "PEER_CLOSE" in expected:
        return diag(
            "SC107",
            f"invalid peer spec: expected {_describe(expected)}, found {what}",
            span,
            notes=("a peer spec reads `{1,3-6}`, `{!2}` or `{$i}`",),
        )
    if expected & {"TIME", "IMMEDIATE"} or (column == 1 and found[:1] in "@0123456789"):
        return diag(
            "SC108",
            f"invalid time spec {what}",
            span,
            notes=("a time reads `@S`, `@M:S`, `@H:M:S` (seconds may have a fraction) or `@!`",),
        )
    suggestion = None
    replacement = None
    if "CALLBACK" in expected and re.fullmatch(r"[0-9.]+", found or "-"):
        m = re.match(r"\s*(@?)([0-9.]+)\s", text)
        if m and ":" not in m[2]:
            suggestion = f"did you mean `{m[1]}{m[2]}:{found}`, a time?"
    return diag(
        "SC101",
        f"expected {_describe(expected)}, found {what}",
        span,
        suggestion=suggestion,
        replacement=replacement,
    )


def _whitespace_lints(stmt: Statement, text: str, path: str, line: int) -> list[Diagnostic]:
    """Warnings where Gumby, which splits on single spaces and looks at column 0, reads differently."""
    out: list[Diagnostic] = []
    if isinstance(stmt, Comment | ModuleDirective | IncludeDirective) and stmt.span.column > 1:
        kind = "comment" if isinstance(stmt, Comment) else "directive"
        out.append(
            diag(
                "SC111",
                f"indented {kind}: Gumby only recognises it in column 1",
                Span(path, line, 1, line, stmt.span.column),
                suggestion="remove the indentation (`gscen fmt` does)",
                replacement="",
            )
        )
    elif isinstance(stmt, Event):
        after_time = stmt.loop.span if stmt.loop is not None else stmt.callback.span
        gap = text[stmt.time.span.end_column - 1 : after_time.column - 1]
        if gap != " ":
            what = "a tab" if "\t" in gap else "several spaces"
            out.append(
                diag(
                    "SC110",
                    f"{what} after the time: Gumby splits on single spaces and would not find the callback",
                    Span(path, line, stmt.time.span.end_column, line, after_time.column),
                    suggestion="use one space (`gscen fmt` does)",
                    replacement=" ",
                )
            )
    return out


# --------------------------------------------------------------------------- entry points


def parse_line(text: str, path: str, line: int) -> tuple[Statement | None, list[Diagnostic]]:
    """Parse one physical line (without its line end) into a statement and its diagnostics."""
    m = _FAST.fullmatch(text)
    if m is not None:
        return _fast_event(m, path, line), []
    return parse_with_lark_only(text, path, line)


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic nodes.

    Every allocation burst of nodes otherwise triggers generation scans over the growing tree (about
    40% of the time spent parsing a 118k-line file); nodes hold no reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse(text: str, path: str = "<input>") -> tuple[ScenarioFile, list[Diagnostic]]:
    """Parse a whole scenario text; every line is parsed, whatever its neighbours hold."""
    return parse_lines(split_lines(text), path)


def parse_lines(
    lines: Sequence[str],
    path: str,
    line_parser: Callable[[str, str, int], tuple[Statement | None, list[Diagnostic]]] = parse_line,
    first_line: int = 1,
) -> tuple[ScenarioFile, list[Diagnostic]]:
    """Parse a file's lines (or a run of them starting at `first_line`)."""
    statements: list[Statement] = []
    diagnostics: list[Diagnostic] = []
    fast = _FAST.fullmatch
    with bulk_allocation():
        for number, text in enumerate(lines, first_line):
            m = fast(text)
            if m is not None:
                statements.append(_fast_event(m, path, number))
                continue
            stmt, diags = line_parser(text, path, number)
            if stmt is not None:
                statements.append(stmt)
            diagnostics.extend(diags)
    last = first_line + max(len(lines), 1) - 1
    span = Span(path, first_line, 1, last, len(lines[-1]) + 1 if lines else 1)
    return ScenarioFile(span, path, tuple(statements)), diagnostics


def parse_with_lark_only(text: str, path: str, line: int) -> tuple[Statement | None, list[Diagnostic]]:
    """Parse one line through Lark, bypassing the fast path (for tests of their agreement)."""
    parser = _parsers
    builder = parser.builder
    builder.path, builder.lineno, builder.text = path, line, text
    builder.diagnostics = []
    try:
        stmt: Statement | None = parser.lark.parse(text)  # type: ignore[assignment]
    except UnexpectedInput as exc:
        return None, [_syntax_error(exc, text, path, line)]
    diagnostics = builder.diagnostics
    if stmt is not None:
        diagnostics.extend(_whitespace_lints(stmt, text, path, line))
    return stmt, diagnostics


def fast_path_matches(text: str) -> bool:
    """Whether the fast path handles this line (for tests and benchmarks)."""
    return _FAST.fullmatch(text) is not None
