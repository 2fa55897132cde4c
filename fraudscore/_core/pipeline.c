/*
 * fraudscore._core.pipeline -- the glue of FeaturePipeline.online around the compiled stages, writing the
 * feature vector in place (reference: fraudscore/pipeline.py, FeaturePipeline._record_and_static and the
 * assembly of the vector at the end of FeaturePipeline.online).
 *
 * head(plan, ev, pseudo, feats, x) -> record, or None
 *     The record (dict(ev) without "device", updated with the pseudonyms, the aliases and the plain
 *     device id) and the head of the feature vector written into x (a writable float64 buffer):
 *     the numeric fields (NaN for None, else float(v)), the timestamp fields ((t - v) / 1000.0, the
 *     Python operators), the category codes (encode_one(ev.get(name)) or NaN without a vocabulary)
 *     and the identity features feats[name], in the order of FeaturePipeline.feature_names.
 *     plan = (numeric_names, time_field, time_names, categories, ident_names, aliases, device_id_field),
 *     categories a tuple of (name, encode_one or None), aliases a tuple of (alias, name) pairs,
 *     device_id_field a str or None. None (nothing written that matters) when ev, pseudo or feats is
 *     not an exact dict, or a code or an identity feature is not a float or an int: the caller then
 *     runs the Python reference.
 * row(plan, ev, x) -> record, or None
 *     head() with the identity step inside: plan = head's plan + (into, identity_plan, has_ip, age), into the
 *     identity kernel's bound Kernel.into (fraudscore/_core/identity.c). The record is dict(ev) without
 *     "device"; into() sets the pseudonyms in it (the order record.update(pseudonyms) gives) and writes the
 *     identity features straight into x, then the aliases, the numeric, timestamp and category features and
 *     the plain device id as head(). No dict of pseudonyms or identity features is built. None when ev is
 *     not an exact dict, its event time not an exact int or None, or a value is off the fast path (as head):
 *     the caller runs Identity.process + head, or the Python reference.
 * device(ctx, ev, record, x, end) -> fingerprint or None
 *     FeaturePipeline._device + device_signal_values + put in one call: dev = ev.get("device"); a truthy dev
 *     without a known attribute raises unusable_device_error() (has_device_attribute's loop here for exact
 *     dicts of plain values, else the Python function); fp = fingerprint(dev); record["device_fp"],
 *     ["device_hw"], ["device_canvas"] = fp.id, fp.hardware, fp.canvas (None without fp); the device signals
 *     (the missing row without fp, the compiled signal_row for a Fingerprint, else device_signal_values(fp, ev))
 *     written into x[end - len(signals):end] (assign(x, start, signals), numpy's conversion, for a value that is
 *     not a float or an int). ctx = (fingerprint, has_device_attribute, known_names, attribute_known,
 *     unusable_device_error, Fingerprint, signal_row or None, signal_row's context, device_signal_values,
 *     missing_row, assign[, fctx]); with fctx (round 13) Fingerprinter.fingerprint's cache is read and written
 *     in C (cached_fingerprint: mapping_key, the OrderedDict's get / move_to_end / insert, _fp_cost, the bounds;
 *     the method itself for anything else).
 * put(x, offset, values) -> True, or False
 *     x[offset:offset + len(values)] = values for a list of floats (ints and bools as float());
 *     False (nothing written) for anything else: the caller assigns through numpy.
 * online(octx, ev, x, linker, plan, store) -> (record, x, False, duplicate), (record, StoreError) or None
 *     (round 13, pipeline_online.h) the whole of FeaturePipeline.online for the compiled memory store.
 * tail(x, offset, conf, vel) -> True, or False
 *     x[offset] = conf (a float; None: nothing written there) and x[offset + 1:] = vel (a C-contiguous
 *     float64 buffer of exactly the remaining length); False (nothing written) otherwise.
 *
 * The values written are the doubles numpy would store from the same Python objects (a float's value;
 * float(v) for an int or bool), so the vector is bit for bit the reference's
 * (tests/test_pipeline_compiled.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#include "f64view.h" /* f64_view */
#include "attrcache.h" /* AC_GET: guarded attribute reads (round 17) */

static PyObject *S_device, *S_device_id, *S_device_fp, *S_device_hw, *S_device_canvas, *ONE_THOUSAND;
static PyObject *S_id, *S_hardware, *S_canvas;

