"""Gumby's `gumby.modules.community_experiment_module`, answered by gscen (pyipv8 3.x)."""

from scenario_lang.runtime.ipv8.overlay_module import IPv8OverlayExperimentModule

__all__ = ["IPv8OverlayExperimentModule"]
