/*
 * An event's features from its calls' records (included by redis_calls.c; one compilation unit).
 *
 * Reference: fraudscore/velocity/redis_calls.py outputs_py (with plan.finish). A record's raw outputs are
 * doubles holding exact integers (NaN = none); each feature is finished as the reference does, on the raw value
 * truncated to an integer as ``int(v)`` does. Where the reference would raise (a none where its arithmetic needs
 * a number, an infinity, a short or unknown group) this returns None and the caller runs the reference, which
 * raises the same error: the compiled path only ever returns what the reference returns.
 *
 * spec: per group configuration (index - 1) a tuple of (feature index, code, raw outputs) triples, codes:
 *   0 a count-only group's output (the raw value as it is), 1 count / distinct / fraud_count, 2 sum, 3 mean,
 *   4 min / max, 5 first_seen_age / time_since_last, 6 fraud_rate, 7 ratio_to_mean
 */
#include <math.h>

#define FALLBACK 1 /* returned by finish_one: run the reference */

/* the raw value as the reference's int(v) then float(): trunc(v), a zero always +0.0 (int(-0.0) is 0); inf ->
 * FALLBACK. (x + 0.0 is not folded away without -ffast-math: it turns -0.0 into +0.0.) */
static int raw_int(double v, double *out) {
    if (isinf(v)) return FALLBACK;
    *out = isnan(v) ? v : trunc(v) + 0.0;
    return 0;
}

static int finish_one(int code, const double *r, int k, long long t0, double *out) {
    double a = NAN, b = NAN, c = NAN;
    if ((k >= 1 && raw_int(r[0], &a)) || (k >= 2 && raw_int(r[1], &b)) || (k >= 3 && raw_int(r[2], &c)))
        return FALLBACK;
    switch (code) {
    case 2: /* sum */
        if (k < 1 || isnan(a)) return FALLBACK;
        *out = a / 1e6;
        return 0;
    case 3: /* mean */
        if (k < 2) return FALLBACK;
        if (!isnan(b) && b == 0) {
            *out = NAN;
            return 0;
        }
        if (isnan(a) || isnan(b)) return FALLBACK;
        *out = a / (b * 1e6);
        return 0;
    case 4: /* min, max */
        if (k < 1) return FALLBACK;
        *out = isnan(a) ? NAN : a / 1e6;
        return 0;
    case 5: /* first_seen_age, time_since_last */
        if (k < 1) return FALLBACK;
        if (isnan(a)) {
            *out = NAN;
            return 0;
        }
        if (!(a > -4e18 && a < 4e18) || t0 > 4000000000000000000LL || t0 < -4000000000000000000LL) return FALLBACK;
        *out = (double)(t0 - (long long)a) / 1000.0;
        return 0;
    case 6: /* fraud_rate */
        if (k < 2) return FALLBACK;
        if (!isnan(b) && b == 0) {
            *out = 0.0;
            return 0;
        }
        if (isnan(a) || isnan(b)) return FALLBACK;
        *out = a / b;
        return 0;
    case 7: /* ratio_to_mean */
        if (k < 3) return FALLBACK;
        if (isnan(a) || (!isnan(c) && c == 0) || (!isnan(b) && b == 0)) {
            *out = NAN;
            return 0;
        }
        if (isnan(b) || isnan(c)) return FALLBACK;
        *out = (a / 1e6) / (b / (c * 1e6));
        return 0;
    default:
        return FALLBACK;
    }
}

static int spec_triple(PyObject *t, long long *o, long long *code, long long *k) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) {
        PyErr_SetString(PyExc_TypeError, "outputs(): a spec entry is (feature, code, raw outputs)");
        return -1;
    }
    *o = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 0));
    *code = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 1));
    *k = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 2));
    return PyErr_Occurred() ? -1 : 0;
}

