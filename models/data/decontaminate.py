"""Decontamination: nothing that shares a 13-gram of words with MTPB or HumanEval stays in the training data.

Texts are compared as WORDS: lower-cased runs of word characters (regex \\w+); punctuation, whitespace and
formatting are ignored, so `x=f(a,b)` and `x = f( a, b )` are the same words. A corpus text is contaminated when
one of its word 13-grams is also a 13-gram of a benchmark text. Every hash match is confirmed by comparing the
words themselves, so there are no false positives from hashing.

Why 13: the n GPT-3 filtered its training data with (Brown et al. 2020, appendix C), long enough that a shared 13-gram is
not chance: in prose it is a copied sentence, and in code, where punctuation does not count, 13 words are two
or three lines (`for idx, elem in enumerate(numbers): for idx2, elem2 in enumerate(numbers):` is 10 words), so
a match is mostly a copied snippet rather than a common idiom like `for i in range(len(x)):` (6 words); a few
generic ones still match (two nested index loops are 13 words) and are dropped all the same, as losing a handful
of files costs nothing. Shorter n flag more idioms shared by unrelated code: the summary reports how many files
n = 8 and 10 would have flagged, to show what 13 lets through.

Benchmark texts (ids like MTPB/12, HumanEval/7):
  MTPB       per problem: its turns joined in order, as templates ({name} kept as the word `name`) and filled
             with each of its 5 test inputs (str.format, as the benchmark's sampler does); n-grams run across
             turns, as a program written turn by turn has them one after the other. MTPB ships no reference
             solutions, so its prompts are all there is to check.
  HumanEval  per problem: the prompt (signature and docstring), the canonical solution, the prompt followed by
             the solution (so a short solution is covered with the end of its prompt) and the test.
A text shorter than 13 words contributes nothing on its own, and n-grams of which fewer than half the words
are real words (numbers, single letters: the benchmarks' test data) are left out (see informative()).

Each corpus text is checked twice: as it is, and as its comment stream (the text after every `#`, joined), so
that MTPB turns written as comments with code between them (the product's own format) are still consecutive.
"""

import gzip
import json
import os
import re

import numpy as np

from hashing import token_hashes, window_hashes

N = 13
SENSITIVITY_N = (8, 10)
WORD_RE = re.compile(r"\w+")
COMMENT_RE = re.compile(r"#([^\n]*)")


def words(text):
    return WORD_RE.findall(text.lower())


def mtpb_texts(path):
    """(id, part, text) for every MTPB problem: its templated turns, and the turns filled with each input."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            problem = json.loads(line)
            pid = f"MTPB/{problem['id']}"
            out.append((pid, "prompts", "\n".join(problem["prompts"])))
            for k, values in enumerate(problem.get("inputs", [])):
                try:
                    filled = "\n".join(p.format(**values) for p in problem["prompts"])
                except (KeyError, IndexError, ValueError):
                    continue
                out.append((pid, f"prompts+input{k}", filled))
    return out


def humaneval_texts(path):
    """(id, part, text) for every HumanEval problem: prompt, canonical_solution, both together, test."""
    out = []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            problem = json.loads(line)
            pid = problem["task_id"]
            out.append((pid, "prompt", problem["prompt"]))
            out.append((pid, "canonical_solution", problem["canonical_solution"]))
            out.append((pid, "prompt+solution", problem["prompt"] + problem["canonical_solution"]))
            out.append((pid, "test", problem["test"]))
    return out


def benchmark_texts(data_dir):
    return mtpb_texts(os.path.join(data_dir, "mtpb.jsonl")) + humaneval_texts(os.path.join(data_dir, "HumanEval.jsonl.gz"))


def comment_stream(text):
    """Everything after a `#` on each line, joined: the turns of a program written the MTPB way (a comment, its
    code, the next comment) are consecutive here though code separates them in the file. A `#` inside a string
    adds text too, which can only catch more."""
    return "\n".join(COMMENT_RE.findall(text))


def informative(gram):
    """Whether at least half the words of an n-gram are real words (a letter, two characters or more): runs of
    numbers or single letters (`0 1 2 3 ...`, `0 0 0 ...`, `j k l m ...`, test data of both benchmarks) are
    in every numeric library and say nothing about contamination."""
    return 2 * sum(len(w) > 1 and not w.isdigit() and any(c.isalpha() for c in w) for w in gram) >= len(gram)


class NgramIndex:
    """The word n-grams of the benchmark texts: hash -> (words, the benchmark ids that have them)."""

    def __init__(self, texts, n=N):
        self.n = n
        self.entries = {}
        for pid, _part, text in texts:
            ws = words(text)
            for i, h in enumerate(window_hashes(token_hashes(ws), n).tolist()):
                gram = tuple(ws[i:i + n])
                if not informative(gram):
                    continue
                entry = self.entries.setdefault(h, {})
                entry.setdefault(gram, set()).add(pid)
        self.keys = np.array(sorted(self.entries), dtype=np.uint64)

    def __len__(self):
        return sum(len(grams) for grams in self.entries.values())

    def hits_in(self, ws, hashes):
        """{benchmark id: one shared n-gram (a str)} for a text given as its words and their token hashes."""
        grams = window_hashes(hashes, self.n)
        found = {}
        if len(grams) == 0 or len(self.keys) == 0:
            return found
        at = np.minimum(np.searchsorted(self.keys, grams), len(self.keys) - 1)
        for i in np.nonzero(self.keys[at] == grams)[0].tolist():
            gram = tuple(ws[i:i + self.n])
            for pid in self.entries[int(grams[i])].get(gram, ()):
                found.setdefault(pid, " ".join(gram))
        return found


class Decontaminator:
    """The 13-gram index that decides, and the 8- and 10-gram ones that are only counted (see the module doc)."""

    def __init__(self, texts):
        self.index = NgramIndex(texts, N)
        self.sensitivity = {n: NgramIndex(texts, n) for n in SENSITIVITY_N}
        self.benchmark_ids = sorted({pid for pid, _, _ in texts})

    def check(self, text):
        """({benchmark id: shared 13-gram}, {n: whether an n-gram index also matched} for the sensitivity n),
        over the text and over its comment stream."""
        hits, others = {}, {n: False for n in self.sensitivity}
        for view in (text, comment_stream(text)):
            ws = words(view)
            hashes = token_hashes(ws)
            for pid, gram in self.index.hits_in(ws, hashes).items():
                hits.setdefault(pid, gram)
            for n, index in self.sensitivity.items():
                others[n] = others[n] or bool(index.hits_in(ws, hashes))
        return hits, others

    def describe(self):
        return {"n": N, "tokens": "lower-cased \\w+ words (punctuation and whitespace ignored)",
                "benchmark_problems": len(self.benchmark_ids), "benchmark_ngrams": len(self.index),
                "sensitivity_n": list(SENSITIVITY_N)}
