/*
 * fraudscore._core.fingerprint -- sectioned keyed xxh3 hashing of canonical devices
 * (reference: fraudscore/fingerprint/sections.py, Fingerprinter._h / _hex / _components).
 *
 * h(text) = xxh3_64(secret + utf8(text), seed) with the 64-byte Keys.fingerprint secret and the
 * 64-bit Keys.fingerprint_seed, exactly what xxhash.xxh3_64_intdigest(prefix + text.encode(), seed)
 * gives; sections and components keep the low 48 bits. xxHash is vendored (vendor/xxhash, BSD-2).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "vendor/xxhash/xxhash.h"

#define MASK48 0xFFFFFFFFFFFFull

typedef struct {
    PyObject_HEAD
    uint64_t seed;
    Py_ssize_t plen;
    unsigned char prefix[64];
} Hasher;

static const char HEX[] = "0123456789abcdef";

/* A keyed hash input built in a buffer and hashed in one shot: XXH3_64bits_withSeed over the bytes equals the
 * streaming state's digest of the same bytes (and skips its set-up); an input longer than the buffer continues
 * in a streaming state. */
typedef struct {
    uint64_t seed;
    size_t n;
    int streaming;
    unsigned char buf[1024];
    XXH3_state_t st;
} HB;

static void hb_update(HB *b, const void *p, size_t len) {
    if (!b->streaming) {
        if (b->n + len <= sizeof(b->buf)) {
            if (len) memcpy(b->buf + b->n, p, len);
            b->n += len;
            return;
        }
        XXH3_64bits_reset_withSeed(&b->st, b->seed);
        XXH3_64bits_update(&b->st, b->buf, b->n);
        b->streaming = 1;
    }
    XXH3_64bits_update(&b->st, p, len);
}

static uint64_t hb_digest(HB *b) {
    return b->streaming ? XXH3_64bits_digest(&b->st) : XXH3_64bits_withSeed(b->buf, b->n, b->seed);
}

static void start(Hasher *h, HB *b) {
    b->seed = h->seed;
    b->n = 0;
    b->streaming = 0;
    hb_update(b, h->prefix, (size_t)h->plen);
}

/* xxh3(prefix + pre + text): pre and text are str (UTF-8, surrogatepass) */
static int hash_parts(Hasher *h, PyObject *pre, PyObject *text, uint64_t *out) {
    HB st;
    start(h, &st);
    PyObject *parts[2] = {pre, text};
    for (int i = 0; i < 2; i++) {
        PyObject *s = parts[i];
        if (!s) continue;
        if (!PyUnicode_Check(s)) {
            PyErr_Format(PyExc_TypeError, "fingerprint inputs must be str, not %.80s", Py_TYPE(s)->tp_name);
            return -1;
        }
        Py_ssize_t n;
        if (PyUnicode_IS_COMPACT_ASCII(s)) {
            hb_update(&st, PyUnicode_DATA(s), (size_t)PyUnicode_GET_LENGTH(s));
            continue;
        }
        const char *u = PyUnicode_AsUTF8AndSize(s, &n);
        if (u) {
            hb_update(&st, u, (size_t)n);
            continue;
        }
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();
        PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
        if (!b) return -1;
        hb_update(&st, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        Py_DECREF(b);
    }
    *out = hb_digest(&st);
    return 0;
}

static PyObject *hex12(uint64_t v) {
    PyObject *r = PyUnicode_New(12, 127);
    if (!r) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    for (int i = 11; i >= 0; i--) {
        o[i] = (Py_UCS1)HEX[v & 15];
        v >>= 4;
    }
    return r;
}

static PyObject *Hasher_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"prefix", "seed", NULL};
    Py_buffer prefix;
    unsigned long long seed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*K", kwlist, &prefix, &seed)) return NULL;
    if (prefix.len > 64) {
        PyBuffer_Release(&prefix);
        PyErr_SetString(PyExc_ValueError, "prefix must be at most 64 bytes");
        return NULL;
    }
    Hasher *h = (Hasher *)type->tp_alloc(type, 0);
    if (h) {
        h->seed = (uint64_t)seed;
        h->plen = prefix.len;
        memcpy(h->prefix, prefix.buf, (size_t)prefix.len);
    }
    PyBuffer_Release(&prefix);
    return (PyObject *)h;
}

/* h(text) -> int (the full 64 bits) */
static PyObject *Hasher_h(Hasher *h, PyObject *text) {
    uint64_t v;
    if (hash_parts(h, NULL, text, &v) < 0) return NULL;
    return PyLong_FromUnsignedLongLong(v);
}

/* hex(text) -> 12 hex digits of the low 48 bits */
static PyObject *Hasher_hex(Hasher *h, PyObject *text) {
    uint64_t v;
    if (hash_parts(h, NULL, text, &v) < 0) return NULL;
    return hex12(v & MASK48);
}

/* components(plan, values) -> tuple of ints: plan is a tuple of (index into values, prefix str);
 * a missing value (None) gives 0, else (h(prefix + value) & MASK48) or 1 */
static PyObject *Hasher_components(Hasher *h, PyObject *args) {
    PyObject *vals, *plan;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &plan, &PyTuple_Type, &vals)) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(plan);
    PyObject *out = PyTuple_New(n);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(plan, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 2) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_ValueError, "plan items are (index, prefix)");
            return NULL;
        }
        Py_ssize_t idx = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0));
        if (idx == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        if (idx < 0 || idx >= PyTuple_GET_SIZE(vals)) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_IndexError, "component index out of range");
            return NULL;
        }
        PyObject *v = PyTuple_GET_ITEM(vals, idx);
        uint64_t x = 0;
        if (v != Py_None) {
            if (hash_parts(h, PyTuple_GET_ITEM(item, 1), v, &x) < 0) {
                Py_DECREF(out);
                return NULL;
            }
            x &= MASK48;
            if (!x) x = 1;
        }
        PyObject *o = PyLong_FromUnsignedLongLong(x);
        if (!o) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, o);
    }
    return out;
}

/* -- the whole of Fingerprinter.from_canonical's hashing for scheme 1 in one call ------------------------- */

/* feed a str (UTF-8, surrogatepass) into the state */
static int upd_str(HB *st, PyObject *s) {
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        hb_update(st, PyUnicode_DATA(s), (size_t)PyUnicode_GET_LENGTH(s));
        return 0;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u) {
        hb_update(st, u, (size_t)n);
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (!b) return -1;
    hb_update(st, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return 0;
}


/* SEP + (v or MISSING): v is a str or None */
static int upd_part(HB *st, PyObject *v) {
    hb_update(st, "\x1f", 1);
    if (v == Py_None || !PyUnicode_Check(v) || PyUnicode_GET_LENGTH(v) == 0) {
        if (v != Py_None && !PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
            return -1;
        }
        hb_update(st, "\x00", 1);
        return 0;
    }
    return upd_str(st, v);
}

static int upd_idx(HB *st, PyObject *vals, PyObject *idx) {
    Py_ssize_t n = PyTuple_GET_SIZE(idx), nv = PyTuple_GET_SIZE(vals);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t j = PyLong_AsSsize_t(PyTuple_GET_ITEM(idx, i));
        if (j < 0 || j >= nv) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "attribute index out of range");
            return -1;
        }
        if (upd_part(st, PyTuple_GET_ITEM(vals, j)) < 0) return -1;
    }
    return 0;
}

