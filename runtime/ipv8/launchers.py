"""Community launchers and the loader that isolates overlays (Gumby's ipv8_community_launchers and
isolated_community_loader, for pyipv8 3.x).

`IPv8CommunityLauncher` is the base of an experiment's launchers: its overlay gets the peer's key
pair as identity, `max_peers` from the session (`config.ipv8.max_peers`, raised above pyipv8's 30 for
large runs) and no bootstrap server at all unless `config.ipv8.bootstrap_override` (`host:port`)
names one: peers are introduced through the all-vars document, never through public bootstrappers.

`IsolatingCommunityLoader.isolate(name)` makes the launcher whose overlay class is called `name` load
that overlay under a community id derived from the run's nonce (`community_id_for`): every peer of the
run derives the same id, any other run (even with the same seed) a different one. The overlay keeps
its class name (it is a subclass made for the run), so `isinstance` checks hold. An unknown name is an
`UnknownOverlayError` listing the names the launchers load.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from ipv8.bootstrapping.dispersy.bootstrapper import DispersyBootstrapper
from ipv8.loader import CommunityLauncher, IPv8CommunityLoader, kwargs, overlay, precondition, walk_strategy
from ipv8.loader import set_in_session as set_in_session
from ipv8.peer import Peer

log = logging.getLogger(__name__)

INFINITE = -1  # target_peers of a walk strategy that never stops


class UnknownOverlayError(LookupError):
    """`isolate_ipv8_overlay` named an overlay no launcher loads."""


def community_id_for(nonce: str, launcher_name: str) -> bytes:
    """The 20-byte community id of an isolated overlay: the run's nonce and the launcher's name."""
    return hashlib.sha1(f"gscen isolated overlay\0{nonce}\0{launcher_name}".encode()).digest()


class IPv8CommunityLauncher(CommunityLauncher):
    """Base launcher: the peer's key, the session's max_peers, no public bootstrap servers."""

    def get_my_peer(self, ipv8: Any, session: Any) -> Peer:
        return Peer(session.trustchain_keypair)

    def get_kwargs(self, session: Any) -> dict[str, Any]:
        found: dict[str, Any] = {"max_peers": session.config.ipv8.max_peers}
        found.update(super().get_kwargs(session))
        if "max_peers" in found:
            found["max_peers"] = int(found["max_peers"])
        return found

    def get_bootstrappers(self, session: Any) -> list[tuple[type, dict[str, Any]]]:
        override = session.config.ipv8.bootstrap_override
        if not override:
            return []
        host, port = str(override).rsplit(":", 1)
        return [(DispersyBootstrapper, {"ip_addresses": [(host, int(port))], "dns_addresses": []})]


# Gumby's built-in launchers (off unless the session config enables them).
def _discovery_community() -> type:
    from ipv8.peerdiscovery.community import DiscoveryCommunity

    return DiscoveryCommunity


def _dht_discovery_community() -> type:
    from ipv8.dht.discovery import DHTDiscoveryCommunity

    return DHTDiscoveryCommunity


def _random_churn() -> type:
    from ipv8.peerdiscovery.churn import RandomChurn

    return RandomChurn


def _ping_churn() -> type:
    from ipv8.dht.churn import PingChurn

    return PingChurn


def _random_walk() -> type:
    from ipv8.peerdiscovery.discovery import RandomWalk

    return RandomWalk


def _periodic_similarity() -> type:
    from ipv8.peerdiscovery.community import PeriodicSimilarity

    return PeriodicSimilarity


@precondition("session.config.ipv8.discovery.enabled")
@overlay(_discovery_community)
@kwargs(max_peers="100")
@walk_strategy(_random_churn, target_peers=INFINITE)
@walk_strategy(_random_walk)
@walk_strategy(_periodic_similarity, target_peers=INFINITE)
class IPv8DiscoveryCommunityLauncher(IPv8CommunityLauncher):
    pass


@precondition("session.config.dht.enabled")
@set_in_session("dht_community")
@overlay(_dht_discovery_community)
@kwargs(max_peers="60")
@walk_strategy(_ping_churn, target_peers=INFINITE)
@walk_strategy(_random_walk)
class DHTCommunityLauncher(IPv8CommunityLauncher):
    pass


class IsolatedLauncher(CommunityLauncher):
    """Another launcher whose overlay class gets the run's community id (see the module docstring)."""

    def __init__(self, child: CommunityLauncher, nonce: str) -> None:
        super().__init__()
        self.child = child
        self.nonce = nonce
        self.community_args = child.community_args
        self.community_kwargs = child.community_kwargs

    def get_name(self) -> str:
        return self.child.get_name()

    def not_before(self) -> list[str]:
        return self.child.not_before()

    def should_launch(self, session: Any) -> bool:
        return self.child.should_launch(session)

    def prepare(self, overlay_provider: Any, session: Any) -> None:
        self.child.prepare(overlay_provider, session)

    def finalize(self, ipv8: Any, session: Any, community: Any) -> None:
        self.child.finalize(ipv8, session, community)

    def get_overlay_class(self) -> type:
        base = self.child.get_overlay_class()
        community_id = community_id_for(self.nonce, self.get_name())
        log.info("%s isolated: community id %s", base.__name__, community_id.hex())
        return type(
            base.__name__,
            (base,),
            {"community_id": community_id, "__module__": base.__module__, "__qualname__": base.__qualname__},
        )

    def get_my_peer(self, ipv8: Any, session: Any) -> Peer:
        return self.child.get_my_peer(ipv8, session)

    def get_kwargs(self, session: Any) -> dict[str, Any]:
        return self.child.get_kwargs(session)

    def get_walk_strategies(self) -> list[Any]:
        return self.child.get_walk_strategies()

    def get_bootstrappers(self, session: Any) -> list[Any]:
        return self.child.get_bootstrappers(session)


class IsolatingCommunityLoader(IPv8CommunityLoader):
    """pyipv8's community loader with `isolate(name)` (see the module docstring).

    Isolation is recorded by launcher name and applied when the overlays load, so a launcher set
    after `isolate` (the same name again) is isolated too, and the nonce can arrive late.
    """

    def __init__(self) -> None:
        super().__init__()
        self.isolated: list[str] = []
        self.nonce: str | None = None

    def overlay_names(self) -> list[str]:
        """The class names of the overlays the launchers load (for messages; imports lazy classes)."""
        names: list[str] = []
        for launcher, _ in self.community_launchers.values():
            try:
                names.append(launcher.get_overlay_class().__name__)
            except Exception as exc:  # a lazy overlay that cannot be imported: say so, do not fail
                names.append(f"{launcher.get_name()} ({type(exc).__name__})")
        return names

    def isolate(self, community_name: str) -> None:
        for launcher, _ in self.community_launchers.values():
            if launcher.get_overlay_class().__name__ == community_name:
                name = launcher.get_name()
                if name in self.isolated:
                    log.warning("%s is isolated already", community_name)
                else:
                    self.isolated.append(name)
                return
        known = ", ".join(f"`{n}`" for n in self.overlay_names()) or "none"
        raise UnknownOverlayError(
            f"no launcher loads an overlay named `{community_name}` (they load: {known})"
        )

    def load(self, overlay_provider: Any, session: object) -> None:
        if self.isolated:
            if self.nonce is None:
                raise RuntimeError(
                    "isolated overlays need the run's nonce (it comes with the all-vars document)"
                )
            for name in self.isolated:
                launcher, launched = self.community_launchers[name]
                if not isinstance(launcher, IsolatedLauncher):
                    self.community_launchers[name] = (IsolatedLauncher(launcher, self.nonce), launched)
        super().load(overlay_provider, session)
