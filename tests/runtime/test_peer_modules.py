"""The peer's module loader: `&module` classes imported from the files the checker resolved.

Each test writes real packages into a temporary folder, compiles a scenario naming them (so the
`ModuleSpec`s are the checker's), and loads them with `load_modules`, as the peer does.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
from scenario_lang.runtime.builtin_callbacks import BuiltinCallbacks
from scenario_lang.runtime.loader import ModuleLoadError, load_modules, module_roots
from scenario_lang.runtime.peer import PeerState

from scenario_lang.plan import compile_plan, write_plan_file
from scenario_lang.plan_file import PlanFileReader
from scenario_lang.project import CheckOptions, analyze

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def plan_for(tmp_path: Path, scenario: str) -> PlanFileReader:
    path = tmp_path / "s.scenario"
    path.write_text(scenario)
    analysis = analyze(str(path), CheckOptions(instances=1, find_conf=False, environment={}))
    errors = [d for d in analysis.diagnostics if d.severity.name == "ERROR"]
    assert not errors, errors
    write_plan_file(compile_plan(analysis.program), tmp_path / "s.plan")
    return PlanFileReader(tmp_path / "s.plan")


def load(tmp_path: Path, plan: PlanFileReader) -> tuple[PeerState, list[object], dict[str, list[str]]]:
    state = PeerState(output_root=tmp_path / "out")
    loaded = load_modules(plan.modules, state, BuiltinCallbacks(state))
    names = {n: [t.label for t in loaded.registry.get(n)] for n in sorted(loaded.registry.names())}
    return state, list(loaded.instances), names


def test_a_module_inside_a_package_is_imported_with_its_package_so_relative_imports_work(
    tmp_path: Path,
) -> None:
    pkg = unique("pkg")
    write(
        tmp_path,
        {
            f"{pkg}/__init__.py": "",
            f"{pkg}/sub/__init__.py": "",
            f"{pkg}/sub/helper.py": "GREETING = 'hi'\n",
            f"{pkg}/sub/mod.py": (
                "from scenario_lang import ExperimentModule, experiment_callback\n"
                "from .helper import GREETING\n"
                "class Greeter(ExperimentModule):\n"
                "    @experiment_callback\n"
                "    def greet(self) -> str:\n"
                "        return GREETING\n"
            ),
        },
    )
    plan = plan_for(tmp_path, f"&module {pkg}.sub.mod.Greeter\n@0:1 greet\n")
    assert module_roots(plan.modules) == [str(tmp_path.resolve())]
    state, instances, names = load(tmp_path, plan)
    (greeter,) = instances
    assert type(greeter).__module__ == f"{pkg}.sub.mod"
    assert greeter.greet() == "hi"  # type: ignore[attr-defined]
    assert greeter.experiment is state
    assert names["greet"] == ["Greeter.greet"]


def test_builtins_register_first_then_modules_in_module_order_and_a_class_named_twice_loads_once(
    tmp_path: Path,
) -> None:
    mod = unique("mods")
    write(
        tmp_path,
        {
            f"{mod}.py": (
                "from scenario_lang import ExperimentModule, experiment_callback\n"
                "class Base(ExperimentModule):\n"
                "    @experiment_callback\n"
                "    def shared(self) -> None: ...\n"
                "class B(Base):\n"
                "    @experiment_callback('echo')\n"
                "    def my_echo(self, *words: str) -> None: ...\n"
                "class A(Base):\n"
                "    pass\n"
            )
        },
    )
    plan = plan_for(tmp_path, f"&module {mod}.B\n&module {mod}.A\n&module {mod}.B\n@0:1 shared\n")
    _, instances, names = load(tmp_path, plan)
    assert [type(i).__name__ for i in instances] == ["B", "A"]
    assert names["shared"] == ["B.shared", "A.shared"]
    assert names["echo"] == ["builtin.echo", "B.my_echo"]
    assert names["stop"] == ["builtin.stop"]


def test_a_module_that_fails_to_import_is_a_module_load_error_naming_the_line(tmp_path: Path) -> None:
    mod = unique("broken")
    write(
        tmp_path,
        {
            f"{mod}.py": (
                "from scenario_lang import ExperimentModule, experiment_callback\n"
                "class Broken(ExperimentModule):\n"
                "    @experiment_callback\n"
                "    def go(self) -> None: ...\n"
            )
        },
    )
    plan = plan_for(tmp_path, f"&module {mod}.Broken\n@0:1 go\n")
    (tmp_path / f"{mod}.py").write_text("raise RuntimeError('cannot start')\n")
    with pytest.raises(ModuleLoadError, match=rf"&module {mod}.Broken.*RuntimeError: cannot start"):
        load(tmp_path, plan)
    assert mod not in sys.modules


def test_a_constructor_that_raises_is_a_module_load_error(tmp_path: Path) -> None:
    mod = unique("ctor")
    write(
        tmp_path,
        {
            f"{mod}.py": (
                "from scenario_lang import ExperimentModule, experiment_callback\n"
                "class Picky(ExperimentModule):\n"
                "    def __init__(self, experiment):\n"
                "        super().__init__(experiment)\n"
                "        raise ValueError('no thanks')\n"
                "    @experiment_callback\n"
                "    def go(self) -> None: ...\n"
            )
        },
    )
    plan = plan_for(tmp_path, f"&module {mod}.Picky\n@0:1 go\n")
    with pytest.raises(ModuleLoadError, match=r"Picky.*ValueError: no thanks"):
        load(tmp_path, plan)


def test_a_module_shadowed_by_an_already_imported_one_is_loaded_from_the_resolved_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `textwrap` is already imported from the standard library; the checker resolved the user's
    # textwrap.py beside the scenario, so that file is what the peer must load.
    write(
        tmp_path,
        {
            "textwrap.py": (
                "from scenario_lang import ExperimentModule, experiment_callback\n"
                "class Wrapper(ExperimentModule):\n"
                "    @experiment_callback\n"
                "    def wrap(self) -> None: ...\n"
            )
        },
    )
    plan = plan_for(tmp_path, "&module textwrap.Wrapper\n@0:1 wrap\n")
    assert "textwrap" in sys.modules
    _, instances, names = load(tmp_path, plan)
    assert type(instances[0]).__name__ == "Wrapper" and names["wrap"] == ["Wrapper.wrap"]
    assert Path(sys.modules[type(instances[0]).__module__].__file__ or "") == tmp_path / "textwrap.py"
    assert sys.modules["textwrap"].__file__ != str(tmp_path / "textwrap.py")
    assert any("not the file the checker resolved" in r.getMessage() for r in caplog.records)
