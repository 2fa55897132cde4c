/*
 * fraudscore._core.redis_calls -- the worker side of one Redis event call, packed and read in C.
 *
 * References (the readable Python, kept as the fallback; parity tests byte for byte in
 * tests/velocity/test_redis_calls_compiled.py):
 *
 *   command(args)              fraudscore._redis.resp_command: one command as a RESP request
 *   evalsha(sha, keys, args)   fraudscore._redis.resp_evalsha: ``EVALSHA sha len(keys) *keys *args``
 *   counts(items, keys, hidx)  fraudscore.velocity.redis_calls._counts_py: count reads / increments
 *   record_groups(rec)         fraudscore.velocity.redis_wire.record_groups_py: a record's groups
 *   group_row(codes, cur, ...) fraudscore.velocity.redis_calls.group_row_py: a key group's event row
 *   hash_bytes(text, size, p)  fraudscore._redis.hash_bytes_py: personalised BLAKE2b (vendor/blake2)
 *   layout(keys, sreads, ...)  fraudscore.velocity.redis_calls.call_args_py's link keys, versions, link
 *                              writes and group rows (call_args)
 *   outputs(spec, ...)         fraudscore.velocity.redis_calls.outputs_py: an event's features from its
 *                              records (redis_outputs.h)
 *   encode_record, decode_record  fraudscore.fingerprint.linkstate_redis_ops: binary link records
 *                              (redis_records.h; the layout in redis_layout.h)
 *   link_candidates, link_counts  fraudscore.fingerprint.linkstate_redis.OptimisticLinkState._view's
 *                              candidate records and _counts over the worker's cache (redis_linkcache.h)
 *   link_applied, link_incr,   linkstate_redis_cache.WorkerCache.applied and OptimisticLinkState.write's
 *   link_write_keys            entries, block moves and count increments (redis_linkwrite.h)
 *   single_groups(spec, ...)   fraudscore.velocity.redis_slots.SlotCalls._single_groups_py: the entity keys and
 *                              rows of a single node's event call (redis_single.h)
 *   random_bytes, link_version fraudscore._redis.random_bytes_py, linkstate_redis.version_py (redis_random.h)
 *
 * A RESP request is ``*<n>\r\n`` then ``$<len>\r\n<bytes>\r\n`` per argument: bytes as they are, str as
 * UTF-8, int as ``str(int)``, float as ``repr(float)`` (what redis-py's encoder and hiredis send). Any other
 * type (bool included) is a TypeError. The request is built once and can be sent again unchanged (a retry,
 * NOSCRIPT): packing has no state.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "vendor/blake2/blake2b-ref.c"
#include "redis_blake.h" /* round 14: one-shot BLAKE2b on blake2b_fast.h's compression */
#include "redis_random.h" /* round 14: versions and nonces from a pool in C */

static PyObject *struct_error; /* struct.error: what the reference's struct calls raise */

/* -- a growable output buffer ------------------------------------------------------------------ */
typedef struct {
    char *p;
    size_t n, cap;
    char stack[4096];
} buf_t;

static void buf_init(buf_t *b) {
    b->p = b->stack;
    b->n = 0;
    b->cap = sizeof(b->stack);
}

static void buf_free(buf_t *b) {
    if (b->p != b->stack) PyMem_Free(b->p);
}

static int buf_reserve(buf_t *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap * 2;
    while (cap < b->n + extra) cap *= 2;
    char *q = PyMem_Malloc(cap);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(q, b->p, b->n);
    if (b->p != b->stack) PyMem_Free(b->p);
    b->p = q;
    b->cap = cap;
    return 0;
}

static int buf_put(buf_t *b, const void *src, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->n, src, n);
    b->n += n;
    return 0;
}

static PyObject *buf_bytes(buf_t *b) {
    PyObject *out = PyBytes_FromStringAndSize(b->p, (Py_ssize_t)b->n);
    buf_free(b);
    return out;
}

