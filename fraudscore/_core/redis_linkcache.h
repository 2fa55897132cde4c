/*
 * The Redis link state's cache reads of one decision, in one call each (round 11; included by redis_calls.c).
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
 *   link_applied(cache, size, writes, hreads, hincr, skip, touched, BlockOp, Touch) -> None
 *     WorkerCache.applied (fraudscore/fingerprint/linkstate_redis_cache.py): a committed transaction's writes,
 *     touches, block moves and counts into the cache (least recently used dropped past ``size``).
 *
 *   link_write_keys(state, cache, reads, writes, xprefix, fids, did, ndev, touch, bprefix, names, cap, version,
 *                   BlockOp, rkey, now, ttl) -> True, or False (out of range: nothing done, the reference runs)
 *     OptimisticLinkState.write's exact entries (each read, logged, then kept or replaced) and block moves
 *     (BlockOp, with its live-eviction statistic), versions drawn from ``version()`` in the reference's order.
 *
 *   link_incr(hincr, hkey, keys, fields, new_device) -> None
 *     OptimisticLinkState.write's count increments of one hash ("n" first for a new device).
 *
 * The caller holds the link state's lock; no Python code runs in either call (the JSON of a record of layout 0
 * is parsed by json.loads, as in the reference).
 */
#ifndef FRAUDSCORE_REDIS_LINKCACHE_H
#define FRAUDSCORE_REDIS_LINKCACHE_H

static PyObject *lc_move_to_end; /* "move_to_end" */
static PyObject *lc_any_stamp;   /* b"\0\0\0\0" */
static PyObject *lc_empty_bytes; /* b"" */
static PyObject *lc_comma;       /* "," */
static PyObject *lc_n;           /* "n" */

#define LC_V 8 /* a value's head: content version, stamp */

static int linkcache_init(void) {
    lc_move_to_end = PyUnicode_InternFromString("move_to_end");
    lc_any_stamp = PyBytes_FromStringAndSize("\0\0\0\0", 4);
    lc_empty_bytes = PyBytes_FromStringAndSize("", 0);
    lc_comma = PyUnicode_InternFromString(",");
    lc_n = PyUnicode_InternFromString("n");
    return lc_move_to_end && lc_any_stamp && lc_empty_bytes && lc_comma && lc_n ? 0 : -1;
}

