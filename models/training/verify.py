"""Export through the project's own compiler, and the check that the compiled graphs write what the PyTorch model
writes.

The compiler is `codegen-mt optimize` (src/engine/compiler): it reads the checkpoint folder that
model.write_checkpoint_folder makes, exactly as it converts a Salesforce checkpoint on a user's machine, and writes
a fused graph of one precision. Each graph is then run by the engine (engine_greedy.mjs: the engine's tokenizer,
ContextCache and greedy decoding, no speculation) on the pack's held-out prompts, and its greedy tokens are compared
with the PyTorch model's (the reference forward of make_tiny_codegen.py with its KV cache; argmax over the
tokenizer's 50,295 ids, as the engine; both stop at <|endoftext|>).

"Same greedy tokens within the quantization tolerance": a prompt passes when the two sequences are equal, or when at
their first difference the PyTorch model itself rates the engine's token within TOLERANCE_NATS of its own choice
(log p(own) - log p(engine's) <= tolerance): a near tie that rounding may flip. After a flip the texts differ by
construction, so later tokens are not compared. fp32 must match to float noise; the quantized graphs get the
tolerances below, and every prompt must pass.
"""

import json
import os
import shutil
import subprocess
import tempfile

import torch

from . import tiny

TOLERANCE_NATS = {"fp32": 1e-3, "fp16": 0.05, "int8": 0.25, "int4": 1.0}
# The quantized graphs keep their embedding in int8 too (`optimize --embedding int8`): the 51,200-row table is a
# small model's largest tensor, and in fp16 it alone would take most of the shipped model's 40 MB.
EMBEDDING = {"int8": "int8", "int4": "int8"}
NEW_TOKENS = 24
ROOT = tiny.ROOT


def compile_graph(checkpoint_dir, precision, out_dir):
    """codegen-mt optimize --out: the fused graph of one precision; returns the command's JSON summary."""
    shutil.rmtree(out_dir, ignore_errors=True)
    embedding = ["--embedding", EMBEDDING[precision]] if precision in EMBEDDING else []
    run = subprocess.run([os.path.join(ROOT, "bin", "codegen-mt.js"), "optimize", "--model", checkpoint_dir, "--variant", precision,
                          *embedding, "--out", out_dir, "--json"], cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"codegen-mt optimize --variant {precision} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def engine_greedy(model_dir, prompts_file, new_tokens, engine_js, stop="none"):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "greedy.json")
        subprocess.run(["node", "--no-concurrent-recompilation", os.path.join(os.path.dirname(__file__), "engine_greedy.mjs"),
                        "--engine", engine_js, "--model", model_dir, "--prompts", prompts_file, "--new", str(new_tokens),
                        "--stop", stop, "--cache", os.path.join(tmp, "cache"), "--out", out], check=True, cwd=ROOT)
        with open(out) as f:
            return json.load(f)["results"]


@torch.no_grad()
def compare(model, prompt_ids, engine_ids, new_tokens):
    """Torch's greedy tokens after prompt_ids, step by step against the engine's; at the first difference, the
    gap in nats between torch's choice and the engine's under torch's distribution."""
    logits, past = model(torch.tensor([prompt_ids]))
    own = []
    for j in range(new_tokens):
        logp = torch.log_softmax(logits[0, -1, : tiny.VALID_VOCAB].double(), dim=0)
        choice = int(torch.argmax(logp))
        theirs = engine_ids[j] if j < len(engine_ids) else 50256  # the engine's ids stop before <|endoftext|>
        if theirs != choice:
            return dict(agreed=j, torch_token=choice, engine_token=theirs, gap_nats=float(logp[choice] - logp[theirs]), torch_ids=own)
        if choice == 50256:
            return dict(agreed=j, torch_ids=own, ended=True)
        own.append(choice)
        logits, past = model(torch.tensor([[choice]]), past_key_values=past)
    return dict(agreed=new_tokens, torch_ids=own)


def verify(checkpoint_dir, state, cfg, prompts_file, precisions, work_dir, engine_js, new_tokens=NEW_TOKENS):
    """Compile each precision, run the engine, compare with torch. Returns the report (also the files' sizes)."""
    model = tiny.CodeGenForCausalLM(cfg)
    model.load_state_dict(state)
    model.eval()
    with open(prompts_file) as f:
        prompts = json.load(f)
    report = dict(new_tokens=new_tokens, prompts=len(prompts), tolerance_nats=TOLERANCE_NATS, precisions={})
    for precision in precisions:
        out_dir = os.path.join(work_dir, f"compiled-{precision}")
        built = compile_graph(checkpoint_dir, precision, out_dir)
        results = engine_greedy(out_dir, prompts_file, new_tokens, engine_js)
        rows = []
        for p, r in zip(prompts, results):
            if r["promptIds"] != p["ids"]:
                raise SystemExit(f"the engine tokenizes a held-out prompt differently from the pack ({p['text']!r}): rebuild the pack with this tokenizer")
            row = compare(model, r["promptIds"], r["ids"], new_tokens)
            row["passed"] = "gap_nats" not in row or row["gap_nats"] <= TOLERANCE_NATS[precision]
            rows.append(row)
        full = sum(1 for r in rows if "gap_nats" not in r)
        report["precisions"][precision] = dict(
            folder=out_dir, bytes=built["bytes"], embedding=EMBEDDING.get(precision, "fp32" if precision == "fp32" else "fp16"), identical=full, passed=sum(r["passed"] for r in rows),
            mean_agreed_tokens=round(sum(r["agreed"] for r in rows) / len(rows), 2),
            largest_gap_nats=round(max((r.get("gap_nats", 0.0) for r in rows), default=0.0), 5), rows=rows)
        print(f"[verify] {precision}: {built['bytes'] / 1e6:.1f} MB; {full}/{len(rows)} prompts identical for {new_tokens} tokens, "
              f"{report['precisions'][precision]['passed']}/{len(rows)} within {TOLERANCE_NATS[precision]} nats", flush=True)
    report["passed"] = all(v["passed"] == len(prompts) for v in report["precisions"].values())
    return report
