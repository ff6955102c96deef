// The panel's buttons: vscode-button with a label, and the icon-only vscode-toolbar-button.
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import { el } from './dom';

export interface ButtonOptions {
  readonly label: string;
  readonly icon?: string;
  readonly title?: string;
  readonly secondary?: boolean;
  /** Identifies the control inside its turn, so that focus can be kept across a re-render. */
  readonly action?: string;
  /** The accessible name when it should say more than the visible label (e.g. which turn). */
  readonly ariaLabel?: string;
  readonly onClick: () => void;
}

export function makeButton(options: ButtonOptions): VscodeButton {
  const button = el('vscode-button', {
    attrs: {
      icon: options.icon,
      title: options.title ?? options.label,
      'aria-label': options.ariaLabel ?? options.label,
      'data-action': options.action,
      secondary: options.secondary ? '' : undefined,
    },
    text: options.label,
  });
  button.addEventListener('click', (event) => {
    // A button inside a turn must not also count as a click on the turn.
    event.stopPropagation();
    options.onClick();
  });
  return button;
}

export function toolbarButton(iconName: string, label: string, onClick: () => void): HTMLElement {
  const button = el('vscode-toolbar-button', { attrs: { icon: iconName, label, title: label } });
  button.addEventListener('click', onClick);
  return button;
}
