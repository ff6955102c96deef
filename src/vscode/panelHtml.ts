// The panel's HTML, built in one pure function (no `vscode` import, so it is unit-tested in plain Node): a strict
// CSP with a per-load nonce, and only URLs the host has passed through asWebviewUri.
import { randomBytes } from 'node:crypto';

export interface PanelHtmlInput {
  /** webview.cspSource */
  readonly cspSource: string;
  readonly nonce: string;
  /** asWebviewUri of dist/webview/main.js, main.css and codicon.css */
  readonly scriptUri: string;
  readonly styleUri: string;
  readonly codiconsUri: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
}

export function panelHtml(input: PanelHtmlInput): string {
  const nonce = escapeAttribute(input.nonce);
  const csp = escapeAttribute(contentSecurityPolicy(input.cspSource, input.nonce));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp};">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttribute(input.codiconsUri)}" id="vscode-codicon-stylesheet" nonce="${nonce}">
<link rel="stylesheet" href="${escapeAttribute(input.styleUri)}" nonce="${nonce}">
<title>CodeGen Multi-turn</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${escapeAttribute(input.scriptUri)}"></script>
</body>
</html>
`;
}