/* the low 32 bits of h("i" SEP kind item) for each comma-separated item of s, sorted; k > 0 keeps the k smallest */
static PyObject *item_hashes(Hasher *h, PyObject *s, const char *kind, Py_ssize_t k, Py_ssize_t *count) {
    PyObject *owner = NULL;
    Py_ssize_t n;
    const char *u;
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        u = (const char *)PyUnicode_DATA(s);
        n = PyUnicode_GET_LENGTH(s);
    } else {
        u = PyUnicode_AsUTF8AndSize(s, &n);
        if (!u) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
            PyErr_Clear();
            owner = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
            if (!owner) return NULL;
            u = PyBytes_AS_STRING(owner);
            n = PyBytes_GET_SIZE(owner);
        }
    }
    Py_ssize_t m = 1;
    for (Py_ssize_t i = 0; i < n; i++) m += u[i] == ',';
    uint32_t stackbuf[64], *hs = m <= 64 ? stackbuf : PyMem_Malloc((size_t)m * sizeof(uint32_t));
    if (!hs) {
        Py_XDECREF(owner);
        return PyErr_NoMemory();
    }
    Py_ssize_t j = 0, a = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i < n && u[i] != ',') continue;
        HB st;
        start(h, &st);
        hb_update(&st, "i\x1f", 2);
        hb_update(&st, kind, 1);
        hb_update(&st, u + a, (size_t)(i - a));
        hs[j++] = (uint32_t)(hb_digest(&st) & 0xFFFFFFFFu);
        a = i + 1;
    }
    Py_XDECREF(owner);
    for (Py_ssize_t x = 1; x < m; x++) { /* insertion sort: lists are short */
        uint32_t v = hs[x];
        Py_ssize_t y = x - 1;
        while (y >= 0 && hs[y] > v) {
            hs[y + 1] = hs[y];
            y--;
        }
        hs[y + 1] = v;
    }
    *count = m;
    Py_ssize_t keep = (k > 0 && k < m) ? k : m;
    PyObject *out = PyTuple_New(keep);
    for (Py_ssize_t x = 0; out && x < keep; x++) {
        PyObject *o = PyLong_FromUnsignedLong(hs[x]);
        if (!o) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, x, o);
    }
    if (hs != stackbuf) PyMem_Free(hs);
    return out;
}

static PyObject *hex12_prefixed(const char *pre, Py_ssize_t plen, PyObject *head, uint64_t v) {
    /* head (ASCII str or NULL) + pre + 12 hex digits */
    Py_ssize_t hl = head ? PyUnicode_GET_LENGTH(head) : 0;
    PyObject *r = PyUnicode_New(hl + plen + 12, 127);
    if (!r) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    if (hl) memcpy(o, PyUnicode_DATA(head), (size_t)hl);
    memcpy(o + hl, pre, (size_t)plen);
    for (int i = 11; i >= 0; i--) {
        o[hl + plen + i] = (Py_UCS1)HEX[v & 15];
        v >>= 4;
    }
    return r;
}

/* sections1(plan, vals, source, os_family, os_major, browser_family, browser_major, family_text)
 *   plan = (hw_app, hw_web, hw_any, vol_idx, comp_plan, anchor_tags, canvas_pos, canvas_idx, renderer_idx,
 *           fonts_idx, langs_idx, sketch_k)
 * -> (id, hw, sw, vol, components, canvas, link_keys, family, renderer, fonts_sketch, font_count, lang_items):
 * what Fingerprinter.from_canonical computes for scheme 1 (reference: sections.py). */
static PyObject *sections1_impl(Hasher *h, PyObject *const *args);

static PyObject *Hasher_sections1(Hasher *h, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 12 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sections1(plan, vals, source, os_family, os_major, browser_family, "
                                         "browser_major, family_text)");
        return NULL;
    }
    return sections1_impl(h, args);
}

static PyObject *sections1_impl(Hasher *h, PyObject *const *args) {
    PyObject *plan = args[0], *vals = args[1], *src = args[2], *fam = args[3], *fam_text = args[7];
    if (!PyUnicode_Check(src) || !PyUnicode_Check(fam_text) || (fam != Py_None && !PyUnicode_Check(fam)) ||
        (args[5] != Py_None && !PyUnicode_Check(args[5]))) {
        PyErr_SetString(PyExc_TypeError, "source, os_family, browser_family and family_text must be str");
        return NULL;
    }
    PyObject *hwi;
    if (PyUnicode_CompareWithASCIIString(src, "app") == 0) hwi = PyTuple_GET_ITEM(plan, 0);
    else if (PyUnicode_CompareWithASCIIString(src, "web") == 0) hwi = PyTuple_GET_ITEM(plan, 1);
    else hwi = PyTuple_GET_ITEM(plan, 2);
    PyObject *res[12] = {NULL};
    HB st;
    uint64_t hw, sw, vol;
    /* hardware */
    start(h, &st);
    hb_update(&st, "1\x1fhw\x1f", 5);
    if (upd_str(&st, src) < 0 || upd_part(&st, fam) < 0 || upd_idx(&st, vals, hwi) < 0) return NULL;
    hw = hb_digest(&st) & MASK48;
    /* software */
    PyObject *maj = PyObject_Str(args[4]), *bmaj = PyObject_Str(args[6]);
    if (!maj || !bmaj) {
        Py_XDECREF(maj);
        Py_XDECREF(bmaj);
        return NULL;
    }
    start(h, &st);
    hb_update(&st, "1\x1fsw\x1f", 5);
    int bad = upd_str(&st, src) < 0 || upd_part(&st, fam) < 0 || (hb_update(&st, "\x1f", 1), 0) ||
              upd_str(&st, maj) < 0 || upd_part(&st, args[5]) < 0 ||
              (hb_update(&st, "\x1f", 1), 0) || upd_str(&st, bmaj) < 0;
    Py_DECREF(maj);
    Py_DECREF(bmaj);
    if (bad) return NULL;
    sw = hb_digest(&st) & MASK48;
    /* volatile */
    start(h, &st);
    hb_update(&st, "1\x1fvol", 5);
    if (upd_idx(&st, vals, PyTuple_GET_ITEM(plan, 3)) < 0) return NULL;
    vol = hb_digest(&st) & MASK48;
    res[1] = hex12(hw);
    res[2] = hex12(sw);
    res[3] = hex12(vol);
    if (!res[1] || !res[2] || !res[3]) goto fail;
    res[0] = PyUnicode_FromFormat("fp1_%U_%U_%U", res[1], res[2], res[3]);
    if (!res[0]) goto fail;
    /* components, canvas, link keys */
    PyObject *cargs = PyTuple_Pack(2, PyTuple_GET_ITEM(plan, 4), vals);
    if (!cargs) goto fail;
    res[4] = Hasher_components(h, cargs);
    Py_DECREF(cargs);
    if (!res[4]) goto fail;
    Py_ssize_t cpos = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 6)), cidx = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 7));
    Py_ssize_t ridx = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 8)), fidx = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 9));
    Py_ssize_t lidx = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 10)), k = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 11));
    Py_ssize_t nv = PyTuple_GET_SIZE(vals), nc = PyTuple_GET_SIZE(res[4]);
    if (PyErr_Occurred()) goto fail;
    if (cpos < 0 || cpos >= nc || cidx < 0 || cidx >= nv || ridx < 0 || ridx >= nv || fidx < 0 || fidx >= nv ||
        lidx < 0 || lidx >= nv) {
        PyErr_SetString(PyExc_IndexError, "plan index out of range");
        goto fail;
    }
    if (PyTuple_GET_ITEM(vals, cidx) == Py_None) {
        res[5] = Py_None;
        Py_INCREF(Py_None);
    } else {
        res[5] = hex12_prefixed("c:", 2, NULL, PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(res[4], cpos)));
        if (!res[5]) goto fail;
    }
    PyObject *tags = PyTuple_GET_ITEM(plan, 5);
    PyObject *keys = PyList_New(0);
    if (!keys) goto fail;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tags); i++) {
        PyObject *t = PyTuple_GET_ITEM(tags, i);
        Py_ssize_t p = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 0));
        if (p < 0 || p >= nc) {
            Py_DECREF(keys);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "anchor index out of range");
            goto fail;
        }
        uint64_t c = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(res[4], p));
        if (!c) continue;
        PyObject *tag = PyTuple_GET_ITEM(t, 1);
        const char *tg = PyUnicode_AsUTF8(tag);
        char pre[8];
        Py_ssize_t tl = tg ? (Py_ssize_t)strlen(tg) : -1;
        if (tl < 0 || tl > 6) {
            Py_DECREF(keys);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "anchor tags are short ASCII");
            goto fail;
        }
        pre[0] = ':';
        memcpy(pre + 1, tg, (size_t)tl);
        PyObject *key = hex12_prefixed(pre, tl + 1, res[1], c);
        if (!key || PyList_Append(keys, key) < 0) {
            Py_XDECREF(key);
            Py_DECREF(keys);
            goto fail;
        }
        Py_DECREF(key);
    }
    if (PyList_GET_SIZE(keys) == 0 && PyList_Append(keys, res[1]) < 0) {
        Py_DECREF(keys);
        goto fail;
    }
    res[6] = PyList_AsTuple(keys);
    Py_DECREF(keys);
    if (!res[6]) goto fail;
    /* family, renderer */
    start(h, &st);
    if (upd_str(&st, fam_text) < 0) goto fail;
    res[7] = hex12(hb_digest(&st) & MASK48);
    if (!res[7]) goto fail;
    PyObject *rend = PyTuple_GET_ITEM(vals, ridx);
    uint64_t rh = 0;
    if (rend != Py_None) {
        if (!PyUnicode_Check(rend)) {
            PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
            goto fail;
        }
        start(h, &st);
        hb_update(&st, "r\x1f", 2);
        if (upd_str(&st, rend) < 0) goto fail;
        rh = hb_digest(&st) & MASK48;
        if (!rh) rh = 1;
    }
    res[8] = PyLong_FromUnsignedLongLong(rh);
    if (!res[8]) goto fail;
    /* fonts sketch, font count, languages */
    PyObject *fonts = PyTuple_GET_ITEM(vals, fidx), *langs = PyTuple_GET_ITEM(vals, lidx);
    Py_ssize_t n_fonts = 0, n_langs = 0;
    if (fonts != Py_None) {
        if (!PyUnicode_Check(fonts)) {
            PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
            goto fail;
        }
        res[9] = item_hashes(h, fonts, "f", k, &n_fonts);
    } else {
        res[9] = PyTuple_New(0);
    }
    if (!res[9]) goto fail;
    res[10] = PyLong_FromSsize_t(n_fonts);
    if (!res[10]) goto fail;
    if (langs != Py_None && PyUnicode_Check(langs) && PyUnicode_GET_LENGTH(langs) > 0) {
        res[11] = item_hashes(h, langs, "l", 0, &n_langs);
    } else if (langs != Py_None && !PyUnicode_Check(langs)) {
        PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
        goto fail;
    } else {
        res[11] = PyTuple_New(0);
    }
    if (!res[11]) goto fail;
    PyObject *out = PyTuple_New(12);
    if (!out) goto fail;
    for (int i = 0; i < 12; i++) PyTuple_SET_ITEM(out, i, res[i]);
    return out;
