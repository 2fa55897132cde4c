/*
 * fraudscore._core.pipeline, part: online() -- FeaturePipeline.online for the compiled memory store in one call
 * (round 13; reference: fraudscore/pipeline.py, FeaturePipeline.online, _device_row, _apply_local, _row_tail,
 * link_outcome, Plan.validate_record and CompiledMemoryStore.admit / apply). Included by pipeline.c after row(),
 * device() and tail's helpers.
 *
 * online(octx, ev, x, linker, plan, store) -> (record, x, False, duplicate) | (record, exc) | None
 *     row(); device() where the schema has a device; the record check (the compiled check_record, else
 *     plan.validate_record(record), which decides and raises); the admission (store._core.admit: a recorded
 *     outcome ends it, an event later than the allowed lateness raises late_error(time_field, lateness)); the
 *     link (linker.link(fp, ts, record.get("ip_prefix")) with link_outcome's rule); store._core.apply_rec under
 *     store._lock; then the record's device id and the link confidence from the outcome and the tail of x (the
 *     link confidence, the velocity features; tail_assign(x, offset, conf, vel) -- numpy -- for an uncommon
 *     buffer). Each step makes the calls the Python steps make, on the same objects, in the same order.
 *     A StoreError raised from the record check on is returned as (record, exc): the caller degrades or raises
 *     (FeaturePipeline._store_failed) as online() does. None: the event is off the fast path (ev not an exact
 *     dict, its time not an exact int, the store without its compiled core, or row() hands the event back) and
 *     nothing has been done (row() is pure): the caller runs the Python path.
 *     octx = (ident_plan, device_ctx or None, end, check, max_abs, id_field, lateness, late_error, time_field,
 *             min_conf, StoreError, Applied, applied_slots, tail_assign)
 */

static PyObject *S__core, *S__results, *S__lock, *S__numeric_tuple, *S__key_tuple, *S_validate_record, *S_admit,
    *S_link, *S_ip_prefix, *S_application_id, *S_link_confidence, *S_apply_rec, *S_acquire, *S_release, *S_features,
    *S_duplicate, *S_empty, *S_apply_into;

static int online_init(void) {
#define INTERN(v, s)                                                                                             \
    if (!((v) = PyUnicode_InternFromString(s))) return -1
    INTERN(S__core, "_core");
    INTERN(S__results, "_results");
    INTERN(S__lock, "_lock");
    INTERN(S__numeric_tuple, "_numeric_tuple");
    INTERN(S__key_tuple, "_key_tuple");
    INTERN(S_validate_record, "validate_record");
    INTERN(S_admit, "admit");
    INTERN(S_link, "link");
    INTERN(S_ip_prefix, "ip_prefix");
    INTERN(S_application_id, "application_id");
    INTERN(S_link_confidence, "link_confidence");
    INTERN(S_apply_rec, "apply_rec");
    INTERN(S_acquire, "acquire");
    INTERN(S_release, "release");
    INTERN(S_features, "features");
    INTERN(S_duplicate, "duplicate");
    INTERN(S_empty, "");
    INTERN(S_apply_into, "apply_into");
#undef INTERN
    return 0;
}

enum {
    OC_IDENT, OC_DEVICE, OC_END, OC_CHECK, OC_MAX_ABS, OC_ID_FIELD, OC_LATENESS, OC_LATE_ERROR, OC_TIME_FIELD,
    OC_MIN_CONF, OC_STORE_ERROR, OC_APPLIED, OC_SLOTS, OC_TAIL_ASSIGN, OC_N
};

/* "" if v is None else str(v) (a new reference) */
static PyObject *app_text(PyObject *v) {
    if (!v || v == Py_None) return Py_NewRef(S_empty);
    return PyObject_Str(v);
}

/* record.get(name) (borrowed, may be NULL without an error: absent) */
static PyObject *record_get(PyObject *record, PyObject *name, int *err) {
    PyObject *v = PyDict_GetItemWithError(record, name);
    *err = !v && PyErr_Occurred();
    return v;
}

