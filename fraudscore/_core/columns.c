/* Column kernels of the batch path (#13, round 13): factorize a column of text values; the distinct objects of
 * a column by identity (distinct_objects, below: the device column's mappings); round 14: the velocity replay's
 * distinct counts over each row's window (range_distinct) and its entity order (group_rows, below).
 *
 * factorize(values, empty_missing, others) -> (int64 codes as bytes, distinct values) or None
 *
 *   values         a list (or any sequence) of objects: a batch column's .tolist()
 *   empty_missing  "" counts as missing (code -1), as the identity stage reads identifiers
 *   others         what a value that is neither an exact str, None nor a float NaN gets:
 *                  0 -> the call returns None (the caller's reference decides), 1 -> a code of its own
 *                  (a str or float subclass always returns None: its equality and NaN are the reference's)
 *
 * Missing values (None, a float NaN, "" with empty_missing) get -1; equal exact str values share one code;
 * codes are numbered in order of first appearance, as pandas.factorize (velocity/replay.py _factorize) and the
 * identity stage's loop (identity/columns.py _factorize) number them. Equality of two exact str objects is their identity or equal length, kind and
 * bytes (CPython keeps every str in its canonical, narrowest kind, so equal strings have equal kind and bytes).
 *
 * The table is open addressing over a hash of the values' bytes (str_hash, below; Python's cached str hash
 * until round 13), with the index of the distinct value in each slot and each distinct value's hash beside the
 * list (compared before the strings): no dict, no int object per value. The reference stays the Python code; tests/velocity/
 * test_columns_compiled.py compares both with hypothesis.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "vendor/xxhash/xxhash.h"

/* The table's hash of an exact str: xxh3 of its canonical bytes, seeded with its kind (the vendored xxhash that
 * keys.h uses), the same for equal strings whatever object holds them. Not Python's hash: the batch's text values
 * are mostly new objects (pseudonyms, identifiers), whose SipHash nobody computed yet. The codes do not depend on
 * the hash: they number values in order of first appearance. */
static inline uint64_t str_hash(PyObject *v) {
    return XXH3_64bits_withSeed(PyUnicode_DATA(v), (size_t)PyUnicode_GET_LENGTH(v) * PyUnicode_KIND(v),
                                (uint64_t)PyUnicode_KIND(v));
}

static inline int same_str(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) return 0;
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * PyUnicode_KIND(a)) == 0;
}

/* the start of factorize and distinct_objects: seq as a fast sequence of n items, an empty open-addressing table
 * of a power-of-two size >= 2n (slots -1, *mask = size - 1), a bytes object for n int64 codes, an empty list of the
 * distinct values. 0, or -1 with an exception and everything released */
static int table_start(PyObject *seq, PyObject **fast, Py_ssize_t *n, Py_ssize_t **slots, size_t *mask,
                       PyObject **codes, PyObject **list) {
    size_t cap = 16;
    *slots = NULL;
    *codes = *list = NULL;
    if ((*fast = PySequence_Fast(seq, "values must be a sequence")) == NULL) return -1;
    *n = PySequence_Fast_GET_SIZE(*fast);
    while (cap < (size_t)*n * 2) cap <<= 1;
    *mask = cap - 1;
    *slots = PyMem_Malloc(cap * sizeof(Py_ssize_t));
    *codes = PyBytes_FromStringAndSize(NULL, *n * (Py_ssize_t)sizeof(int64_t));
    *list = PyList_New(0);
    if (!*slots || !*codes || !*list) {
        if (!*slots) PyErr_NoMemory();
        PyMem_Free(*slots);
        Py_CLEAR(*codes);
        Py_CLEAR(*list);
        Py_CLEAR(*fast);
        return -1;
    }
    memset(*slots, 0xff, cap * sizeof(Py_ssize_t));  /* -1: empty */
    return 0;
}

