// The draft's live perplexity: scored once typing pauses, each newer draft superseding (aborting) the one before,
// and never while a turn has the engine. An empty draft clears the number at once. The rewordings of its surprising
// words are scored on request (rewordingScorer.ts); a change of the draft aborts them too.
import { toEngineError } from '../protocol/errors';
import type { Rewording } from '../protocol/webview';
import { draftPerplexityView } from './perplexityView';
import type { FlowSettings } from './ports';
import { RewordingScorer, type RewordingScorerDeps } from './rewordingScorer';

/** The rewording scorer's (the model, the editor's context, the log, the panel, whether a turn has the engine), and: */
export interface DraftScorerDeps extends RewordingScorerDeps {
  readonly settings: () => FlowSettings;
  readonly debounceMs: number;
  /** After a draft was scored (or its scoring ended): the flow saves the draft then. */
  readonly onScored: () => void;
}

export class DraftScorer {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly rewordings: RewordingScorer;

  constructor(private readonly deps: DraftScorerDeps) {
    this.rewordings = new RewordingScorer(deps);
  }

  changed(draft: string): void {
    this.cancel();
    this.rewordings.cancel();
    if (draft.trim() === '') {
      this.deps.panel().post({ type: 'draftPerplexity', draft, perplexity: null });
      return;
    }
    this.timer = setTimeout(() => void this.score(draft), this.deps.debounceMs);
  }

  private async score(draft: string): Promise<void> {
    if (this.deps.busy()) return;
    const controller = new AbortController();
    this.controller = controller;
    try {
      await this.deps.model.ensureLoaded();
      if (controller.signal.aborted || this.deps.busy()) return;
      // A model that cannot score prompts (the panel's model line says why): nothing to ask it.
      if (this.deps.model.perplexityUnavailable) return;
      const context = this.deps.editor.context(draft);
      const result = await this.deps.model.engine.perplexity({ context }, controller.signal);
      if (controller.signal.aborted) return;
      const perplexity = draftPerplexityView(result, this.deps.settings().thresholds, draft, context.prompt);
      this.deps.panel().post({ type: 'draftPerplexity', draft, perplexity });
    } catch (err) {
      const e = toEngineError(err);
      if (e.code !== 'cancelled') this.deps.log.warn(`Draft perplexity: [${e.code}] ${e.message}`);
    } finally {
      if (this.controller === controller) this.controller = undefined;
    }
    this.deps.onScored();
  }

  /** Scores what each rewording of the draft would give (a newer request or draft supersedes it). */
  scoreRewordings(draft: string, rewordings: readonly Rewording[]): Promise<void> {
    return this.rewordings.score(draft, rewordings);
  }

  private cancel(): void {
    this.controller?.abort();
    this.controller = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.cancel();
    this.rewordings.cancel();
  }
}
