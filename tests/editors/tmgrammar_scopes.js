// Tokenize lines with the VS Code extension's TextMate grammar, through the same engine VS Code uses
// (vscode-textmate + vscode-oniguruma, from editors/vscode/node_modules).
// Usage: node tmgrammar_scopes.js EXTENSION_DIR < lines.json > tokens.json
// Input: a JSON array of lines, each tokenized on its own (scenario lines are independent).
// Output: per line, an array of [start, end, scopes] with UTF-16 offsets, the root scope left out.
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const extension = path.resolve(process.argv[2]);
  const modules = path.join(extension, "node_modules");
  const textmate = require(path.join(modules, "vscode-textmate"));
  const oniguruma = require(path.join(modules, "vscode-oniguruma"));
  const wasm = fs.readFileSync(path.join(modules, "vscode-oniguruma", "release", "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));

  const manifest = JSON.parse(fs.readFileSync(path.join(extension, "package.json"), "utf8"));
  const [contributed] = manifest.contributes.grammars;
  const grammarPath = path.join(extension, contributed.path);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === contributed.scopeName
        ? textmate.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath)
        : null,
  });
  const grammar = await registry.loadGrammar(contributed.scopeName);
  const lines = JSON.parse(fs.readFileSync(0, "utf8"));
  const out = lines.map((line) =>
    grammar
      .tokenizeLine(line, textmate.INITIAL)
      .tokens.map((t) => [t.startIndex, Math.min(t.endIndex, line.length), t.scopes.slice(1)]),
  );
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
