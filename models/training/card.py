"""The model card: MODEL_CARD.template.md filled from what the run and its checks wrote (nothing typed by hand), and
the loss curve as an SVG.

Inputs: train_log.json (the run), verify.json (the export check), the corpus summary (models/data/
corpus-summary.json: sources, dedup, decontamination, licences), examples.json (the shipped graph's greedy
continuations of EXAMPLE_PROMPTS, all of them, each marked by whether it parses as Python), and, when given, the
summary.json of `codegen-mt mtpb` and `codegen-mt humaneval` runs on the shipped graph. A figure that was not
measured says so in the card.
"""

import ast
import html
import json
import math
import os

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "MODEL_CARD.template.md")

# First turns as a user writes them in the panel (the product's format: one `# ` comment line), and two
# code-first prompts. The card shows every one of them, whatever the model wrote.
EXAMPLE_PROMPTS = [
    "# Return the n-th Fibonacci number.\ndef fibonacci(n):\n",
    "# Read a text file and return its lines without the trailing newline.\n",
    "# Check whether a number is prime.\n",
    "# Count how many times each word occurs in a list of words.\n",
    "# Sort a list of dictionaries by their \"age\" key.\n",
    "# Print the numbers from 1 to 10.\n",
    "import os\n\n\ndef list_python_files(folder):\n",
    "class Stack:\n    def __init__(self):\n",
]


