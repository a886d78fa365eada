"""Experiment modules for a peer: the plan's `&module` classes -> imported, instantiated, registered targets.

Takes the `ModuleSpec`s of a plan (dotted name as written, the file the checker resolved, the class
name) and a `PeerContext`; returns the module instances and a `CallbackRegistry`: scenario name ->
the `Target`s that answer it, in registration order (the built-ins first, then the modules in
`&module` order, each module's methods by sorted attribute name, as Gumby's `register` walks `dir()`).

Gumby's module names (`gumby.experiment`, `gumby.modules.base_ipv8_module`, ...) are importable
while modules load (`gumby_api.install`) when no real Gumby provides them. Every instance is also
listed, in order, in the context's `experiment_modules` (Gumby's list; IPv8 overlay modules find
their provider there).

Importing: a module is imported under its package-qualified name, so relative imports inside it work.
The name is the `&module` path without its class when that path leads to the resolved file (the file
`experiments/dht/dht_module.py` for `&module experiments.dht.dht_module.DHTModule`), else the file's own
name from its enclosing packages (a class re-exported from another file). The folder above the top
package goes on `sys.path` (`module_roots`; the peer puts them after EXPERIMENT_DIR, before the
installed packages; the loader appends any still missing). If the name imports a different file than
the checker resolved (a same-named module earlier on the path), the resolved file is loaded by path
instead, and a warning says so. Every failure is a
`ModuleLoadError` naming the `&module` line's class and the reason, never a bare traceback.

Arguments per target: the plan holds each event's arguments converted for the annotations of the
first target the checker saw (JSON values: str, int, float, bool, None; enum members and paths stay
names). `Target.arguments.convert` turns them into what this target's own annotations ask for (`int`, `float`,
`bool`, `str`, `Path`, an `Enum` by member name (or value), `Literal`, `Optional`/unions, `Annotated`);
unannotated parameters take text; other types get the plan value unchanged. A value that does not fit
raises `ArgumentError`. When the plan converted a value so that it no longer reads as written (`yes`
-> True), the event carries the written text and every target converts from that (the scheduler
picks it), so a `str` target still gets "yes".
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from scenario_lang.authoring import CALLBACK_ATTRIBUTE
from scenario_lang.plan_file import ModuleSpec

from .gumby_api import install as install_gumby_api
from .gumby_module import loaded_modules

log = logging.getLogger(__name__)

Converter = Callable[[Any], Any]
# The attribute a real Gumby's `experiment_callback` sets (gscen's own is CALLBACK_ATTRIBUTE).
GUMBY_CALLBACK_ATTRIBUTE = "register_as_callback"


class ModuleLoadError(Exception):
    """A `&module` class could not be imported or instantiated."""


class ArgumentError(ValueError):
    """A plan value does not fit the annotation of the target's parameter."""


# --------------------------------------------------------------------------- conversion
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


def _identity(value: Any) -> Any:
    return value


def _to_str(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)


def _to_int(value: Any) -> Any:
    if type(value) is int:
        return value
    if isinstance(value, str):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ArgumentError(f"{value!r} is not an int")


def _to_float(value: Any) -> Any:
    if type(value) is float:
        return value
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    raise ArgumentError(f"{value!r} is not a float")


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise ArgumentError(f"{value!r} is not a bool")


def _to_none(value: Any) -> Any:
    if value is None or value == "None":
        return None
    raise ArgumentError(f"{value!r} is not None")


def _enum_converter(cls: type[enum.Enum]) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in cls.__members__:
            return cls.__members__[value]
        try:
            return cls(value)
        except ValueError:
            pass
        raise ArgumentError(f"{value!r} is not a member of {cls.__name__}")

    return convert


def _path_converter(cls: type[PurePath]) -> Converter:
    def convert(value: Any) -> Any:
        return value if isinstance(value, cls) else cls(str(value))

    return convert


