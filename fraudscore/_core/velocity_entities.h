/*
 * The compiled velocity store's entity storage: fixed-width records in one slab per key group, the single
 * event inline or a time-sorted ring of event records, incremental eviction.
 *
 * Included by velocity_store.c (one compilation unit: it uses the types, constants and helpers defined before
 * the #include; setup.py lists this header among velocity_store's rebuild dependencies).
 */

/* ------------------------------------------------------------------------------------ */
/* entity storage                                                                       */

/* a contiguous view of an entity's events: inline events are copied into tmp */
static const uint64_t *entity_events(Group *g, const uint64_t *R, uint64_t *tmp, Py_ssize_t *n) {
    uint32_t nn = rec_n(R);
    *n = nn;
    if (rec_flags(R) & F_EXT) {
        Buf *b = rec_buf(R);
        return b->ev + (size_t)b->head * g->evw;
    }
    tmp[0] = R[1];
    for (int w = 1; w < g->evw; w++) tmp[w] = R[2 + w];
    return tmp;
}

static int new_entity(Group *g, uint64_t key, const uint64_t *ev, uint32_t *out_idx) {
    uint32_t idx;
    if (g->free_head != NIL) {
        idx = g->free_head;
        g->free_head = (uint32_t)rec_at(g, idx)[1];
    } else {
        if (g->n_slab == g->cap_slab) {
            uint32_t nc = g->cap_slab ? g->cap_slab * 2 : 64;
            if (nc < g->cap_slab || nc >= NIL) {
                PyErr_SetString(PyExc_MemoryError, "too many entities in one key group");
                return -1;
            }
            uint64_t *ns = PyMem_RawRealloc(g->slab, (size_t)nc * g->rw * sizeof(uint64_t));
            if (!ns) {
                PyErr_NoMemory();
                return -1;
            }
            g->slab = ns;
            g->cap_slab = nc;
        }
        idx = g->n_slab++;
    }
    if (table_insert(g, key, idx) < 0) {
        uint64_t *R = rec_at(g, idx);
        R[0] = 0;
        R[1] = g->free_head;
        g->free_head = idx;
        return -1;
    }
    uint64_t *R = rec_at(g, idx);
    memset(R, 0, sizeof(uint64_t) * g->rw);
    R[0] = key;
    R[1] = ev[0];
    rec_set_n(R, 1, 0);
    rec_set_qnext(R, NIL);
    for (int w = 1; w < g->evw; w++) R[2 + w] = ev[w];
    /* queue at the tail */
    if (g->q_tail != NIL) rec_set_qnext(rec_at(g, g->q_tail), idx); else g->q_head = idx;
    g->q_tail = idx;
    g->n_live++;
    g->n_events++;
    *out_idx = idx;
    return 0;
}

static Buf *buf_alloc(Group *g, uint32_t cap) {
    Buf *b = PyMem_RawMalloc(sizeof(Buf) + (size_t)cap * g->evw * sizeof(uint64_t));
    if (!b) {
        PyErr_NoMemory();
        return NULL;
    }
    b->cap = cap;
    b->head = 0;
    g->buf_bytes += sizeof(Buf) + (size_t)cap * g->evw * sizeof(uint64_t);
    return b;
}

static void buf_free(Group *g, Buf *b) {
    g->buf_bytes -= sizeof(Buf) + (size_t)b->cap * g->evw * sizeof(uint64_t);
    PyMem_RawFree(b);
}

