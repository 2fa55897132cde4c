/*
 * fraudscore._core.identity -- identifier normalisation + keyed pseudonyms in one call
 * (reference: fraudscore/identity/normalize.py and the describers of fraudscore/identity/__init__.py).
 *
 * Kernel(key, persons, disposable).describe(kind, raw) returns exactly what the Python describer
 * of that kind returns -- (pseudonym or None, feature tuple, extra) -- or None when the value is
 * outside the fast path, and the caller then runs the Python reference. The fast path takes only
 * str values of printable ASCII (0x20..0x7e): there every rule of normalize.py is a byte rule
 * (strip = strip spaces, upper/lower = ASCII case, the regexes = the loops below). Anything else
 * (non-ASCII text, control characters, ints, IPv6 and other non-dotted addresses) goes to Python.
 * describe_columns(kind, values, feats, birth, done) runs it over the distinct values of a batch column.
 *
 * Pseudonyms: "p:" + hex(BLAKE2b-128(utf8(value), key, person=kind)), the keyed state after the key
 * block computed once per kind (pseudonym.h, shared with pseudonym.c). BLAKE2b is vendor/blake2.
 *
 * Layout: the kernel type, the result helpers, describe / describe_columns / process and factorize here; the
 * per-kind describers (d_nid, d_phone, d_email, d_card, d_ip, d_generic) in identity_describe.h, included.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vendor/blake2/blake2b-ref.c"
#include "pseudonym.h"
#include "dotted.h"
#include "f64view.h" /* f64_view */
#include "identity_domains.h"

enum { K_NID = 0, K_PHONE, K_EMAIL, K_CARD, K_IP, K_GENERIC, K_DEVICE_ID, K_IP_PREFIX, N_KINDS };

/* what a describer found, without the (pseudonym, (features...), extra) tuples (round 12): process_into sets
 * Kernel.sink, the C describers fill it (owned references in own[], p and extra) and return Py_True; a Python
 * describer's tuple is read through the same fields (borrowed from `hit`). */
typedef struct {
    PyObject *p, *extra; /* the pseudonym (or None), the extra value */
    PyObject *own[3];    /* the C describers' features (owned) */
    PyObject **f;        /* the features: own, or the Python describer's tuple items */
    Py_ssize_t nf;
    int owned;           /* p, extra and own[] are owned references */
} desc_t;

typedef struct {
    PyObject_HEAD
    fs_keyed_t keyed[N_KINDS];
    PyObject *disposable; /* frozenset of str */
    DomainSet dom;        /* round 16: its ASCII str members in a C table (identity_domains.h) */
    PyObject *gmail;      /* "gmail.com" */
    desc_t *sink;         /* non-NULL while process_into describes a value */
} Kernel;

static char REGION[100]; /* CN_PROVINCE_CODES of normalize.py (PROVINCES, exported for the parity test) */
static PyObject *Py_0, *Py_1, *Py_NaN, *PROVINCES;

static PyObject *pseudo(Kernel *k, int kind, const char *s, Py_ssize_t n) {
    uint8_t d[16];
    fs_digest(&k->keyed[kind], s, (size_t)n, d);
    return fs_pseudonym_text(d);
}

static PyObject *flag(int b) {
    PyObject *r = b ? Py_1 : Py_0;
    Py_INCREF(r);
    return r;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }

/* a new 3-tuple that steals a, b and c (all non-NULL) */
static PyObject *pack3(PyObject *a, PyObject *b, PyObject *c) {
    PyObject *t = PyTuple_New(3);
    if (!t) {
        Py_DECREF(a);
        Py_DECREF(b);
        Py_DECREF(c);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    PyTuple_SET_ITEM(t, 2, c);
    return t;
}

/* FEATS3(a, b, c): a describer's three features, as three arguments of result() */
#define FEATS3(a, b, c) a, b, c

/* (p, (a, b, c), extra) with p = pseudonym of s[:n] (or None when s is NULL); steals a, b, c and extra. With a sink
 * (process_into) nothing is packed: the sink takes the references and Py_True is returned. */
static PyObject *result(Kernel *k, int kind, const char *s, Py_ssize_t n, PyObject *a, PyObject *b, PyObject *c,
                        PyObject *extra) {
    if (!a || !b || !c || !extra) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        Py_XDECREF(extra);
        return NULL;
    }
    PyObject *p;
    if (s) {
        p = pseudo(k, kind, s, n);
        if (!p) {
            Py_DECREF(a);
            Py_DECREF(b);
            Py_DECREF(c);
            Py_DECREF(extra);
            return NULL;
        }
    } else {
        p = Py_None;
        Py_INCREF(p);
    }
    desc_t *d = k->sink;
    if (d) {
        d->p = p;
        d->own[0] = a;
        d->own[1] = b;
        d->own[2] = c;
        d->nf = 3;
        d->extra = extra;
        Py_RETURN_TRUE;
    }
    PyObject *feats = pack3(a, b, c);
    if (!feats) {
        Py_DECREF(p);
        Py_DECREF(extra);
        return NULL;
    }
    return pack3(p, feats, extra);
}

