"""An IPv8 overlay module for the checker cases (read with `ast`, never run here)."""

from ipv8.community import Community
from ipv8.loader import overlay

from gumby.experiment import experiment_callback
from gumby.modules.community_experiment_module import IPv8OverlayExperimentModule
from gumby.modules.ipv8_community_launchers import IPv8CommunityLauncher


class GossipCommunity(Community):
    community_id = bytes(20)


@overlay(GossipCommunity)
class GossipLauncher(IPv8CommunityLauncher):
    pass


class GossipModule(IPv8OverlayExperimentModule):
    def __init__(self, experiment):
        super().__init__(experiment, GossipCommunity)

    @experiment_callback
    def gossip(self, rounds: int) -> None:
        pass
