/*
 * fraudscore._core.velocity_store -- the compiled memory velocity store.
 *
 * Mirrors fraudscore/velocity/memory.py + memory_layout.py (the readable reference):
 * the same features, bit for bit, for every aggregation. What differs is the layout:
 *
 *   - entities are keyed by a 64-bit key (the keyed pseudonym's 128 bits folded to 64 when the
 *     value is a "p:<32 hex>" pseudonym, else a stable xxh3 of the value), held in an
 *     open-addressing table of 8-byte slots (32 bits of key + entity index);
 *   - each entity is a fixed-width record in one slab per key group: key, latest time,
 *     counters, and its single event inline (most entities are seen once), or a pointer to
 *     a time-sorted buffer of fixed-width event records (a ring: trimming advances a head);
 *   - slot values are integers: flags and valid bits in one bit word, micro-units as int64,
 *     distinct-of values and application ids as 64-bit keys (0 = None); sums use 128-bit
 *     accumulators, so no int64 overflow whatever the window;
 *   - idle entities are evicted incrementally: a FIFO of entities per group, at most
 *     EVICT_STEPS entities looked at per event (an entity touched since it was queued is
 *     re-queued, as an LRU would move it), so there is never a bursty sweep;
 *   - fraud labels live in a bounded LRU with the same touch order as cachetools.LRUCache.
 *
 * Every call holds the GIL and never releases it: one call is atomic for Python threads.
 *
 * Layout: the constants, types and small helpers and the Store type here; the entity table and labels
 * (velocity_tables.h), event extraction and window reads (velocity_windows.h), entity storage
 * (velocity_entities.h), snapshots (velocity_snapshot.h) and the exactly-once records with apply_new / admit /
 * apply_rec (velocity_results.h, round 12) included (one compilation unit).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dict_layout.h" /* dl_hint_t, dict_hint_get (round 17) */
#include "dlist.h"
#include "keys.h"

#define NIL 0xFFFFFFFFu
#define EVICT_STEPS 4
#define MAX_WORDS 72
#define F_EXT 0x80000000u
#define F_TOUCHED 0x40000000u
#define N_MASK 0x3FFFFFFFu
#define FC_MAX 64 /* distinct fields the per-event cache holds (velocity_fields.h) */

enum { A_COUNT, A_SUM, A_MEAN, A_MIN, A_MAX, A_DISTINCT, A_FIRST, A_LAST, A_FCOUNT, A_FRATE, A_RATIO };
#define DAY_MS 86400000LL
enum { K_FLAG, K_VAL, K_VALID, K_OPT, K_DIST, K_APP };

typedef struct {
    int kind;
    PyObject *field; /* borrowed from the descriptor (kept alive by Store.desc) */
    int filt;
    int word; /* word of the value in an event record (VAL / OPT / DIST / APP) */
    int bit;  /* bit in the bit word (FLAG / VALID / OPT presence) */
    int fi;   /* the field's index in the per-event field cache, or -1 (velocity_fields.h) */
} Slot;

typedef struct {
    int out, code, pair, include, flag, slot, slot2;
} Query;

/* window edges of a query at time t (Query.edges in velocity/plan.py): events te with lower < te <= upper.
 * Duration windows: (t - lo, t - hi]. Calendar windows (cal > 0) and excl (exclude the UTC day) take their
 * edges from the UTC day d0 of r = t - hi: upper = r (d0 - 1 with excl), lower = d0 - (cal - 1 + excl) days - 1
 * (t - lo without cal). */
typedef struct {
    int has_lo;
    int64_t lo, hi;
    int cal, excl;
} Pair;

typedef struct {
    uint32_t cap, head;
    uint64_t ev[];
} Buf;

typedef struct {
    int nkey;
    PyObject **keys;
    int key_fi[16]; /* the key fields' indices in the per-event field cache, or -1 */
    int nslots;
    Slot *slots;
    int nfilt;
    PyObject **filters; /* tuple of (field, tuple of values) */
    int nq;
    Query *q;
    int npairs;
    Pair *pairs;
    int has_horizon;
    int64_t horizon;
    int evw;   /* words per event record: ts, [bits], values */
    int bitsw; /* word index of the bit word, or -1 */
    int rw;    /* words per entity record */
    /* slab of entity records */
    uint64_t *slab;
    uint32_t n_slab, cap_slab, free_head;
    /* hash table: (key >> 32) << 32 | (index + 1); 0 = empty */
    uint64_t *table;
    uint64_t tmask;
    uint64_t n_live;
    uint64_t n_events;
    uint64_t buf_bytes;
    uint32_t q_head, q_tail;
} Group;

