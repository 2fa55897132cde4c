/*
 * The candidate walk of the linking kernels (included by linking.c after the packed records: it uses item, as_i64,
 * packed, map_get and the interned keys). Moved out of linking.c unchanged in round 14 (the file's size).
 */
#ifndef FRAUDSCORE_LINKING_WALK_H
#define FRAUDSCORE_LINKING_WALK_H

/* walk(blocks, block_keys, devices, skip, now, ttl): MemoryLinkState.read's candidate walk */
static inline void prefetch(const void *p) {
#if defined(__GNUC__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

#if PACK_CACHE
static inline const prec_t *slot_of(PyObject *rec) { /* the first slot of rec's set (for a prefetch) */
    return PACKED + 2 * (size_t)((((uint64_t)(uintptr_t)rec >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - PACK_BITS + 1));
}
#endif

/* walk(blocks, block_keys, devices, skip, now, ttl): MemoryLinkState.read's candidate walk. Per block in three
 * passes -- its ids, then their records (the id objects prefetched), then the records' times (the dicts and
 * their table slots prefetched) -- so the memory reads of a block's records overlap instead of queueing one
 * record after the other (a crowded block's records are mostly out of the caches by the next event). */
static PyObject *linking_walk(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *blocks, *keys, *devices, *skip, *out = NULL;
    PyObject *done[16];
    PyObject **ids = NULL, **recs = NULL, **live = NULL; /* live: the walk's records (borrowed), in order */
    Py_ssize_t cap = 0, nlive = 0, livecap = 0;
    int64_t now, ttl;
    Py_ssize_t nk, i, j, ndone = 0;
    (void)mod;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "walk(blocks, block_keys, devices, skip, now, ttl)");
        return NULL;
    }
    blocks = args[0];
    keys = args[1];
    devices = args[2];
    skip = args[3];
    if (!(PyDict_Check(blocks) || (RM_TYPE != NULL && Py_TYPE(blocks) == RM_TYPE)) ||
        !(PyDict_Check(devices) || (RM_TYPE != NULL && Py_TYPE(devices) == RM_TYPE)) ||
        !(PyTuple_CheckExact(keys) || PyList_CheckExact(keys)) ||
        !(skip == Py_None || PyUnicode_CheckExact(skip)) || as_i64(args[4], &now) != 0 ||
        as_i64(args[5], &ttl) != 0 || now >= TBOUND || now <= -TBOUND)
        return hand_over();
    nk = PySequence_Fast_GET_SIZE(keys);
    if (nk > 16) return hand_over();
    for (i = 0; i < nk; ++i) {
        PyObject *key = PySequence_Fast_ITEMS(keys)[i], *blk, *it, *did;
        Py_ssize_t m = 0, size, q;
        if (!PyUnicode_CheckExact(key)) goto bail;
        blk = map_get(blocks, key);
        if (blk == NULL) {
            if (PyErr_Occurred()) goto bail;
            continue;
        }
        if (!(PyDict_CheckExact(blk) || Py_TYPE(blk) == OrderedDictType || (RM_TYPE != NULL && Py_TYPE(blk) == RM_TYPE)))
            goto bail;
        if ((size = Py_TYPE(blk) == RM_TYPE ? ((rm_t *)blk)->len : PyDict_GET_SIZE(blk)) == 0) continue;
        if (size > cap) {
            PyMem_Free(ids);
            PyMem_Free(recs);
            cap = size;
            ids = (PyObject **)PyMem_Malloc(sizeof(PyObject *) * (size_t)cap);
            recs = (PyObject **)PyMem_Malloc(sizeof(PyObject *) * (size_t)cap);
            if (ids == NULL || recs == NULL) {
                PyErr_NoMemory();
                goto bail;
            }
        }
        /* pass 1: the block's ids, most recently seen first (new references, released below): an OrderedDict's
         * from its linked list where that layout was verified (linking_odict.h), else through reversed() */
        if (Py_TYPE(blk) == RM_TYPE) { /* a C-owned block (round 13): its recency list from the newest */
            int32_t p;
            for (p = ((rm_t *)blk)->tail; p >= 0 && m < size; p = ((rm_t *)blk)->ent[p].prev) {
                did = Py_NewRef(((rm_t *)blk)->ent[p].key);
                prefetch(did);
                ids[m++] = did;
            }
        } else if (ODICT_OK && Py_TYPE(blk) == OrderedDictType) {
            if ((m = odict_keys_reversed(blk, ids, size)) < 0) goto bail; /* (released) */
        } else {
            it = PyObject_CallMethodNoArgs(blk, S_reversed);
            if (it == NULL) goto bail;
            while (m < size && (did = PyIter_Next(it)) != NULL) {
                prefetch(did); /* its hash, read by the lookups below */
                ids[m++] = did;
            }
            Py_DECREF(it);
            if (PyErr_Occurred() || PyDict_GET_SIZE(blk) != m) goto bail_ids;
        }
        /* pass 2: the live candidates' records (borrowed from devices), the same tests in the same order */
        for (q = 0; q < m; ++q) {
            PyObject *rec;
            int dup = 0;
            did = ids[q];
            recs[q] = NULL;
            if (!PyUnicode_CheckExact(did)) goto bail_ids;
            /* "did in seen": seen holds every id of the blocks walked before (but skip) */
            for (j = 0; j < ndone && !dup; ++j) {
                int c = Py_TYPE(done[j]) == RM_TYPE ? rm_get((rm_t *)done[j], did) != NULL : PyDict_Contains(done[j], did);
                if (c < 0) goto bail_ids;
                dup = c;
            }
            if (dup || (skip != Py_None && (did == skip || PyUnicode_Compare(did, skip) == 0))) continue;
            rec = map_get(devices, did);
            if (rec == NULL) {
                if (PyErr_Occurred()) goto bail_ids;
                continue;
            }
            if (!PyDict_CheckExact(rec)) goto bail_ids;
            prefetch(rec); /* its version tag */
#if PACK_CACHE
            if (PACKED != NULL) {
                const prec_t *set = slot_of(rec);
                prefetch(set);
                prefetch(set + 1);
            }
#endif
            recs[q] = rec;
        }
        /* pass 3: their times (packed, or read) and the live ones (no Python code runs until the list is made
         * below, so the borrowed records stay alive) */
        if (nlive + m > livecap) {
            PyObject **grown = (PyObject **)PyMem_Realloc(live, sizeof(PyObject *) * (size_t)(nlive + m));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto bail_ids;
            }
            live = grown;
            livecap = nlive + m;
        }
        for (q = 0; q < m; ++q) {
            PyObject *rec = recs[q], *t;
            const prec_t *pr;
            prec_t tmp;
            int64_t tv;
            if (rec == NULL) continue;
            if (PACK_CACHE && (pr = packed(rec, &tmp)) != NULL) { /* packed now for the filter that follows */
                tv = pr->t;
            } else if ((t = item(rec, K_t)) == NULL || as_i64(t, &tv) != 0 || tv >= TBOUND || tv <= -TBOUND) {
                goto bail_ids;
            }
            if (now - tv <= ttl) live[nlive++] = rec;
        }
        for (q = 0; q < m; ++q) Py_DECREF(ids[q]);
        done[ndone++] = blk;
        continue;
    bail_ids:
        for (q = 0; q < m; ++q) Py_DECREF(ids[q]);
        goto bail;
    }
    PyMem_Free(ids);
    PyMem_Free(recs);
    if ((out = PyList_New(nlive)) != NULL) {
        for (i = 0; i < nlive; ++i) PyList_SET_ITEM(out, i, Py_NewRef(live[i]));
    }
    PyMem_Free(live);
    return out;
bail:
    PyMem_Free(ids);
    PyMem_Free(recs);
    PyMem_Free(live);
    Py_XDECREF(out);
    return hand_over();
}

#endif /* FRAUDSCORE_LINKING_WALK_H */
