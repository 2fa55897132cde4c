/*
 * The Redis link state's cache reads of one decision, in one call each (round 11; included by redis_calls.c;
 * the writes are in redis_linkwrite.h, which uses the helpers here).
 *
 * Reference: fraudscore/fingerprint/linkstate_redis.py, OptimisticLinkState._view (its candidate section:
 * _block, _record and _read over the worker's cache) and OptimisticLinkState._counts. The Python stays the
 * reference and the fallback; parity (the candidates, the read set in its order, the cache and its order)
 * is tested with hypothesis in tests/fingerprint/test_linkstate_redis_compiled.py.
 *
 *   link_candidates(cache, rkeys, reads, writes, bprefix, block_names, skip, now, ttl)
 *       -> [record, ...] or None
 *     The candidate records of the blocks ``bprefix + name`` (ids most recently seen first, block by block,
 *     each id once, ``skip`` left out), as the reference reads them: each block read (logged as a read of its
 *     membership: its stamp zeroed), each record read (logged with its head), a cached record parsed once
 *     (decode_record, kept in the cache), records older than ``ttl`` before ``now`` left out. None, with
 *     nothing read or changed, when the reference must run: a named device whose record key is not in
 *     ``rkeys``, or whose record is neither cached nor written by this decision (the reference then fetches
 *     it, or asks for the read of everything).
 *
 *   link_exact(cache, rkeys, reads, writes, xprefix, fids, now, ttl) -> (record, devices), None or False
 *     _view's exact match: the first of the fingerprint's ids whose entry (``xprefix + id``) names a live record,
 *     every entry and record read logged as the reference logs them; False when the reference must go on (a
 *     record not at hand, as above: redoing the reads logged so far changes nothing).
 *
 *   link_counts(cache, hreads, hincr, hkey, keys, fields) -> (n, {key: count})
 *     The hash's device count ("n") and the counts of ``keys`` as the decision sees them (the cached value,
 *     logged in ``hreads`` the first time, plus this decision's increments); a key without a field name in
 *     ``fields`` gets ``str(key)`` there, as the reference's _field_name does.
 *
 * The caller holds the link state's lock; no Python code runs in these calls (the JSON of a record of layout 0
 * is parsed by json.loads, as in the reference).
 */
#ifndef FRAUDSCORE_REDIS_LINKCACHE_H
#define FRAUDSCORE_REDIS_LINKCACHE_H

/* (a, b) as a tuple the cyclic garbage collector does not track when neither item is tracked (a str, bytes, int or
 * None: what the cache's count keys ``(hash, field)`` and its ``(raw value, None)`` entries hold): CPython's own rule
 * (a tuple of untracked items is untracked at its first collection), applied at once, so the entries the cache
 * keeps per event do not fill the youngest generation (Python made tuples are left as they are). */
static PyObject *lc_pack2(PyObject *a, PyObject *b) {
    PyObject *t = PyTuple_Pack(2, a, b);
    if (t && !(PyObject_IS_GC(a) && PyObject_GC_IsTracked(a)) && !(PyObject_IS_GC(b) && PyObject_GC_IsTracked(b)))
        PyObject_GC_UnTrack(t);
    return t;
}

static PyObject *lc_move_to_end; /* "move_to_end" */
static PyObject *lc_any_stamp;   /* b"\0\0\0\0" */
static PyObject *lc_empty_bytes; /* b"" */
static PyObject *lc_comma;       /* "," */
static PyObject *lc_n;           /* "n" */
static PyObject *lc_bar;         /* "|" */

#define LC_V 8 /* a value's head: content version, stamp */

static int linkcache_init(void) {
    lc_move_to_end = PyUnicode_InternFromString("move_to_end");
    lc_any_stamp = PyBytes_FromStringAndSize("\0\0\0\0", 4);
    lc_empty_bytes = PyBytes_FromStringAndSize("", 0);
    lc_comma = PyUnicode_InternFromString(",");
    lc_n = PyUnicode_InternFromString("n");
    lc_bar = PyUnicode_InternFromString("|");
    return lc_move_to_end && lc_any_stamp && lc_empty_bytes && lc_comma && lc_n && lc_bar ? 0 : -1;
}


