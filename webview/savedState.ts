// The UI state saved with vscode.setState (what the user is typing and where they were), so that hiding and
// showing the view loses nothing. The format is version 1; anything else that getState() returns is ignored.

/** The turn whose code is being edited, and the edited code. */
export interface Editing {
  turnId: string;
  code: string;
}

export interface SavedState {
  readonly version: 1;
  /** The text in the input. */
  draft: string;
  editing: Editing | null;
  /** A draft that "Try again" replaced, offered back with a Restore button. */
  replacedDraft: string | null;
  scrollTop: number;
}

/** Where the saved state lives: vscode.getState()/setState() in the panel, anything in a test. */
export interface SavedStateStorage {
  load(): SavedState | undefined;
  save(state: SavedState): void;
}

export function emptySavedState(): SavedState {
  return { version: 1, draft: '', editing: null, replacedDraft: null, scrollTop: 0 };
}

/** The saved state if it is ours (version 1 with a draft), fields of the wrong type reset; otherwise undefined. */
export function parseSavedState(value: unknown): SavedState | undefined {
  const saved = value as Partial<SavedState> | undefined;
  if (!saved || saved.version !== 1 || typeof saved.draft !== 'string') return undefined;
  const editing =
    saved.editing && typeof saved.editing.turnId === 'string' && typeof saved.editing.code === 'string'
      ? { turnId: saved.editing.turnId, code: saved.editing.code }
      : null;
  return {
    version: 1,
    draft: saved.draft,
    editing,
    replacedDraft: typeof saved.replacedDraft === 'string' ? saved.replacedDraft : null,
    scrollTop: typeof saved.scrollTop === 'number' ? saved.scrollTop : 0,
  };
}
