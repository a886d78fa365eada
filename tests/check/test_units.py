"""Quantities as written in scenarios: durations, ratios, rates (tc's units) and partition groups."""

from __future__ import annotations

import pytest

from scenario_lang.units import parse_duration, parse_peer_groups, parse_rate, parse_ratio


@pytest.mark.parametrize(
    ("text", "seconds"), [("100ms", 0.1), ("1.5s", 1.5), ("250us", 250e-6), ("0ms", 0.0), ("-50ms", -0.05)]
)
def test_durations_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["100", "100 m", "1.5min", "ms", "", "nanms"])
def test_a_duration_needs_a_unit_of_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "share"), [("5%", 0.05), ("0.05", 0.05), ("100%", 1.0), ("150%", 1.5)])
def test_ratios_are_fractions_of_one(text: str, share: float) -> None:
    assert parse_ratio(text) == pytest.approx(share)


@pytest.mark.parametrize(
    ("text", "bytes_per_second"),
    [("1mbit", 125_000), ("100kbit", 12_500), ("1kbps", 1_000), ("2mbps", 2_000_000), ("8bit", 1)],
)
def test_rates_follow_tc_bits_and_bytes(text: str, bytes_per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(bytes_per_second)


def test_capitalised_rate_units_are_refused_with_both_readings() -> None:
    with pytest.raises(ValueError, match="`mbit` is bits and `mbps` bytes"):
        parse_rate("1Mbps")
    with pytest.raises(ValueError):
        parse_rate("100")


def test_peer_groups_read_lists_without_braces() -> None:
    assert parse_peer_groups("1-5,7") == ((1, 5), (7, 7))
    assert parse_peer_groups("5-1") == ((5, 1),)  # kept, for the checker to point at
    for bad in ("{1-5}", "1-", "a", "1,,2"):
        with pytest.raises(ValueError):
            parse_peer_groups(bad)
