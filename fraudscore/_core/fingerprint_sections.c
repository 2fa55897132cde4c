/*
 * fraudscore._core.fingerprint, part: Hasher.sections1, the keyed hashing of Fingerprinter.from_canonical
 * for scheme 1 (reference: fraudscore/fingerprint/sections.py)
 */
#include "fingerprint.h"

/* -- the whole of Fingerprinter.from_canonical's hashing for scheme 1 in one call ------------------------- */

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
    return hb_update_str(st, v);
}

static int upd_idx(HB *st, PyObject *vals, PyObject *idx) {
    Py_ssize_t n = PyTuple_GET_SIZE(idx), nv = PyTuple_GET_SIZE(vals);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t j = fs_index(PyTuple_GET_ITEM(idx, i));
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
PyObject *Hasher_sections1(Hasher *h, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 12 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sections1(plan, vals, source, os_family, os_major, browser_family, "
                                         "browser_major, family_text)");
        return NULL;
    }
    return fp_sections1(h, args);
}

/* "fp1_" + a + "_" + b + "_" + c for three 12-character ASCII hex strs (hex12), without the format parser */
static PyObject *fp_id1(PyObject *a, PyObject *b, PyObject *c) {
    PyObject *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (!PyUnicode_IS_COMPACT_ASCII(parts[i]) || PyUnicode_GET_LENGTH(parts[i]) != 12)
            return PyUnicode_FromFormat("fp1_%U_%U_%U", a, b, c);
    PyObject *r = PyUnicode_New(4 + 3 * 13 - 1, 127);
    if (!r) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    memcpy(o, "fp1_", 4);
    for (int i = 0; i < 3; i++) {
        memcpy(o + 4 + 13 * i, PyUnicode_DATA(parts[i]), 12);
        if (i < 2) o[4 + 13 * i + 12] = '_';
    }
    return r;
}

/* str(v) into the state: an exact int in [0, 10**18) written directly (the versions' majors), anything else through
 * PyObject_Str (round 15: no str object for the common case) */
static int upd_major(HB *st, PyObject *v) {
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (!overflow && x >= 0 && x < 1000000000000000000LL) {
            char buf[24];
            int n = 0;
            do {
                buf[sizeof(buf) - 1 - n++] = (char)('0' + x % 10);
                x /= 10;
            } while (x);
            hb_update(st, buf + sizeof(buf) - n, (size_t)n);
            return 0;
        }
        if (PyErr_Occurred()) return -1;
    }
    PyObject *s = PyObject_Str(v);
    if (!s) return -1;
    int r = hb_update_str(st, s);
    Py_DECREF(s);
    return r;
}

/* the family section's hash h(family_text) of a str (the sections1 method's argument) */
static int fam_hash_of(Hasher *h, PyObject *fam_text, uint64_t *out) {
    HB st;
    start(h, &st);
    if (hb_update_str(&st, fam_text) < 0) return -1;
    *out = hb_digest(&st);
    return 0;
}

PyObject *fp_sections1(Hasher *h, PyObject *const *args) {
    if (!PyUnicode_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "source, os_family, browser_family and family_text must be str");
        return NULL;
    }
    uint64_t fh;
    if (fam_hash_of(h, args[7], &fh) < 0) return NULL;
    return fp_sections1_h(h, args, fh);
}

/* sections1 with the family text's hash given (args[7] unused): build1 streams the family text into the hash
 * without making it (round 15) */
PyObject *fp_sections1_h(Hasher *h, PyObject *const *args, uint64_t fam_hash) {
    PyObject *plan = args[0], *vals = args[1], *src = args[2], *fam = args[3];
    if (!PyUnicode_Check(src) || (fam != Py_None && !PyUnicode_Check(fam)) ||
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
    if (hb_update_str(&st, src) < 0 || upd_part(&st, fam) < 0 || upd_idx(&st, vals, hwi) < 0) return NULL;
    hw = hb_digest(&st) & MASK48;
    /* software */
    start(h, &st);
    hb_update(&st, "1\x1fsw\x1f", 5);
    if (hb_update_str(&st, src) < 0 || upd_part(&st, fam) < 0) return NULL;
    hb_update(&st, "\x1f", 1);
    if (upd_major(&st, args[4]) < 0 || upd_part(&st, args[5]) < 0) return NULL;
    hb_update(&st, "\x1f", 1);
    if (upd_major(&st, args[6]) < 0) return NULL;
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
    res[0] = fp_id1(res[1], res[2], res[3]); /* == PyUnicode_FromFormat("fp1_%U_%U_%U", ...) */
    if (!res[0]) goto fail;
    /* components, canvas, link keys */
    PyObject *cplan = PyTuple_GET_ITEM(plan, 4);
    if (!PyTuple_Check(cplan)) {
        PyErr_SetString(PyExc_TypeError, "components plan");
        goto fail;
    }
    uint64_t comps[64]; /* round 15: the components as numbers, their tuple made once */
    Py_ssize_t nc = fp_components_into(h, cplan, vals, comps, 64);
    if (nc < 0 || !(res[4] = fp_u64_tuple(comps, nc))) goto fail;
    Py_ssize_t cpos = fs_index(PyTuple_GET_ITEM(plan, 6)), cidx = fs_index(PyTuple_GET_ITEM(plan, 7));
    Py_ssize_t ridx = fs_index(PyTuple_GET_ITEM(plan, 8)), fidx = fs_index(PyTuple_GET_ITEM(plan, 9));
    Py_ssize_t lidx = fs_index(PyTuple_GET_ITEM(plan, 10)), k = fs_index(PyTuple_GET_ITEM(plan, 11));
    Py_ssize_t nv = PyTuple_GET_SIZE(vals);
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
        res[5] = hex12_prefixed("c:", 2, NULL, comps[cpos]);
        if (!res[5]) goto fail;
    }
    PyObject *tags = PyTuple_GET_ITEM(plan, 5);
    PyObject *keys = PyList_New(0);
    if (!keys) goto fail;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tags); i++) {
        PyObject *t = PyTuple_GET_ITEM(tags, i);
        Py_ssize_t p = fs_index(PyTuple_GET_ITEM(t, 0));
        if (p < 0 || p >= nc) {
            Py_DECREF(keys);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "anchor index out of range");
            goto fail;
        }
        uint64_t c = comps[p];
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
    res[7] = hex12(fam_hash & MASK48);
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
        if (hb_update_str(&st, rend) < 0) goto fail;
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
    /* round 13: the components, link keys and sketches hold ints / strs made here, so they cannot be in a cycle:
     * untracked now (the collector would untrack them at its first pass; build1 untracks what holds them) */
    for (int i = 4; i < 12; i++)
        if ((i == 4 || i == 6 || i == 9 || i == 11) && PyTuple_CheckExact(res[i]) && PyObject_GC_IsTracked(res[i]))
            PyObject_GC_UnTrack(res[i]);
    PyObject *out = PyTuple_New(12);
    if (!out) goto fail;
    for (int i = 0; i < 12; i++) PyTuple_SET_ITEM(out, i, res[i]);
    return out;
fail:
    for (int i = 0; i < 12; i++) Py_XDECREF(res[i]);
    return NULL;
}
