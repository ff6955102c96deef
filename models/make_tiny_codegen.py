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

CHECKPOINT FIXTURES (`--checkpoints`), to test the checkpoint converter against the reference:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 models/make_tiny_codegen.py --checkpoints
writes the SAME weights as the bundled model (make_weights, same seed) in Salesforce's formats into
test/fixtures/checkpoints/ (about 17 MB; `--checkpoints --check-only` builds and checks them in a temporary folder):
  tiny-bin-fp16/             pytorch_model.bin: torch.save (zip format) of an OrderedDict in the order of HF
                             CodeGenForCausalLM.state_dict(), fp16, with the per-layer buffers attn.causal_mask
                             (bool [1,1,256,256], lower-triangular) and attn.masked_bias (float32 scalar -1e9)
  tiny-safetensors-fp32/     model.safetensors, float32, weights only (no buffers)
  tiny-sharded-bin/          fp16, pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json, with buffers
  tiny-sharded-safetensors/  bfloat16, model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json
  reference.json             per folder: dtype, format, files, greedy_new_tokens (20 ids) and greedy_min_gap from the
                             float64 NumPy reference run on the weights AS STORED (rounded to fp16 / bf16), prompt
                             FIXTURE_IDS at positions 0..n-1, argmax over ids < 50295; plus the prefill argmax and
                             largest logit at each prompt position
  README.md                  what they are, the command, the size and sha256 of each file
