#!/usr/bin/env python3
"""Builds the Python training corpus for an embedded default model (issue 15, part 1): offline, seeded, one command.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE nice /usr/bin/python3 models/data/build_corpus.py --tokenize

The real run (models/data/corpus-summary.json: 300 packages, 121 MB of .debs, 249 MB of Python collected, 224 MB
kept, 61.3M + 4.7M tokens, 226k pairs) took 10 minutes on 2 shared cores, downloads included, and 0.9 GB of RAM.

Sources: the standard library (/usr/lib/python3.11, Debian's libpython3.11-stdlib) and the Python code of the
Debian packages named in models/data/packages.txt (the first --packages N of them, default 300; or --packages
FILE, a list of your own). Each package is fetched with `apt-get download` into OUT/cache/debs (kept: a rerun
downloads only what is missing) and unpacked with `dpkg-deb -x` into OUT/cache/root/<package> (nothing is
installed). Needs apt's index (apt-get update) and Debian's mirror, python3 with numpy, and for --tokenize Node
20 and the compiled tokenizer (`npx tsc -p .` writes out/src/engine/tokenizer.js).

Stages, in order (each file goes through them in a fixed order: stdlib first, then packages in list order, paths
sorted, so that what is kept of duplicates is the standard library's copy, then the most depended-on package's):
  1. collect   *.py files, minus tests, generated files and data tables (python_files.py)
  2. exact     exact duplicates removed (sha256 of the normalised text; dedup.py)
  3. near      near-duplicates removed: MinHash/LSH candidates over token 5-grams, confirmed by exact Jaccard
               >= 0.85, one file kept per cluster (dedup.py)
  4. decontam  files sharing a word 13-gram with MTPB or HumanEval (data/ of this repository) removed
               (decontaminate.py says which texts and why 13)
  5. pairs     comment->code and docstring->code pairs extracted from the kept files (nl_pairs.py), exact
               duplicate pairs removed, each pair checked against the benchmarks again
  6. split     a file is VALIDATION when the sha1 of its key starts with "0" (about 1 in 16), else TRAIN; the
               key of a standard-library file is its path relative to the library, as in train_small_codegen.py
               (so both hold out the same files); a package file's is "<package>:<path in the package>"

What it writes, in --out (default /work/codegen-corpus; it must be outside the repository):
  train-NNNNN.jsonl, validation-00000.jsonl   text shards, one file a line: {key, package, licence, text};
                                              train files in a seeded shuffled order, shards of about 64 MB
  train.files.json, validation.files.json     the same files as absolute paths, in the same order: the input of
                                              models/tokenize_corpus.mjs --corpus
  train.bin/.index.json, validation.bin/...   with --tokenize: the ids (tokenize_corpus.mjs's format)
  pairs.jsonl                                 {kind, comment, code, source, line, split}
  files.jsonl                                 every kept file: key, package, sha256, bytes, split, licence
  dropped.jsonl                               every file dropped at stages 2-4: key, stage, and what it duplicates
                                              or which benchmark problems it shares a 13-gram with
  licences.jsonl                              one line a package: package, version, source, licences (short names),
                                              primary, machine_readable, copyright_sha256, deb_bytes, files and
                                              bytes collected and kept
  summary.json                                the figures of every stage (--summary PATH writes a copy: the
                                              repository keeps its real run's as models/data/corpus-summary.json)
  cache/                                      the .debs and their unpacked trees (the file lists point into it)

Options: --out DIR, --packages N|FILE, --seed S (MinHash functions and the shuffle; default 15), --limit N (only the
first N collected files: a quick run), --stdlib DIR, --tokenize, --tokenizer FILE, --summary PATH,
--write-package-list N (rewrite models/data/packages.txt from apt's index, then stop), --self-test (the offline
tests of self_test.py on synthetic files: no apt, no network).
"""

import argparse
import dataclasses
import hashlib
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import debian_sources  # noqa: E402
import dedup  # noqa: E402
import nl_pairs  # noqa: E402
import python_files  # noqa: E402
from decontaminate import Decontaminator, benchmark_texts  # noqa: E402

SHARD_BYTES = 64 * 1024 * 1024
STARTED = time.time()
SECONDS = {}  # wall seconds of each stage, for the summary
_last_mark = [STARTED]


def log(msg):
    print(f"[{time.time() - STARTED:7.1f} s] {msg}", flush=True)


def mark(stage):
    """Records the seconds since the previous mark as this stage's."""
    now = time.time()
    SECONDS[stage] = round(now - _last_mark[0], 1)
    _last_mark[0] = now


