#!/usr/bin/env python3
"""Train a small CodeGen on the Python standard library (CPU, minutes), for measuring quantization quality.

Random weights make greedy choices fragile (near-ties everywhere), so the fp32/fp16/int8/int4 compiler is
measured on a small *trained* model instead. This script makes one, with CodeGen's exact architecture (the
PyTorch model class and ONNX exporters of models/make_tiny_codegen.py, imported, not copied) and the real
51200-entry vocabulary, trained on Python source that is on every machine here: /usr/lib/python3.11.

What it makes, in --out (default /work/trained-codegen; it must be outside the repository):
  config.json, generation_config.json   Hugging Face layout, model_type "codegen" (same keys as
                                        models/codegen-tiny-random/config.json)
  onnx/model.onnx                       newer layout (input_ids, attention_mask, position_ids,
                                        past_key_values.{i}.key/.value -> logits, present.{i}.key/.value)
  onnx/decoder_model_merged.onnx        older layout (no position_ids; an If on use_cache_branch)
  heldout.json                          20 prompts of exactly 64 token ids (+ their text) from held-out files
  train_log.json                        arguments, step count, tokens, loss curve, held-out loss, wall times,
                                        greedy samples
  torch/state_dict.pt                   the trained weights under checkpoint names (for --export-only)
  corpus.bin, corpus.index.json         the tokenized corpus (little-endian uint16 ids; see below)
  README.md                             what this folder is

Model: n_layer 4, n_embd 256, n_head 8 (head_dim 32), rotary_dim 16, n_inner null (1024), vocab 51200,
n_positions 2048; trained on windows of --seq (256) tokens. About 29.4M parameters, 26.2M of them in the two
51200 x 256 embedding matrices.

Data: every *.py file under --stdlib (sorted), except test suites and generated tables (test/, tests/,
test_*.py, idlelib/, encodings/ (codec tables), pydoc_data/ (a 700 KB string), __phello__/, config-*/,
_sysconfigdata*, dist-packages/, site-packages/) and files that are not UTF-8. A file is HELD OUT
(never trained on) when the sha1 of its path relative to --stdlib starts with "0" (about 1 file in 16); the
held-out loss and heldout.json come from those files only. Files are tokenized with the project's own
tokenizer (models/tokenize_corpus.mjs running the compiled src/engine/tokenizer.js), each followed by
<|endoftext|>, and packed into one stream; training windows are drawn from the training stream with a seeded
generator.

Training trick (exact, not an approximation): the input embedding and output softmax are trained over a
compact vocabulary, the K ids that occur in the training stream, plus ONE shared output row standing for the
51200 - K others, whose logit gets + ln(51200 - K). That is exactly the full 51200-way softmax of a model whose
never-seen ids share one lm_head row and bias, so the loss is the full-vocabulary loss; at export every
never-seen id gets that shared row (and its wte row stays at its random initialisation, as it would in
full-vocabulary training, where it never receives a gradient). It makes a step about twice as fast on 2 cores
because the 51200-wide lm_head dominates the cost of a model this narrow. The held-out loss is computed with
the exported full-vocabulary model, so it counts held-out tokens that never occur in training.

Optimisation: AdamW (betas 0.9/0.95, weight decay 0.1 on matrices only), linear warmup then cosine decay to
10% of --lr, gradient clipping at 1.0. --minutes sets the training time: the first steps are timed and the
number of steps is then fixed (printed, and saved in train_log.json); --steps N gives it directly, which with
the same seed and --threads reproduces a run exactly, whatever the machine's speed.

Checks (the script fails loudly otherwise): the exported ONNX files, run with onnxruntime-node (the engine's
runtime: Python has no onnxruntime here), agree with the PyTorch model on a held-out prompt, both on a prefill
without past and on cached one-token steps after it.

Run from the repository root (PyTorch 1.13, onnx 1.12, Node 20):
    npx tsc -p . --outDir out-train          # the compiled tokenizer (out-train/src/engine/tokenizer.js)
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 models/train_small_codegen.py --minutes 12
Options: --out DIR, --minutes M | --steps N, --threads 2, --batch 8, --seq 256, --lr 2e-3, --seed,
--tokenizer FILE, --stdlib DIR, --export-only (re-export, check and sample from torch/state_dict.pt).
"""

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time

# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. On a shared 2-core machine a spinning
# worker competes with the other jobs and the step time went from about 1 s to 4-15 s; passive waiting kept it
# at 1.8 s with one core busy elsewhere, and costs nothing measurable when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tiny_codegen as tiny  # noqa: E402  (the architecture and exporters, reused as they are)
from training.pack import node_json  # noqa: E402  (Node's tokenizer, JSON mode: one helper for both recipes)

ROOT = tiny.ROOT
VALID_VOCAB = tiny.VALID_VOCAB  # 50295
EOS = 50256
NEWLINE_IDS = (198, 628)  # "\n", "\n\n": a held-out prompt starts right after one of these (a line start)

CONFIG = dict(tiny.CONFIG, n_layer=4, n_embd=256, n_head=8, rotary_dim=16, n_inner=None,
              n_positions=2048, n_ctx=2048)
MODEL_NAME = "codegen-small-stdlib-trained"

HELDOUT_PROMPTS = 20
PROMPT_TOKENS = 64
SAMPLE_PROMPTS = [
    "def fibonacci(n):\n",
    "def is_prime(n):\n    \"\"\"Return True if n is a prime number.\"\"\"\n",
    "import os\n\n\ndef list_files(path):\n",
    "class Stack:\n    def __init__(self):\n",
    "for i in range(10):\n",
]
SAMPLE_NEW_TOKENS = 48

