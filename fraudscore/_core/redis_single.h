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
 *           device_keyed, device_valued, meta, slots or None): ``slots``, for a group without filters, its
 *           (kind, field) per slot (memory_layout's kinds): the row is then made from the record's values here
 *           (GroupLayout.extract's values through group_row) where each is None, an exact float or int (a value
 *           slot), an exact str (a distinct-of or application slot); anything else goes to ``extract``
 *   ctx     (prefix + "v", shards, tags (list: shard -> tag or None, filled here), tag, prefix, whether
 *           dist_hash is redis_wire.identifier_hash (its str hashes are then made here), dist_hash, app_hash)
 *   ekeys   per group, the memo str entity -> key (a dict)
 *   record  the event (a dict)
 *   linked  the shards of the store's link state, 0 without one (a device-keyed group's entity key is then
 *           in its linked device's shard, and memoised only with a link state)
 *   cap     most memo entries per group (the memo is cleared when full)
 *   entity_key  the reference's key of one entity (the store's bound ``_entity_key``)
 *
 * Made here: the key of a str entity of a group not keyed on the device, ``<prefix>v<tag>:<signature>:<24
 * hex>`` with the hex of BLAKE2b("s" + entity, 12, "fs-velocity") and the tag of shard ``u32le(hash) % shards``
 * (redis_slots.SlotCalls._entity_key / _group_shard, redis_wire.identifier_hash); in a device-keyed group the
 * tag is that of the linked device's shard (OptimisticLinkState.device_shard: ``d_<family>_<suffix>`` ->
 * shard_of("fam:" + family)) when the record's device id has that form. Other entities (not str; a device id
 * not an exact str, or one UTF-8 cannot encode) go to ``entity_key``, the reference. A str value of a distinct
 * slot is hashed here too (identifier_hash, the ``group_row`` of redis_calls.c).
 */

/* BLAKE2b of utf8 bytes, ``size`` bytes, personalised (hash_bytes) */
static void blake_person(const char *pre, size_t npre, const char *data, size_t n, int size, const char *person,
                         uint8_t *out) {
    rb_blake(pre, npre, data, n, (size_t)size, person, strlen(person), out); /* redis_blake.h (round 14) */
}

/* redis_wire.identifier_hash(s, size) of an exact str: hash_bytes("s" + s, size) (0, or -1 with the exception
 * the reference raises: a str that UTF-8 cannot encode) */
static int ident_hash_str(PyObject *s, int size, uint8_t *out) {
    Py_ssize_t n;
    const char *data = PyUnicode_AsUTF8AndSize(s, &n);
    if (!data) return -1;
    blake_person("s", 1, data, (size_t)n, size, "fs-velocity", out);
    return 0;
}

/* OptimisticLinkState.device_shard(did) with ``lshards`` shards for an exact str ``did``: its family's shard
 * (``d_<family>_<suffix>``: shard_of("fam:" + family)), -1 when the id is not of that form (the entity hash
 * decides), -2 to hand over (a family UTF-8 cannot encode: the reference raises) */
static long device_shard_of(PyObject *did, long lshards) {
    Py_ssize_t n;
    const char *d = PyUnicode_AsUTF8AndSize(did, &n);
    if (!d) {
        PyErr_Clear();
        return -2;
    }
    Py_ssize_t unders = 0, last = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (d[i] == '_') {
            unders++;
            last = i;
        }
    }
    if (n < 2 || d[0] != 'd' || d[1] != '_' || unders < 2) return -1;
    /* did[2:].rsplit("_", 1)[0]: up to the last underscore (one after position 1: unders >= 2) */
    uint8_t h[4];
    blake_person("fam:", 4, d + 2, (size_t)(last - 2), 4, "fs-shard", h);
    uint32_t u = (uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 24);
    return (long)(u % (uint32_t)lshards);
}

/* the key of a str entity (NULL: an exception); ``dshard`` >= 0: the shard (a device-keyed group's, from its
 * linked device), else the entity hash's */
