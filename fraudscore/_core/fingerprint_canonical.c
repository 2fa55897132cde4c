/*
 * fraudscore._core.fingerprint, part: canonicalize's attribute loop (canon_values, values_size) and the
 * fingerprint cache's key of a device mapping (reference: fraudscore/fingerprint/canonical.py)
 */
#include "fingerprint.h"

#include "pytuple.h" /* pair_steal */

/* canonical._text's first branch for a printable-ASCII str of at most 2048 characters: lower case, runs of
 * spaces collapsed, stripped; None when empty. Returns NULL without an error for any other str (the caller
 * uses the Python reference). */
static PyObject *ascii_text_mode(PyObject *v, int digits);

static PyObject *ascii_text(PyObject *v) { return ascii_text_mode(v, 0); }

/* digits: canonical._n_digits (spaces and dashes removed as well) */
static PyObject *ascii_text_mode(PyObject *v, int digits) {
    if (!PyUnicode_IS_COMPACT_ASCII(v)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    if (n > 2048) return NULL;
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(v);
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return NULL;
    Py_ssize_t a = 0, b = n;
    while (a < b && s[a] == ' ') a++;
    while (b > a && s[b - 1] == ' ') b--;
    if (a == b) Py_RETURN_NONE;
    char stackbuf[256], *o = (b - a) <= 256 ? stackbuf : PyMem_Malloc((size_t)(b - a));
    if (!o) return PyErr_NoMemory();
    Py_ssize_t m = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        unsigned char c = s[i];
        if (digits && (c == ' ' || c == '-')) continue;
        if (c == ' ' && o[m - 1] == ' ') continue; /* m > 0: s[a] is not a space */
        o[m++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    PyObject *r = m ? PyUnicode_FromStringAndSize(o, m) : Py_NewRef(Py_None);
    if (o != stackbuf) PyMem_Free(o);
    return r;
}

static int all_str_list(PyObject *v) {
    if (!PyList_CheckExact(v)) return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i))) return 0;
    return 1;
}

/* an attribute's own memo (a dict keyed by the value itself: the int memo of round 17, the str memo before it);
 * a miss, or a memo that is not a dict, calls miss(i, kind, v), which remembers. A new reference, NULL with the error */
static PyObject *attr_memo(PyObject *memo, PyObject *v, PyObject *miss, Py_ssize_t i, PyObject *kind) {
    PyObject *nv = PyDict_Check(memo) ? PyDict_GetItemWithError(memo, v) : NULL, *ii;
    if (nv) return Py_NewRef(nv);
    if (PyErr_Occurred()) return NULL;
    ii = PyLong_FromSsize_t(i);
    nv = ii ? PyObject_CallFunctionObjArgs(miss, ii, kind, v, NULL) : NULL;
    Py_XDECREF(ii);
    return nv;
}

/* values_size(values) -> sum(map(sys.getsizeof, filter(None, values))) for a tuple of str / None (the
 * fingerprint cache's byte estimate, sections._fp_cost) */
PyObject *fp_values_size(PyObject *self, PyObject *vals) {
    if (!PyTuple_Check(vals)) {
        PyErr_SetString(PyExc_TypeError, "values_size(tuple)");
        return NULL;
    }
    size_t n = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(vals); i++) {
        PyObject *v = PyTuple_GET_ITEM(vals, i);
        if (v == Py_None || (PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) == 0)) continue;
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "canonical values are str or None");
            return NULL;
        }
        if (PyUnicode_CheckExact(v) && PyUnicode_IS_COMPACT_ASCII(v)
#if PY_VERSION_HEX < 0x030C0000
            && ((PyASCIIObject *)v)->wstr == NULL
#endif
        ) { /* str.__sizeof__ of a compact ASCII str (no GC header, its UTF-8 is its data) */
            n += sizeof(PyASCIIObject) + (size_t)PyUnicode_GET_LENGTH(v) + 1;
            continue;
        }
        size_t z = _PySys_GetSizeOf(v);
        if (z == (size_t)-1 && PyErr_Occurred()) return NULL;
        n += z;
    }
    return PyLong_FromSize_t(n);
}

