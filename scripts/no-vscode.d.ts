// Stands in for the `vscode` module in tsconfig.core.json: only src/vscode may use the VS Code API, so anything
// imported from `vscode` elsewhere fails to compile ("has no exported member" / "does not exist").
declare const onlySrcVscodeMayImportVscode: unique symbol;
export { onlySrcVscodeMayImportVscode };
