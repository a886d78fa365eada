"""Gumby's `gumby.statsparser`, answered by gscen."""

from scenario_lang.runtime.ipv8_statistics import StatisticsParser

__all__ = ["StatisticsParser"]
