"""docs/editors.md shows the configurations the tests run, and the VS Code manifest points at real files."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from editor_harness import EDITORS, REPO

DOC = REPO / "docs" / "editors.md"
VSCODE = EDITORS / "vscode"


def fenced_blocks(language: str) -> list[str]:
    """The bodies of the doc's ``` blocks tagged `language`."""
    pattern = re.compile(rf"^```{re.escape(language)}\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return pattern.findall(DOC.read_text())


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VSCODE / "package.json").read_text())
    return data


def test_docs_show_the_tested_neovim_config_verbatim() -> None:
    assert (EDITORS / "neovim" / "gscen.lua").read_text() in fenced_blocks("lua")


def test_docs_show_the_tested_emacs_init_file_verbatim() -> None:
    assert (EDITORS / "emacs" / "gscen-scenario.el").read_text() in fenced_blocks("elisp")


def test_docs_helix_snippet_is_toml_that_starts_gscen_lsp_for_scenario_files() -> None:
    (snippet,) = fenced_blocks("toml")
    config = tomllib.loads(snippet)
    assert config["language-server"]["gscen"] == {"command": "gscen", "args": ["lsp"]}
    (language,) = config["language"]
    assert language["file-types"] == ["scenario"]
    assert language["language-servers"] == ["gscen"]
    assert language["comment-token"] == "#"


def test_vscode_manifest_declares_the_language_its_grammar_and_configuration_files() -> None:
    contributes = manifest()["contributes"]
    (language,) = contributes["languages"]
    (grammar,) = contributes["grammars"]
    assert (language["id"], language["extensions"]) == ("gscen-scenario", [".scenario"])
    assert grammar["language"] == "gscen-scenario"
    textmate = json.loads((VSCODE / grammar["path"]).read_text())
    assert textmate["scopeName"] == grammar["scopeName"]
    configuration = json.loads((VSCODE / language["configuration"]).read_text())
    assert configuration["comments"] == {"lineComment": "#"}
    assert configuration["brackets"] == [["{", "}"]]


def test_vscode_extension_starts_gscen_lsp_by_default_with_a_configurable_command() -> None:
    properties = manifest()["contributes"]["configuration"]["properties"]
    assert properties["gscen.server.command"]["default"] == "gscen"
    assert properties["gscen.server.args"]["default"] == ["lsp"]
    source = (VSCODE / "src" / "extension.ts").read_text()
    assert 'from "vscode-languageclient/node"' in source
    assert '"server.command"' in source


def test_vscode_grammar_tests_cover_every_construct_of_the_language() -> None:
    asserted: set[str] = set()
    for test_file in sorted((VSCODE / "tests").glob("*.test.scenario")):
        for line in test_file.read_text().splitlines():
            # `#   ^^^ scope another.scope - excluded.scope` or `# <--- scope`: the required scopes
            assertion = re.match(r"#\s*(?:\^+|<~*-+)\s+(.*)", line)
            if assertion:
                asserted.update(re.split(r"(?:^|\s)-\s", assertion[1])[0].split())
    scopes = {
        "constant.numeric.time.scenario",
        "keyword.operator.immediate.scenario",
        "entity.name.function.callback.scenario",
        "variable.parameter.named.scenario",
        "string.quoted.double.scenario",
        "string.quoted.single.scenario",
        "variable.other.scenario",
        "meta.peerspec.scenario",
        "keyword.control.directive.module.scenario",
        "keyword.control.directive.include.scenario",
        "comment.line.number-sign.scenario",
        "keyword.control.loop.for.scenario",
    }
    assert scopes - asserted == set()
