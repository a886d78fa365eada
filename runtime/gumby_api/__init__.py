"""Gumby's module API for experiment modules written against Gumby: an import hook and the files it serves.

`install()` appends `GumbyApiFinder` to `sys.meta_path` (once per process). Being last, it is asked
only for modules nothing else found, and answers these from the folder `ROOT` (this package):

    gumby, gumby.modules, gumby.experiment (experiment_callback), gumby.statsparser
    (StatisticsParser), gumby.modules.experiment_module (ExperimentModule),
    gumby.modules.base_ipv8_module (IPv8Provider, BaseIPv8Module),
    gumby.modules.community_experiment_module (IPv8OverlayExperimentModule),
    gumby.modules.ipv8_community_launchers (IPv8CommunityLauncher and Gumby's launchers),
    ipv8.types (the names pyipv8 2.x held there; pyipv8 3.x has no such module)

So a real Gumby on the path wins, and a `gumby/` folder that lacks these files (a namespace package,
as a Gumby corpus without its sources) does not hide them. The checker reads the same files
(`scenario_lang.signatures` searches `ROOT` after everything else), so check and run agree.
The files re-export gscen's classes (`runtime.ipv8`, `runtime.gumby_module`, `scenario_lang`).

`SITE` is a folder whose `sitecustomize.py` installs the hook at start-up: `gscen run` puts it last on
the PYTHONPATH of the programs it starts, so post-processing scripts import Gumby's names as well.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SITE = ROOT / "site"

# module name -> file below ROOT
PROVIDED: dict[str, str] = {
    "gumby": "gumby/__init__.py",
    "gumby.modules": "gumby/modules/__init__.py",
    "gumby.experiment": "gumby/experiment.py",
    "gumby.statsparser": "gumby/statsparser.py",
    "gumby.modules.experiment_module": "gumby/modules/experiment_module.py",
    "gumby.modules.base_ipv8_module": "gumby/modules/base_ipv8_module.py",
    "gumby.modules.community_experiment_module": "gumby/modules/community_experiment_module.py",
    "gumby.modules.ipv8_community_launchers": "gumby/modules/ipv8_community_launchers.py",
    "ipv8.types": "ipv8/types.py",
}


class GumbyApiFinder(importlib.abc.MetaPathFinder):
    """Answers the `PROVIDED` names that no earlier finder found (see the module docstring)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        relative = PROVIDED.get(fullname)
        if relative is None:
            return None
        file = ROOT / relative
        package = file.name == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, file, submodule_search_locations=[str(file.parent)] if package else None
        )


def install() -> None:
    """Make the Gumby names importable in this process (idempotent)."""
    # by name: the sitecustomize start-up hook loads this file under another module name
    if not any(type(finder).__name__ == GumbyApiFinder.__name__ for finder in sys.meta_path):
        sys.meta_path.append(GumbyApiFinder())
