/*
 * fraudscore._core.fingerprint, part: signal_row, device_signal_values' cached path
 * (reference: fraudscore/fingerprint/signals.py)
 */
#include "fingerprint.h"

/* -- signals.device_signal_values' cached path (reference: fraudscore/fingerprint/signals.py) --------------- */

static PyObject *descr_get(PyObject *d, PyObject *o) {
    descrgetfunc get = Py_TYPE(d)->tp_descr_get;
    if (!get) {
        PyErr_SetString(PyExc_TypeError, "not a member descriptor");
        return NULL;
    }
    return get(d, o, (PyObject *)Py_TYPE(o));
}

/* ASCII str.strip().upper() == want (an ASCII str); -1: not ASCII (the reference decides) */
static int ascii_strip_upper_eq(PyObject *s, PyObject *want) {
    if (!PyUnicode_IS_COMPACT_ASCII(s) || !PyUnicode_IS_COMPACT_ASCII(want)) return -1;
    const unsigned char *a = (const unsigned char *)PyUnicode_DATA(s);
    Py_ssize_t i = 0, j = PyUnicode_GET_LENGTH(s);
    while (i < j && is_ws(a[i])) i++;
    while (j > i && is_ws(a[j - 1])) j--;
    const unsigned char *w = (const unsigned char *)PyUnicode_DATA(want);
    if (j - i != PyUnicode_GET_LENGTH(want)) return 0;
    for (Py_ssize_t k = 0; k < j - i; k++) {
        unsigned char c = a[i + k];
        if (c >= 'a' && c <= 'z') c -= 32;
        if (c != w[k]) return 0;
    }
    return 1;
}

/* signal_row(ctx, fp, event) -> device_signal_values(fp, event) when fp's template row is cached, else None
 * (the reference computes and caches it). ctx = (fp_canonical_descr, cd_descrs(values, extra, source, os_family),
 * static_idx, expected_web, expected_app, rows, tz_idx, timezone_country, tz_pos, "app", "ip_country") */
PyObject *fp_signal_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 11) {
        PyErr_SetString(PyExc_TypeError, "signal_row(ctx, fp, event)");
        return NULL;
    }
    PyObject *ctx = args[0], *ev = args[2];
    PyObject *cd = descr_get(PyTuple_GET_ITEM(ctx, 0), args[1]);
    if (!cd) return NULL;
    PyObject *cdd = PyTuple_GET_ITEM(ctx, 1), *f[4] = {NULL, NULL, NULL, NULL}, *out = NULL, *key = NULL;
    PyObject *sv = NULL;
    for (int i = 0; i < 4; i++)
        if (!(f[i] = descr_get(PyTuple_GET_ITEM(cdd, i), cd))) goto done;
    PyObject *vals = f[0], *extra = f[1], *src = f[2], *fam = f[3];
    if (!PyTuple_Check(vals) || !PyTuple_Check(extra) || !PyUnicode_Check(src)) {
        PyErr_SetString(PyExc_TypeError, "a canonical device");
        goto done;
    }
    if (PyTuple_GET_SIZE(extra)) { /* the extras' part of the key: the reference */
        out = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t nv = PyTuple_GET_SIZE(vals);
    PyObject *sidx = PyTuple_GET_ITEM(ctx, 2);
    int is_app = PyUnicode_Compare(src, PyTuple_GET_ITEM(ctx, 9)) == 0;
    if (PyErr_Occurred()) goto done;
    PyObject *eidx = PyTuple_GET_ITEM(ctx, is_app ? 4 : 3);
    sv = PyTuple_New(PyTuple_GET_SIZE(sidx));
    if (!sv) goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(sidx); i++) {
        Py_ssize_t j = tuple_index(sidx, i, nv);
        if (j < 0) goto done;
        PyTuple_SET_ITEM(sv, i, Py_NewRef(PyTuple_GET_ITEM(vals, j)));
    }
    long missing = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(eidx); i++) {
        Py_ssize_t j = tuple_index(eidx, i, nv);
        if (j < 0) goto done;
        missing += PyTuple_GET_ITEM(vals, j) == Py_None;
    }
    PyObject *cnt = PyLong_FromLong(missing);
    if (!cnt) goto done;
    PyObject *empty = PyTuple_New(0);
    key = empty ? PyTuple_Pack(5, src, fam, empty, sv, cnt) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(cnt);
    if (!key) goto done;
    PyObject *row = PyDict_GetItemWithError(PyTuple_GET_ITEM(ctx, 5), key);
    if (!row) {
        if (!PyErr_Occurred()) out = Py_NewRef(Py_None);
        goto done;
    }
    if (!PyList_CheckExact(row)) {
        PyErr_SetString(PyExc_TypeError, "cached rows are lists");
        goto done;
    }
    out = PyList_GetSlice(row, 0, PyList_GET_SIZE(row));
    if (!out) goto done;
    PyObject *ipc = NULL;
    if (ev != Py_None) {
        if (!PyDict_CheckExact(ev)) { /* event.get on another mapping: the reference */
            Py_SETREF(out, Py_NewRef(Py_None));
            goto done;
        }
        ipc = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(ctx, 10));
        if (!ipc && PyErr_Occurred()) {
            Py_CLEAR(out);
            goto done;
        }
    }
    if (ipc && PyUnicode_Check(ipc) && PyUnicode_GET_LENGTH(ipc) > 0) {
        Py_ssize_t tzi = fs_index(PyTuple_GET_ITEM(ctx, 6)), pos = fs_index(PyTuple_GET_ITEM(ctx, 8));
        if (tzi < 0 || tzi >= nv || pos < 0 || pos >= PyList_GET_SIZE(out)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "index out of range");
            Py_CLEAR(out);
            goto done;
        }
        PyObject *tz = PyTuple_GET_ITEM(vals, tzi);
        PyObject *tc = tz == Py_None ? NULL : PyDict_GetItemWithError(PyTuple_GET_ITEM(ctx, 7), tz);
        if (!tc && PyErr_Occurred()) {
            Py_CLEAR(out);
            goto done;
        }
        if (tc) {
            if (!PyUnicode_Check(tc)) {
                Py_SETREF(out, Py_NewRef(Py_None));
                goto done;
            }
            int eq = ascii_strip_upper_eq(ipc, tc);
            if (eq < 0) {
                Py_SETREF(out, Py_NewRef(Py_None));
                goto done;
            }
            PyObject *x = PyFloat_FromDouble(eq ? 0.0 : 1.0);
            if (!x) {
                Py_CLEAR(out);
                goto done;
            }
            PyList_SetItem(out, pos, x);
        }
    }
done:
    Py_XDECREF(key);
    Py_XDECREF(sv);
    for (int i = 0; i < 4; i++) Py_XDECREF(f[i]);
    Py_DECREF(cd);
    return out;
}