static PyObject *tuple3(PyObject *a, PyObject *b, PyObject *c) {
    if (!a || !b || !c) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        return NULL;
    }
    return pack3(a, b, c);
}

static PyObject *none_ref(void) {
    Py_INCREF(Py_None);
    return Py_None;
}

#include "identity_describe.h"

/* describe one value: a new reference, Py_None (not on the fast path) or NULL (error) */
static PyObject *describe_one(Kernel *k, int kind, PyObject *raw) {
    if (!PyUnicode_Check(raw) || !PyUnicode_IS_COMPACT_ASCII(raw)) Py_RETURN_NONE;
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    if (n > 512) Py_RETURN_NONE;
    const char *s = (const char *)PyUnicode_DATA(raw);
    for (Py_ssize_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) Py_RETURN_NONE;
    int fallback = 0;
    PyObject *r;
    switch (kind) {
    case K_NID: r = d_nid(k, s, s + n); break;
    case K_PHONE: r = d_phone(k, s, s + n); break;
    case K_EMAIL: r = d_email(k, s, s + n); break;
    case K_CARD: r = d_card(k, s, s + n); break;
    case K_IP: r = d_ip(k, s, s + n, &fallback); break;
    case K_GENERIC: case K_DEVICE_ID: r = d_generic(k, kind, s, s + n); break;
    default: Py_RETURN_NONE;
    }
    if (!r && fallback && !PyErr_Occurred()) Py_RETURN_NONE;
    return r;
}

/* a describer kind argument (K_NID .. K_DEVICE_ID), or -1 with an exception set */
static int kind_arg(PyObject *o) {
    long kind = PyLong_AsLong(o);
    if (kind == -1 && PyErr_Occurred()) return -1;
    if (kind < 0 || kind >= K_IP_PREFIX) {
        PyErr_SetString(PyExc_ValueError, "unknown identifier kind");
        return -1;
    }
    return (int)kind;
}

static PyObject *Kernel_describe(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "describe(kind, value)");
        return NULL;
    }
    int kind = kind_arg(args[0]);
    if (kind < 0) return NULL;
    return describe_one(k, kind, args[1]);
}

#include "identity_columns.h" /* Kernel_describe_columns (round 16: moved out of this file) */

/* days since 1970-01-01 -> civil date (H. Hinnant's algorithm; proleptic Gregorian, as datetime.date) */
static void civil(long long z, int *y, int *m, int *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

/* a feature value as a double (float(v) for an int or bool): 0, -1 (no exception: not such a value, the caller
 * hands the event back) or -2 (an exception, float()'s OverflowError) */
static int feat_double(PyObject *v, double *out) {
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    if (PyLong_Check(v)) {
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) return -2;
        *out = d;
        return 0;
    }
    return -1;
}

/* one feature out: into feats[name] (dict sink) or x[j] (row sink, x non-NULL); 0, -1 (error), 1 (hand back) */
static int put_feat(PyObject *feats, double *x, Py_ssize_t j, PyObject *name, PyObject *v) {
    if (!x) return PyDict_SetItem(feats, name, v) < 0 ? -1 : 0;
    int r = feat_double(v, &x[j]);
    return r == 0 ? 0 : r == -2 ? -1 : 1;
}

static PyObject *S_ip_prefix;

/* the birth date (y, m, d) of a 3-tuple of exact ints in int range, without the format parser (round 15); 0: another
 * value (PyArg_ParseTuple decides, and raises as before) */
