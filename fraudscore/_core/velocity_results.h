/*
 * fraudscore._core.velocity_store, part: ResultTable, the compiled store's exactly-once records (round 12, #13).
 *
 * The same table as velocity/idempotency.py's ResultCache (the reference, which the Python store keeps): one record
 * per applied application id -- the event time, the velocity features, the device link -- in least recently
 * applied order; a record of an event at t0 is live for an event at t while t0 >= max(t, watermark) - ttl; a put
 * of a known id moves it to the end; the table holds at most max_entries records (the oldest dropped first) and
 * drops its expired head records on each put (records are nearly in event-time order; get() decides exactly).
 *
 * Layout: records in a slab (free list), a doubly linked list in application order, an open-addressing index of
 * the id strs (linear probing, tombstones, rebuilt when crowded). Ids are exact strs (held); a key of another
 * type is never found (the store's ids are str(application_id)). Features are copied in (PyMem). Not tracked
 * by the garbage collector: the table holds strs, None and links (str or None, float), which cannot reach it.
 * Callers hold the GIL; get copies a record out before it calls numpy.empty and Applied (Python code), and the
 * store's apply runs under CompiledMemoryStore's lock.
 *
 * Used by Store.admit / Store.apply_rec (the scorer's admission and apply in one call each) and by the Python
 * wrapper CompiledMemoryStore (recall, snapshots: to_raw / load_raw, the same JSON rows as ResultCache's).
 * Included by velocity_store.c after the Store type.
 */
#ifndef FS_VELOCITY_RESULTS_H
#define FS_VELOCITY_RESULTS_H

#define RT_NIL (-1)
#define RT_EMPTY (-1)
#define RT_TOMB (-2)

typedef struct {
    PyObject *app; /* NULL: a free slot (next_free in next) */
    Py_hash_t hash;
    int64_t ts;
    PyObject *link; /* Py_None or the link */
    double *f;
    Py_ssize_t nf;
    Py_ssize_t prev, next;
} RRec;

typedef struct {
    PyObject_HEAD
    int64_t ttl;
    Py_ssize_t max_entries;
    RRec *recs;
    Py_ssize_t cap, free_head, head, tail, len;
    Py_ssize_t *index; /* record numbers, RT_EMPTY or RT_TOMB */
    Py_ssize_t icap, used; /* used: filled + tombstones */
    PyObject *applied; /* the Applied class (duplicates are built through it) */
    PyObject *empty;   /* numpy.empty */
} ResultTable;

static PyTypeObject ResultTableType;

static void rt_free_rec(RRec *r) {
    Py_CLEAR(r->app);
    Py_CLEAR(r->link);
    PyMem_Free(r->f);
    r->f = NULL;
    r->nf = 0;
}

static void rt_clear(ResultTable *t) {
    for (Py_ssize_t i = 0; i < t->cap; i++)
        if (t->recs[i].app) rt_free_rec(&t->recs[i]);
    PyMem_Free(t->recs);
    PyMem_Free(t->index);
    t->recs = NULL;
    t->index = NULL;
    t->cap = t->icap = t->used = t->len = 0;
    t->free_head = t->head = t->tail = RT_NIL;
}

/* the index slot holding app (>= 0), or RT_NIL; -2 with an exception set (a str comparison failed: never) */
static Py_ssize_t rt_find(ResultTable *t, PyObject *app, Py_hash_t h) {
    if (!t->icap) return RT_NIL;
    size_t mask = (size_t)t->icap - 1, i = (size_t)h & mask;
    for (;;) {
        Py_ssize_t r = t->index[i];
        if (r == RT_EMPTY) return RT_NIL;
        if (r >= 0) {
            RRec *x = &t->recs[r];
            if (x->hash == h && (x->app == app || PyUnicode_Compare(x->app, app) == 0)) return (Py_ssize_t)i;
        }
        i = (i + 1) & mask;
    }
}

static int rt_reindex(ResultTable *t, Py_ssize_t want) {
    Py_ssize_t icap = 16;
    while (icap < 2 * want + 16) icap *= 2;
    Py_ssize_t *ix = PyMem_Malloc((size_t)icap * sizeof(Py_ssize_t));
    if (!ix) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < icap; i++) ix[i] = RT_EMPTY;
    size_t mask = (size_t)icap - 1;
    for (Py_ssize_t r = t->head; r != RT_NIL; r = t->recs[r].next) {
        size_t i = (size_t)t->recs[r].hash & mask;
        while (ix[i] != RT_EMPTY) i = (i + 1) & mask;
        ix[i] = r;
    }
    PyMem_Free(t->index);
    t->index = ix;
    t->icap = icap;
    t->used = t->len;
    return 0;
}

