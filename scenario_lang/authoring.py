"""The authoring contract for experiment modules: `ExperimentModule` and `experiment_callback`.

Experiment code writes::

    from scenario_lang import ExperimentModule, experiment_callback

    class MyModule(ExperimentModule):
        @experiment_callback
        def start_queries(self, key: str, count: int = 10) -> None: ...

The checker reads these declarations statically (with `ast`); the runtime instantiates the classes and
supplies the `PeerContext`. Nothing here imports the runtime.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, overload

CALLBACK_ATTRIBUTE = "__experiment_callback__"

F = TypeVar("F", bound=Callable[..., Any])


@overload
def experiment_callback(func: F, /) -> F: ...
@overload
def experiment_callback(name: str | None = None, /) -> Callable[[F], F]: ...
@overload
def experiment_callback(*, name: str) -> Callable[[F], F]: ...


def experiment_callback(arg: Any = None, /, *, name: str | None = None) -> Any:
    """Mark a method as callable from scenarios.

    `@experiment_callback` and `@experiment_callback()` register the method under its own name;
    `@experiment_callback("alias")` or `@experiment_callback(name="alias")` register it under the alias
    only. It must be the outermost decorator; `async def` methods are awaited.
    """
    if callable(arg):
        setattr(arg, CALLBACK_ATTRIBUTE, arg.__name__)
        return arg
    alias = name if name is not None else arg

    def mark(func: F) -> F:
        setattr(func, CALLBACK_ATTRIBUTE, alias if alias is not None else func.__name__)
        return func

    return mark


DEFAULT_HOOK_ATTRIBUTE = "__gscen_default_hook__"


def default_hook(func: F) -> F:
    """Mark a base class's do-nothing lifecycle hook: the runtime neither calls nor records a hook
    that a module leaves at such a default (each call would cost every peer at the start instant,
    and every message)."""
    setattr(func, DEFAULT_HOOK_ATTRIBUTE, True)
    return func


class PeerContext(Protocol):
    """What the runtime offers a module: this peer's identity, variables and messaging."""

    @property
    def my_id(self) -> int | None: ...
    @property
    def peer_ids(self) -> list[int]: ...
    @property
    def vars(self) -> dict[str, Any]: ...
    @property
    def all_vars(self) -> dict[str, dict[str, Any]]: ...
    @property
    def output_dir(self) -> Path: ...
    def send_message(self, peer_id: int, msg_type: bytes, payload: bytes) -> None: ...
    def seeded_random(self, label: str = "") -> random.Random: ...


class ExperimentModule:
    """Base class of experiment modules loaded with `&module pkg.mod.Class`.

    Lifecycle hooks, called by the runtime in `&module` order: `on_id_received` (the peer has its id
    and its output folder; fill `self.vars` here), `on_all_vars_received` (every peer's vars are in
    `all_vars`), `on_experiment_start` (at the synchronized start instant), `on_message` (a message
    from another peer), `on_stop` (before the peer exits; awaited if async).
    """

    def __init__(self, experiment: PeerContext) -> None:
        self.experiment = experiment
        self.logger = logging.getLogger(type(self).__name__)

    @property
    def my_id(self) -> int | None:
        return self.experiment.my_id

    @property
    def peer_ids(self) -> list[int]:
        return self.experiment.peer_ids

    @property
    def vars(self) -> dict[str, Any]:
        return self.experiment.vars

    @property
    def all_vars(self) -> dict[str, dict[str, Any]]:
        return self.experiment.all_vars

    @property
    def output_dir(self) -> Path:
        return self.experiment.output_dir

    def send_message(self, peer_id: int, msg_type: bytes, payload: bytes) -> None:
        self.experiment.send_message(peer_id, msg_type, payload)

    def seeded_random(self, label: str = "") -> random.Random:
        """A `random.Random` of this module's own, from the run's seed, this peer's id and `label`
        (the class name when empty): a run repeated with the same seed draws the same numbers."""
        return self.experiment.seeded_random(label or type(self).__qualname__)

    @default_hook
    def on_id_received(self) -> Any:
        return None

    @default_hook
    def on_all_vars_received(self) -> Any:
        return None

    @default_hook
    def on_experiment_start(self) -> Any:
        return None

    @default_hook
    def on_message(self, from_id: int, msg_type: bytes, payload: bytes) -> Any:
        return None

    @default_hook
    def on_stop(self) -> Any:
        return None