static int birth3(PyObject *t, int *y, int *m, int *d) {
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 3) return 0;
    long v[3];
    for (int i = 0; i < 3; i++) {
        PyObject *o = PyTuple_GET_ITEM(t, i);
        int of = 0;
        if (!PyLong_CheckExact(o)) return 0;
        v[i] = PyLong_AsLongAndOverflow(o, &of);
        if (of || v[i] < INT_MIN || v[i] > INT_MAX || (v[i] == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
    }
    *y = (int)v[0];
    *m = (int)v[1];
    *d = (int)v[2];
    return 1;
}

/* Identity.process over one event into two sinks: the pseudonyms into ``pseudo`` (a dict: the pseudonym dict, or
 * the record itself), the features into ``feats`` (a dict) or, when x is non-NULL, into x[0..] in plan order
 * (FeaturePipeline.feature_names' identity part; xlen doubles available). Returns 0, -1 (error) or 1 (a feature
 * value that is not a float or an int: nothing more written; the caller hands the event back).
 * plan: tuple of (field name, kind code, describe(raw) -> (p, fv, extra) for values off the fast path, feature
 * names); ts: the event time in ms (int) or None; age(birth, ts) -> float: the reference for days this kernel
 * does not compute (outside 1970..9999). */
/* release what a describe step holds: the Python describer's tuple, or the C describer's owned references */
static void desc_drop(desc_t *d, PyObject *hit) {
    Py_XDECREF(hit);
    if (d->owned) {
        Py_XDECREF(d->p);
        Py_XDECREF(d->extra);
        for (Py_ssize_t j = 0; j < d->nf && j < 3; j++) Py_XDECREF(d->own[j]);
        d->owned = 0;
    }
}
#define DESC_DROP(d, hit) desc_drop(d, hit)

static int process_into(Kernel *k, PyObject *event, PyObject *plan, PyObject *ts, int has_ip, PyObject *age_fn,
                        PyObject *pseudo, PyObject *feats, double *x, Py_ssize_t xlen) {
    long long tsv = 0;
    int have_ts = ts != Py_None, rc = -1;
    if (have_ts) {
        tsv = PyLong_AsLongLong(ts);
        if (tsv == -1 && PyErr_Occurred()) return -1;
    }
    PyObject *ip_prefix = NULL, *empty = NULL;
    int is_dict = PyDict_CheckExact(event);
    Py_ssize_t n = PyTuple_GET_SIZE(plan), jx = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(plan, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0), *fnames = PyTuple_GET_ITEM(item, 3);
        int kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        Py_ssize_t nf = PyTuple_GET_SIZE(fnames);
        if (x && jx + nf > xlen) {
            PyErr_SetString(PyExc_ValueError, "x is too short for the identity features");
            goto done;
        }
        double *xf = x ? x + jx : NULL;
        jx += nf;
        PyObject *raw;
        if (is_dict) {
            raw = PyDict_GetItemWithError(event, name);
            if (!raw && PyErr_Occurred()) goto done;
            Py_XINCREF(raw);
        } else {
            raw = PyObject_CallMethod(event, "get", "O", name);
            if (!raw) goto done;
        }
        int missing = !raw || raw == Py_None || (PyUnicode_Check(raw) && PyUnicode_GET_LENGTH(raw) == 0);
        if (!missing && !PyUnicode_Check(raw)) {
            if (!empty && !(empty = PyUnicode_FromStringAndSize("", 0))) {
                Py_DECREF(raw);
                goto done;
            }
            missing = PyObject_RichCompareBool(raw, empty, Py_EQ);
            if (missing < 0) {
                Py_DECREF(raw);
                goto done;
            }
        }
        if (missing) {
            Py_XDECREF(raw);
            if (PyDict_SetItem(pseudo, name, Py_None) < 0) goto done;
            for (Py_ssize_t j = 0; j < nf; j++) {
                if (xf)
                    xf[j] = Py_NAN;
                else if (PyDict_SetItem(feats, PyTuple_GET_ITEM(fnames, j), Py_NaN) < 0)
                    goto done;
            }
            continue;
        }
        desc_t dsc = {0};
        desc_t *prev = k->sink;
        k->sink = &dsc;
        PyObject *hit = describe_one(k, kind, raw);
        k->sink = prev;
        if (hit == Py_True) { /* the C describer filled dsc (no tuples) */
            Py_DECREF(hit);
            hit = NULL;
            dsc.owned = 1;
            dsc.f = dsc.own;
        } else {
            if (hit == Py_None) {
                Py_DECREF(hit);
                hit = PyObject_CallOneArg(PyTuple_GET_ITEM(item, 2), raw);
            }
            if (!hit) {
                Py_DECREF(raw);
                goto done;
            }
            if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 3 || !PyTuple_Check(PyTuple_GET_ITEM(hit, 1))) {
                Py_DECREF(raw);
                Py_DECREF(hit);
                PyErr_SetString(PyExc_TypeError, "a describer must return (pseudonym, features, extra)");
                goto done;
            }
            PyObject *fv = PyTuple_GET_ITEM(hit, 1);
            dsc.p = PyTuple_GET_ITEM(hit, 0);
            dsc.extra = PyTuple_GET_ITEM(hit, 2);
            dsc.f = ((PyTupleObject *)fv)->ob_item;
            dsc.nf = PyTuple_GET_SIZE(fv);
        }
        Py_DECREF(raw);
        PyObject *p = dsc.p, *extra = dsc.extra;
        if (PyDict_SetItem(pseudo, name, p) < 0) {
            DESC_DROP(&dsc, hit);
            goto done;
        }
        if (kind == K_NID) {
            if (nf != 4 || dsc.nf != 3) {
                DESC_DROP(&dsc, hit);
                PyErr_SetString(PyExc_ValueError, "national_id has 4 features");
                goto done;
            }
            PyObject *valid = dsc.f[0];
            double a = Py_NAN;
            int have_age = 0;
            if (extra != Py_None && have_ts) {
                long long day = tsv >= 0 ? tsv / 86400000LL : -((-tsv + 86399999LL) / 86400000LL);
                if (day >= 0 && day <= 2932896) {
                    int ty, tm, td, by, bm, bd;
                    civil(day, &ty, &tm, &td);
                    if (!birth3(extra, &by, &bm, &bd) && !PyArg_ParseTuple(extra, "iii", &by, &bm, &bd)) {
                        DESC_DROP(&dsc, hit);
                        goto done;
                    }
                    a = (double)(ty - by - ((tm < bm) || (tm == bm && td < bd)));
                } else {
                    PyObject *r = PyObject_CallFunctionObjArgs(age_fn, extra, ts, NULL);
                    a = r ? PyFloat_AsDouble(r) : -1.0;
                    Py_XDECREF(r);
                    if (PyErr_Occurred()) {
                        DESC_DROP(&dsc, hit);
                        goto done;
                    }
                }
                if (a < 0) { /* born after the event: not valid, no age */
                    valid = Py_0;
                    a = Py_NAN;
                } else {
                    have_age = 1;
                }
            }
            int r;
            if (xf) {
                r = put_feat(NULL, xf, 0, NULL, valid);
                if (!r) r = put_feat(NULL, xf, 1, NULL, dsc.f[1]);
                xf[2] = a;
                if (!r) r = put_feat(NULL, xf, 3, NULL, dsc.f[2]);
            } else {
                PyObject *age = have_age ? PyFloat_FromDouble(a) : (Py_INCREF(Py_NaN), Py_NaN);
                r = !age || PyDict_SetItem(feats, PyTuple_GET_ITEM(fnames, 0), valid) < 0 ||
                            PyDict_SetItem(feats, PyTuple_GET_ITEM(fnames, 1), dsc.f[1]) < 0 ||
                            PyDict_SetItem(feats, PyTuple_GET_ITEM(fnames, 2), age) < 0 ||
                            PyDict_SetItem(feats, PyTuple_GET_ITEM(fnames, 3), dsc.f[2]) < 0
                        ? -1 : 0;
                Py_XDECREF(age);
            }
            DESC_DROP(&dsc, hit);
            if (r) {
                rc = r;
                goto done;
            }
            continue;
        }
        if (kind == K_IP && (!ip_prefix || ip_prefix == Py_None)) { /* the first ip field with a prefix */
            Py_XDECREF(ip_prefix);
            ip_prefix = extra;
            Py_INCREF(ip_prefix);
        }
        Py_ssize_t m = dsc.nf < nf ? dsc.nf : nf;
        if (xf && m < nf) { /* a feature the describer did not give: the reference's KeyError, handed back */
            DESC_DROP(&dsc, hit);
            rc = 1;
            goto done;
        }
        for (Py_ssize_t j = 0; j < m; j++) {
            int r = put_feat(feats, xf, j, PyTuple_GET_ITEM(fnames, j), dsc.f[j]);
            if (r) {
                DESC_DROP(&dsc, hit);
                rc = r;
                goto done;
            }
        }
        DESC_DROP(&dsc, hit);
    }
    if (has_ip && PyDict_SetItem(pseudo, S_ip_prefix, ip_prefix && ip_prefix != Py_None ? ip_prefix : Py_None) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(ip_prefix);
    Py_XDECREF(empty);
    return rc;
}

