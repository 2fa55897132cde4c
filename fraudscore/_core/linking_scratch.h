/*
 * Round 15 (linkflat): memory of the linking kernels kept between select calls (included by linking.c after cand_t,
 * vmemo_t and the readers it uses: read_version, version_t).
 *
 * * SCRATCH: select's candidates, pool, top rows and the tie check's slots.
 * * VCACHE: the records' version lists parsed once per list object, not once per select call.
 */
#ifndef FRAUDSCORE_LINKING_SCRATCH_H
#define FRAUDSCORE_LINKING_SCRATCH_H

/* select's scratch (round 15): the candidates, the pool, the top rows and the tie check's slots, kept between calls
 * and grown as needed instead of four PyMem_Malloc / PyMem_Free pairs per call. select runs no Python code of its
 * own, but an allocation of its results may start the cyclic collector, whose finalizers could call select again:
 * ``busy`` marks the scratch in use, and a call that finds it so hands over to the reference. */
static struct {
    cand_t *all;
    cand_t **pool, **top;
    Py_ssize_t cap; /* entries of all / pool / top */
    Py_ssize_t *slot;
    Py_ssize_t slot_cap;
    int busy;
} SCRATCH;

static int scratch_reserve(Py_ssize_t n) { /* 0 ok, -1 no memory (nothing freed: the old buffers stay) */
    cand_t *all;
    cand_t **pool, **top;
    if (n <= SCRATCH.cap) return 0;
    if (n < 64) n = 64;
    all = (cand_t *)PyMem_Malloc(sizeof(cand_t) * (size_t)n);
    pool = (cand_t **)PyMem_Malloc(sizeof(cand_t *) * (size_t)n);
    top = (cand_t **)PyMem_Malloc(sizeof(cand_t *) * (size_t)n);
    if (all == NULL || pool == NULL || top == NULL) {
        PyMem_Free(all);
        PyMem_Free(pool);
        PyMem_Free(top);
        return -1;
    }
    PyMem_Free(SCRATCH.all);
    PyMem_Free(SCRATCH.pool);
    PyMem_Free(SCRATCH.top);
    SCRATCH.all = all;
    SCRATCH.pool = pool;
    SCRATCH.top = top;
    SCRATCH.cap = n;
    return 0;
}

static Py_ssize_t *scratch_slots(Py_ssize_t size) { /* the tie check's table, or NULL (no memory) */
    if (size > SCRATCH.slot_cap) {
        Py_ssize_t *grown = (Py_ssize_t *)PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)size);
        if (grown == NULL) return NULL;
        PyMem_Free(SCRATCH.slot);
        SCRATCH.slot = grown;
        SCRATCH.slot_cap = size;
    }
    return SCRATCH.slot;
}

/* The parsed version lists (round 15). A record's "ov" / "bv" / "av" is one of the shared lists make_record stores
 * (linkfeatures.make_record: one list object per distinct version), so a stream has few of them, and the filter
 * parsed each again in every select call (VMEMO lives for one call: without a reference to the list, its memory could
 * be another list's by the next call). Here each entry holds a reference to its list, so an entry's address is that
 * very list for as long as the entry lives, and its parts are those parsed when it was stored: the contract the
 * packed-record table already relies on -- a record's lists are never mutated in place. Lists of more than VC_PARTS
 * parts are parsed every time, as before. vcache(False) empties the table and turns it off (tests compare both). */
#define VC_BITS 10
#define VC_PARTS 8
typedef struct {
    PyObject *obj; /* owned, or NULL */
    int none;
    Py_ssize_t len;
    int64_t v[VC_PARTS];
} vc_ent;
static vc_ent VCACHE[1 << VC_BITS];
static int VCACHE_ON = 1;

static void vcache_clear(void) {
    size_t i;
    for (i = 0; i < (1u << VC_BITS); ++i) Py_CLEAR(VCACHE[i].obj);
}

/* a record's version list o (None or an exact list of ints) parsed: its parts at *parts (VCACHE's entry, or tmp's),
 * its length and whether it is None; 0 ok, -1 hand over (as read_version) */
static int vc_parts(PyObject *o, version_t *tmp, const int64_t **parts, Py_ssize_t *len, int *none) {
    vc_ent *e = &VCACHE[((uint64_t)(uintptr_t)o * 0x9E3779B97F4A7C15ull) >> (64 - VC_BITS)];
    if (e->obj == o) {
        *parts = e->v;
        *len = e->len;
        *none = e->none;
        return 0;
    }
    if (read_version(o, tmp, 1) != 0) return -1;
    *parts = tmp->v;
    *len = tmp->len;
    *none = tmp->none;
    if (VCACHE_ON && tmp->len <= VC_PARTS) { /* (the old entry's list holds exact ints only: freeing it runs no code) */
        Py_XSETREF(e->obj, Py_NewRef(o));
        e->none = tmp->none;
        e->len = tmp->len;
        memcpy(e->v, tmp->v, sizeof(int64_t) * (size_t)tmp->len);
    }
    return 0;
}

/* version_ge(a, b) for b given by its parts: list(new) >= old, lexicographic */
static int version_ge_parts(const version_t *a, const int64_t *b, Py_ssize_t blen) {
    Py_ssize_t i, n = a->len < blen ? a->len : blen;
    for (i = 0; i < n; ++i) {
        if (a->v[i] != b[i]) return a->v[i] > b[i];
    }
    return a->len >= blen;
}

#endif /* FRAUDSCORE_LINKING_SCRATCH_H */
