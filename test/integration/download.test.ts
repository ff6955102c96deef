/// <reference types="mocha" />
// Download Model driven by its arguments ({ repo, variant }: no pickers) against the local fake hub of the download
// tests (test/download/fakeHub.ts, plain http on 127.0.0.1), named by HF_ENDPOINT in this process's environment
// (the extension host's: the command reads it when it runs). The files land in the extension's global storage,
// the settings name the folder, the model loads and a turn generates on it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as os from 'node:os';
import { RECOMMENDED_MODEL } from '../../src/download/recommendedModel';
import { FakeHub } from '../download/fakeHub';
import type { CodegenMtApi } from '../../src/vscode/testApi';
import { codegenApi, EXTENSION_ID, openPython, setSetting, stopGenerating, waitFor } from './helpers';

const REPO = 'test-owner/codegen-tiny';
/** A Salesforce-style repository: config.json and pytorch_model.bin (fp16, with the 2022 buffers), no ONNX. */
const CHECKPOINT_REPO = 'Salesforce/codegen-tiny-mono';
const VARIANT = 'decoder_model_merged';
/** What the environment had for these, put back after the suite. */
const ENV_KEYS = ['HF_ENDPOINT', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_HUB_OFFLINE', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'];

suite('download a model (local fake hub)', () => {
  let api: CodegenMtApi;
  let hub: FakeHub | undefined;
  let source: string;
  const savedEnv = new Map<string, string | undefined>();

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension);
    source = path.join(extension.extensionPath, 'models', 'codegen-tiny-random');
    // The recommended repository as the hub has it: the newer layout with an 8-bit variant (here a copy of fp32).
    const recommended = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-mt-recommended-'));
    fs.mkdirSync(path.join(recommended, 'onnx'));
    fs.copyFileSync(path.join(source, 'config.json'), path.join(recommended, 'config.json'));
    for (const stem of ['model', 'model_int8']) fs.copyFileSync(path.join(source, 'onnx', 'model.onnx'), path.join(recommended, 'onnx', `${stem}.onnx`));
    const checkpoint = path.join(extension.extensionPath, 'test', 'fixtures', 'checkpoints', 'tiny-bin-fp16');
    hub = await new FakeHub({ repos: { [REPO]: source, [RECOMMENDED_MODEL.repo]: recommended, [CHECKPOINT_REPO]: checkpoint } }).start();
    for (const key of ENV_KEYS) {
      savedEnv.set(key, process.env[key]);
      delete process.env[key];
    }
    process.env.HF_ENDPOINT = hub.hubUrl;
    await setSetting('maxNewTokens', 16);
  });

  suiteTeardown(async () => {
    for (const [key, value] of savedEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await hub?.stop();
    if (api) await stopGenerating(api);
    await setSetting('modelPath', undefined);
    await setSetting('modelVariant', undefined);
    await setSetting('maxNewTokens', undefined);
  });

  test('downloadModel { repo, variant } fetches into global storage, switches the settings, loads, and a turn runs on it', async () => {
    const modelsRoot = path.join(api.globalStoragePath(), 'models');
    // A folder left by an earlier run of the suite (same user data) would be reused, not downloaded.
    fs.rmSync(path.join(modelsRoot, 'test-owner--codegen-tiny'), { recursive: true, force: true });

    const result = await vscode.commands.executeCommand<{ modelDir: string; variant: string } | undefined>('codegenMt.downloadModel', { repo: REPO, variant: VARIANT });
    assert.ok(result, `the command resolved to the downloaded model (see the CodeGen log); last error: ${JSON.stringify(api.lastError())}`);
    assert.equal(result.variant, VARIANT);

    // The files, in the extension's global storage, byte for byte the hub's; only the chosen variant.
    assert.equal(path.dirname(result.modelDir), modelsRoot, `${result.modelDir} is under ${modelsRoot}`);
    for (const file of ['config.json', `onnx/${VARIANT}.onnx`]) {
      const got = path.join(result.modelDir, file);
      assert.ok(fs.existsSync(got), `${file} was downloaded`);
      assert.ok(fs.readFileSync(got).equals(fs.readFileSync(path.join(source, file))), `${file} has the hub's content`);
    }
    assert.ok(!fs.existsSync(path.join(result.modelDir, 'onnx', 'model.onnx')), 'the other variant was not downloaded');
    // ... and through the hub: the listing, then the LFS file from the CDN it redirects to.
    assert.ok(hub!.requests.some((r) => r.server === 'hub' && r.url.startsWith(`/api/models/${REPO}/`)), 'the variants were listed');
    assert.ok(hub!.requests.some((r) => r.server === 'cdn'), `the .onnx came from the CDN: ${JSON.stringify(hub!.requests.map((r) => r.url))}`);

    // The settings name the downloaded folder (its only variant is its default: the variant setting stays empty).
    const settings = vscode.workspace.getConfiguration('codegenMt');
    assert.equal(settings.inspect<string>('modelPath')?.globalValue, result.modelDir);
    assert.equal(settings.get<string>('modelVariant', ''), '');

    // The model is loaded and ready (its fp32 file compiled, once, into the fp32 graph), and a turn runs on it.
    const label = `${path.basename(result.modelDir)} (fp32)`;
    await waitFor(() => api.modelStatus().state === 'ready' && api.modelStatus().label === label, `the model status "ready ${label}" (is ${JSON.stringify(api.modelStatus())})`);
    await openPython('downloaded.py');
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Print hello.');
    assert.equal(typeof id, 'string');
    const turn = await api.waitForTurn(id!, ['proposed']);
    assert.ok(turn.code.length > 0, 'the downloaded model generated code');
    assert.equal(api.modelStatus().label, label, 'the turn ran on the downloaded model');
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
  });

  test('the first-run download (the panel\'s button) takes the recommended repository\'s 8-bit variant, and the test-model notice goes', async () => {
    fs.rmSync(path.join(api.globalStoragePath(), 'models', 'Xenova--codegen-350M-mono'), { recursive: true, force: true });
    const result = await vscode.commands.executeCommand<{ modelDir: string; variant: string } | undefined>('codegenMt.downloadModel', {
      repo: RECOMMENDED_MODEL.repo,
      preferVariants: RECOMMENDED_MODEL.variants,
    });
    assert.ok(result, `downloaded; last error: ${JSON.stringify(api.lastError())}`);
    assert.equal(result.variant, 'model_int8', 'the first preferred variant the repository has, not its fp32 default');
    await waitFor(() => api.modelStatus().state === 'ready' && api.modelStatus().label === 'Xenova--codegen-350M-mono (model_int8)', `ready on the download (is ${JSON.stringify(api.modelStatus())})`);
    assert.equal(api.modelStatus().testModel, undefined, 'no test-model notice for a real model');
  });

  test('a Salesforce checkpoint repository downloads, converts on load to the precision asked for, and a turn runs on it', async () => {
    fs.rmSync(path.join(api.globalStoragePath(), 'models', 'Salesforce--codegen-tiny-mono'), { recursive: true, force: true });
    const result = await vscode.commands.executeCommand<{ modelDir: string; variant: string } | undefined>('codegenMt.downloadModel', { repo: CHECKPOINT_REPO, variant: 'int4' });
    assert.ok(result, `downloaded; last error: ${JSON.stringify(api.lastError())}`);
    assert.equal(result.variant, 'int4');
    assert.ok(fs.existsSync(path.join(result.modelDir, 'pytorch_model.bin')), 'the checkpoint was downloaded');
    assert.ok(!fs.existsSync(path.join(result.modelDir, 'onnx')), 'nothing is converted into the download folder (the graph goes to the cache)');
    const label = 'Salesforce--codegen-tiny-mono (int4)';
    await waitFor(() => api.modelStatus().state === 'ready' && api.modelStatus().label === label, `ready on the converted checkpoint (is ${JSON.stringify(api.modelStatus())})`);
    await openPython('checkpoint.py');
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Print hello.');
    const turn = await api.waitForTurn(id!, ['proposed']);
    assert.ok(turn.code.length > 0, 'the converted checkpoint generated code');
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
  });

  test('a variant the repository lacks, or a repository the hub lacks: nothing is downloaded and the settings stay', async () => {
    const settings = () => vscode.workspace.getConfiguration('codegenMt');
    const modelPath = settings().inspect<string>('modelPath')?.globalValue;
    const cdnBefore = hub!.requests.filter((r) => r.server === 'cdn').length;
    // Each resolves (undefined) instead of waiting on its error notification.
    assert.equal(await vscode.commands.executeCommand('codegenMt.downloadModel', { repo: REPO, variant: 'model_q4' }), undefined);
    assert.equal(await vscode.commands.executeCommand('codegenMt.downloadModel', { repo: 'nobody/nothing' }), undefined);
    assert.ok(hub!.requests.some((r) => r.url.startsWith('/api/models/nobody/nothing/')), 'the hub was asked for the missing repository');
    assert.equal(hub!.requests.filter((r) => r.server === 'cdn').length, cdnBefore, 'no model file was fetched');
    assert.ok(!fs.existsSync(path.join(api.globalStoragePath(), 'models', 'nobody--nothing', 'onnx')), 'no model folder for the missing repository');
    assert.equal(settings().inspect<string>('modelPath')?.globalValue, modelPath, 'the model setting is unchanged');
  });
});
