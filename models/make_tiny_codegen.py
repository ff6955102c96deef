#!/usr/bin/env python3
"""Build a tiny random-weight CodeGen model, export it to ONNX, and write a reference fixture.

What it makes (all deterministic: fixed seed, weights drawn with NumPy):
  models/codegen-tiny-random/
    config.json, generation_config.json   Hugging Face format, model_type "codegen"
    onnx/model.onnx                        newer layout: input_ids, attention_mask, position_ids,
                                           past_key_values.{i}.key/.value -> logits, present.{i}.key/.value
    onnx/decoder_model_merged.onnx         older layout: no position_ids (positions are
                                           arange(past, past+seq) inside), plus use_cache_branch bool [1].
                                           A real merged decoder as optimum makes it: one `If` node on
                                           use_cache_branch; else = decoder without past (past inputs are
                                           ignored, feed an empty [batch, 4, 0, 4] past), then = decoder with
                                           past; both branches share one deduplicated set of initializers.
    README.md                              says these are random weights, for tests only
  test/fixtures/tiny-codegen-reference.json
                                           NumPy-reference logits summary for a fixed id sequence and its
                                           greedy continuation (see FIXTURE FORMAT below)

The architecture follows Salesforce's CodeGen (github.com/salesforce/CodeGen; HF CodeGenForCausalLM):
  per block x = ln_1(h); qkv = x W (no bias), reshaped to mp_num=4 quarters, each split q|v|k;
  GPT-J interleaved rotary on the first rotary_dim dims of each head of q and k (keys cached after rotary);
  causal softmax(q k^T / sqrt(head_dim)) v in fp32 combined with the attention mask; out_proj (no bias);
  mlp = fc_out(gelu_new(fc_in(x))); h = attn + mlp + h. Then ln_f and an untied lm_head with bias.
  Parameter names match the checkpoint names (transformer.wte.weight, transformer.h.{i}.ln_1.weight, ...).

Hyper-parameters: vocab 51200 (the real one), n_layer 2, n_embd 16, n_head 4 (head_dim 4), rotary_dim 2,
n_inner null (64), n_positions = n_ctx = 2048, layer_norm_epsilon 1e-5.  The weight scales are chosen so the
random model is not degenerate (greedy output varies, logits spread of several units, attention and
positions matter); the padded ids >= 50295 get a raised lm_head bias so that, as with real checkpoints,
an unmasked argmax sometimes lands there and masking them before sampling is observable.

The script checks, and fails loudly otherwise:
  * an independent NumPy forward (float64, no cache, full recomputation) agrees with the PyTorch model;
  * the PyTorch model with a KV cache (prefill, then one token at a time) agrees with the no-cache forward;
  * a left-padded batch with attention_mask and shifted position_ids matches the unpadded run;
  * the non-degeneracy properties above (a summary is printed).

FIXTURE FORMAT (test/fixtures/tiny-codegen-reference.json), from the NumPy reference:
  model                  the hyper-parameters
  text, input_ids        the prompt (GPT-2 / CodeGen ids of text) fed with positions 0..n-1, mask all ones
  probe_ids              5 fixed ids whose logits are recorded
  valid_vocab_size       50295: ids >= this are never produced (masked before argmax)
  argmax[t]              argmax over all 51200 logits at position t
  argmax_valid[t]        argmax over ids < 50295 at position t
  max_logit[t]           largest of all 51200 logits at position t
  logsumexp[t]           log-sum-exp of all 51200 logits at position t
  logits_at_input_ids[t][j]  logit of id input_ids[j] at position t
  logits_at_probe_ids[t][k]  logit of id probe_ids[k] at position t
  next_token_nll[t]      logsumexp[t] - logit of input_ids[t+1] at position t (t = 0..n-2)
  greedy_new_tokens      20 ids of the greedy continuation (argmax over ids < 50295, no cache)
  greedy_min_gap         smallest top-1 minus top-2 logit margin over the greedy steps (ties are not an issue)

Run from the repository root (PyTorch 1.13 and onnx 1.12; no onnxruntime needed here):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 models/make_tiny_codegen.py
(`--check-only` runs the checks and writes nothing.) Output is byte-identical from run to run. The ONNX files
were checked with onnxruntime-node against the fixture (prefill logits, cached greedy decoding, empty past).

PRESET MODE (`--preset 350M --out DIR`), for speed benchmarks only (bench/bench.ts --build-350m runs it):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 models/make_tiny_codegen.py --preset 350M --out DIR
builds a random-weight model with the exact shape of Salesforce codegen-350M-mono (n_layer 20, n_embd 1024,
n_head 16 (head_dim 64), rotary_dim 32, n_inner null (4096), vocab 51200, n_positions = n_ctx = 2048; about
357M parameters) and writes DIR/config.json, DIR/generation_config.json and DIR/onnx/model.onnx (the newer
layout only, same input/output names as above; about 1.43 GB fp32, one file, under protobuf's 2 GB limit).
Speed depends on the shape, not on the weights, so the weights are GPT-2-style random (seeded torch.Generator,
drawn in place in the PyTorch model, no NumPy copy): N(0, 0.02) for embeddings, qkv_proj, fc_in and lm_head,
N(0, 0.02/sqrt(2 n_layer)) for the residual projections out_proj and fc_out, layer norms 1/0, biases 0; the
output means nothing. The only checks are that the logits are finite and that the PyTorch model with a KV cache
matches the no-cache forward on a short input (the float64 NumPy reference is too slow at this size); no
fixture, README or merged decoder is written. DIR must be outside the repository (the script refuses
otherwise); onnx/model.onnx is written under a temporary name and renamed last, so its presence means the
build finished. It takes a few minutes and a few GB of memory on a small machine.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "models", "codegen-tiny-random")
FIXTURE = os.path.join(ROOT, "test", "fixtures", "tiny-codegen-reference.json")

SEED = 20240517
OPSET = 14

CONFIG = {
    "vocab_size": 51200,
    "n_layer": 2,
    "n_embd": 16,
    "n_head": 4,
    "rotary_dim": 2,
    "n_inner": None,
    "n_positions": 2048,
    "n_ctx": 2048,
    "layer_norm_epsilon": 1e-5,
}
MP_NUM = 4  # fixed in CodeGen for every model size
VALID_VOCAB = 50295  # tokenizer vocabulary; ids >= this are padding of the embedding matrix

# "def add(a, b):\n    return a + b" in GPT-2 / CodeGen ids: "def"," add","(","a",","," b","):","\n",
# [4 spaces] (added token 50284), "return"," a"," +"," b".
FIXTURE_TEXT = "def add(a, b):\n    return a + b"
FIXTURE_IDS = [4299, 751, 7, 64, 11, 275, 2599, 198, 50284, 7783, 257, 1343, 275]
PROBE_IDS = [0, 198, 50256, 50294, 51199]
GREEDY_NEW = 20

# Initialisation scales (standard deviations), chosen so the random model is not degenerate.
INIT = {
    "wte": 1.0,
    "ln_weight_noise": 0.1,
    "ln_bias": 0.1,
    "qkv": 0.35,
    "out_proj": 0.5,
    "fc_in": 0.3,
    "fc_in_bias": 0.1,
    "fc_out": 0.15,
    "fc_out_bias": 0.1,
    "lm_head": 0.7,
    "lm_head_bias": 0.5,
    "lm_head_bias_padded_shift": 2.0,  # added to the bias of ids >= VALID_VOCAB
}


def n_inner(cfg):
    return cfg["n_inner"] if cfg["n_inner"] is not None else 4 * cfg["n_embd"]


# ----------------------------------------------------------------------------------------------------------
# Weights (NumPy, deterministic), keyed by checkpoint name; shapes as in PyTorch nn.Linear ([out, in]).
# ----------------------------------------------------------------------------------------------------------
def make_weights(cfg, seed=SEED):
    rng = np.random.default_rng(seed)
    E, V, I = cfg["n_embd"], cfg["vocab_size"], n_inner(cfg)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln_weight():
        return (1.0 + rng.standard_normal(E) * INIT["ln_weight_noise"]).astype(np.float32)

    w = {"transformer.wte.weight": normal((V, E), INIT["wte"])}
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        w[p + "ln_1.weight"] = ln_weight()
        w[p + "ln_1.bias"] = normal(E, INIT["ln_bias"])
        w[p + "attn.qkv_proj.weight"] = normal((3 * E, E), INIT["qkv"])
        w[p + "attn.out_proj.weight"] = normal((E, E), INIT["out_proj"])
        w[p + "mlp.fc_in.weight"] = normal((I, E), INIT["fc_in"])
        w[p + "mlp.fc_in.bias"] = normal(I, INIT["fc_in_bias"])
        w[p + "mlp.fc_out.weight"] = normal((E, I), INIT["fc_out"])
        w[p + "mlp.fc_out.bias"] = normal(E, INIT["fc_out_bias"])
    w["transformer.ln_f.weight"] = ln_weight()
    w["transformer.ln_f.bias"] = normal(E, INIT["ln_bias"])
    w["lm_head.weight"] = normal((V, E), INIT["lm_head"])
    bias = normal(V, INIT["lm_head_bias"])
    bias[VALID_VOCAB:] += INIT["lm_head_bias_padded_shift"]
    w["lm_head.bias"] = bias
    return w


# ----------------------------------------------------------------------------------------------------------
# PyTorch implementation (with KV cache), written from CODEGEN.md.
# ----------------------------------------------------------------------------------------------------------
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


# Note on the ONNX export: torch 1.13's exporter mis-handles negative dims in this graph (the tracer shares one
# constant -1 between ops, and the symbolic of one op (repeat_interleave/flatten) rewrites it for its own rank,
# which silently turned later split/cat/softmax axes into 2 and crashed on flatten(-2)). So the model below only
# uses non-negative dims, and builds the interleaved sin/cos with stack + reshape.
def rotate_every_two(x):
    # x: [b, s, n_head, rotary_dim] -> [-x1, x0, -x3, x2, ...]
    x1 = x[:, :, :, 0::2]
    x2 = x[:, :, :, 1::2]
    return torch.stack((-x2, x1), dim=4).reshape(x.shape[0], x.shape[1], x.shape[2], x.shape[3])


class CodeGenAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_embd = cfg["n_embd"]
        self.n_head = cfg["n_head"]
        self.head_dim = self.n_embd // self.n_head
        self.rotary_dim = cfg["rotary_dim"]
        self.qkv_proj = nn.Linear(self.n_embd, 3 * self.n_embd, bias=False)
        self.out_proj = nn.Linear(self.n_embd, self.n_embd, bias=False)
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, self.rotary_dim, 2, dtype=torch.float32) / self.rotary_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def split_heads(self, x):
        # x: [b, s, mp_num, n_embd/mp_num] -> [b, s, n_head, head_dim]
        b, s = x.shape[0], x.shape[1]
        return x.reshape(b, s, MP_NUM, self.n_head // MP_NUM, self.head_dim).reshape(b, s, self.n_head, self.head_dim)

    def rotary(self, x, sin, cos):
        # x: [b, s, n_head, head_dim]; sin/cos: [b or 1, s, 1, rotary_dim] (each angle repeated twice, interleaved)
        rot, rest = x[:, :, :, : self.rotary_dim], x[:, :, :, self.rotary_dim:]
        rot = rot * cos + rotate_every_two(rot) * sin
        return torch.cat([rot, rest], dim=3)

    def forward(self, x, position_ids, layer_past, key_mask):
        b, s = x.shape[0], x.shape[1]
        qkv = self.qkv_proj(x).reshape(b, s, MP_NUM, 3 * self.n_embd // MP_NUM)
        local = self.n_embd // MP_NUM
        q, v, k = torch.split(qkv, local, dim=3)  # order q, v, k
        q, v, k = self.split_heads(q), self.split_heads(v), self.split_heads(k)

        angle = position_ids.to(torch.float32).unsqueeze(2) * self.inv_freq  # [b, s, rotary_dim/2]
        pb, ps = angle.shape[0], angle.shape[1]
        sin = torch.stack((torch.sin(angle), torch.sin(angle)), dim=3).reshape(pb, ps, 1, self.rotary_dim)
        cos = torch.stack((torch.cos(angle), torch.cos(angle)), dim=3).reshape(pb, ps, 1, self.rotary_dim)
        q = self.rotary(q, sin, cos)
        k = self.rotary(k, sin, cos)

        q = q.permute(0, 2, 1, 3)  # [b, h, s, d]
        k = k.permute(0, 2, 1, 3)
        v = v.permute(0, 2, 1, 3)
        if layer_past is not None:
            k = torch.cat([layer_past[0], k], dim=2)
            v = torch.cat([layer_past[1], v], dim=2)
        present = (k, v)  # keys after rotary

        total = k.shape[2]
        past = total - s
        q_pos = torch.arange(s, device=x.device).unsqueeze(1) + past  # [s, 1] absolute positions
        k_pos = torch.arange(total, device=x.device).unsqueeze(0)  # [1, T]
        allowed = (k_pos <= q_pos).unsqueeze(0).unsqueeze(0)  # [1, 1, s, T] causal
        allowed = allowed & (key_mask.unsqueeze(1).unsqueeze(2) > 0)  # [b, 1, s, T] and the attention mask

        w = torch.matmul(q.to(torch.float32), k.to(torch.float32).transpose(2, 3)) * (1.0 / math.sqrt(self.head_dim))
        w = w.masked_fill(~allowed, torch.finfo(torch.float32).min)
        w = torch.softmax(w, dim=3)
        out = torch.matmul(w, v.to(torch.float32))  # [b, h, s, d]
        out = out.permute(0, 2, 1, 3).reshape(b, s, self.n_embd)
        return self.out_proj(out), present


class CodeGenMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc_in = nn.Linear(cfg["n_embd"], n_inner(cfg))
        self.fc_out = nn.Linear(n_inner(cfg), cfg["n_embd"])

    def forward(self, x):
        return self.fc_out(gelu_new(self.fc_in(x)))


class CodeGenBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])
        self.attn = CodeGenAttention(cfg)
        self.mlp = CodeGenMLP(cfg)

    def forward(self, h, position_ids, layer_past, key_mask):
        x = self.ln_1(h)
        a, present = self.attn(x, position_ids, layer_past, key_mask)
        return a + self.mlp(x) + h, present


class CodeGenModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.h = nn.ModuleList([CodeGenBlock(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])


class CodeGenForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = CodeGenModel(cfg)
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"])

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None):
        """past_key_values: None or a list of (key, value) [b, h, past, d]. Returns logits, presents."""
        b, s = input_ids.shape[0], input_ids.shape[1]
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if position_ids is None:  # as HF CodeGen does
            position_ids = torch.arange(past_len, past_len + s, dtype=torch.int64).unsqueeze(0)
        if attention_mask is None:
            attention_mask = torch.ones(b, past_len + s, dtype=torch.int64)
        h = self.transformer.wte(input_ids)
        presents = []
        for i, block in enumerate(self.transformer.h):
            layer_past = None if past_key_values is None else past_key_values[i]
            h, present = block(h, position_ids, layer_past, attention_mask)
            presents.append(present)
        h = self.transformer.ln_f(h)
        return self.lm_head(h).to(torch.float32), presents


def build_torch_model(weights, cfg=CONFIG):
    model = CodeGenForCausalLM(cfg)
    names = set(model.state_dict().keys())
    assert names == set(weights.keys()), (names ^ set(weights.keys()))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    return model.eval()


# ----------------------------------------------------------------------------------------------------------
# Independent NumPy reference: float64, one sequence, no cache, loops over heads, formulas from CODEGEN.md.
# ----------------------------------------------------------------------------------------------------------
def np_layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def np_gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def np_rotary(x, positions, rotary_dim):
    """x: [T, head_dim]; out[2i] = x[2i] cos - x[2i+1] sin, out[2i+1] = x[2i+1] cos + x[2i] sin."""
    out = x.copy()
    for i in range(rotary_dim // 2):
        inv_freq = 10000.0 ** (-2.0 * i / rotary_dim)
        ang = positions * inv_freq
        c, s = np.cos(ang), np.sin(ang)
        out[:, 2 * i] = x[:, 2 * i] * c - x[:, 2 * i + 1] * s
        out[:, 2 * i + 1] = x[:, 2 * i + 1] * c + x[:, 2 * i] * s
    return out


def np_forward(weights, ids, cfg=CONFIG, positions=None, use_rotary=True):
    """Logits [T, vocab] (float64) for one sequence `ids` with positions 0..T-1 (or `positions`)."""
    W = {k: v.astype(np.float64) for k, v in weights.items()}
    E, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    D, R = E // H, cfg["rotary_dim"]
    T = len(ids)
    pos = np.arange(T, dtype=np.float64) if positions is None else np.asarray(positions, dtype=np.float64)
    h = W["transformer.wte.weight"][np.asarray(ids)]
    causal = np.tril(np.ones((T, T), dtype=bool))
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        x = np_layer_norm(h, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = x @ W[p + "attn.qkv_proj.weight"].T  # [T, 3E]
        quarter = 3 * E // MP_NUM
        part = E // MP_NUM
        heads_per_quarter = H // MP_NUM
        merged = np.zeros((T, E))
        for hd in range(H):
            m, j = divmod(hd, heads_per_quarter)  # quarter m, head j inside it
            base = m * quarter
            q = qkv[:, base + 0 * part + j * D: base + 0 * part + (j + 1) * D]
            v = qkv[:, base + 1 * part + j * D: base + 1 * part + (j + 1) * D]
            k = qkv[:, base + 2 * part + j * D: base + 2 * part + (j + 1) * D]
            if use_rotary:
                q, k = np_rotary(q, pos, R), np_rotary(k, pos, R)
            scores = (q @ k.T) / np.sqrt(D)
            scores = np.where(causal, scores, -np.inf)
            scores = scores - scores.max(-1, keepdims=True)
            pr = np.exp(scores)
            pr /= pr.sum(-1, keepdims=True)
            merged[:, hd * D:(hd + 1) * D] = pr @ v
        attn = merged @ W[p + "attn.out_proj.weight"].T
        mlp = np_gelu_new(x @ W[p + "mlp.fc_in.weight"].T + W[p + "mlp.fc_in.bias"])
        mlp = mlp @ W[p + "mlp.fc_out.weight"].T + W[p + "mlp.fc_out.bias"]
        h = attn + mlp + h
    h = np_layer_norm(h, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps)
    return h @ W["lm_head.weight"].T + W["lm_head.bias"]


def logsumexp(x):
    m = x.max(-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[..., 0]


def np_greedy(weights, ids, n_new, limit=VALID_VOCAB):
    ids = list(ids)
    new, gaps = [], []
    for _ in range(n_new):
        last = np_forward(weights, ids)[-1, :limit]
        top2 = np.sort(last)[-2:]
        gaps.append(float(top2[1] - top2[0]))
        nxt = int(np.argmax(last))
        new.append(nxt)
        ids.append(nxt)
    return new, min(gaps)


# ----------------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------------
def check_consistency(model, weights):
    ids = FIXTURE_IDS
    ref = np_forward(weights, ids)
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]))
    diff = np.abs(logits[0].numpy() - ref).max()
    print(f"[check] torch vs numpy (no cache): max |diff| = {diff:.2e}")
    assert diff < 1e-4, diff

    # KV cache: prefill 5 tokens, then one at a time, compared with the no-cache forward.
    with torch.no_grad():
        full, _ = model(torch.tensor([ids]))
        pre = 5
        out, past = model(torch.tensor([ids[:pre]]))
        steps = [out]
        for t in range(pre, len(ids)):
            out, past = model(torch.tensor([[ids[t]]]), attention_mask=torch.ones(1, t + 1, dtype=torch.int64),
                              position_ids=torch.tensor([[t]]), past_key_values=past)
            steps.append(out)
        cached = torch.cat(steps, dim=1)
        # Also an empty past of length 0 on the first step.
        empty = [(torch.zeros(1, CONFIG["n_head"], 0, 4), torch.zeros(1, CONFIG["n_head"], 0, 4))] * CONFIG["n_layer"]
        first, _ = model(torch.tensor([ids]), past_key_values=empty)
    diff = (cached - full).abs().max().item()
    diff0 = (first - full).abs().max().item()
    print(f"[check] torch KV cache vs no cache: max |diff| = {diff:.2e} (empty past: {diff0:.2e})")
    assert diff < 1e-4 and diff0 < 1e-5, (diff, diff0)

    # Attention mask: a left-padded row with shifted position ids equals the unpadded run.
    pad = 3
    with torch.no_grad():
        row = [50256] * pad + ids
        mask = torch.tensor([[0] * pad + [1] * len(ids), [1] * len(row)])
        pos = torch.tensor([[0] * pad + list(range(len(ids))), list(range(len(row)))])
        batch, _ = model(torch.tensor([row, row]), attention_mask=mask, position_ids=pos)
        unmasked = (batch[1, pad:] - full[0]).abs().max().item()
    diff = (batch[0, pad:] - full[0]).abs().max().item()
    print(f"[check] left padding + attention_mask vs unpadded: max |diff| = {diff:.2e} "
          f"(same row without the mask differs by {unmasked:.2f})")
    assert diff < 1e-4 and unmasked > 0.1, (diff, unmasked)


def check_not_degenerate(weights):
    rng = np.random.default_rng(7)
    prompt = FIXTURE_IDS[:8]  # "def add(a, b):\n"
    greedy, _ = np_greedy(weights, prompt, 30)
    distinct = len(set(greedy))

    logits = np_forward(weights, FIXTURE_IDS)[:, :VALID_VOCAB]
    spread = float(logits.std(-1).mean())
    top_minus_median = float((logits.max(-1) - np.median(logits, -1)).mean())
    p = np.exp((logits - logits.max(-1, keepdims=True)) / 0.2)
    p /= p.sum(-1, keepdims=True)
    p_argmax = float(p.max(-1).mean())
    draws = [rng.choice(VALID_VOCAB, p=p[t]) == np.argmax(p[t]) for t in range(len(p)) for _ in range(50)]
    frac_argmax = float(np.mean(draws))

    full = np_forward(weights, FIXTURE_IDS)
    changed = list(FIXTURE_IDS)
    changed[1] = 2860  # " sub" instead of " add"
    attn_dep = float(np.abs(np_forward(weights, changed)[-1] - full[-1]).max())
    attn_dep_argmax = sum(int(np.argmax(np_forward(weights, changed)[t, :VALID_VOCAB]) != np.argmax(full[t, :VALID_VOCAB]))
                          for t in range(2, len(FIXTURE_IDS)))
    no_rot = np_forward(weights, FIXTURE_IDS, use_rotary=False)
    pos_dep = float(np.abs(no_rot - full).max(-1).mean())
    pos_dep_argmax = int((np.argmax(no_rot[:, :VALID_VOCAB], -1) != np.argmax(full[:, :VALID_VOCAB], -1)).sum())
    # Reversing the order of the earlier tokens (same bag of tokens) changes the last prediction.
    perm = FIXTURE_IDS[:-1][::-1] + FIXTURE_IDS[-1:]
    order_dep = float(np.abs(np_forward(weights, perm)[-1] - full[-1]).max())
    padded_wins = int((np.argmax(full, -1) >= VALID_VOCAB).sum())

    print("[summary] greedy 30 from 'def add(a, b):\\n':", greedy)
    print(f"[summary] distinct greedy tokens: {distinct}/30")
    print(f"[summary] logits std per position (valid ids): {spread:.2f}; max - median: {top_minus_median:.2f}")
    print(f"[summary] T=0.2: mean p(argmax) = {p_argmax:.3f}; sampled == argmax in {frac_argmax:.1%} of draws")
    print(f"[summary] attention: changing token 1 moves last logits by up to {attn_dep:.2f}, "
          f"changes the argmax at {attn_dep_argmax}/{len(FIXTURE_IDS) - 2} later positions")
    print(f"[summary] rotary: removing it moves logits by {pos_dep:.2f} on average (max per position), "
          f"changes the argmax at {pos_dep_argmax}/{len(FIXTURE_IDS)} positions; "
          f"reordering earlier tokens moves last logits by {order_dep:.2f}")
    print(f"[summary] unmasked argmax is a padded id (>= {VALID_VOCAB}) at {padded_wins}/{len(FIXTURE_IDS)} positions")
    assert distinct >= 15, distinct
    assert spread > 1.5, spread
    assert 0.5 < frac_argmax < 0.99, frac_argmax
    assert attn_dep > 0.5 and attn_dep_argmax >= 2, (attn_dep, attn_dep_argmax)
    assert pos_dep > 0.3 and pos_dep_argmax >= 1, (pos_dep, pos_dep_argmax)
    assert order_dep > 0.3, order_dep


# ----------------------------------------------------------------------------------------------------------
# ONNX export
# ----------------------------------------------------------------------------------------------------------
def past_names(cfg, prefix):
    names = []
    for i in range(cfg["n_layer"]):
        names += [f"{prefix}.{i}.key", f"{prefix}.{i}.value"]
    return names


def unflatten(flat):
    return [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]


def flatten(presents):
    return [t for kv in presents for t in kv]


class NewerLayout(nn.Module):
    """input_ids, attention_mask, position_ids, past... -> logits, present..."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        logits, presents = self.model(input_ids, attention_mask, position_ids, unflatten(past))
        return (logits, *flatten(presents))