fail:
    for (int i = 0; i < 12; i++) Py_XDECREF(res[i]);
    return NULL;
}

/* canonical._text's first branch for a printable-ASCII str of at most 2048 characters: lower case, runs of
 * spaces collapsed, stripped; None when empty. Returns NULL without an error for any other str (the caller
 * uses the Python reference). */
static PyObject *ascii_text_mode(PyObject *v, int digits);

static PyObject *ascii_text(PyObject *v) { return ascii_text_mode(v, 0); }

/* digits: canonical._n_digits (spaces and dashes removed as well) */
static PyObject *ascii_text_mode(PyObject *v, int digits) {
    if (!PyUnicode_IS_COMPACT_ASCII(v)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    if (n > 2048) return NULL;
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(v);
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return NULL;
    Py_ssize_t a = 0, b = n;
    while (a < b && s[a] == ' ') a++;
    while (b > a && s[b - 1] == ' ') b--;
    if (a == b) Py_RETURN_NONE;
    char stackbuf[256], *o = (b - a) <= 256 ? stackbuf : PyMem_Malloc((size_t)(b - a));
    if (!o) return PyErr_NoMemory();
    Py_ssize_t m = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        unsigned char c = s[i];
        if (digits && (c == ' ' || c == '-')) continue;
        if (c == ' ' && o[m - 1] == ' ') continue; /* m > 0: s[a] is not a space */
        o[m++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    PyObject *r = m ? PyUnicode_FromStringAndSize(o, m) : Py_NewRef(Py_None);
    if (o != stackbuf) PyMem_Free(o);
    return r;
}

static int all_str_list(PyObject *v) {
    if (!PyList_CheckExact(v)) return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i))) return 0;
    return 1;
}

/* values_size(values) -> sum(map(sys.getsizeof, filter(None, values))) for a tuple of str / None (the
 * fingerprint cache's byte estimate, sections._fp_cost) */
static PyObject *values_size(PyObject *self, PyObject *vals) {
    if (!PyTuple_Check(vals)) {
        PyErr_SetString(PyExc_TypeError, "values_size(tuple)");
        return NULL;
    }
    size_t n = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(vals); i++) {
        PyObject *v = PyTuple_GET_ITEM(vals, i);
        if (v == Py_None || (PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) == 0)) continue;
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "canonical values are str or None");
            return NULL;
        }
        if (PyUnicode_CheckExact(v) && PyUnicode_IS_COMPACT_ASCII(v)
#if PY_VERSION_HEX < 0x030C0000
            && ((PyASCIIObject *)v)->wstr == NULL
#endif
        ) { /* str.__sizeof__ of a compact ASCII str (no GC header, its UTF-8 is its data) */
            n += sizeof(PyASCIIObject) + (size_t)PyUnicode_GET_LENGTH(v) + 1;
            continue;
        }
        size_t z = _PySys_GetSizeOf(v);
        if (z == (size_t)-1 && PyErr_Occurred()) return NULL;
        n += z;
    }
    return PyLong_FromSize_t(n);
}

/* -- the attribute loop of canonicalize (reference: fraudscore/fingerprint/canonical.py) ------------------- */

/* canon_values(device, n, keys, strs, resolve, norm, norm_str, norm_cached) -> (values, unknown):
 * the canonical value of every known attribute of an exact dict ``device`` (None when absent) and the
 * (name, value) pairs of the unknown ones, in order. Memo hits are read here; every miss calls the
 * Python reference: resolve(k) -> (name, index or None, kind, cached) for a name not in ``keys``;
 * norm(kind, v) for uncached attributes; norm_str(i, kind, v) for a str missing from strs[i];
 * norm_cached(name, kind, v) for other values. Two spellings of one name keep the smaller value. */