/* a float or int as numpy stores it in a float64 array (float(v)); -1 with no exception: not such a value */
static int as_double(PyObject *v, double *out) {
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    if (PyLong_Check(v)) { /* int and bool: float(v), OverflowError as float() raises it */
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) return -2;
        *out = d;
        return 0;
    }
    return -1;
}

static int get_buffer(PyObject *x, Py_buffer *view);

/* x's buffer: a copy of held when held is x's (online() acquires it once per event, round 13; the copy's obj is
 * NULL, so releasing it does nothing), else get_buffer(x) */
static int x_buffer(PyObject *x, Py_buffer *view, const Py_buffer *held) {
    if (held && held->obj == x) {
        *view = *held;
        view->obj = NULL;
        return 0;
    }
    return get_buffer(x, view);
}

static int get_buffer(PyObject *x, Py_buffer *view) {
    int fv = f64_view(x, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS); /* round 15: numpy's vector without the protocol */
    if (fv) return fv < 0 ? -1 : 0;
    if (PyObject_GetBuffer(x, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->itemsize != 8) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "x must be a float64 buffer");
        return -1;
    }
    return 0;
}

/* the aliases (into the record), the numeric, timestamp and category features (x[0..]) and, feats non-NULL,
 * the identity features feats[name] (x after the categories). 0, -1 (error), 1 (hand back). */
static int fill_values(PyObject *plan, PyObject *ev, PyObject *record, PyObject *feats, double *x) {
    PyObject *numeric = PyTuple_GET_ITEM(plan, 0), *time_field = PyTuple_GET_ITEM(plan, 1);
    PyObject *times = PyTuple_GET_ITEM(plan, 2), *cats = PyTuple_GET_ITEM(plan, 3);
    PyObject *idents = PyTuple_GET_ITEM(plan, 4), *aliases = PyTuple_GET_ITEM(plan, 5);
    Py_ssize_t n_num = PyTuple_GET_SIZE(numeric), n_time = PyTuple_GET_SIZE(times);
    Py_ssize_t n_cat = PyTuple_GET_SIZE(cats), n_id = PyTuple_GET_SIZE(idents);
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(aliases); i++) {
        PyObject *pair = PyTuple_GET_ITEM(aliases, i);
        PyObject *v = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(pair, 1)); /* ev[name] */
        if (!v) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, PyTuple_GET_ITEM(pair, 1));
            return -1;
        }
        if (PyDict_SetItem(record, PyTuple_GET_ITEM(pair, 0), v) < 0) return -1;
    }
    for (Py_ssize_t i = 0; i < n_num; i++, j++) { /* NaN if v is None else float(v) */
        PyObject *v = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(numeric, i));
        if (!v && PyErr_Occurred()) return -1;
        if (!v || v == Py_None) {
            x[j] = Py_NAN;
            continue;
        }
        if (PyFloat_CheckExact(v)) {
            x[j] = PyFloat_AS_DOUBLE(v);
            continue;
        }
        PyObject *f = PyNumber_Float(v); /* float(v) */
        if (!f) return -1;
        x[j] = PyFloat_AS_DOUBLE(f);
        Py_DECREF(f);
    }
    if (n_time) { /* NaN if v is None else (t - v) / 1000.0, with the Python operators */
        PyObject *t = PyDict_GetItemWithError(ev, time_field);
        if (!t) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, time_field);
            return -1;
        }
        for (Py_ssize_t i = 0; i < n_time; i++, j++) {
            PyObject *v = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(times, i));
            if (!v && PyErr_Occurred()) return -1;
            if (!v || v == Py_None) {
                x[j] = Py_NAN;
                continue;
            }
            PyObject *d = PyNumber_Subtract(t, v);
            if (!d) return -1;
            PyObject *q = PyNumber_TrueDivide(d, ONE_THOUSAND);
            Py_DECREF(d);
            if (!q) return -1;
            int r = as_double(q, &x[j]);
            Py_DECREF(q);
            if (r == -2) return -1;
            if (r == -1) return 1;
        }
    }
    for (Py_ssize_t i = 0; i < n_cat; i++, j++) { /* NaN without a vocabulary, else encode_one(ev.get(name)) */
        PyObject *pair = PyTuple_GET_ITEM(cats, i), *enc = PyTuple_GET_ITEM(pair, 1);
        if (enc == Py_None) {
            x[j] = Py_NAN;
            continue;
        }
        PyObject *v = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(pair, 0));
        if (!v && PyErr_Occurred()) return -1;
        PyObject *code = PyObject_CallOneArg(enc, v ? v : Py_None);
        if (!code) return -1;
        int r = as_double(code, &x[j]);
        Py_DECREF(code);
        if (r == -2) return -1;
        if (r == -1) return 1;
    }
    for (Py_ssize_t i = 0; feats && i < n_id; i++, j++) { /* feats[name] */
        PyObject *name = PyTuple_GET_ITEM(idents, i);
        PyObject *v = PyDict_GetItemWithError(feats, name);
        if (!v) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, name);
            return -1;
        }
        int r = as_double(v, &x[j]);
        if (r == -2) return -1;
        if (r == -1) return 1;
    }
    return 0;
}