class WithPastNoPositions(nn.Module):
    """input_ids, attention_mask, past... -> logits, present...; positions arange(past, past+seq)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, *past):
        logits, presents = self.model(input_ids, attention_mask, None, unflatten(past))
        return (logits, *flatten(presents))


class NoPastNoPositions(nn.Module):
    """input_ids, attention_mask -> logits, present...; positions arange(0, seq)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        logits, presents = self.model(input_ids, attention_mask, None, None)
        return (logits, *flatten(presents))


def sample_inputs(batch=2, seq=3, past=5, cfg=CONFIG):
    g = torch.Generator().manual_seed(0)
    D = cfg["n_embd"] // cfg["n_head"]
    ids = torch.randint(0, VALID_VOCAB, (batch, seq), generator=g)
    mask = torch.ones(batch, past + seq, dtype=torch.int64)
    pos = torch.arange(past, past + seq).unsqueeze(0).repeat(batch, 1)
    pkv = [torch.randn(batch, cfg["n_head"], past, D, generator=g) for _ in range(2 * cfg["n_layer"])]
    return ids, mask, pos, pkv


def torch_export(module, args, path, input_names, output_names, dynamic_axes):
    torch.onnx.export(module, tuple(args), path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    m = onnx.load(path)
    # The wrappers hold the model as `.model`: give the initializers their checkpoint names back.
    rename = {i.name: i.name[len("model."):] for i in m.graph.initializer if i.name.startswith("model.")}
    for i in m.graph.initializer:
        i.name = rename.get(i.name, i.name)
    for node in m.graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = rename.get(name, name)
    onnx.save(m, path)
    return m


def axes(cfg, with_past=True, with_positions=True):
    past_in, present_out = past_names(cfg, "past_key_values"), past_names(cfg, "present")
    d = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    if with_positions:
        d["position_ids"] = {0: "batch_size", 1: "sequence_length"}
    if with_past:
        for n in past_in:
            d[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in present_out:
        d[n] = {0: "batch_size", 2: "total_sequence_length"}
    return d


def export_newer(model, path, cfg=CONFIG):
    ids, mask, pos, pkv = sample_inputs(cfg=cfg)
    inputs = ["input_ids", "attention_mask", "position_ids"] + past_names(cfg, "past_key_values")
    outputs = ["logits"] + past_names(cfg, "present")
    with torch.no_grad():
        torch_export(NewerLayout(model), [ids, mask, pos] + pkv, path, inputs, outputs, axes(cfg))
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def dedupe_initializers(graphs):
    """Give identical initializers (same dtype, shape and bytes) one name across `graphs`.

    Returns (list of unique TensorProto, [rename map per graph])."""
    by_content, unique, used_names, renames = {}, [], set(), []
    for g in graphs:
        rename = {}
        for init in g.initializer:
            arr = numpy_helper.to_array(init)
            key = (init.data_type, tuple(init.dims), arr.tobytes())
            if key not in by_content:
                name = init.name
                n = 0
                while name in used_names:
                    n += 1
                    name = f"{init.name}_{n}"
                t = numpy_helper.from_array(arr, name)
                by_content[key] = name
                used_names.add(name)
                unique.append(t)
            rename[init.name] = by_content[key]
        renames.append(rename)
    return unique, renames


def as_branch(g, prefix, outer_names, init_rename):
    """Turn an exported graph into an If branch: no inputs or initializers (outer scope), internal names
    prefixed, outputs renamed, shapes left symbolic-free (rank and dtype only)."""
    rename = dict(init_rename)
    nodes = []
    for node in g.node:
        new = onnx.NodeProto()
        new.CopyFrom(node)
        for i, name in enumerate(new.input):
            if name in rename:
                new.input[i] = rename[name]
            elif name and name not in outer_names:
                raise ValueError(f"unresolved input {name} in {prefix}")
        for i, name in enumerate(new.output):
            if name:
                rename[name] = prefix + name
                new.output[i] = prefix + name
        new.name = prefix + (node.name or new.output[0])
        for attr in new.attribute:
            assert attr.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS), "nested graph"
        nodes.append(new)
    outputs = []
    for o in g.output:
        rank = len(o.type.tensor_type.shape.dim)
        outputs.append(helper.make_tensor_value_info(rename[o.name], o.type.tensor_type.elem_type, [None] * rank))
    return helper.make_graph(nodes, prefix.rstrip("/"), [], outputs)


def export_merged(model, path, tmp_dir):
    ids, mask, _, pkv = sample_inputs()
    past_in, present_out = past_names(CONFIG, "past_key_values"), past_names(CONFIG, "present")
    outputs = ["logits"] + present_out
    with_path = os.path.join(tmp_dir, "decoder_with_past_model.onnx")
    without_path = os.path.join(tmp_dir, "decoder_model.onnx")
    with torch.no_grad():
        with_past = torch_export(WithPastNoPositions(model), [ids, mask] + pkv, with_path,
                                 ["input_ids", "attention_mask"] + past_in, outputs,
                                 axes(CONFIG, with_past=True, with_positions=False))
        no_past = torch_export(NoPastNoPositions(model), [ids, mask[:, -ids.shape[1]:]], without_path,
                               ["input_ids", "attention_mask"], outputs,
                               axes(CONFIG, with_past=False, with_positions=False))
    os.remove(with_path)
    os.remove(without_path)

    inits, renames = dedupe_initializers([with_past.graph, no_past.graph])
    init_names = {t.name for t in inits}
    by_name = {i.name: i for i in with_past.graph.input}
    main_inputs = [by_name["input_ids"], by_name["attention_mask"]] + [by_name[n] for n in past_in]
    main_inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    outer = {i.name for i in main_inputs} | init_names

    then_branch = as_branch(with_past.graph, "with_past/", outer, renames[0])
    else_branch = as_branch(no_past.graph, "no_past/", outer, renames[1])
    if_node = helper.make_node("If", ["use_cache_branch"], outputs, name="optimum::if",
                               then_branch=then_branch, else_branch=else_branch)
    main_outputs = [o for o in with_past.graph.output]  # logits, present.* with symbolic dims
    graph = helper.make_graph([if_node], "merged_decoder", main_inputs, main_outputs, initializer=inits)
    merged = helper.make_model(graph, opset_imports=list(with_past.opset_import), producer_name="make_tiny_codegen.py")
    merged.ir_version = with_past.ir_version
    onnx.checker.check_model(merged)
    onnx.save(merged, path)
    n_before = len(with_past.graph.initializer) + len(no_past.graph.initializer)
    print(f"[export] merged If model: {n_before} initializers in the two decoders -> {len(inits)} shared")
    return merged


def describe(path, label=None, brief=False):
    """Prints the inputs and outputs; `brief` shows the past/present of layer 0 only."""
    m = onnx.load(path)
    names = {TensorProto.INT64: "int64", TensorProto.FLOAT: "float32", TensorProto.BOOL: "bool"}

    def fmt(v):
        dims = [d.dim_param or str(d.dim_value) for d in v.type.tensor_type.shape.dim]
        return f"{v.name} {names.get(v.type.tensor_type.elem_type, v.type.tensor_type.elem_type)} [{', '.join(dims)}]"

    label = os.path.relpath(path, ROOT) if label is None else label
    print(f"[export] {label} ({os.path.getsize(path) / 1e6:.2f} MB)")
    def shown(v):
        return not brief or not (v.name.startswith(("past_key_values.", "present.")) and v.name.split(".")[1] != "0")

    for v in m.graph.input:
        if shown(v):
            print("    in ", fmt(v))
    for v in m.graph.output:
        if shown(v):
            print("    out", fmt(v))
    if brief:
        n = sum(1 for v in m.graph.input if v.name.startswith("past_key_values."))
        print(f"    (past_key_values / present of the other layers alike; {n} past inputs in all)")


# ----------------------------------------------------------------------------------------------------------
# Config files and fixture
# ----------------------------------------------------------------------------------------------------------
def write_configs(out_dir=OUT_DIR, cfg=CONFIG, name="codegen-tiny-random", readme=True):
    config = {
        "_name_or_path": name,
        "activation_function": "gelu_new",
        "architectures": ["CodeGenForCausalLM"],
        "attn_pdrop": 0.0,
        "bos_token_id": 1,
        "embd_pdrop": 0.0,
        "eos_token_id": 50256,
        "gradient_checkpointing": False,
        "initializer_range": 0.02,
        "layer_norm_epsilon": cfg["layer_norm_epsilon"],
        "model_type": "codegen",
        "n_ctx": cfg["n_ctx"],
        "n_embd": cfg["n_embd"],
        "n_head": cfg["n_head"],
        "n_inner": cfg["n_inner"],
        "n_layer": cfg["n_layer"],
        "n_positions": cfg["n_positions"],
        "resid_pdrop": 0.0,
        "rotary_dim": cfg["rotary_dim"],
        "scale_attn_weights": True,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 50256}, f, indent=2)
        f.write("\n")
    if not readme:
        return
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(
            "# codegen-tiny-random\n\n"
            "Random weights, for tests only: a 2-layer, 16-wide CodeGen (4 heads of 4, rotary_dim 2) with the real\n"
            "51200-entry vocabulary, in the Hugging Face layout (`config.json`, `generation_config.json`) and the\n"
            "two ONNX layouts (`onnx/model.onnx` with `position_ids`; `onnx/decoder_model_merged.onnx`, an `If`\n"
            "on `use_cache_branch` without `position_ids`). It produces no meaningful code.\n\n"
            "Generated by `models/make_tiny_codegen.py` (run it from the repository root); the NumPy reference\n"
            "values are in `test/fixtures/tiny-codegen-reference.json`. No tokenizer files are included.\n"
        )


