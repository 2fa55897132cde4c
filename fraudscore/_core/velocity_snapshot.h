/*
 * The compiled velocity store's snapshots (Store.dump / load / import_entity): a flat little-endian dump of
 * the live state, with its layout version.
 *
 * Included by velocity_store.c (one compilation unit: it uses the types, constants and helpers defined before
 * the #include; setup.py lists this header among velocity_store's rebuild dependencies).
 */

/* ------------------------------------------------------------------------------------ */
/* snapshots: a flat little-endian dump of the live state                               */
/* layout: "FSVC" u32 version, i64 has_max, i64 max_seen, u64 ngroups,
 *         per group: u64 evw, u64 n_live, then per entity (queue order): u64 key, u64 n, n*evw words;
 *         u64 n_labels, then (key, lt) from least to most recently used.                  */

#define DUMP_VERSION 1

static PyObject *Store_dump(Store *s, PyObject *Py_UNUSED(ignored)) {
    size_t words = 4;
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        words += 2 + 2 * (size_t)g->n_live + (size_t)g->n_events * g->evw;
    }
    words += 1 + 2 * (size_t)s->n_labels;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(words * 8));
    if (!out) return NULL;
    uint64_t *w = (uint64_t *)PyBytes_AS_STRING(out);
    size_t p = 0;
    w[p++] = 0x43565346ull | ((uint64_t)DUMP_VERSION << 32); /* "FSVC" */
    w[p++] = (uint64_t)s->has_max;
    w[p++] = (uint64_t)s->max_seen;
    w[p++] = (uint64_t)s->ngroups;
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        w[p++] = (uint64_t)g->evw;
        w[p++] = g->n_live;
        for (uint32_t idx = g->q_head; idx != NIL; idx = rec_qnext(rec_at(g, idx))) {
            uint64_t *R = rec_at(g, idx);
            uint64_t tmp[MAX_WORDS];
            Py_ssize_t n;
            const uint64_t *E = entity_events(g, R, tmp, &n);
            w[p++] = R[0];
            w[p++] = (uint64_t)n;
            memcpy(w + p, E, (size_t)n * g->evw * 8);
            p += (size_t)n * g->evw;
        }
    }
    w[p++] = s->n_labels;
    for (uint32_t i = s->lru_head; i != NIL; i = s->labels[i].next) {
        w[p++] = s->labels[i].key;
        w[p++] = (uint64_t)s->labels[i].lt;
    }
    if (p != words) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "compiled velocity store: inconsistent counters in dump");
        return NULL;
    }
    return out;
}

static int load_entity(Group *g, uint64_t key, const uint64_t *E, uint32_t n) {
    uint32_t idx;
    if (table_find(g, key) != NIL) {
        PyErr_SetString(PyExc_ValueError, "duplicate entity in snapshot");
        return -1;
    }
    if (new_entity(g, key, E, &idx) < 0) return -1;
    for (uint32_t i = 1; i < n; i++) {
        if ((int64_t)E[i * g->evw] < (int64_t)E[(i - 1) * g->evw]) {
            PyErr_SetString(PyExc_ValueError, "unsorted events in snapshot");
            return -1;
        }
        if (entity_insert(g, rec_at(g, idx), E + (size_t)i * g->evw) < 0) return -1;
    }
    return 0;
}

static PyObject *Store_load(Store *s, PyObject *arg) {
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0) return NULL;
    const uint64_t *w = v.buf;
    size_t nw = (size_t)v.len / 8, p = 0;
#define NEED(k)                                                                          \
    do {                                                                                 \
        if (p + (size_t)(k) > nw || (size_t)(k) > nw) goto truncated;                    \
    } while (0)
    if (v.len % 8) goto truncated;
    NEED(4);
    if (w[0] != (0x43565346ull | ((uint64_t)DUMP_VERSION << 32))) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "not a compiled velocity store dump of this version");
        return NULL;
    }
    if (w[3] != (uint64_t)s->ngroups) goto mismatch;
    for (int gi = 0; gi < s->ngroups; gi++) group_clear_state(&s->groups[gi]);
    labels_clear(s);
    s->has_max = (int)w[1];
    s->max_seen = (int64_t)w[2];
    p = 4;
    for (int gi = 0; gi < s->ngroups; gi++) {
        Group *g = &s->groups[gi];
        NEED(2);
        if (w[p] != (uint64_t)g->evw) goto mismatch;
        uint64_t nl = w[p + 1];
        p += 2;
        for (uint64_t e = 0; e < nl; e++) {
            NEED(2);
            uint64_t key = w[p], n = w[p + 1];
            p += 2;
            if (!key || n < 1 || n > N_MASK) goto corrupt;
            NEED(n * (uint64_t)g->evw);
            if (load_entity(g, key, w + p, (uint32_t)n) < 0) goto fail;
            p += n * (size_t)g->evw;
        }
    }
    NEED(1);
    uint64_t nlab = w[p++];
    for (uint64_t i = 0; i < nlab; i++) {
        NEED(2);
        if (!w[p]) goto corrupt;
        if (label_set(s, w[p], (int64_t)w[p + 1]) < 0) goto fail;
        p += 2;
    }
    if (p != nw) goto corrupt;
    PyBuffer_Release(&v);
    Py_RETURN_NONE;
