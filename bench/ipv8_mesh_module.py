"""The benchmark's overlay: every peer sends one `Hello` to every other peer and records what arrives.

Written against Gumby's module API, as an experiment author would. `greet_everyone` sends to every
peer of the all-vars document (address and key as published), after `introduce_peers`; each receipt
is kept with its wall-clock time, and `write_hellos` writes them to hellos.txt (`<epoch> <from id>`)
with the number of peers this peer had verified when it greeted (`verified.txt`).
"""

from __future__ import annotations

import time
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
class Hello(VariablePayload):
    msg_id = 1
    format_list: ClassVar[list[str]] = ["I"]
    names: ClassVar[list[str]] = ["sender"]


class MeshCommunity(Community):
    community_id = bytes.fromhex("677363656e206d657368206265636e6d61726b21")

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.received: list[tuple[float, int]] = []
        self.add_message_handler(Hello, self.on_hello)

    @lazy_wrapper(Hello)
    def on_hello(self, peer: Peer, payload: Hello) -> None:
        self.received.append((time.time(), payload.sender))


@overlay(MeshCommunity)
class MeshLauncher(IPv8CommunityLauncher):
    pass


class MeshModule(IPv8OverlayExperimentModule):
    def __init__(self, experiment):
        super().__init__(experiment, MeshCommunity)
        self.verified_at_greeting = -1

    def on_id_received(self):
        super().on_id_received()
        self.ipv8_provider.custom_ipv8_community_loader.set_launcher(MeshLauncher())

    @experiment_callback
    def greet_everyone(self):
        self.verified_at_greeting = len(self.overlay.get_peers())
        for peer_id in self.all_vars:
            if int(peer_id) != self.my_id:
                self.overlay.ez_send(self.get_peer(peer_id), Hello(self.my_id))

    @experiment_callback
    def write_hellos(self):
        with open("hellos.txt", "w") as f:
            f.writelines(f"{when:.6f} {sender}\n" for when, sender in self.overlay.received)
        with open("verified.txt", "w") as f:
            f.write(f"{self.verified_at_greeting}\n")
