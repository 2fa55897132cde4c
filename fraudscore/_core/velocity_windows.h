/*
 * The compiled velocity store's event extraction (memory_layout.py GroupLayout.entity / extract) and
 * window reads (GroupLayout.read): the features of one entity's events as of a time, for every aggregation.
 *
 * Included by velocity_store.c (one compilation unit: it uses the types, constants and helpers defined before
 * the #include; setup.py lists this header among velocity_store's rebuild dependencies).
 */

/* ------------------------------------------------------------------------------------ */
/* event extraction (GroupLayout.entity / extract)                                      */

/* 1 = key found, 0 = a key field missing, -1 = error */
static int entity_key(FieldCache *c, Group *g, PyObject *rec, uint64_t *key) {
    if (g->nkey == 1) {
        PyObject *v = fc_get(c, rec, g->key_fi[0], g->keys[0]);
        if (!v) return -1;
        if (v == Py_None) {
            Py_DECREF(v);
            return 0;
        }
        uint64_t k = fc_key(c, g->key_fi[0], v);
        Py_DECREF(v);
        if (!k) return -1;
        *key = k;
        return 1;
    }
    uint64_t parts[16];
    for (int i = 0; i < g->nkey; i++) {
        PyObject *v = fc_get(c, rec, g->key_fi[i], g->keys[i]);
        if (!v) return -1;
        if (v == Py_None) {
            Py_DECREF(v);
            return 0;
        }
        parts[i] = fc_key(c, g->key_fi[i], v);
        Py_DECREF(v);
        if (!parts[i]) return -1;
    }
    *key = fs_combine_keys(parts, g->nkey);
    return 1;
}

