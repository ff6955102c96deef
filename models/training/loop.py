"""The training run: two stages on one schedule, checkpoints, resume, the loss log, the held-out evaluation.

Stages (the CodeGen paper's sequential training in miniature: its models were trained on natural language, then
many programming languages, then Python alone, each stage continuing the last): stage 1, "broad", reads whole
files of the corpus (the standard library and 280 Debian packages); stage 2, "turns", the last --turns-fraction
of the steps, continues the same run on batches half made of the comment->code programs in the product's
multi-turn format and half of broad windows (so the first stage's knowledge is not washed out). One AdamW run and
one learning-rate schedule (linear warm-up, cosine decay to 10%) span both.

Reproducible: the windows of step t come from numpy's generator seeded with (seed, t) alone, so a run resumed from
a checkpoint draws what the uninterrupted run would have drawn, and on CPU with the same threads ends with the same
weights (the recipe's test checks that). On a GPU, kernels are not bitwise deterministic; the data order still is.
"""

import contextlib
import json
import math
import os
import platform
import time

import numpy as np
import torch

from . import model as M
from .pack import read_meta, read_stream

PRESETS = {
    # batch x seq tokens a step; lr peak; warm-up steps; evaluation tokens
    "smoke": dict(shape="smoke", seq=128, batch=8, lr=3e-3, warmup=10, eval_tokens=16_384, eval_every=20),
    "cpu": dict(shape="shipped", seq=256, batch=8, lr=2e-3, warmup=100, eval_tokens=131_072, eval_every=500),
    "gpu": dict(shape="shipped", seq=1024, batch=64, lr=2e-3, warmup=200, eval_tokens=2_097_152, eval_every=1000),
}
WEIGHT_DECAY = 0.1
BETAS = (0.9, 0.95)
CLIP = 1.0
MIN_LR_FRACTION = 0.1
TIMED_STEPS = 10  # steps timed, after warm-up ones, to turn --minutes into a step count


def log(msg):
    print(f"[train] {msg}", flush=True)


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Streams:
    """The pack's streams, on the training device as int64 tensors (one gather builds a batch)."""

    def __init__(self, pack_dir, device):
        self.meta = read_meta(pack_dir)
        self.tensors = {name: torch.from_numpy(read_stream(pack_dir, name, self.meta).astype(np.int64)).to(device)
                        for name in ("broad", "turns", "validation", "turns-validation")}

    def windows(self, name, starts, seq):
        offsets = torch.arange(seq + 1, device=self.tensors[name].device)
        return self.tensors[name][torch.as_tensor(starts, device=offsets.device).unsqueeze(1) + offsets]

    def batch(self, seed, step, stage, batch, seq):
        rng = np.random.default_rng([seed, step])
        if stage == "broad":
            parts = [("broad", batch)]
        else:
            parts = [("turns", batch // 2), ("broad", batch - batch // 2)]
        rows = []
        for name, n in parts:
            limit = self.tensors[name].shape[0] - seq - 1
            if limit <= 0:
                raise SystemExit(f"the pack's {name} stream has fewer than {seq + 1} tokens")
            rows.append(self.windows(name, rng.integers(0, limit, size=n), seq))
        return torch.cat(rows, dim=0)


def evaluate(model, streams, name, seq, max_tokens, autocast):
    """Mean loss (nats/token) over consecutive, non-overlapping windows from the start of a held-out stream."""
    count = min(max_tokens, streams.tensors[name].shape[0] - 1) // seq
    if count == 0:
        return float("nan")
    starts = np.arange(count) * seq
    total = 0.0
    model.eval()
    with torch.no_grad(), autocast():
        for at in range(0, count, 16):
            batch = streams.windows(name, starts[at: at + 16], seq)
            total += M.window_loss(model, batch).item() * batch.shape[0]
    model.train()
    return total / count


def optimizer_for(model, lr, device):
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.dim() != 2]
    groups = [dict(params=decay, weight_decay=WEIGHT_DECAY), dict(params=other, weight_decay=0.0)]
    extra = {"fused": True} if device.type == "cuda" else {}
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=BETAS, **extra)
    except TypeError:  # PyTorch without fused AdamW
        return torch.optim.AdamW(groups, lr=lr, betas=BETAS)