static int linkcache_init2(void);
static int linkcache_init3(void);

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
                   PyObject **parsed) {
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
        PyObject *res = PyObject_CallMethodOneArg(cache, lc_move_to_end, key);
        if (!res) {
            Py_DECREF(r);
            Py_DECREF(p);
            return -1;
        }
        Py_DECREF(res);
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
                           PyObject *ttlo, long long now, long long ttl) {
    PyObject *raw, *parsed;
    if (lc_read(cache, reads, writes, rk, &raw, &parsed) < 0) return NULL;
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
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "link_candidates takes 9 arguments");
        return NULL;
    }
    PyObject *cache = args[0], *rkeys = args[1], *reads = args[2], *writes = args[3], *bprefix = args[4];
    PyObject *names = args[5], *skip = args[6], *nowo = args[7], *ttlo = args[8];
    if (!PyDict_Check(cache) || !PyDict_Check(rkeys) || !PyDict_Check(reads) || !PyDict_Check(writes) ||
        !PyUnicode_Check(bprefix)) {
        PyErr_SetString(PyExc_TypeError, "link_candidates: cache, rkeys, reads and writes must be dicts");
        return NULL;
    }
    int ov1 = 0, ov2 = 0;
    long long now = PyLong_Check(nowo) ? PyLong_AsLongLongAndOverflow(nowo, &ov1) : 0;
    long long ttl = PyLong_Check(ttlo) ? PyLong_AsLongLongAndOverflow(ttlo, &ov2) : 0;
    if (PyErr_Occurred()) return NULL;
    if (!PyLong_Check(nowo) || !PyLong_Check(ttlo) || ov1 || ov2 || now < -(1LL << 62) || now > (1LL << 62) ||
        ttl < 0 || ttl > (1LL << 62))
        Py_RETURN_NONE;
    PyObject *seq = PySequence_Fast(names, "block names must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t nb = PySequence_Fast_GET_SIZE(seq);
    PyObject *bkeys = PyList_New(nb), *order = PyList_New(0), *seen = PySet_New(NULL), *rks = PyList_New(0);
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
            PyObject *rk = PyDict_GetItemWithError(rkeys, did);
            if (!rk) {
                Py_DECREF(ids);
                if (PyErr_Occurred()) goto done;
                ret = Py_None; /* a record key the reference computes */
                Py_INCREF(ret);
                goto done;
            }
            PyObject *rw = PyDict_GetItemWithError(writes, rk);
            if (!rw && PyErr_Occurred()) {
                Py_DECREF(ids);
                goto done;
            }
            int in_cache = PyDict_Contains(cache, rk);
            if (in_cache < 0) {
                Py_DECREF(ids);
                goto done;
            }
            if (!in_cache && (rw == NULL || rw == Py_None)) { /* never seen: the reference reads it */
                Py_DECREF(ids);
                ret = Py_None;
                Py_INCREF(ret);
                goto done;
            }
            if (PySet_Add(seen, did) < 0 || PyList_Append(order, did) < 0 || PyList_Append(rks, rk) < 0) {
                Py_DECREF(ids);
                goto done;
            }
        }
        Py_DECREF(ids);
    }
    /* pass 2: the reads, logged as the reference logs them */
    for (Py_ssize_t i = 0; i < nb; ++i) {
        PyObject *bk = PyList_GET_ITEM(bkeys, i), *raw, *parsed;
        if (lc_read(cache, reads, writes, bk, &raw, &parsed) < 0) goto done;
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
        PyObject *rec = lc_record(cache, reads, writes, PyList_GET_ITEM(rks, i), nowo, ttlo, now, ttl);
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
        PyObject *k = PyTuple_Pack(2, hkey, PyList_GET_ITEM(fnames, i));
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

/* ---- applied: a committed transaction into the cache ---------------------------------------------------- */
static PyObject *lc_popitem, *lc_a_did, *lc_a_stamp, *lc_a_cached, *lc_a_cap;

/* _put(key, value): cache[key] = (value, None), moved to the end, the least recently used dropped past size */
static int lc_put(PyObject *cache, Py_ssize_t size, PyObject *key, PyObject *value, PyObject *parsed) {
    PyObject *pair = PyTuple_Pack(2, value, parsed);
    if (!pair) return -1;
    int rc = PyObject_SetItem(cache, key, pair);
    Py_DECREF(pair);
    if (rc < 0) return -1;
    PyObject *r = PyObject_CallMethodOneArg(cache, lc_move_to_end, key);
    if (!r) return -1;
    Py_DECREF(r);
    while (PyObject_Size(cache) > size) {
        r = PyObject_CallMethodOneArg(cache, lc_popitem, Py_False);
        if (!r) return -1;
        Py_DECREF(r);
    }
    return PyErr_Occurred() ? -1 : 0;
}

static int lc_pop(PyObject *cache, PyObject *key) { /* cache.pop(key, None) */
    int has = PyDict_Contains(cache, key);
    if (has <= 0) return has;
    return PyObject_DelItem(cache, key);
}

/* a block's cached value with `did` moved to the front (its ids cut to `cap`) under `stamp` */
static PyObject *lc_block_front(PyObject *raw, PyObject *did, PyObject *stamp, Py_ssize_t cap) {
    PyObject *ids = lc_block_ids(raw), *lst = NULL, *joined = NULL, *enc = NULL, *out = NULL;
    if (!ids) return NULL;
    if (!(lst = PyList_New(0)) || PyList_Append(lst, did) < 0) goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ids); ++i) {
        PyObject *d = PyList_GET_ITEM(ids, i);
        int eq = PyObject_RichCompareBool(d, did, Py_EQ);
        if (eq < 0 || (!eq && PyList_Append(lst, d) < 0)) goto done;
    }
    PyObject *cut = PySequence_GetSlice(lst, 0, cap); /* [...][:cap], a slice's arithmetic */
    if (!cut) goto done;
    joined = PyUnicode_Join(lc_comma, cut);
    Py_DECREF(cut);
    if (!joined || !(enc = PyUnicode_AsUTF8String(joined))) goto done;
    if (!PyBytes_Check(stamp)) {
        PyErr_SetString(PyExc_TypeError, "a block's stamp must be bytes");
        goto done;
    }
    Py_ssize_t h = PyBytes_GET_SIZE(raw) < 4 ? PyBytes_GET_SIZE(raw) : 4; /* raw[:4] */
    out = PyBytes_FromStringAndSize(NULL, h + PyBytes_GET_SIZE(stamp) + PyBytes_GET_SIZE(enc));
    if (!out) goto done;
    memcpy(PyBytes_AS_STRING(out), PyBytes_AS_STRING(raw), h);
    memcpy(PyBytes_AS_STRING(out) + h, PyBytes_AS_STRING(stamp), PyBytes_GET_SIZE(stamp));
    memcpy(PyBytes_AS_STRING(out) + h + PyBytes_GET_SIZE(stamp), PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc));
