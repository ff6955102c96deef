/// <reference types="mocha" />
// Run MTPB Benchmark driven by its arguments (no pick): one problem, multi-turn only, one sample per test input, on
// the bundled model, executed by the Python the extension finds itself (codegenMt.python left empty: the first of
// python3, /usr/bin/python3, python with numpy and pandas, by findPython).
// The report is written under the extension's global storage and opened in the Markdown preview.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { MtpbRunResult } from '../../src/eval';
import type { CodegenMtApi } from '../../src/vscode/testApi';
import { codegenApi, noPython, setSetting, stopGenerating, waitFor } from './helpers';

/** MTPB problem 32 ("Factorial and remainder"): three turns, the shortest problem; five test inputs. */
const PROBLEM = '32';
const TEST_INPUTS = 5;

/** The tabs whose label names the file (the Markdown preview's is "Preview summary.md"). */
function previewTabs(name: string): vscode.Tab[] {
  return vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.label.includes(name) && !(t.input instanceof vscode.TabInputText));
}

suite('MTPB (Run MTPB Benchmark)', () => {
  let api: CodegenMtApi;

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
  });

  suiteTeardown(async () => {
    await setSetting('python', undefined);
    const tabs = previewTabs('summary.md');
    if (tabs.length) await vscode.window.tabGroups.close(tabs);
  });

  test('runMtpb { problems, modes, samples } writes the report with its pass rate and opens its preview', async function () {
    const missing = noPython();
    if (missing) {
      console.log(`${process.env.CODEGEN_MT_TEST_LOG_TAG ?? ''}    SKIPPED: ${missing}`);
      this.skip();
    }
    this.timeout(120_000);
    await setSetting('python', undefined);
    // A run of the same selection on the same model resumes: start from nothing so that every sample is made here.
    fs.rmSync(path.join(api.globalStoragePath(), 'mtpb'), { recursive: true, force: true });

    const result = await vscode.commands.executeCommand<MtpbRunResult | undefined>('codegenMt.runMtpb', { problems: [PROBLEM], modes: ['multi'], samples: 1 });
    assert.ok(result, 'the command resolved to the run (see the CodeGen log)');
    assert.equal(result.complete, true);
    assert.equal(result.computed, TEST_INPUTS, 'one sample per test input, all made by this run');
    assert.ok(result.summaryMarkdownPath.startsWith(path.join(api.globalStoragePath(), 'mtpb') + path.sep), `the report is in global storage: ${result.summaryMarkdownPath}`);

    // The report: the selection, and the pass rate of the multi-turn runs.
    const report = fs.readFileSync(result.summaryMarkdownPath, 'utf8');
    assert.match(report, /^- problems: 32$/m);
    assert.match(report, /^- modes: multi$/m);
    assert.match(report, /^## Pass rate$/m);
    const row = /^\| multi \| (\d+) \| (\d+) \| (\d+\.\d\d)% \|/m.exec(report);
    assert.ok(row, `a pass rate row for multi:\n${report}`);
    assert.equal(Number(row[1]), TEST_INPUTS, 'runs');
    assert.equal(Number(row[3]), (100 * Number(row[2])) / TEST_INPUTS, 'the pass rate is passed / runs');
    const samples = fs.readFileSync(result.samplesPath, 'utf8').trim().split('\n');
    assert.equal(samples.length, TEST_INPUTS, 'one sample line per test input');
    assert.deepEqual(result.summary.modes.map((m) => m.mode), ['multi']);

    // The command asked for the report's Markdown preview.
    await waitFor(() => previewTabs(path.basename(result.summaryMarkdownPath)).length > 0, `a preview tab of summary.md (tabs: ${vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label).join(', ')})`);
  });
});