/* fill_values, then the record's plain device id: record["device_id"] = pseudo[device_id_field], read before
 * the aliases are set (pseudo may be the record itself). 0, -1 (error), 1 (hand back). */
static int fill(PyObject *plan, PyObject *ev, PyObject *record, PyObject *pseudo, PyObject *feats, double *x) {
    PyObject *device_id_field = PyTuple_GET_ITEM(plan, 6), *dev = NULL;
    if (device_id_field != Py_None) {
        dev = PyDict_GetItemWithError(pseudo, device_id_field);
        if (!dev) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, device_id_field);
            return -1;
        }
        Py_INCREF(dev);
    }
    int rc = fill_values(plan, ev, record, feats, x);
    if (rc == 0 && dev && PyDict_SetItem(record, S_device_id, dev) < 0) rc = -1;
    Py_XDECREF(dev);
    return rc;
}

/* dict(ev) without "device" */
static PyObject *record_of(PyObject *ev) {
    PyObject *record = PyDict_Copy(ev);
    if (!record) return NULL;
    int has = PyDict_Contains(record, S_device);
    if (has < 0 || (has && PyDict_DelItem(record, S_device) < 0)) {
        Py_DECREF(record);
        return NULL;
    }
    return record;
}

static Py_ssize_t head_width(PyObject *plan, int with_ident) {
    return PyTuple_GET_SIZE(PyTuple_GET_ITEM(plan, 0)) + PyTuple_GET_SIZE(PyTuple_GET_ITEM(plan, 2)) +
           PyTuple_GET_SIZE(PyTuple_GET_ITEM(plan, 3)) + (with_ident ? PyTuple_GET_SIZE(PyTuple_GET_ITEM(plan, 4)) : 0);
}

static PyObject *py_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "head(plan, ev, pseudo, feats, x)");
        return NULL;
    }
    PyObject *plan = args[0], *ev = args[1], *pseudo = args[2], *feats = args[3];
    if (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 7) {
        PyErr_SetString(PyExc_TypeError, "head: bad plan");
        return NULL;
    }
    if (!PyDict_CheckExact(ev) || !PyDict_CheckExact(pseudo) || !PyDict_CheckExact(feats)) Py_RETURN_NONE;
    Py_buffer view;
    if (get_buffer(args[4], &view) < 0) return NULL;
    PyObject *record = NULL;
    if (view.len / 8 < head_width(plan, 1)) {
        PyErr_SetString(PyExc_ValueError, "head: x is too short");
        goto fail;
    }
    /* the record: dict(ev), "device" popped, the pseudonyms, the aliases (as _record_and_static) */
    record = record_of(ev);
    if (!record) goto fail;
    if (PyDict_Update(record, pseudo) < 0) goto fail;
    int r = fill(plan, ev, record, pseudo, feats, (double *)view.buf);
    if (r < 0) goto fail;
    PyBuffer_Release(&view);
    if (r > 0) {
        Py_DECREF(record);
        Py_RETURN_NONE;
    }
    return record;
fail:
    PyBuffer_Release(&view);
    Py_XDECREF(record);
    return NULL;
}

static PyObject *row_impl(PyObject *const *args, Py_ssize_t nargs, const Py_buffer *held);

static PyObject *py_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) { return row_impl(args, nargs, NULL); }

