/*
 * The packed-record table of the linking kernels (included by linking.c, which defines the readers it uses:
 * item, as_i64, read_comps and the interned keys). Moved out of linking.c in round 10 (its size); unchanged.
 */
#ifndef FRAUDSCORE_LINKING_PACK_H
#define FRAUDSCORE_LINKING_PACK_H

/* ---- packed records ------------------------------------------------------------------------------------ */
/* What the walk, the filter, the pre-filter and the ordering read of a record, packed once per record *state*:
 * the components, renderer and time as int64, and (borrowed) the objects read only for the scored few. Packed
 * records are kept in a direct-mapped table keyed by the dict's address and its ma_version_tag: CPython 3.11 /
 * 3.12 give every dict a fresh tag from one global counter when it is created and whenever its items change,
 * so an equal (address, tag) pair is the same live dict with the same items -- a record written again (touch:
 * "t", "n", "ip"; a restore; a test's assignment) or freed and its memory reused is never served stale, and
 * the borrowed objects are alive (the dict holds them). Records are never mutated *inside* their lists ("c",
 * "fs", "lg", the shared version lists: linkfeatures.make_record), which the tag cannot see. Other Python
 * versions pack every record on each read (the same results, without the table). */
#include "dict_layout.h" /* dict_tag, dict_entries */
#define PACK_CACHE DICT_LAYOUT
#define PACK_BITS 14 /* 16,384 slots of 232 bytes */

typedef struct {
    /* first cache line: what the walk and the hard rules read */
    uint64_t tag;     /* the dict's ma_version_tag when packed; 0 = empty slot */
    PyObject *dict;   /* identity only */
    int64_t t;
    PyObject *fam, *bf, *ov, *bv, *av;  /* borrowed from the dict (types checked where used) */
    /* the pre-filter and the ordering */
    int64_t r;
    int64_t comps[NCOMP];
    PyObject *id;
    /* the scored few */
    PyObject *fs, *fn, *lg, *ip, *n;  /* borrowed, NULL when missing */
    char pad[256 - 8 * (10 + NCOMP) - 5 * sizeof(PyObject *)]; /* one slot = four cache lines */
} prec_t;

_Static_assert(sizeof(prec_t) == 256, "a packed record is four cache lines");

static prec_t *PACKED; /* the table (PyMem_Calloc on first use), or NULL */
static unsigned long long PACK_HITS, PACK_MISSES;

/* A record's 16 entries read in place (round 14): a record made by linkfeatures.make_record (or its C twin in
 * linkstate_decide.h) is a combined dict of str keys holding exactly its 16 keys in make_record's order. Where the
 * dict has that layout -- CPython 3.11 / 3.12's (Include/internal/pycore_dict.h: the keys object's header, its
 * index bytes, then the (key, value) entries in insertion order), no split values, 16 entries all live, each
 * entry's key the very interned key object -- entry i's value is what a lookup of key i returns (a dict's keys are
 * unique), read without hashing and probing; any other dict is read through PyDict_GetItemWithError. */
#if PACK_CACHE
enum { R_ID, R_FP, R_FAM, R_BF, R_OV, R_BV, R_AV, R_C, R_R, R_FS, R_FN, R_LG, R_IP, R_F, R_T, R_N, R_KEYS };
static int PACK_DIRECT_ON = 1; /* pack_direct(False) turns it off (tests compare both) */

/* rec's entries in make_record's layout, or NULL (another layout: looked up) */
static const dl_entry_t *rec_layout(PyObject *rec) {
    PyObject *const want[R_KEYS] = {K_id, K_fp, K_fam, K_bf, K_ov, K_bv, K_av, K_c,
                                    K_r,  K_fs, K_fn,  K_lg, K_ip, K_f,  K_t,  K_n};
    const dl_entry_t *e;
    int i;
    if (!PACK_DIRECT_ON || (e = dict_entries(rec, R_KEYS)) == NULL) return NULL;
    for (i = 0; i < R_KEYS; ++i) {
        if (e[i].me_key != want[i] || e[i].me_value == NULL) return NULL;
    }
    return e;
}
#endif