/* The event time and the TTL of a cache call as C integers: 1 in range, 0 out of range (not ints, or beyond
 * +-2**62: the caller hands back to the reference), -1 with an exception set */
static int lc_now_ttl(PyObject *nowo, PyObject *ttlo, long long *now, long long *ttl) {
    if (!PyLong_Check(nowo) || !PyLong_Check(ttlo)) return 0;
    int ov1 = 0, ov2 = 0;
    *now = PyLong_AsLongLongAndOverflow(nowo, &ov1);
    *ttl = PyLong_AsLongLongAndOverflow(ttlo, &ov2);
    if (PyErr_Occurred()) return -1;
    return !(ov1 || ov2 || *now < -(1LL << 62) || *now > (1LL << 62) || *ttl < 0 || *ttl > (1LL << 62));
}

/* A cached value's raw bytes (borrowed; NULL: absent or cached absent), without side effects */
static PyObject *lc_peek_raw(PyObject *cache, PyObject *key, int *err) {
    PyObject *hit = PyDict_GetItemWithError(cache, key);
    if (!hit) {
        if (PyErr_Occurred()) *err = 1;
        return NULL;
    }
    if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2) {
        PyErr_SetString(PyExc_TypeError, "a link cache entry must be (raw, parsed)");
        *err = 1;
        return NULL;
    }
    PyObject *raw = PyTuple_GET_ITEM(hit, 0);
    return raw == Py_None ? NULL : raw;
}

/* _read(key): the value (new references in *raw / *parsed, Py_None when absent) and the read logged. 0 or -1 */
static int lc_read(PyObject *cache, PyObject *reads, PyObject *writes, PyObject *key, PyObject **raw,
                   PyObject **parsed, PyObject *mte) {
    PyObject *w = PyDict_GetItemWithError(writes, key);
    if (!w && PyErr_Occurred()) return -1;
    if (w && PyBytes_CheckExact(w)) { /* read your own write */
        Py_INCREF(w);
        Py_INCREF(Py_None);
        *raw = w;
        *parsed = Py_None;
        return 0;
    }
    PyObject *hit = PyDict_GetItemWithError(cache, key);
    if (!hit && PyErr_Occurred()) return -1;
    PyObject *r = Py_None, *p = Py_None;
    if (hit) {
        if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2) {
            PyErr_SetString(PyExc_TypeError, "a link cache entry must be (raw, parsed)");
            return -1;
        }
        r = PyTuple_GET_ITEM(hit, 0);
        p = PyTuple_GET_ITEM(hit, 1);
        Py_INCREF(r);
        Py_INCREF(p);
        if (lru_touch(mte, cache, key) < 0) { /* (mte: the cache's bound move_to_end, or NULL) */
            Py_DECREF(r);
            Py_DECREF(p);
            return -1;
        }
    } else {
        Py_INCREF(r);
        Py_INCREF(p);
    }
    int has = PyDict_Contains(reads, key);
    if (has < 0) goto fail;
    if (!has) {
        PyObject *seen;
        if (r == Py_None) {
            seen = lc_empty_bytes;
            Py_INCREF(seen);
        } else {
            if (!PyBytes_Check(r)) {
                PyErr_SetString(PyExc_TypeError, "a cached link value must be bytes");
                goto fail;
            }
            Py_ssize_t n = PyBytes_GET_SIZE(r);
            seen = PyBytes_FromStringAndSize(PyBytes_AS_STRING(r), n < LC_V ? n : LC_V);
            if (!seen) goto fail;
        }
        int rc = PyDict_SetItem(reads, key, seen);
        Py_DECREF(seen);
        if (rc < 0) goto fail;
    }
    *raw = r;
    *parsed = p;
    return 0;
fail:
    Py_DECREF(r);
    Py_DECREF(p);
    return -1;
}

/* A block's ids (a new list) from its raw value (NULL/None/short: empty) */
static PyObject *lc_block_ids(PyObject *raw) {
    if (raw == NULL || raw == Py_None || !PyBytes_Check(raw) || PyBytes_GET_SIZE(raw) <= LC_V) return PyList_New(0);
    PyObject *s = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw) + LC_V, PyBytes_GET_SIZE(raw) - LC_V, NULL);
    if (!s) return NULL;
    PyObject *out = PyUnicode_Split(s, lc_comma, -1);
    Py_DECREF(s);
    return out;
}