Each config.json is the bundled model's with its torch_dtype and n_positions = n_ctx = 256 (small masks). Every
tensor has its own storage; shards split the state-dict order roughly in half by bytes as transformers'
shard_checkpoint does (wte in the first, lm_head in the second); index files are json.dumps(index, indent=2,
sort_keys=True) with metadata.total_size = the bytes of the shards' tensors. Safetensors files are written by the
small writer below (8-byte little-endian header length, compact JSON header with __metadata__ {"format": "pt"}
padded with spaces to a multiple of 8, then the data in header order). Checks (fail loudly): each .bin is
torch.load-ed back (names, order, dtypes, values, one storage and one zip entry per tensor), each safetensors file
read back by an independent reader and compared; bfloat16 rounding equals torch's; the fp32 greedy tokens equal
greedy_new_tokens of test/fixtures/tiny-codegen-reference.json; every greedy_min_gap > 1e-3 and the float32 PyTorch
model on the stored weights picks the same tokens; the whole set is written a second time into a temporary folder
and must be byte-identical (sha256 of every file; torch 1.13's zip writer stamps no time and pickles in order).

CHECKPOINT PRESET MODE (`--checkpoint-preset NAME --out DIR [--format safetensors|bin] [--dtype float16]`), for
scale benchmarks only:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 models/make_tiny_codegen.py --checkpoint-preset 2B --out DIR
writes DIR/config.json (as in the Salesforce/codegen-* repositories: model_type codegen, CodeGenForCausalLM,
torch_dtype, bos 1, eos 50256, n_ctx = n_positions = 2048, n_inner null, gelu_new, ...) and a RANDOM-weight checkpoint
with the real shape: 350M (20 layers, 1024 wide, 16 heads, rotary_dim 32; 357M parameters, 0.71 GB fp16),
2B (32, 2560, 32, 64; 2.78B, 5.56 GB), 6B (33, 4096, 16, 64; 7.06B, 14.1 GB), 16B (34, 6144, 24, 64; 16.0B, 32.1 GB),
vocab 51200. Weights as the --preset mode's (N(0, 0.02), residual projections N(0, 0.02/sqrt(2 n_layer)), layer
norms 1/0, biases 0), drawn with NumPy (default_rng((seed, tensor index)) standard_normal in float32, then cast),
CHUNK elements at a time. safetensors (default) is streamed: the header is written first (all shapes are known),
then one chunk at a time, so memory stays small at any size; bin (torch.save, with the causal_mask/masked_bias
buffers, as the published pytorch_model.bin) needs the whole state dict in memory and is allowed for 350M and 2B
only. --dtype float32 and bfloat16 work too (torch_dtype follows). The weights are written under DIR/.partial/,
checked there (names, order, shapes, dtype, size; a few tensors regenerated and compared) and moved into DIR last,
so their presence means a finished build. DIR must be outside the repository. Output is byte-identical run to run.
"""

import argparse
import collections
import hashlib
import json
import math
import os
import struct
import sys
import tempfile
import time
import zipfile

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
def config_json(cfg=CONFIG, name="codegen-tiny-random", torch_dtype="float32"):
    """The config.json of the bundled model (and, with another dtype / n_positions, of the checkpoint fixtures)."""
    return {
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
        "torch_dtype": torch_dtype,
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_configs(out_dir=OUT_DIR, cfg=CONFIG, name="codegen-tiny-random", readme=True):
    config = config_json(cfg, name)
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


# ----------------------------------------------------------------------------------------------------------
# --checkpoints: the bundled model's weights in Salesforce's checkpoint formats (see CHECKPOINT FIXTURES above).
# ----------------------------------------------------------------------------------------------------------
CKPT_DIR = os.path.join(ROOT, "test", "fixtures", "checkpoints")
CKPT_CONFIG = dict(CONFIG, n_positions=256, n_ctx=256)  # a small n_positions keeps the causal_mask buffers small
CKPT_FIXTURES = (  # folder, dtype, format, number of shards
    ("tiny-bin-fp16", "float16", "pytorch", 1),
    ("tiny-safetensors-fp32", "float32", "safetensors", 1),
    ("tiny-sharded-bin", "float16", "pytorch", 2),
    ("tiny-sharded-safetensors", "bfloat16", "safetensors", 2),
)
CKPT_COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 models/make_tiny_codegen.py --checkpoints"
MASKED_BIAS = -1e9
ST_DTYPE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
TORCH_DTYPE = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
CHUNK = 1 << 24  # elements generated at a time by the streaming writer


def checkpoint_names(cfg, buffers):
    """Names in the order of HF CodeGenForCausalLM.state_dict() (a module's own buffers before its children's
    parameters, so attn.causal_mask and attn.masked_bias come right after ln_1); `buffers` False: weights only."""
    names = ["transformer.wte.weight"]
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        names += [p + "ln_1.weight", p + "ln_1.bias"]
        if buffers:
            names += [p + "attn.causal_mask", p + "attn.masked_bias"]
        names += [p + s for s in ("attn.qkv_proj.weight", "attn.out_proj.weight", "mlp.fc_in.weight", "mlp.fc_in.bias",
                                  "mlp.fc_out.weight", "mlp.fc_out.bias")]
    return names + ["transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight", "lm_head.bias"]


def checkpoint_shapes(cfg):
    """name -> shape of each weight (PyTorch layout, [out, in] for Linear), in state-dict order, no buffers."""
    E, V, I = cfg["n_embd"], cfg["vocab_size"], n_inner(cfg)
    shapes = {}
    for name in checkpoint_names(cfg, buffers=False):
        leaf = name.split(".", 3)[-1] if name.startswith("transformer.h.") else name
        shapes[name] = {
            "transformer.wte.weight": (V, E), "ln_1.weight": (E,), "ln_1.bias": (E,),
            "attn.qkv_proj.weight": (3 * E, E), "attn.out_proj.weight": (E, E),
            "mlp.fc_in.weight": (I, E), "mlp.fc_in.bias": (I,), "mlp.fc_out.weight": (E, I), "mlp.fc_out.bias": (E,),
            "transformer.ln_f.weight": (E,), "transformer.ln_f.bias": (E,),
            "lm_head.weight": (V, E), "lm_head.bias": (V,),
        }[leaf]
    return shapes


def is_buffer(name):
    return name.endswith(("attn.causal_mask", "attn.masked_bias"))


def causal_mask(cfg):
    p = cfg["n_positions"]
    return torch.tril(torch.ones((p, p), dtype=torch.bool)).view(1, 1, p, p)


def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even (as torch's .to(torch.bfloat16))."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    assert np.isfinite(a).all()
    u = a.view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def bf16_bits_to_f32(bits):
    return (np.ascontiguousarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def to_storage(a32, dtype):
    """float32 array -> the array as stored: float32, float16, or bfloat16 as uint16 bit patterns."""
    if dtype == "float32":
        return np.array(a32, dtype=np.float32)
    if dtype == "float16":
        return np.asarray(a32, dtype=np.float32).astype(np.float16)
    return f32_to_bf16_bits(a32)


def stored_as_float(a, dtype):
    """The stored array as float32 (exact for all three dtypes)."""
    return bf16_bits_to_f32(a) if dtype == "bfloat16" else np.asarray(a).astype(np.float32)


def to_torch(a, dtype):
    """A stored array as a torch tensor of the checkpoint dtype, with its own storage."""
    if dtype == "bfloat16":
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16).contiguous().clone()
    return torch.from_numpy(a.copy()).contiguous().clone()


def from_torch(t):
    """A loaded tensor as NumPy (bfloat16 as uint16 bit patterns)."""
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def torch_state_dict(stored, dtype, cfg, buffers=True):
    """OrderedDict as torch.save(model.state_dict()) of a published checkpoint has it; each tensor its own storage."""
    sd = collections.OrderedDict()
    for name in checkpoint_names(cfg, buffers):
        if name.endswith("attn.causal_mask"):
            sd[name] = causal_mask(cfg).contiguous().clone()
        elif name.endswith("attn.masked_bias"):
            sd[name] = torch.tensor(MASKED_BIAS, dtype=torch.float32)
        else:
            sd[name] = to_torch(stored[name], dtype)
    return sd


def nbytes_of(t):
    return t.numel() * t.element_size()


def split_in_two(names, sizes):
    """Two shards in order, as transformers' shard_checkpoint does with max_shard_size = half the total: a shard
    takes tensors while its size stays within the limit."""
    limit = sum(sizes[n] for n in names) / 2
    first, size = [], 0
    for n in names:
        if first and size + sizes[n] > limit:
            break
        first.append(n)
        size += sizes[n]
    return [first, names[len(first):]]


def shard_file_names(fmt, count):
    if fmt == "pytorch":
        return ["pytorch_model.bin"] if count == 1 else \
            [f"pytorch_model-{i + 1:05d}-of-{count:05d}.bin" for i in range(count)]
    return ["model.safetensors"] if count == 1 else \
        [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]


def index_file_name(fmt):
    return "pytorch_model.bin.index.json" if fmt == "pytorch" else "model.safetensors.index.json"


def write_index(path, weight_map, total_size):
    """As transformers' save_pretrained writes it: json.dumps(index, indent=2, sort_keys=True) + newline."""
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


