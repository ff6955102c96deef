// codegen-mt: the command line over the same engine and session code as the extension.
import { LocalEngine } from '../engine/localEngine';
import { describeSpeculation, type Engine, type GenerateResult, type PromptContext, type StopMode } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { splitHistory } from '../session/editorContext';
import { runMultiTurn, type CompletedTurn } from '../session/multiTurn';
import type { ProgramRunView } from '../protocol/webview';
import { candidatesJson, describeCandidates, runCandidateSession } from './sessionCandidates';
import { describeRun, sessionRunner, type SessionRunner } from './sessionRun';
import { formatPrompt, MTPB_HEADER } from '../session/paperFormat';
import {
  interruptSignal,
  numberOption,
  openEngine,
  parse,
  readTextFile,
  samplingOf,
  SAMPLING,
  isUsageError,
  textOrFile,
  type SamplingOptions,
  UsageError,
  type Io,
} from './common';
import { downloadCommand, DOWNLOAD_USAGE } from './downloadCommand';
import { EVAL_USAGE, humanEvalCommand, mtpbCommand } from './evalCommands';
import { optimizeCommand, OPTIMIZE_USAGE } from './optimizeCommand';
import { serveCommand, SERVE_USAGE } from './serveCommand';

const USAGE = `Usage: codegen-mt <command> [options]

Commands:
  tokenize    --text T | --file F                       token ids of a text
  generate    --prompt T | --prompt-file F              continue a text with the model
              [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--stop turn|none]
  perplexity  --prompt T [--history-file F] [--raw-prompt]
                                                        perplexity of a prompt given its history, and
                                                        each token's surprisal in nats (-ln p)
  session     --turns-file F [--header-file F]          the paper's multi-turn protocol, one turn per line
              [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S]
              [--run [--python PATH] [--timeout S]]      run the program so far after each turn (sandboxed)
              [--candidates N]                          sample N candidates a turn, run each (sandboxed), keep
                                                        the best: runs without error first, then by mean
                                                        token log-probability
${DOWNLOAD_USAGE}${EVAL_USAGE}${OPTIMIZE_USAGE}${SERVE_USAGE}
Options for every command:
  --model DIR      model folder (config.json + onnx/); default: the bundled test model
  --server URL     use a completions server instead (vLLM, TGI, codegen-mt serve), e.g. http://gpu-box:8000/v1
  --server-model NAME  the served model to use (default: the first in the server's /v1/models)
  --api-key-env VAR    the environment variable that holds the server's API key
  --variant V      precision: fp32 (default), fp16, int8, int4, compiled from the published fp32 file once
                   and cached; or a published onnx/ file run as it is (model_quantized, model_q4, ...)
  --no-compile     run the published onnx/ files as they are (fp32 = model.onnx, int8 = model_int8.onnx, ...)
  --cache DIR      where compiled models are kept (default $CODEGEN_MT_CACHE, else ~/.cache/codegen-mt/compiled)
  --speculate off|lookup|DIR
                   speculative decoding: guesses from the context's own n-grams (lookup, the default) or from
                   a smaller CodeGen in DIR, checked by the model several at a time; greedy output is the same
  --threads N      onnxruntime threads (default: one per physical core)
  --json           print one JSON object instead of text
  -h, --help       this text

Texts given with --prompt or --text are taken literally: "\\n" is a backslash and an n. For a newline use
bash's $'...' quoting (--prompt $'def f(x):\\n') or put the text in a file (--prompt-file, --file).
`;

async function tokenizeCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { text: { type: 'string' }, file: { type: 'string' } });
  const text = textOrFile(values, 'text', 'file');
  // Tokenizing needs no model; still check --model when given, so a typo does not pass silently.
  const engine = typeof values.model === 'string' ? await openEngine(values, io) : new LocalEngine();
  const ids = await engine.tokenize(text);
  await engine.dispose();
  io.out(values.json ? JSON.stringify({ ids }) + '\n' : ids.join(' ') + '\n');
}

async function generateCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { prompt: { type: 'string' }, 'prompt-file': { type: 'string' }, stop: { type: 'string' }, ...SAMPLING });
  const prompt = textOrFile(values, 'prompt', 'prompt-file');
  const stop = (values.stop ?? 'turn') as StopMode;
  if (stop !== 'turn' && stop !== 'none') throw new UsageError(`--stop must be "turn" or "none", got "${values.stop}"`);
  const engine = await openEngine(values, io);
  try {
    const context: PromptContext = { header: '', turns: [], prompt };
    const result = await engine.generate(
      { context, stop, ...samplingOf(values) },
      { signal: interruptSignal(), onDelta: values.json ? undefined : (d) => io.out(d) },
    );
    if (values.json) {
      io.out(JSON.stringify(generateJson(result)) + '\n');
    } else {
      io.out('\n');
      io.err(summaryLine(result) + '\n');
    }
  } finally {
    await engine.dispose();
  }
}

