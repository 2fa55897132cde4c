/*
 * The compiled velocity store's reads of a record's fields (round 16, `velident`): ``rec.get(field)``
 * (mapping_get), a group's filters (filter_passes), the micro-unit values (to_micro), moved here from
 * velocity_store.c, and the per-event field cache that update_and_read_into reads through.
 *
 * The field cache. The plan's key groups read the same fields again and again (the large bundle's ten groups read
 * 22 fields of which 12 are distinct: ``applicant_id`` six times, as a key and as five groups' distinct-of value),
 * and hash the same str values to the same 64-bit keys (fs_value_key). At Store creation every key field, slot
 * field and ``application_id`` gets an index into the store's list of distinct field names (fc_names: exact str
 * names, deduplicated by equality; a name past FC_MAX, or not an exact str, gets -1 and is never cached). Per event
 * the cache holds each field's value (a new reference, fetched on its first read, in the order the groups read
 * them) and, for a value that is an exact str, its key. It is used only for an exact dict and only while the
 * dict's version tag (dict_layout.h: a fresh value whenever its items change) is the one read at the start: the
 * reads between (a key's ``__eq__`` in a lookup, a filter's comparison, a value's ``__float__``, ``str()`` of an
 * application id) can run Python code, and a record they change is read from the dict again from then on, as
 * before. So each read returns the object ``rec.get(field)`` returns at that point, and each key the key
 * fs_value_key computes from it (a str's key depends on its text only). Without DICT_LAYOUT (another CPython)
 * the cache is off and every read goes to the dict.
 *
 * Included by velocity_store.c after the Store type (one compilation unit).
 */
#include "dict_layout.h" /* dict_tag (read only: fpstage's / linkonce's header) */

static PyObject *mapping_get(PyObject *rec, PyObject *key) {
    /* rec.get(key): a new reference or Py_None (new ref); NULL on error */
    if (PyDict_CheckExact(rec) || PyDict_Check(rec)) {
        PyObject *v = PyDict_GetItemWithError(rec, key);
        if (v == NULL) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        Py_INCREF(v);
        return v;
    }
    return PyObject_CallMethod(rec, "get", "O", key);
}

static int filter_passes(PyObject *rec, PyObject *filt) {
    /* all(rec.get(f) is not None and any(rec.get(f) == x for x in vals) for f, vals in filt) */
    Py_ssize_t nf = PyTuple_GET_SIZE(filt);
    for (Py_ssize_t i = 0; i < nf; i++) {
        PyObject *item = PyTuple_GET_ITEM(filt, i);
        PyObject *v = mapping_get(rec, PyTuple_GET_ITEM(item, 0));
        if (v == NULL) return -1;
        if (v == Py_None) {
            Py_DECREF(v);
            return 0;
        }
        PyObject *vals = PyTuple_GET_ITEM(item, 1);
        int any = 0;
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(vals) && !any; j++) {
            PyObject *r = PyObject_RichCompare(v, PyTuple_GET_ITEM(vals, j), Py_EQ);
            if (r == NULL) {
                Py_DECREF(v);
                return -1;
            }
            int t = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (t < 0) {
                Py_DECREF(v);
                return -1;
            }
            any = t;
        }
        Py_DECREF(v);
        if (!any) return 0;
    }
    return 1;
}

