/*
 * Binary device-link records of the Redis link state (included by redis_calls.c; one compilation unit).
 *
 * Reference: fraudscore/fingerprint/linkstate_redis_ops.py (encode_record_py, decode_record_py). A record's
 * value is its 8-byte head (content version, stamp), its last sighting, sightings and IP (``<ddd``, which the
 * event script rewrites on a touch), then its other fields in record layout 1:
 *
 *   0x01, <H fields, then per field: <H key length, the key (UTF-8), a tag and its value:
 *   0 None, 1 False, 2 True, 3 int (<q), 4 float (<d), 5 str (<I length, UTF-8), 6 list of ints (<I n, n x <q)
 *
 * A record with anything else (a dict, a list of non-ints, an int outside int64, a str that is not valid
 * UTF-8, a non-str key, more than 65,535 fields) keeps the JSON of earlier versions, which starts with '{':
 * encode_record returns None and the caller writes JSON; decode_record reads both.
 */

#define REC_V 8   /* the head: content version and stamp */
#define REC_R 32  /* the head and the <ddd tail: the fields start here */
#define REC_LAYOUT 1

static PyObject *str_t, *str_n, *str_ip, *json_loads;

static int put_u32(buf_t *b, size_t v) {
    uint8_t q[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return buf_put(b, q, 4);
}

static int put_i64(buf_t *b, long long v) {
    uint64_t u = (uint64_t)v;
    uint8_t q[8];
    for (int i = 0; i < 8; i++) q[i] = (uint8_t)(u >> (8 * i));
    return buf_put(b, q, 8);
}

/* 1: written, 0: not representable (no error set), -1: error */
static int put_str_utf8(buf_t *b, PyObject *s, int wide) {
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();
        return 0;
    }
    if (wide ? (size_t)n > 0xffffffffu : n > 65535) return 0;
    if ((wide ? put_u32(b, (size_t)n) : put_u16(b, n)) < 0 || buf_put(b, u, (size_t)n) < 0) return -1;
    return 1;
}

static int exact_i64(PyObject *v, long long *out) {
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (*out == -1 && PyErr_Occurred()) return -1;
    return overflow ? 0 : 1;
}

/* one field's tag and value: 1 written, 0 not representable, -1 error */
static int put_field_value(buf_t *b, PyObject *v) {
    uint8_t tag;
    if (v == Py_None || v == Py_False || v == Py_True) {
        tag = v == Py_None ? 0 : v == Py_False ? 1 : 2;
        return buf_put(b, &tag, 1) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(v)) {
        long long x;
        int r = exact_i64(v, &x);
        if (r <= 0) return r;
        tag = 3;
        return buf_put(b, &tag, 1) < 0 || put_i64(b, x) < 0 ? -1 : 1;
    }
    if (PyFloat_CheckExact(v)) {
        tag = 4;
        return buf_put(b, &tag, 1) < 0 || put_f64(b, PyFloat_AS_DOUBLE(v)) < 0 ? -1 : 1;
    }
    if (PyUnicode_CheckExact(v)) {
        tag = 5;
        if (buf_put(b, &tag, 1) < 0) return -1;
        return put_str_utf8(b, v, 1);
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        PyObject **items = PySequence_Fast_ITEMS(v);
        if ((size_t)n > 0xffffffffu) return 0;
        tag = 6;
        if (buf_put(b, &tag, 1) < 0 || put_u32(b, (size_t)n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            long long x;
            if (!PyLong_CheckExact(items[i])) return 0;
            int r = exact_i64(items[i], &x);
            if (r <= 0) return r;
            if (put_i64(b, x) < 0) return -1;
        }
        return 1;
    }
    return 0;
}

static int tail_double(PyObject *rec, PyObject *name, int required, double *d) {
    PyObject *v = PyDict_GetItemWithError(rec, name);
    if (!v) {
        if (PyErr_Occurred()) return -1;
        if (required) {
            PyErr_SetObject(PyExc_KeyError, name);
            return -1;
        }
        *d = 0.0;
        return 0;
    }
    if (PyFloat_Check(v)) {
        *d = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    *d = PyFloat_AsDouble(v); /* (struct's 'd': __float__ / __index__, never a str) */
    if (*d == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(struct_error, "required argument is not a float");
        }
        return -1;
    }
    return 0;
}

/* encode_record(version, rec) -> bytes, or None when a field is not representable (the caller writes JSON) */
static PyObject *py_encode_record(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 2 || !PyBytes_Check(a[0]) || !PyDict_Check(a[1])) {
        PyErr_SetString(PyExc_TypeError, "encode_record(version: bytes, rec: dict)");
        return NULL;
    }
    PyObject *rec = a[1];
    double t, n, ip;
    if (tail_double(rec, str_t, 1, &t) < 0 || tail_double(rec, str_n, 1, &n) < 0 ||
        tail_double(rec, str_ip, 0, &ip) < 0)
        return NULL;
    buf_t b;
    buf_init(&b);
    uint8_t layout = REC_LAYOUT;
    if (buf_put(&b, PyBytes_AS_STRING(a[0]), (size_t)PyBytes_GET_SIZE(a[0])) < 0 || put_f64(&b, t) < 0 ||
        put_f64(&b, n) < 0 || put_f64(&b, ip) < 0 || buf_put(&b, &layout, 1) < 0)
        goto fail;
    size_t count_at = b.n;
    if (put_u16(&b, 0) < 0) goto fail;
    Py_ssize_t pos = 0, fields = 0;
    PyObject *k, *v;
    while (PyDict_Next(rec, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k)) goto json;
        int skip = PyUnicode_Compare(k, str_t) == 0 || PyUnicode_Compare(k, str_n) == 0 ||
                   PyUnicode_Compare(k, str_ip) == 0;
        if (skip) continue;
        if (++fields > 65535) goto json;
        int r = put_str_utf8(&b, k, 0);
        if (r < 0) goto fail;
        if (r == 0) goto json;
        r = put_field_value(&b, v);
        if (r < 0) goto fail;
        if (r == 0) goto json;
    }
    b.p[count_at] = (char)(fields & 0xff);
    b.p[count_at + 1] = (char)(fields >> 8);
    return buf_bytes(&b);
