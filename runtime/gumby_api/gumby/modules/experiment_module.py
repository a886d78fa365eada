"""Gumby's `gumby.modules.experiment_module`, answered by gscen."""

from scenario_lang.runtime.gumby_module import GumbyExperimentModule as ExperimentModule

__all__ = ["ExperimentModule"]