/* decimal text of v into out (at most 21 chars), its length */
static int fmt_i64(long long v, char *out) {
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + (u % 10));
        u /= 10;
    } while (u);
    int k = 0;
    if (v < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    return k;
}

/* ``<c><n>\r\n`` */
static int put_head(buf_t *b, char c, long long n) {
    if (buf_reserve(b, 24) < 0) return -1;
    char *q = b->p + b->n;
    q[0] = c;
    int k = fmt_i64(n, q + 1);
    q[1 + k] = '\r';
    q[2 + k] = '\n';
    b->n += (size_t)k + 3;
    return 0;
}

static int put_bulk(buf_t *b, const char *s, Py_ssize_t n) {
    if (put_head(b, '$', n) < 0 || buf_reserve(b, (size_t)n + 2) < 0) return -1;
    memcpy(b->p + b->n, s, (size_t)n);
    b->n += (size_t)n;
    b->p[b->n++] = '\r';
    b->p[b->n++] = '\n';
    return 0;
}

/* one argument as a bulk string (bytes, str, int, float; see the top) */
static int put_arg(buf_t *b, PyObject *o) {
    if (PyBytes_Check(o)) return put_bulk(b, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) return -1;
        return put_bulk(b, s, n);
    }
    if (PyLong_Check(o) && !PyBool_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (!overflow) {
            char t[24];
            return put_bulk(b, t, fmt_i64(v, t));
        }
        PyObject *s = PyObject_Str(o);
        if (!s) return -1;
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(s, &n);
        int r = u ? put_bulk(b, u, n) : -1;
        Py_DECREF(s);
        return r;
    }
    if (PyFloat_Check(o)) {
        char *s = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s) return -1;
        int r = put_bulk(b, s, (Py_ssize_t)strlen(s));
        PyMem_Free(s);
        return r;
    }
    PyErr_Format(PyExc_TypeError, "a Redis command argument must be bytes, str, int or float, not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

static int put_seq(buf_t *b, PyObject *fast) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++)
        if (put_arg(b, items[i]) < 0) return -1;
    return 0;
}

/* command(args) -> bytes */
static PyObject *py_command(PyObject *self, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "command() takes a sequence of arguments");
    if (!fast) return NULL;
    buf_t b;
    buf_init(&b);
    if (put_head(&b, '*', PySequence_Fast_GET_SIZE(fast)) < 0 || put_seq(&b, fast) < 0) {
        Py_DECREF(fast);
        buf_free(&b);
        return NULL;
    }
    Py_DECREF(fast);
    return buf_bytes(&b);
}

/* evalsha(sha, keys, args) -> bytes: EVALSHA sha len(keys) *keys *args */
static PyObject *py_evalsha(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 3) {
        PyErr_SetString(PyExc_TypeError, "evalsha(sha, keys, args)");
        return NULL;
    }
    PyObject *keys = PySequence_Fast(a[1], "evalsha(): keys must be a sequence");
    if (!keys) return NULL;
    PyObject *argv = PySequence_Fast(a[2], "evalsha(): args must be a sequence");
    if (!argv) {
        Py_DECREF(keys);
        return NULL;
    }
    Py_ssize_t nk = PySequence_Fast_GET_SIZE(keys);
    buf_t b;
    buf_init(&b);
    char t[24];
    int ok = put_head(&b, '*', 3 + nk + PySequence_Fast_GET_SIZE(argv)) == 0 && put_bulk(&b, "EVALSHA", 7) == 0 &&
             put_arg(&b, a[0]) == 0 && put_bulk(&b, t, fmt_i64(nk, t)) == 0 && put_seq(&b, keys) == 0 &&
             put_seq(&b, argv) == 0;
    Py_DECREF(keys);
    Py_DECREF(argv);
    if (!ok) {
        buf_free(&b);
        return NULL;
    }
    return buf_bytes(&b);
}