static PyObject *single_key_of(PyObject *ctx, PyObject *ent, PyObject *mid, long dshard) {
    uint8_t h[12];
    if (ident_hash_str(ent, 12, h) < 0) return NULL;
    long shards = PyLong_AsLong(PyTuple_GET_ITEM(ctx, 1));
    if (shards == -1 && PyErr_Occurred()) return NULL;
    if (shards < 1) {
        PyErr_SetString(PyExc_ZeroDivisionError, "integer modulo by zero");
        return NULL;
    }
    uint32_t u = (uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 24);
    Py_ssize_t shard = dshard >= 0 ? (Py_ssize_t)dshard : (Py_ssize_t)(u % (uint32_t)shards);
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
    PyObject *pre = PyTuple_GET_ITEM(ctx, 0);
    if (PyUnicode_IS_ASCII(pre) && PyUnicode_IS_ASCII(t) && PyUnicode_IS_ASCII(mid)) {
        /* the common case, ASCII parts: one copy each (PyUnicode_FromFormat parses its format and grows a
         * writer: ~1.6k instructions a key; round 14) */
        Py_ssize_t np = PyUnicode_GET_LENGTH(pre), nt = PyUnicode_GET_LENGTH(t), nm = PyUnicode_GET_LENGTH(mid);
        PyObject *r = PyUnicode_New(np + nt + nm + 24, 127);
        if (!r) return NULL;
        Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
        memcpy(o, PyUnicode_1BYTE_DATA(pre), (size_t)np);
        memcpy(o + np, PyUnicode_1BYTE_DATA(t), (size_t)nt);
        memcpy(o + np + nt, PyUnicode_1BYTE_DATA(mid), (size_t)nm);
        memcpy(o + np + nt + nm, hx, 24);
        return r;
    }
    return PyUnicode_FromFormat("%U%U%U%s", pre, t, mid, hx);
}

/* plan.to_micro(v) for None or an exact float / int: 1 a value (*out), 0 None, -1 hand over (another type, or what
 * the reference raises on: an int too large for a float, an infinite value) */
static int micro_of(PyObject *v, double *out) {
    double x;
    if (v == NULL || v == Py_None) return 0;
    if (PyFloat_CheckExact(v)) {
        x = PyFloat_AS_DOUBLE(v);
    } else if (PyLong_CheckExact(v)) {
        x = PyLong_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
    } else {
        return -1;
    }
    if (x != x) return 0;
    double y = x * 1000000.0, r;
    if (!isfinite(y)) return -1;
    r = round(y); /* int(round(y)): float.__round__ without digits (ties to even), then back to a float: exact */
    if (fabs(y - r) == 0.5) r = 2.0 * round(y / 2.0);
    *out = r == 0.0 ? 0.0 : r; /* (an int has no sign of zero) */
    return 1;
}

/* a filter-free group's row (GroupLayout.extract, then group_row) from the record's values: 1 done (*row), 0 hand
 * over (nothing made), -1 an exception. ``ex``: per slot (kind, field) with memory_layout's kinds (0 flag, 1 val,
 * 2 valid, 3 opt, 4 dist, 5 app) */
static PyObject *str_application_id; /* "application_id" */

static int direct_row(PyObject *ex, PyObject *record, PyObject *ts, PyObject *ctx, PyObject **row) {
    buf_t b;
    double d;
    if (!PyTuple_CheckExact(ex)) return 0;
    buf_init(&b);
    if (as_double(ts, &d) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (put_f64(&b, d) < 0) goto fail;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ex); i++) {
        PyObject *e = PyTuple_GET_ITEM(ex, i);
        if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 2 || !PyLong_CheckExact(PyTuple_GET_ITEM(e, 0)))
            goto hand;
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(e, 0));
        if (kind == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto hand;
        }
        PyObject *field = PyTuple_GET_ITEM(e, 1), *v = NULL;
        if (kind == 5) field = str_application_id;
        if (kind != 0) {
            v = PyDict_GetItemWithError(record, field);
            if (!v && PyErr_Occurred()) goto fail;
        }
        uint8_t q[8];
        double m;
        int has;
        switch (kind) {
        case 0:
            q[0] = 1;
            if (buf_put(&b, q, 1) < 0) goto fail;
            break;
        case 1: case 2: case 3:
            if ((has = micro_of(v, &m)) < 0) goto hand;
            if (kind == 2) {
                q[0] = (uint8_t)has;
                if (buf_put(&b, q, 1) < 0) goto fail;
            } else if (put_f64(&b, has ? m : (kind == 1 ? 0.0 : Py_NAN)) < 0) {
                goto fail;
            }
            break;
        case 4:
            if (v == NULL || v == Py_None) {
                memset(q, 0, 8);
                if (buf_put(&b, q, 8) < 0) goto fail;
            } else if (PyUnicode_CheckExact(v)) {
                if (ident_hash_str(v, 8, q) < 0 || buf_put(&b, q, 8) < 0) goto fail;
            } else {
                goto hand;
            }
            break;
        case 5:
            if (v == NULL || v == Py_None || (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) == 0)) {
                memset(q, 0xff, 8); /* str(None) is never the value: extract gives "" */
                if (buf_put(&b, q, 8) < 0) goto fail;
            } else if (PyUnicode_CheckExact(v)) {
                if (put_s8(&b, call_hash(PyTuple_GET_ITEM(ctx, 7), v)) < 0) goto fail;
            } else {
                goto hand;
            }
            break;
        default:
            goto hand;
        }
    }
    *row = buf_bytes(&b);
    return *row ? 1 : -1;