/* to_micro: 1 and *out set; 0 for None / NaN; -1 on error */
static int to_micro(PyObject *x, int64_t *out) {
    if (x == Py_None) return 0;
    double d;
    if (PyFloat_CheckExact(x)) {
        d = PyFloat_AS_DOUBLE(x);
    } else {
        PyObject *f = PyNumber_Float(x);
        if (f == NULL) return -1;
        d = PyFloat_AS_DOUBLE(f);
        Py_DECREF(f);
    }
    if (d != d) return 0;
    double y = nearbyint(d * 1e6); /* round half to even, as Python's round() */
    if (!(y >= -9.2e18 && y <= 9.2e18)) {
        PyErr_SetString(PyExc_OverflowError, "velocity value out of range for the compiled store");
        return -1;
    }
    *out = (int64_t)y;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* the per-event field cache                                                            */

typedef struct {
    int on;       /* reads go through the cache (an exact dict whose tag is still `tag`) */
    int n;        /* the store's distinct fields */
    uint64_t tag; /* the dict's version tag when the event began */
    PyObject *val[FC_MAX]; /* new references; NULL: not read yet */
    uint64_t key[FC_MAX];  /* fs_value_key of val[i] when it is an exact str; 0: not computed */
    dl_hint_t *hint;       /* the store's position hints (round 17) */
} FieldCache;

static void fc_begin(FieldCache *c, const Store *s, PyObject *rec) {
    c->on = DICT_LAYOUT && s->nfc > 0 && PyDict_CheckExact(rec);
    c->n = c->on ? s->nfc : 0; /* entries in use (released by fc_end) */
    if (!c->on) return;
    c->tag = dict_tag(rec);
    c->hint = (dl_hint_t *)s->fc_hint;
    memset(c->val, 0, sizeof(PyObject *) * (size_t)c->n);
    memset(c->key, 0, sizeof(uint64_t) * (size_t)c->n);
}

static void fc_end(FieldCache *c) {
    for (int i = 0; i < c->n; i++) Py_CLEAR(c->val[i]);
}

/* rec.get(name) (a new reference, Py_None for a missing field; NULL on error) through the cache (fi: the field's
 * index, -1 for none) */
static PyObject *fc_get(FieldCache *c, PyObject *rec, int fi, PyObject *name) {
    if (fi < 0 || !c->on) return mapping_get(rec, name);
    if (dict_tag(rec) != c->tag) { /* the record changed under a read: the dict from now on */
        c->on = 0;
        return mapping_get(rec, name);
    }
    PyObject *v = c->val[fi];
    if (!v) { /* rec.get(name) through the store's position hint (an exact dict: c->on) */
        v = dict_hint_get(rec, name, &c->hint[fi]);
        if (!v) {
            if (PyErr_Occurred()) return NULL;
            v = Py_None;
        }
        Py_INCREF(v);
        c->val[fi] = v; /* the cache's reference */
        if (dict_tag(rec) != c->tag) c->on = 0;
    }
    Py_INCREF(v);
    return v;
}

/* fs_value_key(v) for v read by fc_get(c, rec, fi, ...): the cached key when v is the cached exact str */
static uint64_t fc_key(FieldCache *c, int fi, PyObject *v) {
    if (fi >= 0 && fi < c->n && c->val[fi] == v && PyUnicode_CheckExact(v)) {
        if (!c->key[fi]) c->key[fi] = fs_str_key(v);
        return c->key[fi];
    }
    return fs_value_key(v);
}

/* the index of field name in the store's distinct fields (added when new), or -1 (not an exact str, or FC_MAX
 * reached). -2 with an exception set. */
static int fc_index(Store *s, PyObject *name) {
    if (name == NULL || !PyUnicode_CheckExact(name)) return -1;
    for (int i = 0; i < s->nfc; i++) {
        int eq = PyUnicode_Compare(s->fc_names[i], name);
        if (eq == -1 && PyErr_Occurred()) return -2;
        if (eq == 0) return i;
    }
    if (s->nfc >= FC_MAX) return -1;
    s->fc_names[s->nfc] = name; /* borrowed: held by Store.desc (or interned) */
    return s->nfc++;
}

/* every group's key fields and slot fields indexed (Store creation) */
static int fc_index_all(Store *s) {
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        for (int i = 0; i < g->nkey; i++) {
            if ((g->key_fi[i] = fc_index(s, g->keys[i])) == -2) return -1;
        }
        for (int i = 0; i < g->nslots; i++) {
            Slot *sl = &g->slots[i];
            PyObject *name = sl->kind == K_APP ? fs_str_application_id : sl->kind == K_FLAG ? NULL : sl->field;
            if ((sl->fi = fc_index(s, name)) == -2) return -1;
        }
    }
    return 0;
}