static PyObject *canon_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 8 && nargs != 9) || !PyDict_CheckExact(args[0]) || !PyDict_Check(args[2]) ||
        !PyTuple_Check(args[3]) || (nargs == 9 && !PyDict_CheckExact(args[8]))) {
        PyErr_SetString(PyExc_TypeError,
                        "canon_values(device, n, keys, strs, resolve, norm, norm_str, norm_cached[, values])");
        return NULL;
    }
    PyObject *dev = args[0], *keys = args[2], *strs = args[3], *vmemo = nargs == 9 ? args[8] : NULL;
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n < 0 || n != PyTuple_GET_SIZE(strs)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "one memo per attribute");
        return NULL;
    }
    PyObject *vals = PyList_New(n), *unknown = PyList_New(0);
    if (!vals || !unknown) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(Py_None);
        PyList_SET_ITEM(vals, i, Py_None);
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dev, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        PyObject *res = PyUnicode_CheckExact(k) ? PyDict_GetItemWithError(keys, k) : NULL, *nv = NULL;
        if (res) {
            Py_INCREF(res);
        } else {
            if (PyErr_Occurred()) goto item_fail;
            res = PyObject_CallOneArg(args[4], k);
            if (!res) goto item_fail;
        }
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 4) {
            Py_DECREF(res);
            PyErr_SetString(PyExc_TypeError, "resolve must return (name, index, kind, cached)");
            goto item_fail;
        }
        PyObject *name = PyTuple_GET_ITEM(res, 0), *ix = PyTuple_GET_ITEM(res, 1), *kind = PyTuple_GET_ITEM(res, 2);
        if (ix == Py_None) {
            PyObject *pair = PyTuple_Pack(2, name, v);
            Py_DECREF(res);
            if (!pair || PyList_Append(unknown, pair) < 0) {
                Py_XDECREF(pair);
                goto item_fail;
            }
            Py_DECREF(pair);
            Py_DECREF(k);
            Py_DECREF(v);
            continue;
        }
        Py_ssize_t i = PyLong_AsSsize_t(ix);
        if (i < 0 || i >= n) {
            Py_DECREF(res);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "attribute index out of range");
            goto item_fail;
        }
        if (v == Py_None) {
            Py_DECREF(res);
            Py_DECREF(k);
            Py_DECREF(v);
            continue;
        }
        int cached = PyObject_IsTrue(PyTuple_GET_ITEM(res, 3));
        if (!cached) {
            /* near-unique text attributes: _text's printable-ASCII branch here, anything else in Python */
            int tk = PyUnicode_CheckExact(v) && PyUnicode_CheckExact(kind)
                         ? (PyUnicode_CompareWithASCIIString(kind, "text") == 0       ? 1
                            : PyUnicode_CompareWithASCIIString(kind, "digits") == 0 ? 2
                                                                                     : 0)
                         : 0;
            nv = tk ? ascii_text_mode(v, tk == 2) : NULL;
            if (!nv && !PyErr_Occurred()) nv = PyObject_CallFunctionObjArgs(args[5], kind, v, NULL);
        } else if (vmemo && (PyLong_CheckExact(v) || PyBool_Check(v) || all_str_list(v))) {
            /* _norm_cached's memo read here: key (name, type(v), v), for a list of str (name, list, tuple(v));
             * a miss calls it (it remembers) */
            PyObject *lt = PyList_CheckExact(v) ? PyList_AsTuple(v) : NULL;
            PyObject *ck = (lt || !PyList_CheckExact(v)) ? PyTuple_Pack(3, name, (PyObject *)Py_TYPE(v), lt ? lt : v)
                                                         : NULL;
            Py_XDECREF(lt);
            nv = ck ? PyDict_GetItemWithError(vmemo, ck) : NULL;
            Py_XDECREF(ck);
            if (nv) Py_INCREF(nv);
            else if (ck && !PyErr_Occurred()) nv = PyObject_CallFunctionObjArgs(args[7], name, kind, v, NULL);
        } else if (PyUnicode_CheckExact(v)) {
            PyObject *memo = PyTuple_GET_ITEM(strs, i);
            nv = PyDict_Check(memo) ? PyDict_GetItemWithError(memo, v) : NULL;
            if (nv) {
                Py_INCREF(nv);
            } else if (!PyErr_Occurred()) {
                PyObject *ii = PyLong_FromSsize_t(i);
                nv = ii ? PyObject_CallFunctionObjArgs(args[6], ii, kind, v, NULL) : NULL;
                Py_XDECREF(ii);
            }
        } else {
            nv = PyObject_CallFunctionObjArgs(args[7], name, kind, v, NULL);
        }
        Py_DECREF(res);
        if (!nv) goto item_fail;
        if (nv != Py_None) {
            PyObject *old = PyList_GET_ITEM(vals, i);
            if (old == Py_None) {
                PyList_SetItem(vals, i, nv); /* steals nv */
                nv = NULL;
            } else {
                int lt = PyObject_RichCompareBool(nv, old, Py_LT); /* min(old, nv): nv only when smaller */
                if (lt < 0) {
                    Py_DECREF(nv);
                    goto item_fail;
                }
                if (lt) {
                    PyList_SetItem(vals, i, nv);
                    nv = NULL;
                }
            }
        }
        Py_XDECREF(nv);
        Py_DECREF(k);
        Py_DECREF(v);
        continue;
    item_fail:
        Py_DECREF(k);
        Py_DECREF(v);
        goto fail;
    }
    return Py_BuildValue("(NN)", vals, unknown);
fail:
    Py_XDECREF(vals);
    Py_XDECREF(unknown);
    return NULL;
}

/* -- the fingerprint cache's key of a device mapping (reference: Fingerprinter.fingerprint, a repr key) ------ */

/* the key's input in a buffer, hashed in one shot (equal to the streaming digest of the same bytes); a longer
 * input continues in a streaming state */
typedef struct {
    uint64_t seed;
    size_t n;
    int streaming;
    unsigned char buf[2048];
    XXH3_state_t st;
} KB;

static void kb_update(KB *b, const void *p, size_t len) {
    if (!b->streaming) {
        if (b->n + len <= sizeof(b->buf)) {
            if (len) memcpy(b->buf + b->n, p, len);
            b->n += len;
            return;
        }
        XXH3_128bits_reset_withSeed(&b->st, b->seed);
        XXH3_128bits_update(&b->st, b->buf, b->n);
        b->streaming = 1;
    }
    XXH3_128bits_update(&b->st, p, len);
}

static int key_value(KB *st, PyObject *v, int depth) {
    if (v == Py_None) {
        kb_update(st, "n", 1);
        return 0;
    }
    if (PyBool_Check(v)) {
        kb_update(st, v == Py_True ? "T" : "F", 1);
        return 0;
    }
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        const char *u;
        if (PyUnicode_IS_COMPACT_ASCII(v)) {
            u = (const char *)PyUnicode_DATA(v);
            n = PyUnicode_GET_LENGTH(v);
        } else {
            u = PyUnicode_AsUTF8AndSize(v, &n);
            if (!u) {
                PyErr_Clear();
                return 1; /* lone surrogates: the repr key */
            }
        }
        uint64_t len = (uint64_t)n;
        kb_update(st, "s", 1);
        kb_update(st, &len, sizeof len);
        kb_update(st, u, (size_t)n);
        return 0;
    }
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (x == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 1;
        }
        kb_update(st, "i", 1);
        kb_update(st, &x, sizeof x);
        return 0;
    }
    if (PyFloat_CheckExact(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        kb_update(st, "f", 1);
        kb_update(st, &d, sizeof d);
        return 0;
    }
    if (PyList_CheckExact(v) && depth == 0) {
        uint64_t len = (uint64_t)PyList_GET_SIZE(v);
        kb_update(st, "l", 1);
        kb_update(st, &len, sizeof len);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            int r = key_value(st, PyList_GET_ITEM(v, i), 1);
            if (r) return r;
        }
        return 0;
    }
    return 1; /* anything else: the repr key */
}