/* label LRU entry */
typedef struct {
    uint64_t key;
    int64_t lt;
    uint32_t prev, next;
} Label;

typedef struct {
    PyObject_HEAD
    PyObject *desc;
    PyObject *event_error;
    PyObject *alloc;
    int ngroups;
    Group *groups;
    int nfeat;
    int64_t lateness;
    int has_max;
    int64_t max_seen;
    /* labels */
    uint64_t max_labels;
    Label *labels;
    uint32_t n_lab, cap_lab, lab_free, lru_head, lru_tail;
    uint64_t *ltable;
    uint64_t ltmask;
    uint64_t n_labels;
    /* scratch */
    uint64_t *scratch;
    Py_ssize_t scratch_cap;
    /* the distinct fields the groups read (borrowed), for the per-event field cache (velocity_fields.h) */
    int nfc;
    PyObject *fc_names[FC_MAX];
    dl_hint_t fc_hint[FC_MAX]; /* where the record held each field last time (round 17: dict_hint_get) */
} Store;

/* ------------------------------------------------------------------------------------ */
/* small helpers                                                                        */

static inline uint32_t rec_n(const uint64_t *R) { return (uint32_t)R[2] & N_MASK; }
static inline uint32_t rec_flags(const uint64_t *R) { return (uint32_t)R[2] & ~N_MASK; }
static inline uint32_t rec_qnext(const uint64_t *R) { return (uint32_t)(R[2] >> 32); }
static inline void rec_set_n(uint64_t *R, uint32_t n, uint32_t flags) {
    R[2] = (R[2] & 0xFFFFFFFF00000000ull) | (uint64_t)(n | flags);
}
static inline void rec_set_qnext(uint64_t *R, uint32_t q) {
    R[2] = (R[2] & 0xFFFFFFFFull) | ((uint64_t)q << 32);
}
static inline uint64_t *rec_at(Group *g, uint32_t idx) { return g->slab + (size_t)idx * g->rw; }
static inline Buf *rec_buf(const uint64_t *R) { return (Buf *)(uintptr_t)R[3]; }

#include "f64view.h" /* f64_view (round 15; round 16: before update_and_read) */
#include "velocity_fields.h"

static inline double i128_to_double(__int128 s) {
    if (s >= INT64_MIN && s <= INT64_MAX) return (double)(int64_t)s;
    return (double)s; /* libgcc __floattidf: correctly rounded */
}

#include "velocity_tables.h"
#include "velocity_windows.h"
#include "velocity_entities.h"

/* ------------------------------------------------------------------------------------ */
/* the Store type                                                                       */

static void group_clear_state(Group *g) {
    if (g->slab) {
        for (uint32_t i = 0; i < g->n_slab; i++) {
            uint64_t *R = rec_at(g, i);
            if (R[0] && (rec_flags(R) & F_EXT)) PyMem_RawFree(rec_buf(R));
        }
    }
    PyMem_RawFree(g->slab);
    PyMem_RawFree(g->table);
    g->slab = NULL;
    g->table = NULL;
    g->tmask = 0;
    g->n_slab = g->cap_slab = 0;
    g->free_head = NIL;
    g->n_live = g->n_events = g->buf_bytes = 0;
    g->q_head = g->q_tail = NIL;
}

static void labels_clear(Store *s) {
    PyMem_RawFree(s->labels);
    PyMem_RawFree(s->ltable);
    s->labels = NULL;
    s->ltable = NULL;
    s->ltmask = 0;
    s->n_lab = s->cap_lab = 0;
    s->lab_free = s->lru_head = s->lru_tail = NIL;
    s->n_labels = 0;
}

