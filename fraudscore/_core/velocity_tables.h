/*
 * The compiled velocity store's tables: the open-addressing entity table (64-bit keys to entity
 * indexes) and the fraud labels' bounded LRU keyed by the application id's key.
 *
 * Included by velocity_store.c (one compilation unit: it uses the types, constants and helpers defined before
 * the #include; setup.py lists this header among velocity_store's rebuild dependencies).
 */

/* ------------------------------------------------------------------------------------ */
/* entity table                                                                         */

/* table position and 32-bit tag of a key: a bijective mix (murmur3 fmix64), so that keys whose bits
 * are not uniform (structured test values, small integers in a pseudonym's place) still spread */
static inline uint64_t mix64(uint64_t k) { return fs_mix64(k ^ 0x9E3779B97F4A7C15ull); }

static int table_grow(Group *g) {
    uint64_t ncap = g->table ? (g->tmask + 1) * 2 : 16;
    uint64_t *nt = PyMem_RawCalloc(ncap, sizeof(uint64_t));
    if (nt == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t nmask = ncap - 1;
    if (g->table) {
        for (uint64_t i = 0; i <= g->tmask; i++) {
            uint64_t s = g->table[i];
            if (!s) continue;
            uint64_t j = (s >> 32) & nmask;
            while (nt[j]) j = (j + 1) & nmask;
            nt[j] = s;
        }
        PyMem_RawFree(g->table);
    }
    g->table = nt;
    g->tmask = nmask;
    return 0;
}

static uint32_t table_find(Group *g, uint64_t key) {
    if (!g->table) return NIL;
    uint64_t frag = mix64(key) >> 32, m = g->tmask, i = frag & m;
    for (;;) {
        uint64_t s = g->table[i];
        if (!s) return NIL;
        if ((s >> 32) == frag) {
            uint32_t idx = (uint32_t)s - 1;
            if (rec_at(g, idx)[0] == key) return idx;
        }
        i = (i + 1) & m;
    }
}

static int table_insert(Group *g, uint64_t key, uint32_t idx) {
    if (!g->table || (g->n_live + 1) * 10 > (g->tmask + 1) * 7) {
        if (table_grow(g) < 0) return -1;
    }
    uint64_t frag = mix64(key) >> 32, m = g->tmask, i = frag & m;
    while (g->table[i]) i = (i + 1) & m;
    g->table[i] = (frag << 32) | ((uint64_t)idx + 1);
    return 0;
}

static void table_delete(Group *g, uint64_t key, uint32_t idx) {
    uint64_t frag = mix64(key) >> 32, m = g->tmask, i = frag & m;
    uint64_t want = (frag << 32) | ((uint64_t)idx + 1);
    while (g->table[i] != want) i = (i + 1) & m;
    /* backward-shift deletion (linear probing) */
    uint64_t j = i;
    for (;;) {
        j = (j + 1) & m;
        uint64_t s = g->table[j];
        if (!s) break;
        uint64_t k = (s >> 32) & m;
        int move = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
        if (move) {
            g->table[i] = s;
            i = j;
        }
    }
    g->table[i] = 0;
}

/* ------------------------------------------------------------------------------------ */
/* labels: a bounded LRU keyed by the application id's key                              */

static int ltable_grow(Store *s) {
    uint64_t ncap = s->ltable ? (s->ltmask + 1) * 2 : 16;
    uint64_t *nt = PyMem_RawCalloc(ncap, sizeof(uint64_t));
    if (!nt) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t nmask = ncap - 1;
    if (s->ltable) {
        for (uint64_t i = 0; i <= s->ltmask; i++) {
            uint64_t v = s->ltable[i];
            if (!v) continue;
            uint64_t j = (v >> 32) & nmask;
            while (nt[j]) j = (j + 1) & nmask;
            nt[j] = v;
        }
        PyMem_RawFree(s->ltable);
    }
    s->ltable = nt;
    s->ltmask = nmask;
    return 0;
}

static uint32_t label_find(Store *s, uint64_t key) {
    if (!s->ltable) return NIL;
    uint64_t frag = mix64(key) >> 32, m = s->ltmask, i = frag & m;
    for (;;) {
        uint64_t v = s->ltable[i];
        if (!v) return NIL;
        if ((v >> 32) == frag && s->labels[(uint32_t)v - 1].key == key) return (uint32_t)v - 1;
        i = (i + 1) & m;
    }
}

/* lru_unlink, lru_append, lru_to_end: the labels' recency order (dlist.h) */
DLIST_OPS(lru, Store, labels, lru_head, lru_tail, uint32_t, NIL)

static void label_remove(Store *s, uint32_t i) {
    uint64_t key = s->labels[i].key;
    uint64_t frag = mix64(key) >> 32, m = s->ltmask, p = frag & m;
    uint64_t want = (frag << 32) | ((uint64_t)i + 1);
    while (s->ltable[p] != want) p = (p + 1) & m;
    uint64_t j = p;
    for (;;) {
        j = (j + 1) & m;
        uint64_t v = s->ltable[j];
        if (!v) break;
        uint64_t k = (v >> 32) & m;
        int move = (j > p) ? (k <= p || k > j) : (k <= p && k > j);
        if (move) {
            s->ltable[p] = v;
            p = j;
        }
    }
    s->ltable[p] = 0;
    lru_unlink(s, i);
    s->labels[i].key = 0;
    s->labels[i].next = s->lab_free;
    s->lab_free = i;
    s->n_labels--;
}

/* cachetools LRUCache.__setitem__ */
static int label_set(Store *s, uint64_t key, int64_t lt) {
    uint32_t i = label_find(s, key);
    if (i != NIL) {
        s->labels[i].lt = lt;
        lru_to_end(s, i);
        return 0;
    }
    while (s->n_labels + 1 > s->max_labels && s->lru_head != NIL) label_remove(s, s->lru_head);
    if (s->lab_free != NIL) {
        i = s->lab_free;
        s->lab_free = s->labels[i].next;
    } else {
        if (s->n_lab == s->cap_lab) {
            uint32_t nc = s->cap_lab ? s->cap_lab * 2 : 64;
            Label *nl = PyMem_RawRealloc(s->labels, (size_t)nc * sizeof(Label));
            if (!nl) {
                PyErr_NoMemory();
                return -1;
            }
            s->labels = nl;
            s->cap_lab = nc;
        }
        i = s->n_lab++;
    }
    if (!s->ltable || (s->n_labels + 1) * 10 > (s->ltmask + 1) * 7) {
        if (ltable_grow(s) < 0) return -1;
    }
    s->labels[i].key = key;
    s->labels[i].lt = lt;
    uint64_t frag = mix64(key) >> 32, m = s->ltmask, p = frag & m;
    while (s->ltable[p]) p = (p + 1) & m;
    s->ltable[p] = (frag << 32) | ((uint64_t)i + 1);
    lru_append(s, i);
    s->n_labels++;
    return 0;
}

/* cachetools LRUCache.get: a hit moves the entry to the most recent end */
static inline int label_get(Store *s, uint64_t key, int64_t *lt) {
    uint32_t i = label_find(s, key);
    if (i == NIL) return 0;
    lru_to_end(s, i);
    *lt = s->labels[i].lt;
    return 1;
}
