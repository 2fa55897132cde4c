/*
 * fraudscore._core.pipeline, part: the outcome half of decide() (round 16, split out of pipeline_decide.h): the
 * model's input gathered in C, score_scale, Policy.decide, the Decision and its reasons (reference:
 * fraudscore/scorer.py Scorer._decide, fraudscore/policy.py, fraudscore/decision.py make_decision). Included by
 * pipeline_decide.h, which holds the S_* names and the context's indices (DC_*).
 */

/* x[cols] for the model: for an exact float64 vector x and an exact intp vector cols within range, a new
 * np.empty(len(cols)) filled in C (round 15: numpy's fancy indexing cost ~2.4k instructions an event); any other x,
 * cols (negative or out-of-range indices included) through PyObject_GetItem, which decides and raises. */
static PyObject *decide_gather(PyObject *dctx, PyObject *x, PyObject *cols) {
    const Py_ssize_t *ci;
    Py_ssize_t m;
    Py_buffer xv, ov;
    int ic = intp_view(cols, &ci, &m), fx = ic == 1 ? f64_view(x, &xv, PyBUF_C_CONTIGUOUS) : 0;
    if (ic < 0 || fx < 0) return NULL;
    if (ic == 1 && fx == 1) {
        Py_ssize_t n = xv.len / (Py_ssize_t)sizeof(double);
        PyObject *mo = PyLong_FromSsize_t(m);
        if (!mo) return NULL;
        PyObject *eargs[2] = {mo, PyTuple_GET_ITEM(dctx, DC_F64)};
        PyObject *xm = PyObject_Vectorcall(PyTuple_GET_ITEM(dctx, DC_EMPTY), eargs, 2, NULL);
        Py_DECREF(mo);
        if (!xm) return NULL;
        int fo = f64_view(xm, &ov, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS);
        if (fo == 1) /* x read again after the allocation (a collection in it may have run finalizers) */
            fo = f64_view(x, &xv, PyBUF_C_CONTIGUOUS) == 1 && xv.len / (Py_ssize_t)sizeof(double) == n ? 1 : 0;
        if (fo == 1 && ov.len == m * (Py_ssize_t)sizeof(double)) {
            const double *src = (const double *)xv.buf;
            double *dst = (double *)ov.buf;
            Py_ssize_t i = 0;
            for (; i < m && (size_t)ci[i] < (size_t)n; i++) dst[i] = src[ci[i]]; /* 0 <= ci[i] < n */
            if (i == m) return xm;
        }
        Py_DECREF(xm);
        if (fo < 0) return NULL;
    }
    return PyObject_GetItem(x, cols);
}

/* score_scale(p) for a finite 1000 * p: round(1000 * p) half to even (as float.__round__) clipped to 0..1000; else
 * the Python function (which raises for NaN and infinities). A new reference. */
static PyObject *decide_score_scale(PyObject *dctx, PyObject *p) {
    double y = 1000.0 * PyFloat_AS_DOUBLE(p);
    if (!isfinite(y)) return PyObject_CallOneArg(PyTuple_GET_ITEM(dctx, DC_SCORE_SCALE), p);
    double r = round(y);
    if (fabs(y - r) == 0.5) r = 2.0 * round(y / 2.0);
    return PyLong_FromLong(r < 0 ? 0 : r > 1000 ? 1000 : (long)r);
}

/* Policy.decide in C for an exact Policy with exact int thresholds, an int model score and points and a rule
 * action None or str: 1 with *score (new) and *action (borrowed interned), 0 not such (call the method), -1 error */
static int decide_policy(PyObject *dctx, PyObject *policy, PyObject *model_score, PyObject *rule_action,
                         PyObject *points, PyObject **score, PyObject **action) {
    if (Py_TYPE(policy) != (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_POLICY) || !PyLong_CheckExact(model_score) ||
        !PyLong_CheckExact(points) || (rule_action != Py_None && !PyUnicode_CheckExact(rule_action)))
        return 0;
    PyObject *rv = GET(policy, S_review), *dv = rv ? GET(policy, S_decline) : NULL;
    if (!dv) {
        Py_XDECREF(rv);
        return -1;
    }
    int ok = PyLong_CheckExact(rv) && PyLong_CheckExact(dv);
    int ov1 = 0, ov2 = 0, ov3 = 0, ov4 = 0;
    long long review = ok ? PyLong_AsLongLongAndOverflow(rv, &ov1) : 0;
    long long decline = ok ? PyLong_AsLongLongAndOverflow(dv, &ov2) : 0;
    long long ms = PyLong_AsLongLongAndOverflow(model_score, &ov3), pts = PyLong_AsLongLongAndOverflow(points, &ov4);
    Py_DECREF(rv);
    Py_DECREF(dv);
    if (PyErr_Occurred()) return -1;
    /* |values| < 2^62: the sum cannot overflow (else the method's Python ints) */
    const long long B = 1LL << 62;
    if (!ok || ov1 || ov2 || ov3 || ov4 || ms >= B || ms <= -B || pts >= B || pts <= -B) return 0;
    long long s = ms + pts;
    s = s > 0 ? s : 0;
    s = s < 1000 ? s : 1000;
    PyObject *threshold = s >= decline ? S_decline : s >= review ? S_review : S_approve, *a = threshold;
    if (rule_action != Py_None) {
        if (PyUnicode_Compare(rule_action, S_decline) == 0) {
            a = S_decline;
        } else if (PyUnicode_Compare(rule_action, S_review) == 0) {
            a = threshold == S_decline ? S_decline : S_review;
        } else if (PyUnicode_Compare(rule_action, S_approve) == 0) {
            a = S_approve;
        }
        if (PyErr_Occurred()) return -1;
    }
    if (!(*score = PyLong_FromLongLong(s))) return -1;
    *action = a;
    return 1;
}