/* the admission, the link and the store: the steps inside online()'s try block. Returns the recorded Applied
 * outcome of a duplicate, or None with the event's features written into x[voff:] and its link in *link_out (new
 * references), or NULL with an exception set. */
static PyObject *online_apply(PyObject *octx, PyObject *record, PyObject *ts, PyObject *fp, int has_device,
                              PyObject *linker, PyObject *plan, PyObject *core, PyObject *results, PyObject *lock,
                              PyObject *x, PyObject *voff, PyObject **link_out) {
    PyObject *r = NULL, *app = NULL, *adm = NULL, *link = NULL, *applied = NULL;
    int err;
    /* velocity.plan.validate_record(record): the compiled check, else the method (it decides and raises) */
    PyObject *nt = AC_GET(plan, S__numeric_tuple), *kt = nt ? AC_GET(plan, S__key_tuple) : NULL;
    if (kt) {
        PyObject *cargs[4] = {record, nt, kt, PyTuple_GET_ITEM(octx, OC_MAX_ABS)};
        r = PyObject_Vectorcall(PyTuple_GET_ITEM(octx, OC_CHECK), cargs, 4, NULL);
    }
    Py_XDECREF(nt);
    Py_XDECREF(kt);
    if (!r) return NULL;
    if (r == Py_None) {
        Py_DECREF(r);
        r = PyObject_CallMethodOneArg(plan, S_validate_record, record);
        if (!r) return NULL;
    }
    Py_DECREF(r);
    /* _apply_local: app = record.get(id_field), "" or str(app); seen, latest = store.admit(app, ts) */
    PyObject *a = record_get(record, PyTuple_GET_ITEM(octx, OC_ID_FIELD), &err);
    if (err || !(app = app_text(a))) return NULL;
    PyObject *aargs[4] = {core, results, app, ts};
    adm = PyObject_VectorcallMethod(S_admit, aargs, 4, NULL);
    Py_CLEAR(app);
    if (!adm) return NULL;
    if (!PyTuple_Check(adm) || PyTuple_GET_SIZE(adm) != 2) {
        PyErr_SetString(PyExc_TypeError, "admit must return (seen, latest)");
        goto done;
    }
    PyObject *seen = PyTuple_GET_ITEM(adm, 0), *latest = PyTuple_GET_ITEM(adm, 1);
    if (seen != Py_None) {
        applied = Py_NewRef(seen);
        goto done;
    }
    if (latest != Py_None) { /* ts < latest - allowed_lateness_ms: late_event_error(time_field, lateness) */
        PyObject *lim = PyNumber_Subtract(latest, PyTuple_GET_ITEM(octx, OC_LATENESS));
        if (!lim) goto done;
        int late = PyObject_RichCompareBool(ts, lim, Py_LT);
        Py_DECREF(lim);
        if (late < 0) goto done;
        if (late) {
            PyObject *exc = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(octx, OC_LATE_ERROR),
                                                         PyTuple_GET_ITEM(octx, OC_TIME_FIELD),
                                                         PyTuple_GET_ITEM(octx, OC_LATENESS), NULL);
            if (exc) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
            goto done;
        }
    }
    if (fp != Py_None) { /* link = link_outcome(linker.link(fp, ts, record.get("ip_prefix"))) */
        PyObject *ip = record_get(record, S_ip_prefix, &err);
        if (err) goto done;
        PyObject *largs[4] = {linker, fp, ts, ip ? ip : Py_None};
        PyObject *res = PyObject_VectorcallMethod(S_link, largs, 4, NULL);
        if (!res) goto done;
        PyObject *c = PyObject_GetAttr(res, S_link_confidence), *conf = c ? PyNumber_Float(c) : NULL;
        Py_XDECREF(c);
        PyObject *did = NULL;
        if (conf) {
            if (PyFloat_AS_DOUBLE(conf) >= PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(octx, OC_MIN_CONF)))
                did = PyObject_GetAttr(res, S_device_id);
            else
                did = Py_NewRef(Py_None);
        }
        Py_DECREF(res);
        if (!did) {
            Py_XDECREF(conf);
            goto done;
        }
        link = PyTuple_Pack(2, did, conf);
        Py_DECREF(conf);
        int rc = link ? PyDict_SetItem(record, S_device_id, did) : -1;
        Py_DECREF(did);
        if (rc < 0) goto done;
    } else if (has_device && PyDict_SetItem(record, S_device_id, Py_None) < 0) {
        goto done;
    }
    /* store.apply(plan, record, ts, link): app from record.get("application_id"), apply_rec under store._lock */
    a = record_get(record, S_application_id, &err);
    if (err || !(app = app_text(a))) goto done;
    PyObject *got = PyObject_CallMethodNoArgs(lock, S_acquire);
    if (!got) goto done;
    Py_DECREF(got);
    /* == apply_rec(...) with the features written into x (None) unless the id has a live record (its Applied) */
    PyObject *pargs[9] = {core, results, app, plan, record, ts, link ? link : Py_None, x, voff};
    applied = PyObject_VectorcallMethod(S_apply_into, pargs, 9, NULL);
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* released whatever apply_rec did, its error kept */
    PyObject *rel = PyObject_CallMethodNoArgs(lock, S_release);
    if (!rel) {
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        Py_CLEAR(applied);
    } else {
        Py_DECREF(rel);
        PyErr_Restore(et, ev, tb);
    }
