"""Deterministic hashes of tokens and of token windows (n-grams), vectorised with numpy.

Python's own hash() of a str changes from run to run (PYTHONHASHSEED), so tokens are hashed with CRC-32 and
windows of n consecutive token hashes are combined into one 64-bit value: a weighted sum with fixed odd
constants (wrapping mod 2**64), then the splitmix64 finaliser so that the bits are well mixed. The same tokens
always give the same hashes, on any machine, whatever the order files are read in.
"""

import zlib

import numpy as np

MASK64 = (1 << 64) - 1
# Fixed odd 64-bit multipliers, one per position in a window (enough for n <= 16); from a fixed-seed generator so
# that they are documented by this line rather than pasted in.
_WEIGHTS = np.random.default_rng(0x5EED_C0DE).integers(1, 2**63, size=16, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def token_hashes(tokens):
    """CRC-32 of each token (UTF-8), as a uint64 array in token order."""
    table = {t: zlib.crc32(t.encode("utf-8", "surrogatepass")) for t in set(tokens)}
    return np.fromiter((table[t] for t in tokens), dtype=np.uint64, count=len(tokens))


def mix64(x):
    """splitmix64's finaliser, elementwise on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def window_hashes(hashes, n):
    """One 64-bit hash per window of n consecutive token hashes (len(hashes) - n + 1 of them; none if shorter)."""
    if n > len(_WEIGHTS):
        raise ValueError(f"windows of at most {len(_WEIGHTS)} tokens")
    count = len(hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        acc = np.zeros(count, dtype=np.uint64)
        for i in range(n):
            acc += hashes[i:i + count] * _WEIGHTS[i]
        return mix64(acc)