done:
    Py_XDECREF(ids);
    Py_XDECREF(lst);
    Py_XDECREF(joined);
    Py_XDECREF(enc);
    return out;
}

/* link_applied(cache, size, writes, hreads, hincr, skip, touched, BlockOp, Touch) -> None */
static PyObject *py_link_applied(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "link_applied takes 9 arguments");
        return NULL;
    }
    PyObject *cache = args[0], *writes = args[2], *hreads = args[3], *hincr = args[4], *skip = args[5];
    PyObject *touched = args[6], *block_t = args[7], *touch_t = args[8];
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred()) return NULL;
    if (!PyDict_Check(cache) || !PyDict_Check(writes) || !PyDict_Check(hreads) || !PyDict_Check(hincr) ||
        (touched != Py_None && !PyDict_Check(touched))) {
        PyErr_SetString(PyExc_TypeError, "link_applied: cache, writes, hreads, hincr and touched must be dicts");
        return NULL;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    /* (the loops change the cache only, never writes / hincr / hreads / touched) */
    while (PyDict_Next(writes, &pos, &k, &v)) {
        if (v == Py_None) continue;
        Py_INCREF(k);
        Py_INCREF(v);
        int rc = 0;
        if ((PyObject *)Py_TYPE(v) == block_t || (PyObject *)Py_TYPE(v) == touch_t) {
            int block = (PyObject *)Py_TYPE(v) == block_t;
            PyObject *got = touched == Py_None ? NULL : PyDict_GetItemWithError(touched, k);
            PyObject *hit = got || !PyErr_Occurred() ? PyDict_GetItemWithError(cache, k) : NULL;
            PyObject *hraw = hit && PyTuple_Check(hit) && PyTuple_GET_SIZE(hit) == 2 ? PyTuple_GET_ITEM(hit, 0) : NULL;
            if (PyErr_Occurred() || (hit && !hraw)) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a link cache entry must be (raw, parsed)");
                rc = -1;
            } else if (block) {
                int t = got ? PyObject_IsTrue(got) : 0;
                PyObject *cached = t == 0 ? PyObject_GetAttr(v, lc_a_cached) : NULL;
                if (t < 0 || (t == 0 && !cached)) {
                    rc = -1;
                } else if (t) { /* the block as the script left it */
                    rc = lc_put(cache, size, k, got, Py_None);
                } else {
                    int same = 0;
                    if (got != NULL && hraw != NULL && hraw != Py_None) {
                        if (!PyBytes_Check(hraw)) {
                            PyErr_SetString(PyExc_TypeError, "a cached link value must be bytes");
                            rc = -1;
                        } else {
                            PyObject *h4 = PyBytes_FromStringAndSize(PyBytes_AS_STRING(hraw),
                                                                     PyBytes_GET_SIZE(hraw) < 4 ? PyBytes_GET_SIZE(hraw) : 4);
                            same = h4 ? PyObject_RichCompareBool(h4, cached, Py_EQ) : -1;
                            Py_XDECREF(h4);
                            if (same < 0) rc = -1;
                        }
                    }
                    if (rc == 0 && !same) {
                        rc = lc_pop(cache, k);
                    } else if (rc == 0) { /* same membership as cached: the device to the front here too */
                        PyObject *did = PyObject_GetAttr(v, lc_a_did), *stamp = PyObject_GetAttr(v, lc_a_stamp);
                        PyObject *capo = PyObject_GetAttr(v, lc_a_cap), *nb = NULL;
                        Py_ssize_t cap = capo ? PyLong_AsSsize_t(capo) : -1;
                        if (did && stamp && capo && !(cap == -1 && PyErr_Occurred()))
                            nb = lc_block_front(hraw, did, stamp, cap);
                        rc = nb ? lc_put(cache, size, k, nb, Py_None) : -1;
                        Py_XDECREF(nb);
                        Py_XDECREF(did);
                        Py_XDECREF(stamp);
                        Py_XDECREF(capo);
                    }
                }
                Py_XDECREF(cached);
            } else { /* a touch: the script's new head and tail on the cached content */
                if (got == NULL || hraw == NULL || hraw == Py_None) {
                    rc = lc_pop(cache, k);
                } else if (!PyBytes_Check(got) || !PyBytes_Check(hraw)) {
                    PyErr_SetString(PyExc_TypeError, "a touched record's head must be bytes");
                    rc = -1;
                } else {
                    PyObject *parsed = PyTuple_GET_ITEM(hit, 1);
                    Py_INCREF(parsed);
                    Py_ssize_t hl = PyBytes_GET_SIZE(got), rl = PyBytes_GET_SIZE(hraw);
                    Py_ssize_t tail = rl > REC_R ? rl - REC_R : 0;
                    PyObject *nv = PyBytes_FromStringAndSize(NULL, hl + tail);
                    if (!nv) {
                        rc = -1;
                    } else {
                        memcpy(PyBytes_AS_STRING(nv), PyBytes_AS_STRING(got), hl);
                        if (tail) memcpy(PyBytes_AS_STRING(nv) + hl, PyBytes_AS_STRING(hraw) + REC_R, tail);
                        rc = lc_put(cache, size, k, nv, Py_None);
                        if (rc == 0 && parsed != Py_None) { /* same content: its parsed form, new sighting/count/IP */
                            PyObject *np = NULL;
                            if (hl < REC_V + 24) {
                                PyErr_Format(struct_error, "unpack_from requires a buffer of at least %d bytes "
                                             "for unpacking 24 bytes at offset %d (actual buffer size is %zd)",
                                             REC_V + 24, REC_V, hl);
                            } else if (!PyDict_Check(parsed)) {
                                PyErr_SetString(PyExc_TypeError, "a parsed link record must be a dict");
                            } else if ((np = PyDict_Copy(parsed)) != NULL) {
                                const uint8_t *hp = (const uint8_t *)PyBytes_AS_STRING(got);
                                if (set_tail_int(np, str_t, rd_f64(hp + REC_V)) < 0 ||
                                    set_tail_int(np, str_n, rd_f64(hp + REC_V + 8)) < 0 ||
                                    set_tail_int(np, str_ip, rd_f64(hp + REC_V + 16)) < 0)
                                    Py_CLEAR(np);
                            }
                            PyObject *pair = np ? PyTuple_Pack(2, nv, np) : NULL;
                            rc = pair ? PyObject_SetItem(cache, k, pair) : -1;
                            Py_XDECREF(pair);
                            Py_XDECREF(np);
                        }
                        Py_DECREF(nv);
                    }
                    Py_DECREF(parsed);
                }
            }
        } else {
            rc = lc_put(cache, size, k, v, Py_None);
        }
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0) return NULL;
    }
    pos = 0;
    while (PyDict_Next(hincr, &pos, &k, &v)) {
        PyObject *seen = PyDict_GetItemWithError(hreads, k);
        if (!seen && PyErr_Occurred()) return NULL;
        int off = 0;
        if (seen && skip != Py_None) {
            if (!PyTuple_Check(k) || PyTuple_GET_SIZE(k) < 1) {
                PyErr_SetString(PyExc_TypeError, "a count key must be (hash key, field)");
                return NULL;
            }
            off = PyObject_RichCompareBool(PyTuple_GET_ITEM(k, 0), skip, Py_EQ);
            if (off < 0) return NULL;
        }
        Py_INCREF(k);
        Py_INCREF(v);
        int rc;
        if (!seen || off) {
            rc = lc_pop(cache, k);
        } else {
            PyObject *sum = PyNumber_Add(seen, v);
            rc = sum ? lc_put(cache, size, k, sum, Py_None) : -1;
            Py_XDECREF(sum);
        }
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0) return NULL;
    }
    Py_RETURN_NONE;
}