@dataclasses.dataclass
class Doc:
    package: str
    rel: str
    path: str
    text: str

    @property
    def key(self):
        return self.rel if self.package == debian_sources.STDLIB_PACKAGE else f"{self.package}:{self.rel}"

    @property
    def split(self):
        return "validation" if hashlib.sha1(self.key.encode("utf-8")).hexdigest().startswith("0") else "train"


def text_of(doc):
    return doc.text


# ------------------------------------------------------------------------------------------------- sources
def package_names(spec):
    path = spec if os.path.isfile(spec) else os.path.join(HERE, "packages.txt")
    names = debian_sources.read_package_list(path)
    return names if os.path.isfile(spec) else names[:int(spec)]


def fetch_packages(names, cache):
    """[(package record, unpacked root)] for the names that could be downloaded; the failures by name."""
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    failed = debian_sources.apt_download(names, debs, log)
    sources = []
    for name in names:
        deb = debian_sources.cached_deb(debs, name)
        if not deb:
            continue
        fields = debian_sources.deb_fields(deb)
        root = debian_sources.extract_deb(deb, os.path.join(cache, "root", name))
        path, reason = debian_sources.copyright_file(root, name)
        record = debian_sources.licence_record(name, fields.get("Version"), path, reason)
        record.update({"source": fields.get("Source", name).split(" ")[0], "deb_bytes": os.path.getsize(deb)})
        sources.append((record, root))
    return sources, failed


def stdlib_source(stdlib):
    package = debian_sources.STDLIB_PACKAGE
    path, reason = debian_sources.copyright_file("/", package)
    record = debian_sources.licence_record(package, debian_sources.installed_version(package), path, reason)
    record.update({"source": "python3.11", "deb_bytes": None, "root": stdlib})
    return record, stdlib


def collect(sources, limit=None):
    """The usable files of every source, in corpus order, and the count of each skip reason."""
    docs, reasons = [], {}
    for record, root in sources:
        is_stdlib = record["package"] == debian_sources.STDLIB_PACKAGE
        skips = python_files.stdlib_skips if is_stdlib else python_files.package_skips
        record["files_collected"] = record["bytes_collected"] = 0
        for rel, path, reason in python_files.walk_py(root, skips):
            text = None
            if reason is None:
                with open(path, "rb") as f:
                    text, reason = python_files.content_problem(f.read())
            if reason:
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
            docs.append(Doc(record["package"], rel, path, text))
            record["files_collected"] += 1
            record["bytes_collected"] += len(text.encode("utf-8"))
    if limit is not None:
        docs = docs[:limit]
    return docs, reasons


# ------------------------------------------------------------------------------------------------- stages
def stage_stats(docs):
    return {"files": len(docs), "bytes": sum(len(d.text.encode("utf-8")) for d in docs)}


def decontaminate_files(docs, decon):
    kept, dropped, flagged = [], [], {n: 0 for n in decon.sensitivity}
    for doc in docs:
        hits, others = decon.check(doc.text)
        for n, hit in others.items():
            flagged[n] += hit
        if hits:
            dropped.append((doc, hits))
        else:
            kept.append(doc)
    return kept, dropped, flagged


def extract_all_pairs(docs, decon):
    pairs, seen = [], set()
    counts = {"extracted": 0, "duplicate": 0, "contaminated": 0}
    for doc in docs:
        for pair in nl_pairs.extract_pairs(doc.text):
            counts["extracted"] += 1
            key = hashlib.sha256((pair["comment"] + "\0" + pair["code"]).encode("utf-8", "surrogatepass")).digest()
            if key in seen:
                counts["duplicate"] += 1
                continue
            seen.add(key)
            if decon.check(pair["comment"] + "\n" + pair["code"])[0]:
                counts["contaminated"] += 1
                continue
            pairs.append({**pair, "source": doc.key, "split": doc.split})
    return pairs, counts


# ------------------------------------------------------------------------------------------------- outputs
def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_shards(out, split, docs, licence_of):
    shards, size, rows = [], 0, []

    def flush():
        if rows:
            name = f"{split}-{len(shards):05d}.jsonl"
            write_jsonl(os.path.join(out, name), rows)
            shards.append(name)

    for doc in docs:
        rows.append({"key": doc.key, "package": doc.package, "licence": licence_of(doc.package), "text": doc.text})
        size += len(doc.text.encode("utf-8"))
        if size >= SHARD_BYTES:
            flush()
            rows, size = [], 0
    flush()
    with open(os.path.join(out, f"{split}.files.json"), "w") as f:
        json.dump([doc.path for doc in docs], f)
    return shards