static void Store_dealloc(Store *s) {
    if (s->groups) {
        for (int i = 0; i < s->ngroups; i++) {
            Group *g = &s->groups[i];
            group_clear_state(g);
            PyMem_Free(g->keys);
            PyMem_Free(g->slots);
            PyMem_Free(g->filters);
            PyMem_Free(g->q);
            PyMem_Free(g->pairs);
        }
        PyMem_Free(s->groups);
    }
    labels_clear(s);
    PyMem_RawFree(s->scratch);
    Py_XDECREF(s->desc);
    Py_XDECREF(s->event_error);
    Py_XDECREF(s->alloc);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int bad_desc(const char *what) {
    PyErr_Format(PyExc_ValueError, "compiled velocity store: unsupported plan (%s)", what);
    return -1;
}

static int int_at(PyObject *t, Py_ssize_t i, int *out) {
    long v = PyLong_AsLong(PyTuple_GET_ITEM(t, i));
    if (v == -1 && PyErr_Occurred()) return -1;
    *out = (int)v;
    return 0;
}

/* group descriptor: (keys, horizon|None, slots [(kind, field|None, filt)], filters (tuple of filt),
 *                    queries [(out, code, pair, include, flag, slot, slot2)], pairs [(lo|None, hi, cal_days, excl_day)]) */
static int group_init(Group *g, PyObject *d) {
    if (!PyTuple_Check(d) || PyTuple_GET_SIZE(d) != 6) return bad_desc("group");
    PyObject *keys = PyTuple_GET_ITEM(d, 0), *hor = PyTuple_GET_ITEM(d, 1), *slots = PyTuple_GET_ITEM(d, 2);
    PyObject *filts = PyTuple_GET_ITEM(d, 3), *qs = PyTuple_GET_ITEM(d, 4), *pairs = PyTuple_GET_ITEM(d, 5);
    if (!PyTuple_Check(keys) || !PyTuple_Check(slots) || !PyTuple_Check(filts) || !PyTuple_Check(qs) ||
        !PyTuple_Check(pairs))
        return bad_desc("group parts");
    g->free_head = NIL;
    g->q_head = g->q_tail = NIL;
    g->nkey = (int)PyTuple_GET_SIZE(keys);
    if (g->nkey < 1 || g->nkey > 16) return bad_desc("key width");
    g->keys = PyMem_Calloc(g->nkey, sizeof(PyObject *));
    for (int i = 0; i < g->nkey; i++) g->keys[i] = PyTuple_GET_ITEM(keys, i);
    if (hor == Py_None) {
        g->has_horizon = 0;
    } else {
        g->has_horizon = 1;
        g->horizon = PyLong_AsLongLong(hor);
        if (PyErr_Occurred()) return -1;
    }
    g->nfilt = (int)PyTuple_GET_SIZE(filts);
    if (g->nfilt > 64) return bad_desc("too many filters");
    g->filters = PyMem_Calloc(g->nfilt + 1, sizeof(PyObject *));
    for (int i = 0; i < g->nfilt; i++) {
        PyObject *f = PyTuple_GET_ITEM(filts, i);
        if (!PyTuple_Check(f)) return bad_desc("filter");
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(f); j++) {
            PyObject *it = PyTuple_GET_ITEM(f, j);
            if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(it, 1)))
                return bad_desc("filter item");
        }
        g->filters[i] = f;
    }
    g->nslots = (int)PyTuple_GET_SIZE(slots);
    g->slots = PyMem_Calloc(g->nslots + 1, sizeof(Slot));
    int nbits = 0, nwords = 0;
    for (int i = 0; i < g->nslots; i++) {
        PyObject *sd = PyTuple_GET_ITEM(slots, i);
        if (!PyTuple_Check(sd) || PyTuple_GET_SIZE(sd) != 3) return bad_desc("slot");
        Slot *sl = &g->slots[i];
        if (int_at(sd, 0, &sl->kind) < 0 || int_at(sd, 2, &sl->filt) < 0) return -1;
        sl->field = PyTuple_GET_ITEM(sd, 1);
        if (sl->filt >= g->nfilt) return bad_desc("slot filter");
        if (sl->kind == K_FLAG || sl->kind == K_VALID || sl->kind == K_OPT) sl->bit = nbits++;
        if (sl->kind == K_VAL || sl->kind == K_OPT || sl->kind == K_DIST || sl->kind == K_APP) sl->word = nwords++;
        if (sl->kind < K_FLAG || sl->kind > K_APP) return bad_desc("slot kind");
        if (sl->kind != K_FLAG && sl->kind != K_APP && !PyUnicode_Check(sl->field)) return bad_desc("slot field");
    }
    if (nbits > 64) return bad_desc("more than 64 flag slots");
    g->bitsw = nbits ? 1 : -1;
    int first = nbits ? 2 : 1;
    for (int i = 0; i < g->nslots; i++) g->slots[i].word += first;
    g->evw = first + nwords;
    if (g->evw > MAX_WORDS) return bad_desc("event too wide");
    g->rw = 3 + (g->evw - 1 > 1 ? g->evw - 1 : 1);
    g->npairs = (int)PyTuple_GET_SIZE(pairs);
    if (g->npairs > 32) return bad_desc("more than 32 distinct windows in a group");
    g->pairs = PyMem_Calloc(g->npairs + 1, sizeof(Pair));
    for (int i = 0; i < g->npairs; i++) {
        PyObject *p = PyTuple_GET_ITEM(pairs, i);
        if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 4) return bad_desc("pair");
        PyObject *lo = PyTuple_GET_ITEM(p, 0);
        g->pairs[i].has_lo = lo != Py_None;
        if (lo != Py_None) g->pairs[i].lo = PyLong_AsLongLong(lo);
        g->pairs[i].hi = PyLong_AsLongLong(PyTuple_GET_ITEM(p, 1));
        if (PyErr_Occurred()) return -1;
        if (int_at(p, 2, &g->pairs[i].cal) < 0 || int_at(p, 3, &g->pairs[i].excl) < 0) return -1;
        if (g->pairs[i].cal < 0 || g->pairs[i].cal > 36500 || (g->pairs[i].excl & ~1)) return bad_desc("calendar pair");
    }
    g->nq = (int)PyTuple_GET_SIZE(qs);
    g->q = PyMem_Calloc(g->nq + 1, sizeof(Query));
    for (int i = 0; i < g->nq; i++) {
        PyObject *qd = PyTuple_GET_ITEM(qs, i);
        if (!PyTuple_Check(qd) || PyTuple_GET_SIZE(qd) != 7) return bad_desc("query");
        Query *q = &g->q[i];
        if (int_at(qd, 0, &q->out) < 0 || int_at(qd, 1, &q->code) < 0 || int_at(qd, 2, &q->pair) < 0 ||
            int_at(qd, 3, &q->include) < 0 || int_at(qd, 4, &q->flag) < 0 || int_at(qd, 5, &q->slot) < 0 ||
            int_at(qd, 6, &q->slot2) < 0)
            return -1;
        if (q->pair < 0 || q->pair >= g->npairs || q->flag >= g->nslots || q->slot >= g->nslots ||
            q->slot2 >= g->nslots || q->code < A_COUNT || q->code > A_RATIO)
            return bad_desc("query index");
        if (q->code != A_COUNT && q->code != A_FIRST && q->code != A_LAST && q->slot < 0) return bad_desc("query slot");
        if ((q->code == A_MEAN || q->code == A_RATIO) && q->slot2 < 0) return bad_desc("mean slot");
    }
    return 0;
}

