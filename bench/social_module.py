"""Typed callbacks for the Dispersy-era social scenario (experiments/dispersy/social_act_processed).

The benchmark adds `&module social_module.SocialModule` to a copy of that scenario so that every one of
its 118,770 lines is type-checked.
"""

from scenario_lang import ExperimentModule, experiment_callback


class SocialModule(ExperimentModule):
    @experiment_callback
    def set_master_member(self, key: str) -> None:
        """Use this community master member key."""

    @experiment_callback
    def set_community_class(self, name: str) -> None:
        """Select the community implementation."""

    @experiment_callback
    def start_dispersy(self) -> None:
        """Start the overlay."""

    @experiment_callback
    def insert_my_key(self) -> None:
        """Publish this peer's key."""

    @experiment_callback
    def reset_dispersy_statistics(self) -> None:
        """Zero the counters."""

    @experiment_callback
    def connect_to_friends(self) -> None:
        """Connect to every friend."""

    @experiment_callback
    def online(self) -> None:
        """Bring this peer online."""

    @experiment_callback
    def offline(self) -> None:
        """Take this peer offline."""

    @experiment_callback
    def add_friend(self, peer_id: int) -> None:
        """Befriend a peer."""

    @experiment_callback
    def add_foaf(self, peer_id: int, friends: str = "[]") -> None:
        """Add a friend of a friend."""

    @experiment_callback
    def send_post(self, post_id: int, copies: int = 1) -> None:
        """Post a message."""