/* -- count reads and increments ---------------------------------------------------------------- */
static int put_u16(buf_t *b, long long v) {
    if (v < 0 || v > 65535) {
        PyErr_SetString(struct_error, "ushort format requires 0 <= number <= (0x7fff * 2 + 1)");
        return -1;
    }
    uint8_t q[2] = {(uint8_t)(v & 0xff), (uint8_t)(v >> 8)};
    return buf_put(b, q, 2);
}

static int put_f64(buf_t *b, double d) {
    uint8_t q[8];
    memcpy(q, &d, 8); /* little-endian hosts only (x86-64, aarch64): as the other modules of _core */
    return buf_put(b, q, 8);
}

static int as_double(PyObject *v, double *d) {
    if (PyFloat_CheckExact(v)) {
        *d = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    if (PyLong_CheckExact(v)) {
        *d = PyLong_AsDouble(v);
        return (*d == -1.0 && PyErr_Occurred()) ? -1 : 0;
    }
    PyObject *f = PyNumber_Float(v);
    if (!f) return -1;
    *d = PyFloat_AS_DOUBLE(f);
    Py_DECREF(f);
    return 0;
}

/* counts(items, keys, hidx) -> bytes; items: [((hash key, field), value)], a key appended to ``keys`` at its
 * first use (hidx: key -> 1-based index) */
static PyObject *py_counts(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 3 || !PyList_Check(a[1]) || !PyDict_Check(a[2])) {
        PyErr_SetString(PyExc_TypeError, "counts(items, keys: list, hidx: dict)");
        return NULL;
    }
    PyObject *items = PySequence_Fast(a[0], "counts(): items must be a sequence");
    if (!items) return NULL;
    PyObject *keys = a[1], *hidx = a[2], *last = NULL;
    long long ki = 0;
    buf_t b;
    buf_init(&b);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    PyObject **it = PySequence_Fast_ITEMS(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *kf, *v, *k, *f;
        if (!PyTuple_Check(it[i]) || PyTuple_GET_SIZE(it[i]) != 2 || !PyTuple_Check(kf = PyTuple_GET_ITEM(it[i], 0))
            || PyTuple_GET_SIZE(kf) != 2) {
            PyErr_SetString(PyExc_TypeError, "counts(): each item must be ((key, field), value)");
            goto fail;
        }
        v = PyTuple_GET_ITEM(it[i], 1);
        k = PyTuple_GET_ITEM(kf, 0);
        f = PyTuple_GET_ITEM(kf, 1);
        if (k != last) {
            last = k;
            PyObject *got = PyDict_GetItemWithError(hidx, k);
            if (got) {
                ki = PyLong_AsLongLong(got);
                if (ki == -1 && PyErr_Occurred()) goto fail;
            } else {
                if (PyErr_Occurred() || PyList_Append(keys, k) < 0) goto fail;
                ki = PyList_GET_SIZE(keys);
                PyObject *iv = PyLong_FromLongLong(ki);
                if (!iv || PyDict_SetItem(hidx, k, iv) < 0) {
                    Py_XDECREF(iv);
                    goto fail;
                }
                Py_DECREF(iv);
            }
        }
        if (!PyUnicode_Check(f)) {
            PyErr_SetString(PyExc_TypeError, "counts(): a field must be str");
            goto fail;
        }
        Py_ssize_t fl;
        const char *fs = PyUnicode_AsUTF8AndSize(f, &fl);
        double d;
        if (!fs || put_u16(&b, ki) < 0 || put_u16(&b, fl) < 0 || buf_put(&b, fs, (size_t)fl) < 0 ||
            as_double(v, &d) < 0 || put_f64(&b, d) < 0)
            goto fail;
    }
    Py_DECREF(items);
    return buf_bytes(&b);
fail:
    Py_DECREF(items);
    buf_free(&b);
    return NULL;
}

/* -- reading a record ---------------------------------------------------------------------------- */
static int need(Py_ssize_t pos, Py_ssize_t size, Py_ssize_t len) {
    if (pos < 0 || pos + size > len) {
        PyErr_Format(struct_error, "unpack_from requires a buffer of at least %zd bytes for unpacking %zd bytes at "
                     "offset %zd (actual buffer size is %zd)", pos + size, size, pos, len);
        return -1;
    }
    return 0;
}

