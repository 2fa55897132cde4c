/*
 * The Redis event call's layout (included by redis_calls.c after redis_records.h; one compilation unit).
 *
 * Reference: fraudscore/velocity/redis_calls.py (_layout_py, _value): the link keys read and written, the
 * versions seen, the link writes (0 refresh the expiry, 1 set, 2 touch, 3 block move) and each key group's key,
 * its shard's label key (once) and its row, as call_args lays them out for the event script.
 */

/* -- the call's link reads and writes and its group rows ------------------------------------------- */
static PyObject *str_now, *str_stamp, *str_ip_attr, *str_version, *str_cached, *str_cap, *str_did;

/* struct's ``4s``: bytes only, cut or zero-padded to 4 */
static int put_s4(buf_t *b, PyObject *h) {
    if (!PyBytes_Check(h)) {
        PyErr_SetString(struct_error, "argument for 's' must be a bytes object");
        return -1;
    }
    uint8_t q[4] = {0};
    Py_ssize_t n = PyBytes_GET_SIZE(h);
    memcpy(q, PyBytes_AS_STRING(h), n < 4 ? (size_t)n : 4);
    return buf_put(b, q, 4);
}

static int put_attr_s4(buf_t *b, PyObject *o, PyObject *name) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    int r = put_s4(b, v);
    Py_DECREF(v);
    return r;
}

static int put_attr_f64(buf_t *b, PyObject *o, PyObject *name) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    double d;
    int r = as_double(v, &d);
    Py_DECREF(v);
    return r < 0 ? -1 : put_f64(b, d);
}

static int put_attr_u16(buf_t *b, PyObject *o, PyObject *name) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) return -1;
    long long x = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred()) return -1;
    return put_u16(b, x);
}

/* one link write (redis_calls._value): 0 expiry, 1 set, 2 touch, 3 block move */
static int put_link_value(buf_t *b, PyObject *v) {
    uint8_t kind;
    if (v == Py_None) {
        kind = 0;
        return buf_put(b, &kind, 1);
    }
    if (PyBytes_CheckExact(v)) {
        kind = 1;
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        if (buf_put(b, &kind, 1) < 0 || put_u32(b, (size_t)n) < 0) return -1;
        return buf_put(b, PyBytes_AS_STRING(v), (size_t)n);
    }
    /* a touch has ``now``, a block move not: looked up without raising and clearing an AttributeError for each
     * block move (~3.5k instructions each; round 14) */
    PyObject *now = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyObject_GetOptionalAttr(v, str_now, &now) < 0) return -1;
#else
    if (_PyObject_LookupAttr(v, str_now, &now) < 0) return -1;
#endif
    Py_XDECREF(now);
    if (now) {
        kind = 2;
        return buf_put(b, &kind, 1) < 0 || put_attr_s4(b, v, str_stamp) < 0 || put_attr_f64(b, v, str_now) < 0 ||
               put_attr_f64(b, v, str_ip_attr) < 0 ? -1 : 0;
    }
    kind = 3;
    PyObject *did = PyObject_GetAttr(v, str_did);
    if (!did) return -1;
    Py_ssize_t dl;
    const char *ds = PyUnicode_Check(did) ? PyUnicode_AsUTF8AndSize(did, &dl) : NULL;
    if (!ds) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_AttributeError, "a block move's did must be str");
        Py_DECREF(did);
        return -1;
    }
    int r = buf_put(b, &kind, 1) < 0 || put_attr_s4(b, v, str_version) < 0 || put_attr_s4(b, v, str_stamp) < 0 ||
            put_attr_s4(b, v, str_cached) < 0 || put_attr_u16(b, v, str_cap) < 0 || put_u16(b, dl) < 0 ||
            buf_put(b, ds, (size_t)dl) < 0 ? -1 : 0;
    Py_DECREF(did);
    return r;
}

static int pair_of(PyObject *it, PyObject **k, PyObject **v) {
    if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2) {
        PyErr_SetString(PyExc_TypeError, "layout(): expected (key, value) pairs");
        return -1;
    }
    *k = PyTuple_GET_ITEM(it, 0);
    *v = PyTuple_GET_ITEM(it, 1);
    return 0;
}

/* layout(keys, sreads, swrites, groups, gkeys, labels, prefix) -> (versions, values, rows): the link keys read
 * and written, then each group's key (and its shard's label key, once, for a group with labels: ``labels[cfg -
 * 1]``) appended to ``keys``; the versions seen, the link writes and the group rows packed (redis_calls.call_args) */