hand:
    buf_free(&b);
    return 0;
fail:
    buf_free(&b);
    return -1;
}

static PyObject *str_device_id; /* "device_id" */

static PyObject *py_single_groups(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 8 || !PyTuple_CheckExact(a[0]) || !PyTuple_CheckExact(a[1]) || PyTuple_GET_SIZE(a[1]) != 8 ||
        !PyList_CheckExact(a[2]) || !PyDict_CheckExact(a[3]) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(a[1], 0))) {
        PyErr_SetString(PyExc_TypeError, "single_groups(spec: tuple, ctx: tuple of 8, ekeys: list, record: dict, "
                                         "ts, linked, cap, entity_key)");
        return NULL;
    }
    PyObject *spec = a[0], *ctx = a[1], *ekeys = a[2], *record = a[3], *ts = a[4];
    if (!str_device_id && !(str_device_id = PyUnicode_InternFromString("device_id"))) return NULL;
    if (!str_application_id && !(str_application_id = PyUnicode_InternFromString("application_id"))) return NULL;
    long linked = PyLong_AsLong(a[5]); /* the link state's shards, 0: none */
    if (linked == -1 && PyErr_Occurred()) return NULL;
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
        if (!PyTuple_CheckExact(g) || PyTuple_GET_SIZE(g) != 10 || !PyBytes_Check(PyTuple_GET_ITEM(g, 4)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(g, 5))) {
            PyErr_SetString(PyExc_TypeError, "single_groups(): a group's spec is a tuple of 10");
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
        long dshard = -1;
        if (!key && is_str && dkeyed && linked > 0) { /* the linked device's shard (OptimisticLinkState.device_shard) */
            PyObject *did = PyDict_GetItemWithError(record, str_device_id);
            if (!did && PyErr_Occurred()) goto fail;
            dshard = did == NULL || did == Py_None ? -1 : PyUnicode_CheckExact(did) ? device_shard_of(did, linked) : -2;
        }
        if (!key) {
            if (is_str && (!dkeyed || dshard != -2)) {
                if (!(key = single_key_of(ctx, ent, PyTuple_GET_ITEM(g, 5), dshard))) goto fail;
                if (!dkeyed || linked > 0) { /* (a device-keyed group's key is memoised only with a link state) */
                    if (PyDict_GET_SIZE(ek) >= cap) PyDict_Clear(ek);
                    if (PyDict_SetItem(ek, ent, key) < 0) goto fail;
                }
            } else {  /* the reference (it memoises what it may) */
                PyObject *args[5] = {PyTuple_GET_ITEM(g, 8), ent, record, ek, PyTuple_GET_ITEM(ctx, 4)};
                key = PyObject_Vectorcall(a[7], args, 5, NULL);
                if (!key) goto fail;
            }
        }
        Py_CLEAR(ent);
        PyObject *codes = PyTuple_GET_ITEM(g, 4), *ex = PyTuple_GET_ITEM(g, 9);
        int direct = 0;
        if (PyBytes_GET_SIZE(codes) > 0 && ex != Py_None) {
            if ((direct = direct_row(ex, record, ts, ctx, &row)) < 0) goto fail;
        }
        if (direct) {
            /* made from the record's values */
        } else if (PyBytes_GET_SIZE(codes) > 0) {
            PyObject *args[1] = {record};
            PyObject *cur = PyObject_Vectorcall(PyTuple_GET_ITEM(g, 3), args, 1, NULL);
            if (!cur) goto fail;
            PyObject *ra[5] = {codes, cur, ts, PyTuple_GET_ITEM(ctx, 6), PyTuple_GET_ITEM(ctx, 7)};
            row = group_row_of(ra, PyTuple_GET_ITEM(ctx, 5) == Py_True);
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
