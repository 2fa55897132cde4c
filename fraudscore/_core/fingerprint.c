/*
 * fraudscore._core.fingerprint -- sectioned keyed xxh3 hashing of canonical devices: the Hasher type and
 * the module (its other parts: see fingerprint.h)
 * (reference: fraudscore/fingerprint/sections.py, Fingerprinter._h / _hex / _components).
 *
 * h(text) = xxh3_64(secret + utf8(text), seed) with the 64-byte Keys.fingerprint secret and the
 * 64-bit Keys.fingerprint_seed, exactly what xxhash.xxh3_64_intdigest(prefix + text.encode(), seed)
 * gives; sections and components keep the low 48 bits. xxHash is vendored (vendor/xxhash, BSD-2).
 */
#include "fingerprint.h"

/* xxh3(prefix + pre + text): pre and text are str (UTF-8, surrogatepass) */
static int hash_parts(Hasher *h, PyObject *pre, PyObject *text, uint64_t *out) {
    HB st;
    start(h, &st);
    PyObject *parts[2] = {pre, text};
    for (int i = 0; i < 2; i++) {
        PyObject *s = parts[i];
        if (!s) continue;
        if (!PyUnicode_Check(s)) {
            PyErr_Format(PyExc_TypeError, "fingerprint inputs must be str, not %.80s", Py_TYPE(s)->tp_name);
            return -1;
        }
        Py_ssize_t n;
        if (PyUnicode_IS_COMPACT_ASCII(s)) {
            hb_update(&st, PyUnicode_DATA(s), (size_t)PyUnicode_GET_LENGTH(s));
            continue;
        }
        const char *u = PyUnicode_AsUTF8AndSize(s, &n);
        if (u) {
            hb_update(&st, u, (size_t)n);
            continue;
        }
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();
        PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
        if (!b) return -1;
        hb_update(&st, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        Py_DECREF(b);
    }
    *out = hb_digest(&st);
    return 0;
}


static PyObject *Hasher_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"prefix", "seed", NULL};
    Py_buffer prefix;
    unsigned long long seed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*K", kwlist, &prefix, &seed)) return NULL;
    if (prefix.len > 64) {
        PyBuffer_Release(&prefix);
        PyErr_SetString(PyExc_ValueError, "prefix must be at most 64 bytes");
        return NULL;
    }
    Hasher *h = (Hasher *)type->tp_alloc(type, 0);
    if (h) {
        h->seed = (uint64_t)seed;
        h->plen = prefix.len;
        memcpy(h->prefix, prefix.buf, (size_t)prefix.len);
    }
    PyBuffer_Release(&prefix);
    return (PyObject *)h;
}

/* h(text) -> int (the full 64 bits) */
static PyObject *Hasher_h(Hasher *h, PyObject *text) {
    uint64_t v;
    if (hash_parts(h, NULL, text, &v) < 0) return NULL;
    return PyLong_FromUnsignedLongLong(v);
}

/* hex(text) -> 12 hex digits of the low 48 bits */
static PyObject *Hasher_hex(Hasher *h, PyObject *text) {
    uint64_t v;
    if (hash_parts(h, NULL, text, &v) < 0) return NULL;
    return hex12(v & MASK48);
}

/* the component hashes of plan over vals into out[0..n) (n = len(plan) <= cap): a missing value (None) gives 0,
 * else (h(prefix + value) & MASK48) or 1. Returns n, or -1 with an exception set. */
Py_ssize_t fp_components_into(Hasher *h, PyObject *plan, PyObject *vals, uint64_t *out, Py_ssize_t cap) {
    Py_ssize_t n = PyTuple_GET_SIZE(plan), nv = PyTuple_GET_SIZE(vals);
    if (n > cap) {
        PyErr_SetString(PyExc_ValueError, "too many components");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(plan, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2) {
            PyErr_SetString(PyExc_ValueError, "plan items are (index, prefix)");
            return -1;
        }
        Py_ssize_t idx = fs_index(PyTuple_GET_ITEM(item, 0));
        if (idx == -1 && PyErr_Occurred()) return -1;
        if (idx < 0 || idx >= nv) {
            PyErr_SetString(PyExc_IndexError, "component index out of range");
            return -1;
        }
        PyObject *v = PyTuple_GET_ITEM(vals, idx);
        uint64_t x = 0;
        if (v != Py_None) {
            if (hash_parts(h, PyTuple_GET_ITEM(item, 1), v, &x) < 0) return -1;
            x &= MASK48;
            if (!x) x = 1;
        }
        out[i] = x;
    }
    return n;
}

