"""Peers on this machine: `LocalLauncher` opens gscen's process guard (`guard.Guard`) on the commands."""

from __future__ import annotations

from ..guard import Guard
from . import LaunchedPeers, PeerLaunch

__all__ = ["LocalLauncher"]


class LocalLauncher:
    """Peers on this machine, under gscen's process guard."""

    name = "local"

    def open(self, launch: PeerLaunch) -> LaunchedPeers:
        return Guard(launch.config)
