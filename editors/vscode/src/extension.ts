// The gscen extension: starts `gscen lsp` on stdio for `.scenario` files and restarts it when its
// command settings change. All language features come from the server; this file only wires it.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

const LANGUAGE_ID = "gscen-scenario";

let client: LanguageClient | undefined;

function serverOptions(): ServerOptions {
  const config = vscode.workspace.getConfiguration("gscen");
  const command = config.get<string>("server.command", "gscen");
  const args = config.get<string[]>("server.args", ["lsp"]);
  const executable = { command, args, transport: TransportKind.stdio };
  return { run: executable, debug: executable };
}

async function startClient(): Promise<void> {
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: LANGUAGE_ID },
      { scheme: "untitled", language: LANGUAGE_ID },
    ],
    // No `synchronize.fileEvents`: the server registers its own watchers (`&module` Python files,
    // `&include`d scenarios, `.conf` files) through dynamic registration, which this client supports.
  };
  client = new LanguageClient("gscen", "gscen language server", serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (error) {
    const command = vscode.workspace.getConfiguration("gscen").get<string>("server.command", "gscen");
    void vscode.window.showErrorMessage(
      `gscen: could not start \`${command} lsp\` (${String(error)}). ` +
        "Install gscen in the environment VS Code sees, or set `gscen.server.command`.",
    );
  }
}

async function restartClient(): Promise<void> {
  const old = client;
  client = undefined;
  if (old !== undefined) {
    await old.stop().catch(() => undefined);
  }
  await startClient();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("gscen.restartServer", () => restartClient()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("gscen.server")) {
        void restartClient();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  if (client !== undefined) {
    await client.stop();
  }
}
