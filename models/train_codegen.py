#!/usr/bin/env python3
"""The recipe of the embedded default model (issue 15): a small CodeGen trained on the corpus of
models/data/build_corpus.py, exported through the project's own compiler, checked against PyTorch, with its card.

    python3 models/train_codegen.py pack   --corpus /work/codegen-corpus --out .train-pack
    python3 models/train_codegen.py train  --pack .train-pack --out RUN --preset gpu --minutes 6.5 [--transfer DIR]
    python3 models/train_codegen.py export --transfer RUN/transfer --pack .train-pack --out EXPORT
    python3 models/train_codegen.py card   --export EXPORT [--mtpb DIR] [--humaneval DIR]
    python3 models/train_codegen.py smoke  --corpus DIR --out DIR      (all four on CPU in minutes: the recipe's test)
    python3 models/train_codegen.py self-check                          (the training forward against the reference)

pack (here; needs Node and `npx tsc -p .`): the training streams, xz-compressed, under 28 MiB so that they travel to
a GPU machine with the repository (training/pack.py). train (anywhere with PyTorch 1.13 or 2.x; the GPU machine has
no Node): seeded, two stages, checkpoints every --checkpoint-minutes into RUN/checkpoint.pt and resumes from it with
--resume, logs the loss (RUN/train_log.json), evaluates on held-out Python, and writes the weights as int8-row
transfer files (training/loop.py, training/model.py). export (here): the Hugging Face checkpoint folder, the
compiler's fp32/int8/int4 graphs, the greedy check against PyTorch, the examples, EXPORT/model = the shipped
folder (training/verify.py). card: EXPORT/model/MODEL_CARD.md and loss.svg (training/card.py).

Presets: smoke (2 x 64, a CPU test of the recipe), cpu (the shipped shape on 2 cores: minutes give a model that is
not worth shipping), gpu (the shipped shape, 64 x 1024 tokens a step in bf16, torch.compile when it works).
On CPU run it as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ...` (OpenBLAS runs many times
slower otherwise).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (2 shared cores; see train_small_codegen.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training import tiny  # noqa: E402

ROOT = tiny.ROOT
DEFAULT_TOKENIZER = os.path.join(ROOT, "out", "src", "engine", "tokenizer.js")
DEFAULT_ENGINE = os.path.join(ROOT, "out", "src", "engine", "localEngine.js")
CORPUS_SUMMARY = os.path.join(ROOT, "models", "data", "corpus-summary.json")
MODEL_NAME = "codegen-small-python"
SHIPPED_BYTES_LIMIT = 40_000_000


def cmd_pack(args):
    from training.pack import build_pack
    budgets = {"broad": args.broad_tokens, "validation": args.validation_tokens, "turns": args.turns_tokens,
               "turns-validation": args.turns_validation_tokens}
    build_pack(args.corpus, args.out, args.tokenizer, args.seed, budgets, args.max_mib * 2 ** 20, args.copyleft)


def cmd_train(args):
    from training.loop import train
    if args.minutes is None and args.steps is None:
        raise SystemExit("give --minutes M (the run times its first steps and fixes the count) or --steps N")
    train(args)


def cmd_export(args):
    from training import model as M
    from training.card import EXAMPLE_PROMPTS, parses
    from training.verify import engine_greedy, verify
    state, index = M.read_transfer(args.transfer)
    cfg = index["config"]
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint")
    M.write_checkpoint_folder(state, cfg, checkpoint, args.name)
    precisions = args.precisions.split(",")
    if args.ship not in precisions:
        precisions.append(args.ship)
    report = verify(checkpoint, state, cfg, os.path.join(args.pack, "heldout.json"), precisions, args.out, args.engine)
    with open(os.path.join(args.out, "verify.json"), "w") as f:
        json.dump(report, f, indent=1)
    shipped = os.path.join(args.out, "model")
    shutil.rmtree(shipped, ignore_errors=True)
    shutil.copytree(report["precisions"][args.ship]["folder"], shipped)
    # the compiled folder's config.json marks its graph as compiled (codegen_mt_compiled): kept as it is
    with open(os.path.join(shipped, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 50256}, f, indent=2)
    for name in ("train_log.json",):
        shutil.copy(os.path.join(args.transfer, name), os.path.join(args.out, name))
    with tempfile.TemporaryDirectory() as tmp:
        prompts = os.path.join(tmp, "examples.json")
        with open(prompts, "w") as f:
            json.dump([{"text": p} for p in EXAMPLE_PROMPTS], f)
        results = engine_greedy(shipped, prompts, 64, args.engine, stop="turn")
    examples = [dict(prompt=p, completion=r["text"], parses=parses(p + r["text"])) for p, r in zip(EXAMPLE_PROMPTS, results)]
    with open(os.path.join(args.out, "examples.json"), "w") as f:
        json.dump(examples, f, indent=1)
    size = report["precisions"][args.ship]["bytes"]
    print(f"[export] {shipped}: {args.ship}, {size / 1e6:.1f} MB; greedy check {'passed' if report['passed'] else 'FAILED'}; "
          f"{sum(e['parses'] for e in examples)}/{len(examples)} examples parse", flush=True)
    if not report["passed"]:
        raise SystemExit(f"the compiled graphs do not write what the PyTorch model writes: see {args.out}/verify.json")
    if cfg["n_embd"] >= 256 and size > SHIPPED_BYTES_LIMIT:
        raise SystemExit(f"the {args.ship} graph is {size / 1e6:.1f} MB, over the 40 MB the embedded model may take")


def cmd_card(args):
    from training.card import write_card

    def load(path):
        with open(path) as f:
            return json.load(f)

    def summary_of(folder):
        return load(os.path.join(folder, "summary.json")) if folder else None

    export = args.export
    log = load(os.path.join(export, "train_log.json"))
    write_card(os.path.join(export, "model"), args.name, log, load(os.path.join(export, "verify.json")), load(args.corpus_summary),
               load(os.path.join(export, "examples.json")), summary_of(args.mtpb), summary_of(args.humaneval), args.ship)
    print(f"[card] {os.path.join(export, 'model', 'MODEL_CARD.md')}", flush=True)


def cmd_self_check(args):
    """The training forward (fused attention where PyTorch has it) against the reference forward, and the transfer
    files' round trip, on the smoke shape."""
    import torch
    from training import model as M
    cfg = M.config_for("smoke")
    model = M.build(cfg, 7).eval()
    ids = torch.randint(0, tiny.VALID_VOCAB, (2, 33), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast = M.train_logits(model, ids)
        ref, _ = model(ids)
    err = (fast - ref).abs().max().item()
    assert err < 1e-4, f"the training forward differs from the reference forward by {err}"
    with tempfile.TemporaryDirectory() as tmp:
        M.write_transfer(model, tmp)
        state, _ = M.read_transfer(tmp)
    for name, p in model.state_dict().items():
        bound = p.abs().max(dim=-1, keepdim=True).values / 254 + 1e-7 if p.dim() == 2 else 0
        assert ((state[name] - p).abs() <= bound).all(), f"{name}: the transfer files round it by more than half a step"
    print(f"self-check: training forward = reference (max |diff| {err:.2e}); transfer round trip within int8 rounding", flush=True)


def cmd_smoke(args):
    """pack -> train (smoke preset) -> export -> card, on CPU, from a corpus folder: each step parsed by its own
    subcommand's parser, so that the smoke run uses the same defaults as a real one."""
    pack = os.path.join(args.out, "pack")
    run = os.path.join(args.out, "run")
    export = os.path.join(args.out, "export")
    name = MODEL_NAME + "-smoke"
    seed = ["--seed", str(args.seed)]
    for argv in (
        ["pack", "--corpus", args.corpus, "--out", pack, "--tokenizer", args.tokenizer, *seed, "--broad-tokens", "300000",
         "--validation-tokens", "40000", "--turns-tokens", "60000", "--turns-validation-tokens", "20000"],
        ["train", "--pack", pack, "--out", run, "--preset", "smoke", "--steps", str(args.steps), *seed],
        ["export", "--transfer", os.path.join(run, "transfer"), "--pack", pack, "--out", export, "--name", name,
         "--engine", args.engine],
        ["card", "--export", export, "--name", name, "--corpus-summary", os.path.join(args.corpus, "summary.json")],
    ):
        step = parser().parse_args(argv)
        step.func(step)


def add_train_options(p):
    p.add_argument("--pack", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--preset", choices=("smoke", "cpu", "gpu"), required=True)
    p.add_argument("--minutes", type=float, default=None, help="the whole run's time (training stops in time for the rest)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--stop-after", type=int, default=None, help="stop (checkpointed) after this step: to test --resume")
    p.add_argument("--transfer", default=None, help="where the transfer files go (default OUT/transfer)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-compile", dest="compile", action="store_false", help="no torch.compile on a GPU")
    p.add_argument("--turns-fraction", type=float, default=0.2, help="the share of steps in stage 2")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--checkpoint-minutes", type=float, default=2.0)
    p.add_argument("--reserve-seconds", type=float, default=45.0, help="time kept for evaluation and writing (--minutes)")
    for name, kind in (("seq", int), ("batch", int), ("lr", float), ("warmup", int)):
        p.add_argument(f"--{name}", type=kind, default=None, help="override the preset's")


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("pack")
    s.add_argument("--corpus", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    s.add_argument("--seed", type=int, default=15)
    s.add_argument("--broad-tokens", type=int, default=45_000_000)
    s.add_argument("--validation-tokens", type=int, default=1_000_000)
    s.add_argument("--turns-tokens", type=int, default=6_000_000)
    s.add_argument("--turns-validation-tokens", type=int, default=300_000)
    s.add_argument("--max-mib", type=float, default=28)
    s.add_argument("--copyleft", choices=("exclude", "include"), default="exclude",
                   help="files of packages under GPL-family licences only (the default leaves them out)")
    s.set_defaults(func=cmd_pack)
    s = sub.add_parser("train")
    add_train_options(s)
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("export")
    s.add_argument("--transfer", required=True)
    s.add_argument("--pack", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--name", default=MODEL_NAME)
    s.add_argument("--precisions", default="fp32,int8,int4")
    s.add_argument("--ship", default="int4", choices=("int4", "int8"))
    s.add_argument("--engine", default=DEFAULT_ENGINE)
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("card")
    s.add_argument("--export", required=True)
    s.add_argument("--name", default=MODEL_NAME)
    s.add_argument("--corpus-summary", default=CORPUS_SUMMARY)
    s.add_argument("--mtpb", default=None)
    s.add_argument("--humaneval", default=None)
    s.add_argument("--ship", default="int4")
    s.set_defaults(func=cmd_card)
    s = sub.add_parser("smoke")
    s.add_argument("--corpus", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    s.add_argument("--engine", default=DEFAULT_ENGINE)
    s.add_argument("--steps", type=int, default=60)
    s.add_argument("--seed", type=int, default=15)
    s.set_defaults(func=cmd_smoke)
    s = sub.add_parser("self-check")
    s.set_defaults(func=cmd_self_check)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
