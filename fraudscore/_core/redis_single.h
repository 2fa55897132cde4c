/*
 * single_groups: the key groups of a single node's event call, in C (included by redis_calls.c).
 *
 * Reference: fraudscore/velocity/redis_slots.py SlotCalls._single_groups_py (the loop of ``_single_call``):
 * per key group of the bound plan, the event's entity (``record[single_key]`` or the layout's ``entity``),
 * its key from the group's memo (str entities) or made here, and the group's row (``group_row`` over the
 * layout's ``extract``, or the event time alone). Parity (keys, rows, the memo after, exceptions):
 * tests/velocity/test_redis_single_compiled.py.
 *
 * single_groups(spec, ctx, ekeys, record, ts, linked, cap, entity_key) -> (keys, groups, device_dependent)
 *   spec    per group (cfg index, single_key or None, entity, extract or None, code bytes, ":<signature>:",
 *           device_keyed, device_valued, meta)
 *   ctx     (prefix + "v", shards, tags (list: shard -> tag or None, filled here), tag, prefix, None,
 *           dist_hash, app_hash)
 *   ekeys   per group, the memo str entity -> key (a dict)
 *   record  the event (a dict)
 *   linked  whether the store has a link state (a device-keyed group's entity key is memoised only then)
 *   cap     most memo entries per group (the memo is cleared when full)
 *   entity_key  the reference's key of one entity (the store's bound ``_entity_key``)
 *
 * Made here: the key of a str entity of a group not keyed on the device, ``<prefix>v<tag>:<signature>:<24
 * hex>`` with the hex of BLAKE2b("s" + entity, 12, "fs-velocity") and the tag of shard ``u32le(hash) % shards``
 * (redis_slots.SlotCalls._entity_key / _group_shard, redis_wire.identifier_hash). Other entities (not str,
 * or a device-keyed group: its shard is the linked device's) go to ``entity_key``, the reference.
 */

/* the key of a str entity of a group not keyed on the device (NULL: an exception) */
static PyObject *single_key_of(PyObject *ctx, PyObject *ent, PyObject *mid) {
    Py_ssize_t n;
    const char *data = PyUnicode_AsUTF8AndSize(ent, &n);
    if (!data) return NULL;
    blake2b_param P;
    memset(&P, 0, sizeof(P));
    P.digest_length = 12;
    P.fanout = 1;
    P.depth = 1;
    memcpy(P.personal, "fs-velocity", 11);
    blake2b_state st;
    uint8_t h[12];
    blake2b_init_param(&st, &P);
    blake2b_update(&st, "s", 1);
    blake2b_update(&st, data, (size_t)n);
    blake2b_final(&st, h, 12);
    long shards = PyLong_AsLong(PyTuple_GET_ITEM(ctx, 1));
    if (shards == -1 && PyErr_Occurred()) return NULL;
    if (shards < 1) {
        PyErr_SetString(PyExc_ZeroDivisionError, "integer modulo by zero");
        return NULL;
    }
    uint32_t u = (uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 24);
    Py_ssize_t shard = (Py_ssize_t)(u % (uint32_t)shards);
    PyObject *tags = PyTuple_GET_ITEM(ctx, 2);
    if (!PyList_CheckExact(tags) || PyList_GET_SIZE(tags) <= shard) {
        PyErr_SetString(PyExc_TypeError, "single_groups(): ctx[2] must be a list of one tag per shard");
        return NULL;
    }
    PyObject *t = PyList_GET_ITEM(tags, shard);
    if (t == Py_None) {
        PyObject *sh = PyLong_FromSsize_t(shard);
        if (!sh) return NULL;
        PyObject *args[2] = {PyTuple_GET_ITEM(ctx, 4), sh};
        t = PyObject_Vectorcall(PyTuple_GET_ITEM(ctx, 3), args, 2, NULL);
        Py_DECREF(sh);
        if (!t) return NULL;
        if (!PyUnicode_Check(t)) {
            Py_DECREF(t);
            PyErr_SetString(PyExc_TypeError, "single_groups(): a tag must be a str");
            return NULL;
        }
        PyList_SetItem(tags, shard, t); /* steals t; the list keeps it */
    }
    static const char hexd[] = "0123456789abcdef";
    char hx[25];
    for (int i = 0; i < 12; i++) {
        hx[2 * i] = hexd[h[i] >> 4];
        hx[2 * i + 1] = hexd[h[i] & 15];
    }
    hx[24] = 0;
    return PyUnicode_FromFormat("%U%U%U%s", PyTuple_GET_ITEM(ctx, 0), t, mid, hx);
}

