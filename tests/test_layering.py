"""Data flows one way: the front end imports neither the runtime nor the language server, the
language server imports no runtime, and only parse.py imports lark."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# Top-level folders of the checkout -> the package they are installed as (pyproject.toml).
PACKAGES = {"scenario_lang": "scenario_lang", "runtime": "scenario_lang.runtime", "lsp": "scenario_lang.lsp"}


def package_of(relative: Path) -> str:
    """The package a source file of the checkout belongs to: `lsp/features/hover.py` ->
    `scenario_lang.lsp.features` (the folders below the top one are subpackages)."""
    top, *folders = relative.parts[:-1]
    return ".".join([PACKAGES[top], *folders])


def imports_in(source: str, relative: Path) -> set[str]:
    """Every module `source` (the text of the file at `relative`) imports, relative imports resolved
    against its own package, as Python resolves them."""
    package = package_of(relative).split(".")
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level <= len(package), f"{relative}: import beyond the top-level package"
                base = package[: len(package) - (node.level - 1)]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(encoding="utf-8"), path.relative_to(REPO))


def sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def forbidden_imports(folder: str, forbidden: tuple[str, ...], source: Callable[[Path], str]) -> list[str]:
    """`file imports {...}` for each file of `folder` (its text from `source`) that imports a module
    starting with one of `forbidden`."""
    found = []
    for path in sources(folder):
        relative = path.relative_to(REPO)
        bad = {n for n in imports_in(source(path), relative) if n.startswith(forbidden)}
        if bad:
            found.append(f"{relative} imports {sorted(bad)}")
    return found


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_front_end_imports_no_runtime_and_no_language_server() -> None:
    assert not forbidden_imports("scenario_lang", ("scenario_lang.runtime", "scenario_lang.lsp"), _text)


def test_language_server_imports_no_runtime() -> None:
    assert not forbidden_imports("lsp", ("scenario_lang.runtime",), _text)


def test_a_relative_import_of_the_runtime_in_a_language_server_feature_is_caught() -> None:
    # Three dots from lsp/features/ reach scenario_lang: this is scenario_lang.runtime.run.
    hover = REPO / "lsp" / "features" / "hover.py"

    def with_violation(path: Path) -> str:
        text = _text(path)
        return text + "\nfrom ...runtime.run import prepare_run\n" if path == hover else text

    assert forbidden_imports("lsp", ("scenario_lang.runtime",), with_violation) == [
        "lsp/features/hover.py imports ['scenario_lang.runtime.run']"
    ]
    assert imports_in("from ..store import x\nfrom . import y\n", Path("lsp/features/hover.py")) == {
        "scenario_lang.lsp.store",
        "scenario_lang.lsp.features",
    }


def test_only_the_parser_imports_lark() -> None:
    for folder in ("scenario_lang", "runtime", "lsp"):
        for path in sources(folder):
            if any(n == "lark" or n.startswith("lark.") for n in imports_of(path)):
                assert path == REPO / "scenario_lang" / "parse.py", path


def test_plan_module_loads_without_the_parser() -> None:
    import subprocess
    import sys

    code = "import sys, scenario_lang.plan; print('lark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_plan_file_format_is_read_with_the_standard_library_only() -> None:
    # The peers and the front end share this one reader; a peer must not pay for the front end.
    import sys

    path = REPO / "scenario_lang" / "plan_file.py"
    outside = {n for n in imports_of(path) if n.split(".")[0] not in sys.stdlib_module_names}
    assert not outside, f"plan_file.py imports {outside}"