/* rt_unlink, rt_append, rt_to_end: the records' order, oldest first (dlist.h) */
DLIST_OPS(rt, ResultTable, recs, head, tail, Py_ssize_t, RT_NIL)

/* unlink record r from the order and the index (index slot islot) and free it */
static void rt_remove(ResultTable *t, Py_ssize_t r, Py_ssize_t islot) {
    RRec *x = &t->recs[r];
    rt_unlink(t, r);
    t->index[islot] = RT_TOMB;
    rt_free_rec(x);
    x->next = t->free_head;
    t->free_head = r;
    t->len--;
}


/* the index slot of the head record (it exists) */
static Py_ssize_t rt_slot_of(ResultTable *t, Py_ssize_t r) {
    size_t mask = (size_t)t->icap - 1, i = (size_t)t->recs[r].hash & mask;
    while (t->index[i] != r) i = (i + 1) & mask;
    return (Py_ssize_t)i;
}

/* set the record of app (a non-empty str; a known id: moved to the end when move, else updated in place). 0 or -1. */
static int rt_insert(ResultTable *t, PyObject *app, const double *f, Py_ssize_t nf, int64_t ts, PyObject *link,
                     int move) {
    Py_hash_t h = PyObject_Hash(app);
    if (h == -1) return -1;
    double *copy = PyMem_Malloc(nf ? (size_t)nf * sizeof(double) : 1);
    if (!copy) {
        PyErr_NoMemory();
        return -1;
    }
    if (nf) memcpy(copy, f, (size_t)nf * sizeof(double));
    Py_ssize_t slot = rt_find(t, app, h);
    if (slot >= 0) { /* a known id: the new record, moved to the end */
        Py_ssize_t r = t->index[slot];
        RRec *x = &t->recs[r];
        PyMem_Free(x->f);
        x->f = copy;
        x->nf = nf;
        x->ts = ts;
        Py_INCREF(link);
        Py_SETREF(x->link, link);
        if (move) rt_to_end(t, r);
    } else {
        if ((t->used + 1) * 2 > t->icap && rt_reindex(t, t->len + 1) < 0) {
            PyMem_Free(copy);
            return -1;
        }
        if (t->free_head == RT_NIL) { /* grow the slab */
            Py_ssize_t ncap = t->cap ? t->cap * 2 : 64;
            RRec *nr = PyMem_Realloc(t->recs, (size_t)ncap * sizeof(RRec));
            if (!nr) {
                PyMem_Free(copy);
                PyErr_NoMemory();
                return -1;
            }
            t->recs = nr;
            for (Py_ssize_t i = ncap - 1; i >= t->cap; i--) {
                memset(&nr[i], 0, sizeof(RRec));
                nr[i].next = t->free_head;
                t->free_head = i;
            }
            t->cap = ncap;
        }
        Py_ssize_t r = t->free_head;
        RRec *x = &t->recs[r];
        t->free_head = x->next;
        Py_INCREF(app);
        Py_INCREF(link);
        x->app = app;
        x->hash = h;
        x->ts = ts;
        x->link = link;
        x->f = copy;
        x->nf = nf;
        rt_append(t, r);
        size_t mask = (size_t)t->icap - 1, i = (size_t)h & mask;
        while (t->index[i] >= 0) i = (i + 1) & mask; /* the first empty or tombstone slot */
        if (t->index[i] == RT_EMPTY) t->used++;
        t->index[i] = r;
        t->len++;
    }
    return 0;
}

/* ResultCache.put(app, Applied(f, ts=ts, link=link), watermark); wm_set: a watermark was given. 0 or -1. */
static int rt_put(ResultTable *t, PyObject *app, const double *f, Py_ssize_t nf, int64_t ts, PyObject *link,
                  int wm_set, int64_t wm) {
    if (!PyUnicode_Check(app)) {
        PyErr_SetString(PyExc_TypeError, "application ids are str");
        return -1;
    }
    if (PyUnicode_GET_LENGTH(app) == 0) return 0; /* no id: never recorded */
    if (rt_insert(t, app, f, nf, ts, link, 1) < 0) return -1;
    while (t->len > t->max_entries) rt_remove(t, t->head, rt_slot_of(t, t->head));
    int64_t cutoff = (wm_set ? wm : ts) - t->ttl; /* records are (nearly) in event-time order: the expired head */
    while (t->head != RT_NIL && t->recs[t->head].ts < cutoff) rt_remove(t, t->head, rt_slot_of(t, t->head));
    return 0;
}