static PyObject *py_single_groups(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 8 || !PyTuple_CheckExact(a[0]) || !PyTuple_CheckExact(a[1]) || PyTuple_GET_SIZE(a[1]) != 8 ||
        !PyList_CheckExact(a[2]) || !PyDict_CheckExact(a[3]) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(a[1], 0))) {
        PyErr_SetString(PyExc_TypeError, "single_groups(spec: tuple, ctx: tuple of 8, ekeys: list, record: dict, "
                                         "ts, linked, cap, entity_key)");
        return NULL;
    }
    PyObject *spec = a[0], *ctx = a[1], *ekeys = a[2], *record = a[3], *ts = a[4];
    int linked = PyObject_IsTrue(a[5]);
    if (linked < 0) return NULL;
    Py_ssize_t cap = PyLong_AsSsize_t(a[6]);
    if (cap == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t ng = PyTuple_GET_SIZE(spec);
    if (PyList_GET_SIZE(ekeys) < ng) {
        PyErr_SetString(PyExc_TypeError, "single_groups(): one memo per group");
        return NULL;
    }
    PyObject *keys = PyList_New(0), *groups = PyList_New(0), *trow = NULL, *ent = NULL, *key = NULL;
    PyObject *row = NULL;
    int dev = 0;
    if (!keys || !groups) goto fail;
    for (Py_ssize_t gi = 0; gi < ng; gi++) {
        PyObject *g = PyTuple_GET_ITEM(spec, gi);
        if (!PyTuple_CheckExact(g) || PyTuple_GET_SIZE(g) != 9 || !PyBytes_Check(PyTuple_GET_ITEM(g, 4)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(g, 5))) {
            PyErr_SetString(PyExc_TypeError, "single_groups(): a group's spec is a tuple of 9");
            goto fail;
        }
        PyObject *sk = PyTuple_GET_ITEM(g, 1), *ek = PyList_GET_ITEM(ekeys, gi);
        int dkeyed = PyTuple_GET_ITEM(g, 6) == Py_True, dvalued = PyTuple_GET_ITEM(g, 7) == Py_True;
        if (!PyDict_CheckExact(ek)) {
            PyErr_SetString(PyExc_TypeError, "single_groups(): a group's memo is a dict");
            goto fail;
        }
        if (sk != Py_None) {
            ent = PyDict_GetItemWithError(record, sk);
            if (!ent && PyErr_Occurred()) goto fail;
            Py_XINCREF(ent);
        } else {
            PyObject *args[1] = {record};
            ent = PyObject_Vectorcall(PyTuple_GET_ITEM(g, 2), args, 1, NULL);
            if (!ent) goto fail;
        }
        if (!ent || ent == Py_None) {
            Py_CLEAR(ent);
            continue;
        }
        int is_str = PyUnicode_CheckExact(ent);
        if (is_str) {
            key = PyDict_GetItemWithError(ek, ent);
            if (!key && PyErr_Occurred()) goto fail;
            Py_XINCREF(key);
        }
        if (!key) {
            if (is_str && !dkeyed) {
                if (!(key = single_key_of(ctx, ent, PyTuple_GET_ITEM(g, 5)))) goto fail;
                if (PyDict_GET_SIZE(ek) >= cap) PyDict_Clear(ek);
                if (PyDict_SetItem(ek, ent, key) < 0) goto fail;
            } else {  /* the reference (it memoises what it may) */
                PyObject *args[5] = {PyTuple_GET_ITEM(g, 8), ent, record, ek, PyTuple_GET_ITEM(ctx, 4)};
                key = PyObject_Vectorcall(a[7], args, 5, NULL);
                if (!key) goto fail;
            }
        }
        Py_CLEAR(ent);
        PyObject *codes = PyTuple_GET_ITEM(g, 4);
        if (PyBytes_GET_SIZE(codes) > 0) {
            PyObject *args[1] = {record};
            PyObject *cur = PyObject_Vectorcall(PyTuple_GET_ITEM(g, 3), args, 1, NULL);
            if (!cur) goto fail;
            PyObject *ra[5] = {codes, cur, ts, PyTuple_GET_ITEM(ctx, 6), PyTuple_GET_ITEM(ctx, 7)};
            row = group_row_of(ra);
            Py_DECREF(cur);
            if (!row) goto fail;
        } else {
            if (!trow) {
                double d;
                if (as_double(ts, &d) < 0) goto fail;
                /* struct "<d" (little-endian hosts only: as put_f64) */
                if (!(trow = PyBytes_FromStringAndSize((const char *)&d, 8))) goto fail;
            }
            row = trow;
            Py_INCREF(row);
        }
        PyObject *entry = Py_BuildValue("(niiN)", gi + 1, 0, 0, row);
        row = NULL;
        if (!entry) goto fail;
        int rc = PyList_Append(groups, entry);
        Py_DECREF(entry);
        if (rc < 0 || PyList_Append(keys, key) < 0) goto fail;
        Py_CLEAR(key);
        if (dkeyed || dvalued) dev = 1;
    }
    Py_XDECREF(trow);
    return Py_BuildValue("(NNO)", keys, groups, dev ? Py_True : Py_False);
fail:
    Py_XDECREF(keys);
    Py_XDECREF(groups);
    Py_XDECREF(trow);
    Py_XDECREF(ent);
    Py_XDECREF(key);
    Py_XDECREF(row);
    return NULL;
}