/* _record's read of a record at hand (key rk): the record as of now (a new reference), Py_None (absent or too
 * old), NULL on an error; a cached record parsed once (kept in the cache) */
static PyObject *lc_record(PyObject *cache, PyObject *reads, PyObject *writes, PyObject *rk, PyObject *nowo,
                           PyObject *ttlo, long long now, long long ttl, PyObject *mte) {
    PyObject *raw, *parsed;
    if (lc_read(cache, reads, writes, rk, &raw, &parsed, mte) < 0) return NULL;
    if (raw == Py_None) {
        Py_DECREF(raw);
        return parsed; /* (None) */
    }
    if (parsed == Py_None) {
        Py_DECREF(parsed);
        parsed = py_decode_record(NULL, raw);
        if (!parsed) {
            Py_DECREF(raw);
            return NULL;
        }
        PyObject *hit = PyDict_GetItemWithError(cache, rk);
        if (!hit && PyErr_Occurred()) {
            Py_DECREF(raw);
            Py_DECREF(parsed);
            return NULL;
        }
        if (hit && PyTuple_Check(hit) && PyTuple_GET_SIZE(hit) == 2 && PyTuple_GET_ITEM(hit, 0) == raw) {
            PyObject *pair = PyTuple_Pack(2, raw, parsed);
            int rc = pair ? PyObject_SetItem(cache, rk, pair) : -1;
            Py_XDECREF(pair);
            if (rc < 0) {
                Py_DECREF(raw);
                Py_DECREF(parsed);
                return NULL;
            }
        }
    }
    Py_DECREF(raw);
    int old = 0;
    PyObject *t = PyDict_CheckExact(parsed) ? PyDict_GetItemWithError(parsed, str_t) : NULL;
    int ovf = 0;
    long long tv = t && PyLong_CheckExact(t) ? PyLong_AsLongLongAndOverflow(t, &ovf) : 0;
    if (PyErr_Occurred()) {
        Py_DECREF(parsed);
        return NULL;
    }
    if (t && PyLong_CheckExact(t) && !ovf && tv >= -(1LL << 62) && tv <= (1LL << 62)) {
        old = now - tv > ttl;
    } else { /* the reference's arithmetic: now - parsed["t"] > ttl */
        PyObject *tt = PyObject_GetItem(parsed, str_t), *age = tt ? PyNumber_Subtract(nowo, tt) : NULL;
        old = age ? PyObject_RichCompareBool(age, ttlo, Py_GT) : -1;
        Py_XDECREF(tt);
        Py_XDECREF(age);
        if (old < 0) {
            Py_DECREF(parsed);
            return NULL;
        }
    }
    if (old) {
        Py_DECREF(parsed);
        Py_RETURN_NONE;
    }
    return parsed;
}

/* a record key at hand: rkeys names it and it is cached or written by this decision (1), else 0; -1 error */
static int lc_at_hand(PyObject *cache, PyObject *rkeys, PyObject *writes, PyObject *did, PyObject **rk) {
    *rk = PyDict_GetItemWithError(rkeys, did);
    if (!*rk) return PyErr_Occurred() ? -1 : 0;
    PyObject *rw = PyDict_GetItemWithError(writes, *rk);
    if (!rw && PyErr_Occurred()) return -1;
    int in_cache = PyDict_Contains(cache, *rk);
    if (in_cache < 0) return -1;
    return in_cache || (rw != NULL && rw != Py_None);
}