/* rec's fields into out: 0 ok, -1 not packable (a missing or unreadable field: the reference decides) */
static int pack(PyObject *rec, prec_t *out) {
    PyObject *o;
#if PACK_CACHE
    const dl_entry_t *e = rec_layout(rec);
    if (e != NULL) { /* the same values as the lookups below (see rec_layout) */
        out->fam = e[R_FAM].me_value;
        out->bf = e[R_BF].me_value;
        out->id = e[R_ID].me_value;
        out->ov = e[R_OV].me_value;
        out->bv = e[R_BV].me_value;
        out->av = e[R_AV].me_value;
        if (read_comps(e[R_C].me_value, out->comps, 1) != 0) return -1;
        if (as_i64(e[R_R].me_value, &out->r) != 0) return -1;
        if (as_i64(e[R_T].me_value, &out->t) != 0 || out->t >= TBOUND || out->t <= -TBOUND) return -1;
        out->fs = e[R_FS].me_value;
        out->fn = e[R_FN].me_value;
        out->lg = e[R_LG].me_value;
        out->ip = e[R_IP].me_value;
        out->n = e[R_N].me_value;
        out->dict = rec;
        return 0;
    }
#endif
    out->fam = item(rec, K_fam);
    out->bf = item(rec, K_bf);
    out->id = item(rec, K_id);
    out->ov = item(rec, K_ov);
    out->bv = item(rec, K_bv);
    out->av = item(rec, K_av);
    if (out->fam == NULL || out->bf == NULL || out->id == NULL || out->ov == NULL || out->bv == NULL ||
        out->av == NULL)
        return -1;
    if ((o = item(rec, K_c)) == NULL || read_comps(o, out->comps, 1) != 0) return -1;
    if ((o = item(rec, K_r)) == NULL || as_i64(o, &out->r) != 0) return -1;
    if ((o = item(rec, K_t)) == NULL || as_i64(o, &out->t) != 0 || out->t >= TBOUND || out->t <= -TBOUND) return -1;
    out->fs = item(rec, K_fs);
    out->fn = item(rec, K_fn);
    out->lg = item(rec, K_lg);
    out->ip = item(rec, K_ip);
    out->n = item(rec, K_n);
    out->dict = rec;
    return 0;
}

/* the packed record of dict rec: from the table, or packed now (into the table, or into tmp without one); NULL:
 * not packable. The pointer is valid until the next call (another record may take the slot). */
static const prec_t *packed(PyObject *rec, prec_t *tmp) {
#if PACK_CACHE
    uint64_t tag = dict_tag(rec);
    prec_t *slot;
    if (PACKED == NULL) { /* aligned to a cache line: a slot's first line holds what the walk reads */
        void *raw = PyMem_Calloc(((size_t)1 << PACK_BITS) + 1, sizeof(prec_t));
        if (raw != NULL) PACKED = (prec_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63); /* kept for the process */
    }
    if (PACKED != NULL && tag != 0) {
        /* two ways per set (round 11): a set's first slot holds the record found or packed last, the second the
         * one before it, so two hot records of one set no longer evict each other (the scorer stream's blocks
         * re-read a record every few dozen events, ~70 records an event: a direct-mapped table missed ~1 read in
         * 10) */
        slot = PACKED + 2 * (size_t)((((uint64_t)(uintptr_t)rec >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - PACK_BITS + 1));
        if (slot->tag == tag && slot->dict == rec) {
            ++PACK_HITS;
            return slot;
        }
        if (slot[1].tag == tag && slot[1].dict == rec) { /* the second way: swapped to the front */
            prec_t t = slot[1];
            slot[1] = slot[0];
            slot[0] = t;
            ++PACK_HITS;
            return slot;
        }
        ++PACK_MISSES;
        if (slot->tag != 0) slot[1] = slot[0]; /* the first way's record moves back; the second's is dropped */
        if (pack(rec, slot) != 0) {
            slot->tag = 0;
            return NULL;
        }
        slot->tag = tag;
        return slot;
    }
#endif
    return pack(rec, tmp) == 0 ? tmp : NULL;
}

#endif /* FRAUDSCORE_LINKING_PACK_H */
