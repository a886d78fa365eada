"""Data flows one way: the front end imports neither the runtime nor the language server, the
language server imports no runtime, and only parse.py imports lark."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    package = {
        "scenario_lang": "scenario_lang",
        "runtime": "scenario_lang.runtime",
        "lsp": "scenario_lang.lsp",
    }[path.relative_to(REPO).parts[0]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def test_front_end_imports_no_runtime_and_no_language_server() -> None:
    for path in sources("scenario_lang"):
        bad = {n for n in imports_of(path) if n.startswith(("scenario_lang.runtime", "scenario_lang.lsp"))}
        assert not bad, f"{path.name} imports {bad}"


def test_language_server_imports_no_runtime() -> None:
    for path in sources("lsp"):
        bad = {n for n in imports_of(path) if n.startswith("scenario_lang.runtime")}
        assert not bad, f"{path.name} imports {bad}"


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
