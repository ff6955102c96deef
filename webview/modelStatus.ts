// The model's status line (connecting, loading, ready with its speed, none or an error with what to do), and the
// notice shown while the bundled random test model is the model.
import type { FromWebview, ModelStatusView } from '../src/protocol/webview';
import { assertNever } from './assert';
import { makeButton } from './buttons';
import { clear, el, icon } from './dom';
import { formatRate } from './format';
import type { PanelStore } from './store';

export class ModelStatus {
  readonly line = el('div', { className: 'model-line' });
  readonly testModelNotice = el('section', {
    className: 'test-model-notice',
    attrs: { 'aria-label': 'Test model notice', hidden: '' },
  });

  constructor(
    private readonly store: PanelStore,
    private readonly post: (message: FromWebview) => void,
  ) {}

  render(): void {
    const model = this.store.model;
    this.renderTestModelNotice(model);
    clear(this.line);
    if (!model) {
      this.line.append(
        el('vscode-progress-ring', { className: 'ring-small', attrs: { 'aria-label': 'Connecting' } }),
        el('span', { className: 'model-text', text: 'Connecting to the model…' }),
      );
      return;
    }
    this.line.dataset.state = model.state;
    this.line.append(...this.stateParts(model));
    if (model.state !== 'none' && model.state !== 'error' && model.message) {
      this.line.append(el('span', { className: 'meta model-message', text: model.message }));
    }
  }

  private stateParts(model: ModelStatusView): HTMLElement[] {
    const label = model.label || 'No model';
    switch (model.state) {
      case 'loading':
        return [
          el('vscode-progress-ring', { className: 'ring-small', attrs: { 'aria-label': 'Loading the model' } }),
          el('span', { className: 'model-text' }, ['Loading ', el('span', { className: 'model-label', text: label }), '…']),
        ];
      case 'ready':
      case 'generating':
        return [
          model.state === 'ready'
            ? icon('circle-filled', 'model-icon')
            : el('vscode-icon', { className: 'model-icon', attrs: { name: 'loading', spin: '', 'aria-hidden': 'true' } }),
          el('span', { className: 'model-text' }, [
            el('span', { className: 'model-label', text: label, attrs: { title: `Model: ${label}` } }),
            model.tokensPerSecond !== undefined && Number.isFinite(model.tokensPerSecond)
              ? el('span', { className: 'meta', text: ` · ${formatRate(model.tokensPerSecond)}` })
              : null,
          ]),
        ];
      case 'none':
      case 'error':
        return this.noModelParts(model);
      default:
        return assertNever(model.state);
    }
  }

  /** No model, or one that failed to load: what happened, and the two ways to get one. */
  private noModelParts(model: ModelStatusView): HTMLElement[] {
    const message = model.message || (model.state === 'none' ? 'No model is selected.' : 'The model could not be loaded.');
    return [
      icon(model.state === 'none' ? 'info' : 'error', 'model-icon'),
      el('span', { className: 'model-text model-message', text: message }),
      makeButton({
        label: 'Choose model folder…',
        icon: 'folder-opened',
        secondary: true,
        title: 'Choose a CodeGen model folder (config.json + onnx/*.onnx)',
        onClick: () => this.post({ type: 'chooseModel' }),
      }),
      makeButton({
        label: 'Download model…',
        icon: 'cloud-download',
        secondary: true,
        title: 'Download a CodeGen ONNX model from the Hugging Face hub (e.g. Xenova/codegen-350M-mono)',
        onClick: () => this.post({ type: 'downloadModel' }),
      }),
    ];
  }

  /** The bundled model has random weights: say so before anyone wonders why the code is gibberish, and offer a real one. */
  private renderTestModelNotice(model: ModelStatusView | undefined): void {
    const notice = model?.testModel;
    clear(this.testModelNotice);
    this.testModelNotice.hidden = !notice;
    if (!notice) return;
    this.testModelNotice.append(
      el('p', { className: 'test-model-text' }, [
        el('strong', { text: 'This is the random test model.' }),
        ` It has random weights and writes gibberish: it is bundled only to try the extension out. For real code, download ${notice.recommendedName}, the paper's smallest Python model, or choose a model folder you have.`,
      ]),
      el('div', { className: 'test-model-actions' }, [
        makeButton({
          label: `Download (${notice.recommendedSize})`,
          icon: 'cloud-download',
          title: `Download ${notice.recommendedName} from the Hugging Face hub, verify it and switch to it`,
          onClick: () => this.post({ type: 'downloadRecommendedModel' }),
        }),
        makeButton({
          label: 'Choose model folder…',
          icon: 'folder-opened',
          secondary: true,
          title: 'Use a CodeGen model folder you already have (config.json + onnx/*.onnx)',
          onClick: () => this.post({ type: 'chooseModel' }),
        }),
      ]),
    );
  }
}