def r(x, nd=6):
    return round(float(x), nd)


def write_fixture(weights):
    ids = FIXTURE_IDS
    assert all(i < VALID_VOCAB for i in ids)
    logits = np_forward(weights, ids)
    lse = logsumexp(logits)
    greedy, gap = np_greedy(weights, ids, GREEDY_NEW)
    assert gap > 1e-3, f"greedy continuation has a near tie ({gap})"
    fixture = {
        "description": "Reference values for models/codegen-tiny-random (random weights) from the float64 NumPy "
                       "forward in models/make_tiny_codegen.py. Prompt fed with positions 0..n-1 and an all-ones "
                       "attention mask. Regenerate with that script.",
        "model": dict(CONFIG, n_inner_effective=n_inner(CONFIG), head_dim=CONFIG["n_embd"] // CONFIG["n_head"]),
        "text": FIXTURE_TEXT,
        "input_ids": ids,
        "probe_ids": PROBE_IDS,
        "valid_vocab_size": VALID_VOCAB,
        "argmax": [int(a) for a in np.argmax(logits, -1)],
        "argmax_valid": [int(a) for a in np.argmax(logits[:, :VALID_VOCAB], -1)],
        "max_logit": [r(x) for x in logits.max(-1)],
        "logsumexp": [r(x) for x in lse],
        "logits_at_input_ids": [[r(logits[t, j]) for j in ids] for t in range(len(ids))],
        "logits_at_probe_ids": [[r(logits[t, j]) for j in PROBE_IDS] for t in range(len(ids))],
        "next_token_nll": [r(lse[t] - logits[t, ids[t + 1]]) for t in range(len(ids) - 1)],
        "greedy_new_tokens": greedy,
        "greedy_min_gap": r(gap),
    }
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    with open(FIXTURE, "w") as f:
        f.write(compact_json(fixture) + "\n")
    print(f"[fixture] {os.path.relpath(FIXTURE, ROOT)} ({os.path.getsize(FIXTURE)} bytes); greedy: {greedy}")
    return logits


def compact_json(obj, indent=0):
    """JSON with objects indented but innermost lists on one line."""
    pad = "  " * indent
    if isinstance(obj, dict):
        items = [f'{pad}  {json.dumps(k)}: {compact_json(v, indent + 1).lstrip()}' for k, v in obj.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], list):
        rows = [pad + "  " + json.dumps(row) for row in obj]
        return pad + "[\n" + ",\n".join(rows) + "\n" + pad + "]"
    return pad + json.dumps(obj)