static PyObject *row_impl(PyObject *const *args, Py_ssize_t nargs, const Py_buffer *held) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "row(plan, ev, x)");
        return NULL;
    }
    PyObject *plan = args[0], *ev = args[1];
    if (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 11) {
        PyErr_SetString(PyExc_TypeError, "row: bad plan");
        return NULL;
    }
    if (!PyDict_CheckExact(ev)) Py_RETURN_NONE;
    /* Identity.process's event time: int(ts) for an int, else None; only exact ints and None here */
    PyObject *ts = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(plan, 1));
    if (!ts && PyErr_Occurred()) return NULL;
    if (!ts) ts = Py_None;
    if (ts != Py_None && !PyLong_CheckExact(ts)) Py_RETURN_NONE;
    Py_buffer view;
    if (x_buffer(args[2], &view, held) < 0) return NULL;
    Py_INCREF(ts); /* held across into(), which may call the Python describers */
    PyObject *record = NULL, *ok = NULL;
    Py_ssize_t head = head_width(plan, 0);
    if (view.len / 8 < head_width(plan, 1)) {
        PyErr_SetString(PyExc_ValueError, "row: x is too short");
        goto fail;
    }
    record = record_of(ev);
    if (!record) goto fail;
    PyObject *off = PyLong_FromSsize_t(head);
    if (!off) goto fail;
    /* into(ev, identity_plan, ts, has_ip, age, record, x, offset) */
    PyObject *call[8] = {ev, PyTuple_GET_ITEM(plan, 8), ts, PyTuple_GET_ITEM(plan, 9), PyTuple_GET_ITEM(plan, 10),
                         record, args[2], off};
    ok = PyObject_Vectorcall(PyTuple_GET_ITEM(plan, 7), call, 8, NULL);
    Py_DECREF(off);
    if (!ok) goto fail;
    int r = 1;
    if (ok == Py_True) {
        r = fill(plan, ev, record, record, NULL, (double *)view.buf);
        if (r < 0) goto fail;
    }
    Py_DECREF(ok);
    Py_DECREF(ts);
    PyBuffer_Release(&view);
    if (r > 0) {
        Py_DECREF(record);
        Py_RETURN_NONE;
    }
    return record;
fail:
    Py_XDECREF(ok);
    Py_DECREF(ts);
    PyBuffer_Release(&view);
    Py_XDECREF(record);
    return NULL;
}

static PyObject *py_put(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "put(x, offset, values)");
        return NULL;
    }
    PyObject *values = args[2];
    if (!PyList_CheckExact(values)) Py_RETURN_FALSE;
    Py_ssize_t off = PyLong_AsSsize_t(args[1]), n = PyList_GET_SIZE(values);
    if (off == -1 && PyErr_Occurred()) return NULL;
    double tmp[64];
    if (n > 64) Py_RETURN_FALSE;
    for (Py_ssize_t i = 0; i < n; i++) { /* converted first: nothing written unless all convert */
        int r = as_double(PyList_GET_ITEM(values, i), &tmp[i]);
        if (r == -2) return NULL;
        if (r == -1) Py_RETURN_FALSE;
    }
    Py_buffer view;
    if (get_buffer(args[0], &view) < 0) return NULL;
    if (off < 0 || view.len / 8 < off + n) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "put: out of range");
        return NULL;
    }
    memcpy((double *)view.buf + off, tmp, (size_t)n * sizeof(double));
    PyBuffer_Release(&view);
    Py_RETURN_TRUE;
}