/* link_incr(hincr, hkey, keys, fields, new_device) -> None: one more of each value key (and of "n" for a new
 * device) under hash ``hkey``, the field names as the reference's ``_FIELDS.get(k) or _field_name(k)`` */
static PyObject *py_link_incr(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "link_incr takes 5 arguments");
        return NULL;
    }
    PyObject *hincr = args[0], *hkey = args[1], *fields = args[3];
    int newdev = PyObject_IsTrue(args[4]);
    if (newdev < 0) return NULL;
    if (!PyDict_Check(hincr) || !PyDict_Check(fields)) {
        PyErr_SetString(PyExc_TypeError, "link_incr: hincr and fields must be dicts");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[2], "count keys must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t nk = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = newdev ? -1 : 0; i < nk; ++i) {
        PyObject *f;
        if (i < 0) {
            f = lc_n;
            Py_INCREF(f);
        } else {
            PyObject *key = PySequence_Fast_GET_ITEM(seq, i);
            f = PyDict_GetItemWithError(fields, key);
            int truth = f ? PyObject_IsTrue(f) : 0;
            if (truth < 0 || (!f && PyErr_Occurred())) goto fail;
            if (truth) {
                Py_INCREF(f);
            } else {
                if (PyDict_GET_SIZE(fields) >= 65536) PyDict_Clear(fields);
                if (!(f = PyObject_Str(key))) goto fail;
                if (PyDict_SetItem(fields, key, f) < 0) {
                    Py_DECREF(f);
                    goto fail;
                }
            }
        }
        PyObject *k = PyTuple_Pack(2, hkey, f);
        Py_DECREF(f);
        if (!k) goto fail;
        PyObject *cur = PyDict_GetItemWithError(hincr, k), *one = PyLong_FromLong(1), *nv;
        if (!one || (!cur && PyErr_Occurred())) {
            Py_XDECREF(one);
            Py_DECREF(k);
            goto fail;
        }
        if (cur) {
            nv = PyNumber_Add(cur, one);
            Py_DECREF(one);
        } else {
            nv = one; /* 0 + 1 */
        }
        int rc = nv ? PyDict_SetItem(hincr, k, nv) : -1;
        Py_XDECREF(nv);
        Py_DECREF(k);
        if (rc < 0) goto fail;
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    return NULL;
}