json:
    buf_free(&b);
    Py_RETURN_NONE;
fail:
    buf_free(&b);
    return NULL;
}

static int rd_need(Py_ssize_t pos, Py_ssize_t size, Py_ssize_t len) {
    if (size < 0 || pos + size > len) {
        PyErr_SetString(PyExc_ValueError, "a truncated link record");
        return -1;
    }
    return 0;
}

static long long rd_i64(const uint8_t *p) {
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = (u << 8) | p[i];
    return (long long)u;
}

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* the fields of layout 1 from p[pos:len] into a new dict */
static PyObject *read_fields(const uint8_t *p, Py_ssize_t pos, Py_ssize_t len) {
    if (rd_need(pos, 2, len) < 0) return NULL;
    unsigned nf = rd_u16(p + pos);
    pos += 2;
    PyObject *rec = PyDict_New();
    if (!rec) return NULL;
    for (unsigned f = 0; f < nf; f++) {
        if (rd_need(pos, 2, len) < 0) goto fail;
        Py_ssize_t kl = rd_u16(p + pos);
        pos += 2;
        if (rd_need(pos, kl + 1, len) < 0) goto fail;
        PyObject *key = PyUnicode_DecodeUTF8((const char *)p + pos, kl, NULL);
        if (!key) goto fail;
        pos += kl;
        uint8_t tag = p[pos++];
        PyObject *v = NULL;
        switch (tag) {
        case 0: v = Py_NewRef(Py_None); break;
        case 1: v = Py_NewRef(Py_False); break;
        case 2: v = Py_NewRef(Py_True); break;
        case 3:
            if (rd_need(pos, 8, len) == 0) v = PyLong_FromLongLong(rd_i64(p + pos));
            pos += 8;
            break;
        case 4:
            if (rd_need(pos, 8, len) == 0) v = PyFloat_FromDouble(rd_f64(p + pos));
            pos += 8;
            break;
        case 5:
            if (rd_need(pos, 4, len) == 0) {
                Py_ssize_t sl = rd_u32(p + pos);
                pos += 4;
                if (rd_need(pos, sl, len) == 0) v = PyUnicode_DecodeUTF8((const char *)p + pos, sl, NULL);
                pos += sl;
            }
            break;
        case 6:
            if (rd_need(pos, 4, len) == 0) {
                Py_ssize_t n = rd_u32(p + pos);
                pos += 4;
                if (rd_need(pos, 8 * n, len) == 0 && (v = PyList_New(n)) != NULL) {
                    for (Py_ssize_t i = 0; i < n; i++) {
                        PyObject *x = PyLong_FromLongLong(rd_i64(p + pos + 8 * i));
                        if (!x) {
                            Py_CLEAR(v);
                            break;
                        }
                        PyList_SET_ITEM(v, i, x);
                    }
                }
                pos += 8 * n;
            }
            break;
        default:
            PyErr_Format(PyExc_ValueError, "a link record field of unknown type %u", (unsigned)tag);
        }
        if (!v || PyDict_SetItem(rec, key, v) < 0) {
            Py_DECREF(key);
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(key);
        Py_DECREF(v);
    }
    if (pos != len) {
        PyErr_SetString(PyExc_ValueError, "a link record with trailing bytes");
        goto fail;
    }
    return rec;
fail:
    Py_DECREF(rec);
    return NULL;
}

static int set_tail_int(PyObject *rec, PyObject *name, double d) {
    PyObject *x = PyLong_FromDouble(d);
    if (!x) return -1;
    int r = PyDict_SetItem(rec, name, x);
    Py_DECREF(x);
    return r;
}

/* decode_record(raw) -> dict: the fields (layout 1, or the JSON of earlier versions), then t, n, ip */
static PyObject *py_decode_record(PyObject *self, PyObject *raw) {
    Py_buffer view;
    if (PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *p = view.buf;
    Py_ssize_t len = view.len;
    PyObject *rec = NULL;
    if (len > REC_R && p[REC_R] == REC_LAYOUT) {
        rec = read_fields(p, REC_R + 1, len);
    } else {
        PyObject *js = PyBytes_FromStringAndSize(len > REC_R ? (const char *)p + REC_R : "", len > REC_R ? len - REC_R : 0);
        if (js) {
            rec = PyObject_CallOneArg(json_loads, js);
            Py_DECREF(js);
        }
    }
    if (rec && len < REC_R) {
        Py_CLEAR(rec);
        PyErr_Format(struct_error, "unpack_from requires a buffer of at least %d bytes", REC_R);
    }
    if (rec && !PyDict_Check(rec)) {
        Py_CLEAR(rec);
        PyErr_SetString(PyExc_TypeError, "a link record must be an object");
    }
    if (rec && (set_tail_int(rec, str_t, rd_f64(p + REC_V)) < 0 || set_tail_int(rec, str_n, rd_f64(p + REC_V + 8)) < 0
                || set_tail_int(rec, str_ip, rd_f64(p + REC_V + 16)) < 0))
        Py_CLEAR(rec);
    PyBuffer_Release(&view);
    return rec;
}

/* whether a str key is one of the tail's names (t, n, ip): by pointer first (record keys are interned) */
static int is_tail_name(PyObject *k) {
    if (k == str_t || k == str_n || k == str_ip) return 1;
    Py_ssize_t len = PyUnicode_GET_LENGTH(k);
    if (len == 1) {
        Py_UCS4 c = PyUnicode_READ_CHAR(k, 0);
        return c == 't' || c == 'n';
    }
    return len == 2 && PyUnicode_READ_CHAR(k, 0) == 'i' && PyUnicode_READ_CHAR(k, 1) == 'p';
}

/* record_parsed(rec) -> the dict decode_record(encode_record(version, rec)) gives when rec is written in layout 1,
 * made from rec without the bytes (reference: linkstate_redis_ops.record_parsed_py): its fields in rec's order (the
 * same objects, lists included: records are never changed in place, their version lists are already shared between
 * records; a tuple of ints as a list), then t, n and ip through a double, as the tail stores them;
 * None for anything but a dict, where layout 1 cannot hold a field (encode_record writes JSON) or where the tail would
 * not read back (no error) */
static PyObject *py_record_parsed(PyObject *self, PyObject *rec) {
    if (!PyDict_CheckExact(rec)) Py_RETURN_NONE; /* (a subclass may iterate in another order than encode_record) */
    double t, n, ip;
    if (tail_double(rec, str_t, 1, &t) < 0 || tail_double(rec, str_n, 1, &n) < 0 ||
        tail_double(rec, str_ip, 0, &ip) < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    /* first every field checked (as encode_record's layout 1 would take it), nothing made */
    Py_ssize_t pos = 0, fields = 0, lists = 0;
    PyObject *k, *v;
    while (PyDict_Next(rec, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k)) Py_RETURN_NONE;
        if (is_tail_name(k)) continue;
        Py_ssize_t kl;
        if (++fields > 65535) Py_RETURN_NONE;
        if (!PyUnicode_AsUTF8AndSize(k, &kl)) goto none_clear;
        if (kl > 65535) Py_RETURN_NONE;
        if (v == Py_None || v == Py_False || v == Py_True || PyFloat_CheckExact(v)) continue;
        if (PyLong_CheckExact(v)) {
            long long x;
            int r = exact_i64(v, &x);
            if (r < 0) goto none_clear;
            if (r == 0) Py_RETURN_NONE;
        } else if (PyUnicode_CheckExact(v)) {
            Py_ssize_t sl;
            if (!PyUnicode_AsUTF8AndSize(v, &sl)) goto none_clear;
            if ((size_t)sl > 0xffffffffu) Py_RETURN_NONE;
        } else if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
            Py_ssize_t m = PySequence_Fast_GET_SIZE(v);
            PyObject **items = PySequence_Fast_ITEMS(v);
            if ((size_t)m > 0xffffffffu) Py_RETURN_NONE;
            for (Py_ssize_t i = 0; i < m; i++) {
                long long x;
                if (!PyLong_CheckExact(items[i])) Py_RETURN_NONE;
                int r = exact_i64(items[i], &x);
                if (r < 0) goto none_clear;
                if (r == 0) Py_RETURN_NONE;
            }
            lists += PyTuple_CheckExact(v);
        } else {
            Py_RETURN_NONE;
        }
    }
    PyObject *tv = PyLong_FromDouble(t), *nv = tv ? PyLong_FromDouble(n) : NULL, *iv = nv ? PyLong_FromDouble(ip) : NULL;
    if (!iv) { /* an infinite or NaN tail: decode_record raises there */
        Py_XDECREF(tv);
        Py_XDECREF(nv);
        goto none_clear;
    }
    /* then a copy of rec (its order; a clean dict is copied whole), the tail's names moved to its end, tuples made
     * lists */
    PyObject *out = PyDict_Copy(rec);
    if (!out) goto fail_tail;
    if ((PyDict_DelItem(out, str_t) < 0 || PyDict_DelItem(out, str_n) < 0 ||
         (PyDict_GetItemWithError(out, str_ip) ? PyDict_DelItem(out, str_ip) : PyErr_Occurred() ? -1 : 0) < 0))
        goto fail_out;
    if (lists) {
        pos = 0;
        while (PyDict_Next(rec, &pos, &k, &v)) {
            if (!PyTuple_CheckExact(v) || is_tail_name(k)) continue;
            PyObject *val = PySequence_List(v); /* (a tuple reads back as a list; replacing a value keeps the order) */
            int rc = val ? PyDict_SetItem(out, k, val) : -1;
            Py_XDECREF(val);
            if (rc < 0) goto fail_out;
        }
    }
    if (PyDict_SetItem(out, str_t, tv) < 0 || PyDict_SetItem(out, str_n, nv) < 0 || PyDict_SetItem(out, str_ip, iv) < 0)
        goto fail_out;
    Py_DECREF(tv);
    Py_DECREF(nv);
    Py_DECREF(iv);
    return out;
none_clear:
    PyErr_Clear();
    Py_RETURN_NONE;
fail_out:
    Py_DECREF(out);
fail_tail:
    Py_DECREF(tv);
    Py_DECREF(nv);
    Py_DECREF(iv);
    return NULL;
}

static int records_init(void) {
    str_t = PyUnicode_InternFromString("t");
    str_n = PyUnicode_InternFromString("n");
    str_ip = PyUnicode_InternFromString("ip");
    PyObject *js = PyImport_ImportModule("json");
    if (!js || !str_t || !str_n || !str_ip) return -1;
    json_loads = PyObject_GetAttrString(js, "loads");
    Py_DECREF(js);
    return json_loads ? 0 : -1;
}