static PyObject *py_layout(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 7 || !PyList_Check(a[0]) || !PyBytes_Check(a[5]) || !PyUnicode_Check(a[6])) {
        PyErr_SetString(PyExc_TypeError, "layout(keys: list, sreads, swrites, groups, gkeys, labels: bytes, prefix: str)");
        return NULL;
    }
    PyObject *keys = a[0], *prefix = a[6];
    PyObject *sr = PySequence_Fast(a[1], "sreads"), *sw = NULL, *gr = NULL, *gk = NULL, *label_idx = NULL;
    buf_t vb, wb, rb;
    buf_init(&vb);
    buf_init(&wb);
    buf_init(&rb);
    if (!sr || !(sw = PySequence_Fast(a[2], "swrites")) || !(gr = PySequence_Fast(a[3], "groups")) ||
        !(gk = PySequence_Fast(a[4], "gkeys")))
        goto fail;
    PyObject *k = NULL, *v = NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sr); i++)
        if (pair_of(PySequence_Fast_GET_ITEM(sr, i), &k, &v) < 0 || PyList_Append(keys, k) < 0) goto fail;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sw); i++)
        if (pair_of(PySequence_Fast_GET_ITEM(sw, i), &k, &v) < 0 || PyList_Append(keys, k) < 0) goto fail;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sr); i++) {
        pair_of(PySequence_Fast_GET_ITEM(sr, i), &k, &v);
        if (v == Py_None || (PyBytes_Check(v) && PyBytes_GET_SIZE(v) == 0)) {
            uint8_t z[8] = {0};
            if (buf_put(&vb, z, 8) < 0) goto fail;
        } else if (PyBytes_Check(v)) {
            if (buf_put(&vb, PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v)) < 0) goto fail;
        } else {
            PyErr_SetString(PyExc_TypeError, "layout(): a version seen must be bytes or None");
            goto fail;
        }
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sw); i++) {
        pair_of(PySequence_Fast_GET_ITEM(sw, i), &k, &v);
        if (put_link_value(&wb, v) < 0) goto fail;
    }
    const uint8_t *labels = (const uint8_t *)PyBytes_AS_STRING(a[5]);
    Py_ssize_t nlab = PyBytes_GET_SIZE(a[5]), plen = PyUnicode_GET_LENGTH(prefix);
    Py_ssize_t ng = PySequence_Fast_GET_SIZE(gr);
    if (PySequence_Fast_GET_SIZE(gk) < ng) ng = PySequence_Fast_GET_SIZE(gk);
    for (Py_ssize_t i = 0; i < ng; i++) {
        PyObject *g = PySequence_Fast_GET_ITEM(gr, i), *key = PySequence_Fast_GET_ITEM(gk, i);
        if (!PyTuple_Check(g) || PyTuple_GET_SIZE(g) != 4 || !PyBytes_Check(PyTuple_GET_ITEM(g, 3)) ||
            !PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "layout(): a group is (cfg, _, _, row: bytes) with a str key");
            goto fail;
        }
        long long cfgi = PyLong_AsLongLong(PyTuple_GET_ITEM(g, 0));
        if (cfgi == -1 && PyErr_Occurred()) goto fail;
        if (PyList_Append(keys, key) < 0) goto fail;
        long long ki = PyList_GET_SIZE(keys), li = 0;
        if (cfgi < 1 || cfgi > nlab) {
            PyErr_SetString(PyExc_IndexError, "layout(): a group's configuration index is out of range");
            goto fail;
        }
        if (labels[cfgi - 1]) {
            Py_ssize_t close = PyUnicode_FindChar(key, '}', 0, PyUnicode_GET_LENGTH(key), 1);
            if (close == -2) goto fail;
            if (close == -1) {
                PyErr_SetString(PyExc_ValueError, "substring not found");
                goto fail;
            }
            PyObject *t = PyUnicode_Substring(key, plen + 1, close + 1);
            PyObject *lk = t ? PyUnicode_FromFormat("%Ul%U", prefix, t) : NULL;
            Py_XDECREF(t);
            if (!lk) goto fail;
            if (!label_idx && !(label_idx = PyDict_New())) {
                Py_DECREF(lk);
                goto fail;
            }
            PyObject *got = PyDict_GetItemWithError(label_idx, lk);
            if (got) {
                li = PyLong_AsLongLong(got);
            } else if (PyErr_Occurred() || PyList_Append(keys, lk) < 0) {
                Py_DECREF(lk);
                goto fail;
            } else {
                li = PyList_GET_SIZE(keys);
                PyObject *iv = PyLong_FromLongLong(li);
                int r = iv ? PyDict_SetItem(label_idx, lk, iv) : -1;
                Py_XDECREF(iv);
                if (r < 0) {
                    Py_DECREF(lk);
                    goto fail;
                }
            }
            Py_DECREF(lk);
        }
        PyObject *row = PyTuple_GET_ITEM(g, 3);
        if (put_u16(&rb, cfgi) < 0 || put_u16(&rb, ki) < 0 || put_u16(&rb, li) < 0 ||
            buf_put(&rb, PyBytes_AS_STRING(row), (size_t)PyBytes_GET_SIZE(row)) < 0)
            goto fail;
    }
    Py_DECREF(sr);
    Py_DECREF(sw);
    Py_DECREF(gr);
    Py_DECREF(gk);
    Py_XDECREF(label_idx);
    PyObject *vo = buf_bytes(&vb), *wo = buf_bytes(&wb), *ro = buf_bytes(&rb);
    if (!vo || !wo || !ro) {
        Py_XDECREF(vo);
        Py_XDECREF(wo);
        Py_XDECREF(ro);
        return NULL;
    }
    return Py_BuildValue("(NNN)", vo, wo, ro);
fail:
    Py_XDECREF(sr);
    Py_XDECREF(sw);
    Py_XDECREF(gr);
    Py_XDECREF(gk);
    Py_XDECREF(label_idx);
    buf_free(&vb);
    buf_free(&wb);
    buf_free(&rb);
    return NULL;
}
