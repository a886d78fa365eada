"""Gumby's `gumby.experiment` names, answered by gscen."""

from scenario_lang.authoring import experiment_callback

__all__ = ["experiment_callback"]