def save_checkpoint(path, model, opt, state):
    tmp = path + ".tmp"
    torch.save(dict(model=model.state_dict(), optimizer=opt.state_dict(), state=state), tmp)
    os.replace(tmp, path)  # a run killed while writing keeps the previous checkpoint


def environment(device):
    env = dict(torch=torch.__version__, python=platform.python_version(), device=str(device), threads=torch.get_num_threads())
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    else:
        env["cpu"] = platform.processor() or platform.machine()
    return env


class TrainClock:
    """Seconds spent training, banked into state["train_seconds"] before each checkpoint, so that a resumed run adds to
    what the stopped one spent."""

    def __init__(self, state):
        self.state, self.since = state, time.time()

    def elapsed(self):
        return self.state["train_seconds"] + time.time() - self.since

    def bank(self):
        self.state["train_seconds"] = self.elapsed()
        self.since = time.time()


def train(args):
    invoked = time.time()  # --minutes is the whole invocation's time: setup, compilation and checkpoints included
    preset = dict(PRESETS[args.preset])
    for key in ("seq", "batch", "lr", "warmup"):
        if getattr(args, key, None) is not None:
            preset[key] = getattr(args, key)
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def autocast():
        if bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return torch.autocast(device_type="cpu", enabled=False)

    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    cfg = M.config_for(preset["shape"])
    torch.manual_seed(args.seed)
    model = M.build(cfg, args.seed).to(device)
    opt = optimizer_for(model, preset["lr"], device)
    streams = Streams(args.pack, device)
    state = dict(step=0, total_steps=args.steps, curve=[], evals=[], train_seconds=0.0, preset=args.preset, hparams=preset,
                 seed=args.seed, stages=None)
    if args.resume and os.path.exists(ckpt_path):
        saved = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        state = saved["state"]
        if state["seed"] != args.seed or state["preset"] != args.preset:
            raise SystemExit(f"{ckpt_path} is of another run (seed {state['seed']}, preset {state['preset']}): give the same --seed and --preset, or another --out")
        log(f"resumed at step {state['step']} of {state['total_steps']}")
    elif args.resume:
        log(f"nothing to resume in {args.out}; starting")

    step_fn = M.window_loss
    if device.type == "cuda" and args.compile and hasattr(torch, "compile"):
        step_fn = torch.compile(M.window_loss)
    tokens_per_step = preset["batch"] * preset["seq"]
    log(f"{M.parameter_count(cfg):,} parameters ({cfg['n_layer']} x {cfg['n_embd']}, {cfg['n_head']} heads), "
        f"{tokens_per_step:,} tokens a step on {device}{' in bf16' if bf16 else ''}; pack: "
        + ", ".join(f"{n} {s['tokens']:,}" for n, s in streams.meta["streams"].items()))

    clock = TrainClock(state)
    timed_from = None
    last_ckpt = time.time()
    while state["total_steps"] is None or state["step"] < state["total_steps"]:
        step = state["step"]
        total = state["total_steps"] or 10 ** 9
        if state["stages"] is None and state["total_steps"] is not None:
            state["stages"] = dict(broad=[0, int(total * (1 - args.turns_fraction))], turns=[int(total * (1 - args.turns_fraction)), total])
        stage = "turns" if state["stages"] and step >= state["stages"]["turns"][0] else "broad"
        lr = lr_at(step, total, preset["lr"], preset["warmup"])
        for group in opt.param_groups:
            group["lr"] = lr
        batch = streams.batch(args.seed, step, stage, preset["batch"], preset["seq"])
        with autocast():
            try:
                loss = step_fn(model, batch)
            except Exception as e:  # noqa: BLE001  a compiler failure must not cost the run: fall back to eager
                if step_fn is M.window_loss:
                    raise
                log(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); training without it")
                step_fn = M.window_loss
                loss = step_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        state["step"] = step + 1
        if step % args.log_every == 0 or state["step"] == state["total_steps"]:
            value = loss.item()
            if not math.isfinite(value):
                raise SystemExit(f"the loss is {value} at step {step}: lower --lr")
            elapsed = clock.elapsed()
            state["curve"].append(dict(step=step, tokens=step * tokens_per_step, loss=round(value, 4), lr=lr, stage=stage, seconds=round(elapsed, 1)))
            log(f"step {step}{'/' + str(state['total_steps']) if state['total_steps'] else ''} {stage} loss {value:.3f} lr {lr:.2e} {elapsed:.0f} s")
        # --minutes: time TIMED_STEPS steps after a few warm-up ones (compilation, allocator), then fix the count
        if state["total_steps"] is None:
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step == 3:
                timed_from = time.time()
            elif step == 3 + TIMED_STEPS:
                per_step = (time.time() - timed_from) / TIMED_STEPS
                left = args.minutes * 60 - (time.time() - invoked) - args.reserve_seconds
                state["total_steps"] = max(state["step"] + 1, state["step"] + int(left / per_step))
                log(f"{per_step * 1000:.0f} ms a step ({tokens_per_step / per_step:,.0f} tokens/s): {state['total_steps']} steps in --minutes {args.minutes}")
        if state["step"] % preset["eval_every"] == 0:
            state["evals"].append(dict(step=state["step"], validation=evaluate(model, streams, "validation", preset["seq"], preset["eval_tokens"] // 4, autocast)))
        if args.stop_after and state["step"] >= args.stop_after:
            break
        if time.time() - last_ckpt > args.checkpoint_minutes * 60:
            clock.bank()
            save_checkpoint(ckpt_path, model, opt, state)
            last_ckpt = time.time()
    clock.bank()
    save_checkpoint(ckpt_path, model, opt, state)
    if args.stop_after and state["step"] < (state["total_steps"] or 0):
        log(f"stopped after step {state['step']} (--stop-after); resume with --resume")
        return model, state, None
    return model, state, finish(args, model, streams, state, preset, device, autocast)


def finish(args, model, streams, state, preset, device, autocast):
    """Held-out losses of the trained weights and of the int8-rounded ones that leave the run; the transfer files;
    train_log.json."""
    seq = preset["seq"]
    autocast = contextlib.nullcontext  # the final figures in fp32, on any device
    final = dict(validation=evaluate(model, streams, "validation", seq, preset["eval_tokens"], autocast),
                 turns_validation=evaluate(model, streams, "turns-validation", seq, preset["eval_tokens"], autocast))
    transfer_dir = args.transfer or os.path.join(args.out, "transfer")
    M.write_transfer(model, transfer_dir)
    rounded_state, _ = M.read_transfer(transfer_dir)
    rounded = M.build(model.cfg, args.seed).to(device)
    rounded.load_state_dict({k: v.to(device) for k, v in rounded_state.items()})
    final["validation_rounded"] = evaluate(rounded, streams, "validation", seq, preset["eval_tokens"], autocast)
    for k in list(final):
        final[k] = round(final[k], 4)
        final[k.replace("validation", "perplexity")] = round(math.exp(final[k]), 3)
    tokens = state["step"] * preset["batch"] * seq
    summary = dict(
        recipe="models/train_codegen.py", args={k: v for k, v in vars(args).items() if k != "func"}, config=model.cfg,
        parameters=M.parameter_count(model.cfg), environment=environment(device), pack=streams.meta, hparams=preset,
        steps=state["step"], tokens=tokens, train_seconds=round(state["train_seconds"], 1),
        tokens_per_second=round(tokens / max(state["train_seconds"], 1e-9)), stages=state["stages"],
        curve=state["curve"], evals=state["evals"], final=final)
    for path in {os.path.join(args.out, "train_log.json"), os.path.join(transfer_dir, "train_log.json")}:
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)
    log(f"done: {state['step']} steps, {tokens:,} tokens in {state['train_seconds']:.0f} s; validation loss {final['validation']} "
        f"(perplexity {final['perplexity']}), int8-rounded {final['validation_rounded']}, turns {final['turns_validation']}")
    return summary
