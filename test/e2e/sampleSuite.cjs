// A trivial extension test module, run in code-server's real extension host by runExtensionTests() (see
// codeServer.mjs): it proves the launcher's test wiring. `run()` resolves when the tests pass, rejects otherwise,
// as for @vscode/test-electron.
const assert = require('node:assert/strict');

exports.run = async function run() {
  const vscode = require('vscode');
  assert.match(vscode.version, /^1\.\d+\.\d+/, `vscode.version is ${vscode.version}`);
  const extension = vscode.extensions.getExtension('codegen-mt.codegen-mt');
  assert.ok(extension, 'the development extension codegen-mt.codegen-mt is loaded');
  const folders = vscode.workspace.workspaceFolders ?? [];
  assert.equal(folders.length, 1, 'one workspace folder is open');
  console.log(`sampleSuite: VS Code ${vscode.version}, extension ${extension.id} ${extension.packageJSON.version} from ${extension.extensionPath}, workspace ${folders[0].uri.fsPath}`);
};