function generateJson(result: GenerateResult): object {
  return {
    text: result.text,
    ids: result.ids,
    promptTokens: result.promptTokens,
    stopReason: result.stopReason,
    seed: result.seed,
    rawText: result.rawText,
    reusedTokens: result.reusedTokens,
    droppedTurns: result.droppedTurns,
    timings: result.timings,
    ...(result.speculation ? { speculation: result.speculation } : {}),
  };
}

function summaryLine(result: GenerateResult): string {
  const t = result.timings;
  const rate = t.decodeMs > 0 ? (t.decodeTokens / (t.decodeMs / 1000)).toFixed(1) : '-';
  const s = result.speculation;
  const guesses = s && s.proposed > 0 ? `, ${describeSpeculation(s)}` : '';
  return `[${result.ids.length} tokens, stop: ${result.stopReason}, prompt ${result.promptTokens} tokens, first token ${t.timeToFirstTokenMs.toFixed(0)} ms, ${rate} tokens/s, seed ${result.seed}${guesses}]`;
}

async function perplexityCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { prompt: { type: 'string' }, 'history-file': { type: 'string' }, 'raw-prompt': { type: 'boolean', default: false } });
  if (typeof values.prompt !== 'string') throw new UsageError('--prompt is required');
  const history = typeof values['history-file'] === 'string' ? readTextFile(values['history-file'], 'history file') : '';
  const prompt = values['raw-prompt'] ? values.prompt : formatPrompt(values.prompt);
  const engine = await openEngine(values, io);
  try {
    // The history as the editor's context is made: its turns (blocks starting at a `#` line after a blank line)
    // can be left out, oldest first, when it is too long; the text before the first is the header, always kept.
    const result = await engine.perplexity({ context: { ...splitHistory(history), prompt } });
    const tokens = result.tokens.map((t) => ({ text: t.text, surprisal: t.surprisal }));
    if (values.json) {
      io.out(JSON.stringify({ perplexity: result.perplexity, tokens, promptTokens: result.promptTokens, droppedTurns: result.droppedTurns }) + '\n');
    } else {
      const dropped = result.droppedTurns > 0 ? ` (the oldest ${result.droppedTurns} blocks of the history left out to fit)` : '';
      io.out(`perplexity ${result.perplexity.toFixed(2)}${dropped}\nsurprisal (nats)  token\n`);
      for (const t of tokens) io.out(`${t.surprisal.toFixed(2).padStart(7)}  ${JSON.stringify(t.text)}\n`);
    }
  } finally {
    await engine.dispose();
  }
}

async function sessionCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, {
    'turns-file': { type: 'string' },
    'header-file': { type: 'string' },
    run: { type: 'boolean', default: false },
    candidates: { type: 'string' },
    python: { type: 'string' },
    timeout: { type: 'string' },
    ...SAMPLING,
  });
  if (typeof values['turns-file'] !== 'string') throw new UsageError('--turns-file is required');
  const prompts = readTextFile(values['turns-file'], 'turns file')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (prompts.length === 0) throw new UsageError(`${values['turns-file']} has no turns (one natural-language turn per line)`);
  const header = typeof values['header-file'] === 'string' ? readTextFile(values['header-file'], 'header file') : MTPB_HEADER;
  const timeoutS = numberOption(values, 'timeout', false) ?? 10;
  if (timeoutS <= 0) throw new UsageError('--timeout must be above 0 seconds');
  const candidates = numberOption(values, 'candidates', true) ?? 1;
  if (candidates < 1) throw new UsageError(`--candidates must be 1 or more, got ${candidates}`);
  const sampling = samplingOf(values);
  // More than one candidate means running them: the ranking puts those that run without error first.
  const runner = values.run || candidates > 1 ? await sessionRunner(values.python as string | undefined, timeoutS) : undefined;
  const engine = await openEngine(values, io);
  try {
    if (runner && candidates > 1) await candidateSession(engine, prompts, { header, sampling, candidates, runner, json: values.json === true }, io);
    else await plainSession(engine, prompts, { header, sampling, runner, json: values.json === true }, io);
  } finally {
    await engine.dispose();
  }
}

