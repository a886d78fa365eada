"""Put last on PYTHONPATH by `gscen run` for the programs it starts (post-processing scripts): makes
Gumby's module names importable there too (`gumby.statsparser`, ...), through the same import hook
the peers use, then runs the `sitecustomize` this file hides, if there is one further on the path.
Loads the hook by file (standard library only), so Python's start-up does not import gscen."""

import importlib.machinery
import importlib.util
import os
import sys


def _install_and_chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    hook = os.path.join(os.path.dirname(here), "__init__.py")
    spec = importlib.util.spec_from_file_location("_gscen_gumby_api_hook", hook)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.install()
    others = [p for p in sys.path if p and os.path.abspath(p) != here]
    hidden = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if hidden is not None and hidden.loader is not None:
        chained = importlib.util.module_from_spec(hidden)
        hidden.loader.exec_module(chained)


_install_and_chain()
