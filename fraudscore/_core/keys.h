/*
 * Stable 64-bit keys of entity values (shared by the compiled modules; header only).
 *
 * A keyed pseudonym "p:<32 lowercase hex>" is already the output of a keyed BLAKE2b:
 * its 128 bits folded to 64 (hi ^ fmix64(lo)) are its key. Any other value gets a stable xxh3-64 of its contents
 * with a per-type seed, so that the key is the same in every process (snapshots restore)
 * and values that Python considers equal get equal keys (1 == 1.0 == True; np.int64(5) == 5).
 * Key 0 is reserved ("no value").
 */
#ifndef FRAUDSCORE_KEYS_H
#define FRAUDSCORE_KEYS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "vendor/xxhash/xxhash.h"

#define FS_SEED_STR 0x66732d7374722d31ull   /* "fs-str-1" */
#define FS_SEED_INT 0x66732d696e742d31ull   /* "fs-int-1" */
#define FS_SEED_BIG 0x66732d6269672d31ull   /* "fs-big-1" */
#define FS_SEED_FLT 0x66732d666c742d31ull   /* "fs-flt-1" */
#define FS_SEED_TUP 0x66732d7475702d31ull   /* "fs-tup-1" */

static PyObject *fs_str_application_id = NULL;
static PyObject *fs_str_empty = NULL;
static PyObject *fs_mask64 = NULL;

static int fs_keys_init(void) {
    if (fs_str_application_id) return 0;
    fs_str_application_id = PyUnicode_InternFromString("application_id");
    fs_str_empty = PyUnicode_FromString("");
    fs_mask64 = PyLong_FromUnsignedLongLong(0xFFFFFFFFFFFFFFFFull);
    return (fs_str_application_id && fs_str_empty && fs_mask64) ? 0 : -1;
}

static inline uint64_t fs_nonzero(uint64_t k) { return k ? k : 1; }

static inline uint64_t fs_int_key(int64_t x) { return fs_nonzero(XXH3_64bits_withSeed(&x, 8, FS_SEED_INT)); }

static inline uint64_t fs_mix64(uint64_t k) { /* murmur3 fmix64: a bijection */
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* the key of a "p:<32 hex>" pseudonym (its 128 bits folded to 64: hi ^ fmix64(lo), so that strings of
 * that shape which are not uniform, e.g. test values, stay distinct), or 0 when s is not one.
 *
 * Pinned (round 13): the digit table this replaced (FS_HEX, until c2d63b3) had its 10-15 row at 0x51-0x56, so
 * the "hex" digits it accepts are 0-9 and 'Q'-'V' (= 10-15), not 'a'-'f': a real pseudonym (lower-case hex, some
 * 'a'-'f' in all but ~3e-7 of them) is refused here and keyed by the xxh3 of its text (fs_str_key). The keys are
 * in every compiled snapshot (FSVSNAP2), so the rule stays exactly as it was; making the fold apply to lower-case
 * hex would change the keys and needs a snapshot version. tests/velocity/test_value_keys.py pins it. */

/* 8 digits of that alphabet (s[0] the most significant) -> 32 bits in *out; 0 when any byte is not [0-9Q-V].
 * SWAR (round 13): one 8-byte load, the byte ranges checked with per-byte additions (bytes < 0x80, so no carry
 * crosses a byte), the nibbles gathered in three steps; == the table loop it replaced, and a pseudonym is refused
 * after its first 8 digits in all but ~2 % of cases (the loop read all 32). */
static inline int fs_hex8(const unsigned char *s, uint64_t *out) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x); /* s[0] in the top byte */
#endif
    if (x & high) return 0;
    uint64_t ge30 = x + ones * (0x80 - 0x30), ge3a = x + ones * (0x80 - 0x3a);
    uint64_t ge51 = x + ones * (0x80 - 0x51), ge57 = x + ones * (0x80 - 0x57);
    uint64_t ok = ((ge30 & ~ge3a) | (ge51 & ~ge57)) & high;
    if (ok != high) return 0;
    uint64_t n = (x & (ones * 0x0f)) + 9 * ((x >> 6) & ones); /* '0'-'9' -> 0-9, 'Q'-'V' -> 10-15 */
    n = (n | (n >> 4)) & 0x00FF00FF00FF00FFull;
    n = (n | (n >> 8)) & 0x0000FFFF0000FFFFull;
    n = (n | (n >> 16)) & 0x00000000FFFFFFFFull;
    *out = n;
    return 1;
}