static PyObject *py_tail(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "tail(x, offset, conf, vel)");
        return NULL;
    }
    PyObject *conf = args[2];
    if (conf != Py_None && !PyFloat_CheckExact(conf)) Py_RETURN_FALSE;
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    if (off == -1 && PyErr_Occurred()) return NULL;
    if (!PyObject_CheckBuffer(args[3])) Py_RETURN_FALSE;
    Py_buffer vv;
    if (PyObject_GetBuffer(args[3], &vv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    if (vv.itemsize != 8 || !vv.format || strcmp(vv.format, "d") != 0) {
        PyBuffer_Release(&vv);
        Py_RETURN_FALSE;
    }
    Py_buffer view;
    if (get_buffer(args[0], &view) < 0) {
        PyBuffer_Release(&vv);
        return NULL;
    }
    Py_ssize_t n = view.len / 8, start = off + 1;
    if (off < 0 || start + vv.len / 8 != n) {
        PyBuffer_Release(&vv);
        PyBuffer_Release(&view);
        Py_RETURN_FALSE;
    }
    double *x = (double *)view.buf;
    if (conf != Py_None) x[off] = PyFloat_AS_DOUBLE(conf);
    memcpy(x + start, vv.buf, (size_t)vv.len);
    PyBuffer_Release(&vv);
    PyBuffer_Release(&view);
    Py_RETURN_TRUE;
}

/* has_device_attribute(dev) for an exact dict of plain values: 1, 0, -1 (error), 2 (a value this loop does not
 * compare: the caller runs the Python function). Skips None, "" and [] (v == "" / v == [] hold for no other
 * exact str, list, int, float, bool, dict or tuple); a name's answer from known_names, else attribute_known(k). */
static int has_attribute(PyObject *dev, PyObject *known, PyObject *attribute_known) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dev, &pos, &k, &v)) { /* borrowed: nothing below changes dev (attribute_known: names) */
        if (v == Py_None) continue;
        if (PyUnicode_CheckExact(v)) {
            if (PyUnicode_GET_LENGTH(v) == 0) continue;
        } else if (PyList_CheckExact(v)) {
            if (PyList_GET_SIZE(v) == 0) continue;
        } else if (!PyLong_CheckExact(v) && !PyFloat_CheckExact(v) && !PyBool_Check(v) && !PyDict_CheckExact(v) &&
                   !PyTuple_CheckExact(v)) {
            return 2;
        }
        if (!PyUnicode_CheckExact(k)) return 2;
        PyObject *hit = PyDict_GetItemWithError(known, k);
        if (!hit && PyErr_Occurred()) return -1;
        int t;
        if (hit) {
            t = PyObject_IsTrue(hit);
        } else {
            Py_INCREF(k);
            PyObject *r = PyObject_CallOneArg(attribute_known, k);
            Py_DECREF(k);
            if (!r) return -1;
            t = PyObject_IsTrue(r);
            Py_DECREF(r);
        }
        if (t) return t; /* 1, or -1 (error) */
    }
    return 0;
}

static PyObject *S__cache, *S__mapping_key, *S__build1, *S__cache_used, *S__cache_size, *S__cache_bytes,
    *S__trim_cache, *S_move_to_end, *S_canonical, *S_values, *S_extra;

/* sections._fp_cost(fp): 900 + 8 * len(values) + values_size(values) for a canonical device without extra
 * attributes (else the Python function). A new reference. */
static PyObject *fp_cost(PyObject *fctx, PyObject *fp) {
    PyObject *vsize = PyTuple_GET_ITEM(fctx, 3), *c = PyObject_GetAttr(fp, S_canonical), *out = NULL;
    if (!c) return NULL;
    PyObject *vals = PyObject_GetAttr(c, S_values), *extra = vals ? PyObject_GetAttr(c, S_extra) : NULL;
    Py_DECREF(c);
    int t = extra ? PyObject_IsTrue(extra) : -1;
    if (t < 0) goto done;
    if (t || vsize == Py_None || !PyTuple_Check(vals)) {
        out = PyObject_CallOneArg(PyTuple_GET_ITEM(fctx, 2), fp);
        goto done;
    }
    PyObject *z = PyObject_CallOneArg(vsize, vals);
    if (!z) goto done;
    Py_ssize_t n = PyLong_AsSsize_t(z);
    Py_DECREF(z);
    if (n == -1 && PyErr_Occurred()) goto done;
    out = PyLong_FromSsize_t(900 + 8 * PyTuple_GET_SIZE(vals) + n);
done:
    Py_XDECREF(vals);
    Py_XDECREF(extra);
    return out;
}

/* Fingerprinter.fingerprint(dev) for a truthy dev (sections.py), its LRU cache read and written here when the
 * method is the class's own on an exact Fingerprinter with an OrderedDict cache and the compiled key and build;
 * anything else -- and a build that hands over (None) -- calls the method, which decides. fctx = (the
 * Fingerprinter.fingerprint function, Fingerprinter, _fp_cost, values_size or None). */