static int linkcache_init2(void) {
    lc_popitem = PyUnicode_InternFromString("popitem");
    lc_a_did = PyUnicode_InternFromString("did");
    lc_a_stamp = PyUnicode_InternFromString("stamp");
    lc_a_cached = PyUnicode_InternFromString("cached");
    lc_a_cap = PyUnicode_InternFromString("cap");
    return lc_popitem && lc_a_did && lc_a_stamp && lc_a_cached && lc_a_cap ? 0 : -1;
}

/* ---- write: the exact entries and block moves of a plan --------------------------------------------------- */
static PyObject *lc_bar, *lc_live, *lc_empty_fmt;

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

/* version() as bytes (a new reference) */
static PyObject *lc_version(PyObject *fn) {
    PyObject *v = PyObject_CallNoArgs(fn);
    if (v && !PyBytes_Check(v)) {
        Py_DECREF(v);
        PyErr_SetString(PyExc_TypeError, "a link version must be bytes");
        return NULL;
    }
    return v;
}

static PyObject *lc_cat(PyObject *a, PyObject *b) { /* bytes a + b, new */
    PyObject *out = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(a) + PyBytes_GET_SIZE(b));
    if (!out) return NULL;
    memcpy(PyBytes_AS_STRING(out), PyBytes_AS_STRING(a), PyBytes_GET_SIZE(a));
    memcpy(PyBytes_AS_STRING(out) + PyBytes_GET_SIZE(a), PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    return out;
}

