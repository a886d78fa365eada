"""Ping-pong over IPv8, written against Gumby's module API: gscen runs it as Gumby would.

A `PingPongCommunity` answers every ping with a pong; the experiment module drives it from the
scenario (`send_ping`) and records how many pongs came back (`write_pongs` -> pongs.txt).
"""

from __future__ import annotations

from typing import ClassVar

from gumby.experiment import experiment_callback
from gumby.modules.community_experiment_module import IPv8OverlayExperimentModule
from gumby.modules.ipv8_community_launchers import IPv8CommunityLauncher
from ipv8.community import Community, CommunitySettings
from ipv8.lazy_community import lazy_wrapper
from ipv8.loader import overlay
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.peer import Peer


@vp_compile
class Ping(VariablePayload):
    msg_id = 1
    format_list: ClassVar[list[str]] = ["I"]
    names: ClassVar[list[str]] = ["number"]


@vp_compile
class Pong(VariablePayload):
    msg_id = 2
    format_list: ClassVar[list[str]] = ["I"]
    names: ClassVar[list[str]] = ["number"]


class PingPongCommunity(Community):
    """Pings every verified peer on request; answers pings with pongs carrying the same number."""

    # Replaced by a fresh id for each run when the scenario isolates the overlay.
    community_id = bytes.fromhex("677363656e2070696e672d706f6e6720302e3031")

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.pongs = 0
        self.add_message_handler(Ping, self.on_ping)
        self.add_message_handler(Pong, self.on_pong)

    def ping_everyone(self) -> int:
        peers = self.get_peers()
        for number, peer in enumerate(peers, start=1):
            self.logger.info("Sending ping to peer %s", peer)
            self.ez_send(peer, Ping(number))
        return len(peers)

    @lazy_wrapper(Ping)
    def on_ping(self, peer: Peer, payload: Ping) -> None:
        self.logger.info("Received ping from peer %s", peer)
        self.ez_send(peer, Pong(payload.number))

    @lazy_wrapper(Pong)
    def on_pong(self, peer: Peer, payload: Pong) -> None:
        self.pongs += 1
        self.logger.info("Received pong from peer %s", peer)


@overlay(PingPongCommunity)
class PingPongLauncher(IPv8CommunityLauncher):
    pass


class PingPongModule(IPv8OverlayExperimentModule):
    """Scenario control of the ping-pong overlay."""

    def __init__(self, experiment):
        super().__init__(experiment, PingPongCommunity)

    def on_id_received(self):
        super().on_id_received()
        self.ipv8_provider.custom_ipv8_community_loader.set_launcher(PingPongLauncher())

    @experiment_callback
    def send_ping(self):
        sent = self.overlay.ping_everyone()
        self._logger.info("pinged %d peers", sent)

    @experiment_callback
    def write_pongs(self):
        with open("pongs.txt", "w") as f:
            f.write(f"{self.overlay.pongs}\n")
