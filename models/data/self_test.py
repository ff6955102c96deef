"""Offline tests of the corpus pipeline on synthetic files (no apt, no network): `build_corpus.py --self-test`.

Run by test/models/corpusPipeline.test.ts in `npm test`. The benchmark files are the repository's own data/, so
decontamination is tested against the real MTPB and HumanEval.
"""

import json
import os
import random
import sys
import tempfile
import unittest

import numpy as np

import build_corpus
import debian_sources
import dedup
import nl_pairs
import python_files
from decontaminate import Decontaminator, benchmark_texts, humaneval_texts, mtpb_texts

DATA = os.path.join(build_corpus.ROOT, "data")
WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud ember frost grove "
         "harbor island jungle lantern meadow nectar orbit prism quartz raven summit tundra valley willow yarrow "
         "zenith anchor bramble cinder dune fable glacier hollow iris jasper kelp lotus maple nimbus").split()


def synthetic_module(seed, functions=8):
    """Python source of plausible shape whose identifiers come from a seeded draw (different seeds: unrelated)."""
    rng = random.Random(seed)
    name = lambda: "_".join(rng.sample(WORDS, 2))  # noqa: E731
    out = [f"import {name()}", ""]
    for _ in range(functions):
        a, b, c = name(), name(), name()
        out += [f"def {name()}({a}, {b}):", f"    {c} = {a} + {b} * {rng.randint(2, 99)}",
                f"    if {c} > {rng.randint(100, 999)}:", f"        return {name()}({c}, {a})",
                f"    return [{b} for {b} in {c} if {b}]", ""]
    return "\n".join(out) + "\n"


def humaneval_problem(task_id):
    with_solution = [t for t in humaneval_texts(os.path.join(DATA, "HumanEval.jsonl.gz")) if t[0] == task_id]
    return {part: text for _, part, text in with_solution}


def mtpb_turns(problem_id):
    return [text for pid, part, text in mtpb_texts(os.path.join(DATA, "mtpb.jsonl"))
            if pid == f"MTPB/{problem_id}" and part == "prompts+input0"][0].split("\n")


DOCSTRING_FILE = '''\
import json


def load_settings(path):
    """Read the JSON settings file at path and return it as a dictionary.

    Missing files give an empty dictionary.
    """
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
'''

COMMENT_FILE = '''\
# Copyright (c) 2020 Somebody. Licensed under the MIT License.
import os

def tidy(folder):
    # Collect the names of the hidden files in the folder
    names = os.listdir(folder)
    hidden = [n for n in names if n.startswith(".")]

    # x = compute(hidden)
    total = len(hidden)  # noqa: E501
    return hidden, total
'''


class DedupTest(unittest.TestCase):
    def test_exact_duplicates_ignore_newlines_and_trailing_spaces(self):
        a = synthetic_module(1)
        b = a.replace("\n", "   \r\n")
        kept, dropped = dedup.exact_dedup([a, b, synthetic_module(2)], lambda t: t)
        self.assertEqual(kept, [a, synthetic_module(2)])
        self.assertEqual(dropped, [(b, a)])

    def test_near_duplicate_dropped_distinct_kept(self):
        base = synthetic_module(3, functions=12)
        lines = base.split("\n")
        near = "\n".join(lines[:10] + ["    extra = 1"] + lines[11:40] + ["    return None"] + lines[41:])
        half = "\n".join(lines[:36]) + "\n" + synthetic_module(4, functions=6)
        docs = [base, near, half, synthetic_module(5, functions=12)]
        self.assertGreaterEqual(dedup.jaccard(dedup.shingles(base), dedup.shingles(near)), 0.85)
        self.assertLess(dedup.jaccard(dedup.shingles(base), dedup.shingles(half)), 0.85)
        kept, dropped, stats = dedup.near_dedup(docs, lambda t: t, seed=7)
        self.assertEqual(kept, [base, half, synthetic_module(5, functions=12)])
        self.assertEqual([(d, k) for d, k, _ in dropped], [(near, base)])
        self.assertEqual((stats["num_perm"], stats["bands"], stats["threshold"]), (128, 16, 0.85))

    def test_minhash_is_seeded_and_estimates_jaccard(self):
        a, b = dedup.shingles(synthetic_module(6)), dedup.shingles(synthetic_module(6) + synthetic_module(7))
        s1, s2 = dedup.MinHasher(128, 1), dedup.MinHasher(128, 1)
        self.assertTrue(np.array_equal(s1.signature(a), s2.signature(a)))
        estimate = float(np.mean(s1.signature(a) == s1.signature(b)))
        self.assertAlmostEqual(estimate, dedup.jaccard(a, b), delta=0.15)

    def test_shingles_ignore_formatting(self):
        self.assertTrue(np.array_equal(dedup.shingles("x=f(a,b)\n"), dedup.shingles("x = f( a, b )  \n")))


class DecontaminationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.decon = Decontaminator(benchmark_texts(DATA))

    def test_loads_every_problem(self):
        self.assertEqual(len(self.decon.benchmark_ids), 115 + 164)

    def test_mtpb_turns_as_comments_are_caught(self):
        text = "\n".join(f"# {turn}\nstep_{i} = None" for i, turn in enumerate(mtpb_turns(1)))
        hits, _ = self.decon.check(text)
        self.assertIn("MTPB/1", hits)

    def test_humaneval_solution_reformatted_is_caught(self):
        problem = humaneval_problem("HumanEval/0")
        pasted = synthetic_module(8) + problem["prompt"].replace("    ", "\t") + problem["canonical_solution"]
        hits, _ = self.decon.check(pasted)
        self.assertIn("HumanEval/0", hits)
        self.assertEqual(len(hits["HumanEval/0"].split()), 13)

    def test_twelve_words_are_not_enough(self):
        words = " ".join(mtpb_turns(2)).split()
        self.assertEqual(self.decon.check(" ".join(words[:12]))[0], {})
        self.assertIn("MTPB/2", self.decon.check(" ".join(words[:13]))[0])

    def test_number_runs_and_letter_runs_are_not_evidence(self):
        self.assertEqual(self.decon.check(" ".join(str(i) for i in range(40)))[0], {})
        self.assertEqual(self.decon.check("0, " * 40)[0], {})
        self.assertEqual(self.decon.check(" ".join("abcdefghijklmnopqrstuvwxyz"))[0], {})

    def test_clean_code_passes(self):
        self.assertEqual(self.decon.check(synthetic_module(9))[0], {})


class PairsTest(unittest.TestCase):
    def test_docstring_pair(self):
        pairs = nl_pairs.extract_pairs(DOCSTRING_FILE)
        self.assertEqual(len(pairs), 1)
        pair = pairs[0]
        self.assertEqual(pair["kind"], "docstring")
        self.assertEqual(pair["comment"], "Read the JSON settings file at path and return it as a dictionary.")
        self.assertTrue(pair["code"].startswith("def load_settings(path):\n    try:"))
        self.assertNotIn('"""', pair["code"])

    def test_comment_pair_stops_at_the_blank_line_and_filters_noise(self):
        pairs = nl_pairs.extract_pairs(COMMENT_FILE)
        self.assertEqual([(p["kind"], p["comment"]) for p in pairs],
                         [("comment", "Collect the names of the hidden files in the folder")])
        self.assertEqual(pairs[0]["code"], 'names = os.listdir(folder)\nhidden = [n for n in names if n.startswith(".")]')
        self.assertEqual(pairs[0]["line"], 5)

    def test_filters(self):
        self.assertFalse(nl_pairs.good_text("x = compute(hidden)"))
        self.assertFalse(nl_pairs.good_text("Licensed under the Apache License"))
        self.assertFalse(nl_pairs.good_text("TODO make this faster"))
        self.assertFalse(nl_pairs.good_text("sort"))
        self.assertTrue(nl_pairs.good_text("Sort the list of names alphabetically"))
        self.assertEqual(nl_pairs.extract_pairs("def broken(:\n"), [])


