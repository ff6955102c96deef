// The perplexity each rewording of the draft would give (the draft with one surprising word replaced by one of the
// model's alternatives): scored one after the other in the background, each score posted as it comes; a newer
// request, or a change of the draft, aborts the one before (which then posts nothing more), and nothing is scored
// while a turn has the engine.
import { toEngineError } from '../protocol/errors';
import type { Rewording } from '../protocol/webview';
import type { EditorPort, LogPort, ModelPort, PanelPort } from './ports';

export interface RewordingScorerDeps {
  readonly model: ModelPort;
  readonly editor: Pick<EditorPort, 'context'>;
  readonly log: LogPort;
  readonly panel: () => PanelPort;
  /** Whether the engine is busy with a turn (nothing is scored then). */
  readonly busy: () => boolean;
}

export class RewordingScorer {
  private controller: AbortController | undefined;

  constructor(private readonly deps: RewordingScorerDeps) {}

  /** Scores each rewording of `draft`, superseding the request before; resolves when done, aborted or refused. */
  async score(draft: string, rewordings: readonly Rewording[]): Promise<void> {
    this.cancel();
    const controller = new AbortController();
    this.controller = controller;
    const { signal } = controller;
    try {
      if (this.deps.busy()) return;
      await this.deps.model.ensureLoaded();
      if (this.deps.model.perplexityUnavailable) return;
      for (const rewording of rewordings) {
        if (signal.aborted || this.deps.busy()) return;
        const result = await this.deps.model.engine.perplexity({ context: this.deps.editor.context(rewording.text) }, signal);
        if (signal.aborted) return;
        this.deps.panel().post({ type: 'rewordingScores', draft, scores: [{ id: rewording.id, perplexity: result.perplexity }] });
      }
    } catch (err) {
      const e = toEngineError(err);
      if (e.code !== 'cancelled' && !signal.aborted) this.deps.log.warn(`Rewording perplexity: [${e.code}] ${e.message}`);
    } finally {
      if (this.controller === controller) this.controller = undefined;
    }
  }

  /** Aborts the request being scored, if any (a newer draft, a turn starting, the panel going away). */
  cancel(): void {
    this.controller?.abort();
    this.controller = undefined;
  }
}
