"""The experiment module of the language-server benchmark: the callbacks of the corpus' largest
scenario (experiments/dispersy/social_act_processed.scenario), declared with typed parameters so that
every call is type-checked. Read statically by gscen, never imported."""

from scenario_lang import ExperimentModule, experiment_callback


class SocialModule(ExperimentModule):
    @experiment_callback
    def set_master_member(self, key: str) -> None:
        """Set the master member key."""

    @experiment_callback
    def set_community_class(self, name: str) -> None:
        """Choose the community class."""

    @experiment_callback
    def start_dispersy(self) -> None:
        """Start Dispersy."""

    @experiment_callback
    def insert_my_key(self) -> None:
        """Insert my key."""

    @experiment_callback
    def online(self) -> None:
        """Go online."""

    @experiment_callback
    def offline(self) -> None:
        """Go offline."""

    @experiment_callback
    def add_friend(self, peer: int) -> None:
        """Add a friend."""

    @experiment_callback
    def add_foaf(self, peer: int, friends: str) -> None:
        """Add a friend of a friend."""

    @experiment_callback
    def send_post(self, post_id: int, text: str = "") -> None:
        """Send a post."""

    @experiment_callback
    def connect_to_friends(self) -> None:
        """Connect."""

    @experiment_callback
    def reset_dispersy_statistics(self) -> None:
        """Reset stats."""
