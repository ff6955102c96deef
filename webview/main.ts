// The Multi-turn panel's entry point: the webview side of src/protocol/webview.ts. Browser code, DOM only. It
// registers the elements it uses, builds the panel (panel.ts) over vscode.getState()/setState() (so hiding and
// showing the view loses nothing) and hands it the host's messages.
//
// Security: nothing from the host or the user is ever parsed as HTML. Every node is built with createElement and
// every text goes in through textContent / text nodes (see dom.ts).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import type { FromWebview, ToWebview } from '../src/protocol/webview';
import { el } from './dom';
import { Panel } from './panel';
import { parseSavedState, type SavedState, type SavedStateStorage } from './savedState';
import './main.css';

const api = acquireVsCodeApi<FromWebview, SavedState>();
const storage: SavedStateStorage = {
  load: () => parseSavedState(api.getState()),
  // A copy: the store keeps changing its own object.
  save: (state) => void api.setState({ ...state }),
};
const root = document.getElementById('app') ?? document.body.appendChild(el('div', { attrs: { id: 'app' } }));
const panel = new Panel(root, storage, (message) => api.postMessage(message));

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const data = event.data;
  // Messages come from the extension host; anything not shaped like one of ours is ignored.
  if (typeof data !== 'object' || data === null || typeof (data as { type?: unknown }).type !== 'string') return;
  try {
    panel.handle(data as ToWebview);
  } catch (error) {
    console.error('codegen-mt panel: could not handle message', data, error);
  }
});

panel.start();