done:
    Py_XDECREF(app);
    Py_XDECREF(adm);
    if (applied == Py_None) {
        *link_out = link ? link : Py_NewRef(Py_None); /* the outcome's link: the one recorded */
        link = NULL;
    }
    Py_XDECREF(link);
    return applied;
}

static int write_tail(PyObject *x, Py_ssize_t off, PyObject *conf, PyObject *vel, PyObject *assign);

static PyObject *py_online(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "online(octx, ev, x, linker, plan, store)");
        return NULL;
    }
    PyObject *octx = args[0], *ev = args[1], *x = args[2], *linker = args[3], *plan = args[4], *store = args[5];
    if (!PyTuple_CheckExact(octx) || PyTuple_GET_SIZE(octx) != OC_N) {
        PyErr_SetString(PyExc_TypeError, "online: bad context");
        return NULL;
    }
    if (!PyDict_CheckExact(ev)) Py_RETURN_NONE;
    PyObject *ts = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(octx, OC_TIME_FIELD));
    if (!ts) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    if (!PyLong_CheckExact(ts)) Py_RETURN_NONE;
    Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(octx, OC_END));
    if (end == -1 && PyErr_Occurred()) return NULL;
    PyObject *dctx = PyTuple_GET_ITEM(octx, OC_DEVICE);
    int has_device = dctx != Py_None;
    PyObject *core = NULL, *results = NULL, *lock = NULL, *record = NULL, *fp = NULL, *applied = NULL, *out = NULL;
    PyObject *vel = NULL, *conf = NULL;
    Py_buffer xv;
    int xheld = 0;
    Py_INCREF(ts); /* held: the steps below call Python code */
    core = AC_GET(store, S__core);
    if (!core) goto fail;
    if (core == Py_None) goto hand_back;
    if (!(results = AC_GET(store, S__results)) || !(lock = AC_GET(store, S__lock))) goto fail;
    if (get_buffer(x, &xv) < 0) goto fail; /* once: row() and device() read it (x_buffer) */
    xheld = 1;
    PyObject *rargs[3] = {PyTuple_GET_ITEM(octx, OC_IDENT), ev, x};
    record = row_impl(rargs, 3, &xv);
    if (!record) goto fail;
    if (record == Py_None) goto hand_back;
    if (has_device) { /* == self._device_row(ev, record, x) */
        PyObject *e = PyLong_FromSsize_t(end);
        if (!e) goto fail;
        PyObject *dargs[5] = {dctx, ev, record, x, e};
        fp = device_impl(dargs, 5, &xv);
        Py_DECREF(e);
        if (!fp) goto fail;
    } else {
        fp = Py_NewRef(Py_None);
    }
    PyObject *voff = PyLong_FromSsize_t(end + 1), *new_link = NULL;
    if (!voff) goto fail;
    applied = online_apply(octx, record, ts, fp, has_device, linker, plan, core, results, lock, x, voff, &new_link);
    Py_DECREF(voff);
    if (!applied) goto store_error;
    int fresh = applied == Py_None; /* the features are in x already; the outcome's link is new_link */
    /* vel = applied.features; the record's device id and the link confidence from applied.link */
    if (!fresh && !(vel = PyObject_GetAttr(applied, S_features))) goto store_error;
    if (has_device) {
        PyObject *link = fresh ? new_link : PyObject_GetAttr(applied, S_link);
        new_link = NULL;
        if (!link) goto store_error;
        PyObject *did = Py_None;
        if (link != Py_None) {
            did = PySequence_GetItem(link, 0);
            PyObject *c = did ? PySequence_GetItem(link, 1) : NULL;
            conf = c ? PyNumber_Float(c) : NULL;
            Py_XDECREF(c);
        } else {
            Py_INCREF(did);
            conf = PyFloat_FromDouble(Py_NAN);
        }
        Py_DECREF(link);
        int rc = conf ? PyDict_SetItem(record, S_device_id, did) : -1;
        Py_XDECREF(did);
        if (rc < 0) goto store_error;
    }
    Py_XDECREF(new_link);
    int dup = 0;
    if (!fresh) {
        PyObject *d = PyObject_GetAttr(applied, S_duplicate);
        dup = d ? PyObject_IsTrue(d) : -1;
        Py_XDECREF(d);
        if (dup < 0) goto fail;
        if (write_tail(x, end, conf, vel, PyTuple_GET_ITEM(octx, OC_TAIL_ASSIGN)) < 0) goto fail;
    } else if (conf) { /* x[end] = conf: the velocity features are in place */
        if (xv.len / 8 <= end) {
            PyErr_SetString(PyExc_ValueError, "online: x is too short");
            goto fail;
        }
        ((double *)xv.buf)[end] = PyFloat_AS_DOUBLE(conf);
    }
    out = PyTuple_Pack(4, record, x, Py_False, dup ? Py_True : Py_False);
    goto done;