static PyObject *Store_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"desc", "event_error", "alloc", NULL};
    PyObject *desc, *event_error, *alloc;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OO", kwlist, &PyTuple_Type, &desc, &event_error, &alloc))
        return NULL;
    /* desc: (n_features, lateness, max_labels, groups) */
    if (PyTuple_GET_SIZE(desc) != 4 || !PyTuple_Check(PyTuple_GET_ITEM(desc, 3))) {
        PyErr_SetString(PyExc_ValueError, "compiled velocity store: bad descriptor");
        return NULL;
    }
    Store *s = (Store *)type->tp_alloc(type, 0);
    if (!s) return NULL;
    s->lab_free = s->lru_head = s->lru_tail = NIL;
    Py_INCREF(desc);
    s->desc = desc;
    Py_INCREF(event_error);
    s->event_error = event_error;
    Py_INCREF(alloc);
    s->alloc = alloc;
    s->nfeat = (int)PyLong_AsLong(PyTuple_GET_ITEM(desc, 0));
    s->lateness = PyLong_AsLongLong(PyTuple_GET_ITEM(desc, 1));
    long long ml = PyLong_AsLongLong(PyTuple_GET_ITEM(desc, 2));
    if (PyErr_Occurred()) goto fail;
    if (ml < 1) {
        PyErr_SetString(PyExc_ValueError, "max_labels must be at least 1");
        goto fail;
    }
    s->max_labels = (uint64_t)ml;
    PyObject *groups = PyTuple_GET_ITEM(desc, 3);
    s->ngroups = (int)PyTuple_GET_SIZE(groups);
    s->groups = PyMem_Calloc(s->ngroups + 1, sizeof(Group));
    if (!s->groups) {
        PyErr_NoMemory();
        goto fail;
    }
    for (int i = 0; i < s->ngroups; i++) {
        s->groups[i].free_head = NIL;
        s->groups[i].q_head = s->groups[i].q_tail = NIL;
    }
    for (int i = 0; i < s->ngroups; i++) {
        if (group_init(&s->groups[i], PyTuple_GET_ITEM(groups, i)) < 0) goto fail;
        for (int j = 0; j < s->groups[i].nq; j++) {
            if (s->groups[i].q[j].out < 0 || s->groups[i].q[j].out >= s->nfeat) {
                bad_desc("feature index");
                goto fail;
            }
        }
    }
    if (fc_index_all(s) < 0) goto fail;
    return (PyObject *)s;
