/*
 * Readers shared by the linking kernels (linking.c, linkstate.c): exact ints, dict items, parsed versions.
 * Every reader returns 0 = ok or -1 = hand over to the Python reference (no exception left set).
 */
#ifndef FRAUDSCORE_LINKCOMMON_H
#define FRAUDSCORE_LINKCOMMON_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define MAX_VERSION 32   /* longer version lists go to the reference */
#define VBOUND ((int64_t)1 << 40)  /* version parts beyond it go to the reference (no int64 overflow) */
#define TBOUND ((int64_t)1 << 62)  /* times beyond it go to the reference (no int64 overflow in now - t) */

/* ---- small readers: 0 = ok, -1 = hand over to the reference (no exception left set) ---------------------- */
/* as_i64's general case (longer ints, subclasses, other int layouts): through the API, out of line */
static int __attribute__((noinline)) as_i64_api(PyObject *o, int64_t *out) {
    int ovf = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &ovf);
    if (ovf || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* an int's value as int64 (round 15: inlined -- about 70k calls per 200 link events, its call and frame were
 * half of its cost; the same cases, the same results) */
static inline __attribute__((always_inline)) int as_i64(PyObject *o, int64_t *out) {
    if (o == NULL || !PyLong_Check(o)) return -1;
#if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    /* CPython 3.11's int layout: sign and size in ob_size, 30-bit digits. Up to two digits (|v| < 2**60: the
     * 48-bit hashes, epoch milliseconds, counts) read directly; longer ones through the API */
    {
        const digit *d = ((PyLongObject *)o)->ob_digit;
        switch (Py_SIZE(o)) {
        case 0:
            *out = 0;
            return 0;
        case 1:
            *out = (int64_t)d[0];
            return 0;
        case -1:
            *out = -(int64_t)d[0];
            return 0;
        case 2:
            *out = (int64_t)d[0] | ((int64_t)d[1] << PyLong_SHIFT);
            return 0;
        case -2:
            *out = -((int64_t)d[0] | ((int64_t)d[1] << PyLong_SHIFT));
            return 0;
        default:
            break;
        }
    }
#endif
    return as_i64_api(o, out);
}

/* dict item (borrowed) or NULL: a missing key hands over (the reference raises KeyError) */
static PyObject *item(PyObject *d, PyObject *k) {
    PyObject *v = PyDict_GetItemWithError(d, k);
    if (v == NULL) PyErr_Clear();
    return v;
}

typedef struct {
    int none;       /* the version is None */
    Py_ssize_t len; /* its length */
    int64_t v[MAX_VERSION];
} version_t;

/* a version: None, or a list / tuple of ints (``exact_list``: a record's, which must be a list) */
static int read_version(PyObject *o, version_t *out, int exact_list) {
    Py_ssize_t i, n;
    PyObject **items;
    if (o == Py_None) {
        out->none = 1;
        out->len = 0;
        return 0;
    }
    if (exact_list ? !PyList_CheckExact(o) : !(PyList_CheckExact(o) || PyTuple_CheckExact(o))) return -1;
    n = PySequence_Fast_GET_SIZE(o);
    if (n > MAX_VERSION) return -1;
    items = PySequence_Fast_ITEMS(o);
    for (i = 0; i < n; ++i) {
        if (!PyLong_CheckExact(items[i]) || as_i64(items[i], &out->v[i]) != 0) return -1;
        if (out->v[i] >= VBOUND || out->v[i] <= -VBOUND) return -1;
    }
    out->none = 0;
    out->len = n;
    return 0;
}

/* list(new) >= old, lexicographic (Python's list comparison on ints) */
static int version_ge(const version_t *a, const version_t *b) {
    Py_ssize_t i, n = a->len < b->len ? a->len : b->len;
    for (i = 0; i < n; ++i) {
        if (a->v[i] != b->v[i]) return a->v[i] > b->v[i];
    }
    return a->len >= b->len;
}


#endif