static PyObject *cached_fingerprint(PyObject *meth, PyObject *fctx, PyObject *dev) {
    if (!PyTuple_Check(fctx) || PyTuple_GET_SIZE(fctx) != 4 || !PyMethod_Check(meth) ||
        PyMethod_GET_FUNCTION(meth) != PyTuple_GET_ITEM(fctx, 0) ||
        (PyObject *)Py_TYPE(PyMethod_GET_SELF(meth)) != PyTuple_GET_ITEM(fctx, 1))
        return PyObject_CallOneArg(meth, dev);
    PyObject *fpr = PyMethod_GET_SELF(meth), *cache = NULL, *mk = NULL, *key = NULL, *fp = NULL, *build = NULL;
    PyObject *cost = NULL, *used = NULL;
    int fallback = 0;
    if (!(cache = AC_GET(fpr, S__cache)) || !(mk = AC_GET(fpr, S__mapping_key))) goto done;
    if (!PyODict_CheckExact(cache) || mk == Py_None) {
        fallback = 1;
        goto done;
    }
    if (!(key = PyObject_CallOneArg(mk, dev))) goto done;
    if (key == Py_None) {
        fallback = 1;
        goto done;
    }
    fp = PyDict_GetItemWithError(cache, key); /* cache.get(key) */
    if (fp) {
        Py_INCREF(fp);
        PyObject *r = PyObject_CallMethodOneArg(cache, S_move_to_end, key);
        if (!r) Py_CLEAR(fp);
        Py_XDECREF(r);
        goto done;
    }
    if (PyErr_Occurred() || !(build = AC_GET(fpr, S__build1))) goto done;
    if (build == Py_None || !(fp = PyObject_CallOneArg(build, dev)) || fp == Py_None) {
        if (fp || !PyErr_Occurred()) fallback = 1; /* the reference builds (and caches) it */
        Py_CLEAR(fp);
        goto done;
    }
    if (PyODict_SetItem(cache, key, fp) < 0 || !(cost = fp_cost(fctx, fp))) goto fail;
    PyObject *old = PyObject_GetAttr(fpr, S__cache_used); /* self._cache_used += _fp_cost(fp) */
    if (!old) goto fail;
    used = PyNumber_Add(old, cost);
    Py_DECREF(old);
    if (!used || PyObject_SetAttr(fpr, S__cache_used, used) < 0) goto fail;
    PyObject *size = PyObject_GetAttr(fpr, S__cache_size);
    if (!size) goto fail;
    PyObject *n = PyLong_FromSsize_t(PyDict_GET_SIZE(cache));
    int over = n ? PyObject_RichCompareBool(n, size, Py_GT) : -1;
    Py_XDECREF(n);
    Py_DECREF(size);
    if (over == 0 && PyDict_GET_SIZE(cache) > 1) {
        PyObject *bytes = PyObject_GetAttr(fpr, S__cache_bytes);
        over = bytes ? PyObject_RichCompareBool(used, bytes, Py_GT) : -1;
        Py_XDECREF(bytes);
    }
    if (over < 0) goto fail;
    if (over) {
        PyObject *r = PyObject_CallMethodNoArgs(fpr, S__trim_cache);
        if (!r) goto fail;
        Py_DECREF(r);
    }
    goto done;
fail:
    Py_CLEAR(fp);
done:
    Py_XDECREF(cache);
    Py_XDECREF(mk);
    Py_XDECREF(key);
    Py_XDECREF(build);
    Py_XDECREF(cost);
    Py_XDECREF(used);
    if (fallback && !PyErr_Occurred()) return PyObject_CallOneArg(meth, dev);
    return fp;
}

static PyObject *device_impl(PyObject *const *args, Py_ssize_t nargs, const Py_buffer *held);

static PyObject *py_device(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return device_impl(args, nargs, NULL);
}