/* ResultCache.get(app, ts, watermark): the live record marked duplicate, Py_None, or NULL */
static PyObject *rt_get(ResultTable *t, PyObject *app, int64_t ts, int wm_set, int64_t wm) {
    if (!PyUnicode_Check(app) || PyUnicode_GET_LENGTH(app) == 0 || !t->len) Py_RETURN_NONE;
    Py_hash_t h = PyObject_Hash(app);
    if (h == -1) return NULL;
    Py_ssize_t slot = rt_find(t, app, h);
    if (slot < 0) Py_RETURN_NONE;
    RRec *x = &t->recs[t->index[slot]];
    int64_t ref = (!wm_set || ts > wm) ? ts : wm;
    if (x->ts < ref - t->ttl) Py_RETURN_NONE;
    /* copy the record out before any Python code runs (numpy.empty, Applied: another thread may then change the
     * table) */
    Py_ssize_t nf = x->nf;
    int64_t rts = x->ts;
    double stackbuf[64], *f = nf <= 64 ? stackbuf : PyMem_Malloc((size_t)nf * sizeof(double));
    if (!f) return PyErr_NoMemory();
    if (nf) memcpy(f, x->f, (size_t)nf * sizeof(double));
    PyObject *link = x->link, *out = NULL, *arr = NULL, *tsv = NULL;
    Py_INCREF(link);
    PyObject *n = PyLong_FromSsize_t(nf);
    arr = n ? PyObject_CallOneArg(t->empty, n) : NULL; /* numpy.empty(nf): float64 */
    Py_XDECREF(n);
    if (!arr) goto done;
    Py_buffer v;
    if (PyObject_GetBuffer(arr, &v, PyBUF_WRITABLE) < 0) goto done;
    if (v.len != nf * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "numpy.empty gave an array of another size");
        goto done;
    }
    if (nf) memcpy(v.buf, f, (size_t)nf * sizeof(double));
    PyBuffer_Release(&v);
    tsv = PyLong_FromLongLong(rts);
    if (!tsv) goto done;
    PyObject *args[4] = {arr, Py_True, link, tsv};
    out = PyObject_Vectorcall(t->applied, args, 4, NULL); /* Applied(features, True, link, ts) */
done:
    if (f != stackbuf) PyMem_Free(f);
    Py_DECREF(link);
    Py_XDECREF(arr);
    Py_XDECREF(tsv);
    return out;
}

/* an int64 event time or watermark (None: *set = 0) */
static int rt_time(PyObject *o, int64_t *v, int *set) {
    *v = 0;
    *set = o != Py_None;
    if (!*set) return 0;
    long long x = PyLong_AsLongLong(o);
    if (x == -1 && PyErr_Occurred()) return -1;
    *v = (int64_t)x;
    return 0;
}

/* a required event time: rt_time, and a TypeError for None. 0 ok, -1 with an exception */
static int rt_ts(PyObject *o, int64_t *v) {
    int set;
    if (rt_time(o, v, &set) < 0) return -1;
    if (!set) {
        PyErr_SetString(PyExc_TypeError, "ts must be an int");
        return -1;
    }
    return 0;
}

static PyObject *RT_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"ttl_ms", "max_entries", "applied", "empty", NULL};
    long long ttl;
    Py_ssize_t max_entries;
    PyObject *applied, *empty;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "LnOO", kwlist, &ttl, &max_entries, &applied, &empty)) return NULL;
    if (max_entries < 1 || !PyCallable_Check(applied) || !PyCallable_Check(empty)) {
        PyErr_SetString(PyExc_ValueError, "ResultTable(ttl_ms, max_entries >= 1, applied, empty)");
        return NULL;
    }
    ResultTable *t = (ResultTable *)type->tp_alloc(type, 0);
    if (!t) return NULL;
    t->ttl = (int64_t)ttl;
    t->max_entries = max_entries;
    t->free_head = t->head = t->tail = RT_NIL;
    Py_INCREF(applied);
    Py_INCREF(empty);
    t->applied = applied;
    t->empty = empty;
    return (PyObject *)t;
}

