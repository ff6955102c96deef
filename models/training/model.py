"""The model side of the recipe: shapes, a fast training forward over the reference modules, initialisation, and
the two ways weights leave a run (the int8 transfer files that come back from a GPU machine, and the Hugging Face
checkpoint folder that the project's compiler converts).

The modules are models/make_tiny_codegen.py's CodeGenForCausalLM (imported, not copied), so parameter names are
the checkpoint names the engine's converter expects and the reference forward (fp32 attention with explicit
masks, the KV-cache path) stays the one the ONNX checks use. Training runs `train_logits` below instead: the same
arithmetic (q, v, k split in CodeGen's order across mp_num = 4, rotary on the first rotary_dim of each head,
interleaved pairs, causal attention scaled by 1/sqrt(head_dim), parallel attention and MLP on ln_1's output), with
torch's fused scaled_dot_product_attention where it exists (PyTorch 2) and without a cache. test_train_forward in
models/train_codegen.py's self-check proves the two agree.
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from . import tiny

MP_NUM = tiny.MP_NUM

# Shapes. "shipped" is the embedded default's: 12 blocks of width 320 (8 heads of 40, since CodeGen splits heads
# across mp_num = 4; rotary on 16 of each, as codegen-350M rotates 32 of 64), 2048 positions, the real 51200-row
# vocabulary: 47.6M parameters, 14.7M of them in the blocks (the two 51200-row tables hold the rest). Its int4 graph
# with an int8 embedding (verify.EMBEDDING) is 37.2 MB (measured; src/engine/compiler/footprint.ts: 37.1 MB of
# weights), under the 40 MB. With the compiler's default fp16 embedding the same budget held only 8 x 256
# (38.5 MB measured, 6.3M parameters in the blocks). 24 blocks of 256 (18.9M in the blocks) would fit too but decode
# slower: per token, relative to 8 x 256, 12 x 320 takes 1.77x and 24 x 256 2.58x (`npm run bench:shapes`, int4,
# 2 cores; README). "smoke" is for the CPU test of the recipe.
SHAPES = {
    "shipped": dict(n_layer=12, n_embd=320, n_head=8, rotary_dim=16),
    "smoke": dict(n_layer=2, n_embd=64, n_head=4, rotary_dim=8),
}


def config_for(shape):
    return dict(tiny.CONFIG, n_inner=None, n_positions=2048, n_ctx=2048, **SHAPES[shape])


def parameter_count(cfg):
    E, V, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_layer"]
    I = tiny.n_inner(cfg)
    block = 2 * E + 3 * E * E + E * E + I * E + I + E * I + E
    return V * E + L * block + 2 * E + V * E + V


def build(cfg, seed):
    model = tiny.CodeGenForCausalLM(cfg)
    tiny.init_gpt_like(model, cfg, seed=seed)
    return model


def _rotary_tables(cfg, seq, device):
    rotary_dim = cfg["rotary_dim"]
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, rotary_dim, 2, dtype=torch.float32, device=device) / rotary_dim))
    angle = torch.arange(seq, dtype=torch.float32, device=device).unsqueeze(1) * inv_freq  # [s, r/2]
    sin = torch.stack((torch.sin(angle), torch.sin(angle)), dim=2).reshape(1, seq, 1, rotary_dim)
    cos = torch.stack((torch.cos(angle), torch.cos(angle)), dim=2).reshape(1, seq, 1, rotary_dim)
    return sin, cos


def _causal_attention(q, k, v):
    """q, k, v: [b, h, s, d]. Fused where PyTorch has it; else the reference's arithmetic in fp32."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    s = q.shape[2]
    w = torch.matmul(q.float(), k.float().transpose(2, 3)) * (1.0 / math.sqrt(q.shape[3]))
    mask = torch.ones(s, s, dtype=torch.bool, device=q.device).tril()
    w = w.masked_fill(~mask, torch.finfo(torch.float32).min)
    return torch.matmul(torch.softmax(w, dim=3), v.float()).to(q.dtype)