fail:
    Py_DECREF(s);
    return NULL;
}

static int raise_event_error(Store *s, const char *field, PyObject *msg) {
    if (!msg) return -1;
    PyObject *exc = PyObject_CallFunction(s->event_error, "sO", field, msg);
    Py_DECREF(msg);
    if (!exc) return -1;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}

/* update_and_read's work, the features written into out (s->nfeat doubles; round 13: the caller owns the buffer,
 * so apply_into writes into the pipeline's vector). 0, or -1 with an error. */
static int update_and_read_into(Store *s, PyObject *rec, int64_t t, double *out) {
    if (s->has_max && t < s->max_seen - s->lateness) {
        /* the reference's message (fraudscore.velocity.admission.late_message): the same text in both engines */
        PyObject *mod = PyImport_ImportModule("fraudscore.velocity.admission");
        if (!mod) return -1;
        PyObject *msg = PyObject_CallMethod(mod, "late_message", "L", (long long)s->lateness);
        Py_DECREF(mod);
        return raise_event_error(s, "ts", msg);
    }
    int64_t new_max = (!s->has_max || t > s->max_seen) ? t : s->max_seen;
    for (int i = 0; i < s->nfeat; i++) out[i] = NAN;
    /* extract every group's key and slot values first: an error here changes no state */
    uint64_t keys[64];
    int has[64];
    uint64_t curbuf[64 * 8];
    uint64_t *curs = curbuf;
    size_t need = 0;
    for (int gi = 0; gi < s->ngroups; gi++) need += (size_t)s->groups[gi].evw;
    if (s->ngroups > 64) goto unsupported;
    if (need > sizeof(curbuf) / sizeof(uint64_t)) {
        curs = PyMem_Malloc(need * sizeof(uint64_t));
        if (!curs) {
            PyErr_NoMemory();
            goto error;
        }
    }
    size_t off = 0;
    FieldCache fc;
    fc_begin(&fc, s, rec);
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        int r = entity_key(&fc, g, rec, &keys[gi]);
        if (r < 0 || (r && extract(&fc, g, rec, t, curs + off) < 0)) {
            fc_end(&fc);
            goto error;
        }
        has[gi] = r;
        off += (size_t)g->evw;
    }
    fc_end(&fc);
    off = 0;
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        uint64_t *cur = curs + off;
        off += (size_t)g->evw;
        if (!has[gi]) continue;
        uint32_t idx = table_find(g, keys[gi]);
        if (idx == NIL) {
            if (read_group(s, g, NULL, 0, t, cur, out) < 0) goto error;
            if (new_entity(g, keys[gi], cur, &idx) < 0) goto error;
        } else {
            uint64_t *R = rec_at(g, idx);
            uint64_t tmp[MAX_WORDS];
            Py_ssize_t n;
            const uint64_t *E = entity_events(g, R, tmp, &n);
            if (read_group(s, g, E, n, t, cur, out) < 0) goto error;
            if (entity_insert(g, R, cur) < 0) goto error;
            rec_set_n(R, rec_n(R), rec_flags(R) | F_TOUCHED);
            if (g->has_horizon) entity_trim(g, R, new_max - s->lateness - g->horizon);
        }
    }
    s->has_max = 1;
    s->max_seen = new_max;
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        if (g->has_horizon) evict_some(g, new_max - s->lateness - g->horizon);
    }
    if (curs != curbuf) PyMem_Free(curs);
    return 0;
