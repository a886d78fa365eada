"""Gumby's `gumby.statsparser`, answered by gscen."""

from scenario_lang.runtime.ipv8.statistics_file import StatisticsParser

__all__ = ["StatisticsParser"]