/* mapping_key(device) -> 16 bytes, or None (use the repr key): a keyed 128-bit hash of the dict's items in
 * order, type-tagged and length-prefixed, so equal keys mean equal mappings as repr() keys do (up to
 * 128-bit collisions). The stream starts with a 0xff byte, which no UTF-8 repr text starts with. */
static PyObject *Hasher_mapping_key(Hasher *h, PyObject *dev) {
    if (!PyDict_CheckExact(dev)) Py_RETURN_NONE;
    KB st;
    st.seed = h->seed;
    st.n = 0;
    st.streaming = 0;
    kb_update(&st, "\xff", 1);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dev, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k)) Py_RETURN_NONE;
        int r = key_value(&st, k, 1);
        if (!r) r = key_value(&st, v, 0);
        if (r < 0) return NULL;
        if (r) Py_RETURN_NONE;
    }
    XXH128_hash_t d = st.streaming ? XXH3_128bits_digest(&st.st) : XXH3_128bits_withSeed(st.buf, st.n, st.seed);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, d);
    return PyBytes_FromStringAndSize((const char *)c.digest, 16);
}

/* -- canonicalize + from_canonical in one call (reference: canonical._derive, sections._family_input,
 *    Fingerprinter.from_canonical) --------------------------------------------------------------------- */

/* a new instance of a slots class (a frozen dataclass), each slot set through its member descriptor (what
 * object.__setattr__ in the dataclass's __init__ does); descrs and vals hold n items */
static PyObject *new_slots(PyObject *cls, PyObject *descrs, PyObject **vals, Py_ssize_t n) {
    if (!PyType_Check(cls) || !PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != n) {
        PyErr_SetString(PyExc_TypeError, "a class and one member descriptor per field");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *o = tp->tp_alloc(tp, 0);
    if (!o) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        descrsetfunc set = Py_TYPE(d)->tp_descr_set;
        if (!set || set(d, o, vals[i]) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "not a member descriptor");
            Py_DECREF(o);
            return NULL;
        }
    }
    return o;
}

static Py_ssize_t tuple_index(PyObject *t, Py_ssize_t i, Py_ssize_t bound) {
    Py_ssize_t j = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, i));
    if ((j < 0 || j >= bound) && !PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "index out of range");
    return (j < 0 || j >= bound) ? -1 : j;
}

/* memo[key] (a new reference; the value may be None), else fn(key) */
static PyObject *memo_or_call(PyObject *memo, PyObject *fn, PyObject *key) {
    PyObject *r = PyDict_GetItemWithError(memo, key);
    if (r) {
        Py_INCREF(r);
        return r;
    }
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallOneArg(fn, key);
}

/* the fields of a CanonicalDevice, in declaration order */
enum { CD_VALUES, CD_EXTRA, CD_SOURCE, CD_OS_FAMILY, CD_OS_VERSION, CD_BFAM, CD_BVER, CD_APPV, CD_N };

/* canonical._derive: dctx = (cls, descriptors, uas, parse_ua_cached, versions, version_cached, os_aliases,
 * (i_ua, i_os, i_os_version, i_app_version, i_source), "web", "app"); f receives the 8 field values (new
 * references); returns the CanonicalDevice */
static PyObject *derive(PyObject *dctx, PyObject *vals_list, PyObject *extra, PyObject **f) {
    if (!PyTuple_Check(dctx) || PyTuple_GET_SIZE(dctx) != 10 || !PyDict_Check(PyTuple_GET_ITEM(dctx, 2)) ||
        !PyDict_Check(PyTuple_GET_ITEM(dctx, 4)) || !PyDict_Check(PyTuple_GET_ITEM(dctx, 6)) ||
        !PyTuple_Check(PyTuple_GET_ITEM(dctx, 7)) || PyTuple_GET_SIZE(PyTuple_GET_ITEM(dctx, 7)) != 5 ||
        !PyList_CheckExact(vals_list)) {
        PyErr_SetString(PyExc_TypeError, "derive context");
        return NULL;
    }
    for (int i = 0; i < CD_N; i++) f[i] = NULL;
    PyObject *idx = PyTuple_GET_ITEM(dctx, 7), *bua = NULL, *ua_os = Py_None, *ua_over = Py_None;
    Py_ssize_t nv = PyList_GET_SIZE(vals_list), ix[5];
    for (int i = 0; i < 5; i++)
        if ((ix[i] = tuple_index(idx, i, nv)) < 0) return NULL;
    PyObject *ua = PyList_GET_ITEM(vals_list, ix[0]), *os_attr = PyList_GET_ITEM(vals_list, ix[1]);
    PyObject *os_v = PyList_GET_ITEM(vals_list, ix[2]), *app_v = PyList_GET_ITEM(vals_list, ix[3]);
    PyObject *src = PyList_GET_ITEM(vals_list, ix[4]);
    f[CD_BFAM] = Py_None;
    f[CD_BVER] = Py_None;
    if (ua != Py_None) {
        bua = PyDict_GetItemWithError(PyTuple_GET_ITEM(dctx, 2), ua); /* _UAS.get(ua): None is a miss there */
        if (bua && bua != Py_None) Py_INCREF(bua);
        else if (PyErr_Occurred()) return NULL;
        else bua = PyObject_CallOneArg(PyTuple_GET_ITEM(dctx, 3), ua);
        if (!bua) return NULL;
        if (!PyTuple_Check(bua) || PyTuple_GET_SIZE(bua) != 4) {
            Py_DECREF(bua);
            PyErr_SetString(PyExc_TypeError, "a parsed user agent is a 4-tuple");
            return NULL;
        }
        f[CD_BFAM] = PyTuple_GET_ITEM(bua, 0);
        f[CD_BVER] = PyTuple_GET_ITEM(bua, 1);
        ua_os = PyTuple_GET_ITEM(bua, 2);
        ua_over = PyTuple_GET_ITEM(bua, 3);
    }
    Py_INCREF(f[CD_BFAM]);
    Py_INCREF(f[CD_BVER]);
    if (os_attr != Py_None) {
        PyObject *a = PyDict_GetItemWithError(PyTuple_GET_ITEM(dctx, 6), os_attr);
        if (!a && PyErr_Occurred()) goto fail;
        f[CD_OS_FAMILY] = a ? a : os_attr;
    } else {
        f[CD_OS_FAMILY] = ua_os;
    }
    Py_INCREF(f[CD_OS_FAMILY]);
    if (os_v != Py_None) {
        f[CD_OS_VERSION] = memo_or_call(PyTuple_GET_ITEM(dctx, 4), PyTuple_GET_ITEM(dctx, 5), os_v);
        if (!f[CD_OS_VERSION]) goto fail;
    } else {
        int eq = PyObject_RichCompareBool(f[CD_OS_FAMILY], ua_os, Py_EQ);
        if (eq < 0) goto fail;
        f[CD_OS_VERSION] = eq ? ua_over : Py_None;
        Py_INCREF(f[CD_OS_VERSION]);
    }
    if (app_v != Py_None) {
        f[CD_APPV] = memo_or_call(PyTuple_GET_ITEM(dctx, 4), PyTuple_GET_ITEM(dctx, 5), app_v);
        if (!f[CD_APPV]) goto fail;
    } else {
        f[CD_APPV] = Py_None;
        Py_INCREF(Py_None);
    }
    if (src == Py_None) {
        if (ua != Py_None && os_attr == Py_None) {
            src = PyTuple_GET_ITEM(dctx, 8);
        } else {
            int t = PyObject_IsTrue(os_attr);
            if (t == 0) t = PyObject_IsTrue(app_v);
            if (t < 0) goto fail;
            src = PyTuple_GET_ITEM(dctx, t ? 9 : 8);
        }
    }
    f[CD_SOURCE] = src;
    Py_INCREF(src);
    f[CD_VALUES] = PyList_AsTuple(vals_list);
    if (!f[CD_VALUES]) goto fail;
    f[CD_EXTRA] = extra;
    Py_INCREF(extra);
    Py_XDECREF(bua);
    PyObject *c = new_slots(PyTuple_GET_ITEM(dctx, 0), PyTuple_GET_ITEM(dctx, 1), f, CD_N);
    if (!c) {
        for (int i = 0; i < CD_N; i++) Py_CLEAR(f[i]);
    }
    return c;
fail:
    Py_XDECREF(bua);
    for (int i = 0; i < CD_N; i++) Py_CLEAR(f[i]);
    return NULL;
}

