/*
 * The Redis link state's buffered writes and its cache after a commit, in one call each (round 11; included by
 * redis_calls.c after redis_linkcache.h, whose helpers it uses: lc_read, lc_block_ids, the interned names).
 *
 * References: fraudscore/fingerprint/linkstate_redis.py (OptimisticLinkState.write) and
 * linkstate_redis_cache.py (WorkerCache.applied); parity tested with hypothesis in
 * tests/fingerprint/test_linkstate_redis_compiled.py (the write set, the read set, the cache with its order, the
 * live-eviction statistic, or the same exception).
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
 * The caller holds the link state's lock; Python runs only in the reference's callbacks (``version``, ``rkey``) and
 * the constructors of BlockOp.
 */
#ifndef FRAUDSCORE_REDIS_LINKWRITE_H
#define FRAUDSCORE_REDIS_LINKWRITE_H

/* ---- applied: a committed transaction into the cache ---------------------------------------------------- */
static PyObject *lc_popitem, *lc_a_did, *lc_a_stamp, *lc_a_cached, *lc_a_cap, *lc_live, *lc_empty_fmt;

/* _put(key, value): cache[key] = (value, None), moved to the end, the least recently used dropped past size */
static int lc_put(PyObject *cache, Py_ssize_t size, PyObject *key, PyObject *value, PyObject *parsed) {
    PyObject *pair = lc_pack2(value, parsed);
    if (!pair) return -1;
    int rc = lru_put(cache, size, key, pair); /* (redis_lru.h, round 15: a new key's move_to_end left out) */
    Py_DECREF(pair);
    return rc;
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
        PyObject *k = lc_pack2(hkey, f);
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

static int linkwrite_init(void) {
    lc_popitem = PyUnicode_InternFromString("popitem");
    lc_a_did = PyUnicode_InternFromString("did");
    lc_a_stamp = PyUnicode_InternFromString("stamp");
    lc_a_cached = PyUnicode_InternFromString("cached");
    lc_a_cap = PyUnicode_InternFromString("cap");
    lc_live = PyUnicode_InternFromString("live_evictions");
    lc_empty_fmt = PyUnicode_InternFromString("");
    return lc_popitem && lc_a_did && lc_a_stamp && lc_a_cached && lc_a_cap && lc_live && lc_empty_fmt ? 0 : -1;
}

/* ---- write: the exact entries and block moves of a plan --------------------------------------------------- */
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
        if (lc_read(cache, reads, writes, xk, &raw, &parsed, NULL) < 0) {
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

#endif