def tokenize_split(out, split, tokenizer):
    """Runs models/tokenize_corpus.mjs on a split's file list; its token count (the <|endoftext|> not counted)."""
    run = subprocess.run(["node", os.path.join(ROOT, "models", "tokenize_corpus.mjs"), "--tokenizer", tokenizer,
                          "--corpus", os.path.join(out, f"{split}.files.json"), "--out", os.path.join(out, split)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"tokenize_corpus.mjs failed on {split}:\n{run.stderr[-4000:]}")
    with open(os.path.join(out, f"{split}.index.json")) as f:
        return sum(entry["count"] for entry in json.load(f))


def licence_histogram(records):
    hist = {}
    for r in records:
        name = debian_sources.canonical_licence(r.get("primary"))
        h = hist.setdefault(name, {"packages": 0, "files_kept": 0, "bytes_kept": 0})
        h["packages"] += 1
        h["files_kept"] += r.get("files_kept", 0)
        h["bytes_kept"] += r.get("bytes_kept", 0)
    return dict(sorted(hist.items(), key=lambda kv: (-kv[1]["bytes_kept"], kv[0])))


def dropped_rows(exact_dropped, near_dropped, decon_dropped):
    for doc, first in exact_dropped:
        yield {"key": doc.key, "stage": "exact", "duplicate_of": first.key}
    for doc, first, j in near_dropped:
        yield {"key": doc.key, "stage": "near", "cluster_kept": first.key, "jaccard": j}
    for doc, hits in decon_dropped:
        yield {"key": doc.key, "stage": "decontam", "benchmarks": sorted(hits), "shared_13gram": next(iter(hits.values()))}


# ------------------------------------------------------------------------------------------------- pipeline
def run_pipeline(docs, records, out, seed=15, data_dir=None, tokenizer=None):
    """Stages 2-6 on collected docs (in corpus order) and the package records; writes everything in out and
    returns the summary (also written as out/summary.json)."""
    data_dir = data_dir or os.path.join(ROOT, "data")
    stages = {"collected": stage_stats(docs)}
    mark("before_pipeline")
    kept, exact_dropped = dedup.exact_dedup(docs, text_of)
    mark("exact_dedup")
    stages["after_exact_dedup"] = stage_stats(kept)
    log(f"exact dedup: {len(docs)} -> {len(kept)} files")
    kept, near_dropped, near_info = dedup.near_dedup(kept, text_of, seed=seed, progress=log)
    mark("near_dedup")
    stages["after_near_dedup"] = stage_stats(kept)
    log(f"near dedup: -> {len(kept)} files ({near_info['candidate_buckets']} candidate buckets)")
    decon = Decontaminator(benchmark_texts(data_dir))
    kept, decon_dropped, flagged = decontaminate_files(kept, decon)
    mark("decontamination")
    stages["after_decontamination"] = stage_stats(kept)
    log(f"decontamination: -> {len(kept)} files ({len(decon_dropped)} dropped)")
    pairs, pair_counts = extract_all_pairs(kept, decon)
    mark("pairs")
    log(f"pairs: {len(pairs)}")

    os.makedirs(out, exist_ok=True)
    by_package = {r["package"]: r for r in records}
    licence_of = lambda package: by_package.get(package, {}).get("primary")  # noqa: E731
    splits = {s: [d for d in kept if d.split == s] for s in ("train", "validation")}
    random.Random(seed).shuffle(splits["train"])
    shards = {s: write_shards(out, s, d, licence_of) for s, d in splits.items()}
    write_jsonl(os.path.join(out, "pairs.jsonl"), pairs)
    write_jsonl(os.path.join(out, "files.jsonl"), (
        {"key": d.key, "package": d.package, "sha256": dedup.exact_key(d.text), "bytes": len(d.text.encode("utf-8")),
         "split": d.split, "licence": licence_of(d.package)} for d in kept))
    write_jsonl(os.path.join(out, "dropped.jsonl"), dropped_rows(exact_dropped, near_dropped, decon_dropped))
    for r in records:
        mine = [d for d in kept if d.package == r["package"]]
        r["files_kept"], r["bytes_kept"] = len(mine), sum(len(d.text.encode("utf-8")) for d in mine)
    write_jsonl(os.path.join(out, "licences.jsonl"), records)

    mark("write")
    split_info = {s: {**stage_stats(d), "shards": shards[s]} for s, d in splits.items()}
    if tokenizer:
        for s in splits:
            split_info[s]["tokens"] = tokenize_split(out, s, tokenizer)
            log(f"tokenized {s}: {split_info[s]['tokens']} tokens")
        mark("tokenize")
    decon_hits = {}
    for _doc, hits in decon_dropped:
        for pid in hits:
            decon_hits[pid] = decon_hits.get(pid, 0) + 1
    summary = {
        "stages": stages,
        "exact_dedup": {"dropped": len(exact_dropped)},
        "near_dedup": {**near_info, "dropped": len(near_dropped)},
        "decontamination": {**decon.describe(), "files_dropped": len(decon_dropped),
                            "files_dropped_by_benchmark_problem": dict(sorted(decon_hits.items())),
                            "examples": [{"key": d.key, "benchmarks": sorted(h), "shared_13gram": next(iter(h.values()))}
                                         for d, h in decon_dropped[:20]],
                            "files_that_would_be_flagged_at_n": {str(n): c for n, c in flagged.items()},
                            "pairs_dropped": pair_counts["contaminated"]},
        "pairs": {**pair_counts, "kept": len(pairs),
                  "by_kind": {k: sum(p["kind"] == k for p in pairs) for k in ("comment", "docstring")},
                  "by_split": {s: sum(p["split"] == s for p in pairs) for s in ("train", "validation")}},
        "splits": split_info,
        "licences": licence_histogram(records),
        "largest_packages": [{"package": r["package"], "licence": r.get("primary"), "files_kept": r["files_kept"],
                              "bytes_kept": r["bytes_kept"]} for r in sorted(records, key=lambda r: -r["bytes_kept"])[:15]],
        "packages_by_licence_kind": {"machine_readable": sum(r.get("machine_readable", False) for r in records),
                                     "not_machine_readable": sum(not r.get("machine_readable", False) for r in records)},
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/work/codegen-corpus")
    p.add_argument("--packages", default="300", help="the first N of models/data/packages.txt, or a list FILE")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--limit", type=int, default=None, help="only the first N collected files (a quick run)")
    p.add_argument("--stdlib", default="/usr/lib/python3.11")
    p.add_argument("--tokenize", action="store_true")
    p.add_argument("--tokenizer", default=os.path.join(ROOT, "out", "src", "engine", "tokenizer.js"))
    p.add_argument("--summary", default=None, help="also write the summary here")
    p.add_argument("--write-package-list", type=int, metavar="N", default=None)
    p.add_argument("--self-test", action="store_true")
    return p.parse_args(argv)


def check_out(out):
    real, root = os.path.realpath(out), os.path.realpath(ROOT)
    if real == root or real.startswith(root + os.sep):
        sys.exit(f"--out {out} is inside the repository: the corpus must not be committed; choose a folder outside it")
    return real


def main(argv=None):
    args = parse_args(argv)
    if args.self_test:
        import self_test
        return self_test.run()
    if args.write_package_list:
        names = debian_sources.write_package_list(os.path.join(HERE, "packages.txt"), args.write_package_list)
        log(f"wrote {len(names)} names to models/data/packages.txt")
        return 0
    out = check_out(args.out)
    if args.tokenize and not os.path.isfile(args.tokenizer):
        sys.exit(f"--tokenize needs the compiled tokenizer {args.tokenizer}: run `npx tsc -p .` first")
    names = package_names(args.packages)
    log(f"{len(names)} packages; downloading what {out}/cache lacks")
    sources, failed = fetch_packages(names, os.path.join(out, "cache"))
    mark("download_and_unpack")
    sources.insert(0, stdlib_source(args.stdlib))
    log(f"{len(sources) - 1} packages unpacked ({len(failed)} failed)")
    docs, reasons = collect(sources, args.limit)
    mark("collect")
    log(f"collected {len(docs)} files")
    records = [r for r, _ in sources]
    summary = run_pipeline(docs, records, out, seed=args.seed, tokenizer=args.tokenizer if args.tokenize else None)
    summary = {
        "command": "models/data/build_corpus.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "args": {k: v for k, v in vars(args).items() if k not in ("self_test", "write_package_list")},
        "packages": {"requested": len(names), "unpacked": len(sources) - 1, "failed": failed,
                     "deb_bytes": sum(r["deb_bytes"] or 0 for r in records),
                     "with_python_files": sum(r["files_collected"] > 0 for r in records if r["deb_bytes"] is not None),
                     "with_kept_files": sum(r["files_kept"] > 0 for r in records if r["deb_bytes"] is not None),
                     "stdlib": {"package": records[0]["package"], "version": records[0]["version"], "root": args.stdlib}},
        "skipped_at_collection": dict(sorted(reasons.items())),
        **summary,
        "seconds": {k: v for k, v in SECONDS.items() if k != "before_pipeline"},
        "wall_s": round(time.time() - STARTED, 1),
    }
    for path in [os.path.join(out, "summary.json")] + ([args.summary] if args.summary else []):
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
    log(f"done: {summary['splits']['train']['files']} train and {summary['splits']['validation']['files']} validation files, "
        f"{summary['pairs']['kept']} pairs, in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
