"""Exact and near-duplicate removal of source files.

Exact: the sha256 of the normalised text (newlines as \\n, trailing whitespace of every line and blank lines at
both ends removed) identifies a file; the first file of each hash (in the caller's order) is kept.

Near: a file is the set of its token 5-grams (tokens: runs of word characters, or one other non-space character,
so formatting does not matter). Two files are near-duplicates when the Jaccard similarity of their sets is at
least the threshold (0.85 by default, as BigCode used for The Stack). Candidates come from MinHash with
locality-sensitive hashing: 128 hash functions (multiply-shift, from a seeded generator), cut into 16 bands of
8; files sharing a band are candidates (a pair at Jaccard 0.85 shares one with probability 0.994, at 0.7 with
0.61). Every candidate pair is then checked with the EXACT Jaccard of the two sets, so MinHash only finds pairs,
it never decides them. Confirmed pairs are joined (union-find) and each cluster keeps its first file in the
caller's order.
"""

import hashlib
import re

import numpy as np

from hashing import token_hashes, window_hashes

SHINGLE = 5
TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def normalise(text):
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def exact_key(text):
    return hashlib.sha256(normalise(text).encode("utf-8", "surrogatepass")).hexdigest()


def exact_dedup(docs, text_of):
    """(kept, dropped): dropped is a list of (doc, the kept doc it duplicates)."""
    first = {}
    kept, dropped = [], []
    for doc in docs:
        key = exact_key(text_of(doc))
        if key in first:
            dropped.append((doc, first[key]))
        else:
            first[key] = doc
            kept.append(doc)
    return kept, dropped


def shingles(text, n=SHINGLE):
    """The sorted, unique 64-bit hashes of the text's token n-grams (a text shorter than n: its whole token list)."""
    tokens = TOKEN_RE.findall(text)
    hashes = token_hashes(tokens)
    windows = window_hashes(hashes, min(n, len(tokens))) if tokens else np.zeros(0, dtype=np.uint64)
    return np.unique(windows)


def jaccard(a, b):
    """Exact Jaccard similarity of two sorted unique uint64 arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class MinHasher:
    """num_perm multiply-shift hashes h(x) = (a*x + b mod 2**64) >> 32 with odd a, drawn from the seed."""

    def __init__(self, num_perm=128, seed=0):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)

    def signature(self, shingle_set, block=4096):
        sig = np.full(len(self.a), np.iinfo(np.uint64).max, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, len(shingle_set), block):
                x = shingle_set[start:start + block, None]
                sig = np.minimum(sig, ((x * self.a + self.b) >> np.uint64(32)).min(axis=0))
        return sig.astype(np.uint32)


class UnionFind:
    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i, j):
        """Joins the two sets under the smaller index (the earlier file stays the representative)."""
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def lsh_buckets(signatures, bands):
    """Lists of file indices (ascending) that share one band of their signature; only lists of 2 or more."""
    rows = signatures.shape[1] // bands
    buckets = {}
    for i, sig in enumerate(signatures):
        for band in range(bands):
            key = (band, sig[band * rows:(band + 1) * rows].tobytes())
            buckets.setdefault(key, []).append(i)
    return [members for members in buckets.values() if len(members) > 1]


def confirm_bucket(members, sets, threshold, uf, similarity, max_reps=32):
    """Checks a bucket's files against its representatives so far (not all pairs: a bucket of k near-copies costs
    O(k), not O(k^2)); a file similar to none becomes a representative (up to max_reps)."""
    reps = []
    for i in members:
        for r in reps:
            if uf.find(i) == uf.find(r):
                break
            small, large = sorted((len(sets[i]), len(sets[r])))
            if large and small / large < threshold:  # Jaccard <= |smaller| / |larger|
                continue
            j = jaccard(sets[i], sets[r])
            if j >= threshold:
                uf.union(i, r)
                similarity[i] = max(similarity.get(i, 0.0), j)
                break
        else:
            if len(reps) < max_reps:
                reps.append(i)


def near_dedup(docs, text_of, threshold=0.85, num_perm=128, bands=16, seed=0, progress=None):
    """(kept, dropped, stats): dropped is a list of (doc, the kept doc of its cluster, Jaccard to a cluster member)."""
    hasher = MinHasher(num_perm, seed)
    sets, signatures = [], np.zeros((len(docs), num_perm), dtype=np.uint32)
    for i, doc in enumerate(docs):
        sets.append(shingles(text_of(doc)))
        signatures[i] = hasher.signature(sets[-1])
        if progress and (i + 1) % 5000 == 0:
            progress(f"minhash {i + 1}/{len(docs)}")
    buckets = lsh_buckets(signatures, bands)
    uf, similarity = UnionFind(len(docs)), {}
    for members in buckets:
        confirm_bucket(members, sets, threshold, uf, similarity)
    kept, dropped = [], []
    for i, doc in enumerate(docs):
        root = uf.find(i)
        if root == i:
            kept.append(doc)
        else:
            dropped.append((doc, docs[root], round(similarity.get(i, threshold), 4)))
    stats = {"shingle": SHINGLE, "num_perm": num_perm, "bands": bands, "rows": num_perm // bands,
             "threshold": threshold, "seed": seed, "candidate_buckets": len(buckets),
             "clusters_with_duplicates": len({uf.find(i) for i in range(len(docs)) if uf.find(i) != i})}
    return kept, dropped, stats