def parses(code):
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def loss_svg(log, width=640, height=320):
    """Training loss against tokens seen (a line), held-out loss at the evaluation points (dots), the stage switch."""
    curve = log["curve"]
    evals = [e for e in log.get("evals", []) if e.get("validation") is not None and math.isfinite(e["validation"])]
    tokens_per_step = log["hparams"]["batch"] * log["hparams"]["seq"]
    xs = [c["tokens"] for c in curve] + [e["step"] * tokens_per_step for e in evals]
    ys = [c["loss"] for c in curve] + [e["validation"] for e in evals]
    x_max = max(xs) or 1
    y_min, y_max = math.floor(min(ys)), math.ceil(max(ys))
    left, right, top, bottom = 56, 16, 24, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x):
        return left + plot_w * x / x_max

    def py(y):
        return top + plot_h * (1 - (y - y_min) / max(1e-9, y_max - y_min))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="14">Loss (nats/token) against training tokens: training batches (line), held-out Python (dots)</text>']
    for i in range(5):
        y = y_min + (y_max - y_min) * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>')
    for i in range(5):
        x = x_max * i / 4
        label = f"{x / 1e6:.0f}M" if x_max >= 4e6 else f"{x / 1e3:.0f}k"
        out.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{html.escape(label)}</text>')
    stages = log.get("stages") or {}
    if "turns" in stages:
        x = px(stages["turns"][0] * tokens_per_step)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#999" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x + 4:.1f}" y="{top + 12}">stage 2: turns</text>')
    points = " ".join(f"{px(c['tokens']):.1f},{py(c['loss']):.1f}" for c in curve)
    out.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{points}"/>')
    for e in evals:
        out.append(f'<circle cx="{px(e["step"] * tokens_per_step):.1f}" cy="{py(e["validation"]):.1f}" r="3" fill="#d1242f"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">tokens</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _pct(v):
    return f"{100 * v:.1f}%"


def _mtpb_rows(summary):
    if not summary:
        return "not measured (give --mtpb DIR, the output folder of `codegen-mt mtpb --mode both` on the shipped model)"
    rows = ["| mode | pass rate | passed / runs |", "| --- | --- | --- |"]
    for m in summary["modes"]:
        rows.append(f"| {m['mode']} | {_pct(m['passRate'])} | {m['passed']} / {m['runs']} |")
    settings = summary.get("settings", {})
    rows.append("")
    rows.append("Settings: " + ", ".join(f"{k} {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, (dict, list))))
    return "\n".join(rows)


def _humaneval_rows(summary):
    if not summary:
        return "not measured (give --humaneval DIR, the output folder of `codegen-mt humaneval` on the shipped model)"
    return ", ".join(f"{k} {_pct(v)}" for k, v in summary["passAtK"].items()) + f" over {summary.get('problems', '?')} problems"


def _licence_rows(corpus):
    rows = ["| licence (as recorded) | packages | files kept | MB kept |", "| --- | --- | --- | --- |"]
    for name, v in sorted(corpus["licences"].items(), key=lambda kv: -kv[1]["bytes_kept"]):
        if v["files_kept"]:
            rows.append(f"| {name} | {v['packages']} | {v['files_kept']} | {v['bytes_kept'] / 1e6:.1f} |")
    return "\n".join(rows)


def _verify_rows(report):
    rows = ["| precision | files (MB) | prompts identical for all tokens | within tolerance | tolerance (nats) | mean tokens agreed |",
            "| --- | --- | --- | --- | --- | --- |"]
    for p, v in report["precisions"].items():
        precision = f"{p}, embedding {v['embedding']}" if v.get("embedding") and v["embedding"] != p else p
        rows.append(f"| {precision} | {v['bytes'] / 1e6:.1f} | {v['identical']} / {report['prompts']} | {v['passed']} / {report['prompts']} | "
                    f"{report['tolerance_nats'][p]} | {v['mean_agreed_tokens']} of {report['new_tokens']} |")
    return "\n".join(rows)


def _examples(examples):
    parts = []
    for e in examples:
        verdict = "parses as Python" if e["parses"] else "does NOT parse as Python"
        parts.append(f"Prompt:\n\n```python\n{e['prompt']}```\n\nGreedy continuation ({verdict}):\n\n```python\n{e['completion']}\n```\n")
    return "\n".join(parts)


def write_card(out_dir, name, log, report, corpus, examples, mtpb=None, humaneval=None, shipped_precision="int4"):
    with open(os.path.join(out_dir, "loss.svg"), "w") as f:
        f.write(loss_svg(log))
    cfg = log["config"]
    final = log["final"]
    env = log["environment"]
    pack = log["pack"]
    hardware = env.get("gpu") or f"{env.get('cpu', 'CPU')} ({env['threads']} threads)"
    stage_info = log.get("stages") or {}
    values = {
        "name": name,
        "status": ("a SMOKE run of the recipe (a few minutes on CPU): it shows the pipeline end to end and writes nothing useful"
                   if log["hparams"].get("shape") == "smoke" or log["args"].get("preset") == "smoke" else
                   f"trained with preset {log['args'].get('preset')}"),
        "shape": f"{cfg['n_layer']} blocks, width {cfg['n_embd']}, {cfg['n_head']} heads of {cfg['n_embd'] // cfg['n_head']}, "
                 f"rotary on {cfg['rotary_dim']} dims, MLP {cfg['n_inner'] or 4 * cfg['n_embd']}, {cfg['n_positions']} positions, "
                 f"vocabulary {cfg['vocab_size']}",
        "parameters": f"{log['parameters']:,}",
        "shipped_precision": shipped_precision + (f" (embedding {report['precisions'][shipped_precision]['embedding']})"
                                                  if report["precisions"].get(shipped_precision, {}).get("embedding") else ""),
        "shipped_mb": f"{report['precisions'][shipped_precision]['bytes'] / 1e6:.1f}" if shipped_precision in report["precisions"] else "?",
        "tokens": f"{log['tokens']:,}",
        "steps": f"{log['steps']:,}",
        "batch": f"{log['hparams']['batch']} x {log['hparams']['seq']} tokens",
        "train_minutes": f"{log['train_seconds'] / 60:.1f}",
        "hardware": f"{hardware}, PyTorch {env['torch']}",
        "tokens_per_second": f"{log['tokens_per_second']:,}",
        "stages": ", ".join(f"{k}: steps {v[0]}-{v[1]}" for k, v in stage_info.items()),
        "pack_tokens": ", ".join(f"{k} {v['tokens']:,}" for k, v in pack["streams"].items()),
        "validation_loss": final["validation"],
        "validation_perplexity": final["perplexity"],
        "turns_loss": final["turns_validation"],
        "turns_perplexity": final["turns_perplexity"],
        "rounded_loss": final["validation_rounded"],
        "corpus_files": f"{corpus['splits']['train']['files']:,} training and {corpus['splits']['validation']['files']:,} validation files",
        "corpus_tokens": f"{corpus['splits']['train']['tokens']:,} training and {corpus['splits']['validation']['tokens']:,} validation tokens",
        "corpus_packages": f"{corpus['packages']['with_kept_files']} Debian packages and the standard library",
        "dedup": f"{corpus['exact_dedup']['dropped']:,} exact and {corpus['near_dedup']['dropped']:,} near duplicates "
                 f"(MinHash, Jaccard >= {corpus['near_dedup']['threshold']}) dropped",
        "decontamination": f"{corpus['decontamination']['files_dropped']} files sharing a {corpus['decontamination']['n']}-word "
                           f"sequence with MTPB or HumanEval dropped; {corpus['decontamination']['benchmark_problems']} benchmark "
                           "problems checked (prompts and solutions)",
        "pairs": f"{corpus['pairs']['kept']:,} comment/docstring-to-code pairs",
        "licences": _licence_rows(corpus),
        "verify": _verify_rows(report),
        "verify_passed": "every prompt passed" if report["passed"] else "SOME PROMPTS FAILED (see verify.json)",
        "mtpb": _mtpb_rows(mtpb),
        "humaneval": _humaneval_rows(humaneval),
        "examples": _examples(examples),
        "parsing_examples": f"{sum(e['parses'] for e in examples)} of {len(examples)}",
    }
    with open(TEMPLATE) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    if "{{" in text:
        raise SystemExit(f"the model card template has a field the card does not fill: {text[text.index('{{'):][:40]}")
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as f:
        f.write(text)
    return text
