"""`IPv8OverlayExperimentModule` (Gumby's name; gscen: `OverlayModule`): scenario control of one overlay.

Takes the peer's context and the overlay's Community class; finds the experiment's IPv8 provider
among the modules loaded before it (none: `IPv8SessionError` at load time, as Gumby fails then).
Attributes Gumby's modules use: `ipv8_provider`, `ipv8`, `overlay` (the loaded instance of the
class, None before `start_session`), `gumby_session`, `gumby_config`, `get_peer(id)` (an IPv8 `Peer`
from the all-vars document: its published address and public key), `get_peer_public_key(id)`,
`strategies`, and the hook `on_ipv8_available(ipv8)`.

Callbacks: `introduce_peers [max_peers=N] [excluded_peers=a,b]` (walk to every other peer, or a random
sample of N, skipping the excluded; an excluded peer does nothing), `introduce_one_peer ID`,
`add_walking_strategy NAME MAX_PEERS [k=v...]` (RandomWalk, EdgeWalk, RandomChurn). They need a
started session; before it they raise `IPv8SessionError` saying so.
"""

from __future__ import annotations

import random
from base64 import b64decode
from typing import Any

from ipv8.peer import Peer
from ipv8.peerdiscovery.churn import RandomChurn
from ipv8.peerdiscovery.discovery import EdgeWalk, RandomWalk

from scenario_lang.authoring import PeerContext, experiment_callback

from ..gumby_module import GumbyExperimentModule, loaded_modules
from .provider import BaseIPv8Module, IPv8SessionError
from .session import IPv8Session, SessionConfig


class IPv8OverlayExperimentModule(GumbyExperimentModule):
    """Base of modules that drive one overlay (see the module docstring)."""

    def __init__(self, experiment: PeerContext, community_class: type) -> None:
        super().__init__(experiment)
        self.community_class = community_class
        self.ipv8_provider.ipv8_available.add_done_callback(self._ipv8_available)
        self.strategies: dict[str, type] = {
            "RandomWalk": RandomWalk,
            "EdgeWalk": EdgeWalk,
            "RandomChurn": RandomChurn,
        }

    def _ipv8_available(self, future: Any) -> None:
        if not future.cancelled() and future.exception() is None:
            self.on_ipv8_available(future.result())

    def on_ipv8_available(self, ipv8: Any) -> None:
        """Called once the provider's session has started."""

    @property
    def ipv8_provider(self) -> BaseIPv8Module:
        for module in loaded_modules(self.experiment):
            if isinstance(module, BaseIPv8Module):
                return module
        raise IPv8SessionError(
            f"no IPv8 provider: load `&module gumby.modules.base_ipv8_module.BaseIPv8Module` "
            f"(or another BaseIPv8Module) before {type(self).__name__}"
        )

    @property
    def ipv8(self) -> Any:
        return self.ipv8_provider.ipv8

    @property
    def gumby_session(self) -> IPv8Session | None:
        return self.ipv8_provider.gumby_session

    @property
    def gumby_config(self) -> SessionConfig | IPv8Session | None:
        provider = self.ipv8_provider
        return provider.gumby_config if provider.gumby_config is not None else provider.gumby_session

    @property
    def overlay(self) -> Any:
        ipv8 = self.ipv8
        if ipv8 is None:
            return None
        for overlay in ipv8.overlays:
            if isinstance(overlay, self.community_class):
                return overlay
        return None

    def _started_overlay(self, callback: str) -> Any:
        if self.ipv8 is None:
            raise IPv8SessionError(f"{callback}: the IPv8 session has not started; call start_session first")
        found = self.overlay
        if found is None:
            raise IPv8SessionError(
                f"{callback}: no {self.community_class.__name__} overlay was loaded "
                f"(set its launcher in on_id_received: custom_ipv8_community_loader.set_launcher(...))"
            )
        return found

    def _address(self, peer_id: int | str, callback: str) -> tuple[str, int]:
        address = self.experiment.get_peer_ip_port_by_id(int(peer_id))  # type: ignore[attr-defined]
        if address is None:
            raise IPv8SessionError(f"{callback}: there is no peer {peer_id}")
        return str(address[0]), int(address[1])

    @experiment_callback
    def introduce_one_peer(self, peer_id: int) -> None:
        overlay = self._started_overlay("introduce_one_peer")
        overlay.walk_to(self._address(peer_id, "introduce_one_peer"))

    @experiment_callback
    def introduce_peers(self, max_peers: int | None = None, excluded_peers: str | None = None) -> None:
        overlay = self._started_overlay("introduce_peers")
        excluded = {int(p) for p in str(excluded_peers).split(",") if p.strip()} if excluded_peers else set()
        if self.my_id in excluded:
            self.logger.info("not taking part in the introductions (excluded)")
            return
        eligible = [p for p in self.all_vars if int(p) != self.my_id and int(p) not in excluded]
        if max_peers:
            eligible = random.sample(eligible, min(len(eligible), int(max_peers)))
        elif max_peers is not None:  # max_peers=0: nobody
            eligible = []
        for peer_id in eligible:
            overlay.walk_to(self._address(peer_id, "introduce_peers"))

    @experiment_callback
    def add_walking_strategy(self, name: str, max_peers: int, **kwargs: str) -> None:
        overlay = self._started_overlay("add_walking_strategy")
        strategy = self.strategies.get(name)
        if strategy is None:
            self.logger.warning("unknown walking strategy %s (known: %s)", name, ", ".join(self.strategies))
            return
        self.ipv8.strategies.append((strategy(overlay, **kwargs), int(max_peers)))

    def get_peer(self, peer_id: int | str) -> Peer:
        entry = self.all_vars[str(peer_id)]
        address = (str(entry["host"]), int(entry["port"]))
        return Peer(b64decode(self.get_peer_public_key(peer_id)), address=address)

    def get_peer_public_key(self, peer_id: int | str) -> str:
        return str(self.all_vars[str(peer_id)]["public_key"])

    def on_id_received(self) -> None:
        super().on_id_received()
        # The provider made the key pair and published it; Gumby's module made it here.
        self.ipv8_provider.ensure_key()


OverlayModule = IPv8OverlayExperimentModule
