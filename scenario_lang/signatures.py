"""Experiment modules read statically: `&module a.b.Class` -> the callbacks it offers, with signatures.

Takes a dotted path and a search path; returns `ModuleInfo` (the class, its file, its callbacks with
parameters, annotations, defaults and docstrings) or the reason it cannot be found. Sources are read
with `ast`; nothing is imported or executed. Base classes are followed through the same module,
`from x import Name` and `import x` statements, located with the same search path.
"""

from __future__ import annotations

import ast
import enum
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .nodes import Span, frozen
from .units import parse_duration, parse_peer_groups, parse_rate, parse_ratio

DECORATOR = "experiment_callback"
BASE_CLASS_NAMES = frozenset({"ExperimentModule"})
# The classes an IPv8 experiment module derives from (Gumby's names, and gscen's own for new code):
# network conditions act on the packets of the IPv8 instance such a module owns.
IPV8_BASE_CLASS_NAMES = frozenset(
    {
        "BaseIPv8Module",
        "IPv8OverlayExperimentModule",
        "IPv8Provider",
        "TriblerModule",
        "IPv8Module",
        "OverlayModule",
    }
)


def _runtime_folder() -> Path | None:
    """The folder installed as `scenario_lang.runtime` (the top-level `runtime/` of a checkout when
    installed in editable mode). Read, never imported."""
    here = Path(__file__).resolve().parent
    for runtime in (here / "runtime", here.parent / "runtime"):  # installed; a source checkout
        if (runtime / "gumby_api").is_dir():
            return runtime
    return None


_RUNTIME = _runtime_folder()
# Where the runtime's Gumby API files lie: searched after everything else, as the runtime's import
# hook answers only what nothing else provides.
GUMBY_API_ROOTS = (str(_RUNTIME / "gumby_api"),) if _RUNTIME is not None else ()
# `scenario_lang.*` in a module means the gscen that runs it (the Gumby API files import from it),
# never a same-named folder on the search path (a gscen source checkout as the current folder).
_GSCEN_ROOT = (str(Path(__file__).resolve().parent.parent),)
# gscen's own files (the package, and the runtime wherever it is installed)
_GSCEN_FILES = tuple(str(p) + os.sep for p in (Path(__file__).resolve().parent, _RUNTIME) if p is not None)


class ParamKind(enum.Enum):
    POSITIONAL = "positional"  # positional or keyword
    POSITIONAL_ONLY = "positional_only"
    KEYWORD_ONLY = "keyword_only"


@frozen
class TypeSpec:
    """A parameter type the checker converts to: a base name, a union, a literal set, or an enum.

    `kind` is one of `str`, `int`, `float`, `bool`, `path`, `none`, `any`, `union`, `literal`, `enum`.
    `options` holds union members; `values` the literal values or enum member names.
    """

    kind: str
    text: str
    options: tuple[TypeSpec, ...]
    values: tuple[str, ...]


ANY = TypeSpec("any", "Any", (), ())
STR = TypeSpec("str", "str", (), ())


@frozen
class Param:
    name: str
    kind: ParamKind
    type: TypeSpec | None
    default: str | None  # the default's source text, None when required
    has_default: bool