unsupported:
    PyErr_SetString(PyExc_ValueError, "compiled velocity store: more than 64 key groups");
error:
    if (curs != curbuf) PyMem_Free(curs);
    return -1;
}

/* update_and_read(plan, record, ts) -> float64 array of the features as of ts (then adds the event) */
static PyObject *Store_update_and_read(Store *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "update_and_read(plan, record, ts)");
        return NULL;
    }
    int64_t t = PyLong_AsLongLong(args[2]);
    if (t == -1 && PyErr_Occurred()) return NULL;
    PyObject *arr = PyObject_CallNoArgs(s->alloc);
    if (!arr) return NULL;
    Py_buffer view;
    int fv = f64_view(arr, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS); /* round 16: numpy's fields directly */
    if (fv < 0 || (!fv && PyObject_GetBuffer(arr, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)) {
        Py_DECREF(arr);
        return NULL;
    }
    int r = view.len == (Py_ssize_t)sizeof(double) * s->nfeat ? update_and_read_into(s, args[1], t, view.buf) : -2;
    PyBuffer_Release(&view);
    if (r == -2) PyErr_SetString(PyExc_ValueError, "compiled velocity store: bad output buffer");
    if (r < 0) Py_CLEAR(arr);
    return arr;
}

static PyObject *Store_record_label(Store *s, PyObject *args) {
    PyObject *app;
    int is_fraud;
    long long lt;
    if (!PyArg_ParseTuple(args, "UpL", &app, &is_fraud, &lt)) return NULL;
    uint64_t key = fs_value_key(app);
    if (!key) return NULL;
    if (is_fraud) {
        if (label_set(s, key, lt) < 0) return NULL;
    } else {
        uint32_t i = label_find(s, key);
        if (i != NIL) label_remove(s, i);
    }
    Py_RETURN_NONE;
}

static PyObject *Store_latest_time(Store *s, PyObject *Py_UNUSED(ignored)) {
    if (!s->has_max) Py_RETURN_NONE;
    return PyLong_FromLongLong(s->max_seen);
}

static PyObject *Store_stats(Store *s, PyObject *Py_UNUSED(ignored)) {
    uint64_t ents = 0, events = 0, bytes = 0;
    for (int i = 0; i < s->ngroups; i++) {
        Group *g = &s->groups[i];
        ents += g->n_live;
        events += g->n_events;
        bytes += (uint64_t)g->cap_slab * g->rw * 8 + (g->table ? (g->tmask + 1) * 8 : 0) + g->buf_bytes;
    }
    bytes += (uint64_t)s->cap_lab * sizeof(Label) + (s->ltable ? (s->ltmask + 1) * 8 : 0);
    return Py_BuildValue("{sKsKsKsK}", "entities", (unsigned long long)ents, "events", (unsigned long long)events,
                         "labels", (unsigned long long)s->n_labels, "bytes", (unsigned long long)bytes);
}

#include "velocity_snapshot.h"

static PyObject *Store_set_latest(Store *s, PyObject *arg) {
    if (arg == Py_None) {
        s->has_max = 0;
        Py_RETURN_NONE;
    }
    int64_t v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    s->has_max = 1;
    s->max_seen = v;
    Py_RETURN_NONE;
}

static PyObject *Store_clear(Store *s, PyObject *Py_UNUSED(ignored)) {
    for (int gi = 0; gi < s->ngroups; gi++) group_clear_state(&s->groups[gi]);
    labels_clear(s);
    s->has_max = 0;
    Py_RETURN_NONE;
}

#include "velocity_results.h" /* ResultTable, Store.admit / apply_rec: the exactly-once records in C (round 12) */

