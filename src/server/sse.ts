// A streamed completion as server-sent events, the way OpenAI and vLLM send them: `data: <CompletionResponse>`
// events whose choices[0].text is the new text (finish_reason null), a last one with the finish_reason (and the
// logprobs, usage and system_fingerprint of the whole completion), then `data: [DONE]`.
//
// The headers go out with the first event, not before: a request the engine refuses before it generates anything
// (a context too long for the model) still gets a plain 400 in OpenAI's error shape. A failure after the stream has
// begun is sent as one event `data: {"error": {...}}` before the stream ends.
import type { ServerResponse } from 'node:http';
import type { CompletionChoice, CompletionResponse, ErrorResponse } from '../protocol/completions';

/** The fields every event of one completion shares. */
export interface CompletionIdentity {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

/** The last event's contents: the whole returned text (the last event carries what was not yet sent). */
export interface StreamEnd {
  readonly text: string;
  readonly choice: Omit<CompletionChoice, 'index' | 'text'>;
  readonly rest: Pick<CompletionResponse, 'usage' | 'system_fingerprint'>;
}

export class CompletionEventStream {
  /** Characters of the returned text sent so far (the echoed prompt included). */
  private sentLength = 0;
  private pendingPrefix: string;

  /** `prefix`: text that precedes the completion (the prompt, with echo); it goes out with the first event. */
  constructor(
    private readonly res: ServerResponse,
    private readonly identity: CompletionIdentity,
    prefix: string,
  ) {
    this.pendingPrefix = prefix;
  }

  get started(): boolean {
    return this.res.headersSent;
  }

  /** Sends a piece of the completion (with the prompt before it, in the first event). */
  text(piece: string): void {
    const text = this.pendingPrefix + piece;
    if (text === '') return;
    this.pendingPrefix = '';
    this.event(this.chunk(text, { logprobs: null, finish_reason: null }));
  }

  /** The last event: whatever of `end.text` was not sent, with the finish reason; then [DONE]. */
  finish(end: StreamEnd): void {
    const rest = end.text.slice(this.sentLength);
    this.event({ ...this.chunk(rest, end.choice), ...end.rest });
    this.write('data: [DONE]\n\n');
    this.res.end();
  }

  /** A failure after the stream began: one error event, then the end. */
  fail(error: ErrorResponse): void {
    this.write(`data: ${JSON.stringify(error)}\n\n`);
    this.res.end();
  }

  private chunk(text: string, choice: Omit<CompletionChoice, 'index' | 'text'>): CompletionResponse {
    this.sentLength += text.length;
    return { id: this.identity.id, object: 'text_completion', created: this.identity.created, model: this.identity.model, choices: [{ index: 0, text, ...choice }] };
  }

  private event(response: CompletionResponse): void {
    this.write(`data: ${JSON.stringify(response)}\n\n`);
  }

  private write(data: string): void {
    if (this.res.destroyed) return; // the client has gone; the caller finds out from the response's 'close'
    if (!this.res.headersSent) {
      this.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    }
    this.res.write(data);
  }
}