# ----------------------------------------------------------------------------------------------------------
# --preset: random weights with a real checkpoint's shape, for speed benchmarks (see PRESET MODE above).
# ----------------------------------------------------------------------------------------------------------
PRESETS = {
    # Salesforce/codegen-350M-mono's config.json
    "350M": dict(CONFIG, n_layer=20, n_embd=1024, n_head=16, rotary_dim=32, n_inner=None,
                 n_positions=2048, n_ctx=2048),
}
PRESET_NAMES = {"350M": "codegen-350M-mono-shape-random"}
PRESET_STD = 0.02


def init_gpt_like(model, cfg, seed=SEED):
    """GPT-2-style random initialisation, in place and deterministic (keeps activations finite at any size)."""
    g = torch.Generator().manual_seed(seed)
    resid = PRESET_STD / math.sqrt(2 * cfg["n_layer"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name == "transformer.ln_f.weight":
                p.fill_(1.0)
            elif name.endswith(".bias"):
                p.zero_()
            elif name.endswith("attn.out_proj.weight") or name.endswith("mlp.fc_out.weight"):
                p.normal_(0.0, resid, generator=g)
            else:
                p.normal_(0.0, PRESET_STD, generator=g)


def check_preset(model, cfg):
    """Finite logits, and KV cache (prefill 5, then one token at a time) == no-cache forward, on a short input."""
    ids = FIXTURE_IDS
    pre = 5
    with torch.no_grad():
        full, _ = model(torch.tensor([ids]))
        out, past = model(torch.tensor([ids[:pre]]))
        steps = [out]
        for t in range(pre, len(ids)):
            out, past = model(torch.tensor([[ids[t]]]), attention_mask=torch.ones(1, t + 1, dtype=torch.int64),
                              position_ids=torch.tensor([[t]]), past_key_values=past)
            steps.append(out)
        cached = torch.cat(steps, dim=1)
    finite = bool(torch.isfinite(full).all()) and bool(torch.isfinite(cached).all())
    scale = full.abs().max().item()
    diff = (cached - full).abs().max().item()
    print(f"[check] logits finite: {finite}; std {full.std().item():.3f}, max |logit| {scale:.3f}; "
          f"argmax {full[0].argmax(-1).tolist()}")
    print(f"[check] torch KV cache vs no cache: max |diff| = {diff:.2e}")
    assert finite, "non-finite logits"
    assert full.std().item() > 1e-3, "logits are (nearly) constant"
    assert diff < 1e-4 * max(1.0, scale), (diff, scale)


def build_preset(preset, out_dir, check_only=False):
    cfg = PRESETS[preset]
    t0 = time.time()
    torch.manual_seed(SEED)
    model = CodeGenForCausalLM(cfg).eval()
    init_gpt_like(model, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[preset {preset}] {n_params / 1e6:.1f}M parameters ({4 * n_params / 1e9:.2f} GB fp32); "
          f"initialised in {time.time() - t0:.1f} s")
    check_preset(model, cfg)
    if check_only:
        return
    onnx_dir = os.path.join(out_dir, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    final = os.path.join(onnx_dir, "model.onnx")
    partial = final + ".partial"  # renamed last: the benchmark takes an existing model.onnx as a finished build
    if os.path.exists(final):
        os.remove(final)
    t1 = time.time()
    export_newer(model, partial, cfg)
    del model
    write_configs(out_dir, cfg, name=PRESET_NAMES[preset], readme=False)
    os.replace(partial, final)
    print(f"[preset {preset}] exported in {time.time() - t1:.1f} s")
    describe(final, label=final, brief=True)
    print(f"[preset {preset}] done in {time.time() - t0:.1f} s: {out_dir}")


def inside(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Build the tiny random CodeGen test model (no arguments), or with "
                                             "--preset a random model with a real checkpoint's shape.")
    ap.add_argument("--check-only", action="store_true", help="run the checks, write nothing")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="random weights with this checkpoint's shape")
    ap.add_argument("--out", help="output folder for --preset (must be outside the repository)")
    args = ap.parse_args(argv)
    if args.out is not None and args.preset is None:
        ap.error("--out is only for --preset (the tiny model always goes to models/codegen-tiny-random)")
    if args.preset is not None and args.out is None and not args.check_only:
        ap.error("--preset needs --out DIR")
    if args.out is not None and inside(args.out, ROOT):
        ap.error(f"--out {args.out} is inside the repository ({ROOT}); put the large model elsewhere, e.g. /tmp")
    return args


def main():
    args = parse_args(sys.argv[1:])
    if args.preset is not None:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        build_preset(args.preset, os.path.abspath(args.out) if args.out else None, args.check_only)
        return

    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    weights = make_weights(CONFIG)
    model = build_torch_model(weights)

    check_consistency(model, weights)
    check_not_degenerate(weights)
    if args.check_only:
        return

    onnx_dir = os.path.join(OUT_DIR, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    newer = os.path.join(onnx_dir, "model.onnx")
    merged = os.path.join(onnx_dir, "decoder_model_merged.onnx")
    export_newer(model, newer)
    export_merged(model, merged, onnx_dir)
    describe(newer)
    describe(merged)
    write_configs()
    write_fixture(weights)


if __name__ == "__main__":
    main()