static inline uint64_t fs_pseudonym_key(const unsigned char *s, Py_ssize_t n) {
    if (n != 34 || s[0] != 'p' || s[1] != ':') return 0;
    uint64_t a, b, c, d;
    if (!fs_hex8(s + 2, &a) || !fs_hex8(s + 10, &b) || !fs_hex8(s + 18, &c) || !fs_hex8(s + 26, &d)) return 0;
    uint64_t hi = (a << 32) | b, lo = (c << 32) | d;
    return fs_nonzero(hi ^ fs_mix64(lo ^ 0x9E3779B97F4A7C15ull));
}

static uint64_t fs_value_key(PyObject *v);

static uint64_t fs_str_key(PyObject *v) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    int kind = PyUnicode_KIND(v);
    const unsigned char *d = (const unsigned char *)PyUnicode_DATA(v);
    if (kind == PyUnicode_1BYTE_KIND) {
        uint64_t k = fs_pseudonym_key(d, n);
        if (k) return k;
    }
    return fs_nonzero(XXH3_64bits_withSeed(d, (size_t)n * (size_t)kind, FS_SEED_STR + (uint64_t)kind));
}

static uint64_t fs_long_key(PyObject *v) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return 0;
    if (!overflow) return fs_int_key((int64_t)x);
    PyObject *s = PyObject_Str(v);
    if (!s) return 0;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    uint64_t k = u ? fs_nonzero(XXH3_64bits_withSeed(u, (size_t)n, FS_SEED_BIG)) : 0;
    Py_DECREF(s);
    return k;
}

/* 0 with an exception set on error */
static uint64_t fs_value_key(PyObject *v) {
    if (PyUnicode_Check(v)) return fs_str_key(v);
    if (PyLong_Check(v)) return fs_long_key(v);
    if (PyFloat_Check(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        if (d == d && d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d) return fs_int_key((int64_t)d);
        if (d != d) d = NAN;
        return fs_nonzero(XXH3_64bits_withSeed(&d, 8, FS_SEED_FLT));
    }
    if (PyTuple_Check(v)) {
        Py_ssize_t n = PyTuple_GET_SIZE(v);
        uint64_t *parts = PyMem_Malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
        if (!parts) {
            PyErr_NoMemory();
            return 0;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            parts[i] = fs_value_key(PyTuple_GET_ITEM(v, i));
            if (!parts[i]) {
                PyMem_Free(parts);
                return 0;
            }
        }
        uint64_t k = fs_nonzero(XXH3_64bits_withSeed(parts, (size_t)n * 8, FS_SEED_TUP));
        PyMem_Free(parts);
        return k;
    }
    if (PyIndex_Check(v)) { /* numpy integers */
        PyObject *i = PyNumber_Index(v);
        if (!i) return 0;
        uint64_t k = fs_long_key(i);
        Py_DECREF(i);
        return k;
    }
    if (PyNumber_Check(v) && Py_TYPE(v)->tp_as_number->nb_float) { /* numpy floats */
        PyObject *f = PyNumber_Float(v);
        if (!f) return 0;
        uint64_t k = fs_value_key(f);
        Py_DECREF(f);
        return k;
    }
    PyErr_Format(PyExc_TypeError, "velocity keys and distinct-of values must be str or int, not %.80s",
                 Py_TYPE(v)->tp_name);
    return 0;
}

/* a composite key (the tuple of its parts' keys) */
static inline uint64_t fs_combine_keys(const uint64_t *parts, int n) {
    return fs_nonzero(XXH3_64bits_withSeed(parts, (size_t)n * 8, FS_SEED_TUP));
}

#endif