/* link_write_keys(state, cache, reads, writes, xprefix, fids, did, ndev, touch, bprefix, names, cap, version,
 *                 BlockOp, rkey, now, ttl) -> True (done) or False (nothing done) */
static PyObject *py_link_write_keys(PyObject *self, PyObject *const *a, Py_ssize_t nargs) {
    if (nargs != 17) {
        PyErr_SetString(PyExc_TypeError, "link_write_keys takes 17 arguments");
        return NULL;
    }
    PyObject *state = a[0], *cache = a[1], *reads = a[2], *writes = a[3], *xprefix = a[4], *did = a[6];
    PyObject *ndev = a[7], *bprefix = a[9], *capo = a[11], *version = a[12], *block_t = a[13], *rkey = a[14];
    PyObject *nowo = a[15], *ttlo = a[16];
    int touch = PyObject_IsTrue(a[8]);
    if (touch < 0) return NULL;
    if (!PyDict_Check(cache) || !PyDict_Check(reads) || !PyDict_Check(writes) || !PyUnicode_Check(xprefix) ||
        !PyUnicode_Check(bprefix) || !PyUnicode_Check(did)) {
        PyErr_SetString(PyExc_TypeError, "link_write_keys: dicts, str prefixes and a str device id");
        return NULL;
    }
    int ov1 = 0, ov2 = 0, ov3 = 0;
    long long now = PyLong_AsLongLongAndOverflow(nowo, &ov1), ttl = PyLong_AsLongLongAndOverflow(ttlo, &ov2);
    long long cap = PyLong_AsLongLongAndOverflow(capo, &ov3);
    if (PyErr_Occurred()) return NULL;
    const long long LIM = 1LL << 53; /* (now - t <= ttl in doubles is exact below this) */
    if (ov1 || ov2 || ov3 || now <= -LIM || now >= LIM || ttl <= -LIM || ttl >= LIM || cap <= -LIM || cap >= LIM)
        Py_RETURN_FALSE; /* (nothing done: the reference runs) */
    PyObject *fids = PySequence_Fast(a[5], "fp ids must be a sequence"), *names = NULL, *ret = NULL;
    PyObject *didb = NULL, *entry = NULL;
    if (!fids) return NULL;
    /* the exact entries: kept (expiry refreshed) or replaced by this device */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fids); ++i) {
        PyObject *xk = PyUnicode_Concat(xprefix, PySequence_Fast_GET_ITEM(fids, i)), *raw, *parsed, *hit = NULL;
        if (!xk) goto done;
        if (lc_read(cache, reads, writes, xk, &raw, &parsed) < 0) {
            Py_DECREF(xk);
            goto done;
        }
        Py_DECREF(parsed);
        if (raw != Py_None) hit = lc_parse_exact(raw);
        Py_DECREF(raw);
        if (raw != Py_None && !hit) {
            Py_DECREF(xk);
            goto done;
        }
        int keep = 0;
        if (hit) {
            keep = touch;
            if (!keep) {
                int e1 = PyObject_RichCompareBool(PyTuple_GET_ITEM(hit, 0), did, Py_EQ);
                int e2 = e1 > 0 ? PyObject_RichCompareBool(PyTuple_GET_ITEM(hit, 1), ndev, Py_EQ) : 0;
                if (e1 < 0 || e2 < 0) keep = -1;
                else keep = e1 && e2;
            }
            Py_DECREF(hit);
        }
        int rc;
        if (keep < 0) {
            rc = -1;
        } else if (keep) {
            PyObject *got = PyDict_SetDefault(writes, xk, Py_None);
            rc = got ? 0 : -1;
        } else {
            PyObject *v = lc_version(version), *val = NULL; /* version() + f"{did}|{ndev}".encode() */
            if (v && !entry) {
                PyObject *d = PyObject_Format(did, lc_empty_fmt), *nd = d ? PyObject_Format(ndev, lc_empty_fmt) : NULL;
                PyObject *t = d && nd ? PyUnicode_FromFormat("%U|%U", d, nd) : NULL;
                Py_XDECREF(d);
                Py_XDECREF(nd);
                entry = t ? PyUnicode_AsUTF8String(t) : NULL;
                Py_XDECREF(t);
            }
            if (v && entry) val = lc_cat(v, entry);
            Py_XDECREF(v);
            rc = val ? PyDict_SetItem(writes, xk, val) : -1;
            Py_XDECREF(val);
        }
        Py_DECREF(xk);
        if (rc < 0) goto done;
    }
    /* the blocks: the device to the front, applied by the script to the block as it is then */
    if (!(names = PySequence_Fast(a[10], "block names must be a sequence"))) goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(names); ++i) {
        PyObject *bk = PyUnicode_Concat(bprefix, PySequence_Fast_GET_ITEM(names, i));
        if (!bk) goto done;
        PyObject *hit = PyDict_GetItemWithError(cache, bk), *raw = NULL;
        if (!hit && PyErr_Occurred()) {
            Py_DECREF(bk);
            goto done;
        }
        if (hit) {
            if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2) {
                PyErr_SetString(PyExc_TypeError, "a link cache entry must be (raw, parsed)");
                Py_DECREF(bk);
                goto done;
            }
            raw = PyTuple_GET_ITEM(hit, 0);
            if (raw == Py_None) raw = NULL;
        }
        Py_XINCREF(raw);
        if (raw && !PyBytes_Check(raw)) {
            PyErr_SetString(PyExc_TypeError, "a cached link value must be bytes");
            goto block_fail;
        }
        int member = 0;
        if (raw && PyBytes_GET_SIZE(raw) > LC_V) { /* b"," + did + b"," in b"," + ids + b"," */
            if (!didb && !(didb = PyUnicode_AsUTF8String(did))) goto block_fail;
            const char *ids = PyBytes_AS_STRING(raw) + LC_V, *d = PyBytes_AS_STRING(didb);
            Py_ssize_t ni = PyBytes_GET_SIZE(raw) - LC_V, nd = PyBytes_GET_SIZE(didb);
            for (Py_ssize_t at = 0; at + nd <= ni && !member; ++at) {
                if ((at == 0 || ids[at - 1] == ',') && (at + nd == ni || ids[at + nd] == ',') &&
                    memcmp(ids + at, d, (size_t)nd) == 0)
                    member = 1;
            }
        }
        if (!member) { /* who is pushed out (a statistic from this worker's cache) */
            PyObject *lst = lc_block_ids(raw);
            if (!lst) goto block_fail;
            Py_ssize_t from = cap - 1;
            if (from < 0) from = PyList_GET_SIZE(lst) + from < 0 ? 0 : PyList_GET_SIZE(lst) + from;
            for (Py_ssize_t j = from; j < PyList_GET_SIZE(lst); ++j) {
                PyObject *rk = PyObject_CallOneArg(rkey, PyList_GET_ITEM(lst, j)), *rh;
                if (!rk) {
                    Py_DECREF(lst);
                    goto block_fail;
                }
                rh = PyDict_GetItemWithError(cache, rk);
                Py_DECREF(rk);
                if (!rh && PyErr_Occurred()) {
                    Py_DECREF(lst);
                    goto block_fail;
                }
                if (rh && PyTuple_Check(rh) && PyTuple_GET_SIZE(rh) == 2 && PyTuple_GET_ITEM(rh, 0) != Py_None) {
                    PyObject *rr = PyTuple_GET_ITEM(rh, 0);
                    if (!PyBytes_Check(rr) || PyBytes_GET_SIZE(rr) < LC_V + 24) {
                        PyErr_Format(struct_error, "unpack_from requires a buffer of at least %d bytes for "
                                     "unpacking 24 bytes at offset %d (actual buffer size is %zd)", LC_V + 24, LC_V,
                                     PyBytes_Check(rr) ? PyBytes_GET_SIZE(rr) : (Py_ssize_t)0);
                        Py_DECREF(lst);
                        goto block_fail;
                    }
                    double t = rd_f64((const uint8_t *)PyBytes_AS_STRING(rr) + LC_V);
                    if ((double)now - t <= (double)ttl) {
                        PyObject *cur = PyObject_GetAttr(state, lc_live), *one = PyLong_FromLong(1);
                        PyObject *nv = cur && one ? PyNumber_Add(cur, one) : NULL;
                        int rc = nv ? PyObject_SetAttr(state, lc_live, nv) : -1;
                        Py_XDECREF(cur);
                        Py_XDECREF(one);
                        Py_XDECREF(nv);
                        if (rc < 0) {
                            Py_DECREF(lst);
                            goto block_fail;
                        }
                    }
                } else if (rh && (!PyTuple_Check(rh) || PyTuple_GET_SIZE(rh) != 2)) {
                    PyErr_SetString(PyExc_TypeError, "a link cache entry must be (raw, parsed)");
                    Py_DECREF(lst);
                    goto block_fail;
                }
            }
            Py_DECREF(lst);
        }
        {
            PyObject *v = lc_version(version), *op = NULL;
            if (!v) goto block_fail;
            Py_ssize_t vl = PyBytes_GET_SIZE(v), h = vl < 4 ? vl : 4; /* v[:4], v[4:] */
            PyObject *v4 = PyBytes_FromStringAndSize(PyBytes_AS_STRING(v), h);
            PyObject *s4 = PyBytes_FromStringAndSize(PyBytes_AS_STRING(v) + h, vl - h);
            PyObject *c4 = raw ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw),
                                                           PyBytes_GET_SIZE(raw) < 4 ? PyBytes_GET_SIZE(raw) : 4)
                               : (Py_INCREF(lc_any_stamp), lc_any_stamp);
            Py_DECREF(v);
            if (v4 && s4 && c4) {
                PyObject *args[5] = {did, v4, s4, c4, capo};
                op = PyObject_Vectorcall(block_t, args, 5, NULL);
            }
            Py_XDECREF(v4);
            Py_XDECREF(s4);
            Py_XDECREF(c4);
            int rc = op ? PyDict_SetItem(writes, bk, op) : -1;
            Py_XDECREF(op);
            if (rc < 0) goto block_fail;
        }
        Py_XDECREF(raw);
        Py_DECREF(bk);
        continue;
    block_fail:
        Py_XDECREF(raw);
        Py_DECREF(bk);
        goto done;
    }
    ret = Py_True;
    Py_INCREF(ret);
