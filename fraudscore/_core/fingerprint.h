/*
 * fraudscore._core.fingerprint -- what its C files share: the Hasher object (the keyed xxh3 secret and
 * seed), the one-shot hash buffer (HB) and the functions one file defines for another.
 *
 * One extension module, split by the Python module each part mirrors:
 *   fingerprint.c            the Hasher type, h / hex / components, the method tables, module init
 *   fingerprint_sections.c   sections1: Fingerprinter.from_canonical's hashing (sections.py)
 *   fingerprint_canonical.c  canon_values, values_size, mapping_key: canonicalize's loop (canonical.py)
 *   fingerprint_build.c      build1 / assemble1: canonicalize + from_canonical in one call
 *   fingerprint_signals.c    signal_row: device_signal_values' cached path (signals.py)
 */
#ifndef FS_FINGERPRINT_H
#define FS_FINGERPRINT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "vendor/xxhash/xxhash.h"

#define MASK48 0xFFFFFFFFFFFFull

typedef struct {
    PyObject_HEAD
    uint64_t seed;
    Py_ssize_t plen;
    unsigned char prefix[64];
} Hasher;

static const char HEX[] = "0123456789abcdef";

/* A keyed hash input built in a buffer and hashed in one shot: XXH3_64bits_withSeed over the bytes equals the
 * streaming state's digest of the same bytes (and skips its set-up); an input longer than the buffer continues
 * in a streaming state. */
typedef struct {
    uint64_t seed;
    size_t n;
    int streaming;
    unsigned char buf[1024];
    XXH3_state_t st;
} HB;

/* the buffer is full (or the state streams): continue in the streaming state */
static void hb_spill(HB *b, const void *p, size_t len) {
    if (!b->streaming) {
        XXH3_64bits_reset_withSeed(&b->st, b->seed);
        XXH3_64bits_update(&b->st, b->buf, b->n);
        b->streaming = 1;
    }
    XXH3_64bits_update(&b->st, p, len);
}

/* always inlined (round 12): most updates are short constant tags, copied by a store or two */
static inline __attribute__((always_inline)) void hb_update(HB *b, const void *p, size_t len) {
    if (!b->streaming && b->n + len <= sizeof(b->buf)) {
        if (len) memcpy(b->buf + b->n, p, len);
        b->n += len;
        return;
    }
    hb_spill(b, p, len);
}

/* feed a str into the state as UTF-8 (surrogatepass, as the reference's encode): 0, or -1 with an error set
 * (shared by fingerprint_sections.c and fingerprint_build.c) */
static inline int hb_update_str(HB *st, PyObject *s) {
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        hb_update(st, PyUnicode_DATA(s), (size_t)PyUnicode_GET_LENGTH(s));
        return 0;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u) {
        hb_update(st, u, (size_t)n);
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (!b) return -1;
    hb_update(st, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return 0;
}

static inline uint64_t hb_digest(HB *b) {
    return b->streaming ? XXH3_64bits_digest(&b->st) : XXH3_64bits_withSeed(b->buf, b->n, b->seed);
}

static inline void start(Hasher *h, HB *b) {
    b->seed = h->seed;
    b->n = 0;
    b->streaming = 0;
    hb_update(b, h->prefix, (size_t)h->plen);
}

static inline PyObject *hex12(uint64_t v) {
    PyObject *r = PyUnicode_New(12, 127);
    if (!r) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    for (int i = 11; i >= 0; i--) {
        o[i] = (Py_UCS1)HEX[v & 15];
        v >>= 4;
    }
    return r;
}

static inline int is_ws(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f); }

/* PyLong_AsSsize_t(v), the plans' small non-negative indices read inline (round 17: an exact int of at most one
 * digit without the call; anything else through PyLong_AsSsize_t, with its errors) */
static inline Py_ssize_t fs_index(PyObject *v) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyLong_CheckExact(v)) {
        Py_ssize_t sz = Py_SIZE(v);
        if (sz == 0) return 0;
        if (sz == 1) return (Py_ssize_t)((PyLongObject *)v)->ob_digit[0];
    }
#else
    if (PyLong_CheckExact(v) && PyUnstable_Long_IsCompact((PyLongObject *)v))
        return (Py_ssize_t)PyUnstable_Long_CompactValue((PyLongObject *)v);
#endif
    return PyLong_AsSsize_t(v);
}

/* t[i] as an index in [0, bound), else -1 with an IndexError (or the conversion's error) set */
static inline Py_ssize_t tuple_index(PyObject *t, Py_ssize_t i, Py_ssize_t bound) {
    Py_ssize_t j = fs_index(PyTuple_GET_ITEM(t, i));
    if ((j < 0 || j >= bound) && !PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "index out of range");
    return (j < 0 || j >= bound) ? -1 : j;
}

/* fingerprint.c */
PyObject *Hasher_components(Hasher *h, PyObject *args);
Py_ssize_t fp_components_into(Hasher *h, PyObject *plan, PyObject *vals, uint64_t *out, Py_ssize_t cap);
PyObject *fp_u64_tuple(const uint64_t *out, Py_ssize_t n);
/* fingerprint_sections.c */
PyObject *fp_sections1(Hasher *h, PyObject *const *args);
PyObject *fp_sections1_h(Hasher *h, PyObject *const *args, uint64_t fam_hash);
PyObject *Hasher_sections1(Hasher *h, PyObject *const *args, Py_ssize_t nargs);
/* fingerprint_canonical.c */
PyObject *fp_values_size(PyObject *self, PyObject *vals);
PyObject *fp_canon_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
int fp_canon_fill(PyObject *const *args, Py_ssize_t nargs, PyObject **items, Py_ssize_t n, PyObject **unknown);
Py_ssize_t fp_canon_check(PyObject *const *args, Py_ssize_t nargs);
PyObject *Hasher_mapping_key(Hasher *h, PyObject *dev);
/* fingerprint_build.c */
PyObject *Hasher_build1(Hasher *h, PyObject *const *args, Py_ssize_t nargs);
PyObject *Hasher_assemble1(Hasher *h, PyObject *const *args, Py_ssize_t nargs);
/* fingerprint_signals.c */
PyObject *fp_signal_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