static PyObject *device_impl(PyObject *const *args, Py_ssize_t nargs, const Py_buffer *held) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "device(ctx, ev, record, x, end)");
        return NULL;
    }
    PyObject *ctx = args[0], *ev = args[1], *record = args[2];
    if (!PyTuple_CheckExact(ctx) || (PyTuple_GET_SIZE(ctx) != 11 && PyTuple_GET_SIZE(ctx) != 12) ||
        !PyDict_CheckExact(ev) ||
        !PyDict_Check(record)) {
        PyErr_SetString(PyExc_TypeError, "device: bad arguments");
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(args[4]);
    if (end == -1 && PyErr_Occurred()) return NULL;
    PyObject *dev = PyDict_GetItemWithError(ev, S_device); /* ev.get("device") */
    if (!dev && PyErr_Occurred()) return NULL;
    if (!dev) dev = Py_None;
    Py_INCREF(dev);
    PyObject *fp = NULL, *sig = NULL;
    int truthy = PyObject_IsTrue(dev);
    if (truthy < 0) goto fail;
    if (truthy) { /* if dev and not has_device_attribute(dev): raise unusable_device_error() */
        int has = PyDict_CheckExact(dev) ? has_attribute(dev, PyTuple_GET_ITEM(ctx, 2), PyTuple_GET_ITEM(ctx, 3)) : 2;
        if (has == 2) {
            PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(ctx, 1), dev);
            if (!r) goto fail;
            has = PyObject_IsTrue(r);
            Py_DECREF(r);
        }
        if (has < 0) goto fail;
        if (!has) {
            PyObject *exc = PyObject_CallNoArgs(PyTuple_GET_ITEM(ctx, 4));
            if (exc) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
            goto fail;
        }
    }
    /* fp = fingerprint(dev): its cache in C where ctx[11] allows (None for a falsy dev, as the method) */
    fp = PyTuple_GET_SIZE(ctx) == 12 && truthy ? cached_fingerprint(PyTuple_GET_ITEM(ctx, 0), PyTuple_GET_ITEM(ctx, 11), dev)
                                               : PyObject_CallOneArg(PyTuple_GET_ITEM(ctx, 0), dev);
    if (!fp) goto fail;
    PyObject *attrs[3] = {S_id, S_hardware, S_canvas};
    PyObject *names[3] = {S_device_fp, S_device_hw, S_device_canvas};
    for (int i = 0; i < 3; i++) {
        PyObject *v = fp == Py_None ? (Py_INCREF(Py_None), Py_None) : PyObject_GetAttr(fp, attrs[i]);
        if (!v) goto fail;
        int r = PyDict_SetItem(record, names[i], v);
        Py_DECREF(v);
        if (r < 0) goto fail;
    }
    if (fp == Py_None) {
        sig = PyTuple_GET_ITEM(ctx, 9);
        Py_INCREF(sig);
    } else {
        PyObject *row = PyTuple_GET_ITEM(ctx, 6);
        if (row != Py_None && Py_TYPE(fp) == (PyTypeObject *)PyTuple_GET_ITEM(ctx, 5)) {
            PyObject *call[3] = {PyTuple_GET_ITEM(ctx, 7), fp, ev};
            sig = PyObject_Vectorcall(row, call, 3, NULL);
            if (!sig) goto fail;
            if (sig == Py_None) Py_CLEAR(sig);
        }
        if (!sig) {
            PyObject *call[2] = {fp, ev};
            sig = PyObject_Vectorcall(PyTuple_GET_ITEM(ctx, 8), call, 2, NULL);
            if (!sig) goto fail;
        }
    }
    /* x[end - len(sig):end] = sig (as FeaturePipeline._row_signals) */
    PyObject *seq = PySequence_Fast(sig, "device signals must be a sequence");
    if (!seq) goto fail;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), off = end - n;
    double tmp[64];
    int plain = n <= 64;
    for (Py_ssize_t i = 0; plain && i < n; i++) {
        int r = as_double(PySequence_Fast_GET_ITEM(seq, i), &tmp[i]);
        if (r == -2) {
            Py_DECREF(seq);
            goto fail;
        }
        if (r == -1) plain = 0;
    }
    Py_DECREF(seq);
    if (!plain) { /* an uncommon value: the numpy assignment of the reference */
        PyObject *start = PyLong_FromSsize_t(off);
        if (!start) goto fail;
        PyObject *call[3] = {args[3], start, sig};
        PyObject *r = PyObject_Vectorcall(PyTuple_GET_ITEM(ctx, 10), call, 3, NULL);
        Py_DECREF(start);
        if (!r) goto fail;
        Py_DECREF(r);
    } else {
        Py_buffer view;
        if (x_buffer(args[3], &view, held) < 0) goto fail;
        if (off < 0 || view.len / 8 < end) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "device: x is too short");
            goto fail;
        }
        memcpy((double *)view.buf + off, tmp, (size_t)n * sizeof(double));
        PyBuffer_Release(&view);
    }
    Py_DECREF(sig);
    Py_DECREF(dev);
    return fp;
