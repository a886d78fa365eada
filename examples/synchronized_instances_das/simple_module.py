"""The tutorial's experiment module: one callback that writes the peer's id into its folder."""

from scenario_lang import ExperimentModule, experiment_callback


class SimpleModule(ExperimentModule):
    """Writes `id.txt` (this peer's id) into the peer's folder, OUTPUT_DIR/<id>/."""

    @experiment_callback
    def write_peer_id(self) -> None:
        (self.output_dir / "id.txt").write_text(f"{self.my_id}\n", encoding="utf-8")
