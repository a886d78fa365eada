"""An overlay for network conditions (tests/runtime/test_netem_run.py, bench/faults_lateness.py): each
peer greets every other peer (or the next few) on command, tagged with a phase, and records what
arrives (`hellos.txt`: `<phase> <from id>` per line); `tick` does nothing (an event whose lateness is
all the scheduler's)."""

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
class Hello(VariablePayload):
    msg_id = 1
    format_list: ClassVar[list[str]] = ["I", "I"]
    names: ClassVar[list[str]] = ["sender", "phase"]


class NetemMeshCommunity(Community):
    community_id = bytes.fromhex("677363656e206e6574656d20746573742121212e")

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.received: list[tuple[int, int]] = []
        self.add_message_handler(Hello, self.on_hello)

    @lazy_wrapper(Hello)
    def on_hello(self, peer: Peer, payload: Hello) -> None:
        self.received.append((payload.phase, payload.sender))


@overlay(NetemMeshCommunity)
class NetemMeshLauncher(IPv8CommunityLauncher):
    pass


class NetemMeshModule(IPv8OverlayExperimentModule):
    def __init__(self, experiment):
        super().__init__(experiment, NetemMeshCommunity)

    def on_id_received(self):
        super().on_id_received()
        self.ipv8_provider.custom_ipv8_community_loader.set_launcher(NetemMeshLauncher())

    @experiment_callback
    def greet_everyone(self, phase: int) -> None:
        for peer_id in self.all_vars:
            if int(peer_id) != self.my_id:
                self.overlay.ez_send(self.get_peer(peer_id), Hello(self.my_id, phase))

    @experiment_callback
    def greet_next(self, phase: int, count: int) -> None:
        """Greet the `count` peers after this one in id order (wrapping round)."""
        ids = sorted(int(peer_id) for peer_id in self.all_vars)
        at = ids.index(self.my_id)
        for peer_id in (ids[(at + k) % len(ids)] for k in range(1, count + 1)):
            self.overlay.ez_send(self.get_peer(peer_id), Hello(self.my_id, phase))

    @experiment_callback
    def tick(self) -> None:
        pass

    @experiment_callback
    def write_hellos(self) -> None:
        with open("hellos.txt", "w") as f:
            f.writelines(f"{phase} {sender}\n" for phase, sender in sorted(self.overlay.received))
