#!/usr/bin/env node
// Runs every test, in three stages, and ends with one closing line `N passed, N failed` that adds them up:
//
//   unit         node's test runner over out/test/**/*.test.js (engine, session, worker, cli, eval, download, ...):
//                spec reporter to the console, TAP to .test-cache/results/unit.tap (parsed for the counts)
//   integration  the Mocha suite in a real VS Code's extension host: node test/integration/runInCodeServer.mjs,
//                which writes {passed, failed, failures} to $CODEGEN_MT_TEST_RESULTS
//                (.test-cache/results/integration.json); skipped, with a note, while that launcher does not exist
//   e2e          browser end-to-end tests: node --test test/e2e/*.test.mjs (code-server + Chromium), spec to the
//                console, TAP to .test-cache/results/e2e.tap
//
// Exit code 0 only when nothing failed and every stage that exists ran to completion (a stage that crashed
// without counts is reported and counted as 1 failed). Build first (`npm test` does: scripts/build.mjs, tsc).
//
//   node scripts/run-tests.mjs                       all stages
//   node scripts/run-tests.mjs --only unit,e2e       some stages (also: --only unit --only e2e)
//   node scripts/run-tests.mjs --skip e2e            all but some
//   node scripts/run-tests.mjs unit model            only these folders of out/test (implies --only unit)
//   node scripts/run-tests.mjs --only e2e panel      only test/e2e/panel.test.mjs (names of e2e files)
// Failed browser / integration tests keep their diagnostics in .test-cache/failures/<test>/.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAGES = ['unit', 'integration', 'e2e'];
const resultsDir = path.join(repoRoot, '.test-cache', 'results');
const rel = (p) => path.relative(repoRoot, p) || '.';
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const say = (message) => process.stdout.write(`[run-tests] ${message}\n`);
// Models the tests compile (the engine compiles published fp32 folders on load) stay inside the checkout.
process.env.CODEGEN_MT_CACHE ??= path.join(repoRoot, '.test-cache', 'compiled');

// ---------------------------------------------------------------------------------------------------- arguments

function usage(message) {
  process.stderr.write(`run-tests: ${message}\nusage: node scripts/run-tests.mjs [--only STAGE[,STAGE]] [--skip STAGE[,STAGE]] [NAME ...]\n  stages: ${STAGES.join(', ')}\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let only = [];
const skip = [];
const names = [];
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  const value = () => {
    const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
    if (!v) usage(`${arg} needs a stage name`);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  };
  if (arg === '--only' || arg.startsWith('--only=')) only.push(...value());
  else if (arg === '--skip' || arg.startsWith('--skip=')) skip.push(...value());
  else if (arg === '-h' || arg === '--help') usage('help');
  else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
  else names.push(arg);
}
for (const stage of [...only, ...skip]) if (!STAGES.includes(stage)) usage(`unknown stage ${JSON.stringify(stage)}`);
if (names.length && !only.length) only = ['unit']; // the old interface: folders of out/test
if (names.length && only.length > 1) usage('test names need exactly one stage (--only unit or --only e2e)');
const selected = STAGES.filter((s) => (!only.length || only.includes(s)) && !skip.includes(s));

// ---------------------------------------------------------------------------------------------------- helpers

/** Runs a command with the console inherited; resolves to its exit code (or the error that kept it from running). */
function run(command, args, { env = process.env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: 'inherit' });
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** The counts at the end of a TAP stream of node's test runner: `# pass N`, `# fail N`, `# cancelled N`, ... */
function tapCounts(file) {
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file, 'utf8');
  const count = (key) => {
    const all = [...text.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))];
    return all.length ? Number(all.at(-1)[1]) : undefined;
  };
  const pass = count('pass');
  const fail = count('fail');
  if (pass === undefined || fail === undefined) return undefined;
  const failedNames = [...text.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1].replace(/\s+#.*$/, ''));
  return { passed: pass, failed: fail + (count('cancelled') ?? 0), skipped: (count('skipped') ?? 0) + (count('todo') ?? 0), failedNames };
}

function walk(dir, test) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p, test));
    else if (test(entry.name)) out.push(p);
  }
  return out.sort();
}