@frozen
class CallbackSig:
    """One scenario callback: its scenario name, the method, parameters and where it is defined."""

    name: str
    method: str
    params: tuple[Param, ...]
    varargs: bool
    varkw: bool
    is_async: bool
    doc: str | None
    owner: str  # dotted class path, or "builtin"
    span: Span | None  # the `def` line

    def signature_text(self) -> str:
        parts: list[str] = []
        for p in self.params:
            text = p.name
            if p.type is not None:
                text += f": {p.type.text}"
            if p.has_default:
                text += f" = {p.default}"
            parts.append(text)
        if self.varargs:
            parts.append("*args")
        if self.varkw:
            parts.append("**kwargs")
        prefix = "async " if self.is_async else ""
        return f"{prefix}{self.name}({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """A resolved `&module`: the class, the file it is in, and its callbacks by scenario name."""

    dotted: str
    path: str
    class_name: str
    class_span: Span
    callbacks: tuple[CallbackSig, ...]
    is_base: bool = False
    ancestors: tuple[str, ...] = ()  # the names of every base class, followed as far as found

    @property
    def is_ipv8(self) -> bool:
        """Whether the class derives from one of the IPv8 base classes (or is one)."""
        return any(n in IPV8_BASE_CLASS_NAMES for n in (self.class_name, *self.ancestors))

    # IPv8 overlay classes that launchers in the module's file (and the files it imports from) load,
    # by class name (`@overlay(Class)` on a launcher); None when some launcher's overlay cannot be
    # told without running it.
    overlays: tuple[str, ...] | None = ()


@dataclass(frozen=True, slots=True)
class ModuleMiss:
    """Why a `&module` path did not resolve. `kind`: `not_found`, `is_module`, `no_class`, `unreadable`."""

    kind: str
    detail: str
    classes: tuple[str, ...] = ()
    searched: tuple[str, ...] = ()


def default_search_path(
    scenario_path: str | None,
    workspace_dir: str | None = None,
    cwd: str | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[str, ...]:
    """Where `&module` sources are looked for, in order: the scenario's folder and its parents up to a
    repository root (a folder with `.git` or `pyproject.toml`), the `.conf`'s workspace folder, the
    current folder, `PYTHONPATH`, then the installed packages (`sys.path`)."""
    roots: list[str] = []
    if scenario_path:
        folder = Path(scenario_path).resolve().parent
        for d in (folder, *folder.parents):
            roots.append(str(d))
            if (d / ".git").exists() or (d / "pyproject.toml").exists():
                break
    if workspace_dir:
        roots.append(str(Path(workspace_dir).resolve()))
    roots.append(str(Path(cwd or os.getcwd()).resolve()))
    env = environ if environ is not None else dict(os.environ)
    roots.extend(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    roots.extend(p for p in sys.path if p and os.path.isdir(p))
    seen: set[str] = set()
    unique: list[str] = []
    for r in roots:
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return tuple(unique)


def find_module_file(parts: Sequence[str], search: Iterable[str]) -> tuple[str, int] | None:
    """Walk `parts` from each root: folders while they exist, then `part.py` (or a package's
    `__init__.py`). Returns (file, number of parts consumed) for the longest match of the first root."""
    for root in search:
        current = Path(root)
        found: tuple[str, int] | None = None
        for i, part in enumerate(parts):
            candidate = current / f"{part}.py"
            if candidate.is_file():
                found = (str(candidate), i + 1)
                break
            if (current / part).is_dir():
                current = current / part
                init = current / "__init__.py"
                if init.is_file():
                    found = (str(init), i + 1)
                continue
            break
        if found is not None:
            return found
    return None


class ModuleReader:
    """Reads module sources with `ast` and caches them per file (by modification time and size)."""

    def __init__(self, search: Sequence[str]) -> None:
        self.search = (*search, *(r for r in GUMBY_API_ROOTS if r not in search))
        self._trees: dict[str, tuple[tuple[float, int], ast.Module | None, str]] = {}
        self.files_read: set[str] = set()

    # ---- files
    def tree(self, path: str) -> ast.Module | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_mtime, st.st_size)
        cached = self._trees.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        self.files_read.add(path)
        try:
            with open(path, "rb") as f:
                source = f.read()
            tree: ast.Module | None = ast.parse(source, filename=path)
            error = ""
        except (OSError, SyntaxError, ValueError) as exc:
            tree, error = None, str(exc)
        self._trees[path] = (key, tree, error)
        return tree

    def error(self, path: str) -> str:
        cached = self._trees.get(path)
        return cached[2] if cached else ""

    # ---- resolution
    def _find(self, parts: Sequence[str]) -> tuple[str, int] | None:
        if len(parts) > 2 and parts[0] == "scenario_lang" and parts[1] == "runtime" and _RUNTIME is not None:
            found = find_module_file(parts[2:], [str(_RUNTIME)])
            return (found[0], found[1] + 2) if found is not None else None
        if parts and parts[0] == "scenario_lang":
            return find_module_file(parts, _GSCEN_ROOT)
        return find_module_file(parts, self.search)

    def resolve(self, dotted: str) -> ModuleInfo | ModuleMiss:
        parts = dotted.split(".")
        found = self._find(parts)
        if found is not None and found[0].startswith(GUMBY_API_ROOTS) and len(parts) - found[1] > 1:
            found = None  # a Gumby module gscen does not answer (only its package is there)
        if found is None:
            return ModuleMiss("not_found", dotted, searched=self.search)
        path, used = found
        tree = self.tree(path)
        if tree is None:
            return ModuleMiss("unreadable", f"{path}: {self.error(path)}")
        rest = parts[used:]
        classes = _module_classes(tree)
        if not rest:
            candidates = tuple(
                name for name, cls in classes.items() if self._is_module_class(cls, path, set())
            )
            return ModuleMiss("is_module", path, classes=candidates or tuple(classes))
        if len(rest) > 1:
            return ModuleMiss("no_class", ".".join(rest), classes=tuple(classes))
        located = self._locate_class(rest[0], path, tree, set())
        if located is None:
            return ModuleMiss("no_class", rest[0], classes=tuple(classes))
        cls_path, cls = located
        callbacks = self._callbacks(cls, cls_path, dotted, set())
        span = Span(cls_path, cls.lineno, cls.col_offset + 1, cls.lineno, cls.col_offset + 1 + len(cls.name))
        is_base = cls.name in BASE_CLASS_NAMES and not cls.bases
        ancestors = tuple(self._ancestors(cls, cls_path, set()))
        overlays = self._overlays(cls_path)
        return ModuleInfo(
            dotted, cls_path, cls.name, span, tuple(callbacks.values()), is_base, ancestors, overlays
        )

    def _overlays(self, path: str) -> tuple[str, ...] | None:
        """See `ModuleInfo.overlays`: `path` and the files its `from x import` lines name."""
        tree = self.tree(path)
        if tree is None:
            return None
        files = [(path, tree)]
        for stmt in tree.body:
            if not isinstance(stmt, ast.ImportFrom):
                continue
            # pyipv8's own files define launcher bases, not overlays an experiment isolates
            if stmt.level == 0 and (stmt.module or "").split(".")[0] in ("ipv8", "ipv8_service"):
                continue
            target = self._import_from_file(stmt, path)
            sub = self.tree(target) if target is not None else None
            if target is not None and sub is not None and target != path:
                files.append((target, sub))
        names: list[str] = []
        for file, module in files:
            found = _launched_overlays(module, own=file.startswith(_GSCEN_FILES))
            if found is None:
                return None
            names.extend(n for n in found if n not in names)
        return tuple(names)

    def _locate_class(
        self, name: str, path: str, tree: ast.Module, seen: set[tuple[str, str]]
    ) -> tuple[str, ast.ClassDef] | None:
        if (path, name) in seen:
            return None
        seen.add((path, name))
        classes = _module_classes(tree)
        if name in classes:
            return path, classes[name]
        # `Name = OtherClass`: another name for the same class
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Name)
                and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
            ):
                return self._locate_class(stmt.value.id, path, tree, seen)
        # `from x import Name [as alias]` inside the module
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom):
                for alias in stmt.names:
                    if (alias.asname or alias.name) == name:
                        target = self._import_from_file(stmt, path)
                        if target is not None:
                            sub = self.tree(target)
                            if sub is not None:
                                return self._locate_class(alias.name, target, sub, seen)
        return None

    def _import_from_file(self, stmt: ast.ImportFrom, path: str) -> str | None:
        module = stmt.module or ""
        if stmt.level:
            base = Path(path).parent
            for _ in range(stmt.level - 1):
                base = base.parent
            found = find_module_file(module.split("."), [str(base)]) if module else None
            if found is None:
                init = base / "__init__.py"
                return str(init) if init.is_file() and not module else None
            return found[0] if found[1] == len(module.split(".")) else None
        found = self._find(module.split("."))
        if found is None or found[1] != len(module.split(".")):
            return None
        return found[0]

    def _base_class(
        self, base: ast.expr, path: str, seen: set[tuple[str, str]]
    ) -> tuple[str, ast.ClassDef] | None:
        tree = self.tree(path)
        if tree is None:
            return None
        if isinstance(base, ast.Name):
            return self._locate_class(base.id, path, tree, seen)
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
            # `module.Class` after `import pkg.module as module` or `from pkg import module`
            alias = base.value.id
            for stmt in tree.body:
                target: str | None = None
                if isinstance(stmt, ast.Import):
                    for a in stmt.names:
                        if (a.asname or a.name) == alias:
                            found = self._find(a.name.split("."))
                            target = found[0] if found else None
                elif isinstance(stmt, ast.ImportFrom):
                    for a in stmt.names:
                        if (a.asname or a.name) == alias:
                            mod = f"{stmt.module}.{a.name}" if stmt.module else a.name
                            found = self._find(mod.split("."))
                            target = found[0] if found else None
                if target:
                    sub = self.tree(target)
                    if sub is not None:
                        return self._locate_class(base.attr, target, sub, seen)
        return None

    def _is_module_class(self, cls: ast.ClassDef, path: str, seen: set[tuple[str, str]]) -> bool:
        for base in cls.bases:
            name = _expr_name(base)
            if name.split(".")[-1] in BASE_CLASS_NAMES:
                return True
            located = self._base_class(base, path, seen)
            if located is not None and self._is_module_class(located[1], located[0], seen):
                return True
        return False

    def _ancestors(self, cls: ast.ClassDef, path: str, seen: set[tuple[str, str]]) -> list[str]:
        """The names of `cls`'s bases, theirs in turn, as far as their sources are found (a base
        that is not found still counts by the name it is written with)."""
        names: list[str] = []
        for base in cls.bases:
            name = _expr_name(base).split(".")[-1]
            if name:
                names.append(name)
            located = self._base_class(base, path, seen)
            if located is not None:
                names.extend(self._ancestors(located[1], located[0], seen))
        return names

    def _callbacks(
        self, cls: ast.ClassDef, path: str, owner: str, seen: set[tuple[str, str]]
    ) -> dict[str, CallbackSig]:
        """Callbacks of `cls` by scenario name: bases first (in reverse MRO-ish order), then its own."""
        result: dict[str, CallbackSig] = {}
        for base in reversed(cls.bases):
            located = self._base_class(base, path, seen)
            if located is not None:
                result.update(self._callbacks(located[1], located[0], owner, seen))
        tree = self.tree(path)
        enums = _module_enums(tree) if tree is not None else {}
        for stmt in cls.body:
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            # an undecorated override hides the base's callback of the same method
            for key in [k for k, v in result.items() if v.method == stmt.name]:
                del result[key]
            alias = _callback_alias(stmt)
            if alias is None:
                continue
            sig = _signature(stmt, alias, owner, path, enums)
            result[alias] = sig
        return result


def _expr_name(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return f"{_expr_name(expr.value)}.{expr.attr}"
    if isinstance(expr, ast.Subscript):
        return _expr_name(expr.value)
    return ""


def _launched_overlays(tree: ast.Module, own: bool) -> list[str] | None:
    """Class names in `@overlay(...)` decorators of the module's classes: `@overlay(Class)`,
    `@overlay(function)` when the function is `return Class`, `@overlay("module", "Class")`. None
    when one cannot be told, or (outside gscen's own files) a class defines `get_overlay_class`."""
    functions = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
    names: list[str] = []
    for cls in _module_classes(tree).values():
        if not own and any(
            isinstance(s, ast.FunctionDef) and s.name == "get_overlay_class" for s in cls.body
        ):
            return None
        for dec in cls.decorator_list:
            if not isinstance(dec, ast.Call) or _expr_name(dec.func).split(".")[-1] != "overlay":
                continue
            args = dec.args
            name: str | None = None
            if len(args) == 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str):
                name = args[1].value
            elif len(args) == 1 and isinstance(args[0], ast.Name):
                name = args[0].id
                function = functions.get(name)
                if function is not None:
                    returned = [s.value for s in function.body if isinstance(s, ast.Return)]
                    name = (
                        returned[0].id if len(returned) == 1 and isinstance(returned[0], ast.Name) else None
                    )
            elif len(args) == 1 and isinstance(args[0], ast.Attribute):
                name = args[0].attr
            if name is None:
                return None
            names.append(name)
    return names