class CollectionTest(unittest.TestCase):
    def test_file_filters(self):
        self.assertEqual(python_files.content_problem(b"x = 1\n")[1], "too-small")
        self.assertEqual(python_files.content_problem(b"# Generated by protoc. DO NOT EDIT!\n" + b"x = 1\n" * 40)[1], "generated")
        self.assertEqual(python_files.content_problem(b"print 'python 2'\n" * 20)[1], "syntax-error")
        self.assertEqual(python_files.content_problem(b"x = '" + b"a" * 2000 + b"'\n")[1], "long-lines")
        self.assertEqual(python_files.content_problem(b"\xff\xfe" * 100)[1], "not-utf8")
        text, problem = python_files.content_problem(synthetic_module(10).encode())
        self.assertIsNone(problem)
        self.assertEqual(python_files.package_skips(["pkg", "tests"], "a.py"), "test-or-generated-folder")
        self.assertEqual(python_files.package_skips(["pkg"], "conftest.py"), "test-file")
        self.assertEqual(python_files.stdlib_skips(["encodings"], "cp1252.py"), "test-or-data-folder")
        self.assertIsNone(python_files.package_skips(["usr", "lib", "python3", "dist-packages", "pkg"], "core.py"))


class SourcesTest(unittest.TestCase):
    DEP5 = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n"
            "Files: *\nCopyright: 2020 A\nLicense: Expat\n\nFiles: debian/*\nCopyright: 2021 B\nLicense: GPL-2+\n\n"
            "Files: x/vendored/*\nCopyright: 2019 C\nLicense: BSD-3-clause\n\nLicense: Expat\n Permission is hereby granted\n")

    def test_machine_readable_copyright(self):
        info = debian_sources.parse_copyright(self.DEP5)
        self.assertEqual((info["machine_readable"], info["primary"], info["licences"]), (True, "Expat", ["Expat", "BSD-3-clause"]))

    def test_free_form_copyright_is_a_marked_guess(self):
        info = debian_sources.parse_copyright("This package was debianized by X.\n\nLicensed under the Apache License, Version 2.0\n")
        self.assertEqual((info["machine_readable"], info["primary"]), (False, "guess:Apache-2.0"))
        self.assertEqual(info["head"][0], "This package was debianized by X.")
        both = debian_sources.parse_copyright("Redistribution and use in source and binary forms ... Apache License, Version 2.0")
        self.assertEqual(both["licences"], ["guess:BSD", "guess:Apache-2.0"])
        self.assertEqual([debian_sources.canonical_licence(n) for n in ("BSD-3-clause", "apache-2", "guess:expat", None)],
                         ["BSD-3-Clause", "Apache-2.0", "guess:Expat", "unknown"])

    def test_package_choice(self):
        stanzas = debian_sources.parse_stanzas(
            "Package: python3-a\nSize: 10\nDepends: python3-b\n\nPackage: python3-b\nSize: 10\n\n"
            "Package: python3-b-dbg\nSize: 10\n\nPackage: python3-c\nSize: 10\nDescription: transitional package\n\n"
            "Package: app\nDepends: python3-b, python3-a (>= 1) | python3-z\n\nPackage: python3-big\nSize: 99999999\n")
        self.assertEqual(debian_sources.choose_packages(stanzas, 10), [("python3-b", 2), ("python3-a", 1)])