static PyMethodDef Store_methods[] = {
    {"admit", (PyCFunction)(void (*)(void))Store_admit, METH_FASTCALL, "admit(table, id, ts) -> (record, latest)."},
    {"apply_rec", (PyCFunction)(void (*)(void))Store_apply_rec, METH_FASTCALL, "apply_rec(table, id, *apply_new)."},
    {"apply_into", (PyCFunction)(void (*)(void))Store_apply_into, METH_FASTCALL,
     "apply_into(table, id, plan, record, ts, link, x, offset) -> None (features in x) or the recorded Applied."},
    {"update_and_read", (PyCFunction)(void (*)(void))Store_update_and_read, METH_FASTCALL,
     "update_and_read(plan, record, ts): the features as of ts, then the event is added."},
    {"apply_new", (PyCFunction)(void (*)(void))Store_apply_new, METH_FASTCALL,
     "apply_new(plan, record, ts, link, cls, descriptors) -> cls(update_and_read(...), False, link, ts)."},
    {"record_label", (PyCFunction)Store_record_label, METH_VARARGS,
     "record_label(application_id, is_fraud, label_time_ms)"},
    {"latest_time", (PyCFunction)Store_latest_time, METH_NOARGS, "The latest event time seen, or None."},
    {"stats", (PyCFunction)Store_stats, METH_NOARGS, "Counts of entities, events, labels and bytes held."},
    {"dump", (PyCFunction)Store_dump, METH_NOARGS, "The state as bytes (see load)."},
    {"load", (PyCFunction)Store_load, METH_O, "Replace the state with a dump."},
    {"import_entity", (PyCFunction)Store_import_entity, METH_VARARGS,
     "import_entity(group, key, ts, cols): add one entity from a reference-store snapshot."},
    {"set_latest", (PyCFunction)Store_set_latest, METH_O, "Set the latest event time (restores)."},
    {"clear", (PyCFunction)Store_clear, METH_NOARGS, "Drop all state."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject StoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.velocity_store.Store",
    .tp_basicsize = sizeof(Store),
    .tp_dealloc = (destructor)Store_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compiled memory velocity state for one compiled feature set (see velocity/memory_compiled.py).",
    .tp_methods = Store_methods,
    .tp_new = Store_new,
};

static PyObject *py_value_key(PyObject *Py_UNUSED(m), PyObject *v) {
    uint64_t k = fs_value_key(v);
    if (!k) return NULL;
    return PyLong_FromUnsignedLongLong(k);
}

static PyObject *py_to_double(PyObject *Py_UNUSED(m), PyObject *v) {
    /* float() of an exact integer through the store's 128-bit path (tests) */
    PyObject *lo = PyNumber_And(v, fs_mask64);
    if (!lo) return NULL;
    PyObject *sh = PyLong_FromLong(64);
    PyObject *hi = sh ? PyNumber_Rshift(v, sh) : NULL;
    Py_XDECREF(sh);
    if (!hi) {
        Py_DECREF(lo);
        return NULL;
    }
    unsigned long long l = PyLong_AsUnsignedLongLong(lo);
    long long h = PyLong_AsLongLong(hi);
    Py_DECREF(lo);
    Py_DECREF(hi);
    if (PyErr_Occurred()) return NULL;
    __int128 s = (__int128)(((unsigned __int128)(uint64_t)h << 64) | (unsigned __int128)l);
    return PyFloat_FromDouble(i128_to_double(s));
}

/* memory_latency_ns(mib, steps): nanoseconds per dependent load over a random cycle of mib MiB
 * (the cost of one cache miss to DRAM when mib is far above the last-level cache) */
#include <time.h>
static PyObject *py_memory_latency(PyObject *Py_UNUSED(m), PyObject *args) {
    Py_ssize_t mib, steps;
    if (!PyArg_ParseTuple(args, "nn", &mib, &steps)) return NULL;
    if (mib < 1 || mib > 4096 || steps < 1) {
        PyErr_SetString(PyExc_ValueError, "mib in 1..4096, steps >= 1");
        return NULL;
    }
    size_t n = (size_t)mib * 1024 * 1024 / 64; /* one slot per cache line */
    uint64_t *a = PyMem_RawMalloc(n * 64);
    uint32_t *perm = PyMem_RawMalloc(n * sizeof(uint32_t));
    if (!a || !perm) {
        PyMem_RawFree(a);
        PyMem_RawFree(perm);
        return PyErr_NoMemory();
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates with splitmix64 */
        x += 0x9E3779B97F4A7C15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        size_t j = (size_t)(z % (i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) a[(size_t)perm[i] * 8] = (uint64_t)perm[(i + 1) % n] * 8;
    PyMem_RawFree(perm);
    struct timespec t0, t1;
    uint64_t p = 0;
    Py_BEGIN_ALLOW_THREADS
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (Py_ssize_t i = 0; i < steps; i++) p = a[p];
    clock_gettime(CLOCK_MONOTONIC, &t1);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(a);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    return Py_BuildValue("(dK)", ns / (double)steps, (unsigned long long)p);
}

static PyObject *fs_str_ts; /* "ts", interned at import */
static dl_hint_t ck_hints[2][64]; /* check_record's position hints: key fields, numeric fields (round 17) */

/* check_record(rec, numeric_fields, key_fields, max_abs) -> ts, or None: plan.check_event's common case (an
 * exact dict, an exact int "ts", key fields None or exact str, numeric fields None, exact float or exact int
 * within +-max_abs or NaN). None (without an error) for anything else: the caller runs the reference, which
 * accepts or raises the EventError. */
static PyObject *py_check_record(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyTuple_Check(args[1]) || !PyTuple_Check(args[2]) || !PyFloat_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "check_record(rec, numeric_fields, key_fields, max_abs)");
        return NULL;
    }
    PyObject *rec = args[0];
    if (!PyDict_CheckExact(rec)) Py_RETURN_NONE;
    double lim = PyFloat_AS_DOUBLE(args[3]);
    PyObject *ts = PyDict_GetItemWithError(rec, fs_str_ts);
    if (!ts) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    if (!PyLong_CheckExact(ts)) Py_RETURN_NONE;
    Py_INCREF(ts); /* a borrowed value of a dict that the checks below do not change, held anyway */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args[2]); i++) {
        PyObject *k = PyTuple_GET_ITEM(args[2], i);
        PyObject *v = i < 64 ? dict_hint_get(rec, k, &ck_hints[0][i]) : PyDict_GetItemWithError(rec, k);
        if (!v && PyErr_Occurred()) goto error;
        if (v && v != Py_None && !PyUnicode_CheckExact(v)) goto other;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args[1]); i++) {
        PyObject *k = PyTuple_GET_ITEM(args[1], i);
        PyObject *v = i < 64 ? dict_hint_get(rec, k, &ck_hints[1][i]) : PyDict_GetItemWithError(rec, k);
        if (!v && PyErr_Occurred()) goto error;
        if (!v || v == Py_None) continue;
        double f;
        if (PyFloat_CheckExact(v)) {
            f = PyFloat_AS_DOUBLE(v);
        } else if (PyLong_CheckExact(v)) {
            f = PyLong_AsDouble(v);
            if (f == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                goto other;
            }
        } else {
            goto other;
        }
        if (f == f && !(-lim <= f && f <= lim)) goto other;
    }
    return ts;