def _module_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {s.name: s for s in tree.body if isinstance(s, ast.ClassDef)}


def _module_enums(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    enums: dict[str, tuple[str, ...]] = {}
    for cls in _module_classes(tree).values():
        if any(_expr_name(b).split(".")[-1].endswith("Enum") for b in cls.bases):
            members: list[str] = []
            for s in cls.body:
                if isinstance(s, ast.Assign):
                    members.extend(t.id for t in s.targets if isinstance(t, ast.Name))
                elif isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value:
                    members.append(s.target.id)
            enums[cls.name] = tuple(members)
    return enums


def _callback_alias(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if _expr_name(target).split(".")[-1] != DECORATOR:
            continue
        if isinstance(dec, ast.Call):
            for arg in dec.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    return arg.value
            for kw in dec.keywords:
                if (
                    kw.arg == "name"
                    and isinstance(kw.value, ast.Constant)
                    and isinstance(kw.value.value, str)
                ):
                    return kw.value.value
        return fn.name
    return None


def _signature(
    fn: ast.FunctionDef | ast.AsyncFunctionDef,
    alias: str,
    owner: str,
    path: str,
    enums: dict[str, tuple[str, ...]],
) -> CallbackSig:
    a = fn.args
    params: list[Param] = []
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        if i == 0 and arg.arg in ("self", "cls"):
            continue
        kind = ParamKind.POSITIONAL_ONLY if i < len(a.posonlyargs) else ParamKind.POSITIONAL
        params.append(_param(arg, default, kind, enums))
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(_param(arg, kw_default, ParamKind.KEYWORD_ONLY, enums))
    span = Span(path, fn.lineno, fn.col_offset + 1, fn.lineno, fn.col_offset + 1)
    return CallbackSig(
        alias,
        fn.name,
        tuple(params),
        a.vararg is not None,
        a.kwarg is not None,
        isinstance(fn, ast.AsyncFunctionDef),
        ast.get_docstring(fn),
        owner,
        span,
    )


def _param(
    arg: ast.arg, default: ast.expr | None, kind: ParamKind, enums: dict[str, tuple[str, ...]]
) -> Param:
    type_spec = type_from_annotation(arg.annotation, enums) if arg.annotation is not None else None
    return Param(
        arg.arg,
        kind,
        type_spec,
        ast.unparse(default) if default is not None else None,
        default is not None,
    )


_SIMPLE = {"str": "str", "int": "int", "float": "float", "bool": "bool", "Path": "path", "PathLike": "path"}


def type_from_annotation(expr: ast.expr, enums: dict[str, tuple[str, ...]] | None = None) -> TypeSpec:
    """The TypeSpec an annotation stands for; unknown annotations accept any text (`any`)."""
    enums = enums or {}
    text = ast.unparse(expr)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        try:
            inner = ast.parse(expr.value, mode="eval").body
        except SyntaxError:
            return TypeSpec("any", text, (), ())
        return type_from_annotation(inner, enums)
    if isinstance(expr, ast.Constant) and expr.value is None:
        return TypeSpec("none", "None", (), ())
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        left = type_from_annotation(expr.left, enums)
        right = type_from_annotation(expr.right, enums)
        options = (*_flatten(left), *_flatten(right))
        return TypeSpec("union", text, options, ())
    name = _expr_name(expr).split(".")[-1]
    if isinstance(expr, ast.Subscript):
        inner_expr = expr.slice
        items = list(inner_expr.elts) if isinstance(inner_expr, ast.Tuple) else [inner_expr]
        if name == "Optional":
            return TypeSpec("union", text, (*_flatten(type_from_annotation(items[0], enums)), NONE), ())
        if name == "Union":
            opts: list[TypeSpec] = []
            for it in items:
                opts.extend(_flatten(type_from_annotation(it, enums)))
            return TypeSpec("union", text, tuple(opts), ())
        if name == "Literal":
            values = tuple(
                str(it.value) for it in items if isinstance(it, ast.Constant) and it.value is not None
            )
            return TypeSpec("literal", text, (), values)
        if name == "Annotated" and items:
            return type_from_annotation(items[0], enums)
        return TypeSpec("any", text, (), ())
    if name in _SIMPLE:
        return TypeSpec(_SIMPLE[name], text, (), ())
    if name in enums:
        return TypeSpec("enum", text, (), enums[name])
    return TypeSpec("any", text, (), ())


NONE = TypeSpec("none", "None", (), ())


def _peer_list(text: str) -> str:
    parse_peer_groups(text)
    return text  # kept as written: the runtime reads the groups itself


_UNIT_PARSERS: dict[str, Callable[[str], object]] = {
    "duration": parse_duration,
    "ratio": parse_ratio,
    "rate": parse_rate,
    "peers": _peer_list,
}


def _flatten(t: TypeSpec) -> tuple[TypeSpec, ...]:
    return t.options if t.kind == "union" else (t,)


TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})