static PyObject *factorize(PyObject *self, PyObject *args) {
    PyObject *seq;
    int empty_missing, others;
    if (!PyArg_ParseTuple(args, "Opi:factorize", &seq, &empty_missing, &others)) return NULL;
    PyObject *fast, *codes, *uniq, *result = NULL;
    Py_ssize_t n, *slots;
    size_t mask;
    if (table_start(seq, &fast, &n, &slots, &mask, &codes, &uniq) < 0) return NULL;
    PyObject **items = PySequence_Fast_ITEMS(fast);
    int64_t *c = (int64_t *)PyBytes_AS_STRING(codes);
    uint64_t *hashes = PyMem_Malloc(((size_t)n + 1) * sizeof(uint64_t));  /* per distinct value (by code) */
    if (hashes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (PyUnicode_CheckExact(v)) {
            if (PyUnicode_READY(v) < 0) goto done;
            if (empty_missing && PyUnicode_GET_LENGTH(v) == 0) {
                c[i] = -1;
                continue;
            }
            uint64_t h = str_hash(v);
            size_t s = (size_t)h & mask, step = 0;
            for (;;) {
                Py_ssize_t u = slots[s];
                if (u < 0) {  /* a new distinct value */
                    u = PyList_GET_SIZE(uniq);
                    if (PyList_Append(uniq, v) < 0) goto done;
                    slots[s] = u;
                    hashes[u] = h;
                    c[i] = u;
                    break;
                }
                PyObject *w = PyList_GET_ITEM(uniq, u);
                if (hashes[u] == h && PyUnicode_CheckExact(w) && same_str(v, w)) {
                    c[i] = u;
                    break;
                }
                s = (s + ++step) & mask;  /* triangular probing: visits every slot of a power-of-two table */
            }
            continue;
        }
        if (v == Py_None || (PyFloat_CheckExact(v) && isnan(PyFloat_AS_DOUBLE(v)))) {
            c[i] = -1;
            continue;
        }
        if (!others || PyUnicode_Check(v) || PyFloat_Check(v)) {  /* the reference decides: non-text, a str
                                                                     * subclass or a float subclass (NaN?) */
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        c[i] = PyList_GET_SIZE(uniq);  /* a value of its own (identity: non-str values are never shared) */
        hashes[c[i]] = 0;  /* never read: no slot holds this code */
        if (PyList_Append(uniq, v) < 0) goto done;
    }
    result = Py_BuildValue("(OO)", codes, uniq);
done:
    PyMem_Free(hashes);
    PyMem_Free(slots);
    Py_XDECREF(codes);
    Py_XDECREF(uniq);
    Py_DECREF(fast);
    return result;
}

/* distinct_objects(values) -> (int64 codes as bytes, distinct objects): codes by object identity, -1 for None and
 * a float NaN, numbered in order of first appearance (devicecolumns._distinct_objects, pipeline_batch's screen). */
static PyObject *distinct_objects(PyObject *self, PyObject *seq) {
    PyObject *fast, *codes, *firsts, *result = NULL;
    Py_ssize_t n, *slots;
    size_t mask;
    if (table_start(seq, &fast, &n, &slots, &mask, &codes, &firsts) < 0) return NULL;
    PyObject **items = PySequence_Fast_ITEMS(fast);
    int64_t *c = (int64_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (v == Py_None || (PyFloat_Check(v) && isnan(PyFloat_AS_DOUBLE(v)))) {
            c[i] = -1;
            continue;
        }
        size_t s = (size_t)(((uintptr_t)v >> 4) * 0x9E3779B97F4A7C15ull) & mask, step = 0;
        for (;;) {
            Py_ssize_t u = slots[s];
            if (u < 0) {
                u = PyList_GET_SIZE(firsts);
                if (PyList_Append(firsts, v) < 0) goto done;
                slots[s] = u;
                c[i] = u;
                break;
            }
            if (PyList_GET_ITEM(firsts, u) == v) {
                c[i] = u;
                break;
            }
            s = (s + ++step) & mask;
        }
    }
    result = Py_BuildValue("(OO)", codes, firsts);
done:
    PyMem_Free(slots);
    Py_XDECREF(codes);
    Py_XDECREF(firsts);
    Py_DECREF(fast);
    return result;
}

/* range_distinct(codes, lo, hi, cur) -> int64 counts as bytes, or None: for each i, the number of distinct values
 * >= 0 among codes[lo[i]:hi[i]] and cur[i] (the velocity replay's distinct counts over each row's window,
 * velocity/replay.py _range_distinct, the reference). codes: m int64, lo / hi / cur: k int64 each (C-contiguous
 * buffers). An empty or reversed range counts nothing; a range outside [0, m] returns None (the reference raises).
 * One stamp per distinct code (the last row that counted it): O(sum of the range lengths), no sort, no pairs. */
static int int64_view(PyObject *o, Py_buffer *b, const char *what) {
    if (PyObject_GetBuffer(o, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (b->itemsize != 8 || b->format == NULL || (strcmp(b->format, "q") && strcmp(b->format, "l") &&
                                                  strcmp(b->format, "<q") && strcmp(b->format, "=q") &&
                                                  strcmp(b->format, "<l") && strcmp(b->format, "=l"))) {
        PyBuffer_Release(b);
        PyErr_Format(PyExc_TypeError, "%s must be an int64 buffer", what);
        return -1;
    }
    return 0;
}

static PyObject *range_distinct(PyObject *self, PyObject *args) {
    PyObject *oc, *ol, *oh, *ou, *result = NULL;
    Py_buffer bc, bl, bh, bu;
    if (!PyArg_ParseTuple(args, "OOOO:range_distinct", &oc, &ol, &oh, &ou)) return NULL;
    if (int64_view(oc, &bc, "codes") < 0) return NULL;
    if (int64_view(ol, &bl, "lo") < 0) goto r1;
    if (int64_view(oh, &bh, "hi") < 0) goto r2;
    if (int64_view(ou, &bu, "cur") < 0) goto r3;
    Py_ssize_t m = bc.len / 8, k = bl.len / 8;
    if (bh.len / 8 != k || bu.len / 8 != k) {
        PyErr_SetString(PyExc_ValueError, "lo, hi and cur must have the same length");
        goto r4;
    }
    const int64_t *codes = bc.buf, *lo = bl.buf, *hi = bh.buf, *cur = bu.buf;
    int64_t top = -1;
    for (Py_ssize_t p = 0; p < m; p++) if (codes[p] > top) top = codes[p];
    for (Py_ssize_t i = 0; i < k; i++) {
        if (cur[i] > top) top = cur[i];
        if (hi[i] > lo[i] && (lo[i] < 0 || hi[i] > m)) {  /* the reference's index error */
            Py_INCREF(Py_None);
            result = Py_None;
            goto r4;
        }
    }
    int64_t *stamp = PyMem_Malloc(((size_t)top + 2) * sizeof(int64_t));
    PyObject *out = PyBytes_FromStringAndSize(NULL, k * (Py_ssize_t)sizeof(int64_t));
    if (!stamp || !out) {
        if (!stamp) PyErr_NoMemory();
        PyMem_Free(stamp);
        Py_XDECREF(out);
        goto r4;
    }
    for (int64_t v = 0; v <= top; v++) stamp[v] = -1;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < k; i++) {
        int64_t n = 0;
        for (int64_t p = lo[i]; p < hi[i]; p++) {
            int64_t v = codes[p];
            if (v >= 0 && stamp[v] != i) {
                stamp[v] = i;
                n++;
            }
        }
        int64_t v = cur[i];
        if (v >= 0 && stamp[v] != i) {
            stamp[v] = i;
            n++;
        }
        o[i] = n;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(stamp);
    result = out;
r4:
    PyBuffer_Release(&bu);
r3:
    PyBuffer_Release(&bh);
r2:
    PyBuffer_Release(&bl);
r1:
    PyBuffer_Release(&bc);
    return result;
}

/* group_rows(codes) -> int64 rows as bytes: the rows whose code is >= 0, stably ordered by code (a counting sort:
 * O(n + number of codes)), equal to np.flatnonzero(codes >= 0)[np.argsort(codes[codes >= 0], kind="stable")] (the
 * velocity replay's entity order for time-ordered input, velocity/replay.py _Sorted, the reference). codes: n int64
 * (factorize's codes: -1 missing, else 0 .. number of distinct values - 1; a code >= n returns None). */
static PyObject *group_rows(PyObject *self, PyObject *arg) {
    Py_buffer bc;
    PyObject *result = NULL;
    if (int64_view(arg, &bc, "codes") < 0) return NULL;
    Py_ssize_t n = bc.len / 8;
    const int64_t *code = bc.buf;
    Py_ssize_t m = 0;
    int64_t top = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t v = code[i];
        if (v >= n) {
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        if (v >= 0) {
            m++;
            if (v > top) top = v;
        }
    }
    Py_ssize_t *start = PyMem_Calloc((size_t)top + 2, sizeof(Py_ssize_t));
    PyObject *out = PyBytes_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(int64_t));
    if (!start || !out) {
        if (!start) PyErr_NoMemory();
        PyMem_Free(start);
        Py_XDECREF(out);
        goto done;
    }
    int64_t *row = (int64_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++)
        if (code[i] >= 0) start[code[i] + 1]++;
    for (int64_t v = 0; v <= top; v++) start[v + 1] += start[v];  /* start[v]: the first slot of code v */
    for (Py_ssize_t i = 0; i < n; i++)
        if (code[i] >= 0) row[start[code[i]]++] = i;  /* in row order within a code: stable */
    PyMem_Free(start);
    result = out;
done:
    PyBuffer_Release(&bc);
    return result;
}

static PyMethodDef module_methods[] = {
    {"distinct_objects", distinct_objects, METH_O,
     "distinct_objects(values) -> (int64 codes as bytes, distinct objects); by identity, -1 = None / float NaN."},
    {"range_distinct", range_distinct, METH_VARARGS,
     "range_distinct(codes, lo, hi, cur) -> int64 counts as bytes, or None; distinct codes >= 0 per range and cur."},
    {"group_rows", group_rows, METH_O,
     "group_rows(codes) -> int64 rows as bytes, or None: the rows with a code >= 0, stably ordered by code."},
    {"factorize", factorize, METH_VARARGS,
     "factorize(values, empty_missing, others) -> (int64 codes as bytes, distinct values) or None; -1 = missing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "fraudscore._core.columns", "Column kernels of the batch path (factorize, distinct_objects, range_distinct, group_rows).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit_columns(void) { return PyModule_Create(&module_def); }
