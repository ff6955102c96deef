"""The training pack: what a training run reads, built here from the corpus (models/data/build_corpus.py) and small
enough to travel to a GPU machine (which has no network, no Node and no Debian mirror; what travels there is the
repository plus at most 64 MiB, of which the repository takes about 34).

A pack is a folder:
  meta.json            what is in it: token counts, sha256 of each stream, the corpus summary it came from, seed
  broad.u16.xz         training stream 1: whole training files of the corpus, in the corpus's seeded order, each
                       followed by <|endoftext|> (a prefix of the corpus's train.bin, cut at a file boundary)
  turns.u16.xz         training stream 2: the corpus's comment/docstring->code pairs of training files, grouped
                       by file (consecutive pairs, 2 to 5 a program) and written in the product's multi-turn
                       format (`# comment\\n` + code + `\\n\\n` per turn, src/session/paperFormat.ts), each program
                       followed by <|endoftext|>, programs in a seeded order
  validation.u16.xz    held-out files (the corpus's validation split), whole, cut at a file boundary
  turns-validation.u16.xz  pairs of validation files, as turns.u16.xz
  heldout.json         prompts from validation files for checking an export: turn prompts (`# comment\\n`) and
                       turn-plus-first-line prompts, as text and as the engine's token ids
Streams are little-endian uint16 ids (all < 50295), xz-compressed (Python's lzma on both machines).

Tokenizing goes through Node (models/tokenize_corpus.mjs with the compiled src/engine/tokenizer.js), so ids are the
engine's own.
"""

import hashlib
import json
import lzma
import os
import random
import subprocess
import tempfile

import numpy as np

EOS = 50256
STREAMS = ("broad", "turns", "validation", "turns-validation")
MAX_COMMENT_CHARS = 300
MAX_CODE_CHARS = 1500
TURNS_PER_PROGRAM = (2, 5)
HELDOUT_TURN_PROMPTS = 12
HELDOUT_LINE_PROMPTS = 8


def log(msg):
    print(f"[pack] {msg}", flush=True)


def stream_file(name):
    return f"{name}.u16.xz"