/* -- the attribute loop of canonicalize (reference: fraudscore/fingerprint/canonical.py) ------------------- */

/* canon_values(device, n, keys, strs, resolve, norm, norm_str, norm_cached) -> (values, unknown):
 * the canonical value of every known attribute of an exact dict ``device`` (None when absent) and the
 * (name, value) pairs of the unknown ones, in order. Memo hits are read here; every miss calls the
 * Python reference: resolve(k) -> (name, index or None, kind, cached) for a name not in ``keys``;
 * norm(kind, v) for uncached attributes; norm_str(i, kind, v) for a str missing from strs[i];
 * norm_cached(name, kind, v) for other values. Two spellings of one name keep the smaller value. */
/* the attribute loop into items[0..n) (n = args[1], each holding a reference, None to start: a list's or a new
 * tuple's item array) and *unknown (a list made at the first unknown attribute, else left NULL). 0, or -1 with an
 * error (the references made so far stay in items / *unknown for the caller to drop). Round 16: shared by
 * canon_values (a list) and build1 (the CanonicalDevice's tuple itself: no list, no copy, no pair). */
int fp_canon_fill(PyObject *const *args, Py_ssize_t nargs, PyObject **items, Py_ssize_t n, PyObject **unknown) {
    PyObject *dev = args[0], *keys = args[2], *strs = args[3], *vmemo = nargs >= 9 ? args[8] : NULL;
    PyObject *ints = nargs == 11 ? args[9] : NULL; /* round 17: per attribute int -> canonical (fp_canon_check) */
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dev, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        PyObject *res = PyUnicode_CheckExact(k) ? PyDict_GetItemWithError(keys, k) : NULL, *nv = NULL;
        if (res) {
            Py_INCREF(res);
        } else {
            if (PyErr_Occurred()) goto item_fail;
            res = PyObject_CallOneArg(args[4], k);
            if (!res) goto item_fail;
        }
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 4) {
            Py_DECREF(res);
            PyErr_SetString(PyExc_TypeError, "resolve must return (name, index, kind, cached)");
            goto item_fail;
        }
        PyObject *name = PyTuple_GET_ITEM(res, 0), *ix = PyTuple_GET_ITEM(res, 1), *kind = PyTuple_GET_ITEM(res, 2);
        if (ix == Py_None) {
            PyObject *pair = PyTuple_Pack(2, name, v);
            Py_DECREF(res);
            if (!*unknown && pair && !(*unknown = PyList_New(0))) Py_CLEAR(pair);
            if (!pair || PyList_Append(*unknown, pair) < 0) {
                Py_XDECREF(pair);
                goto item_fail;
            }
            Py_DECREF(pair);
            Py_DECREF(k);
            Py_DECREF(v);
            continue;
        }
        Py_ssize_t i = fs_index(ix);
        if (i < 0 || i >= n) {
            Py_DECREF(res);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "attribute index out of range");
            goto item_fail;
        }
        if (v == Py_None) {
            Py_DECREF(res);
            Py_DECREF(k);
            Py_DECREF(v);
            continue;
        }
        PyObject *cflag = PyTuple_GET_ITEM(res, 3);
        int cached = cflag == Py_True ? 1 : cflag == Py_False ? 0 : PyObject_IsTrue(cflag);
        if (cached < 0) {
            Py_DECREF(res);
            goto item_fail;
        }
        if (!cached) {
            /* near-unique text attributes: _text's printable-ASCII branch here, anything else in Python */
            int tk = PyUnicode_CheckExact(v) && PyUnicode_CheckExact(kind)
                         ? (PyUnicode_CompareWithASCIIString(kind, "text") == 0       ? 1
                            : PyUnicode_CompareWithASCIIString(kind, "digits") == 0 ? 2
                                                                                     : 0)
                         : 0;
            nv = tk ? ascii_text_mode(v, tk == 2) : NULL;
            if (!nv && !PyErr_Occurred()) nv = PyObject_CallFunctionObjArgs(args[5], kind, v, NULL);
        } else if (ints && PyLong_CheckExact(v)) {
            /* round 17: an exact int's canonical value from its attribute's own int memo (keyed by the int: no
             * (name, type, v) tuple to make, hash and compare); a miss calls norm_int(i, kind, v), which remembers */
            nv = attr_memo(PyTuple_GET_ITEM(ints, i), v, args[10], i, kind);
        } else if (vmemo && (PyLong_CheckExact(v) || PyBool_Check(v) || all_str_list(v))) {
            /* _norm_cached's memo read here: key (name, type(v), v), for a list of str (name, list, tuple(v));
             * a miss calls it (it remembers) */
            PyObject *lt = PyList_CheckExact(v) ? PyList_AsTuple(v) : NULL;
            PyObject *ck = (lt || !PyList_CheckExact(v)) ? PyTuple_Pack(3, name, (PyObject *)Py_TYPE(v), lt ? lt : v)
                                                         : NULL;
            Py_XDECREF(lt);
            nv = ck ? PyDict_GetItemWithError(vmemo, ck) : NULL;
            Py_XDECREF(ck);
            if (nv) Py_INCREF(nv);
            else if (ck && !PyErr_Occurred()) nv = PyObject_CallFunctionObjArgs(args[7], name, kind, v, NULL);
        } else if (PyUnicode_CheckExact(v)) {
            nv = attr_memo(PyTuple_GET_ITEM(strs, i), v, args[6], i, kind);
        } else {
            nv = PyObject_CallFunctionObjArgs(args[7], name, kind, v, NULL);
        }
        Py_DECREF(res);
        if (!nv) goto item_fail;
        if (nv != Py_None) {
            PyObject *old = items[i];
            if (old == Py_None) {
                items[i] = nv; /* steals nv; the None it replaces is dropped */
                Py_DECREF(old);
                nv = NULL;
            } else {
                int lt = PyObject_RichCompareBool(nv, old, Py_LT); /* min(old, nv): nv only when smaller */
                if (lt < 0) {
                    Py_DECREF(nv);
                    goto item_fail;
                }
                if (lt) {
                    old = items[i]; /* the comparison ran Python code: read the slot again */
                    items[i] = nv;
                    Py_DECREF(old);
                    nv = NULL;
                }
            }
        }
        Py_XDECREF(nv);
        Py_DECREF(k);
        Py_DECREF(v);
        continue;
    item_fail:
        Py_DECREF(k);
        Py_DECREF(v);
        return -1;
    }
    return 0;
}