/* one record into out[]: 0 done, FALLBACK, -1 error; *t0 its event time */
static int record_into(PyObject *spec, const uint8_t *p, Py_ssize_t len, double *out, Py_ssize_t nf, long long *t0) {
    if (len < 18) return FALLBACK;
    double ts = rd_f64(p);
    if (!(ts > -9e18 && ts < 9e18)) return FALLBACK; /* (int() of NaN / inf raises; beyond int64: the reference) */
    *t0 = (long long)ts;
    Py_ssize_t pos = 18 + rd_u16(p + 16);
    if (pos + 2 > len) return FALLBACK;
    pos += 2 + rd_u16(p + pos);
    if (pos + 2 > len) return FALLBACK;
    unsigned ng = rd_u16(p + pos);
    pos += 2;
    Py_ssize_t nspec = PyTuple_GET_SIZE(spec);
    for (unsigned g = 0; g < ng; g++) {
        if (pos + 4 > len) return FALLBACK;
        Py_ssize_t gi = (Py_ssize_t)rd_u16(p + pos) - 1, no = rd_u16(p + pos + 2);
        pos += 4;
        if (pos + 8 * no + 2 > len) return FALLBACK;
        const uint8_t *vp = p + pos; /* the group's raw outputs, 8 bytes each */
        pos += 8 * no;
        pos += 2 + rd_u16(p + pos);
        if (gi < 0) gi += nspec; /* (meta[gi - 1] wraps at gi = 0) */
        if (gi < 0 || gi >= nspec) return FALLBACK;
        PyObject *entries = PyTuple_GET_ITEM(spec, gi);
        if (!PyTuple_Check(entries)) {
            PyErr_SetString(PyExc_TypeError, "outputs(): a spec item is a tuple of entries");
            return -1;
        }
        Py_ssize_t i = 0, ne = PyTuple_GET_SIZE(entries);
        for (Py_ssize_t e = 0; e < ne; e++) {
            long long o, code, k;
            if (spec_triple(PyTuple_GET_ITEM(entries, e), &o, &code, &k) < 0) return -1;
            if (o < 0 || o >= nf) return FALLBACK;
            if (code == 0) { /* a count-only group: zip(outputs, vals) */
                if (e < no) out[o] = rd_f64(vp + 8 * e);
                continue;
            }
            if (k < 1 || k > 3 || i + k > no) return FALLBACK;
            double r[3];
            for (long long j = 0; j < k; j++) r[j] = rd_f64(vp + 8 * (i + j));
            if (code == 1 && k == 1) { /* the raw count itself (an inf too: the reference takes it as it is) */
                if (isnan(r[0])) return FALLBACK;
                out[o] = r[0];
            } else if (code == 1) { /* fraud_count: float(int(first)) */
                if (isnan(r[0]) || isinf(r[0])) return FALLBACK;
                for (long long j = 1; j < k; j++)
                    if (isinf(r[j])) return FALLBACK;
                out[o] = trunc(r[0]) + 0.0;
            } else if (finish_one((int)code, r, (int)k, *t0, &out[o])) {
                return FALLBACK;
            }
            i += k;
        }
    }
    return pos == len ? 0 : FALLBACK;
}

/* outputs(spec, n_features, recs, duplicate, ts) -> (bytearray of float64 features, t_first) or None */
static PyObject *py_outputs(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 5 || !PyTuple_Check(a[0])) {
        PyErr_SetString(PyExc_TypeError, "outputs(spec: tuple, n_features, recs, duplicate, ts)");
        return NULL;
    }
    Py_ssize_t nf = PyLong_AsSsize_t(a[1]);
    if (nf < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "outputs(): n_features < 0");
        return NULL;
    }
    int duplicate = PyObject_IsTrue(a[3]);
    if (duplicate < 0) return NULL;
    PyObject *recs = PySequence_Fast(a[2], "outputs(): recs must be a sequence");
    if (!recs) return NULL;
    PyObject *buf = PyByteArray_FromStringAndSize(NULL, nf * (Py_ssize_t)sizeof(double));
    if (!buf) {
        Py_DECREF(recs);
        return NULL;
    }
    double *out = (double *)PyByteArray_AS_STRING(buf);
    for (Py_ssize_t i = 0; i < nf; i++) out[i] = NAN;
    PyObject *t_first = Py_NewRef(a[4]);
    int r = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(recs) && r == 0; i++) {
        PyObject *rec = PySequence_Fast_GET_ITEM(recs, i);
        if (!PyBytes_Check(rec)) {
            r = FALLBACK;
            break;
        }
        long long t0 = 0;
        r = record_into(a[0], (const uint8_t *)PyBytes_AS_STRING(rec), PyBytes_GET_SIZE(rec), out, nf, &t0);
        if (r == 0 && duplicate) {
            Py_SETREF(t_first, PyLong_FromLongLong(t0));
            if (!t_first) r = -1;
        }
    }
    Py_DECREF(recs);
    if (r != 0) {
        Py_DECREF(buf);
        Py_XDECREF(t_first);
        if (r < 0) return NULL;
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(NN)", buf, t_first);
}