/* sections.renderer_model for an ASCII str: every match of \s*\(0x[0-9a-f]+\)|-\d+(?:\.\d+)+ removed.
 * NULL without an error when not ASCII (the caller hands over to the reference). */
static int is_ws(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f); }

static PyObject *renderer_model_ascii(PyObject *r) {
    if (!PyUnicode_IS_COMPACT_ASCII(r)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(r);
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(r);
    char stackbuf[512], *o = n <= 512 ? stackbuf : PyMem_Malloc((size_t)n + 1);
    if (!o) return PyErr_NoMemory();
    Py_ssize_t m = 0, i = 0;
    while (i < n) {
        Py_ssize_t j = i; /* \s*\(0x[0-9a-f]+\) */
        while (j < n && is_ws(s[j])) j++;
        if (j + 3 < n && s[j] == '(' && s[j + 1] == '0' && s[j + 2] == 'x') {
            Py_ssize_t k = j + 3;
            while (k < n && ((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f'))) k++;
            if (k > j + 3 && k < n && s[k] == ')') {
                i = k + 1;
                continue;
            }
        }
        if (s[i] == '-' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') { /* -\d+(?:\.\d+)+ */
            Py_ssize_t k = i + 1, groups = 0;
            while (k < n && s[k] >= '0' && s[k] <= '9') k++;
            while (k + 1 < n && s[k] == '.' && s[k + 1] >= '0' && s[k + 1] <= '9') {
                k += 2;
                while (k < n && s[k] >= '0' && s[k] <= '9') k++;
                groups++;
            }
            if (groups) {
                i = k;
                continue;
            }
        }
        o[m++] = (char)s[i++];
    }
    PyObject *out = PyUnicode_FromStringAndSize(o, m);
    if (o != stackbuf) PyMem_Free(o);
    return out;
}

/* the Fingerprint of a canonical device whose fields are f (borrowed): actx = (s1_plan, fam_app, fam_web,
 * renderer_idx, touch_idx, fp_cls, fp_descriptors, "app", ()); Py_None (a new reference) when the reference
 * must decide (non-ASCII renderer or touch text) */
static PyObject *assemble(Hasher *h, PyObject *actx, PyObject *c, PyObject **f) {
    if (!PyTuple_Check(actx) || PyTuple_GET_SIZE(actx) != 9 || !PyTuple_Check(f[CD_VALUES]) ||
        !PyUnicode_Check(f[CD_SOURCE])) {
        PyErr_SetString(PyExc_TypeError, "assemble context");
        return NULL;
    }
    PyObject *vals = f[CD_VALUES], *src = f[CD_SOURCE], *fam = f[CD_OS_FAMILY];
    Py_ssize_t nv = PyTuple_GET_SIZE(vals);
    Py_ssize_t ridx = PyLong_AsSsize_t(PyTuple_GET_ITEM(actx, 3)), tidx = PyLong_AsSsize_t(PyTuple_GET_ITEM(actx, 4));
    if (ridx < 0 || ridx >= nv || tidx < 0 || tidx >= nv) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "index out of range");
        return NULL;
    }
    int is_app = PyUnicode_Compare(src, PyTuple_GET_ITEM(actx, 7)) == 0;
    if (PyErr_Occurred()) return NULL;
    /* mobile: source app, iOS / Android, or a touch screen (an ASCII digit string > 0) */
    PyObject *touch = PyTuple_GET_ITEM(vals, tidx);
    int mobile = is_app;
    if (!mobile && fam != Py_None && PyUnicode_Check(fam))
        mobile = PyUnicode_CompareWithASCIIString(fam, "ios") == 0 ||
                 PyUnicode_CompareWithASCIIString(fam, "android") == 0;
    if (!mobile && touch != Py_None) {
        if (!PyUnicode_IS_COMPACT_ASCII(touch)) Py_RETURN_NONE;
        Py_ssize_t tn = PyUnicode_GET_LENGTH(touch);
        const char *ts = (const char *)PyUnicode_DATA(touch);
        int digits = tn > 0, nonzero = 0;
        for (Py_ssize_t i = 0; i < tn; i++) {
            if (ts[i] < '0' || ts[i] > '9') digits = 0;
            else if (ts[i] != '0') nonzero = 1;
        }
        mobile = digits && nonzero;
    }
    /* the hardware family text (sections._family_input) */
    PyObject *idxs = PyTuple_GET_ITEM(actx, is_app ? 1 : 2);
    if (!PyTuple_Check(idxs)) {
        PyErr_SetString(PyExc_TypeError, "family indices");
        return NULL;
    }
    Py_ssize_t np = PyTuple_GET_SIZE(idxs);
    PyObject *parts = PyList_New(3 + np + (is_app ? 0 : 1)), *fam_text = NULL, *missing = NULL, *sep = NULL;
    if (!parts) return NULL;
    missing = PyUnicode_FromStringAndSize("\x00", 1);
    sep = PyUnicode_FromStringAndSize("\x1f", 1);
    PyObject *head = PyUnicode_FromString("fam");
    if (!missing || !sep || !head) {
        Py_XDECREF(head);
        goto fail;
    }
    PyList_SET_ITEM(parts, 0, head);
    Py_INCREF(src);
    PyList_SET_ITEM(parts, 1, src);
#define PART(slot, v)                                                                                     \
    do {                                                                                                  \
        PyObject *pv_ = (v);                                                                              \
        if (pv_ != Py_None && !PyUnicode_Check(pv_)) {                                                    \
            PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");                     \
            goto fail;                                                                                    \
        }                                                                                                 \
        if (pv_ == Py_None || PyUnicode_GET_LENGTH(pv_) == 0) pv_ = missing;                              \
        Py_INCREF(pv_);                                                                                   \
        PyList_SET_ITEM(parts, (slot), pv_);                                                              \
    } while (0)
    PART(2, fam);
    for (Py_ssize_t i = 0; i < np; i++) {
        Py_ssize_t j = tuple_index(idxs, i, nv);
        if (j < 0) goto fail;
        PART(3 + i, PyTuple_GET_ITEM(vals, j));
    }
    if (!is_app) {
        PyObject *rend = PyTuple_GET_ITEM(vals, ridx), *rm = Py_None;
        if (rend != Py_None) {
            if (!PyUnicode_Check(rend)) {
                PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
                goto fail;
            }
            rm = renderer_model_ascii(rend);
            if (!rm) {
                if (PyErr_Occurred()) goto fail;
                Py_DECREF(parts);
                Py_DECREF(missing);
                Py_DECREF(sep);
                Py_RETURN_NONE;
            }
        } else {
            Py_INCREF(rm);
        }
        PART(3 + np, rm);
        Py_DECREF(rm);
    }
#undef PART
    fam_text = PyUnicode_Join(sep, parts);
    Py_CLEAR(parts);
    if (!fam_text) goto fail;
    /* the hashes (sections1) */
    PyObject *os_major = Py_None, *b_major = Py_None;
    if (PyTuple_Check(f[CD_OS_VERSION]) && PyTuple_GET_SIZE(f[CD_OS_VERSION]) > 0)
        os_major = PyTuple_GET_ITEM(f[CD_OS_VERSION], 0);
    if (PyTuple_Check(f[CD_BVER]) && PyTuple_GET_SIZE(f[CD_BVER]) > 0) b_major = PyTuple_GET_ITEM(f[CD_BVER], 0);
    if ((f[CD_OS_VERSION] != Py_None && !PyTuple_Check(f[CD_OS_VERSION])) ||
        (f[CD_BVER] != Py_None && !PyTuple_Check(f[CD_BVER]))) {
        PyErr_SetString(PyExc_TypeError, "versions are tuples or None");
        goto fail;
    }
    PyObject *sargs[8] = {PyTuple_GET_ITEM(actx, 0), vals, src, fam, os_major, f[CD_BFAM], b_major, fam_text};
    if (!PyTuple_Check(sargs[0]) || PyTuple_GET_SIZE(sargs[0]) != 12) {
        PyErr_SetString(PyExc_TypeError, "sections1 plan");
        goto fail;
    }
    PyObject *r = sections1_impl(h, sargs);
    Py_CLEAR(fam_text);
    if (!r) goto fail;
    PyObject *scheme = PyLong_FromLong(1);
    if (!scheme) {
        Py_DECREF(r);
        goto fail;
    }
    PyObject *fv[16] = {
        PyTuple_GET_ITEM(r, 0), PyTuple_GET_ITEM(r, 1), PyTuple_GET_ITEM(r, 2), PyTuple_GET_ITEM(r, 3), scheme, c,
        PyTuple_GET_ITEM(r, 4), PyTuple_GET_ITEM(r, 5), PyTuple_GET_ITEM(actx, 8), PyTuple_GET_ITEM(r, 6),
        PyTuple_GET_ITEM(r, 7), PyTuple_GET_ITEM(r, 8), PyTuple_GET_ITEM(r, 9), PyTuple_GET_ITEM(r, 10),
        PyTuple_GET_ITEM(r, 11), mobile ? Py_True : Py_False};
    PyObject *fp = new_slots(PyTuple_GET_ITEM(actx, 5), PyTuple_GET_ITEM(actx, 6), fv, 16);
    Py_DECREF(scheme);
    Py_DECREF(r);
    Py_DECREF(missing);
    Py_DECREF(sep);
    return fp;
fail:
    Py_XDECREF(parts);
    Py_XDECREF(fam_text);
    Py_XDECREF(missing);
    Py_XDECREF(sep);
    return NULL;
}

/* build1(ctx, device) -> Fingerprint, or None (use the reference): ctx = (canon_args, extras, dctx, actx) with
 * canon_args = (n, keys, strs, resolve, norm, norm_str, norm_cached, values) (canon_values' arguments after the
 * device) and extras(unknown pairs) -> CanonicalDevice.extra. from_canonical(canonicalize(device)) for an exact
 * dict, scheme 1. */
static PyObject *Hasher_build1(Hasher *h, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 4) {
        PyErr_SetString(PyExc_TypeError, "build1(ctx, device)");
        return NULL;
    }
    if (!PyDict_CheckExact(args[1])) Py_RETURN_NONE;
    PyObject *ctx = args[0], *ca = PyTuple_GET_ITEM(ctx, 0);
    if (!PyTuple_Check(ca) || PyTuple_GET_SIZE(ca) != 8) {
        PyErr_SetString(PyExc_TypeError, "canon_values arguments");
        return NULL;
    }
    PyObject *cargs[9] = {args[1]};
    for (int i = 0; i < 8; i++) cargs[i + 1] = PyTuple_GET_ITEM(ca, i);
    PyObject *vu = canon_values(NULL, cargs, 9);
    if (!vu) return NULL;
    PyObject *vals = PyTuple_GET_ITEM(vu, 0), *unknown = PyTuple_GET_ITEM(vu, 1), *extra;
    if (PyList_GET_SIZE(unknown) == 0) {
        extra = PyTuple_New(0);
    } else {
        extra = PyObject_CallOneArg(PyTuple_GET_ITEM(ctx, 1), unknown);
    }
    if (!extra) {
        Py_DECREF(vu);
        return NULL;
    }
    PyObject *f[CD_N];
    PyObject *c = derive(PyTuple_GET_ITEM(ctx, 2), vals, extra, f);
    Py_DECREF(extra);
    Py_DECREF(vu);
    if (!c) return NULL;
    PyObject *fp = assemble(h, PyTuple_GET_ITEM(ctx, 3), c, f);
    Py_DECREF(c);
    for (int i = 0; i < CD_N; i++) Py_DECREF(f[i]);
    return fp;
}

/* assemble1(actx, descriptors, c) -> from_canonical(c) for scheme 1, or None (use the reference): the fields of
 * the CanonicalDevice c read through its member descriptors */
static PyObject *Hasher_assemble1(Hasher *h, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) != CD_N) {
        PyErr_SetString(PyExc_TypeError, "assemble1(actx, descriptors, canonical)");
        return NULL;
    }
    PyObject *f[CD_N];
    for (int i = 0; i < CD_N; i++) {
        PyObject *d = PyTuple_GET_ITEM(args[1], i);
        descrgetfunc get = Py_TYPE(d)->tp_descr_get;
        f[i] = get ? get(d, args[2], (PyObject *)Py_TYPE(args[2])) : NULL;
        if (!f[i]) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "not a member descriptor");
            for (int j = 0; j < i; j++) Py_DECREF(f[j]);
            return NULL;
        }
    }
    PyObject *fp = assemble(h, args[0], args[2], f);
    for (int i = 0; i < CD_N; i++) Py_DECREF(f[i]);
    return fp;
}