other:
    Py_DECREF(ts);
    Py_RETURN_NONE;
error:
    Py_DECREF(ts);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"check_record", (PyCFunction)(void (*)(void))py_check_record, METH_FASTCALL,
     "check_record(rec, numeric_fields, key_fields, max_abs) -> ts, or None: use plan.check_event."},
    {"memory_latency_ns", py_memory_latency, METH_VARARGS,
     "memory_latency_ns(mib, steps) -> (ns per dependent load, checksum): a pointer chase (benchmark limits)."},
    {"value_key", py_value_key, METH_O, "The stable 64-bit key of an entity / distinct-of value."},
    {"int128_to_float", py_to_double, METH_O, "float() of an integer in [-2**127, 2**127) via the C path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "velocity_store",
    "The compiled memory velocity store (reference: fraudscore/velocity/memory.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit_velocity_store(void) {
    if (fs_keys_init() < 0) return NULL;
    if (!fs_str_ts && !(fs_str_ts = PyUnicode_InternFromString("ts"))) return NULL;
    if (PyType_Ready(&StoreType) < 0 || PyType_Ready(&ResultTableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&StoreType);
    if (PyModule_AddObject(m, "Store", (PyObject *)&StoreType) < 0) {
        Py_DECREF(&StoreType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ResultTableType);
    if (PyModule_AddObject(m, "ResultTable", (PyObject *)&ResultTableType) < 0) Py_DECREF(&ResultTableType);
    PyModule_AddIntConstant(m, "EVICT_STEPS", EVICT_STEPS);
    PyModule_AddIntConstant(m, "DUMP_VERSION", DUMP_VERSION);
    return m;
}