/* the checks of canon_values' arguments: n (>= 0), or -1 with an error */
Py_ssize_t fp_canon_check(PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 8 && nargs != 9 && nargs != 11) || !PyDict_CheckExact(args[0]) || !PyDict_Check(args[2]) ||
        !PyTuple_Check(args[3]) || (nargs >= 9 && !PyDict_CheckExact(args[8])) ||
        (nargs == 11 && (!PyTuple_Check(args[9]) || !PyCallable_Check(args[10])))) {
        PyErr_SetString(PyExc_TypeError, "canon_values(device, n, keys, strs, resolve, norm, norm_str, norm_cached"
                                         "[, values[, ints, norm_int]])");
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n < 0 || n != PyTuple_GET_SIZE(args[3]) || (nargs == 11 && n != PyTuple_GET_SIZE(args[9]))) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "one memo per attribute");
        return -1;
    }
    return n;
}

PyObject *fp_canon_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t n = fp_canon_check(args, nargs);
    if (n < 0) return NULL;
    PyObject *vals = PyList_New(n), *unknown = NULL;
    if (!vals) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(vals, i, Py_NewRef(Py_None));
    if (fp_canon_fill(args, nargs, ((PyListObject *)vals)->ob_item, n, &unknown) < 0 ||
        (!unknown && !(unknown = PyList_New(0)))) {
        Py_DECREF(vals);
        Py_XDECREF(unknown);
        return NULL;
    }
    return pair_steal(vals, unknown);
}

/* -- the fingerprint cache's key of a device mapping (reference: Fingerprinter.fingerprint, a repr key) ------ */

/* the key's input in a buffer, hashed in one shot (equal to the streaming digest of the same bytes); a longer
 * input continues in a streaming state */
typedef struct {
    uint64_t seed;
    size_t n;
    int streaming;
    unsigned char buf[2048];
    XXH3_state_t st;
} KB;