static PyObject *py_link_candidates(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 && nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "link_candidates takes 9 or 11 arguments");
        return NULL;
    }
    PyObject *cache = args[0], *rkeys = args[1], *reads = args[2], *writes = args[3], *bprefix = args[4];
    PyObject *names = args[5], *skip = args[6], *nowo = args[7], *ttlo = args[8];
    /* (round 15: the transaction's record key prefix and family: its own family's ids need no rkeys lookup) */
    PyObject *rprefix = nargs == 11 && PyUnicode_CheckExact(args[9]) ? args[9] : NULL;
    PyObject *family = nargs == 11 ? args[10] : NULL;
    if (!PyDict_Check(cache) || !PyDict_Check(rkeys) || !PyDict_Check(reads) || !PyDict_Check(writes) ||
        !PyUnicode_Check(bprefix)) {
        PyErr_SetString(PyExc_TypeError, "link_candidates: cache, rkeys, reads and writes must be dicts");
        return NULL;
    }
    long long now = 0, ttl = 0;
    int in_range = lc_now_ttl(nowo, ttlo, &now, &ttl);
    if (in_range < 0) return NULL;
    if (!in_range) Py_RETURN_NONE;
    PyObject *seq = PySequence_Fast(names, "block names must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t nb = PySequence_Fast_GET_SIZE(seq);
    PyObject *bkeys = PyList_New(nb), *order = PyList_New(0), *seen = PySet_New(NULL), *rks = PyList_New(0);
    PyObject *mte = NULL; /* (round 15: the cache's bound move_to_end) */
    PyObject *out = NULL, *ret = NULL;
    if (!bkeys || !order || !seen || !rks) goto done;
    /* pass 1, nothing changed: the ids in order, and whether every record is at hand */
    for (Py_ssize_t i = 0; i < nb; ++i) {
        PyObject *bk = PyUnicode_Concat(bprefix, PySequence_Fast_GET_ITEM(seq, i));
        if (!bk) goto done;
        PyList_SET_ITEM(bkeys, i, bk);
        PyObject *raw;
        PyObject *w = PyDict_GetItemWithError(writes, bk);
        if (!w && PyErr_Occurred()) goto done;
        if (w && PyBytes_CheckExact(w)) {
            raw = w;
        } else {
            int err = 0;
            raw = lc_peek_raw(cache, bk, &err);
            if (err) goto done;
        }
        PyObject *ids = lc_block_ids(raw);
        if (!ids) goto done;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(ids); ++j) {
            PyObject *did = PyList_GET_ITEM(ids, j);
            int c = PySet_Contains(seen, did);
            int eq = skip == Py_None ? 0 : PyObject_RichCompareBool(did, skip, Py_EQ);
            if (c < 0 || eq < 0) {
                Py_DECREF(ids);
                goto done;
            }
            if (c || eq) continue;
            PyObject *own = lru_family_key(did, rprefix, family); /* (redis_lru.h; NULL: look it up in rkeys) */
            if (!own && PyErr_Occurred()) {
                Py_DECREF(ids);
                goto done;
            }
            PyObject *rk = own ? own : PyDict_GetItemWithError(rkeys, did);
            if (!rk) {
                Py_DECREF(ids);
                if (PyErr_Occurred()) goto done;
                ret = Py_None; /* a record key the reference computes */
                Py_INCREF(ret);
                goto done;
            }
            PyObject *rw = PyDict_GetItemWithError(writes, rk);
            int in_cache = rw || !PyErr_Occurred() ? PyDict_Contains(cache, rk) : -1;
            if (in_cache < 0) {
                Py_XDECREF(own);
                Py_DECREF(ids);
                goto done;
            }
            if (!in_cache && (rw == NULL || rw == Py_None)) { /* never seen: the reference reads it */
                Py_XDECREF(own);
                Py_DECREF(ids);
                ret = Py_None;
                Py_INCREF(ret);
                goto done;
            }
            int rc = PySet_Add(seen, did) < 0 || PyList_Append(order, did) < 0 || PyList_Append(rks, rk) < 0;
            Py_XDECREF(own);
            if (rc) {
                Py_DECREF(ids);
                goto done;
            }
        }
        Py_DECREF(ids);
    }
    /* move_to_end bound once for the reads below (redis_lru.h, round 15) */
    mte = lru_bound_move(cache);
    /* pass 2: the reads, logged as the reference logs them */
    for (Py_ssize_t i = 0; i < nb; ++i) {
        PyObject *bk = PyList_GET_ITEM(bkeys, i), *raw, *parsed;
        if (lc_read(cache, reads, writes, bk, &raw, &parsed, mte) < 0) goto done;
        Py_DECREF(raw);
        Py_DECREF(parsed);
        PyObject *s = PyDict_GetItemWithError(reads, bk);
        if (!s && PyErr_Occurred()) goto done;
        if (s && PyBytes_Check(s) && PyBytes_GET_SIZE(s) > 0) { /* a read of the block's membership only */
            Py_ssize_t n = PyBytes_GET_SIZE(s);
            const char *sp = PyBytes_AS_STRING(s);
            if (!(n == 8 && memcmp(sp + 4, "\0\0\0\0", 4) == 0)) {
                PyObject *ns = PyBytes_FromStringAndSize(NULL, (n < 4 ? n : 4) + 4);
                if (!ns) goto done;
                memcpy(PyBytes_AS_STRING(ns), sp, n < 4 ? n : 4);
                memset(PyBytes_AS_STRING(ns) + (n < 4 ? n : 4), 0, 4);
                int rc = PyDict_SetItem(reads, bk, ns);
                Py_DECREF(ns);
                if (rc < 0) goto done;
            }
        }
    }
    out = PyList_New(0);
    if (!out) goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rks); ++i) {
        PyObject *rec = lc_record(cache, reads, writes, PyList_GET_ITEM(rks, i), nowo, ttlo, now, ttl, mte);
        if (!rec) goto done;
        int rc = rec == Py_None ? 0 : PyList_Append(out, rec);
        Py_DECREF(rec);
        if (rc < 0) goto done;
    }
    ret = out;
    out = NULL;
