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

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: LANGUAGE_ID },
      { scheme: "untitled", language: LANGUAGE_ID },
    ],
    synchronize: {
      // The server re-checks a scenario when a `&module` Python file or an `&include`d file changes.
      fileEvents: [
        vscode.workspace.createFileSystemWatcher("**/*.py"),
        vscode.workspace.createFileSystemWatcher("**/*.scenario"),
        vscode.workspace.createFileSystemWatcher("**/*.conf"),
      ],
    },
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
  context.subscriptions.push({ dispose: () => void client?.stop() });
}

async function restartClient(context: vscode.ExtensionContext): Promise<void> {
  const old = client;
  client = undefined;
  if (old !== undefined) {
    await old.stop().catch(() => undefined);
  }
  await startClient(context);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("gscen.restartServer", () => restartClient(context)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("gscen.server")) {
        void restartClient(context);
      }
    }),
  );
  await startClient(context);
}

export async function deactivate(): Promise<void> {
  if (client !== undefined) {
    await client.stop();
  }
}