/* the buffer is full (or the state streams): continue in the streaming state */
static void kb_spill(KB *b, const void *p, size_t len) {
    if (!b->streaming) {
        XXH3_128bits_reset_withSeed(&b->st, b->seed);
        XXH3_128bits_update(&b->st, b->buf, b->n);
        b->streaming = 1;
    }
    XXH3_128bits_update(&b->st, p, len);
}

/* inlined (round 12): the tags and lengths are 1- and 8-byte copies the compiler writes as stores */
static inline __attribute__((always_inline)) void kb_update(KB *b, const void *p, size_t len) {
    if (!b->streaming && b->n + len <= sizeof(b->buf)) {
        if (len) memcpy(b->buf + b->n, p, len);
        b->n += len;
        return;
    }
    kb_spill(b, p, len);
}

/* tag + 8-byte length + data of a str in one header store (round 16: the same bytes as three updates); 1 for a str
 * without UTF-8 (lone surrogates: the repr key) */
static inline int key_str(KB *st, PyObject *v) {
    Py_ssize_t n;
    const char *u;
    if (PyUnicode_IS_COMPACT_ASCII(v)) {
        u = (const char *)PyUnicode_DATA(v);
        n = PyUnicode_GET_LENGTH(v);
    } else {
        u = PyUnicode_AsUTF8AndSize(v, &n);
        if (!u) {
            PyErr_Clear();
            return 1;
        }
    }
    unsigned char hdr[9];
    uint64_t len = (uint64_t)n;
    hdr[0] = 's';
    memcpy(hdr + 1, &len, sizeof len);
    if (!st->streaming && st->n + 9 + (size_t)n <= sizeof(st->buf)) {
        memcpy(st->buf + st->n, hdr, 9);
        memcpy(st->buf + st->n + 9, u, (size_t)n);
        st->n += 9 + (size_t)n;
        return 0;
    }
    kb_update(st, hdr, 9);
    kb_update(st, u, (size_t)n);
    return 0;
}

static int key_value(KB *st, PyObject *v, int depth) {
    if (PyUnicode_CheckExact(v)) return key_str(st, v); /* the common case first (round 16) */
    if (v == Py_None) {
        kb_update(st, "n", 1);
        return 0;
    }
    if (PyBool_Check(v)) {
        kb_update(st, v == Py_True ? "T" : "F", 1);
        return 0;
    }
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (x == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 1;
        }
        kb_update(st, "i", 1);
        kb_update(st, &x, sizeof x);
        return 0;
    }
    if (PyFloat_CheckExact(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        kb_update(st, "f", 1);
        kb_update(st, &d, sizeof d);
        return 0;
    }
    if (PyList_CheckExact(v) && depth == 0) {
        uint64_t len = (uint64_t)PyList_GET_SIZE(v);
        kb_update(st, "l", 1);
        kb_update(st, &len, sizeof len);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            int r = key_value(st, PyList_GET_ITEM(v, i), 1);
            if (r) return r;
        }
        return 0;
    }
    return 1; /* anything else: the repr key */
}

/* mapping_key(device) -> 16 bytes, or None (use the repr key): a keyed 128-bit hash of the dict's items in
 * order, type-tagged and length-prefixed, so equal keys mean equal mappings as repr() keys do (up to
 * 128-bit collisions). The stream starts with a 0xff byte, which no UTF-8 repr text starts with. */
PyObject *Hasher_mapping_key(Hasher *h, PyObject *dev) {
    if (!PyDict_CheckExact(dev)) Py_RETURN_NONE;
    KB st;
    st.seed = h->seed;
    st.n = 0;
    st.streaming = 0;
    kb_update(&st, "\xff", 1);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dev, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k)) Py_RETURN_NONE;
        int r = key_str(&st, k);
        if (!r) r = key_value(&st, v, 0);
        if (r < 0) return NULL;
        if (r) Py_RETURN_NONE;
    }
    XXH128_hash_t d = st.streaming ? XXH3_128bits_digest(&st.st) : XXH3_128bits_withSeed(st.buf, st.n, st.seed);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, d);
    return PyBytes_FromStringAndSize((const char *)c.digest, 16);
}