/* process(event, plan, ts, has_ip, age) -> (pseudonyms, features): Identity.process in one call (process_into's
 * dict sinks). */
static PyObject *Kernel_process(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "process(event, plan, ts, has_ip, age)");
        return NULL;
    }
    int has_ip = PyObject_IsTrue(args[3]);
    if (has_ip < 0) return NULL;
    PyObject *pseudo = PyDict_New(), *feats = PyDict_New();
    if (!pseudo || !feats) goto fail;
    if (process_into(k, args[0], args[1], args[2], has_ip, args[4], pseudo, feats, NULL, 0) != 0) goto fail;
    return Py_BuildValue("(NN)", pseudo, feats);
fail:
    Py_XDECREF(pseudo);
    Py_XDECREF(feats);
    return NULL;
}

/* into(event, plan, ts, has_ip, age, record, x, offset) -> True, or None: Identity.process with the pseudonyms
 * set in ``record`` (a dict; in the order record.update(pseudonyms) sets them, "ip_prefix" last) and the features
 * written into x[offset:] (a writable float64 buffer) as the doubles numpy stores from the reference's floats;
 * no dict of pseudonyms or features is built. None: a describer gave a feature value that is not a float or an
 * int (the record and x are then partly written: the caller discards both and runs the reference). */
static PyObject *Kernel_into(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 || !PyTuple_Check(args[1]) || !PyDict_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "into(event, plan, ts, has_ip, age, record, x, offset)");
        return NULL;
    }
    int has_ip = PyObject_IsTrue(args[3]);
    if (has_ip < 0) return NULL;
    Py_ssize_t off = PyLong_AsSsize_t(args[7]);
    if (off == -1 && PyErr_Occurred()) return NULL;
    Py_buffer view;
    int fv = f64_view(args[6], &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS); /* round 15: without numpy's format */
    if (fv < 0 || (!fv && PyObject_GetBuffer(args[6], &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0))
        return NULL;
    if ((!fv && (view.itemsize != 8 || !view.format || strcmp(view.format, "d") != 0)) || off < 0 ||
        off > view.len / 8) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "into: x must be a float64 buffer and offset within it");
        return NULL;
    }
    int r = process_into(k, args[0], args[1], args[2], has_ip, args[4], args[5], NULL, (double *)view.buf + off,
                         view.len / 8 - off);
    PyBuffer_Release(&view);
    if (r < 0) return NULL;
    if (r > 0) Py_RETURN_NONE;
    Py_RETURN_TRUE;
}

