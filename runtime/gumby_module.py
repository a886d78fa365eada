"""Gumby's `ExperimentModule` behaviour on top of gscen's: what modules written for Gumby call on `self`.

Takes the peer's context (`PeerContext`, here `PeerState`); adds Gumby's helpers to
`scenario_lang.ExperimentModule`: the `_logger` attribute, `print_dict_changes`, `autoplot_create` /
`autoplot_add_point`, `str2bool`, `get_dir_size`, and the registration of the instance in
`experiment.experiment_modules` (IPv8 overlay modules look their provider up there). Gumby's
`gumby.modules.experiment_module.ExperimentModule` is this class (`gumby_api`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from scenario_lang.authoring import ExperimentModule, PeerContext


def loaded_modules(experiment: object) -> list[object]:
    """The modules loaded so far for this peer, in `&module` order (Gumby's `experiment_modules`)."""
    modules: list[object] | None = getattr(experiment, "experiment_modules", None)
    if modules is None:
        # The peer's context predates the list: keep it on the context itself, one per peer.
        modules = []
        setattr(experiment, "experiment_modules", modules)  # noqa: B010
    return modules


class GumbyExperimentModule(ExperimentModule):
    """`scenario_lang.ExperimentModule` with Gumby's helpers (see the module docstring)."""

    def __init__(self, experiment: PeerContext) -> None:
        super().__init__(experiment)
        self._logger = self.logger
        modules = loaded_modules(experiment)
        if self not in modules:
            modules.append(self)

    def print_dict_changes(self, name: str, prev_dict: dict[str, Any], cur_dict: dict[str, Any]) -> None:
        """Append `<epoch> <id> <name> <json of the changed keys>` to annotations.csv (Gumby's format)."""
        changed = {k: v for k, v in cur_dict.items() if prev_dict.get(k) != v}
        if not changed:
            return
        with open("annotations.csv", "a", encoding="utf-8") as f:
            f.write(f"{time.time():.1f} {self.my_id} {name} {json.dumps(changed)}\n")

    def autoplot_create(self, statistic_name: str, column_name: str | None = None) -> None:
        """Declare a statistic: `autoplot.txt` names its file, `autoplot/<name>.csv` gets its header."""
        with open("autoplot.txt", "a", encoding="utf-8") as f:
            f.write(f"{statistic_name}.csv\n")
        os.makedirs("autoplot", exist_ok=True)
        with open(f"autoplot/{statistic_name}.csv", "w", encoding="utf-8") as f:
            f.write(f"time,pid,{column_name or statistic_name}\n")

    def autoplot_add_point(self, statistic_name: str, value: float) -> None:
        with open(f"autoplot/{statistic_name}.csv", "a", encoding="utf-8") as f:
            f.write(f"{time.time():f},{self.my_id},{int(value)}\n")

    @staticmethod
    def str2bool(v: str) -> bool:
        return v.lower() in ("yes", "true", "t", "1")

    @staticmethod
    def get_dir_size(path: str = ".") -> int:
        total = 0
        for folder, _, files in os.walk(path):
            for name in files:
                full = os.path.join(folder, name)
                if not os.path.islink(full):
                    total += os.path.getsize(full)
        return total
