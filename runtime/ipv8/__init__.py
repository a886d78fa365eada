"""IPv8 experiments on pyipv8 3.x: the provider module, overlay modules, launchers, the UDP endpoint.

gscen's names for new code (Gumby's names in brackets, served to Gumby modules by `gumby_api`):
`IPv8Module` (`BaseIPv8Module`), `IPv8Provider`, `OverlayModule` (`IPv8OverlayExperimentModule`),
`OverlayLauncher` (`IPv8CommunityLauncher`). Imports pyipv8: only peers and modules load it.
"""

from __future__ import annotations

from .launchers import IPv8CommunityLauncher, IsolatingCommunityLoader, UnknownOverlayError
from .overlay_module import IPv8OverlayExperimentModule, OverlayModule
from .provider import BaseIPv8Module, IPv8Module, IPv8Provider, IPv8SessionError
from .session import IPv8Session, SessionConfig

OverlayLauncher = IPv8CommunityLauncher

__all__ = [
    "BaseIPv8Module",
    "IPv8CommunityLauncher",
    "IPv8Module",
    "IPv8OverlayExperimentModule",
    "IPv8Provider",
    "IPv8Session",
    "IPv8SessionError",
    "IsolatingCommunityLoader",
    "OverlayLauncher",
    "OverlayModule",
    "SessionConfig",
    "UnknownOverlayError",
]
