"""Gumby's `gumby.modules.ipv8_community_launchers`, answered by gscen (pyipv8 3.x)."""

from scenario_lang.runtime.ipv8.launchers import (
    INFINITE,
    DHTCommunityLauncher,
    IPv8CommunityLauncher,
    IPv8DiscoveryCommunityLauncher,
)

__all__ = ["INFINITE", "DHTCommunityLauncher", "IPv8CommunityLauncher", "IPv8DiscoveryCommunityLauncher"]