/** node --test over FILES: spec to the console, TAP to TAPFILE; returns the stage's result. */
async function nodeTestStage(files, tapFile, extraArgs = []) {
  fs.rmSync(tapFile, { force: true });
  // The flag every process of ours runs with (src/worker/nodeFlags.ts: Node 20 can deadlock at exit); the test
  // runner passes it on to each test file's process. A test that hangs anyway fails after 10 minutes instead of
  // holding the run until CI gives up.
  const args = ['--no-concurrent-recompilation', '--test', '--test-timeout=600000', ...extraArgs, '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, ...files];
  const { code, signal, error } = await run(process.execPath, args);
  const counts = tapCounts(tapFile);
  if (!counts) return { error: `node --test ended (${error ? error.message : signal ? `signal ${signal}` : `exit code ${code}`}) without counts in ${rel(tapFile)}` };
  if (code !== 0 && counts.failed === 0) return { ...counts, error: `node --test exited with code ${code} although no test failed (see the output above)` };
  return counts;
}

// ---------------------------------------------------------------------------------------------------- stages

async function unitStage() {
  const root = path.join(repoRoot, 'out', 'test');
  if (!fs.existsSync(root)) return { error: `${rel(root)} does not exist: build first (node scripts/build.mjs && npx tsc -p .)` };
  const folders = only.includes('unit') && names.length ? names : ['.'];
  // out/test/integration holds the Mocha suite that runs inside VS Code's extension host (the integration stage).
  const inHost = path.join(root, 'integration') + path.sep;
  const files = folders.flatMap((folder) => {
    const dir = path.join(root, folder);
    if (!fs.existsSync(dir)) usage(`no folder ${rel(dir)}`);
    return walk(dir, (name) => name.endsWith('.test.js')).filter((f) => !f.startsWith(inHost));
  });
  if (!files.length) return { error: `no *.test.js under ${rel(root)}` };
  say(`unit: ${files.length} files under ${rel(root)}`);
  return nodeTestStage(files.map(rel), path.join(resultsDir, 'unit.tap'));
}

async function integrationStage() {
  const launcher = path.join(repoRoot, 'test', 'integration', 'runInCodeServer.mjs');
  if (!fs.existsSync(launcher)) return { skippedStage: `${rel(launcher)} does not exist yet: the integration suite was not run` };
  const resultsFile = path.join(resultsDir, 'integration.json');
  fs.rmSync(resultsFile, { force: true });
  say(`integration: node ${rel(launcher)} (results: ${rel(resultsFile)})`);
  const { code, signal, error } = await run(process.execPath, [launcher], { env: { ...process.env, CODEGEN_MT_TEST_RESULTS: resultsFile } });
  let results;
  try {
    results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  } catch {
    results = undefined;
  }
  const how = error ? error.message : signal ? `signal ${signal}` : `exit code ${code}`;
  if (!results || !Number.isInteger(results.passed) || !Number.isInteger(results.failed)) {
    return { error: `the integration suite ended (${how}) without {passed, failed} in ${rel(resultsFile)}` };
  }
  const failedNames = (Array.isArray(results.failures) ? results.failures : []).map((f) => (typeof f === 'string' ? f : (f?.title ?? f?.fullTitle ?? f?.name ?? JSON.stringify(f))));
  const out = { passed: results.passed, failed: results.failed, skipped: results.pending ?? 0, failedNames };
  if (code !== 0 && results.failed === 0) out.error = `the integration launcher exited with ${how} although no test failed`;
  return out;
}

async function e2eStage() {
  const dir = path.join(repoRoot, 'test', 'e2e');
  let files = walk(dir, (name) => name.endsWith('.test.mjs')).filter((f) => path.dirname(f) === dir);
  if (only.includes('e2e') && names.length) {
    files = files.filter((f) => names.some((n) => path.basename(f) === n || path.basename(f) === `${n}.test.mjs`));
    if (!files.length) usage(`no test/e2e file matches ${names.join(', ')}`);
  }
  if (!files.length) return { error: `no *.test.mjs in ${rel(dir)}` };
  say(`e2e: ${files.map(rel).join(' ')} (a real VS Code: code-server + headless Chromium)`);
  // One file at a time: each starts its own code-server, and two at once on 2 cores makes timing flaky.
  return nodeTestStage(files.map(rel), path.join(resultsDir, 'e2e.tap'), ['--test-concurrency=1']);
}

// ---------------------------------------------------------------------------------------------------- main

fs.mkdirSync(resultsDir, { recursive: true });
// Diagnostics of the last run's VS Code failures go when VS Code tests run again (a unit-only run keeps them).
if (selected.includes('e2e') || selected.includes('integration')) fs.rmSync(path.join(repoRoot, '.test-cache', 'failures'), { recursive: true, force: true });
const runners = { unit: unitStage, integration: integrationStage, e2e: e2eStage };
const results = [];
const started = Date.now();
for (const stage of selected) {
  say(`---- ${stage} ----`);
  const t0 = Date.now();
  let result;
  try {
    result = await runners[stage]();
  } catch (error) {
    result = { error: error.stack ?? error.message };
  }
  result.stage = stage;
  result.ms = Date.now() - t0;
  results.push(result);
}

let passed = 0;
let failed = 0;
let problems = 0;
process.stdout.write('\n');
say(`summary (${seconds(Date.now() - started)}):`);
for (const r of results) {
  if (r.skippedStage) {
    say(`  ${r.stage}: SKIPPED: ${r.skippedStage}`);
    continue;
  }
  const p = r.passed ?? 0;
  let f = r.failed ?? 0;
  if (r.error && f === 0) {
    f = 1; // a stage that could not run counts as a failure, so that the closing line agrees with the exit code
    problems++;
  }
  passed += p;
  failed += f;
  const extra = r.skipped ? `, ${r.skipped} skipped` : '';
  say(`  ${r.stage}: ${p} passed, ${f} failed${extra} (${seconds(r.ms)})${r.error ? `: ERROR: ${r.error}` : ''}`);
  for (const name of r.failedNames ?? []) say(`    failed: ${name}`);
}
const failuresDir = path.join(repoRoot, '.test-cache', 'failures');
if (fs.existsSync(failuresDir) && fs.readdirSync(failuresDir).length) {
  say(`diagnostics of failed VS Code tests (screenshot, code-server, extension host and browser logs): ${rel(failuresDir)}/`);
  for (const name of fs.readdirSync(failuresDir).sort()) say(`    ${rel(path.join(failuresDir, name))}/`);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || problems > 0 ? 1 : 0);
