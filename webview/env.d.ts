// Ambient declarations for the webview bundle.

// CSS imported from TypeScript is bundled by esbuild into dist/webview/main.css.
declare module '*.css';

/** The VS Code webview API, available once per page (https://code.visualstudio.com/api/extension-guides/webview). */
interface VsCodeWebviewApi<Message, State> {
  postMessage(message: Message): void;
  getState(): State | undefined;
  setState<T extends State>(state: T): T;
}
declare function acquireVsCodeApi<Message = unknown, State = unknown>(): VsCodeWebviewApi<Message, State>;