def _literal_converter(choices: tuple[Any, ...]) -> Converter:
    def convert(value: Any) -> Any:
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return choice
        for choice in choices:
            if str(choice) == str(value):
                return choice
        raise ArgumentError(f"{value!r} is not one of {', '.join(map(repr, choices))}")

    return convert


def _union_converter(options: Sequence[Converter], has_none: bool) -> Converter:
    def convert(value: Any) -> Any:
        if has_none and (value is None or value == "None"):
            return None
        for option in options:
            try:
                return option(value)
            except (ArgumentError, ValueError, TypeError, KeyError):
                continue
        raise ArgumentError(f"{value!r} fits none of the union's types")

    return convert


def converter_for(annotation: Any) -> Converter:
    """The conversion a runtime annotation asks for (identity for unknown or missing annotations)."""
    if annotation is inspect.Parameter.empty:
        return _to_str  # unannotated parameters take the text, as the checker assumes
    if annotation is Any or annotation is None:
        return _to_none if annotation is None else _identity
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return converter_for(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return _literal_converter(typing.get_args(annotation))
    if origin is typing.Union or origin is types.UnionType:
        members = typing.get_args(annotation)
        has_none = type(None) in members
        return _union_converter([converter_for(m) for m in members if m is not type(None)], has_none)
    if annotation is type(None):
        return _to_none
    if not isinstance(annotation, type):
        return _identity
    if issubclass(annotation, bool):
        return _to_bool
    if issubclass(annotation, enum.Enum):
        return _enum_converter(annotation)
    if issubclass(annotation, int):
        return _to_int
    if issubclass(annotation, float):
        return _to_float
    if issubclass(annotation, str):
        return _to_str
    if issubclass(annotation, PurePath):
        return _path_converter(annotation)
    if annotation is os.PathLike:
        return _path_converter(Path)
    return _identity


def _annotation(func: Callable[..., Any], param: inspect.Parameter) -> Any:
    """The parameter's annotation, evaluated one by one (a name only known to type checkers: none)."""
    ann = param.annotation
    if not isinstance(ann, str):
        return ann
    target = inspect.unwrap(func)
    namespace = dict(getattr(target, "__globals__", {}))
    try:
        return eval(ann, namespace)  # the module's own annotation text, in the module's namespace
    except Exception:
        log.debug("cannot evaluate annotation %r of %s: left unconverted", ann, func)
        return inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class ArgumentPlan:
    """How one target converts an event's positional and named arguments."""

    positional: tuple[tuple[str, Converter], ...]
    varargs: Converter | None
    named: Mapping[str, Converter]
    varkw: Converter | None
    trivial: bool  # every converter is the identity: pass the plan values as they are

    @classmethod
    def of(cls, func: Callable[..., Any]) -> ArgumentPlan:
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            return cls((), _identity, {}, _identity, True)
        positional: list[tuple[str, Converter]] = []
        named: dict[str, Converter] = {}
        varargs: Converter | None = None
        varkw: Converter | None = None
        for p in sig.parameters.values():
            conv = converter_for(_annotation(func, p))
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                positional.append((p.name, conv))
                if p.kind is p.POSITIONAL_OR_KEYWORD:
                    named[p.name] = conv
            elif p.kind is p.VAR_POSITIONAL:
                varargs = conv
            elif p.kind is p.KEYWORD_ONLY:
                named[p.name] = conv
            else:
                varkw = conv
        convs = [c for _, c in positional] + list(named.values()) + [varargs, varkw]
        trivial = all(c is None or c is _identity for c in convs)
        return cls(tuple(positional), varargs, named, varkw, trivial)

    def convert(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The arguments for this target; ArgumentError names the parameter that does not fit."""
        if self.trivial:
            return list(args), dict(kwargs)
        out: list[Any] = []
        npos = len(self.positional)
        for i, value in enumerate(args):
            if i < npos:
                name, conv = self.positional[i]
            elif self.varargs is not None:
                name, conv = f"*args[{i - npos}]", self.varargs
            else:
                out.extend(args[i:])  # too many: the call itself raises the TypeError
                break
            out.append(_apply(conv, value, name))
        named: dict[str, Any] = {}
        for key, value in kwargs.items():
            conv_kw = self.named.get(key, self.varkw)
            named[key] = value if conv_kw is None else _apply(conv_kw, value, key)
        return out, named


def _apply(conv: Converter, value: Any, name: str) -> Any:
    try:
        return conv(value)
    except ArgumentError as exc:
        raise ArgumentError(f"argument `{name}`: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ArgumentError(f"argument `{name}`: cannot convert {value!r} ({exc})") from None


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True, slots=True)
class Target:
    """One function answering a scenario callback name; `owner` is `builtin` or the module class name."""

    name: str
    owner: str
    func: Callable[..., Any]
    is_async: bool
    arguments: ArgumentPlan

    @property
    def label(self) -> str:
        """How logs and events.csv name it: `builtin.stop`, `MyModule.start_queries`."""
        return f"{self.owner}.{getattr(self.func, '__name__', self.name)}"

    @classmethod
    def of(cls, name: str, owner: str, func: Callable[..., Any]) -> Target:
        return cls(name, owner, func, inspect.iscoroutinefunction(func), ArgumentPlan.of(func))


class CallbackRegistry:
    """Scenario name -> targets, in registration order (see the module docstring)."""

    def __init__(self) -> None:
        self._targets: dict[str, list[Target]] = {}
        self._frozen: dict[str, tuple[Target, ...]] = {}

    def add(self, target: Target) -> None:
        self._targets.setdefault(target.name, []).append(target)
        self._frozen.pop(target.name, None)

    def register_object(self, obj: object, owner: str) -> int:
        """Register every method of `obj` marked by `experiment_callback`; returns how many."""
        count = 0
        cls = type(obj)
        for attr in sorted(dir(obj)):
            if isinstance(inspect.getattr_static(cls, attr, None), property):
                continue
            try:
                value = getattr(obj, attr)
            except Exception:
                continue
            name = getattr(value, CALLBACK_ATTRIBUTE, None)
            if name is None:  # marked by a real Gumby's decorator
                name = getattr(value, GUMBY_CALLBACK_ATTRIBUTE, None)
            if isinstance(name, str) and callable(value):
                self.add(Target.of(name, owner, value))
                count += 1
        return count

    def get(self, name: str) -> tuple[Target, ...]:
        found = self._frozen.get(name)
        if found is None:
            found = self._frozen[name] = tuple(self._targets.get(name, ()))
        return found

    def names(self) -> set[str]:
        return set(self._targets)


# --------------------------------------------------------------------------- importing
def _module_name_for(spec: ModuleSpec) -> tuple[str, Path]:
    """(importable module name, folder to put on sys.path) for the file the checker resolved."""
    path = Path(spec.path).resolve()
    parts = spec.dotted.split(".")
    # The &module path leads to this file: use its module part (all but the trailing class names).
    for used in range(len(parts) - 1, 0, -1):
        mod_parts = parts[:used]
        tail = Path(*mod_parts)
        for candidate in (tail.with_suffix(".py"), tail / "__init__.py"):
            if path.parts[-len(candidate.parts) :] == candidate.parts:
                root = Path(*path.parts[: len(path.parts) - len(candidate.parts)])
                return ".".join(mod_parts), root
    # Else the file's own name, from the regular packages that enclose it.
    names = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        names.insert(0, folder.name)
        folder = folder.parent
    return ".".join(names), folder


def module_roots(specs: Iterable[ModuleSpec]) -> list[str]:
    """The folders the plan's modules are imported from, in `&module` order, without repeats."""
    roots: list[str] = []
    for spec in specs:
        root = str(_module_name_for(spec)[1])
        if root not in roots:
            roots.append(root)
    return roots


def _same_file(module: types.ModuleType, path: str) -> bool:
    found = getattr(module, "__file__", None)
    if found is None:
        return False
    try:
        return os.path.samefile(found, path)
    except OSError:
        return False


def _load_by_path(name: str, path: str, root: Path) -> types.ModuleType:
    """Import `path` as module `name`, its parent packages from `root` first (for relative imports)."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        pkg = ".".join(parts[:i])
        if pkg in sys.modules:
            continue
        folder = root.joinpath(*parts[:i])
        init = folder / "__init__.py"
        if init.is_file():
            pkg_spec = importlib.util.spec_from_file_location(
                pkg, init, submodule_search_locations=[str(folder)]
            )
        else:
            pkg_spec = importlib.util.spec_from_loader(pkg, None, is_package=True)
        if pkg_spec is None:
            raise ImportError(f"cannot make a package {pkg} from {folder}")
        package = importlib.util.module_from_spec(pkg_spec)
        if not init.is_file():
            package.__path__ = [str(folder)]
        sys.modules[pkg] = package
        if pkg_spec.loader is not None:
            pkg_spec.loader.exec_module(package)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_module_class(spec: ModuleSpec) -> type:
    """Import the class of one `&module` line from the file the checker resolved (ModuleLoadError)."""
    name, root = _module_name_for(spec)
    where = f"`&module {spec.dotted}`"
    install_gumby_api()  # Gumby's module names, for modules written against Gumby (no real Gumby here)
    if not Path(spec.path).is_file():
        raise ModuleLoadError(f"{where}: {spec.path} does not exist (the plan is older than the module?)")
    if str(root) not in sys.path:
        sys.path.append(str(root))
    try:
        module = sys.modules.get(name)
        if module is None or not _same_file(module, spec.path):
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name is None or not name.startswith(exc.name):
                    raise
                module = None
            if module is None or not _same_file(module, spec.path):
                if module is not None:
                    log.warning(
                        "%s: `%s` imports %s, not the file the checker resolved; loading %s",
                        where,
                        name,
                        module.__file__,
                        spec.path,
                    )
                    name = f"_gscen_module_{abs(hash(spec.path))}"
                module = _load_by_path(name, spec.path, root)
    except ModuleLoadError:
        raise
    except Exception as exc:
        raise ModuleLoadError(f"{where}: importing {spec.path} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for attr in spec.class_name.split("."):
        obj = getattr(obj, attr, None)
        if obj is None:
            raise ModuleLoadError(f"{where}: {spec.path} has no class `{spec.class_name}`")
    if not isinstance(obj, type):
        raise ModuleLoadError(f"{where}: `{spec.class_name}` in {spec.path} is not a class")
    return obj


@dataclass(frozen=True, slots=True)
class LoadedModules:
    """The module instances in `&module` order, and every callback target (built-ins first)."""

    instances: tuple[object, ...]
    registry: CallbackRegistry


def load_modules(
    specs: Iterable[ModuleSpec], context: object, builtins: object | None = None
) -> LoadedModules:
    """Import and instantiate each `&module` class with `context`; register their callbacks.

    `builtins` (an object with `experiment_callback` methods) registers first. A class named twice
    is instantiated once (as Gumby). Raises ModuleLoadError for the first module that fails.
    """
    registry = CallbackRegistry()
    if builtins is not None:
        registry.register_object(builtins, "builtin")
    seen: set[type] = set()
    instances: list[object] = []
    for spec in specs:
        cls = import_module_class(spec)
        if cls in seen:
            log.info("`&module %s` names a class already loaded: ignored", spec.dotted)
            continue
        seen.add(cls)
        try:
            instance = cls(context)
        except Exception as exc:
            raise ModuleLoadError(
                f"`&module {spec.dotted}`: {cls.__name__}(experiment) raised {type(exc).__name__}: {exc}"
            ) from exc
        instances.append(instance)
        modules = loaded_modules(context)
        if instance not in modules:
            modules.append(instance)
        registry.register_object(instance, cls.__name__)
    return LoadedModules(tuple(instances), registry)