done:
    Py_XDECREF(out);
    Py_XDECREF(bkeys);
    Py_XDECREF(order);
    Py_XDECREF(seen);
    Py_XDECREF(rks);
    Py_XDECREF(mte);
    Py_DECREF(seq);
    return ret;
}

/* link_counts(cache, hreads, hincr, hkey, keys, fields) -> (n, {key: count}) */
static PyObject *py_link_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "link_counts takes 6 arguments");
        return NULL;
    }
    PyObject *cache = args[0], *hreads = args[1], *hincr = args[2], *hkey = args[3], *keys = args[4];
    PyObject *fields = args[5];
    if (!PyDict_Check(cache) || !PyDict_Check(hreads) || !PyDict_Check(hincr) || !PyDict_Check(fields)) {
        PyErr_SetString(PyExc_TypeError, "link_counts: cache, hreads, hincr and fields must be dicts");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(keys, "count keys must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t nk = PySequence_Fast_GET_SIZE(seq);
    PyObject *fnames = PyList_New(nk + 1), *out = NULL, *ret = NULL, *nval = NULL;
    if (!fnames) goto done;
    for (Py_ssize_t i = 0; i <= nk; ++i) { /* each key's field name: fields.get(key) or _field_name(key) */
        PyObject *key = i == 0 ? lc_n : PySequence_Fast_GET_ITEM(seq, i - 1);
        PyObject *f = PyDict_GetItemWithError(fields, key);
        int truth = f ? PyObject_IsTrue(f) : 0;
        if (truth < 0 || (!f && PyErr_Occurred())) goto done;
        if (truth) {
            Py_INCREF(f);
        } else { /* _field_name: str(key), kept (the names are cleared when 65,536 are kept) */
            if (PyDict_GET_SIZE(fields) >= 65536) PyDict_Clear(fields);
            if (!(f = PyObject_Str(key))) goto done;
            if (PyDict_SetItem(fields, key, f) < 0) {
                Py_DECREF(f);
                goto done;
            }
        }
        PyList_SET_ITEM(fnames, i, f);
    }
    out = PyDict_New();
    if (!out) goto done;
    for (Py_ssize_t i = 0; i <= nk; ++i) {
        PyObject *k = lc_pack2(hkey, PyList_GET_ITEM(fnames, i));
        if (!k) goto done;
        PyObject *hit = PyDict_GetItemWithError(cache, k), *v;
        if (!hit && PyErr_Occurred()) {
            Py_DECREF(k);
            goto done;
        }
        if (hit) {
            if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2) {
                Py_DECREF(k);
                PyErr_SetString(PyExc_TypeError, "a link cache entry must be (raw, parsed)");
                goto done;
            }
            v = PyNumber_Long(PyTuple_GET_ITEM(hit, 0));
        } else {
            v = PyLong_FromLong(0);
        }
        if (!v) {
            Py_DECREF(k);
            goto done;
        }
        PyObject *was = PyDict_SetDefault(hreads, k, v);
        PyObject *d = was ? PyDict_GetItemWithError(hincr, k) : NULL;
        Py_DECREF(k);
        if (!was || (!d && PyErr_Occurred())) {
            Py_DECREF(v);
            goto done;
        }
        if (d) {
            PyObject *s = PyNumber_Add(v, d);
            Py_DECREF(v);
            if (!s) goto done;
            v = s;
        }
        if (i == 0) {
            nval = v;
        } else {
            int rc = PyDict_SetItem(out, PySequence_Fast_GET_ITEM(seq, i - 1), v);
            Py_DECREF(v);
            if (rc < 0) goto done;
        }
    }
    ret = PyTuple_Pack(2, nval, out);
done:
    Py_XDECREF(nval);
    Py_XDECREF(out);
    Py_XDECREF(fnames);
    Py_DECREF(seq);
    return ret;
}