truncated:
    PyErr_SetString(PyExc_ValueError, "truncated compiled velocity store dump");
    goto fail;
mismatch:
    PyErr_SetString(PyExc_ValueError, "the dump was written for a different feature set layout");
    goto fail;
corrupt:
    PyErr_SetString(PyExc_ValueError, "corrupt compiled velocity store dump");
fail:
    PyBuffer_Release(&v);
    for (int gi = 0; gi < s->ngroups; gi++) group_clear_state(&s->groups[gi]);
    labels_clear(s);
    s->has_max = 0;
    return NULL;
#undef NEED
}

/* import_entity(group, key, ts_list, cols): one entity from a reference-store snapshot row */
static PyObject *Store_import_entity(Store *s, PyObject *args) {
    int gi;
    PyObject *key, *ts, *cols;
    if (!PyArg_ParseTuple(args, "iOO!O!", &gi, &key, &PyList_Type, &ts, &PyList_Type, &cols)) return NULL;
    if (gi < 0 || gi >= s->ngroups) {
        PyErr_SetString(PyExc_IndexError, "group index");
        return NULL;
    }
    Group *g = &s->groups[gi];
    Py_ssize_t n = PyList_GET_SIZE(ts);
    if (n < 1 || PyList_GET_SIZE(cols) != g->nslots) {
        PyErr_SetString(PyExc_ValueError, "snapshot row does not match the feature set");
        return NULL;
    }
    uint64_t k;
    if (PyTuple_Check(key)) {
        uint64_t parts[16];
        if (PyTuple_GET_SIZE(key) != g->nkey) {
            PyErr_SetString(PyExc_ValueError, "snapshot key width");
            return NULL;
        }
        for (int i = 0; i < g->nkey; i++) {
            parts[i] = fs_value_key(PyTuple_GET_ITEM(key, i));
            if (!parts[i]) return NULL;
        }
        k = fs_combine_keys(parts, g->nkey);
    } else {
        k = fs_value_key(key);
        if (!k) return NULL;
    }
    uint64_t *E = PyMem_Calloc((size_t)n * g->evw, sizeof(uint64_t));
    if (!E) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t *e = E + i * g->evw;
        e[0] = (uint64_t)PyLong_AsLongLong(PyList_GET_ITEM(ts, i));
        if (PyErr_Occurred()) goto fail;
        for (int si = 0; si < g->nslots; si++) {
            PyObject *col = PyList_GET_ITEM(cols, si);
            if (!PyList_Check(col) || PyList_GET_SIZE(col) != n) {
                PyErr_SetString(PyExc_ValueError, "snapshot column length");
                goto fail;
            }
            PyObject *v = PyList_GET_ITEM(col, i);
            Slot *sl = &s->groups[gi].slots[si];
            if (sl->kind == K_FLAG || sl->kind == K_VALID) {
                int b = PyObject_IsTrue(v);
                if (b < 0) goto fail;
                if (b) e[g->bitsw] |= 1ull << sl->bit;
            } else if (sl->kind == K_VAL || sl->kind == K_OPT) {
                if (v == Py_None) {
                    if (sl->kind == K_VAL) {
                        PyErr_SetString(PyExc_ValueError, "snapshot value");
                        goto fail;
                    }
                    continue;
                }
                e[sl->word] = (uint64_t)PyLong_AsLongLong(v);
                if (PyErr_Occurred()) goto fail;
                if (sl->kind == K_OPT) e[g->bitsw] |= 1ull << sl->bit;
            } else if (v != Py_None) {
                uint64_t vk = fs_value_key(v);
                if (!vk) goto fail;
                e[sl->word] = vk;
            }
        }
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        if ((int64_t)E[i * g->evw] < (int64_t)E[(i - 1) * g->evw]) {
            PyErr_SetString(PyExc_ValueError, "unsorted events in snapshot");
            goto fail;
        }
    }
    if (load_entity(g, k, E, (uint32_t)n) < 0) goto fail;
    PyMem_Free(E);
    Py_RETURN_NONE;
fail:
    PyMem_Free(E);
    return NULL;
}
