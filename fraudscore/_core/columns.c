/* Column kernels of the batch path (#13, round 13): factorize a column of text values; the distinct objects of
 * a column by identity (distinct_objects, below: the device column's mappings).
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
 * The table is open addressing over the values' own (cached) str hash, with the index of the distinct value in
 * each slot: no dict, no int object per value. The reference stays the Python code; tests/velocity/
 * test_columns_compiled.py compares both with hypothesis.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

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
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (PyUnicode_CheckExact(v)) {
            if (PyUnicode_READY(v) < 0) goto done;
            if (empty_missing && PyUnicode_GET_LENGTH(v) == 0) {
                c[i] = -1;
                continue;
            }
            Py_hash_t h = PyObject_Hash(v);
            if (h == -1) goto done;
            size_t s = (size_t)h & mask, step = 0;
            for (;;) {
                Py_ssize_t u = slots[s];
                if (u < 0) {  /* a new distinct value */
                    u = PyList_GET_SIZE(uniq);
                    if (PyList_Append(uniq, v) < 0) goto done;
                    slots[s] = u;
                    c[i] = u;
                    break;
                }
                PyObject *w = PyList_GET_ITEM(uniq, u);
                if (PyUnicode_CheckExact(w) && same_str(v, w)) {
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
        if (PyList_Append(uniq, v) < 0) goto done;
    }
    result = Py_BuildValue("(OO)", codes, uniq);
done:
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

static PyMethodDef module_methods[] = {
    {"distinct_objects", distinct_objects, METH_O,
     "distinct_objects(values) -> (int64 codes as bytes, distinct objects); by identity, -1 = None / float NaN."},
    {"factorize", factorize, METH_VARARGS,
     "factorize(values, empty_missing, others) -> (int64 codes as bytes, distinct values) or None; -1 = missing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "fraudscore._core.columns", "Column kernels of the batch path (factorize).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit_columns(void) { return PyModule_Create(&module_def); }