# Directories (any path component) and file names left out of the corpus: test suites, IDLE, and files that
# are data rather than code (codec tables, pydoc's topic strings).
SKIP_DIRS = {"test", "tests", "idlelib", "encodings", "pydoc_data", "dist-packages", "site-packages",
             "__pycache__", "__phello__"}


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------------
# Corpus: file list, held-out split, tokenization (through Node), streams
# ----------------------------------------------------------------------------------------------------------
def list_corpus(stdlib):
    """Sorted (relative path, absolute path) of the corpus files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(stdlib):
        rel_dir = os.path.relpath(dirpath, stdlib)
        parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        if any(p in SKIP_DIRS or p.startswith("config-") for p in parts):
            dirnames[:] = []
            continue
        for name in filenames:
            if not name.endswith(".py") or name.startswith("test_") or name.startswith("_sysconfigdata"):
                continue
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    f.read().decode("utf-8")  # Node reads the file as UTF-8: skip anything that is not
            except (UnicodeDecodeError, OSError):
                continue
            out.append((os.path.relpath(path, stdlib), path))
    out.sort()
    return out


def is_heldout(rel):
    return hashlib.sha1(rel.encode("utf-8")).hexdigest().startswith("0")


def tokenize_corpus(files, out_dir, tokenizer):
    """Ids of every file (one uint16 stream, each file followed by EOS) and the per-file index; cached in
    out_dir/corpus.* and reused while the file list is the same."""
    prefix = os.path.join(out_dir, "corpus")
    paths = [p for _, p in files]
    try:
        with open(prefix + ".index.json") as f:
            index = json.load(f)
        if [e["path"] for e in index] != paths:
            raise ValueError("file list changed")
        log(f"[data] reusing {prefix}.bin")
    except (OSError, ValueError):
        with tempfile.TemporaryDirectory() as tmp:
            lst = os.path.join(tmp, "files.json")
            with open(lst, "w") as f:
                json.dump(paths, f)
            subprocess.run(["node", os.path.join(ROOT, "models", "tokenize_corpus.mjs"), "--tokenizer", tokenizer,
                            "--corpus", lst, "--out", prefix], check=True)
        with open(prefix + ".index.json") as f:
            index = json.load(f)
    ids = np.fromfile(prefix + ".bin", dtype="<u2").astype(np.int64)
    return ids, index


def stream_of(ids, entries):
    """The files of `entries`, each with its EOS, concatenated."""
    return np.concatenate([ids[e["start"]: e["start"] + e["count"] + 1] for e in entries])


def heldout_prompts(ids, entries, tokenizer, seed):
    """HELDOUT_PROMPTS windows of PROMPT_TOKENS ids, one per held-out file (the files in path order, taking
    as many per file as needed when there are fewer long-enough files), each starting at a line start at a
    seeded random place in the file."""
    rng = np.random.default_rng(seed + 1)
    usable = [e for e in entries if e["count"] >= 2 * PROMPT_TOKENS]
    assert usable, "no held-out file is long enough"
    picks = []
    per_file = math.ceil(HELDOUT_PROMPTS / len(usable))
    for e in usable:
        toks = ids[e["start"]: e["start"] + e["count"]]
        starts = [p for p in range(1, len(toks) - PROMPT_TOKENS + 1) if toks[p - 1] in NEWLINE_IDS]
        if not starts:
            continue
        chosen = sorted(rng.choice(len(starts), size=min(per_file, len(starts)), replace=False))
        for c in chosen:
            p = starts[c]
            picks.append({"file": e["rel"], "start": int(p), "ids": [int(t) for t in toks[p: p + PROMPT_TOKENS]]})
        if len(picks) >= HELDOUT_PROMPTS:
            break
    picks = picks[:HELDOUT_PROMPTS]
    assert len(picks) == HELDOUT_PROMPTS, len(picks)
    texts = node_json(tokenizer, {"decode": [p["ids"] for p in picks]})["decoded"]
    for p, t in zip(picks, texts):
        p["text"] = t
    return picks


# ----------------------------------------------------------------------------------------------------------
# Model: the full CodeGen of make_tiny_codegen.py, trained through a compact vocabulary (see the docstring)
# ----------------------------------------------------------------------------------------------------------
class CompactVocab(torch.nn.Module):
    """Trainable wte/lm_head rows for the K ids seen in training, plus one shared output row for the rest;
    the blocks and ln_f are the full model's own modules (shared, so they need no copying back)."""

    def __init__(self, model, seen_ids):
        super().__init__()
        self.model = model
        V = model.cfg["vocab_size"]
        self.register_buffer("seen", torch.as_tensor(seen_ids, dtype=torch.int64), persistent=False)
        other = np.setdiff1d(np.arange(V), seen_ids)
        self.register_buffer("other", torch.as_tensor(other, dtype=torch.int64), persistent=False)
        self.log_n_other = math.log(len(other))
        lut = torch.full((V,), len(seen_ids), dtype=torch.int64)  # full id -> compact index (K: "other")
        lut[self.seen] = torch.arange(len(seen_ids))
        self.register_buffer("lut", lut, persistent=False)
        with torch.no_grad():
            # Start from the full model's (random) rows; the shared row starts as the first never-seen id's.
            self.wte = torch.nn.Parameter(model.transformer.wte.weight[self.seen].clone())
            rows = torch.cat([self.seen, self.other[:1]])
            self.head_w = torch.nn.Parameter(model.lm_head.weight[rows].clone())
            self.head_b = torch.nn.Parameter(model.lm_head.bias[rows].clone())

    def forward(self, ids):
        """ids: [b, s] full ids, all seen in training. Returns compact logits [b, s, K + 1]."""
        b, s = ids.shape
        pos = torch.arange(s).unsqueeze(0)
        mask = torch.ones(b, s, dtype=torch.int64)
        h = F.embedding(self.lut[ids], self.wte)
        for block in self.model.transformer.h:
            h, _ = block(h, pos, None, mask)
        logits = F.linear(self.model.transformer.ln_f(h), self.head_w, self.head_b)
        # The shared row stands for every never-seen id: their total probability is n_other * exp(logit).
        offset = torch.zeros(logits.shape[-1])
        offset[-1] = self.log_n_other
        return logits + offset

    @torch.no_grad()
    def write_back(self):
        """Puts the trained rows into the full model (the one that is evaluated and exported)."""
        m = self.model
        m.transformer.wte.weight[self.seen] = self.wte
        m.lm_head.weight[self.seen] = self.head_w[:-1]
        m.lm_head.bias[self.seen] = self.head_b[:-1]
        m.lm_head.weight[self.other] = self.head_w[-1]
        m.lm_head.bias[self.other] = self.head_b[-1]


