// Python code as coloured spans: one span per token (class `tok-<kind>`), text through textContent only.
// The colours follow the theme: see main.css, "Syntax colours".
import { tokenizePython } from './pythonTokens';

export function renderPython(target: HTMLElement, code: string): void {
  const fragment = document.createDocumentFragment();
  for (const token of tokenizePython(code)) {
    if (token.kind === 'whitespace') {
      fragment.appendChild(document.createTextNode(token.text));
      continue;
    }
    const span = document.createElement('span');
    span.className = `tok-${token.kind}`;
    span.textContent = token.text;
    fragment.appendChild(span);
  }
  target.replaceChildren(fragment);
}