/* a tuple of n ints from out (the components' Python form) */
PyObject *fp_u64_tuple(const uint64_t *out, Py_ssize_t n) {
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; t && i < n; i++) {
        PyObject *o = PyLong_FromUnsignedLongLong(out[i]);
        if (!o) Py_CLEAR(t);
        else PyTuple_SET_ITEM(t, i, o);
    }
    return t;
}

/* components(plan, values) -> tuple of ints: plan is a tuple of (index into values, prefix str);
 * a missing value (None) gives 0, else (h(prefix + value) & MASK48) or 1 */
PyObject *Hasher_components(Hasher *h, PyObject *args) {
    PyObject *vals, *plan;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &plan, &PyTuple_Type, &vals)) return NULL;
    uint64_t stackbuf[64], *out = stackbuf;
    Py_ssize_t n = PyTuple_GET_SIZE(plan);
    if (n > 64 && !(out = PyMem_Malloc((size_t)n * sizeof(uint64_t)))) return PyErr_NoMemory();
    PyObject *r = fp_components_into(h, plan, vals, out, n) < 0 ? NULL : fp_u64_tuple(out, n);
    if (out != stackbuf) PyMem_Free(out);
    return r;
}

static PyMethodDef module_methods[] = {
    {"signal_row", (PyCFunction)(void (*)(void))fp_signal_row, METH_FASTCALL,
     "signal_row(ctx, fp, event) -> device_signal_values(fp, event) from the cached row, or None."},
    {"values_size", (PyCFunction)fp_values_size, METH_O,
     "values_size(values) -> sum(map(sys.getsizeof, filter(None, values)))."},
    {"canon_values", (PyCFunction)(void (*)(void))fp_canon_values, METH_FASTCALL,
     "canon_values(device, n, keys, strs, resolve, norm, norm_str, norm_cached) -> (values, unknown pairs)."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Hasher_methods[] = {
    {"mapping_key", (PyCFunction)Hasher_mapping_key, METH_O,
     "mapping_key(device) -> 16-byte cache key of an exact dict, or None: use the repr key."},
    {"sections1", (PyCFunction)(void (*)(void))Hasher_sections1, METH_FASTCALL,
     "sections1(plan, vals, source, os_family, os_major, browser_family, browser_major, family_text) -> the "
     "hashes of Fingerprinter.from_canonical for scheme 1."},
    {"build1", (PyCFunction)(void (*)(void))Hasher_build1, METH_FASTCALL,
     "build1(ctx, device) -> from_canonical(canonicalize(device)) for an exact dict (scheme 1), or None."},
    {"assemble1", (PyCFunction)(void (*)(void))Hasher_assemble1, METH_FASTCALL,
     "assemble1(actx, descriptors, canonical) -> from_canonical(canonical) (scheme 1), or None."},
    {"h", (PyCFunction)Hasher_h, METH_O, "h(text) -> the keyed xxh3-64 of text."},
    {"hex", (PyCFunction)Hasher_hex, METH_O, "hex(text) -> 12 hex digits (low 48 bits): a section."},
    {"components", (PyCFunction)Hasher_components, METH_VARARGS,
     "components(plan, values) -> keyed 48-bit hashes of the planned values (0 = missing)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.fingerprint.Hasher",
    .tp_basicsize = sizeof(Hasher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hasher(prefix, seed): keyed xxh3 section and component hashes.",
    .tp_methods = Hasher_methods,
    .tp_new = Hasher_new,
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "fingerprint",
    "Sectioned keyed xxh3 hashing (reference: fraudscore/fingerprint/sections.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit_fingerprint(void) {
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
