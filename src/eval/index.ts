// The benchmark runs' public face, for the CLI and the extension (which calls runMtpb with its EngineClient and
// shows onProgress in a cancellable notification, then opens summaryMarkdownPath).
export { runMtpb, scoreMtpbSamples, loadMtpbProblems, defaultMtpbData, mtpbKey, MTPB_TIMEOUT_S } from './mtpb';
export type { MtpbMode, MtpbOptions, MtpbRunResult, MtpbProblem, ScoreOptions, ScoreResult } from './mtpb';
export { runHumanEval, passAtK, truncateHumanEval, loadHumanEval, HUMANEVAL_STOP, HUMANEVAL_TIMEOUT_S } from './humanEval';
export type { HumanEvalOptions, HumanEvalRunResult, HumanEvalSummary } from './humanEval';
export type { EvalCallbacks, EvalRunOptions, SandboxSettings } from './evalRun';
export type { Progress } from './progress';
export { EvalSetupError, detectIsolation, runProgram, harnessPath } from './sandbox';
export type { ExecRequest, ExecResult, Isolation, SandboxOptions } from './sandbox';
export { findPython, probePython, PYTHON_CANDIDATES } from './python';
export type { PythonInfo } from './python';
export type { MtpbSummary } from './summary';
