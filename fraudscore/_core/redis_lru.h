/*
 * The Redis link state's worker cache as a least-recently-used OrderedDict: the cheaper ways round 15 (#15) keeps
 * its order with (included by redis_calls.c before redis_linkcache.h, whose reads and writes use them).
 *
 * The cache (OptimisticLinkState._cache, an OrderedDict key -> (raw value, parsed form or None)) and its order
 * are what the reference (fraudscore/fingerprint/linkstate_redis_view.py, linkstate_redis_cache.py) leaves; these
 * helpers leave the same dict in the same order, with less work:
 *
 *   lru_put(cache, size, key, pair)      cache[key] = pair; cache.move_to_end(key); drop the oldest past size.
 *       For an exact OrderedDict a key that was absent is appended at the end by the assignment itself, so its
 *       move_to_end (a method call and a second lookup) is left out; a key already there is moved as before.
 *       Anything but an exact OrderedDict (a subclass may order otherwise) takes every call.
 *
 *   lru_touch(mte, cache, key)           cache.move_to_end(key), through a bound method fetched once per call of
 *       a kernel (``mte``, or NULL: looked up each time).
 *
 *   lru_family_key(did, rprefix, family)  a candidate's record key without the id -> key map (``rkeys``): for an id
 *       ``d_<family>_<suffix>`` of the transaction's own family, what OptimisticLinkState._rkey gives is
 *       ``rprefix + did`` (the record lives in its family's shard, the transaction's: ``rprefix`` is
 *       ``<prefix>r<the transaction's tag>:``). The map's lookup of a fresh id (its index, entry and stored key: three
 *       cache misses) was the largest part of a cold candidate read; the cache lookup of the new key then compares
 *       the key's text once (one miss). Anything else (another family, another form of id) goes through ``rkeys``.
 *
 * (Tried and left out, round 15: prefetch hints for a candidate read's cached pairs and parsed records, issued
 * for all candidates before the reads; on the shared machine a cold read of 64 candidates took the same time with
 * and without them -- benchmarks/redis_candidates.py, 5 alternated runs each; see docs/scaling.md, round 15.)
 *
 * No Python code runs here except OrderedDict's own methods.
 */
#ifndef FRAUDSCORE_REDIS_LRU_H
#define FRAUDSCORE_REDIS_LRU_H

static PyObject *lru_s_move_to_end; /* "move_to_end" */
static PyObject *lru_s_popitem;     /* "popitem" */

static int lru_init(void) {
    lru_s_move_to_end = PyUnicode_InternFromString("move_to_end");
    lru_s_popitem = PyUnicode_InternFromString("popitem");
    return lru_s_move_to_end && lru_s_popitem ? 0 : -1;
}

/* the cache's bound move_to_end (a new reference), or NULL without an exception: then each lru_touch looks it up
 * (and raises there, where the reference's call would) */
static PyObject *lru_bound_move(PyObject *cache) {
    PyObject *m = PyObject_GetAttr(cache, lru_s_move_to_end);
    if (!m) PyErr_Clear();
    return m;
}

/* cache.move_to_end(key): 0, or -1 with an exception set */
static int lru_touch(PyObject *mte, PyObject *cache, PyObject *key) {
    PyObject *r = mte ? PyObject_CallOneArg(mte, key) : PyObject_CallMethodOneArg(cache, lru_s_move_to_end, key);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}

/* the record key of ``did`` when it is ``d_<family>_<suffix>`` of ``family`` (a new reference to rprefix + did);
 * NULL without an exception for any other id (the caller takes rkeys), NULL with one on an error. ``rprefix`` NULL
 * or ``family`` not an exact str: always NULL. The reference's test (device_shard): ``did.startswith("d_") and
 * did.count("_") >= 2``, the family ``did[2:].rsplit("_", 1)[0]`` -- here the text between "d_" and the last "_". */
static PyObject *lru_family_key(PyObject *did, PyObject *rprefix, PyObject *family) {
    if (!rprefix || !family || !PyUnicode_CheckExact(did) || !PyUnicode_CheckExact(family)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(did), nf = PyUnicode_GET_LENGTH(family);
    if (n < 3 || PyUnicode_READ_CHAR(did, 0) != 'd' || PyUnicode_READ_CHAR(did, 1) != '_') return NULL;
    Py_ssize_t i = PyUnicode_FindChar(did, '_', 2, n, -1);
    if (i == -2) return NULL; /* (an error: set) */
    if (i < 2 || i - 2 != nf) return NULL;
    Py_ssize_t m = PyUnicode_Tailmatch(did, family, 2, i, -1);
    if (m < 0) return NULL;
    return m ? PyUnicode_Concat(rprefix, did) : NULL;
}

/* cache[key] = pair, moved to the end, the least recently used dropped past size: 0 or -1 */
static int lru_put(PyObject *cache, Py_ssize_t size, PyObject *key, PyObject *pair) {
    int exact = PyODict_CheckExact(cache);
    Py_ssize_t before = exact ? PyDict_GET_SIZE(cache) : -1;
    if (PyObject_SetItem(cache, key, pair) < 0) return -1;
    /* (an exact OrderedDict grew by the assignment: the key was new, and is now its last) */
    if (!(exact && PyDict_GET_SIZE(cache) == before + 1) && lru_touch(NULL, cache, key) < 0) return -1;
    while (PyObject_Size(cache) > size) {
        PyObject *r = PyObject_CallMethodOneArg(cache, lru_s_popitem, Py_False);
        if (!r) return -1;
        Py_DECREF(r);
    }
    return PyErr_Occurred() ? -1 : 0;
}


#endif
