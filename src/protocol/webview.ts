// Messages between the extension host and the panel's webview: readonly unions on `type`, the direction in
// the name, declared once for both sides. Every message from the webview is checked by parseFromWebview()
// before the host acts on it. No imports: the webview bundle includes this file.

export type TurnState =
  | 'generating' // code is streaming in
  | 'proposed' // generated, waiting for accept / reject / regenerate / edit
  | 'accepted' // inserted into the editor and part of the history
  | 'rejected' // discarded; its prompt stays editable
  | 'cancelled' // stopped by the user; what was generated can still be accepted
  | 'failed'; // the engine failed; Retry

export type PerplexityLevel = 'low' | 'medium' | 'high';

export interface SurprisingWord {
  readonly text: string;
  readonly surprisal: number;
}

export interface PromptPerplexityView {
  readonly perplexity: number;
  readonly level: PerplexityLevel;
  /** The most surprising tokens of the prompt, most surprising first. */
  readonly surprising: readonly SurprisingWord[];
}

/** A perplexity as the panel and the editor hints show it: one decimal below 100, whole numbers above. */
export function formatPerplexityNumber(perplexity: number): string {
  if (!Number.isFinite(perplexity)) return '?';
  return perplexity >= 100 ? String(Math.round(perplexity)) : perplexity.toFixed(1);
}

export interface TurnView {
  readonly id: string;
  readonly prompt: string;
  readonly code: string;
  readonly state: TurnState;
  readonly perplexity?: PromptPerplexityView;
  readonly error?: string;
  /** Earlier turns left out of the context to fit the model. */
  readonly droppedTurns?: number;
  readonly tokensPerSecond?: number;
}

export interface SessionSummary {
  readonly id: string;
  readonly title: string;
  readonly updatedAt: number;
  readonly turnCount: number;
}

export type ModelState = 'none' | 'loading' | 'ready' | 'generating' | 'error';

export interface ModelStatusView {
  readonly state: ModelState;
  /** Folder name and variant, e.g. "codegen-350M-mono (model_int8)"; "random test model" for the bundled one. */
  readonly label: string;
  readonly message?: string;
  readonly tokensPerSecond?: number;
  /** Set while the bundled random-weight model is the model: the panel says so, and offers a real one. */
  readonly testModel?: TestModelNotice;
}

export interface TestModelNotice {
  /** The model one click downloads, e.g. "CodeGen-350M-mono", and its download size, e.g. "about 360 MB". */
  readonly recommendedName: string;
  readonly recommendedSize: string;
}

export interface PanelState {
  readonly sessionId: string;
  readonly turns: readonly TurnView[];
  readonly sessions: readonly SessionSummary[];
  readonly model: ModelStatusView;
  readonly draft: string;
}

export type ToWebview =
  | { readonly type: 'init'; readonly state: PanelState }
  | { readonly type: 'turn'; readonly turn: TurnView }
  | { readonly type: 'turnDelta'; readonly turnId: string; readonly delta: string }
  | { readonly type: 'draftPerplexity'; readonly draft: string; readonly perplexity: PromptPerplexityView | null }
  | { readonly type: 'model'; readonly model: ModelStatusView }
  | { readonly type: 'sessions'; readonly sessions: readonly SessionSummary[] }
  | { readonly type: 'focusInput' };

export type FromWebview =
  | { readonly type: 'ready' }
  | { readonly type: 'submit'; readonly prompt: string }
  | { readonly type: 'accept'; readonly turnId: string; readonly code?: string }
  | { readonly type: 'reject'; readonly turnId: string }
  | { readonly type: 'regenerate'; readonly turnId: string }
  | { readonly type: 'retry'; readonly turnId: string }
  | { readonly type: 'stop'; readonly turnId: string }
  | { readonly type: 'draftChanged'; readonly draft: string }
  | { readonly type: 'newSession' }
  | { readonly type: 'openSession'; readonly sessionId: string }
  | { readonly type: 'exportSession' }
  | { readonly type: 'chooseModel' }
  | { readonly type: 'downloadModel' }
  | { readonly type: 'downloadRecommendedModel' };

/** Longest prompt or code the host accepts from the webview (a generous bound against runaway messages). */
export const MAX_TEXT_LENGTH = 100_000;

type Shape = Record<string, 'string' | 'string?'>;
const SHAPES: { readonly [K in FromWebview['type']]: Shape } = {
  ready: {},
  submit: { prompt: 'string' },
  accept: { turnId: 'string', code: 'string?' },
  reject: { turnId: 'string' },
  regenerate: { turnId: 'string' },
  retry: { turnId: 'string' },
  stop: { turnId: 'string' },
  draftChanged: { draft: 'string' },
  newSession: {},
  openSession: { sessionId: 'string' },
  exportSession: {},
  chooseModel: {},
  downloadModel: {},
  downloadRecommendedModel: {},
};

/**
 * The message if it is exactly one of FromWebview (known type, the right fields with the right types, no
 * others, strings within MAX_TEXT_LENGTH); otherwise undefined. The webview is not trusted blindly: only own
 * data properties count (an inherited field or a getter makes the message invalid), the result is a fresh plain
 * copy of the checked values, and nothing it is given can make it throw.
 */
export function parseFromWebview(data: unknown): FromWebview | undefined {
  try {
    return parseMessage(data);
  } catch {
    // A Proxy may throw from any trap (a revoked one from all of them): whatever throws is not a message.
    return undefined;
  }
}

function parseMessage(data: unknown): FromWebview | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const type = ownDataValue(data, 'type');
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(SHAPES, type)) return undefined;
  const shape: Shape = SHAPES[type as FromWebview['type']];
  for (const key of Reflect.ownKeys(data)) {
    if (key !== 'type' && (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(shape, key))) return undefined;
  }
  const message: Record<string, string> = { type };
  for (const [key, kind] of Object.entries(shape)) {
    const value = ownDataValue(data, key);
    if (value === undefined && kind === 'string?') continue;
    if (typeof value !== 'string' || value.length > MAX_TEXT_LENGTH) return undefined;
    message[key] = value;
  }
  return message as unknown as FromWebview;
}

/** Stands for an accessor property: never a valid field value, and never called. */
const ACCESSOR = Symbol('accessor');

/** The value of `object`'s own data property `key`; undefined when it has none (inherited ones do not count). */
function ownDataValue(object: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  if (descriptor === undefined) return undefined;
  return 'value' in descriptor ? descriptor.value : ACCESSOR;
}