def lr_at(step, total, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    return args.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


@torch.no_grad()
def heldout_loss(model, stream, seq, max_windows):
    """Mean next-token NLL (nats) of the full model over non-overlapping windows of the held-out stream."""
    model.eval()
    n = min(max_windows, (len(stream) - 1) // seq)
    total, count = 0.0, 0
    for i in range(0, n, 8):
        rows = [stream[w * seq: w * seq + seq + 1] for w in range(i, min(n, i + 8))]
        x = torch.as_tensor(np.stack(rows))
        logits, _ = model(x[:, :-1])
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        total += nll.item()
        count += x[:, 1:].numel()
    return total / count, count


@torch.no_grad()
def prompts_nll(model, prompts):
    """Mean NLL over positions 1..63 of the held-out prompts (what bench/quality.ts measures on fp32)."""
    x = torch.as_tensor([p["ids"] for p in prompts])
    logits, _ = model(x)
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
    return nll.item()


def train(model, train_stream, heldout_stream, args):
    compact_ids = np.unique(train_stream)
    net = CompactVocab(model, compact_ids)
    log(f"[train] compact vocabulary: {len(compact_ids)} ids seen in training + 1 shared row for the other "
        f"{model.cfg['vocab_size'] - len(compact_ids)}")
    decay = [p for n, p in net.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in net.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(args.seed)
    budget = args.minutes * 60.0
    total = args.steps  # None until calibrated
    calib = min(args.warmup, 20)
    curve, evals = [], []
    window_loss, window_steps, train_time = 0.0, 0, 0.0
    step = 0
    t_start = time.time()
    while total is None or step < total:
        t0 = time.time()
        net.train()
        starts = rng.integers(0, len(train_stream) - args.seq - 1, size=args.batch)
        x = torch.as_tensor(np.stack([train_stream[s: s + args.seq + 1] for s in starts]))
        inp, tgt = x[:, :-1], net.lut[x[:, 1:]]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total or 10 ** 9, args)
        logits = net(inp)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        train_time += time.time() - t0
        window_loss += loss.item()
        window_steps += 1
        if total is None and step == calib:
            # Steps 1-4 include warm-up effects of the allocator: time the rest of the calibration steps.
            per_step = train_time / calib
            total = max(calib + 1, calib + int((budget - train_time) / per_step))
            log(f"[train] {per_step:.2f} s/step over the first {calib} steps: {total} steps for "
                f"{args.minutes:g} minutes (reproduce exactly with --steps {total})")
        if step % args.log_every == 0 or step == total:
            mean = window_loss / window_steps
            tok_s = step * args.batch * args.seq / train_time
            curve.append({"step": step, "loss": round(mean, 4), "lr": opt.param_groups[0]["lr"],
                          "train_s": round(train_time, 1)})
            log(f"[train] step {step}/{total} loss {mean:.3f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{tok_s:.0f} tok/s train {train_time / 60:.1f} min")
            window_loss, window_steps = 0.0, 0
        if total is not None and args.eval_every > 0 and step % max(1, total // args.eval_every) == 0 and step < total:
            net.write_back()
            hl, n = heldout_loss(model, heldout_stream, args.seq, 16)
            evals.append({"step": step, "heldout_loss": round(hl, 4), "tokens": n})
            log(f"[eval] step {step}: held-out loss {hl:.3f} (ppl {math.exp(hl):.1f}) on {n} tokens")
    net.write_back()
    return {"steps": step, "tokens": step * args.batch * args.seq, "train_s": round(train_time, 1),
            "wall_s": round(time.time() - t_start, 1), "curve": curve, "evals": evals,
            "compact_vocab": int(len(compact_ids))}


# ----------------------------------------------------------------------------------------------------------
# Export (make_tiny_codegen's exporters) and the onnxruntime-node check
# ----------------------------------------------------------------------------------------------------------
def export_merged(model, path, tmp_dir, cfg):
    """make_tiny_codegen.export_merged with the config as a parameter (that one reads the tiny CONFIG and
    sample_inputs' tiny default): the same If model, built from the same helpers."""
    ids, mask, _, pkv = tiny.sample_inputs(cfg=cfg)
    past_in, present_out = tiny.past_names(cfg, "past_key_values"), tiny.past_names(cfg, "present")
    outputs = ["logits"] + present_out
    with_path = os.path.join(tmp_dir, "decoder_with_past_model.onnx")
    without_path = os.path.join(tmp_dir, "decoder_model.onnx")
    with torch.no_grad():
        with_past = tiny.torch_export(tiny.WithPastNoPositions(model), [ids, mask] + pkv, with_path,
                                      ["input_ids", "attention_mask"] + past_in, outputs,
                                      tiny.axes(cfg, with_past=True, with_positions=False))
        no_past = tiny.torch_export(tiny.NoPastNoPositions(model), [ids, mask[:, -ids.shape[1]:]], without_path,
                                    ["input_ids", "attention_mask"], outputs,
                                    tiny.axes(cfg, with_past=False, with_positions=False))
    os.remove(with_path)
    os.remove(without_path)
    inits, renames = tiny.dedupe_initializers([with_past.graph, no_past.graph])
    init_names = {t.name for t in inits}
    by_name = {i.name: i for i in with_past.graph.input}
    main_inputs = [by_name["input_ids"], by_name["attention_mask"]] + [by_name[n] for n in past_in]
    main_inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    outer = {i.name for i in main_inputs} | init_names
    then_branch = tiny.as_branch(with_past.graph, "with_past/", outer, renames[0])
    else_branch = tiny.as_branch(no_past.graph, "no_past/", outer, renames[1])
    if_node = helper.make_node("If", ["use_cache_branch"], outputs, name="optimum::if",
                               then_branch=then_branch, else_branch=else_branch)
    graph = helper.make_graph([if_node], "merged_decoder", main_inputs, list(with_past.graph.output),
                              initializer=inits)
    merged = helper.make_model(graph, opset_imports=list(with_past.opset_import),
                               producer_name="train_small_codegen.py")
    merged.ir_version = with_past.ir_version
    onnx.checker.check_model(merged)
    onnx.save(merged, path)


# Runs in Node with the repository's onnxruntime-node: for each ONNX file, a prefill of the first `split` ids
# without past, then the remaining ids one at a time with the past; compares every logits row with the
# PyTorch reference (float32 [T, V] in ref.f32). Feeds position_ids / use_cache_branch only where declared.
ONNX_CHECK_JS = r"""
const fs = require('fs');
const ort = require(process.argv[2]);
const spec = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const ref = new Float32Array(fs.readFileSync(spec.ref).buffer.slice(0));
const V = spec.vocab, T = spec.ids.length;
(async () => {
  const results = {};
  for (const file of spec.files) {
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: spec.threads });
    const names = new Set(session.inputNames);
    let past = [];
    for (let i = 0; i < 2 * spec.nLayer; i++) past.push(new ort.Tensor('float32', new Float32Array(0), [1, spec.nHead, 0, spec.headDim]));
    let pastLen = 0;
    const rows = [];
    const run = async (ids) => {
      const total = pastLen + ids.length;
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      };
      if (names.has('position_ids')) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(pastLen + i)), [1, ids.length]);
      if (names.has('use_cache_branch')) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(pastLen > 0 ? 1 : 0), [1]);
      for (let i = 0; i < spec.nLayer; i++) { feeds[`past_key_values.${i}.key`] = past[2 * i]; feeds[`past_key_values.${i}.value`] = past[2 * i + 1]; }
      const out = await session.run(feeds);
      past = [];
      for (let i = 0; i < spec.nLayer; i++) past.push(out[`present.${i}.key`], out[`present.${i}.value`]);
      pastLen = total;
      for (let j = 0; j < ids.length; j++) rows.push(out.logits.data.slice(j * V, (j + 1) * V));
    };
    await run(spec.ids.slice(0, spec.split));
    for (let t = spec.split; t < T; t++) await run([spec.ids[t]]);
    let maxDiff = 0, argmaxAgree = 0;
    for (let t = 0; t < T; t++) {
      let a = 0, b = 0;
      for (let v = 0; v < V; v++) {
        const d = Math.abs(rows[t][v] - ref[t * V + v]);
        if (d > maxDiff) maxDiff = d;
        if (v < spec.validVocab) { if (rows[t][v] > rows[t][a]) a = v; if (ref[t * V + v] > ref[t * V + b]) b = v; }
      }
      if (a === b) argmaxAgree++;
    }
    results[file] = { maxDiff, argmaxAgree, positions: T };
    await session.release();
  }
  fs.writeFileSync(spec.out, JSON.stringify(results));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def check_onnx(model, files, ids, threads):
    with torch.no_grad():
        ref, _ = model(torch.as_tensor([ids]))
    ref = ref[0].numpy().astype("<f4")
    with tempfile.TemporaryDirectory() as tmp:
        script, spec_file, out = (os.path.join(tmp, n) for n in ("check.js", "spec.json", "out.json"))
        ref.tofile(os.path.join(tmp, "ref.f32"))
        with open(script, "w") as f:
            f.write(ONNX_CHECK_JS)
        cfg = model.cfg
        with open(spec_file, "w") as f:
            json.dump({"files": files, "ids": ids, "split": len(ids) - 16, "ref": os.path.join(tmp, "ref.f32"),
                       "vocab": cfg["vocab_size"], "validVocab": VALID_VOCAB, "nLayer": cfg["n_layer"],
                       "nHead": cfg["n_head"], "headDim": cfg["n_embd"] // cfg["n_head"], "threads": threads,
                       "out": out}, f)
        subprocess.run(["node", script, os.path.join(ROOT, "node_modules", "onnxruntime-node"), spec_file], check=True)
        with open(out) as f:
            results = json.load(f)
    scale = float(np.abs(ref).max())
    for file, r in results.items():
        log(f"[check] {os.path.basename(file)} (onnxruntime-node) vs torch: max |logit diff| {r['maxDiff']:.2e} "
            f"(logits up to {scale:.1f}), argmax agrees at {r['argmaxAgree']}/{r['positions']} positions "
            f"(prefill {len(ids) - 16}, then 16 cached steps)")
        assert r["maxDiff"] < 1e-3 * max(1.0, scale), (file, r)
        assert r["argmaxAgree"] == r["positions"], (file, r)
    return results


@torch.no_grad()
def greedy_samples(model, tokenizer):
    model.eval()
    encoded = node_json(tokenizer, {"encode": SAMPLE_PROMPTS})["encoded"]
    outs = []
    for ids in encoded:
        # KV cache, as the engine decodes: prefill the prompt, then one token at a time.
        logits, past = model(torch.as_tensor([ids]))
        new = []
        for _ in range(SAMPLE_NEW_TOKENS):
            nxt = int(torch.argmax(logits[0, -1, :VALID_VOCAB]))
            if nxt == EOS:
                break
            new.append(nxt)
            pos = len(ids) + len(new) - 1
            logits, past = model(torch.as_tensor([[nxt]]), attention_mask=torch.ones(1, pos + 1, dtype=torch.int64),
                                 position_ids=torch.as_tensor([[pos]]), past_key_values=past)
        outs.append(new)
    texts = node_json(tokenizer, {"decode": outs})["decoded"]
    samples = []
    for prompt, text in zip(SAMPLE_PROMPTS, texts):
        log(f"[sample] ---- {prompt!r}\n{prompt}{text}")
        samples.append({"prompt": prompt, "completion": text})
    return samples


def write_readme(out_dir, summary):
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(
            f"# {MODEL_NAME}\n\n"
            "A small CodeGen (4 layers, 256 wide, 8 heads of 32, rotary_dim 16, the real 51200-entry vocabulary)\n"
            "trained for a few minutes on CPU on the Python standard library, to measure quantization quality\n"
            "(bench/quality.ts). It writes plausible-looking Python, not correct programs.\n\n"
            f"Trained by models/train_small_codegen.py: {summary['steps']} steps, {summary['tokens']} tokens, "
            f"held-out loss {summary['heldout_loss']:.3f} nats/token (perplexity {math.exp(summary['heldout_loss']):.1f}).\n"
            "Held-out prompts (files never trained on): heldout.json. Details: train_log.json.\n"
        )


# ----------------------------------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/work/trained-codegen", help="output folder, outside the repository")
    ap.add_argument("--minutes", type=float, default=12.0, help="training time (sets the step count)")
    ap.add_argument("--steps", type=int, help="number of steps (instead of --minutes; reproducible)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=4, help="held-out evaluations during training (count)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--stdlib", default="/usr/lib/python3.11")
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "out-train", "src", "engine", "tokenizer.js"))
    ap.add_argument("--export-only", action="store_true", help="load torch/state_dict.pt instead of training")
    args = ap.parse_args(argv)
    if tiny.inside(args.out, ROOT):
        ap.error(f"--out {args.out} is inside the repository ({ROOT}): put the model elsewhere")
    if not os.path.exists(args.tokenizer):
        ap.error(f"{args.tokenizer} is missing: build it with `npx tsc -p . --outDir out-train`")
    if args.steps is not None and args.steps <= args.warmup:
        ap.error("--steps must be larger than --warmup")
    return args


def main():
    args = parse_args(sys.argv[1:])
    t_all = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out_dir = os.path.abspath(args.out)
    os.makedirs(os.path.join(out_dir, "onnx"), exist_ok=True)

    files = list_corpus(args.stdlib)
    ids, index = tokenize_corpus(files, out_dir, args.tokenizer)
    for e, (rel, _) in zip(index, files):
        e["rel"] = rel
    held = [e for e in index if is_heldout(e["rel"])]
    trainset = [e for e in index if not is_heldout(e["rel"])]
    train_stream, heldout_stream = stream_of(ids, trainset), stream_of(ids, held)
    log(f"[data] {len(files)} files under {args.stdlib}: {len(trainset)} train ({len(train_stream)} tokens), "
        f"{len(held)} held out ({len(heldout_stream)} tokens)")
    prompts = heldout_prompts(ids, held, args.tokenizer, args.seed)
    with open(os.path.join(out_dir, "heldout.json"), "w") as f:
        json.dump({
            "description": f"{HELDOUT_PROMPTS} prompts of exactly {PROMPT_TOKENS} CodeGen token ids from files held "
                           f"out of training (sha1 of the path relative to {args.stdlib} starts with '0'), each "
                           "starting at a line start; made by models/train_small_codegen.py.",
            "prompt_tokens": PROMPT_TOKENS,
            "heldout_files": [e["rel"] for e in held],
            "prompts": prompts,
        }, f, indent=1)
        f.write("\n")

    model = tiny.CodeGenForCausalLM(CONFIG)
    tiny.init_gpt_like(model, CONFIG, seed=args.seed)  # GPT-2 style N(0, 0.02) init, seeded
    log(f"[model] {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters: {CONFIG}")
    state_file = os.path.join(out_dir, "torch", "state_dict.pt")
    previous = None  # the training run's log, kept as it is by --export-only
    if args.export_only:
        model.load_state_dict(torch.load(state_file))
        with open(os.path.join(out_dir, "train_log.json")) as f:
            previous = json.load(f)
        result = previous["train"]
    else:
        result = train(model, train_stream, heldout_stream, args)
        os.makedirs(os.path.dirname(state_file), exist_ok=True)
        torch.save(model.state_dict(), state_file)
    model.eval()

    hl, n = heldout_loss(model, heldout_stream, args.seq, 128)
    pl = prompts_nll(model, prompts)
    log(f"[eval] final held-out loss {hl:.4f} nats/token (ppl {math.exp(hl):.2f}) on {n} tokens; on the "
        f"{HELDOUT_PROMPTS} heldout.json prompts: {pl:.4f} (ppl {math.exp(pl):.2f})")
    last = result["curve"][-1]["loss"] if result["curve"] else float("nan")

    t0 = time.time()
    newer = os.path.join(out_dir, "onnx", "model.onnx")
    merged = os.path.join(out_dir, "onnx", "decoder_model_merged.onnx")
    tiny.export_newer(model, newer, CONFIG)
    export_merged(model, merged, os.path.join(out_dir, "onnx"), CONFIG)
    tiny.write_configs(out_dir, CONFIG, name=MODEL_NAME, readme=False)
    log(f"[export] {newer} ({os.path.getsize(newer) / 1e6:.1f} MB), {merged} "
        f"({os.path.getsize(merged) / 1e6:.1f} MB) in {time.time() - t0:.1f} s")
    checks = check_onnx(model, [newer, merged], prompts[0]["ids"], args.threads)
    samples = greedy_samples(model, args.tokenizer)

    summary = dict(result, final_train_loss=last, heldout_loss=round(hl, 4), heldout_tokens=n,
                   heldout_prompts_loss=round(pl, 4))
    record = {"args": vars(args), "config": CONFIG, "data": {
        "files": len(files), "train_files": len(trainset), "heldout_files": len(held),
        "train_tokens": int(len(train_stream)), "heldout_tokens": int(len(heldout_stream))},
        "train": summary, "onnx_check": checks, "samples": samples, "total_s": round(time.time() - t_all, 1)}
    if previous is not None:
        # Keep the arguments and time of the run that trained the weights; note the re-export.
        record["args"], record["total_s"] = previous["args"], previous["total_s"]
        record["reexported"] = {"args": vars(args), "total_s": round(time.time() - t_all, 1)}
    with open(os.path.join(out_dir, "train_log.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    write_readme(out_dir, summary)
    log(f"[done] {result['steps']} steps, {result['tokens']} tokens, train {result['train_s'] / 60:.1f} min; "
        f"train loss {last:.3f}, held-out {hl:.3f}; total {(time.time() - t_all) / 60:.1f} min -> {out_dir}")


if __name__ == "__main__":
    main()
