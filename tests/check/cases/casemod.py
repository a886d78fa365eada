"""Experiment modules for the checker cases (read statically, never imported by the tests)."""

from enum import Enum
from pathlib import Path
from typing import Literal, Optional, Union

from scenario_lang import ExperimentModule, experiment_callback


class Mode(Enum):
    FAST = "fast"
    SLOW = "slow"


class BaseModule(ExperimentModule):
    @experiment_callback
    def write_peer_id(self) -> None:
        """Write this peer's id to a file."""


class CaseModule(BaseModule):
    @experiment_callback
    def start_queries(self, key: str, count: int = 10, *, rate: float = 1.0) -> None:
        """Start `count` queries for `key`."""

    @experiment_callback("configure")
    async def configure_peer(
        self,
        enabled: bool,
        mode: Mode,
        level: Literal["low", "high"],
        limit: Optional[int] = None,
        ratio: Union[int, float] = 1,
        folder: Path = Path("."),
    ) -> None:
        """Configure this peer."""

    @experiment_callback(name="publish")
    def publish_values(self, *values: str, **options: str) -> None:
        """Publish any values."""

    @experiment_callback
    def store(self, key, value):  # unannotated: strings
        pass


class OtherModule(ExperimentModule):
    @experiment_callback
    def write_peer_id(self) -> None:
        """Another module's callback of the same name."""