/* raw[8:].decode().rpartition("|") -> (did, int(nd)) as a new tuple */
static PyObject *lc_parse_exact(PyObject *raw) {
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "a cached link value must be bytes");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    PyObject *s = PyUnicode_DecodeUTF8(n > LC_V ? PyBytes_AS_STRING(raw) + LC_V : "", n > LC_V ? n - LC_V : 0, NULL);
    if (!s) return NULL;
    PyObject *parts = PyUnicode_RPartition(s, lc_bar);
    Py_DECREF(s);
    if (!parts) return NULL;
    PyObject *nd = PyLong_FromUnicodeObject(PyTuple_GET_ITEM(parts, 2), 10);
    PyObject *out = nd ? PyTuple_Pack(2, PyTuple_GET_ITEM(parts, 0), nd) : NULL;
    Py_XDECREF(nd);
    Py_DECREF(parts);
    return out;
}

/* link_exact(cache, rkeys, reads, writes, xprefix, fids, now, ttl) -> (record, devices) or None or False */
static PyObject *py_link_exact(PyObject *self, PyObject *const *a, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "link_exact takes 8 arguments");
        return NULL;
    }
    PyObject *cache = a[0], *rkeys = a[1], *reads = a[2], *writes = a[3], *xprefix = a[4], *nowo = a[6], *ttlo = a[7];
    if (!PyDict_Check(cache) || !PyDict_Check(rkeys) || !PyDict_Check(reads) || !PyDict_Check(writes) ||
        !PyUnicode_Check(xprefix)) {
        PyErr_SetString(PyExc_TypeError, "link_exact: dicts and a str prefix");
        return NULL;
    }
    long long now = 0, ttl = 0;
    int in_range = lc_now_ttl(nowo, ttlo, &now, &ttl);
    if (in_range < 0) return NULL;
    if (!in_range) Py_RETURN_FALSE;
    PyObject *fids = PySequence_Fast(a[5], "fp ids must be a sequence"), *ret = NULL;
    if (!fids) return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fids); ++i) {
        PyObject *xk = PyUnicode_Concat(xprefix, PySequence_Fast_GET_ITEM(fids, i)), *raw, *parsed, *rk;
        if (!xk) goto done;
        int rc = lc_read(cache, reads, writes, xk, &raw, &parsed, NULL);
        Py_DECREF(xk);
        if (rc < 0) goto done;
        Py_DECREF(parsed);
        if (raw == Py_None) {
            Py_DECREF(raw);
            continue;
        }
        PyObject *hit = lc_parse_exact(raw);
        Py_DECREF(raw);
        if (!hit) goto done;
        int ok = lc_at_hand(cache, rkeys, writes, PyTuple_GET_ITEM(hit, 0), &rk);
        if (ok <= 0) { /* (a record the reference fetches, or asks the read of everything for) */
            Py_DECREF(hit);
            if (ok == 0) {
                ret = Py_False;
                Py_INCREF(ret);
            }
            goto done;
        }
        PyObject *rec = lc_record(cache, reads, writes, rk, nowo, ttlo, now, ttl, NULL);
        if (!rec) {
            Py_DECREF(hit);
            goto done;
        }
        if (rec != Py_None) {
            ret = PyTuple_Pack(2, rec, PyTuple_GET_ITEM(hit, 1));
            Py_DECREF(rec);
            Py_DECREF(hit);
            goto done;
        }
        Py_DECREF(rec);
        Py_DECREF(hit);
    }
    ret = Py_None;
    Py_INCREF(ret);
done:
    Py_DECREF(fids);
    return ret;
}

#endif