done:
    Py_XDECREF(entry);
    Py_XDECREF(didb);
    Py_XDECREF(names);
    Py_DECREF(fids);
    return ret;
}

static int linkcache_init3(void) {
    lc_bar = PyUnicode_InternFromString("|");
    lc_live = PyUnicode_InternFromString("live_evictions");
    lc_empty_fmt = PyUnicode_InternFromString("");
    return lc_bar && lc_live && lc_empty_fmt ? 0 : -1;
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
    int ov1 = 0, ov2 = 0;
    long long now = PyLong_Check(nowo) ? PyLong_AsLongLongAndOverflow(nowo, &ov1) : 0;
    long long ttl = PyLong_Check(ttlo) ? PyLong_AsLongLongAndOverflow(ttlo, &ov2) : 0;
    if (PyErr_Occurred()) return NULL;
    if (!PyLong_Check(nowo) || !PyLong_Check(ttlo) || ov1 || ov2 || now < -(1LL << 62) || now > (1LL << 62) ||
        ttl < 0 || ttl > (1LL << 62))
        Py_RETURN_FALSE;
    PyObject *fids = PySequence_Fast(a[5], "fp ids must be a sequence"), *ret = NULL;
    if (!fids) return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fids); ++i) {
        PyObject *xk = PyUnicode_Concat(xprefix, PySequence_Fast_GET_ITEM(fids, i)), *raw, *parsed, *rk;
        if (!xk) goto done;
        int rc = lc_read(cache, reads, writes, xk, &raw, &parsed);
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
        PyObject *rec = lc_record(cache, reads, writes, rk, nowo, ttlo, now, ttl);
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