def write_stream(pack_dir, name, ids):
    raw = np.asarray(ids, dtype="<u2").tobytes()
    with open(os.path.join(pack_dir, stream_file(name)), "wb") as f:
        f.write(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    return dict(tokens=len(raw) // 2, sha256=hashlib.sha256(raw).hexdigest(),
                bytes=os.path.getsize(os.path.join(pack_dir, stream_file(name))))


def read_stream(pack_dir, name, meta):
    with open(os.path.join(pack_dir, stream_file(name)), "rb") as f:
        raw = lzma.decompress(f.read())
    if hashlib.sha256(raw).hexdigest() != meta["streams"][name]["sha256"]:
        raise SystemExit(f"{pack_dir}/{stream_file(name)} is damaged (its sha256 differs from meta.json): build the pack again")
    return np.frombuffer(raw, dtype="<u2")


def read_meta(pack_dir):
    path = os.path.join(pack_dir, "meta.json")
    if not os.path.exists(path):
        raise SystemExit(f"{pack_dir} is not a training pack (no meta.json): make one with `models/train_codegen.py pack`")
    with open(path) as f:
        return json.load(f)


def is_copyleft(licence):
    """GPL-family only, in every alternative ("GPL-2+ or Apache-2" may be taken as Apache-2.0; "LGPL-2.1+" may not)."""
    return all("GPL" in alternative for alternative in licence.split(" or "))


def package_licences(corpus):
    with open(os.path.join(corpus, "licences.jsonl")) as f:
        return {d["package"]: d["primary"] for d in map(json.loads, f)}


def package_of(path, corpus):
    """The package a corpus file was unpacked from (OUT/cache/root/<package>/...); None for the standard library."""
    root = os.path.join(os.path.abspath(corpus), "cache", "root") + os.sep
    return path[len(root):].split(os.sep, 1)[0] if path.startswith(root) else None


def corpus_files(corpus, split, budget, copyleft):
    """Whole files of CORPUS/SPLIT.bin, in the corpus's order, each with its EOS, up to `budget` tokens; files of
    GPL-family packages left out unless copyleft is "include". Returns the ids and what was taken and left."""
    path = os.path.join(corpus, f"{split}.bin")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run models/data/build_corpus.py --tokenize --out {corpus} first")
    ids = np.fromfile(path, dtype="<u2")
    with open(os.path.join(corpus, f"{split}.index.json")) as f:
        index = json.load(f)
    licences = package_licences(corpus)
    pieces, used, taken, left_out = [], 0, 0, {}
    for e in index:
        package = package_of(e["path"], corpus)
        licence = licences.get(package, "") if package else ""
        if copyleft == "exclude" and package and is_copyleft(licence):
            left_out[licence] = left_out.get(licence, 0) + 1
            continue
        n = e["count"] + 1  # its EOS
        if used + n > budget:
            break
        piece = ids[e["start"]: e["start"] + n]
        assert piece[-1] == EOS
        pieces.append(piece)
        used, taken = used + n, taken + 1
    if taken == 0:
        raise SystemExit(f"no whole {split} file fits in {budget} tokens")
    return np.concatenate(pieces), dict(files=taken, copyleft_files_left_out=left_out)


def format_turn(comment, code):
    """src/session/paperFormat.ts's turn: every line of the prompt as a `# ` comment line, the code, a blank line."""
    prompt = "\n".join(f"# {line}" for line in comment.splitlines()) + "\n"
    return prompt + code.rstrip("\n") + "\n\n"


def turn_programs(corpus, split, rng, copyleft):
    """Pairs of one split grouped into multi-turn programs (texts), in a seeded order."""
    excluded = set()
    if copyleft == "exclude":
        licences = package_licences(corpus)
        excluded = {p for p, licence in licences.items() if is_copyleft(licence)}
    by_source = {}
    with open(os.path.join(corpus, "pairs.jsonl")) as f:
        for line in f:
            p = json.loads(line)
            if p["split"] != split or p["source"].split(":", 1)[0] in excluded or len(p["comment"]) > MAX_COMMENT_CHARS or len(p["code"]) > MAX_CODE_CHARS:
                continue
            by_source.setdefault(p["source"], []).append(p)
    programs = []
    for source in sorted(by_source):
        pairs = sorted(by_source[source], key=lambda p: p["line"])
        at = 0
        while at < len(pairs):
            n = rng.randint(*TURNS_PER_PROGRAM)
            group = pairs[at: at + n]
            at += n
            programs.append("".join(format_turn(p["comment"], p["code"]) for p in group))
    rng.shuffle(programs)
    return programs


def node_json(tokenizer, request):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(src, "w") as f:
            json.dump(request, f)
        subprocess.run(["node", os.path.join(here, "tokenize_corpus.mjs"), "--tokenizer", tokenizer, "--json", src,
                        "--out", dst], check=True)
        with open(dst) as f:
            return json.load(f)


def tokenized_stream(texts, tokenizer, budget):
    """Texts tokenized, each followed by EOS, as many whole texts as fit in `budget` tokens."""
    out, used, at = [], 0, 0
    while at < len(texts) and used < budget:
        chunk = texts[at: at + 4000]
        at += len(chunk)
        for ids in node_json(tokenizer, {"encode": chunk})["encoded"]:
            if used + len(ids) + 1 > budget:
                return out, used
            out.extend(ids)
            out.append(EOS)
            used += len(ids) + 1
    return out, used


def heldout_prompts(programs, tokenizer):
    """Prompts from validation programs' first turns: `# comment\\n` alone and with the code's first line."""
    prompts = []
    for text in programs:
        first = text.split("\n\n", 1)[0] + "\n"
        comment_lines = [line for line in first.splitlines() if line.startswith("# ")]
        code_lines = [line for line in first.splitlines() if not line.startswith("# ")]
        prompt = "\n".join(comment_lines) + "\n"
        turn_count = sum(p["kind"] == "turn" for p in prompts)
        line_count = len(prompts) - turn_count
        if turn_count < HELDOUT_TURN_PROMPTS:
            prompts.append(dict(kind="turn", text=prompt))
        elif line_count < HELDOUT_LINE_PROMPTS and code_lines and code_lines[0].strip():
            prompts.append(dict(kind="turn+line", text=prompt + code_lines[0] + "\n"))
        if len(prompts) == HELDOUT_TURN_PROMPTS + HELDOUT_LINE_PROMPTS:
            break
    for p, ids in zip(prompts, node_json(tokenizer, {"encode": [p["text"] for p in prompts]})["encoded"]):
        p["ids"] = ids
    return prompts


def build_pack(corpus, out, tokenizer, seed, budgets, max_bytes, copyleft="exclude"):
    if not os.path.exists(tokenizer):
        raise SystemExit(f"{tokenizer} is missing: build the engine first (npx tsc -p .)")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    streams, files = {}, {}
    broad, files["broad"] = corpus_files(corpus, "train", budgets["broad"], copyleft)
    streams["broad"] = write_stream(out, "broad", broad)
    log(f"broad: {streams['broad']['tokens']:,} tokens of {files['broad']['files']:,} files "
        f"({sum(files['broad']['copyleft_files_left_out'].values()):,} files of GPL-family packages left out)")
    validation, files["validation"] = corpus_files(corpus, "validation", budgets["validation"], copyleft)
    streams["validation"] = write_stream(out, "validation", validation)
    log(f"validation: {streams['validation']['tokens']:,} tokens of {files['validation']['files']:,} files")
    for name, split in (("turns", "train"), ("turns-validation", "validation")):
        programs = turn_programs(corpus, split, rng, copyleft)
        ids, used = tokenized_stream(programs, tokenizer, budgets[name])
        streams[name] = write_stream(out, name, ids)
        log(f"{name}: {used:,} tokens of the {len(programs):,} programs made of {split} pairs")
        if name == "turns-validation":
            prompts = heldout_prompts(programs, tokenizer)
    with open(os.path.join(out, "heldout.json"), "w") as f:
        json.dump(prompts, f, indent=1)
    summary_path = os.path.join(corpus, "summary.json")
    with open(summary_path, "rb") as f:
        summary_sha = hashlib.sha256(f.read()).hexdigest()
    meta = dict(format="codegen-mt-pack-1", seed=seed, copyleft=copyleft, corpus=os.path.abspath(corpus), corpus_summary_sha256=summary_sha,
                budgets=budgets, files=files, streams=streams, heldout_prompts=len(prompts))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    log(f"{total / 2**20:.1f} MiB in {out}")
    if total > max_bytes:
        raise SystemExit(f"the pack is {total / 2**20:.1f} MiB, over --max-mib {max_bytes / 2**20:.0f}: lower --broad-tokens")
    return meta