/* factorize(values) -> (int64 codes as bytes, distinct values): the batch path's _factorize (identity/columns.py).
 * -1 for None, "" and float NaN; equal str values share a code; any other value gets a code of its own. */
static PyObject *factorize(PyObject *self, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "values must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    PyObject *uniq = PyList_New(0), *index = PyDict_New();
    if (!codes || !uniq || !index) goto fail;
    int64_t *c = (int64_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (PyUnicode_Check(v)) {
            if (PyUnicode_GET_LENGTH(v) == 0) {
                c[i] = -1;
                continue;
            }
            PyObject *hit = PyDict_GetItemWithError(index, v);
            if (hit) {
                c[i] = PyLong_AsLongLong(hit);
                continue;
            }
            if (PyErr_Occurred()) goto fail;
            PyObject *code = PyLong_FromSsize_t(PyList_GET_SIZE(uniq));
            if (!code || PyDict_SetItem(index, v, code) < 0) {
                Py_XDECREF(code);
                goto fail;
            }
            Py_DECREF(code);
        } else if (v == Py_None || (PyFloat_Check(v) && isnan(PyFloat_AS_DOUBLE(v)))) {
            c[i] = -1;
            continue;
        }
        c[i] = PyList_GET_SIZE(uniq);
        if (PyList_Append(uniq, v) < 0) goto fail;
    }
    Py_DECREF(index);
    Py_DECREF(fast);
    return Py_BuildValue("(NN)", codes, uniq);
fail:
    Py_XDECREF(codes);
    Py_XDECREF(uniq);
    Py_XDECREF(index);
    Py_DECREF(fast);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"_set_simd", fs_set_simd, METH_O,
     "_set_simd(mode) -> mode in use: BLAKE2b's compression, -1 the machine's choice, 0 scalar, 1 AVX2 (tests)."},
    {"factorize", factorize, METH_O, "factorize(values) -> (int64 codes as bytes, distinct values); -1 = missing."},
    {NULL, NULL, 0, NULL},
};

