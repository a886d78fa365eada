"""Experiment modules for the fault checker cases (read statically, never imported by the tests)."""

from gumby.experiment import experiment_callback
from gumby.modules.community_experiment_module import IPv8OverlayExperimentModule

from scenario_lang import ExperimentModule


class PingPongModule(IPv8OverlayExperimentModule):
    """An IPv8 module by its Gumby base class (whose source is not on the search path)."""

    @experiment_callback
    def ping(self) -> None:
        """Send a ping to every other peer."""


class DerivedPingPong(PingPongModule):
    """An IPv8 module through a base class of this file."""


class CrashingModule(ExperimentModule):
    @experiment_callback
    def crash(self) -> None:
        """Shadows the built-in `crash`."""

    @experiment_callback("stop")
    def stop_queries(self) -> None:
        """Answers `stop` beside the built-in, as modules may."""
