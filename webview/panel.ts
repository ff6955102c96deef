// The panel: its components over one store, and the one dispatcher of the host's messages. Each message updates
// the store, then the components that show what changed re-render.
//
// Handshake: `start` posts `ready`; the host answers `init` with the whole PanelState (and may send `init` again
// at any time: everything is rendered from scratch).
import type { FromWebview, PanelState, ToWebview, TurnView } from '../src/protocol/webview';
import { Announcer, modelAnnouncement, turnAnnouncement } from './announcer';
import { assertNever } from './assert';
import { candidatesAnnouncement } from './candidateView';
import { Composer } from './composer';
import { Keyboard } from './keyboard';
import { ModelStatus } from './modelStatus';
import type { SavedStateStorage } from './savedState';
import { Scroller } from './scroller';
import { SessionBar } from './sessionBar';
import { runAnnouncement } from './programRunView';
import { PanelStore } from './store';
import { TurnList } from './turnList';
import type { TurnActions } from './turnView';

export class Panel {
  private readonly store: PanelStore;
  private readonly announcer = new Announcer();
  private readonly sessionBar: SessionBar;
  private readonly modelStatus: ModelStatus;
  private readonly turnList: TurnList;
  private readonly scroller: Scroller;
  private readonly composer: Composer;

  constructor(
    private readonly root: HTMLElement,
    storage: SavedStateStorage,
    private readonly post: (message: FromWebview) => void,
  ) {
    this.store = new PanelStore(storage);
    this.sessionBar = new SessionBar(this.store, post);
    this.modelStatus = new ModelStatus(this.store, post);
    this.composer = new Composer(this.store, post, this.announcer);
    this.turnList = new TurnList(this.store, this.turnActions(), () => this.composer.focusNow());
    this.scroller = new Scroller(this.store, [this.turnList.emptyState, this.turnList.list]);
    new Keyboard({ store: this.store, post, announcer: this.announcer, accept: (id) => this.accept(id) }).attach(window);
  }

  /** Builds the page, shows what was saved, and says `ready`. */
  start(): void {
    this.root.classList.add('panel');
    this.root.replaceChildren(
      this.sessionBar.element,
      this.modelStatus.line,
      this.modelStatus.testModelNotice,
      this.scroller.element,
      this.composer.element,
      this.announcer.element,
    );
    this.composer.restore();
    this.modelStatus.render();
    this.turnList.emptyState.hidden = false;
    this.post({ type: 'ready' });
  }

  /** The one dispatcher of the host's messages. */
  handle(message: ToWebview): void {
    switch (message.type) {
      case 'init':
        this.onInit(message.state);
        break;
      case 'turn':
        this.onTurn(message.turn);
        break;
      case 'turnDelta':
        this.onTurnDelta(message.turnId, message.delta);
        break;
      case 'draftPerplexity':
        this.composer.showDraftPerplexity(message.draft, message.perplexity);
        break;
      case 'rewordingScores':
        this.composer.showRewordingScores(message.draft, message.scores);
        break;
      case 'model': {
        const before = this.store.setModel(message.model);
        this.modelStatus.render();
        const words = modelAnnouncement(before, message.model);
        if (words) this.announcer.announce(words);
        break;
      }
      case 'sessions':
        if (this.store.setSessions(message.sessions)) this.sessionBar.render();
        break;
      case 'candidatesPerTurn':
        this.store.setCandidatesPerTurn(message.count);
        this.composer.renderCandidatesPerTurn();
        break;
      case 'focusInput':
        this.composer.focus();
        break;
      default:
        assertNever(message);
    }
  }

  private onInit(state: PanelState): void {
    const firstRender = this.turnList.isEmpty;
    const hostDraft = this.store.init(state, this.composer.value);
    this.turnList.renderAll();
    this.modelStatus.render();
    this.sessionBar.render();
    this.composer.afterInit(hostDraft);
    this.composer.renderCandidatesPerTurn();
    if (firstRender) this.scroller.restoreOrBottom();
    else this.scroller.toBottom();
  }

  private onTurn(turn: TurnView): void {
    const stick = this.scroller.isNearBottom();
    const before = this.store.findTurn(turn.id);
    const put = this.store.putTurn(turn);
    if (!put) return;
    this.turnList.renderChanged(turn);
    const words =
      turnAnnouncement(turn, put.previous) ?? runAnnouncement(before?.run, turn.run) ?? candidatesAnnouncement(before?.candidates, turn.candidates);
    if (words) this.announcer.announce(words);
    if (stick || put.isNew) this.scroller.toBottom();
  }

  private onTurnDelta(turnId: string, delta: string): void {
    if (!this.store.hasPanel || delta === '') return;
    const stick = this.scroller.isNearBottom();
    const turn = this.store.appendCode(turnId, delta);
    if (!turn) return;
    this.turnList.renderCode(turn);
    if (stick) this.scroller.toBottom();
  }

  /**
   * Accepts a turn: the candidate shown (if it has several), an edited one with its edit, which stays open until
   * the host confirms (a failed insert loses nothing).
   */
  private accept(turnId: string): void {
    const editing = this.store.editing?.turnId === turnId ? this.store.editing : null;
    const shown = this.store.findTurn(turnId)?.candidates?.shown;
    this.post({ type: 'accept', turnId, ...(editing ? { code: editing.code } : {}), ...(shown !== undefined ? { candidate: shown } : {}) });
  }

  private turnActions(): TurnActions {
    return {
      post: this.post,
      accept: (turnId) => this.accept(turnId),
      startEditing: (turn) => {
        this.store.startEditing(turn);
        this.turnList.render(turn);
        this.turnList.focusEditor(turn.id);
      },
      stopEditing: (turnId) => {
        if (!this.store.stopEditing(turnId)) return;
        const turn = this.store.findTurn(turnId);
        if (!turn) return;
        this.turnList.render(turn);
        this.turnList.focusAction(turnId, 'edit');
      },
      editedCode: (turnId, code) => this.store.setEditedCode(turnId, code),
      tryAgain: (turn) => this.composer.tryAgain(turn),
    };
  }
}