/* -- signals.device_signal_values' cached path (reference: fraudscore/fingerprint/signals.py) --------------- */

static PyObject *descr_get(PyObject *d, PyObject *o) {
    descrgetfunc get = Py_TYPE(d)->tp_descr_get;
    if (!get) {
        PyErr_SetString(PyExc_TypeError, "not a member descriptor");
        return NULL;
    }
    return get(d, o, (PyObject *)Py_TYPE(o));
}

/* ASCII str.strip().upper() == want (an ASCII str); -1: not ASCII (the reference decides) */
static int ascii_strip_upper_eq(PyObject *s, PyObject *want) {
    if (!PyUnicode_IS_COMPACT_ASCII(s) || !PyUnicode_IS_COMPACT_ASCII(want)) return -1;
    const unsigned char *a = (const unsigned char *)PyUnicode_DATA(s);
    Py_ssize_t i = 0, j = PyUnicode_GET_LENGTH(s);
    while (i < j && is_ws(a[i])) i++;
    while (j > i && is_ws(a[j - 1])) j--;
    const unsigned char *w = (const unsigned char *)PyUnicode_DATA(want);
    if (j - i != PyUnicode_GET_LENGTH(want)) return 0;
    for (Py_ssize_t k = 0; k < j - i; k++) {
        unsigned char c = a[i + k];
        if (c >= 'a' && c <= 'z') c -= 32;
        if (c != w[k]) return 0;
    }
    return 1;
}