static void RT_dealloc(ResultTable *t) {
    rt_clear(t);
    Py_CLEAR(t->applied);
    Py_CLEAR(t->empty);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t RT_len(ResultTable *t) { return t->len; }

/* get(application_id, ts, watermark=None) */
static PyObject *RT_get(ResultTable *t, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "get(application_id, ts, watermark=None)");
        return NULL;
    }
    int64_t ts, wm = 0;
    int set, wm_set = 0;
    if (rt_time(args[1], &ts, &set) < 0 || (nargs == 3 && rt_time(args[2], &wm, &wm_set) < 0)) return NULL;
    if (!set) {
        PyErr_SetString(PyExc_TypeError, "ts must be an int");
        return NULL;
    }
    return rt_get(t, args[0], ts, wm_set, wm);
}

/* the float64 values of a features object (a buffer of doubles): a borrowed pointer held by *v */
static int rt_features(PyObject *o, Py_buffer *v) {
    int fv = f64_view(o, v, 0); /* round 16: an exact native float64 ndarray read without the buffer protocol */
    if (fv) return fv < 0 ? -1 : 0;
    if (PyObject_GetBuffer(o, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (v->itemsize != 8 || !v->format || strcmp(v->format, "d") != 0) {
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_TypeError, "features must be a contiguous float64 array");
        return -1;
    }
    return 0;
}

/* put(application_id, features, ts, link, watermark=None): ResultCache.put(id, Applied(features, False, link, ts), wm) */
static PyObject *RT_put(ResultTable *t, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 4 || nargs > 5) {
        PyErr_SetString(PyExc_TypeError, "put(application_id, features, ts, link, watermark=None)");
        return NULL;
    }
    int64_t ts, wm = 0;
    int set, wm_set = 0;
    if (rt_time(args[2], &ts, &set) < 0 || (nargs == 5 && rt_time(args[4], &wm, &wm_set) < 0)) return NULL;
    if (!set) {
        PyErr_SetString(PyExc_TypeError, "ts must be an int");
        return NULL;
    }
    Py_buffer v;
    if (rt_features(args[1], &v) < 0) return NULL;
    int r = rt_put(t, args[0], (const double *)v.buf, v.len / 8, ts, args[3], wm_set, wm);
    PyBuffer_Release(&v);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

/* to_raw() -> [[application_id, ts, [value or None for NaN...], device_id, link_confidence], ...] (ResultCache's) */
static PyObject *RT_to_raw(ResultTable *t, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (Py_ssize_t r = t->head; r != RT_NIL; r = t->recs[r].next) {
        RRec *x = &t->recs[r];
        PyObject *vals = PyList_New(x->nf);
        if (!vals) goto fail;
        for (Py_ssize_t j = 0; j < x->nf; j++) {
            double d = x->f[j];
            PyObject *o = d != d ? (Py_INCREF(Py_None), Py_None) : PyFloat_FromDouble(d);
            if (!o) {
                Py_DECREF(vals);
                goto fail;
            }
            PyList_SET_ITEM(vals, j, o);
        }
        PyObject *did = Py_None, *conf = Py_None;
        if (x->link != Py_None) {
            if (!PyTuple_Check(x->link) || PyTuple_GET_SIZE(x->link) != 2) {
                Py_DECREF(vals);
                PyErr_SetString(PyExc_TypeError, "a link is (device_id, confidence)");
                goto fail;
            }
            did = PyTuple_GET_ITEM(x->link, 0);
            conf = PyTuple_GET_ITEM(x->link, 1);
        }
        PyObject *row = Py_BuildValue("[OLNOO]", x->app, (long long)x->ts, vals, did, conf);
        if (!row || PyList_Append(out, row) < 0) {
            Py_XDECREF(row);
            goto fail;
        }
        Py_DECREF(row);
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* load(rows): replace the records with (application_id, ts, features, link) rows, in order (already validated;
 * neither the bound nor the expiry applies, and a repeated id keeps its first position and takes the last record,
 * as ResultCache.load_raw's dict assignments do) */
static PyObject *RT_load(ResultTable *t, PyObject *rows) {
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    if (!seq) return NULL;
    rt_clear(t);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 4 || !PyUnicode_Check(PyTuple_GET_ITEM(row, 0))) {
            PyErr_SetString(PyExc_TypeError, "rows are (application_id: str, ts, features, link)");
            goto fail;
        }
        int64_t ts;
        if (rt_ts(PyTuple_GET_ITEM(row, 1), &ts) < 0) goto fail;
        Py_buffer v;
        if (rt_features(PyTuple_GET_ITEM(row, 2), &v) < 0) goto fail;
        int r = rt_insert(t, PyTuple_GET_ITEM(row, 0), (const double *)v.buf, v.len / 8, ts, PyTuple_GET_ITEM(row, 3), 0);
        PyBuffer_Release(&v);
        if (r < 0) goto fail;
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
fail:
    rt_clear(t);
    Py_DECREF(seq);
    return NULL;
}

static PyObject *RT_clear_py(ResultTable *t, PyObject *Py_UNUSED(ignored)) {
    rt_clear(t);
    Py_RETURN_NONE;
}

static PyMethodDef RT_methods[] = {
    {"get", (PyCFunction)(void (*)(void))RT_get, METH_FASTCALL,
     "get(application_id, ts, watermark=None) -> the live record (an Applied marked duplicate) or None."},
    {"put", (PyCFunction)(void (*)(void))RT_put, METH_FASTCALL,
     "put(application_id, features, ts, link, watermark=None): record an applied event."},
    {"to_raw", (PyCFunction)RT_to_raw, METH_NOARGS, "JSON-ready rows in order (ResultCache.to_raw's)."},
    {"load", (PyCFunction)RT_load, METH_O, "load(rows): replace the records with (id, ts, features, link) rows."},
    {"clear", (PyCFunction)RT_clear_py, METH_NOARGS, "Drop every record."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods RT_as_sequence = {.sq_length = (lenfunc)RT_len};

static PyTypeObject ResultTableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.velocity_store.ResultTable",
    .tp_basicsize = sizeof(ResultTable),
    .tp_dealloc = (destructor)RT_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ResultTable(ttl_ms, max_entries, applied, empty): the exactly-once records (idempotency.ResultCache).",
    .tp_methods = RT_methods,
    .tp_as_sequence = &RT_as_sequence,
    .tp_new = RT_new,
};

/* admit(table, application_id, ts) -> (table.get(application_id, ts, latest_time()), latest_time()) */
static PyObject *Store_admit(Store *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || Py_TYPE(args[0]) != &ResultTableType) {
        PyErr_SetString(PyExc_TypeError, "admit(table, application_id, ts)");
        return NULL;
    }
    int64_t ts;
    if (rt_ts(args[2], &ts) < 0) return NULL;
    PyObject *latest = s->has_max ? PyLong_FromLongLong(s->max_seen) : (Py_INCREF(Py_None), Py_None);
    if (!latest) return NULL;
    PyObject *seen = rt_get((ResultTable *)args[0], args[1], ts, s->has_max, s->max_seen);
    if (!seen) {
        Py_DECREF(latest);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, seen, latest);
    Py_DECREF(seen);
    Py_DECREF(latest);
    return out;
}

/* apply_new(plan, record, ts, link, cls, descriptors) -> cls(update_and_read(plan, record, ts), False, link, ts):
 * the Applied outcome (a frozen slots dataclass: features, duplicate, link, ts) built here, its slots filled
 * through its member descriptors as its __init__ does (memory_compiled.CompiledMemoryStore.apply) */
static PyObject *apply_new_feats(Store *s, PyObject *const *args, Py_ssize_t nargs, PyObject **feats_out) {
    if (nargs != 6 || !PyType_Check(args[4]) || !PyTuple_Check(args[5]) || PyTuple_GET_SIZE(args[5]) != 4) {
        PyErr_SetString(PyExc_TypeError, "apply_new(plan, record, ts, link, cls, descriptors)");
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        if (!Py_TYPE(PyTuple_GET_ITEM(args[5], i))->tp_descr_set) {
            PyErr_SetString(PyExc_TypeError, "not a member descriptor");
            return NULL;
        }
    PyTypeObject *tp = (PyTypeObject *)args[4];
    PyObject *o = tp->tp_alloc(tp, 0);
    if (!o) return NULL;
    PyObject *feats = Store_update_and_read(s, args, 3);
    if (!feats) {
        Py_DECREF(o);
        return NULL;
    }
    PyObject *vals[4] = {feats, Py_False, args[3], args[2]};
    for (int i = 0; i < 4; i++) {
        PyObject *d = PyTuple_GET_ITEM(args[5], i);
        if (Py_TYPE(d)->tp_descr_set(d, o, vals[i]) < 0) {
            Py_DECREF(feats);
            Py_DECREF(o);
            return NULL;
        }
    }
    *feats_out = feats; /* round 16: apply_rec records these values without reading them back through the object */
    return o;
}

static PyObject *Store_apply_new(Store *s, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *feats = NULL, *o = apply_new_feats(s, args, nargs, &feats);
    Py_XDECREF(feats);
    return o;
}

/* apply_rec(table, application_id, plan, record, ts, link, cls, descriptors) -> Applied: MemoryStore.apply under the
 * store's lock -- a live record of a known id is returned (a duplicate), else apply_new(...) and the outcome
 * recorded (watermark: the latest time after the event) */
/* the shared head of apply_rec and apply_into: their arguments (table, application_id, ..., ts at 4; sig names them
 * in the TypeError) and the exactly-once lookup. 1: *seen is what to return (a duplicate's record, or NULL with an
 * exception); 0: a new event at *ts */
static int apply_head(Store *s, PyObject *const *args, Py_ssize_t nargs, const char *sig, int64_t *ts,
                      PyObject **seen) {
    *seen = NULL;
    if (nargs != 8 || Py_TYPE(args[0]) != &ResultTableType || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, sig);
        return 1;
    }
    if (rt_ts(args[4], ts) < 0) return 1;
    ResultTable *t = (ResultTable *)args[0];
    if (PyUnicode_GET_LENGTH(args[1]) && t->len) {
        PyObject *got = rt_get(t, args[1], *ts, s->has_max, s->max_seen);
        if (got != Py_None) { /* a duplicate (or NULL) */
            *seen = got;
            return 1;
        }
        Py_DECREF(got);
    }
    return 0;
}

static PyObject *Store_apply_rec(Store *s, PyObject *const *args, Py_ssize_t nargs) {
    int64_t ts;
    PyObject *seen;
    if (apply_head(s, args, nargs, "apply_rec(table, application_id, plan, record, ts, link, cls, descriptors)", &ts,
                   &seen))
        return seen;
    ResultTable *t = (ResultTable *)args[0];
    PyObject *app = args[1];
    PyObject *feats = NULL, *applied = apply_new_feats(s, args + 2, 6, &feats);
    if (!applied || !PyUnicode_GET_LENGTH(app)) {
        Py_XDECREF(feats);
        return applied;
    }
    /* round 16: the array apply_new stored as the outcome's features (descriptor 0), not read back by name */
    Py_buffer v;
    int r = rt_features(feats, &v);
    Py_DECREF(feats);
    if (r == 0) {
        r = rt_put(t, app, (const double *)v.buf, v.len / 8, ts, args[5], s->has_max, s->max_seen);
        PyBuffer_Release(&v);
    }
    if (r < 0) {
        Py_DECREF(applied);
        return NULL;
    }
    return applied;
}

/* apply_into(table, application_id, plan, record, ts, link, x, offset) -> None, or the recorded Applied (round 13):
 * apply_rec for the pipeline's one-call online path (pipeline_online.h), which reads only the outcome's features,
 * link and duplicate flag. A live record of a known id is returned as apply_rec returns it (a duplicate; x is not
 * written); else the features are computed straight into x[offset:offset + n] (a writable C-contiguous float64
 * buffer) and recorded as apply_rec records them (features, ts, link, the watermark), and None is returned: no
 * features array and no Applied object are made. The caller holds the store's lock, as for apply_rec. */
static PyObject *Store_apply_into(Store *s, PyObject *const *args, Py_ssize_t nargs) {
    int64_t ts;
    PyObject *seen;
    if (apply_head(s, args, nargs, "apply_into(table, application_id, plan, record, ts, link, x, offset)", &ts, &seen))
        return seen;
    ResultTable *t = (ResultTable *)args[0];
    PyObject *app = args[1];
    Py_ssize_t off = PyLong_AsSsize_t(args[7]);
    if (off == -1 && PyErr_Occurred()) return NULL;
    Py_buffer v;
    int fv = f64_view(args[6], &v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS); /* round 15: numpy's fields directly */
    if (fv < 0 || (!fv && PyObject_GetBuffer(args[6], &v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)) return NULL;
    if (v.itemsize != 8 || off < 0 || v.len / 8 < off + s->nfeat) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "apply_into: x is not a float64 buffer with room for the features");
        return NULL;
    }
    double *out = (double *)v.buf + off;
    int r = update_and_read_into(s, args[3], ts, out);
    if (r == 0 && PyUnicode_GET_LENGTH(app))
        r = rt_put(t, app, out, s->nfeat, ts, args[5], s->has_max, s->max_seen);
    PyBuffer_Release(&v);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

#endif
