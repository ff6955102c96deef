// Building DOM nodes without HTML strings: every piece of text goes in through a text node, so model output and
// user text can never become markup.

export type Child = Node | string | null | undefined | false;

export interface ElementOptions {
  readonly className?: string;
  readonly text?: string;
  /** Attributes set with setAttribute (values are text, never parsed as HTML). */
  readonly attrs?: Readonly<Record<string, string | undefined>>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (options.className) element.className = options.className;
  if (options.attrs) {
    for (const [name, value] of Object.entries(options.attrs)) {
      if (value !== undefined) element.setAttribute(name, value);
    }
  }
  if (options.text !== undefined) element.textContent = options.text;
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function icon(name: string, className = ''): HTMLElement {
  // vscode-icon renders a codicon from the page's codicon stylesheet (link id "vscode-codicon-stylesheet").
  return el('vscode-icon', { className, attrs: { name, 'aria-hidden': 'true' } });
}

export function clear(element: Element): void {
  element.replaceChildren();
}