/* signal_row(ctx, fp, event) -> device_signal_values(fp, event) when fp's template row is cached, else None
 * (the reference computes and caches it). ctx = (fp_canonical_descr, cd_descrs(values, extra, source, os_family),
 * static_idx, expected_web, expected_app, rows, tz_idx, timezone_country, tz_pos, "app", "ip_country") */
static PyObject *signal_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 11) {
        PyErr_SetString(PyExc_TypeError, "signal_row(ctx, fp, event)");
        return NULL;
    }
    PyObject *ctx = args[0], *ev = args[2];
    PyObject *cd = descr_get(PyTuple_GET_ITEM(ctx, 0), args[1]);
    if (!cd) return NULL;
    PyObject *cdd = PyTuple_GET_ITEM(ctx, 1), *f[4] = {NULL, NULL, NULL, NULL}, *out = NULL, *key = NULL;
    PyObject *sv = NULL;
    for (int i = 0; i < 4; i++)
        if (!(f[i] = descr_get(PyTuple_GET_ITEM(cdd, i), cd))) goto done;
    PyObject *vals = f[0], *extra = f[1], *src = f[2], *fam = f[3];
    if (!PyTuple_Check(vals) || !PyTuple_Check(extra) || !PyUnicode_Check(src)) {
        PyErr_SetString(PyExc_TypeError, "a canonical device");
        goto done;
    }
    if (PyTuple_GET_SIZE(extra)) { /* the extras' part of the key: the reference */
        out = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t nv = PyTuple_GET_SIZE(vals);
    PyObject *sidx = PyTuple_GET_ITEM(ctx, 2);
    int is_app = PyUnicode_Compare(src, PyTuple_GET_ITEM(ctx, 9)) == 0;
    if (PyErr_Occurred()) goto done;
    PyObject *eidx = PyTuple_GET_ITEM(ctx, is_app ? 4 : 3);
    sv = PyTuple_New(PyTuple_GET_SIZE(sidx));
    if (!sv) goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(sidx); i++) {
        Py_ssize_t j = tuple_index(sidx, i, nv);
        if (j < 0) goto done;
        PyTuple_SET_ITEM(sv, i, Py_NewRef(PyTuple_GET_ITEM(vals, j)));
    }
    long missing = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(eidx); i++) {
        Py_ssize_t j = tuple_index(eidx, i, nv);
        if (j < 0) goto done;
        missing += PyTuple_GET_ITEM(vals, j) == Py_None;
    }
    PyObject *cnt = PyLong_FromLong(missing);
    if (!cnt) goto done;
    PyObject *empty = PyTuple_New(0);
    key = empty ? PyTuple_Pack(5, src, fam, empty, sv, cnt) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(cnt);
    if (!key) goto done;
    PyObject *row = PyDict_GetItemWithError(PyTuple_GET_ITEM(ctx, 5), key);
    if (!row) {
        if (!PyErr_Occurred()) out = Py_NewRef(Py_None);
        goto done;
    }
    if (!PyList_CheckExact(row)) {
        PyErr_SetString(PyExc_TypeError, "cached rows are lists");
        goto done;
    }
    out = PyList_GetSlice(row, 0, PyList_GET_SIZE(row));
    if (!out) goto done;
    PyObject *ipc = NULL;
    if (ev != Py_None) {
        if (!PyDict_CheckExact(ev)) { /* event.get on another mapping: the reference */
            Py_SETREF(out, Py_NewRef(Py_None));
            goto done;
        }
        ipc = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(ctx, 10));
        if (!ipc && PyErr_Occurred()) {
            Py_CLEAR(out);
            goto done;
        }
    }
    if (ipc && PyUnicode_Check(ipc) && PyUnicode_GET_LENGTH(ipc) > 0) {
        Py_ssize_t tzi = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 6)), pos = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 8));
        if (tzi < 0 || tzi >= nv || pos < 0 || pos >= PyList_GET_SIZE(out)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "index out of range");
            Py_CLEAR(out);
            goto done;
        }
        PyObject *tz = PyTuple_GET_ITEM(vals, tzi);
        PyObject *tc = tz == Py_None ? NULL : PyDict_GetItemWithError(PyTuple_GET_ITEM(ctx, 7), tz);
        if (!tc && PyErr_Occurred()) {
            Py_CLEAR(out);
            goto done;
        }
        if (tc) {
            if (!PyUnicode_Check(tc)) {
                Py_SETREF(out, Py_NewRef(Py_None));
                goto done;
            }
            int eq = ascii_strip_upper_eq(ipc, tc);
            if (eq < 0) {
                Py_SETREF(out, Py_NewRef(Py_None));
                goto done;
            }
            PyObject *x = PyFloat_FromDouble(eq ? 0.0 : 1.0);
            if (!x) {
                Py_CLEAR(out);
                goto done;
            }
            PyList_SetItem(out, pos, x);
        }
    }
done:
    Py_XDECREF(key);
    Py_XDECREF(sv);
    for (int i = 0; i < 4; i++) Py_XDECREF(f[i]);
    Py_DECREF(cd);
    return out;
}

static PyMethodDef module_methods[] = {
    {"signal_row", (PyCFunction)(void (*)(void))signal_row, METH_FASTCALL,
     "signal_row(ctx, fp, event) -> device_signal_values(fp, event) from the cached row, or None."},
    {"values_size", (PyCFunction)values_size, METH_O,
     "values_size(values) -> sum(map(sys.getsizeof, filter(None, values)))."},
    {"canon_values", (PyCFunction)(void (*)(void))canon_values, METH_FASTCALL,
     "canon_values(device, n, keys, strs, resolve, norm, norm_str, norm_cached) -> (values, unknown pairs)."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Hasher_methods[] = {
    {"mapping_key", (PyCFunction)Hasher_mapping_key, METH_O,
     "mapping_key(device) -> 16-byte cache key of an exact dict, or None: use the repr key."},
    {"sections1", (PyCFunction)(void (*)(void))Hasher_sections1, METH_FASTCALL,
     "sections1(plan, vals, source, os_family, os_major, browser_family, browser_major, family_text) -> the "
     "hashes of Fingerprinter.from_canonical for scheme 1."},
    {"build1", (PyCFunction)(void (*)(void))Hasher_build1, METH_FASTCALL,
     "build1(ctx, device) -> from_canonical(canonicalize(device)) for an exact dict (scheme 1), or None."},
    {"assemble1", (PyCFunction)(void (*)(void))Hasher_assemble1, METH_FASTCALL,
     "assemble1(actx, descriptors, canonical) -> from_canonical(canonical) (scheme 1), or None."},
    {"h", (PyCFunction)Hasher_h, METH_O, "h(text) -> the keyed xxh3-64 of text."},
    {"hex", (PyCFunction)Hasher_hex, METH_O, "hex(text) -> 12 hex digits (low 48 bits): a section."},
    {"components", (PyCFunction)Hasher_components, METH_VARARGS,
     "components(plan, values) -> keyed 48-bit hashes of the planned values (0 = missing)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.fingerprint.Hasher",
    .tp_basicsize = sizeof(Hasher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hasher(prefix, seed): keyed xxh3 section and component hashes.",
    .tp_methods = Hasher_methods,
    .tp_new = Hasher_new,
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "fingerprint",
    "Sectioned keyed xxh3 hashing (reference: fraudscore/fingerprint/sections.py).", -1, module_methods,
};

PyMODINIT_FUNC PyInit_fingerprint(void) {
    if (PyType_Ready(&HasherType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&HasherType);
    if (PyModule_AddObject(m, "Hasher", (PyObject *)&HasherType) < 0) {
        Py_DECREF(&HasherType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