interface SessionSetup {
  readonly header: string;
  readonly sampling: SamplingOptions;
  readonly json: boolean;
}

async function plainSession(engine: Engine, prompts: readonly string[], setup: SessionSetup & { readonly runner?: SessionRunner }, io: Io): Promise<void> {
  const { header, runner } = setup;
  const runs: ProgramRunView[] = [];
  const turnsSoFar: CompletedTurn[] = [];
  const human = !setup.json;
  const result = await runMultiTurn(engine, prompts, {
    header,
    ...setup.sampling,
    signal: interruptSignal(),
    onTurnStart: (i, prompt) => {
      if (!human) return;
      io.out(`\n--- turn ${i + 1}: ${prompt}\n`);
      return (d: string) => io.out(d);
    },
    onTurnEnd: async (i, turn) => {
      if (human) io.out(`\n[prompt perplexity ${turn.result.prompt.perplexity.toFixed(2)}; ${summaryLine(turn.result).slice(1, -1)}]\n`);
      if (!runner) return;
      runs[i] = await runner.run(header, [...turnsSoFar, turn]);
      turnsSoFar.push(turn);
      if (human) io.out(`${describeRun(runs[i])}\n`);
    },
  });
  if (setup.json) io.out(JSON.stringify({ program: result.program, turns: result.turns.map((t, i) => turnJson(t, runs[i])) }) + '\n');
  else io.out(`\n=== program\n${result.program}`);
}

async function candidateSession(
  engine: Engine,
  prompts: readonly string[],
  setup: SessionSetup & { readonly runner: SessionRunner; readonly candidates: number },
  io: Io,
): Promise<void> {
  const human = !setup.json;
  const result = await runCandidateSession(engine, prompts, {
    header: setup.header,
    ...setup.sampling,
    candidates: setup.candidates,
    runner: setup.runner,
    signal: interruptSignal(),
    onTurnStart: (i, prompt) => {
      if (human) io.out(`\n--- turn ${i + 1}: ${prompt} (${setup.candidates} candidates)\n`);
    },
    onTurnEnd: (_i, turn) => {
      if (!human) return;
      const kept = turn.candidates[turn.chosen];
      io.out(`${describeCandidates(turn)}\n${kept.turn.code}\n`);
      io.out(`[prompt perplexity ${kept.turn.result.prompt.perplexity.toFixed(2)}; ${summaryLine(kept.turn.result).slice(1, -1)}]\n${describeRun(kept.outcome)}\n`);
    },
  });
  if (setup.json) {
    const turns = result.turns.map((t, i) => ({ ...turnJson(t, result.candidateTurns[i].candidates[result.candidateTurns[i].chosen].outcome), ...candidatesJson(result.candidateTurns[i]) }));
    io.out(JSON.stringify({ program: result.program, turns }) + '\n');
  } else {
    io.out(`\n=== program\n${result.program}`);
  }
}

function turnJson(t: CompletedTurn, run: ProgramRunView | undefined): object {
  return {
    prompt: t.prompt,
    code: t.code,
    perplexity: t.result.prompt.perplexity,
    stopReason: t.result.stopReason,
    promptTokens: t.result.promptTokens,
    reusedTokens: t.result.reusedTokens,
    droppedTurns: t.result.droppedTurns,
    timings: t.result.timings,
    ...(run ? { run } : {}),
  };
}

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<void | number>> = {
  tokenize: tokenizeCommand,
  generate: generateCommand,
  perplexity: perplexityCommand,
  session: sessionCommand,
  download: downloadCommand,
  mtpb: mtpbCommand,
  humaneval: humanEvalCommand,
  optimize: optimizeCommand,
  serve: serveCommand,
};

/** Runs the CLI; returns the exit code (0 ok, 1 error, 2 usage). */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.err(`codegen-mt: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    io.out(USAGE);
    return 0;
  }
  try {
    const code = await run(rest, io); // a command may return its own exit code (130: interrupted)
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (isUsageError(err)) {
      io.err(`codegen-mt ${command}: ${(err as Error).message}\nRun "codegen-mt --help" for usage.\n`);
      return 2;
    }
    const message = err instanceof EngineError ? err.message : err instanceof Error ? err.stack ?? err.message : String(err);
    io.err(`codegen-mt ${command}: ${message}\n`);
    return 1;
  }
}

const defaultIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};