fail:
    Py_XDECREF(sig);
    Py_XDECREF(fp);
    Py_DECREF(dev);
    return NULL;
}

#include "pipeline_online.h"
#include "pipeline_decide.h"

/* attr(o, name) -> o.<name> through one guarded slot (attrcache.h; tests/test_attrcache.py holds it to getattr) */
static PyObject *py_attr(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "attr(o, name)");
        return NULL;
    }
    return AC_GET(args[0], args[1]);
}

static PyMethodDef methods[] = {
    {"attr", (PyCFunction)(void (*)(void))py_attr, METH_FASTCALL,
     "attr(o, name) -> o.<name>: the guarded attribute read of the compiled event path (one slot; for tests)."},
    {"decide", (PyCFunction)(void (*)(void))py_decide, METH_FASTCALL,
     "decide(dctx, scorer, event, explain, return_features) -> Decision: Scorer.score in one call"},
    {"online", (PyCFunction)(void (*)(void))py_online, METH_FASTCALL,
     "online(octx, ev, x, linker, plan, store) -> (record, x, False, duplicate), (record, StoreError) or None: "
     "FeaturePipeline.online for the compiled memory store in one call."},
    {"device", (PyCFunction)(void (*)(void))py_device, METH_FASTCALL,
     "device(ctx, ev, record, x, offset) -> fingerprint or None: the device step, its signals written into x."},
    {"head", (PyCFunction)(void (*)(void))py_head, METH_FASTCALL,
     "head(plan, ev, pseudo, feats, x) -> record or None: the record and the head of the feature vector."},
    {"row", (PyCFunction)(void (*)(void))py_row, METH_FASTCALL,
     "row(plan, ev, x) -> record or None: head() with the identity kernel writing into the record and x."},
    {"put", (PyCFunction)(void (*)(void))py_put, METH_FASTCALL,
     "put(x, offset, values) -> bool: x[offset:offset + len(values)] = values for a list of floats."},
    {"tail", (PyCFunction)(void (*)(void))py_tail, METH_FASTCALL,
     "tail(x, offset, conf, vel) -> bool: x[offset] = conf, x[offset + 1:] = vel (float64)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "pipeline",
                                    "The feature pipeline's glue, writing the feature vector in place.", -1,
                                    methods};

PyMODINIT_FUNC PyInit_pipeline(void) {
    S_device = PyUnicode_InternFromString("device");
    S_device_id = PyUnicode_InternFromString("device_id");
    S_device_fp = PyUnicode_InternFromString("device_fp");
    S_device_hw = PyUnicode_InternFromString("device_hw");
    S_device_canvas = PyUnicode_InternFromString("device_canvas");
    S_id = PyUnicode_InternFromString("id");
    S_hardware = PyUnicode_InternFromString("hardware");
    S_canvas = PyUnicode_InternFromString("canvas");
    if (!S_device_id || !S_device_fp || !S_device_hw || !S_device_canvas || !S_id || !S_hardware || !S_canvas)
        return NULL;
    ONE_THOUSAND = PyFloat_FromDouble(1000.0);
    if (!S_device || !ONE_THOUSAND || online_init() < 0 || decide_init() < 0) return NULL;
    ac_setup();
#define INTERN(v, str)                                                                                           \
    if (!((v) = PyUnicode_InternFromString(str))) return NULL
    INTERN(S__cache, "_cache");
    INTERN(S__mapping_key, "_mapping_key");
    INTERN(S__build1, "_build1");
    INTERN(S__cache_used, "_cache_used");
    INTERN(S__cache_size, "_cache_size");
    INTERN(S__cache_bytes, "_cache_bytes");
    INTERN(S__trim_cache, "_trim_cache");
    INTERN(S_move_to_end, "move_to_end");
    INTERN(S_canonical, "canonical");
    INTERN(S_values, "values");
    INTERN(S_extra, "extra");
#undef INTERN
    PyObject *m = PyModule_Create(&moddef);
    if (!m || PyModule_AddIntConstant(m, "ATTRCACHE", ATTRCACHE && ac_on()) < 0) {
        Py_XDECREF(m);
        return NULL;
    }
    return m;
}