static PyObject *Kernel_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"key", "persons", "disposable", NULL};
    Py_buffer key;
    PyObject *persons, *disposable;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*O!O!", kwlist, &key, &PyTuple_Type, &persons, &PyFrozenSet_Type,
                                     &disposable))
        return NULL;
    if (key.len < 1 || key.len > BLAKE2B_KEYBYTES || PyTuple_GET_SIZE(persons) != N_KINDS) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "key must be 1..64 bytes and persons one bytes per kind");
        return NULL;
    }
    Kernel *k = (Kernel *)type->tp_alloc(type, 0);
    if (!k) {
        PyBuffer_Release(&key);
        return NULL;
    }
    for (int i = 0; i < N_KINDS; i++) {
        PyObject *p = PyTuple_GET_ITEM(persons, i);
        if (!PyBytes_Check(p) || PyBytes_GET_SIZE(p) > BLAKE2B_PERSONALBYTES) {
            PyBuffer_Release(&key);
            Py_DECREF(k);
            PyErr_SetString(PyExc_ValueError, "persons must be bytes of at most 16");
            return NULL;
        }
        fs_keyed_init(&k->keyed[i], key.buf, (size_t)key.len, PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p));
    }
    PyBuffer_Release(&key);
    Py_INCREF(disposable);
    k->disposable = disposable;
    if (dom_init(&k->dom, disposable) < 0) {
        Py_DECREF(k);
        return NULL;
    }
    return (PyObject *)k;
}

static void Kernel_dealloc(Kernel *k) {
    dom_free(&k->dom);
    Py_XDECREF(k->disposable);
    memset(k->keyed, 0, sizeof(k->keyed));
    Py_TYPE(k)->tp_free((PyObject *)k);
}

static PyMethodDef Kernel_methods[] = {
    {"describe", (PyCFunction)(void (*)(void))Kernel_describe, METH_FASTCALL,
     "describe(kind, value) -> (pseudonym, features, extra), or None: use the Python reference."},
    {"process", (PyCFunction)(void (*)(void))Kernel_process, METH_FASTCALL,
     "process(event, plan, ts, has_ip, age) -> (pseudonyms, features): Identity.process in one call."},
    {"into", (PyCFunction)(void (*)(void))Kernel_into, METH_FASTCALL,
     "into(event, plan, ts, has_ip, age, record, x, offset) -> True or None: the pseudonyms set in record, the "
     "features written into x[offset:]."},
    {"describe_columns", (PyCFunction)(void (*)(void))Kernel_describe_columns, METH_FASTCALL,
     "describe_columns(kind, values, feats, birth, done) -> (pseudonyms, extras): describe over distinct values "
     "into arrays."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.identity.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Kernel(key, persons, disposable): normalise + pseudonymise identifiers (printable-ASCII fast path).",
    .tp_methods = Kernel_methods,
    .tp_new = Kernel_new,
    .tp_dealloc = (destructor)Kernel_dealloc,
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "identity",
    "Identifier normalisation and keyed pseudonyms (reference: fraudscore/identity/).", -1, module_methods,
};

PyMODINIT_FUNC PyInit_identity(void) {
    if (PyType_Ready(&KernelType) < 0) return NULL;
    Py_0 = PyFloat_FromDouble(0.0);
    Py_1 = PyFloat_FromDouble(1.0);
    Py_NaN = PyFloat_FromDouble(Py_NAN);
    S_ip_prefix = PyUnicode_InternFromString("ip_prefix");
    if (!S_ip_prefix) return NULL;
    PROVINCES = PyFrozenSet_New(NULL);
    if (!Py_0 || !Py_1 || !Py_NaN || !PROVINCES) return NULL;
    static const int codes[] = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43,
                                44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        PyObject *c = PyLong_FromLong(codes[i]);
        if (!c || PySet_Add(PROVINCES, c) < 0) return NULL;
        REGION[codes[i]] = 1;
        Py_DECREF(c);
    }
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(PROVINCES);
    PyModule_AddObject(m, "PROVINCES", PROVINCES);
    return m;
}
