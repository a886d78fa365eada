"""Modules that misuse IPv8 on purpose, for the tests of clear errors."""

import os

from gumby.experiment import experiment_callback
from gumby.modules.base_ipv8_module import BaseIPv8Module
from gumby.modules.community_experiment_module import IPv8OverlayExperimentModule
from gumby.modules.ipv8_community_launchers import IPv8CommunityLauncher
from ipv8.community import Community
from ipv8.loader import overlay


class BrokenCommunity(Community):
    community_id = bytes(range(20))

    def __init__(self, settings):
        raise RuntimeError("this community cannot be built")


@overlay(BrokenCommunity)
class BrokenLauncher(IPv8CommunityLauncher):
    pass


class BrokenModule(IPv8OverlayExperimentModule):
    def __init__(self, experiment):
        super().__init__(experiment, BrokenCommunity)

    def on_id_received(self):
        super().on_id_received()
        self.ipv8_provider.custom_ipv8_community_loader.set_launcher(BrokenLauncher())

    @experiment_callback
    def touch(self):
        open("touched.txt", "w").close()


class FixedPortIPv8(BaseIPv8Module):
    """Asks for one UDP port, explicitly (the test holds it)."""

    def on_id_received(self):
        self.ipv8_port = int(os.environ["GSCEN_TEST_TAKEN_PORT"])
        super().on_id_received()