/* Decision(...) as make_decision builds it (no challenger, no features, not degraded): object.__new__(Decision) with
 * its __dict__ in the constructor's key order. A new reference. */
static PyObject *decide_decision(PyObject *dctx, PyObject *app, PyObject *score, PyObject *p, PyObject *action,
                                 PyObject *reasons, PyObject *rule_hits, PyObject *shadow_hits, PyObject *model_version,
                                 PyObject *ruleset_version, PyObject *device_id, PyObject *duplicate) {
    PyTypeObject *tp = (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_DECISION);
    /* a copy of the template (the 17 keys in order, the constant fields' values) with the others replaced: the same
     * dict as the literal, without growing a new table key by key */
    PyObject *d = PyBaseObject_Type.tp_new(tp, EMPTY_TUPLE, NULL), *dict = d ? PyDict_Copy(DECISION_TEMPLATE) : NULL;
    if (!dict) goto fail;
    PyObject *keys[10] = {S_application_id2, S_score, S_probability, S_action, S__reasons, S_rule_hits,
                          S_shadow_hits, S_model_version, S_ruleset_version, S_device_id};
    PyObject *vals[10] = {app, score, p, action, reasons, rule_hits, shadow_hits, model_version, ruleset_version,
                          device_id};
    /* round 15: the copy's values replaced where they live (its table is the template's: 17 str keys in order),
     * tracked by the collector as PyDict_SetItem would track it; any other layout takes the dict API */
    static const int pos[10] = {0, 1, 2, 3, 4, 5, 6, 8, 9, 10};
    dl_entry_t *e = DICT_LAYOUT ? dict_entries(dict, 17) : NULL;
    for (int i = 0; e && i < 10; i++)
        if (e[pos[i]].me_key != keys[i]) e = NULL;
    if (e && e[16].me_key != S_duplicate2) e = NULL;
    if (e) {
        int track = 0;
        for (int i = 0; i < 11; i++) {
            PyObject *v = i < 10 ? vals[i] : duplicate, **slot = &e[i < 10 ? pos[i] : 16].me_value, *old = *slot;
            *slot = Py_NewRef(v);
            Py_XDECREF(old);
            track |= PyObject_IS_GC(v) && (!PyTuple_CheckExact(v) || PyObject_GC_IsTracked(v));
        }
        if (track && !PyObject_GC_IsTracked(dict)) PyObject_GC_Track(dict);
    } else {
        for (int i = 0; i < 10; i++)
            if (PyDict_SetItem(dict, keys[i], vals[i]) < 0) goto fail;
        if (PyDict_SetItem(dict, S_duplicate2, duplicate) < 0) goto fail;
    }
    if (PyObject_SetAttr(d, S___dict__, dict) < 0) goto fail;
    Py_DECREF(dict);
    return d;
fail:
    Py_XDECREF(dict);
    Py_XDECREF(d);
    return NULL;
}

/* the reasons of Scorer._decide for a decision that is not degraded: the rule reasons, the model's explanation
 * (ModelReasons, lazily through PendingReasons) when asked for. A new reference (steals reasons). */
static PyObject *decide_reasons(PyObject *dctx, PyObject *scorer, PyObject *explain, PyObject *model, PyObject *xm,
                                PyObject *action, PyObject *reasons) {
    PyObject *want = explain != Py_None ? Py_NewRef(explain) : GET(scorer, S_explain), *em = NULL, *out = NULL;
    PyObject *copy = NULL, *system = NULL;
    if (!want) goto done;
    int ask = want == Py_True;
    if (!ask) {
        int a = PyObject_RichCompareBool(want, S_auto, Py_EQ);
        if (a > 0) a = PyObject_RichCompareBool(action, S_approve, Py_NE);
        if (a < 0) goto done;
        ask = a;
    }
    if (!ask) { /* reasons.extend(system): system is empty */
        out = Py_NewRef(reasons);
        goto done;
    }
    if (!(copy = PyObject_CallMethodNoArgs(xm, S_copy))) goto done;
    PyObject *margs[2] = {model, copy};
    if (!(em = PyObject_Vectorcall(PyTuple_GET_ITEM(dctx, DC_MODEL_REASONS), margs, 2, NULL))) goto done;
    if (!(system = PyList_New(0))) goto done;
    PyObject *lazy = GET(scorer, S_lazy_reasons);
    int lz = lazy ? PyObject_IsTrue(lazy) : -1;
    Py_XDECREF(lazy);
    if (lz < 0) goto done;
    if (lz) {
        PyObject *pargs[3] = {reasons, em, system};
        out = PyObject_Vectorcall(PyTuple_GET_ITEM(dctx, DC_PENDING), pargs, 3, NULL);
    } else { /* [*reasons, *explain_model(), *system] */
        PyObject *got = PyObject_CallNoArgs(em), *lst = got ? PySequence_List(reasons) : NULL;
        if (lst && PyList_SetSlice(lst, PyList_GET_SIZE(lst), PyList_GET_SIZE(lst), got) < 0) Py_CLEAR(lst);
        Py_XDECREF(got);
        out = lst;
    }
done:
    Py_XDECREF(system);
    Py_XDECREF(em);
    Py_XDECREF(copy);
    Py_XDECREF(want);
    Py_DECREF(reasons);
    return out;
}
