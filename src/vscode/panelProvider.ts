// The multi-turn panel: a webview view. It builds the HTML (panelHtml.ts), checks every message from the webview
// with parseFromWebview and hands valid ones to the session controller; it posts ToWebview messages.
import * as vscode from 'vscode';
import { parseFromWebview, type FromWebview, type ToWebview } from '../protocol/webview';
import type { PanelPort } from '../session/ports';
import { FOCUS_PANEL_VIEW_COMMAND, PANEL_VIEW, SHOW_VIEW_CONTAINER_COMMAND } from './contributes';
import { makeNonce, panelHtml } from './panelHtml';

export class PanelProvider implements vscode.WebviewViewProvider, PanelPort, vscode.Disposable {
  static readonly viewType = PANEL_VIEW;
  private view: vscode.WebviewView | undefined;
  private readonly viewSubscriptions: vscode.Disposable[] = [];
  private focusWhenReady = false;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly onMessage: (message: FromWebview) => void,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.disposeView();
    this.view = view;
    // Everything the page loads is in dist/webview (the build copies the codicon font there too).
    const webviewRoot = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    view.webview.options = { enableScripts: true, localResourceRoots: [webviewRoot] };
    const uri = (base: vscode.Uri, file: string): string => view.webview.asWebviewUri(vscode.Uri.joinPath(base, file)).toString();
    view.webview.html = panelHtml({
      cspSource: view.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: uri(webviewRoot, 'main.js'),
      styleUri: uri(webviewRoot, 'main.css'),
      codiconsUri: uri(webviewRoot, 'codicon.css'),
    });
    this.viewSubscriptions.push(
      view.webview.onDidReceiveMessage((data: unknown) => {
        const message = parseFromWebview(data);
        if (!message) {
          this.log.warn(`Ignored an invalid message from the panel: ${JSON.stringify(data)?.slice(0, 200)}`);
          return;
        }
        this.onMessage(message);
        if (message.type === 'ready' && this.focusWhenReady) {
          this.focusWhenReady = false;
          this.post({ type: 'focusInput' });
        }
      }),
      view.onDidDispose(() => {
        if (this.view === view) this.view = undefined;
        this.disposeView();
      }),
    );
  }

  post(message: ToWebview): void {
    if (!this.view) return;
    this.view.webview.postMessage(message).then(undefined, (err: unknown) => this.log.warn(`Could not post to the panel: ${String(err)}`));
  }

  /** Shows the panel and puts the cursor in its prompt box. */
  async focus(): Promise<void> {
    await vscode.commands.executeCommand(SHOW_VIEW_CONTAINER_COMMAND);
    await vscode.commands.executeCommand(FOCUS_PANEL_VIEW_COMMAND);
    if (this.view) this.post({ type: 'focusInput' });
    else this.focusWhenReady = true;
  }

  private disposeView(): void {
    for (const d of this.viewSubscriptions.splice(0)) d.dispose();
  }

  dispose(): void {
    this.disposeView();
    this.view = undefined;
  }
}