def convert(value: str, t: TypeSpec) -> object:
    """Convert a scenario string as the runtime will; raise ValueError when it cannot."""
    kind = t.kind
    if kind in ("str", "any", "path"):
        return value
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        low = value.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise ValueError(value)
    if kind == "none":
        if value == "None":
            return None
        raise ValueError(value)
    if kind == "literal":
        if value in t.values:
            return value
        raise ValueError(value)
    if kind == "enum":
        if value in t.values:
            return value
        raise ValueError(value)
    if kind in UNIT_KINDS:
        return _UNIT_PARSERS[kind](value)
    if kind == "union":
        # `None` selects a None member; otherwise the first member that converts wins
        for option in sorted(t.options, key=lambda o: o.kind != "none"):
            try:
                return convert(value, option)
            except ValueError:
                continue
        raise ValueError(value)
    return value


# --------------------------------------------------------------------------- built-ins


def _builtin(name: str, doc: str, *params: Param, varargs: bool = False) -> CallbackSig:
    return CallbackSig(name, name, params, varargs, False, False, doc, "builtin", None)


def _req(name: str, t: TypeSpec = STR) -> Param:
    return Param(name, ParamKind.POSITIONAL, t, None, False)


# The quantities of the fault and network built-ins (read by `units`; see `convert`).
DURATION = TypeSpec("duration", "duration", (), ())
RATIO = TypeSpec("ratio", "ratio", (), ())
RATE = TypeSpec("rate", "rate", (), ())
PEERS = TypeSpec("peers", "peers", (), ())
UNIT_KINDS = frozenset({"duration", "ratio", "rate", "peers"})