class PipelineTest(unittest.TestCase):
    """Synthetic files in a temporary 'package' tree, through collect() and every stage of run_pipeline()."""

    def test_end_to_end(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "root")
            base = synthetic_module(11, functions=12)
            lines = base.split("\n")
            he = humaneval_problem("HumanEval/2")
            files = {
                "pkg/core.py": base,
                "pkg/vendored_core.py": base.replace("\n", "  \n"),
                "pkg/edited_core.py": "\n".join(lines[:20] + ["    tweaked = True"] + lines[21:]),
                "pkg/settings.py": DOCSTRING_FILE + synthetic_module(12),
                "pkg/tidy.py": COMMENT_FILE + synthetic_module(13),
                "pkg/lesson.py": "\n".join(f"# {t}\nstep_{i} = None" for i, t in enumerate(mtpb_turns(3))) + "\n",
                "pkg/solved.py": he["prompt"] + he["canonical_solution"],
                "pkg/tests/test_core.py": synthetic_module(14),
            }
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w") as f:
                    f.write(text)
            record = {"package": "python3-synthetic", "version": "1", "primary": "Expat", "deb_bytes": 1}
            docs, reasons = build_corpus.collect([(record, root)])
            self.assertEqual(reasons, {"test-or-generated-folder": 1})
            out = os.path.join(tmp, "out")
            summary = build_corpus.run_pipeline(docs, [record], out, seed=3, data_dir=DATA)

            stages = summary["stages"]
            self.assertEqual([stages[s]["files"] for s in ("collected", "after_exact_dedup", "after_near_dedup", "after_decontamination")],
                             [7, 6, 5, 3])
            dropped = {}
            for row in map(json.loads, open(os.path.join(out, "dropped.jsonl"))):
                dropped[row["key"]] = row
            self.assertEqual(dropped["python3-synthetic:pkg/vendored_core.py"]["duplicate_of"], "python3-synthetic:pkg/core.py")
            self.assertEqual(dropped["python3-synthetic:pkg/edited_core.py"]["stage"], "near")
            self.assertEqual(dropped["python3-synthetic:pkg/lesson.py"]["benchmarks"], ["MTPB/3"])
            self.assertEqual(dropped["python3-synthetic:pkg/solved.py"]["benchmarks"], ["HumanEval/2"])

            pairs = [json.loads(line) for line in open(os.path.join(out, "pairs.jsonl"))]
            self.assertEqual(sorted((p["kind"], p["source"]) for p in pairs),
                             [("comment", "python3-synthetic:pkg/tidy.py"), ("docstring", "python3-synthetic:pkg/settings.py")])
            kept = [json.loads(line) for line in open(os.path.join(out, "files.jsonl"))]
            self.assertEqual(sorted(k["key"].split(":")[1] for k in kept), ["pkg/core.py", "pkg/settings.py", "pkg/tidy.py"])
            sharded = []
            for split, info in summary["splits"].items():
                for shard in info["shards"]:
                    sharded += [json.loads(line)["key"] for line in open(os.path.join(out, shard))]
                self.assertEqual(len(json.load(open(os.path.join(out, f"{split}.files.json")))), info["files"])
            self.assertEqual(sorted(sharded), sorted(k["key"] for k in kept))
            self.assertEqual(summary["licences"]["Expat"]["files_kept"], 3)
            self.assertEqual(json.load(open(os.path.join(out, "summary.json")))["pairs"]["kept"], 2)

    def test_out_inside_the_repository_is_refused(self):
        with self.assertRaises(SystemExit):
            build_corpus.check_out(os.path.join(build_corpus.ROOT, "corpus"))

    def test_split_follows_train_small_codegen(self):
        import hashlib
        for rel in ("json/decoder.py", "asyncio/tasks.py", "os.py"):
            doc = build_corpus.Doc(debian_sources.STDLIB_PACKAGE, rel, "/x", "")
            self.assertEqual(doc.split == "validation", hashlib.sha1(rel.encode()).hexdigest().startswith("0"))
        self.assertEqual(build_corpus.Doc("python3-x", "a.py", "/x", "").key, "python3-x:a.py")


def run():
    build_corpus.log = lambda msg: None  # the pipeline's progress lines would interleave with the test report
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    print(f"self-test: {result.testsRun} tests, {len(result.failures)} failures, {len(result.errors)} errors")
    return 0 if result.wasSuccessful() else 1