store_error: /* online()'s except StoreError: the caller degrades or raises */
    if (PyErr_ExceptionMatches(PyTuple_GET_ITEM(octx, OC_STORE_ERROR))) {
        PyObject *et, *evalue, *tb;
        PyErr_Fetch(&et, &evalue, &tb);
        PyErr_NormalizeException(&et, &evalue, &tb);
        if (tb && evalue) PyException_SetTraceback(evalue, tb);
        out = evalue ? PyTuple_Pack(2, record, evalue) : NULL;
        Py_XDECREF(et);
        Py_XDECREF(evalue);
        Py_XDECREF(tb);
    }
    goto done;
hand_back:
    out = Py_NewRef(Py_None);
    goto done;
fail:
done:
    if (xheld) PyBuffer_Release(&xv);
    Py_XDECREF(conf);
    Py_XDECREF(vel);
    Py_XDECREF(applied);
    Py_XDECREF(fp);
    Py_XDECREF(record);
    Py_XDECREF(lock);
    Py_XDECREF(results);
    Py_XDECREF(core);
    Py_DECREF(ts);
    return out;
}

/* FeaturePipeline._row_tail: x[off] = conf (NULL: nothing) and x[off + 1:] = vel in C for a float64 buffer of the
 * exact length, else assign(x, off, conf or None, vel) (numpy). 0, or -1 with an error. */
static int write_tail(PyObject *x, Py_ssize_t off, PyObject *conf, PyObject *vel, PyObject *assign) {
    PyObject *o = PyLong_FromSsize_t(off);
    if (!o) return -1;
    PyObject *targs[4] = {x, o, conf ? conf : Py_None, vel};
    PyObject *r = py_tail(NULL, targs, 4);
    if (r == Py_False) {
        Py_DECREF(r);
        r = PyObject_Vectorcall(assign, targs, 4, NULL);
    }
    Py_DECREF(o);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}