_NEEDS_IPV8 = " Needs an IPv8 module: it acts on the IPv8 packets the peers send."

# Built-ins acting on the network (inside each peer) and on the peer processes (through the process
# guard). A module callback of one of these names is an error (SC310), unlike `echo`, `annotate`,
# `stop` and `set`, which modules may answer too (both are called, as in Gumby).
NETWORK_BUILTINS = frozenset({"latency", "loss", "bandwidth", "partition", "heal", "reset_network"})
PROCESS_BUILTINS = frozenset({"crash", "pause", "resume", "restart"})
FAULT_BUILTINS = NETWORK_BUILTINS | PROCESS_BUILTINS


BUILTINS: dict[str, CallbackSig] = {
    sig.name: sig
    for sig in (
        _builtin("echo", "Log this peer's id and the arguments, joined with spaces.", varargs=True),
        _builtin(
            "annotate",
            "Append `<seconds since start>,<message>` to this peer's annotations.csv "
            "(plotted as a vertical line).",
            _req("message"),
        ),
        _builtin("stop", "Run every module's `stop` callbacks and `on_stop` hooks, then end this peer."),
        _builtin(
            "set",
            "Set a variable: `@! set NAME VALUE` makes `$NAME` expand to VALUE on the following lines.",
            _req("name"),
            _req("value"),
        ),
        _builtin(
            "latency",
            "Delay every IPv8 packet the selected peers send by DELAY, plus a uniform draw within "
            "±JITTER per packet (`@10 latency 50ms jitter=5ms {1-5}`); `0ms` ends it." + _NEEDS_IPV8,
            _req("delay", DURATION),
            Param("jitter", ParamKind.POSITIONAL, DURATION, "0ms", True),
        ),
        _builtin(
            "loss",
            "Drop this share of the IPv8 packets the selected peers send (`5%` or `0.05`), drawn from "
            "the run's seed, the sender, the receiver and the link's packet count." + _NEEDS_IPV8,
            _req("rate", RATIO),
        ),
        _builtin(
            "bandwidth",
            "Limit the rate at which the selected peers send IPv8 packets, in tc's units (`kbit`, "
            "`mbit` bits/s; `kbps`, `mbps` bytes/s); packets queue behind the limit." + _NEEDS_IPV8,
            _req("rate", RATE),
        ),
        _builtin(
            "partition",
            "Split the peers into groups that exchange no packets: `partition 1-5 6-10` (peer lists "
            "without braces; the peers in no group form one more group). The line applies to every "
            "peer and takes no `{...}` selection; `heal` ends it." + _NEEDS_IPV8,
            _req("group", PEERS),
            varargs=True,
        ),
        _builtin("heal", "End the partition: every peer reaches every other again." + _NEEDS_IPV8),
        _builtin(
            "reset_network",
            "Back to a normal network for the selected peers: no latency, loss or bandwidth limit "
            "(a partition lasts until `heal`)." + _NEEDS_IPV8,
        ),
        _builtin(
            "crash",
            "Kill the selected peers (SIGKILL, by the process guard). Their events until a "
            "`restart` do not run, and count as prevented, not failed.",
        ),
        _builtin("pause", "Freeze the selected peers (SIGSTOP, by the process guard) until `resume`."),
        _builtin("resume", "Let paused peers go on (SIGCONT, by the process guard)."),
        _builtin(
            "restart",
            "Start the selected peers again as fresh processes with the same id, keys and output "
            "folder (a running one is killed first): they rejoin the run, run their `@!` events, "
            "then the events planned after this instant.",
        ),
    )
}


@dataclass
class CallbackTable:
    """Every callback name a program can call, with the signatures that answer it."""

    by_name: dict[str, list[CallbackSig]] = field(default_factory=dict)

    def add(self, sig: CallbackSig) -> None:
        self.by_name.setdefault(sig.name, []).append(sig)

    def get(self, name: str) -> list[CallbackSig]:
        return self.by_name.get(name, [])
