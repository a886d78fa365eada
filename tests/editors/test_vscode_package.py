"""The .vsix that .ci/editors.sh packages (`npm run package`) holds a loadable extension: manifest,
compiled client, grammar, language configuration and the language client library."""

from __future__ import annotations

import json
import zipfile

import pytest
from editor_harness import EDITORS

VSIX = EDITORS / "vscode" / "gscen-scenario.vsix"

pytestmark = pytest.mark.skipif(
    not VSIX.is_file(), reason="the .vsix is not built (.ci/editors.sh runs `npm run package`)"
)


def test_vsix_holds_the_manifest_compiled_client_grammar_and_language_client() -> None:
    with zipfile.ZipFile(VSIX) as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
    assert manifest["main"] == "./out/extension.js"
    assert "extension/out/extension.js" in names
    assert "extension/syntaxes/scenario.tmLanguage.json" in names
    assert "extension/language-configuration.json" in names
    assert "extension/node_modules/vscode-languageclient/package.json" in names


def test_vsix_leaves_out_sources_tests_and_dev_tools() -> None:
    with zipfile.ZipFile(VSIX) as vsix:
        names = vsix.namelist()
    assert not [n for n in names if n.startswith(("extension/src/", "extension/tests/"))]
    assert not [n for n in names if "/node_modules/typescript/" in n or "/node_modules/@vscode/vsce/" in n]