static unsigned rd_u16(const uint8_t *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }

static double rd_f64(const uint8_t *p) {
    double d;
    memcpy(&d, p, 8);
    return d;
}

/* record_groups(rec) -> (event time as int, [(group index, outputs tuple)]) */
static PyObject *py_record_groups(PyObject *self, PyObject *rec) {
    Py_buffer view;
    if (PyObject_GetBuffer(rec, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *p = view.buf;
    Py_ssize_t len = view.len, pos;
    PyObject *groups = NULL, *t = NULL;
    if (need(0, 8, len) < 0) goto fail;
    double ts = rd_f64(p);
    if (need(16, 2, len) < 0) goto fail;
    pos = 18 + rd_u16(p + 16);
    if (need(pos, 2, len) < 0) goto fail;
    pos += 2 + rd_u16(p + pos);
    if (need(pos, 2, len) < 0) goto fail;
    unsigned ng = rd_u16(p + pos);
    pos += 2;
    groups = PyList_New(ng);
    if (!groups) goto fail;
    for (unsigned g = 0; g < ng; g++) {
        if (need(pos, 4, len) < 0) goto fail;
        unsigned gi = rd_u16(p + pos), no = rd_u16(p + pos + 2);
        pos += 4;
        if (need(pos, 8 * (Py_ssize_t)no, len) < 0) goto fail;
        PyObject *vals = PyTuple_New(no);
        if (!vals) goto fail;
        for (unsigned j = 0; j < no; j++) {
            PyObject *x = PyFloat_FromDouble(rd_f64(p + pos + 8 * (Py_ssize_t)j));
            if (!x) {
                Py_DECREF(vals);
                goto fail;
            }
            PyTuple_SET_ITEM(vals, j, x);
        }
        pos += 8 * (Py_ssize_t)no;
        if (need(pos, 2, len) < 0) {
            Py_DECREF(vals);
            goto fail;
        }
        pos += 2 + rd_u16(p + pos);
        PyObject *item = Py_BuildValue("(IN)", gi, vals);
        if (!item) goto fail;
        PyList_SET_ITEM(groups, g, item);
    }
    t = PyLong_FromDouble(ts);
    if (!t) goto fail;
    PyBuffer_Release(&view);
    return Py_BuildValue("(NN)", t, groups);
fail:
    Py_XDECREF(groups);
    PyBuffer_Release(&view);
    return NULL;
}


/* -- a key group's event row ------------------------------------------------------------------- */
static PyObject *empty_str;

static int put_double_of(buf_t *b, PyObject *v) {
    double d;
    if (as_double(v, &d) < 0) return -1;
    return put_f64(b, d);
}

/* 8 bytes of a hash (struct's ``8s``: bytes only, cut or zero-padded to 8) */
static int put_s8(buf_t *b, PyObject *h) {
    if (!h) return -1;
    if (!PyBytes_Check(h)) {
        Py_DECREF(h);
        PyErr_SetString(struct_error, "argument for 's' must be a bytes object");
        return -1;
    }
    uint8_t q[8] = {0};
    Py_ssize_t n = PyBytes_GET_SIZE(h);
    memcpy(q, PyBytes_AS_STRING(h), n < 8 ? (size_t)n : 8);
    Py_DECREF(h);
    return buf_put(b, q, 8);
}

/* group_row(codes, cur, ts, dist_hash, app_hash) -> bytes: the event time, then per slot by its code (0 flag
 * as ``B``, 1 a value as ``d``, 2 an optional value (None: NaN), 3 a distinct-of value's hash ``dist_hash(v, 8)``,
 * 4 an application id's ``app_hash(v, 8)`` (None: zeros, "": 0xff bytes)) */
static PyObject *int_eight; /* 8: the hash size of a row's value */

/* fn(v, 8), without an argument tuple (vectorcall) */
static PyObject *call_hash(PyObject *fn, PyObject *v) {
    PyObject *args[2] = {v, int_eight};
    return PyObject_Vectorcall(fn, args, 2, NULL);
}

static PyObject *group_row_of(PyObject *const *a, int fast);

static PyObject *py_group_row(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na != 5 || !PyBytes_Check(a[0])) {
        PyErr_SetString(PyExc_TypeError, "group_row(codes: bytes, cur, ts, dist_hash, app_hash)");
        return NULL;
    }
    return group_row_of(a, 0);
}

static int ident_hash_str(PyObject *s, int size, uint8_t *out);

/* group_row's work: a = (codes (bytes, checked), cur, ts, dist_hash, app_hash); also single_groups' (redis_single.h).
 * ``fast``: dist_hash is redis_wire.identifier_hash, whose hash of a str value is made here (ident_hash_str) */
static PyObject *group_row_of(PyObject *const *a, int fast) {
    PyObject *cur = PySequence_Fast(a[1], "group_row(): cur must be a sequence");
    if (!cur) return NULL;
    const uint8_t *codes = (const uint8_t *)PyBytes_AS_STRING(a[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(a[0]), nv = PySequence_Fast_GET_SIZE(cur);
    if (nv < n) n = nv;
    PyObject **vals = PySequence_Fast_ITEMS(cur);
    buf_t b;
    buf_init(&b);
    if (put_double_of(&b, a[2]) < 0) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = vals[i];
        switch (codes[i]) {
        case 0: {
            PyObject *ix = PyNumber_Index(v);
            if (!ix) {
                if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                    PyErr_Clear();
                    PyErr_SetString(struct_error, "required argument is not an integer");
                }
                goto fail;
            }
            long x = PyLong_AsLong(ix);
            Py_DECREF(ix);
            if (x == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                x = -1;
            }
            if (x < 0 || x > 255) {
                PyErr_SetString(struct_error, "ubyte format requires 0 <= number <= 255");
                goto fail;
            }
            uint8_t q = (uint8_t)x;
            if (buf_put(&b, &q, 1) < 0) goto fail;
            break;
        }
        case 1:
            if (put_double_of(&b, v) < 0) goto fail;
            break;
        case 2:
            if (v == Py_None ? put_f64(&b, Py_NAN) < 0 : put_double_of(&b, v) < 0) goto fail;
            break;
        case 3:
            if (v == Py_None) {
                uint8_t z[8] = {0};
                if (buf_put(&b, z, 8) < 0) goto fail;
            } else if (fast && PyUnicode_CheckExact(v)) {
                uint8_t h[8];
                if (ident_hash_str(v, 8, h) < 0 || buf_put(&b, h, 8) < 0) goto fail;
            } else if (put_s8(&b, call_hash(a[3], v)) < 0)
                goto fail;
            break;
        default: {
            int empty = v == Py_None ? 0 : PyObject_RichCompareBool(v, empty_str, Py_EQ);
            if (empty < 0) goto fail;
            uint8_t z[8];
            if (v == Py_None || empty) {
                memset(z, empty ? 0xff : 0, 8);
                if (buf_put(&b, z, 8) < 0) goto fail;
            } else if (put_s8(&b, call_hash(a[4], v)) < 0)
                goto fail;
        }
        }
    }
    Py_DECREF(cur);
    return buf_bytes(&b);
fail:
    Py_DECREF(cur);
    buf_free(&b);
    return NULL;
}


/* -- identifier hashes ---------------------------------------------------------------------------- */
/* hash_bytes(text, size=8, person=b"fs-velocity") -> bytes: unkeyed BLAKE2b of the text's UTF-8 (or the bytes),
 * ``size`` bytes, personalised: hashlib.blake2b(data, digest_size=size, person=person).digest() */
static PyObject *py_hash_bytes(PyObject *self, PyObject *const *a, Py_ssize_t na) {
    if (na < 1 || na > 3) {
        PyErr_SetString(PyExc_TypeError, "hash_bytes(text, size=8, person=b'fs-velocity')");
        return NULL;
    }
    long size = 8;
    if (na > 1) {
        size = PyLong_AsLong(a[1]);
        if (size == -1 && PyErr_Occurred()) return NULL;
    }
    const char *person = "fs-velocity";
    Py_ssize_t plen = 11;
    if (na > 2) {
        if (!PyBytes_Check(a[2])) {
            PyErr_SetString(PyExc_TypeError, "hash_bytes(): person must be bytes");
            return NULL;
        }
        person = PyBytes_AS_STRING(a[2]);
        plen = PyBytes_GET_SIZE(a[2]);
    }
    if (size < 1 || size > BLAKE2B_OUTBYTES) {
        PyErr_Format(PyExc_ValueError, "digest_size must be between 1 and %d bytes", BLAKE2B_OUTBYTES);
        return NULL;
    }
    if (plen > BLAKE2B_PERSONALBYTES) {
        PyErr_Format(PyExc_ValueError, "maximum person length is %d bytes", BLAKE2B_PERSONALBYTES);
        return NULL;
    }
    const char *data;
    Py_ssize_t n;
    if (PyUnicode_Check(a[0])) {
        data = PyUnicode_AsUTF8AndSize(a[0], &n);
        if (!data) return NULL;
    } else if (PyBytes_Check(a[0])) {
        data = PyBytes_AS_STRING(a[0]);
        n = PyBytes_GET_SIZE(a[0]);
    } else {
        PyErr_SetString(PyExc_TypeError, "hash_bytes(): text must be str or bytes");
        return NULL;
    }
    uint8_t out[BLAKE2B_OUTBYTES];
    rb_blake(NULL, 0, data, (size_t)n, (size_t)size, person, (size_t)plen, out); /* redis_blake.h */
    return PyBytes_FromStringAndSize((const char *)out, size);
}

#include "redis_records.h"

#include "redis_layout.h"
#include "redis_outputs.h"
#include "redis_lru.h" /* round 15: the cache's order kept with less work, candidate prefetch */
#include "redis_linkcache.h"
#include "redis_linkwrite.h"
#include "redis_single.h"

static PyMethodDef methods[] = {
    {"command", (PyCFunction)py_command, METH_O, "command(args) -> bytes: one command as a RESP request"},
    {"evalsha", (PyCFunction)(void (*)(void))py_evalsha, METH_FASTCALL,
     "evalsha(sha, keys, args) -> bytes: EVALSHA sha len(keys) *keys *args as a RESP request"},
    {"counts", (PyCFunction)(void (*)(void))py_counts, METH_FASTCALL,
     "counts(items, keys, hidx) -> bytes: count reads or increments as the event script reads them"},
    {"record_groups", (PyCFunction)py_record_groups, METH_O,
     "record_groups(rec) -> (event time, [(group index, outputs)]) of a record"},
    {"group_row", (PyCFunction)(void (*)(void))py_group_row, METH_FASTCALL,
     "group_row(codes, cur, ts, dist_hash, app_hash) -> bytes: a key group's fixed-width event row"},
    {"random_bytes", py_random_bytes, METH_O,
     "random_bytes(n) -> n bytes of os.urandom from a process-wide pool (fraudscore._redis.random_bytes_py)"},
    {"link_version", py_link_version, METH_NOARGS,
     "link_version() -> a new link content version and stamp (linkstate_redis.version_py)"},
    {"_set_simd", fs_set_simd, METH_O,
     "_set_simd(mode) -> mode in use: BLAKE2b's compression, -1 the machine's choice, 0 scalar, 1 AVX2 (tests)."},
    {"hash_bytes", (PyCFunction)(void (*)(void))py_hash_bytes, METH_FASTCALL,
     "hash_bytes(text, size=8, person=b'fs-velocity') -> bytes: personalised BLAKE2b of an identifier"},
    {"encode_record", (PyCFunction)(void (*)(void))py_encode_record, METH_FASTCALL,
     "encode_record(version, rec) -> bytes or None: a link record in layout 1 (None: JSON it)"},
    {"decode_record", (PyCFunction)py_decode_record, METH_O,
     "decode_record(raw) -> dict: a link record (layout 1 or JSON)"},
    {"record_parsed", (PyCFunction)py_record_parsed, METH_O,
     "record_parsed(rec) -> dict or None: decode_record(encode_record(v, rec)) in layout 1, without the bytes"},
    {"layout", (PyCFunction)(void (*)(void))py_layout, METH_FASTCALL,
     "layout(keys, sreads, swrites, groups, gkeys, labels, prefix) -> (versions, values, rows)"},
    {"outputs", (PyCFunction)(void (*)(void))py_outputs, METH_FASTCALL,
     "outputs(spec, n_features, recs, duplicate, ts) -> (bytearray of features, t_first), or None (the reference)"},
    {"link_candidates", (PyCFunction)(void (*)(void))py_link_candidates, METH_FASTCALL,
     "link_candidates(cache, rkeys, reads, writes, bprefix, names, skip, now, ttl) -> [record] or None"},
    {"link_exact", (PyCFunction)(void (*)(void))py_link_exact, METH_FASTCALL,
     "link_exact(cache, rkeys, reads, writes, xprefix, fids, now, ttl) -> (record, devices), None or False"},
    {"link_counts", (PyCFunction)(void (*)(void))py_link_counts, METH_FASTCALL,
     "link_counts(cache, hreads, hincr, hkey, keys, fields) -> (n, {key: count})"},
    {"link_applied", (PyCFunction)(void (*)(void))py_link_applied, METH_FASTCALL,
     "link_applied(cache, size, writes, hreads, hincr, skip, touched, BlockOp, Touch) -> None"},
    {"link_write_keys", (PyCFunction)(void (*)(void))py_link_write_keys, METH_FASTCALL,
     "link_write_keys(state, cache, reads, writes, xprefix, fids, did, ndev, touch, bprefix, names, cap, version, "
     "BlockOp, rkey, now, ttl) -> True or False (the reference runs)"},
    {"single_groups", (PyCFunction)(void (*)(void))py_single_groups, METH_FASTCALL,
     "single_groups(spec, ctx, ekeys, record, ts, linked, cap, entity_key) -> (keys, groups, device dependent): the groups "
     "of SlotCalls._single_call (reference: SlotCalls._single_groups_py)"},
    {"link_incr", (PyCFunction)(void (*)(void))py_link_incr, METH_FASTCALL,
     "link_incr(hincr, hkey, keys, fields, new_device) -> None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "redis_calls",
    "The worker side of a Redis event call in C (reference: fraudscore/velocity/redis_calls.py, _redis.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit_redis_calls(void) {
    PyObject *st = PyImport_ImportModule("struct");
    if (!st) return NULL;
    struct_error = PyObject_GetAttrString(st, "error");
    Py_DECREF(st);
    if (!struct_error) return NULL;
    empty_str = PyUnicode_FromString("");
    if (!(int_eight = PyLong_FromLong(8))) return NULL;
    if (!empty_str || records_init() < 0 || linkcache_init() < 0 || lru_init() < 0 || linkwrite_init() < 0 || rr_init() < 0) return NULL;
    if (!(str_now = PyUnicode_InternFromString("now")) || !(str_stamp = PyUnicode_InternFromString("stamp")) ||
        !(str_ip_attr = PyUnicode_InternFromString("ip")) || !(str_version = PyUnicode_InternFromString("version")) ||
        !(str_cached = PyUnicode_InternFromString("cached")) || !(str_cap = PyUnicode_InternFromString("cap")) ||
        !(str_did = PyUnicode_InternFromString("did")))
        return NULL;
    return PyModule_Create(&moduledef);
}