/* insert ev (after stored events of equal time) */
static int entity_insert(Group *g, uint64_t *R, const uint64_t *ev) {
    const int evw = g->evw;
    uint32_t n = rec_n(R), flags = rec_flags(R);
    Buf *b;
    if (!(flags & F_EXT)) {
        /* n == 1 inline: move to a buffer of 4 */
        b = buf_alloc(g, 4);
        if (!b) return -1;
        b->ev[0] = R[1];
        for (int w = 1; w < evw; w++) b->ev[w] = R[2 + w];
        R[3] = (uint64_t)(uintptr_t)b;
        flags |= F_EXT;
    } else {
        b = rec_buf(R);
    }
    if (b->head + n == b->cap) {
        if (b->head > 0 && n + 1 <= b->cap - b->cap / 4) { /* compact in place */
            memmove(b->ev, b->ev + (size_t)b->head * evw, (size_t)n * evw * sizeof(uint64_t));
            b->head = 0;
        } else {
            uint32_t nc = b->cap * 2;
            Buf *nb = buf_alloc(g, nc);
            if (!nb) return -1;
            memcpy(nb->ev, b->ev + (size_t)b->head * evw, (size_t)n * evw * sizeof(uint64_t));
            buf_free(g, b);
            b = nb;
            R[3] = (uint64_t)(uintptr_t)b;
        }
    }
    uint64_t *E = b->ev + (size_t)b->head * evw;
    int64_t t = (int64_t)ev[0];
    Py_ssize_t pos = n;
    if (n && (int64_t)E[(n - 1) * evw] > t) {
        pos = bisect_right(E, evw, t, 0, n);
        memmove(E + (pos + 1) * evw, E + pos * evw, (size_t)(n - pos) * evw * sizeof(uint64_t));
    }
    memcpy(E + pos * evw, ev, (size_t)evw * sizeof(uint64_t));
    n++;
    if (t > (int64_t)R[1]) R[1] = (uint64_t)t;
    rec_set_n(R, n, flags);
    g->n_events++;
    return 0;
}

/* drop events at or before cutoff; the entity keeps at least its latest event */
static void entity_trim(Group *g, uint64_t *R, int64_t cutoff) {
    uint32_t flags = rec_flags(R);
    if (!(flags & F_EXT)) return;
    const int evw = g->evw;
    Buf *b = rec_buf(R);
    uint32_t n = rec_n(R);
    uint64_t *E = b->ev + (size_t)b->head * evw;
    if ((int64_t)E[0] > cutoff) return;
    Py_ssize_t k = bisect_right(E, evw, cutoff, 0, n);
    b->head += (uint32_t)k;
    n -= (uint32_t)k;
    g->n_events -= (uint64_t)k;
    E = b->ev + (size_t)b->head * evw;
    if (n == 1) { /* back to the inline form */
        R[1] = E[0];
        for (int w = 1; w < evw; w++) R[2 + w] = E[w];
        if (evw < 2) R[3] = 0;
        buf_free(g, b);
        rec_set_n(R, 1, flags & ~F_EXT);
        return;
    }
    if (n == 0) { /* cannot happen after an insert, kept for safety */
        rec_set_n(R, 0, flags);
        return;
    }
    if (b->cap > 16 && n <= b->cap / 4) {
        Buf *nb = buf_alloc(g, b->cap / 2);
        if (nb) {
            memcpy(nb->ev, E, (size_t)n * evw * sizeof(uint64_t));
            buf_free(g, b);
            R[3] = (uint64_t)(uintptr_t)nb;
        } else {
            PyErr_Clear(); /* keep the larger buffer */
        }
    }
    rec_set_n(R, n, flags);
}

static void entity_free(Group *g, uint32_t idx) {
    uint64_t *R = rec_at(g, idx);
    table_delete(g, R[0], idx);
    g->n_events -= rec_n(R);
    if (rec_flags(R) & F_EXT) buf_free(g, rec_buf(R));
    R[0] = 0;
    R[1] = g->free_head;
    R[2] = 0;
    g->free_head = idx;
    g->n_live--;
}

/* incremental eviction: look at most EVICT_STEPS queued entities */
static void evict_some(Group *g, int64_t cutoff) {
    for (int step = 0; step < EVICT_STEPS && g->q_head != NIL; step++) {
        uint32_t idx = g->q_head;
        uint64_t *R = rec_at(g, idx);
        uint32_t next = rec_qnext(R);
        if ((int64_t)R[1] <= cutoff) {
            g->q_head = next;
            if (next == NIL) g->q_tail = NIL;
            entity_free(g, idx);
            continue;
        }
        if (!(rec_flags(R) & F_TOUCHED)) break; /* the oldest untouched entity is still live */
        /* touched since queued: re-queue at the tail (an LRU's move-to-end, done lazily) */
        rec_set_n(R, rec_n(R), rec_flags(R) & ~F_TOUCHED);
        if (next == NIL) break; /* it is the only one */
        g->q_head = next;
        rec_set_qnext(R, NIL);
        rec_set_qnext(rec_at(g, g->q_tail), idx);
        g->q_tail = idx;
    }
}