def train_logits(model, ids):
    """Logits [b, s, vocab] of a batch of whole windows (positions 0..s-1, no padding, no cache)."""
    cfg = model.cfg
    E = cfg["n_embd"]
    b, s = ids.shape
    sin, cos = _rotary_tables(cfg, s, ids.device)
    h = model.transformer.wte(ids)
    for block in model.transformer.h:
        attn = block.attn
        x = block.ln_1(h)
        qkv = attn.qkv_proj(x).reshape(b, s, MP_NUM, 3 * E // MP_NUM)
        q, v, k = torch.split(qkv, E // MP_NUM, dim=3)
        q, v, k = attn.split_heads(q), attn.split_heads(v), attn.split_heads(k)
        q = attn.rotary(q, sin.to(q.dtype), cos.to(q.dtype))
        k = attn.rotary(k, sin.to(k.dtype), cos.to(k.dtype))
        out = _causal_attention(q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3))
        out = out.permute(0, 2, 1, 3).reshape(b, s, E)
        h = attn.out_proj(out) + block.mlp(x) + h
    return model.lm_head(model.transformer.ln_f(h))


def window_loss(model, batch):
    """Mean next-token cross-entropy (nats) of [b, s + 1] token windows, over the full 51200-way softmax."""
    logits = train_logits(model, batch[:, :-1])
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


# ----------------------------------------------------------------------------------------------------------
# Transfer files: what comes back from a GPU machine (at most 8 files of 16 MiB there). Matrices as int8 rows with
# one fp32 scale each (absmax / 127), vectors as fp32: 48 MB for the shipped shape instead of 190 MB in fp32. The
# rounding is measured where it happens (train_log.json's validation loss before and after it) and the model
# verified against the compiled graphs is the rounded one, i.e. exactly what the compiler is given.
# ----------------------------------------------------------------------------------------------------------
TRANSFER_INDEX = "transfer.json"
SHARD_BYTES = 15 * 1024 * 1024
FILE_LIMIT_BYTES = 16 * 1024 * 1024  # a tensor larger than a shard gets one of its own, which must still come back


def write_transfer(model, out_dir, extra=None):
    os.makedirs(out_dir, exist_ok=True)
    entries, shards = [], []
    current, size = [], 0

    def flush():
        nonlocal current, size
        if not current:
            return
        name = f"weights-{len(shards):02d}.bin"
        with open(os.path.join(out_dir, name), "wb") as f:
            for blob in current:
                f.write(blob)
        shards.append(name)
        current, size = [], 0

    for name, p in model.state_dict().items():
        a = p.detach().float().cpu().numpy()
        if a.ndim == 2:
            scale = np.abs(a).max(axis=1) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            q = np.clip(np.rint(a / scale[:, None]), -127, 127).astype(np.int8)
            blobs = [q.tobytes(), scale.tobytes()]
            kind = "int8-rows"
        else:
            blobs = [a.astype(np.float32).tobytes()]
            kind = "fp32"
        nbytes = sum(len(b) for b in blobs)
        if nbytes > FILE_LIMIT_BYTES:
            raise SystemExit(f"{name} takes {nbytes / 2**20:.1f} MiB as a transfer file, over the {FILE_LIMIT_BYTES // 2**20} MiB "
                             "a file may have to come back from a GPU machine: choose a narrower shape")
        if size + nbytes > SHARD_BYTES:
            flush()
        entries.append(dict(name=name, kind=kind, shape=list(a.shape), shard=len(shards), offset=size))
        current += blobs
        size += nbytes
    flush()
    index = dict(format="codegen-mt-transfer-1", config=model.cfg, shards=shards, tensors=entries, **(extra or {}))
    with open(os.path.join(out_dir, TRANSFER_INDEX), "w") as f:
        json.dump(index, f, indent=1)
    return index


def read_transfer(in_dir):
    """The state dict (fp32) and config of transfer files."""
    with open(os.path.join(in_dir, TRANSFER_INDEX)) as f:
        index = json.load(f)
    if index.get("format") != "codegen-mt-transfer-1":
        raise SystemExit(f"{in_dir}/{TRANSFER_INDEX} is not a transfer index (format {index.get('format')!r})")
    data = {}
    for name in index["shards"]:
        with open(os.path.join(in_dir, name), "rb") as f:
            data[name] = f.read()
    state = {}
    for e in index["tensors"]:
        blob = data[index["shards"][e["shard"]]]
        shape = tuple(e["shape"])
        n = int(np.prod(shape))
        if e["kind"] == "int8-rows":
            q = np.frombuffer(blob, dtype=np.int8, count=n, offset=e["offset"]).reshape(shape).astype(np.float32)
            scale = np.frombuffer(blob, dtype=np.float32, count=shape[0], offset=e["offset"] + n)
            a = q * scale[:, None]
        else:
            a = np.frombuffer(blob, dtype=np.float32, count=n, offset=e["offset"]).reshape(shape)
        state[e["name"]] = torch.from_numpy(a.copy())
    return state, index


def write_checkpoint_folder(state, cfg, out_dir, name):
    """A Hugging Face CodeGen folder (config.json, generation_config.json, pytorch_model.bin in fp32): the input
    of `codegen-mt optimize` and of the engine's own checkpoint conversion."""
    os.makedirs(out_dir, exist_ok=True)
    tiny.write_configs(out_dir, cfg, name=name, readme=False)
    names = tiny.checkpoint_names(cfg, buffers=False)
    missing = set(names) ^ set(state)
    if missing:
        raise SystemExit(f"the weights do not match the CodeGen layout: {sorted(missing)[:5]}")
    torch.save({n: state[n].contiguous().float() for n in names}, os.path.join(out_dir, "pytorch_model.bin"))
