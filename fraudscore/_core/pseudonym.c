/*
 * fraudscore._core.pseudonym -- keyed BLAKE2b pseudonyms (reference: fraudscore/identity/__init__.py).
 *
 * A pseudonym is "p:" + hex(BLAKE2b-128(utf8(normalised value), key=Keys.pseudonym, person=kind)),
 * exactly what hashlib.blake2b(key=..., digest_size=16, person=...) gives. The keyed state after the
 * key block is computed once per (key, kind) and copied per value, as hashlib's copy() does.
 *
 * Kernels: one value (hex), many values (a list of hex strings, each distinct value hashed once),
 * and a fixed-width binary column (16 bytes per row) for the batch path. BLAKE2b is the reference
 * implementation (vendor/blake2, CC0 / OpenSSL / Apache-2.0), compiled into this module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "vendor/blake2/blake2b-ref.c"
#include "pseudonym.h"

typedef struct {
    PyObject_HEAD
    fs_keyed_t keyed; /* the states after the key block (pseudonym.h) */
} Hasher;

/* the UTF-8 (surrogatepass) bytes of a str: borrowed pointer, or a new bytes object in *owner */
static const char *utf8_of(PyObject *s, Py_ssize_t *n, PyObject **owner) {
    *owner = NULL;
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        *n = PyUnicode_GET_LENGTH(s);
        return (const char *)PyUnicode_DATA(s);
    }
    const char *u = PyUnicode_AsUTF8AndSize(s, n);
    if (u) return u;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    *owner = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (!*owner) return NULL;
    *n = PyBytes_GET_SIZE(*owner);
    return PyBytes_AS_STRING(*owner);
}

static int digest_of(Hasher *h, PyObject *s, uint8_t out[16]) {
    Py_ssize_t n;
    PyObject *owner;
    const char *p = utf8_of(s, &n, &owner);
    if (!p) return -1;
    fs_digest(&h->keyed, p, (size_t)n, out);
    Py_XDECREF(owner);
    return 0;
}

static PyObject *hex_of(Hasher *h, PyObject *s) {
    uint8_t d[16];
    if (digest_of(h, s, d) < 0) return NULL;
    return fs_pseudonym_text(d);
}

static PyObject *Hasher_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"key", "person", NULL};
    Py_buffer key, person;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*y*", kwlist, &key, &person)) return NULL;
    if (key.len < 1 || key.len > BLAKE2B_KEYBYTES || person.len > BLAKE2B_PERSONALBYTES) {
        PyBuffer_Release(&key);
        PyBuffer_Release(&person);
        PyErr_SetString(PyExc_ValueError, "key must be 1..64 bytes and person at most 16 bytes");
        return NULL;
    }
    Hasher *h = (Hasher *)type->tp_alloc(type, 0);
    if (h) fs_keyed_init(&h->keyed, key.buf, (size_t)key.len, person.buf, (size_t)person.len);
    PyBuffer_Release(&key);
    PyBuffer_Release(&person);
    return (PyObject *)h;
}

/* __call__(value) -> "p:<32 hex>" (value: str) */
static PyObject *Hasher_call(Hasher *h, PyObject *args, PyObject *kw) {
    PyObject *s;
    if (kw && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "U", &s)) return NULL;
    return hex_of(h, s);
}

/* many(values, prefix="") -> list: prefix + value hashed for each str, None kept; each distinct value once */
static PyObject *Hasher_many(Hasher *h, PyObject *args) {
    PyObject *seq, *prefix = NULL;
    if (!PyArg_ParseTuple(args, "O|U", &seq, &prefix)) return NULL;
    PyObject *fast = PySequence_Fast(seq, "values must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *out = PyList_New(n);
    PyObject *memo = PyDict_New();
    if (!out || !memo) goto fail;
    int has_prefix = prefix && PyUnicode_GET_LENGTH(prefix) > 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (v == Py_None) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(out, i, Py_None);
            continue;
        }
        if (!PyUnicode_Check(v)) {
            PyErr_Format(PyExc_TypeError, "pseudonym values must be str or None, not %.80s", Py_TYPE(v)->tp_name);
            goto fail;
        }
        PyObject *hit = PyDict_GetItemWithError(memo, v);
        if (hit) {
            Py_INCREF(hit);
            PyList_SET_ITEM(out, i, hit);
            continue;
        }
        if (PyErr_Occurred()) goto fail;
        PyObject *src = v;
        if (has_prefix) {
            src = PyUnicode_Concat(prefix, v);
            if (!src) goto fail;
        }
        PyObject *p = hex_of(h, src);
        if (has_prefix) Py_DECREF(src);
        if (!p) goto fail;
        if (PyDict_SetItem(memo, v, p) < 0) {
            Py_DECREF(p);
            goto fail;
        }
        PyList_SET_ITEM(out, i, p);
    }
    Py_DECREF(memo);
    Py_DECREF(fast);
    return out;
fail:
    Py_XDECREF(out);
    Py_XDECREF(memo);
    Py_DECREF(fast);
    return NULL;
}

/* digests(values) -> (bytes of 16 * n, bytes of n validity flags): the fixed-width binary column */
static PyObject *Hasher_digests(Hasher *h, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "values must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *dig = PyBytes_FromStringAndSize(NULL, 16 * n);
    PyObject *ok = PyBytes_FromStringAndSize(NULL, n);
    if (!dig || !ok) goto fail;
    uint8_t *d = (uint8_t *)PyBytes_AS_STRING(dig);
    uint8_t *m = (uint8_t *)PyBytes_AS_STRING(ok);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (v == Py_None) {
            memset(d + 16 * i, 0, 16);
            m[i] = 0;
            continue;
        }
        if (!PyUnicode_Check(v)) {
            PyErr_Format(PyExc_TypeError, "pseudonym values must be str or None, not %.80s", Py_TYPE(v)->tp_name);
            goto fail;
        }
        if (digest_of(h, v, d + 16 * i) < 0) goto fail;
        m[i] = 1;
    }
    Py_DECREF(fast);
    return Py_BuildValue("(NN)", dig, ok);
fail:
    Py_XDECREF(dig);
    Py_XDECREF(ok);
    Py_DECREF(fast);
    return NULL;
}

static PyMethodDef Hasher_methods[] = {
    {"many", (PyCFunction)Hasher_many, METH_VARARGS,
     "many(values, prefix='') -> list of pseudonyms (None kept); each distinct value hashed once."},
    {"digests", (PyCFunction)Hasher_digests, METH_O,
     "digests(values) -> (16 bytes per row, 1 validity byte per row): the binary pseudonym column."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.pseudonym.Hasher",
    .tp_basicsize = sizeof(Hasher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hasher(key, person): keyed BLAKE2b-128 pseudonyms of one identifier kind.",
    .tp_methods = Hasher_methods,
    .tp_new = Hasher_new,
    .tp_call = (ternaryfunc)Hasher_call,
};

static PyMethodDef module_methods[] = {
    {"_set_simd", fs_set_simd, METH_O,
     "_set_simd(mode) -> mode in use: BLAKE2b's compression, -1 the machine's choice, 0 scalar, 1 AVX2 (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "pseudonym",
    "Keyed BLAKE2b pseudonyms (reference: fraudscore/identity/__init__.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit_pseudonym(void) {
    if (PyType_Ready(&HasherType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&HasherType);
    if (PyModule_AddObject(m, "Hasher", (PyObject *)&HasherType) < 0) {
        Py_DECREF(&HasherType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
