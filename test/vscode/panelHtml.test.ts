import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeNonce, panelHtml } from '../../src/vscode/panelHtml';
import { perplexityExplanation } from '../../src/session/perplexityView';

const input = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  nonce: 'abc123',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/main.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/main.css',
  codiconsUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/node_modules/@vscode/codicons/dist/codicon.css',
};

test('the panel HTML has the strict CSP, the nonce on its script, and only the given URLs', () => {
  const html = panelHtml(input);
  const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)?.[1];
  assert.equal(
    csp,
    "default-src 'none'; style-src https://file+.vscode-resource.vscode-cdn.net 'nonce-abc123'; script-src 'nonce-abc123'; " +
      "font-src https://file+.vscode-resource.vscode-cdn.net; img-src https://file+.vscode-resource.vscode-cdn.net data:;",
  );
  assert.match(html, /<script nonce="abc123" src="[^"]*\/dist\/webview\/main\.js"><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="[^"]*codicon\.css" id="vscode-codicon-stylesheet"/);
  assert.match(html, /main\.css/);
  assert.match(html, /<div id="app"><\/div>/);
  assert.equal((html.match(/<script/g) ?? []).length, 1, 'no inline script');
  const urls = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
  for (const url of urls) assert.ok(url.startsWith(input.cspSource), url);
});

test('attribute values are escaped; nonces are fresh and long enough', () => {
  const html = panelHtml({ ...input, scriptUri: 'x"><script>alert(1)</script>' });
  assert.doesNotMatch(html, /<script>alert/);
  const a = makeNonce();
  assert.notEqual(a, makeNonce());
  assert.ok(a.length >= 22 && /^[A-Za-z0-9_-]+$/.test(a));
});

test('the hint hover explains the number and names the surprising words', () => {
  const md = perplexityExplanation({ perplexity: 31.26, level: 'high', surprising: [{ text: 'fr`obs', surprisal: 7.04 }] });
  assert.match(md, /\*\*Prompt perplexity 31\.3\*\* \(high\)/);
  assert.match(md, /CodeGen paper/);
  assert.match(md, /rephras/);
  assert.match(md, /`fr'obs` \(7\.0 nats\)/);
});
