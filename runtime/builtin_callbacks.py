"""The callbacks every scenario can call without a module: `echo`, `annotate`, `stop`, `set`, and
the fault and network built-ins.

They register before any module (so they run first when a module answers the same name, as in Gumby)
and act on the peer through a `BuiltinHost`:

- `echo ARGS...`: logs `peer <id>: echo <args joined with spaces>` at INFO.
- `annotate MESSAGE`: appends `<seconds since the start, 6 decimals>,<message>` and a newline to
  `annotations.csv` in the peer's folder (Gumby's format since 2020-08), opened and closed per call so
  nothing is lost if the peer is killed.
- `stop`: asks the scheduler to stop after this event; the modules' own `stop` callbacks of the same
  event still run, and run to completion, before the peer's `on_stop` hooks (unlike Gumby, where the
  loop halted under them).
- `set NAME VALUE`: stores VALUE in the peer's runtime variables (`PeerContext.variables`).
  Substitution of `$NAME` in later lines already happened when the plan was compiled; the store is for
  modules that read the values at run time.
- `latency DELAY [jitter=J]`, `loss SHARE`, `bandwidth RATE`, `partition GROUP...`, `heal`,
  `reset_network`: change this peer's `NetworkConditions` (`host.network`), which the IPv8 endpoint
  wrapper (`netem.ConditionedEndpoint`) applies to every packet the peer sends. Values come as
  written (`50ms`) or converted (0.05) and are read with `scenario_lang.units`.

`crash`, `pause`, `resume` and `restart` have no target here: the process guard carries them out on
the peer's process (`process_faults`), and the peer's scheduler passes over them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from scenario_lang.authoring import experiment_callback
from scenario_lang.units import parse_duration, parse_peer_groups, parse_rate, parse_ratio

from .network import NetworkConditions

log = logging.getLogger(__name__)

ANNOTATIONS_FILE = "annotations.csv"


class BuiltinHost(Protocol):
    """What the built-ins need from the peer."""

    @property
    def my_id(self) -> int | None: ...
    @property
    def output_dir(self) -> Path: ...
    @property
    def variables(self) -> dict[str, str]: ...
    def elapsed(self) -> float:
        """Seconds since the experiment's start instant."""
        ...

    def request_stop(self, reason: str) -> None: ...
    @property
    def network(self) -> NetworkConditions: ...


class BuiltinCallbacks:
    """The built-in callbacks, bound to one peer (register with `CallbackRegistry.register_object`)."""

    def __init__(self, host: BuiltinHost) -> None:
        self.host = host

    @experiment_callback
    def echo(self, *args: str) -> None:
        log.info("peer %s: echo %s", self.host.my_id, " ".join(map(str, args)))

    @experiment_callback
    def annotate(self, message: str) -> None:
        line = f"{self.host.elapsed():.6f},{message}\n"
        with open(self.host.output_dir / ANNOTATIONS_FILE, "a", encoding="utf-8") as f:
            f.write(line)

    @experiment_callback
    def stop(self) -> None:
        self.host.request_stop("stop")

    @experiment_callback("set")
    def set_variable(self, name: str, value: str) -> None:
        self.host.variables[name] = value

    # -- network conditions (see network.py): values as written (`50ms`) or converted (0.05)
    @experiment_callback
    def latency(self, delay: object, jitter: object = "0ms") -> None:
        self.host.network.set_latency(_quantity(delay, parse_duration), _quantity(jitter, parse_duration))

    @experiment_callback
    def loss(self, rate: object) -> None:
        self.host.network.set_loss(_quantity(rate, parse_ratio))

    @experiment_callback
    def bandwidth(self, rate: object) -> None:
        self.host.network.set_bandwidth(_quantity(rate, parse_rate))

    @experiment_callback
    def partition(self, group: str, *groups: str) -> None:
        self.host.network.set_partition([parse_peer_groups(str(g)) for g in (group, *groups)])

    @experiment_callback
    def heal(self) -> None:
        self.host.network.set_partition(None)

    @experiment_callback
    def reset_network(self) -> None:
        self.host.network.reset()


def _quantity(value: object, parse: Callable[[str], float]) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse(str(value))