static int extract(FieldCache *c, Group *g, PyObject *rec, int64_t t, uint64_t *ev) {
    int oks[64];
    for (int i = 0; i < g->nfilt; i++) oks[i] = -2;
    memset(ev, 0, sizeof(uint64_t) * g->evw);
    ev[0] = (uint64_t)t;
    for (int s = 0; s < g->nslots; s++) {
        Slot *sl = &g->slots[s];
        int ok = 1;
        if (sl->filt >= 0) {
            if (oks[sl->filt] == -2) {
                oks[sl->filt] = filter_passes(rec, g->filters[sl->filt]);
                if (oks[sl->filt] < 0) return -1;
            }
            ok = oks[sl->filt];
        }
        switch (sl->kind) {
        case K_FLAG:
            if (ok) ev[g->bitsw] |= 1ull << sl->bit;
            break;
        case K_DIST:
            if (ok) {
                PyObject *v = fc_get(c, rec, sl->fi, sl->field);
                if (!v) return -1;
                if (v != Py_None) {
                    uint64_t k = fc_key(c, sl->fi, v);
                    Py_DECREF(v);
                    if (!k) return -1;
                    ev[sl->word] = k;
                } else {
                    Py_DECREF(v);
                }
            }
            break;
        case K_APP:
            if (ok) {
                PyObject *v = fc_get(c, rec, sl->fi, fs_str_application_id);
                if (!v) return -1;
                uint64_t k;
                if (v == Py_None) {
                    k = fs_value_key(fs_str_empty);
                } else if (PyUnicode_CheckExact(v)) {
                    k = fc_key(c, sl->fi, v);
                } else {
                    PyObject *sv = PyObject_Str(v);
                    if (!sv) {
                        Py_DECREF(v);
                        return -1;
                    }
                    k = fs_value_key(sv);
                    Py_DECREF(sv);
                }
                Py_DECREF(v);
                if (!k) return -1;
                ev[sl->word] = k;
            }
            break;
        default: { /* VAL / VALID / OPT */
            int64_t m = 0;
            int has = 0;
            if (ok) {
                PyObject *v = fc_get(c, rec, sl->fi, sl->field);
                if (!v) return -1;
                has = to_micro(v, &m);
                Py_DECREF(v);
                if (has < 0) return -1;
            }
            if (sl->kind == K_VAL) {
                ev[sl->word] = has ? (uint64_t)m : 0;
            } else if (sl->kind == K_VALID) {
                if (has) ev[g->bitsw] |= 1ull << sl->bit;
            } else if (has) {
                ev[g->bitsw] |= 1ull << sl->bit;
                ev[sl->word] = (uint64_t)m;
            }
        }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* reading windows (GroupLayout.read)                                                   */

static inline Py_ssize_t bisect_right(const uint64_t *E, int evw, int64_t x, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (x < (int64_t)E[mid * evw]) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static inline int bit_of(const Group *g, const uint64_t *e, int bit) { return (int)((e[g->bitsw] >> bit) & 1); }

static int ensure_scratch(Store *s, Py_ssize_t n) {
    if (n <= s->scratch_cap) return 0;
    Py_ssize_t nc = n < 64 ? 64 : n * 2;
    uint64_t *p = PyMem_RawRealloc(s->scratch, (size_t)nc * sizeof(uint64_t));
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    s->scratch = p;
    s->scratch_cap = nc;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static Py_ssize_t count_distinct(Store *s, uint64_t *v, Py_ssize_t k) {
    if (k <= 1) return k;
    if (k <= 16) {
        Py_ssize_t d = 0;
        for (Py_ssize_t i = 0; i < k; i++) {
            int dup = 0;
            for (Py_ssize_t j = 0; j < i; j++) {
                if (v[j] == v[i]) {
                    dup = 1;
                    break;
                }
            }
            d += !dup;
        }
        return d;
    }
    qsort(v, (size_t)k, sizeof(uint64_t), cmp_u64);
    Py_ssize_t d = 1;
    for (Py_ssize_t i = 1; i < k; i++) d += v[i] != v[i - 1];
    return d;
}

/* E: n events of evw words each, sorted by time; cur: the current event */
static int read_group(Store *s, Group *g, const uint64_t *E, Py_ssize_t n, int64_t t, const uint64_t *cur,
                      double *out) {
    const int evw = g->evw;
    Py_ssize_t b0[32], b1[32];
    int in_order = n == 0 || (int64_t)E[(n - 1) * evw] <= t;
    for (int p = 0; p < g->npairs; p++) {
        const Pair *pr = &g->pairs[p];
        if (n == 0) {
            b0[p] = b1[p] = 0;
            continue;
        }
        int has_lower = pr->has_lo;
        int64_t upper = t - pr->hi, lower = has_lower ? t - pr->lo : 0;
        Py_ssize_t i1;
        if (pr->cal || pr->excl) {
            int64_t m = upper % DAY_MS;
            int64_t d0 = upper - (m < 0 ? m + DAY_MS : m); /* floor to the UTC midnight, as Python's % */
            if (pr->excl) upper = d0 - 1;
            if (pr->cal) {
                has_lower = 1;
                lower = d0 - ((int64_t)pr->cal - 1 + pr->excl) * DAY_MS - 1;
            }
            i1 = bisect_right(E, evw, upper, 0, n);
        } else {
            i1 = (pr->hi == 0 && in_order) ? n : bisect_right(E, evw, upper, 0, n);
        }
        Py_ssize_t i0 = 0;
        if (has_lower && i1 > 0) i0 = ((int64_t)E[0] > lower) ? 0 : bisect_right(E, evw, lower, 0, i1);
        b0[p] = i0;
        b1[p] = i1;
    }
    for (int qi = 0; qi < g->nq; qi++) {
        const Query *q = &g->q[qi];
        Py_ssize_t i0 = b0[q->pair], i1 = b1[q->pair];
        int flagbit = q->flag >= 0 ? g->slots[q->flag].bit : -1;
        int inc = q->include && (q->flag < 0 || bit_of(g, cur, flagbit));
        switch (q->code) {
        case A_COUNT: {
            int64_t c;
            if (q->flag < 0) {
                c = (int64_t)(i1 - i0);
            } else {
                c = 0;
                for (Py_ssize_t i = i0; i < i1; i++) c += bit_of(g, E + i * evw, flagbit);
            }
            out[q->out] = (double)(c + inc);
            break;
        }
        case A_SUM:
        case A_MEAN:
        case A_RATIO: {
            int w = g->slots[q->slot].word;
            __int128 acc = 0;
            for (Py_ssize_t i = i0; i < i1; i++) acc += (int64_t)E[i * evw + w];
            if (inc) acc += (int64_t)cur[w];
            if (q->code == A_SUM) {
                out[q->out] = i128_to_double(acc) / 1e6;
            } else {
                int vb = g->slots[q->slot2].bit;
                int64_t nv = 0;
                for (Py_ssize_t i = i0; i < i1; i++) nv += bit_of(g, E + i * evw, vb);
                if (inc) nv += bit_of(g, cur, vb);
                if (q->code == A_MEAN) {
                    out[q->out] = nv == 0 ? NAN : i128_to_double(acc) / ((double)nv * 1e6);
                } else if (!bit_of(g, cur, vb) || nv == 0 || acc == 0) {
                    /* plan.finish("ratio_to_mean"): the event's own value (None when missing or filtered out)
                     * over the window mean; NaN without a value or with a mean that is NaN or 0 */
                    out[q->out] = NAN;
                } else {
                    double mean = i128_to_double(acc) / ((double)nv * 1e6);
                    out[q->out] = ((double)(int64_t)cur[w] / 1e6) / mean;
                }
            }
            break;
        }
        case A_MIN:
        case A_MAX: {
            int w = g->slots[q->slot].word, pb = g->slots[q->slot].bit, any = 0;
            int64_t m = 0;
            for (Py_ssize_t i = i0; i < i1; i++) {
                const uint64_t *e = E + i * evw;
                if (!bit_of(g, e, pb)) continue;
                int64_t v = (int64_t)e[w];
                if (!any || (q->code == A_MIN ? v < m : v > m)) m = v;
                any = 1;
            }
            if (inc && bit_of(g, cur, pb)) {
                int64_t v = (int64_t)cur[w];
                if (!any || (q->code == A_MIN ? v < m : v > m)) m = v;
                any = 1;
            }
            out[q->out] = any ? (double)m / 1e6 : NAN;
            break;
        }
        case A_DISTINCT: {
            int w = g->slots[q->slot].word;
            if (ensure_scratch(s, (i1 - i0) + 1) < 0) return -1;
            Py_ssize_t k = 0;
            for (Py_ssize_t i = i0; i < i1; i++) {
                uint64_t v = E[i * evw + w];
                if (v) s->scratch[k++] = v;
            }
            if (inc && cur[w]) s->scratch[k++] = cur[w];
            out[q->out] = (double)count_distinct(s, s->scratch, k);
            break;
        }
        case A_FIRST:
        case A_LAST: {
            int has = 0;
            int64_t ref = 0;
            if (i1 > i0) {
                if (q->flag < 0) {
                    ref = (int64_t)E[(q->code == A_FIRST ? i0 : i1 - 1) * evw];
                    has = 1;
                } else if (q->code == A_FIRST) {
                    for (Py_ssize_t i = i0; i < i1; i++) {
                        if (bit_of(g, E + i * evw, flagbit)) {
                            ref = (int64_t)E[i * evw];
                            has = 1;
                            break;
                        }
                    }
                } else {
                    for (Py_ssize_t i = i1 - 1; i >= i0; i--) {
                        if (bit_of(g, E + i * evw, flagbit)) {
                            ref = (int64_t)E[i * evw];
                            has = 1;
                            break;
                        }
                    }
                }
            }
            if (inc && (!has || q->code == A_LAST)) {
                ref = t;
                has = 1;
            }
            out[q->out] = has ? (double)(t - ref) / 1000.0 : NAN;
            break;
        }
        default: { /* A_FCOUNT / A_FRATE */
            int w = g->slots[q->slot].word;
            int64_t den = 0, k = 0;
            for (Py_ssize_t i = i0; i < i1; i++) {
                uint64_t a = E[i * evw + w];
                if (!a) continue;
                den++;
                int64_t lt;
                if (label_get(s, a, &lt) && lt <= t) k++;
            }
            if (q->code == A_FCOUNT) out[q->out] = (double)k;
            else out[q->out] = den == 0 ? 0.0 : (double)k / (double)den;
        }
        }
    }
    return 0;
}
