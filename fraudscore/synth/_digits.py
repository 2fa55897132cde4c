"""Vectorised helpers for digit strings: check digits and fast string building.

Private to :mod:`fraudscore.synth`. Digit strings are built as ``uint8`` matrices
(one row per value, one column per character) and turned into Python ``str``
objects in one numpy conversion, which is much faster than formatting row by row.

Examples
--------
>>> import numpy as np
>>> d = np.array([[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]], dtype=np.uint8)
>>> int(luhn_check_digit(d)[0])
3
>>> ascii_strings(np.array([[65, 49], [66, 50]], dtype=np.uint8)).tolist()
['A1', 'B2']
"""

from __future__ import annotations

import numpy as np

__all__ = ["luhn_check_digit", "luhn_valid", "ascii_strings", "digit_strings", "random_digits", "const_cols"]


_LUHN_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.uint8)


def luhn_check_digit(digits: np.ndarray) -> np.ndarray:
    """Luhn check digit for each row of a ``(n, k)`` digit matrix (payload without check digit)."""
    d = np.asarray(digits, dtype=np.uint8)
    k = d.shape[1]
    # the rightmost payload digit is doubled (it sits left of the check digit); doubled digits via a table
    double = ((k - 1 - np.arange(k)) % 2) == 0
    total = d[:, ~double].sum(axis=1, dtype=np.int64) + _LUHN_DOUBLE[d[:, double]].sum(axis=1, dtype=np.int64)
    return ((10 - total % 10) % 10).astype(np.uint8)


def luhn_valid(number: str) -> bool:
    """Whether a digit string passes the Luhn check.

    Examples
    --------
    >>> luhn_valid("79927398713"), luhn_valid("79927398710")
    (True, False)
    """
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        v = int(ch)
        if i % 2 == 1:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return total % 10 == 0


def ascii_strings(codes: np.ndarray) -> np.ndarray:
    """Turn a ``(n, k)`` matrix of ASCII codes into an object array of ``n`` str."""
    m = np.ascontiguousarray(codes, dtype=np.uint8)
    n, k = m.shape
    if k == 0:
        return np.full(n, "", dtype=object)
    return m.view(f"S{k}").reshape(n).astype(f"U{k}").astype(object)


def digit_strings(digits: np.ndarray, prefix: str = "") -> np.ndarray:
    """Object array of ``prefix`` + the digits of each row of a ``(n, k)`` digit matrix."""
    d = np.asarray(digits, dtype=np.uint8) + 48
    if prefix:
        d = np.concatenate([const_cols(prefix, d.shape[0]), d], axis=1)
    return ascii_strings(d)


def const_cols(text: str, n: int) -> np.ndarray:
    """``(n, len(text))`` matrix of the ASCII codes of ``text`` repeated on every row."""
    row = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.broadcast_to(row, (n, row.size))


def random_digits(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``(n, k)`` matrix of uniform random digits."""
    return rng.integers(0, 10, size=(n, k), dtype=np.uint8)


_VARIANT = "89AB" * 4  # RFC 4122 variant nibble, indexed by a random hex digit


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a deterministic scramble of uint64 values."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hex_strings(values: np.ndarray, upper: bool = False) -> np.ndarray:
    """Object array of 16-character hex strings of uint64 values."""
    text = np.asarray(values, dtype=np.uint64).astype(">u8").tobytes().hex()  # big-endian: digits in order
    if upper:
        text = text.upper()
    out = np.empty(len(text) // 16, dtype=object)
    out[:] = [text[i:i + 16] for i in range(0, len(text), 16)]
    return out


def _rand64(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + rng.integers(
        0, 2, size=n, dtype=np.int64).astype(np.uint64)


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    a, b = _hex_strings(_rand64(rng, n), upper=True).tolist(), _hex_strings(_rand64(rng, n), upper=True).tolist()
    return [f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{_VARIANT[int(y[0], 16)]}{y[1:4]}-{y[4:]}" for x, y in zip(a, b)]


def _imeis(rng: np.random.Generator, tacs: np.ndarray) -> np.ndarray:
    tac = (np.frombuffer("".join(tacs).encode("ascii"), dtype=np.uint8).reshape(len(tacs), 8) - 48).astype(np.uint8)
    payload = np.concatenate([tac, random_digits(rng, len(tacs), 6)], axis=1)
    return digit_strings(np.concatenate([payload, luhn_check_digit(payload)[:, None]], axis=1))