# -- safetensors: a writer (streaming) and an independent reader --------------------------------------------
def safetensors_header(entries):
    """entries: (name, dtype, shape) in file order. Returns the header bytes (length + JSON padded with spaces so
    that the data starts at a multiple of 8) and the byte size of the data."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dtype, shape in entries:
        size = int(np.prod(shape, dtype=np.int64)) * ITEMSIZE[dtype]
        header[name] = {"dtype": ST_DTYPE[dtype], "shape": [int(d) for d in shape],
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset


def write_safetensors(path, entries, chunks_of):
    """Header first (all shapes are known), then each tensor's bytes from chunks_of(name), one chunk at a time."""
    head, data_size = safetensors_header(entries)
    with open(path, "wb") as f:
        f.write(head)
        for name, dtype, shape in entries:
            want, got = int(np.prod(shape, dtype=np.int64)) * ITEMSIZE[dtype], 0
            for chunk in chunks_of(name):
                buf = np.ascontiguousarray(chunk)
                f.write(memoryview(buf).cast("B"))
                got += buf.nbytes
            assert got == want, (name, got, want)
    assert os.path.getsize(path) == len(head) + data_size, path


def read_safetensors(path):
    """Independent reader: ({name: NumPy array (BF16 as uint16 bit patterns)} in file order, memory-mapped;
    {name: safetensors dtype})."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = int(np.frombuffer(raw[:8].tobytes(), dtype="<u8")[0])
    assert (8 + n) % 8 == 0, f"{path}: header length {n} does not align the data to 8 bytes"
    header = json.loads(raw[8:8 + n].tobytes().decode("utf-8"))
    assert header.pop("__metadata__", None) == {"format": "pt"}, path
    kinds = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
    out, dtypes, end = collections.OrderedDict(), {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        kind, shape = kinds[info["dtype"]], tuple(info["shape"])
        assert b == end and e - b == int(np.prod(shape, dtype=np.int64)) * kind.itemsize, (path, name, b, e, end)
        out[name] = np.frombuffer(raw, dtype=kind, count=(e - b) // kind.itemsize, offset=8 + n + b).reshape(shape)
        dtypes[name] = info["dtype"]
        end = e
    assert 8 + n + end == raw.shape[0], f"{path}: {raw.shape[0] - 8 - n - end} bytes after the last tensor"
    return out, dtypes


# -- the fixtures -----------------------------------------------------------------------------------------
def write_checkpoint_folder(folder_dir, dtype, fmt, shards, stored, cfg):
    """One fixture folder; returns its file names."""
    os.makedirs(folder_dir, exist_ok=True)
    files = ["config.json"]
    write_json(os.path.join(folder_dir, "config.json"), config_json(cfg, torch_dtype=dtype))
    if fmt == "pytorch":
        sd = torch_state_dict(stored, dtype, cfg, buffers=True)
        names, sizes = list(sd), {n: nbytes_of(t) for n, t in sd.items()}
    else:
        names = checkpoint_names(cfg, buffers=False)
        sizes = {n: stored[n].nbytes for n in names}
    groups = [names] if shards == 1 else split_in_two(names, sizes)
    assert len(groups) == shards and all(groups)
    shard_names = shard_file_names(fmt, shards)
    for group, shard in zip(groups, shard_names):
        path = os.path.join(folder_dir, shard)
        if fmt == "pytorch":
            torch.save(collections.OrderedDict((n, sd[n]) for n in group), path)
        else:
            write_safetensors(path, [(n, dtype, stored[n].shape) for n in group], lambda n: [stored[n]])
        files.append(shard)
    if shards > 1:
        assert "transformer.wte.weight" in groups[0] and "lm_head.weight" in groups[-1]
        weight_map = {n: shard for group, shard in zip(groups, shard_names) for n in group}
        write_index(os.path.join(folder_dir, index_file_name(fmt)), weight_map, sum(sizes.values()))
        files.append(index_file_name(fmt))
    return files


def check_torch_file(path, expected):
    """torch.load it back; same names in the same order, dtypes, shapes and values; one storage per tensor; the
    zip holds <archive>/data.pkl, one <archive>/data/<n> per tensor and <archive>/version."""
    sd = torch.load(path)
    assert isinstance(sd, collections.OrderedDict), type(sd)
    assert list(sd) == list(expected), (path, list(sd), list(expected))
    ptrs = set()
    for name, want in expected.items():
        got = sd[name]
        assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape), (path, name, got.dtype, got.shape)
        assert np.array_equal(from_torch(got), from_torch(want)), (path, name)
        assert got.storage_offset() == 0 and got.storage().size() == got.numel(), (path, name)
        ptrs.add(got.storage().data_ptr())
    assert len(ptrs) == len(expected), f"{path}: tensors share storages"
    with zipfile.ZipFile(path) as z:
        entries = z.namelist()
    prefix = entries[0].split("/")[0]
    want_entries = {f"{prefix}/data.pkl", f"{prefix}/version"} | {f"{prefix}/data/{i}" for i in range(len(expected))}
    assert set(entries) == want_entries, (path, entries)
    return prefix


def check_checkpoint_folder(folder_dir, dtype, fmt, shards, stored, cfg):
    config = json.load(open(os.path.join(folder_dir, "config.json")))
    assert config == dict(config_json(cfg, torch_dtype=dtype)), folder_dir
    names = checkpoint_names(cfg, buffers=fmt == "pytorch")
    shard_names = shard_file_names(fmt, shards)
    if shards == 1:
        weight_map = {n: shard_names[0] for n in names}
    else:
        index = json.load(open(os.path.join(folder_dir, index_file_name(fmt))))
        assert set(index) == {"metadata", "weight_map"} and set(index["weight_map"]) == set(names), folder_dir
        weight_map = index["weight_map"]
        assert sorted(set(weight_map.values())) == shard_names, weight_map
    sd = torch_state_dict(stored, dtype, cfg, buffers=True)
    total, seen = 0, []
    for shard in shard_names:
        path = os.path.join(folder_dir, shard)
        group = [n for n in names if weight_map[n] == shard]
        if fmt == "pytorch":
            prefix = check_torch_file(path, collections.OrderedDict((n, sd[n]) for n in group))
            assert prefix == os.path.splitext(shard)[0], (path, prefix)
            total += sum(nbytes_of(sd[n]) for n in group)
            seen += group
        else:
            tensors, dtypes = read_safetensors(path)
            assert list(tensors) == group, (path, list(tensors), group)
            for n, a in tensors.items():
                assert dtypes[n] == ST_DTYPE[dtype], (path, n)
                assert a.shape == stored[n].shape and np.array_equal(a, stored[n]), (path, n)
                assert np.array_equal(stored_as_float(a, dtype), stored_as_float(stored[n], dtype)), (path, n)
                total += a.nbytes
            seen += list(tensors)
    assert seen == names, (folder_dir, seen)
    if shards > 1:
        assert index["metadata"]["total_size"] == total, (index["metadata"], total)
    return total


def torch_greedy(weights, ids, n_new):
    model = build_torch_model({k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})
    ids = list(ids)
    new = []
    with torch.no_grad():
        for _ in range(n_new):
            logits, _ = model(torch.tensor([ids]))
            nxt = int(torch.argmax(logits[0, -1, :VALID_VOCAB]))
            new.append(nxt)
            ids.append(nxt)
    return new


def write_checkpoint_fixtures(out_dir, weights, quiet=False):
    """All four folders, reference.json and README.md under out_dir; every check; returns {relative path: bytes}."""
    say = (lambda *a: None) if quiet else print
    cfg = CKPT_CONFIG
    shapes = checkpoint_shapes(cfg)
    assert list(shapes) == list(weights) and all(shapes[k] == weights[k].shape for k in weights)
    model_keys = list(CodeGenForCausalLM(cfg).state_dict().keys())
    assert model_keys == checkpoint_names(cfg, buffers=False), model_keys
    by_dtype = {d: {k: to_storage(v, d) for k, v in weights.items()} for d in ("float32", "float16", "bfloat16")}
    assert all(np.array_equal(by_dtype["float32"][k], weights[k]) for k in weights)
    for k, v in weights.items():  # our bfloat16 rounding == torch's
        t = torch.from_numpy(v.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        assert np.array_equal(t, by_dtype["bfloat16"][k]), k

    expected_greedy = json.load(open(FIXTURE))["greedy_new_tokens"]
    greedy_of = {}
    for dtype in ("float32", "float16", "bfloat16"):
        as_stored = {k: stored_as_float(v, dtype) for k, v in by_dtype[dtype].items()}
        tokens, gap = np_greedy(as_stored, FIXTURE_IDS, GREEDY_NEW)
        logits = np_forward(as_stored, FIXTURE_IDS)
        assert torch_greedy(as_stored, FIXTURE_IDS, GREEDY_NEW) == tokens, f"{dtype}: float32 torch greedy differs"
        say(f"[checkpoints] {dtype:8s} weights: greedy {tokens}; min top-1/top-2 gap {gap:.4f}")
        assert gap > 1e-3, f"{dtype}: greedy continuation has a near tie ({gap}); float32 execution could flip it"
        greedy_of[dtype] = (tokens, gap, logits)
    assert greedy_of["float32"][0] == expected_greedy, (greedy_of["float32"][0], expected_greedy)
    say(f"[checkpoints] float32 greedy == {os.path.relpath(FIXTURE, ROOT)} greedy_new_tokens")

    sizes, reference = {}, collections.OrderedDict()
    for folder, dtype, fmt, shards in CKPT_FIXTURES:
        folder_dir = os.path.join(out_dir, folder)
        files = write_checkpoint_folder(folder_dir, dtype, fmt, shards, by_dtype[dtype], cfg)
        extra = sorted(set(os.listdir(folder_dir)) - set(files))
        assert not extra, f"{folder_dir} has files this script does not write: {extra}"
        tensor_bytes = check_checkpoint_folder(folder_dir, dtype, fmt, shards, by_dtype[dtype], cfg)
        for name in files:
            sizes[f"{folder}/{name}"] = os.path.getsize(os.path.join(folder_dir, name))
        tokens, gap, logits = greedy_of[dtype]
        reference[folder] = {
            "dtype": dtype,
            "format": fmt,
            "files": [n for n in files if n != "config.json"],
            "tensor_bytes": tensor_bytes,
            "greedy_new_tokens": tokens,
            "greedy_min_gap": r(gap),
            "prefill_argmax_valid": [int(a) for a in np.argmax(logits[:, :VALID_VOCAB], -1)],
            "prefill_max_logit": [r(x) for x in logits.max(-1)],
        }
        say(f"[checkpoints] {folder}: {', '.join(files)} ({sum(sizes[f'{folder}/{n}'] for n in files) / 1e6:.2f} MB)"
            f" read back and compared")
    fixture = {
        "description": "Reference values for the checkpoint fixtures (random weights: the weights of "
                       "models/codegen-tiny-random, seed " + str(SEED) + ", stored in Salesforce's checkpoint "
                       "formats) from the float64 NumPy forward in models/make_tiny_codegen.py, run on the weights "
                       "as stored (rounded to the checkpoint dtype). Prompt fed with positions 0..n-1; greedy = "
                       "argmax over ids < valid_vocab_size, no cache. Regenerate with that script (--checkpoints).",
        "prompt_ids": FIXTURE_IDS,
        "prompt_text": FIXTURE_TEXT,
        "valid_vocab_size": VALID_VOCAB,
        "checkpoints": reference,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        f.write(compact_json(fixture) + "\n")
    sizes["reference.json"] = os.path.getsize(os.path.join(out_dir, "reference.json"))
    write_checkpoints_readme(out_dir, sizes, reference)
    sizes["README.md"] = os.path.getsize(os.path.join(out_dir, "README.md"))
    return sizes


def write_checkpoints_readme(out_dir, sizes, reference):
    rows = []
    for name, size in sizes.items():
        with open(os.path.join(out_dir, name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        rows.append(f"| `{name}` | {size:,} | `{digest[:16]}` |")
    total = sum(sizes.values())
    desc = {
        "tiny-bin-fp16": "`pytorch_model.bin`, fp16, PyTorch zip archive, with the per-layer buffers "
                         "`attn.causal_mask` (bool [1,1,256,256]) and `attn.masked_bias` (float32 scalar -1e9)",
        "tiny-safetensors-fp32": "`model.safetensors`, float32, weights only (no buffers)",
        "tiny-sharded-bin": "fp16, two PyTorch shards + `pytorch_model.bin.index.json`, with the buffers",
        "tiny-sharded-safetensors": "bfloat16, two safetensors shards + `model.safetensors.index.json`, no buffers",
    }
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(
            "# Checkpoint fixtures (random weights, tests only)\n\n"
            "The weights of `models/codegen-tiny-random` (2 layers, 16 wide, 4 heads of 4, rotary_dim 2, vocabulary\n"
            "51200; `make_weights` with seed " + str(SEED) + ") written in the formats Salesforce's CodeGen\n"
            "checkpoints come in, to test the checkpoint converter against the reference; they produce no meaningful\n"
            "code. Each folder has a `config.json` like the bundled model's, with its `torch_dtype` and\n"
            "`n_positions` = `n_ctx` = 256 (small buffers):\n\n"
            + "".join(f"- `{k}/`: {v}\n" for k, v in desc.items()) +
            "\nTensor names and order are those of Hugging Face `CodeGenForCausalLM.state_dict()` (Linear weights\n"
            "[out, in]); every tensor has its own storage. Index files are as transformers writes them\n"
            "(`total_size` = bytes of all tensors in the shards, buffers included for the .bin shards).\n\n"
            "`reference.json`: for each folder, the greedy continuation (20 ids, argmax over ids < 50295, no cache)\n"
            "of `prompt_ids` from the float64 NumPy reference run on the weights as stored (rounded to fp16 / bf16,\n"
            "or fp32), its smallest top-1 minus top-2 logit margin (`greedy_min_gap`), and the argmax and largest\n"
            "logit at each prompt position. The fp32 folder's tokens equal `greedy_new_tokens` of\n"
            "`test/fixtures/tiny-codegen-reference.json`.\n\n"
            "Made, byte-identical from run to run, from the repository root with\n\n"
            f"    {CKPT_COMMAND}\n\n"
            "(`--checkpoints --check-only` builds and checks them in a temporary folder and writes nothing).\n\n"
            f"| file | bytes | sha256 (first 16) |\n|---|---:|---|\n" + "\n".join(rows) + "\n\n"
            f"Total without this README: {total:,} bytes ({total / 1e6:.2f} MB).\n"
        )


def sha256_tree(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def build_checkpoint_fixtures(check_only=False):
    t0 = time.time()
    weights = make_weights(CONFIG)
    with tempfile.TemporaryDirectory(prefix="codegen-ckpt-") as tmp:
        first = os.path.join(tmp, "first") if check_only else CKPT_DIR
        sizes = write_checkpoint_fixtures(first, weights)
        again = write_checkpoint_fixtures(os.path.join(tmp, "again"), weights, quiet=True)
        a, b = sha256_tree(first), sha256_tree(os.path.join(tmp, "again"))
        assert sizes == again and a == b, ("not byte-identical from run to run",
                                           sorted(set(a.items()) ^ set(b.items())))
    total = sum(sizes.values())
    print(f"[checkpoints] written twice, byte-identical ({len(a)} files, sha256); total {total / 1e6:.2f} MB "
          f"{'(check only, nothing kept)' if check_only else 'in ' + os.path.relpath(CKPT_DIR, ROOT)}; "
          f"{time.time() - t0:.1f} s")
    assert total < 20e6, total


# ----------------------------------------------------------------------------------------------------------
# --checkpoint-preset: a random-weight checkpoint with a real Salesforce shape, for scale benchmarks.
# ----------------------------------------------------------------------------------------------------------
CHECKPOINT_PRESETS = {
    "350M": dict(CONFIG, n_layer=20, n_embd=1024, n_head=16, rotary_dim=32, n_positions=2048, n_ctx=2048),
    "2B": dict(CONFIG, n_layer=32, n_embd=2560, n_head=32, rotary_dim=64, n_positions=2048, n_ctx=2048),
    "6B": dict(CONFIG, n_layer=33, n_embd=4096, n_head=16, rotary_dim=64, n_positions=2048, n_ctx=2048),
    "16B": dict(CONFIG, n_layer=34, n_embd=6144, n_head=24, rotary_dim=64, n_positions=2048, n_ctx=2048),
}
BIN_PRESETS = ("350M", "2B")  # torch.save holds the whole state dict in memory


# Keys the Salesforce/codegen-* config.json files carry beyond the bundled model's (transformers 4.21 era).
SALESFORCE_EXTRA_KEYS = {
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50, "temperature": 1.0}},
    "tokenizer_class": "GPT2Tokenizer",
    "transformers_version": "4.21.0.dev0",
}


def salesforce_config(cfg, torch_dtype="float16"):
    """config.json as in the Salesforce/codegen-* repositories: the bundled model's keys (n_inner null, eps 1e-5,
    no _name_or_path) plus theirs, in alphabetical order as transformers writes them."""
    config = config_json({**cfg, "n_inner": None, "layer_norm_epsilon": 1e-05}, torch_dtype=torch_dtype)
    del config["_name_or_path"]
    config.update(SALESFORCE_EXTRA_KEYS)
    return dict(sorted(config.items()))


def preset_init(name, n_layer):
    """('const', value) or ('normal', std): GPT-2 style, as init_gpt_like."""
    if name.endswith(("ln_1.weight", "ln_f.weight")):
        return "const", 1.0
    if name.endswith(".bias"):
        return "const", 0.0
    if name.endswith(("attn.out_proj.weight", "mlp.fc_out.weight")):
        return "normal", PRESET_STD / math.sqrt(2 * n_layer)
    return "normal", PRESET_STD


def preset_chunks(name, index, shape, dtype, n_layer, seed=SEED):
    """The tensor's values in storage dtype, CHUNK elements at a time; its own generator (seed, index), so any
    tensor can be regenerated alone."""
    kind, value = preset_init(name, n_layer)
    n = int(np.prod(shape, dtype=np.int64))
    rng = np.random.default_rng([seed, index])
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        if kind == "const":
            a = np.full(m, value, dtype=np.float32)
        else:
            a = rng.standard_normal(m, dtype=np.float32)
            a *= np.float32(value)
        yield to_storage(a, dtype)


def build_checkpoint_preset(preset, out_dir, fmt, dtype, check_only=False):
    cfg = CHECKPOINT_PRESETS[preset]
    shapes = checkpoint_shapes(cfg)
    index = {n: i for i, n in enumerate(shapes)}
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    n_bytes = n_params * ITEMSIZE[dtype]
    print(f"[checkpoint {preset}] {n_params / 1e6:.1f}M parameters, {dtype} {fmt}: {n_bytes / 1e9:.2f} GB of weights"
          + (f" + {cfg['n_layer']} causal masks of {cfg['n_positions'] ** 2 / 1e6:.1f} MB" if fmt == "pytorch" else ""))
    if check_only:
        return
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    final = os.path.join(out_dir, "model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    for stale in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                  "pytorch_model.bin.index.json"):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))  # one checkpoint per folder; its presence means a finished build
    work = os.path.join(out_dir, ".partial")  # same file name inside (torch.save names the archive after the file)
    os.makedirs(work, exist_ok=True)
    partial = os.path.join(work, os.path.basename(final))
    chunks_of = lambda n: preset_chunks(n, index[n], shapes[n], dtype, cfg["n_layer"])
    if fmt == "safetensors":
        write_safetensors(partial, [(n, dtype, s) for n, s in shapes.items()], chunks_of)
    else:
        sd = collections.OrderedDict()  # built one tensor at a time, each its own storage
        for n in checkpoint_names(cfg, buffers=True):
            if n.endswith("attn.causal_mask"):
                sd[n] = causal_mask(cfg).contiguous().clone()
            elif n.endswith("attn.masked_bias"):
                sd[n] = torch.tensor(MASKED_BIAS, dtype=torch.float32)
            else:
                a = np.concatenate(list(chunks_of(n))).reshape(shapes[n])
                sd[n] = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16) if dtype == "bfloat16" \
                    else torch.from_numpy(a)
        torch.save(sd, partial)
        del sd
    t1 = time.time()
    print(f"[checkpoint {preset}] wrote {os.path.getsize(partial) / 1e9:.2f} GB in {t1 - t0:.1f} s "
          f"({os.path.getsize(partial) / 1e6 / (t1 - t0):.0f} MB/s)")
    check_checkpoint_preset(partial, fmt, dtype, cfg, shapes, chunks_of)
    write_json(os.path.join(out_dir, "config.json"), salesforce_config(cfg, dtype))
    os.replace(partial, final)
    os.rmdir(work)
    print(f"[checkpoint {preset}] checked in {time.time() - t1:.1f} s; done in {time.time() - t0:.1f} s: {final}")


def check_checkpoint_preset(path, fmt, dtype, cfg, shapes, chunks_of):
    """Names, order, dtypes, shapes and the size; a few tensors (their first chunk) regenerated and compared."""
    probes = ["transformer.wte.weight", "transformer.h.0.ln_1.weight", "transformer.h.0.attn.qkv_proj.weight",
              f"transformer.h.{cfg['n_layer'] - 1}.mlp.fc_out.weight", "lm_head.weight", "lm_head.bias"]
    if fmt == "safetensors":
        tensors, dtypes = read_safetensors(path)
        assert list(tensors) == list(shapes), "names or order differ"
        for n, a in tensors.items():
            assert a.shape == tuple(shapes[n]) and dtypes[n] == ST_DTYPE[dtype], n
        get = lambda n: tensors[n].reshape(-1)
    else:
        sd = torch.load(path)
        assert list(sd) == checkpoint_names(cfg, buffers=True), "names or order differ"
        for n, s in shapes.items():
            assert tuple(sd[n].shape) == tuple(s) and sd[n].dtype == TORCH_DTYPE[dtype], n
        mask = sd["transformer.h.0.attn.causal_mask"]
        assert mask.dtype == torch.bool and tuple(mask.shape) == (1, 1, cfg["n_positions"], cfg["n_positions"])
        assert bool(torch.equal(mask, causal_mask(cfg)))
        get = lambda n: from_torch(sd[n]).reshape(-1)
    for n in probes:
        first = next(iter(chunks_of(n)))
        assert np.array_equal(get(n)[:first.size], first), n
        x = stored_as_float(get(n)[:first.size], dtype)
        assert np.isfinite(x).all(), n
    w = stored_as_float(get("transformer.h.0.attn.qkv_proj.weight")[:1 << 20], dtype)
    print(f"[check] {len(shapes)} tensors, names/order/shapes/dtype as expected; qkv_proj std {w.std():.4f}; "
          f"{len(probes)} tensors regenerated and compared (first {CHUNK >> 20}M elements)")


def inside(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Build the tiny random CodeGen test model (no arguments); with --preset "
                                             "a random ONNX model with a real checkpoint's shape; with --checkpoints "
                                             "the tiny model's weights in Salesforce's checkpoint formats (test "
                                             "fixtures); with --checkpoint-preset a random checkpoint with a real "
                                             "shape.")
    ap.add_argument("--check-only", action="store_true", help="run the checks, write nothing")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="random weights with this checkpoint's shape (ONNX)")
    ap.add_argument("--checkpoints", action="store_true",
                    help="write the checkpoint fixtures into test/fixtures/checkpoints")
    ap.add_argument("--checkpoint-preset", choices=list(CHECKPOINT_PRESETS),
                    help="a random-weight checkpoint (config.json + weights) with this Salesforce shape")
    ap.add_argument("--out", help="output folder for --preset / --checkpoint-preset (must be outside the repository)")
    ap.add_argument("--format", choices=["safetensors", "bin"], help="--checkpoint-preset only (default safetensors)")
    ap.add_argument("--dtype", choices=list(ST_DTYPE), help="--checkpoint-preset only (default float16)")
    args = ap.parse_args(argv)
    modes = [m for m in ("preset", "checkpoints", "checkpoint_preset") if getattr(args, m)]
    if len(modes) > 1:
        ap.error("--preset, --checkpoints and --checkpoint-preset are separate modes: give one")
    big = args.preset is not None or args.checkpoint_preset is not None
    if args.out is not None and not big:
        ap.error("--out is only for --preset / --checkpoint-preset (the tiny model always goes to "
                 "models/codegen-tiny-random, the checkpoint fixtures to test/fixtures/checkpoints)")
    if (args.format is not None or args.dtype is not None) and args.checkpoint_preset is None:
        ap.error("--format and --dtype are only for --checkpoint-preset")
    if big and args.out is None and not args.check_only:
        ap.error(f"--{'preset' if args.preset else 'checkpoint-preset'} needs --out DIR")
    if args.out is not None and inside(args.out, ROOT):
        ap.error(f"--out {args.out} is inside the repository ({ROOT}); put the large model elsewhere, e.g. /tmp")
    if args.checkpoint_preset is not None:
        args.format = args.format or "safetensors"
        args.dtype = args.dtype or "float16"
        if args.format == "bin" and args.checkpoint_preset not in BIN_PRESETS:
            ap.error(f"--format bin needs the whole state dict in memory (torch.save): only for "
                     f"{', '.join(BIN_PRESETS)}; use --format safetensors (streamed) for {args.checkpoint_preset}")
    return args


def main():
    args = parse_args(sys.argv[1:])
    if args.preset is not None:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        build_preset(args.preset, os.path.abspath(args.out) if args.out else None, args.check_only)
        return
    if args.checkpoint_preset is not None:
        build_checkpoint_preset(args.checkpoint_preset, os.path.abspath(args.out) if args.out else None,
                                "pytorch" if args.format == "bin" else "safetensors", args.dtype, args.check_only)
        return
    if args.checkpoints:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        build_checkpoint_fixtures(args.check_only)
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
