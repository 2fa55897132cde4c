/*
 * fraudscore._core.fingerprint, part: Hasher.build1 / assemble1, canonicalize + from_canonical in one call
 * (reference: canonical._derive, sections._family_input, Fingerprinter.from_canonical)
 */
#include "fingerprint.h"

#include "slots.h" /* new_slots */

/* -- canonicalize + from_canonical in one call (reference: canonical._derive, sections._family_input,
 *    Fingerprinter.from_canonical) --------------------------------------------------------------------- */

/* new_slots: slots.h (round 16: shared with rules.c's RuleHit) */

/* -- leaving the cyclic collector (round 13) -------------------------------------------------------------------
 * A built fingerprint lives on in the fingerprinter's cache (and the link state): its CanonicalDevice, its
 * Fingerprint and their tuples were GC-tracked containers that every young collection traversed (the tuples until
 * the collector untracked them itself) and every full collection walked again. None of them can be part of a
 * reference cycle: the tuples hold str / int / None (or such tuples), the two frozen dataclasses hold those and each
 * other. So they are untracked when made, as CPython untracks such tuples at their first collection; a container
 * that holds anything else (a tracked object) stays tracked. Results are unchanged. */

/* 1 when v cannot be part of a cycle: not a GC object, already untracked, or an exact tuple (depth <= 2) of such
 * objects -- which is then untracked */
static inline int gc_atom(PyObject *v) { /* the common leaves, by exact type: no call */
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyUnicode_Type || t == &PyLong_Type || v == Py_None || t == &PyBool_Type || t == &PyFloat_Type;
}

static int gc_leaf(PyObject *v, int depth) {
    if (gc_atom(v) || !PyObject_IS_GC(v) || !PyObject_GC_IsTracked(v)) return 1;
    if (!PyTuple_CheckExact(v) || depth > 2) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v); i++) {
        PyObject *it = PyTuple_GET_ITEM(v, i);
        if (!gc_atom(it) && !gc_leaf(it, depth + 1)) return 0;
    }
    PyObject_GC_UnTrack(v);
    return 1;
}

/* untrack the slots object o whose n field values are vals, when every value is a leaf */
static void gc_untrack_leaf_slots(PyObject *o, PyObject **vals, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) /* round 15: the atoms without a call */
        if (!gc_atom(vals[i]) && !gc_leaf(vals[i], 0)) return;
    if (PyObject_GC_IsTracked(o)) PyObject_GC_UnTrack(o);
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
 * (i_ua, i_os, i_os_version, i_app_version, i_source), "web", "app"); vals: the canonical values' tuple (a new one,
 * not yet shared: it becomes CanonicalDevice.values); f receives the 8 field values (new references); returns the
 * CanonicalDevice */
static PyObject *derive(PyObject *dctx, PyObject *vals, PyObject *extra, PyObject **f) {
    if (!PyTuple_Check(dctx) || PyTuple_GET_SIZE(dctx) != 10 || !PyDict_Check(PyTuple_GET_ITEM(dctx, 2)) ||
        !PyDict_Check(PyTuple_GET_ITEM(dctx, 4)) || !PyDict_Check(PyTuple_GET_ITEM(dctx, 6)) ||
        !PyTuple_Check(PyTuple_GET_ITEM(dctx, 7)) || PyTuple_GET_SIZE(PyTuple_GET_ITEM(dctx, 7)) != 5 ||
        !PyTuple_CheckExact(vals)) {
        PyErr_SetString(PyExc_TypeError, "derive context");
        return NULL;
    }
    for (int i = 0; i < CD_N; i++) f[i] = NULL;
    PyObject *idx = PyTuple_GET_ITEM(dctx, 7), *bua = NULL, *ua_os = Py_None, *ua_over = Py_None;
    Py_ssize_t nv = PyTuple_GET_SIZE(vals), ix[5];
    for (int i = 0; i < 5; i++)
        if ((ix[i] = tuple_index(idx, i, nv)) < 0) return NULL;
    PyObject *ua = PyTuple_GET_ITEM(vals, ix[0]), *os_attr = PyTuple_GET_ITEM(vals, ix[1]);
    PyObject *os_v = PyTuple_GET_ITEM(vals, ix[2]), *app_v = PyTuple_GET_ITEM(vals, ix[3]);
    PyObject *src = PyTuple_GET_ITEM(vals, ix[4]);
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
    f[CD_VALUES] = Py_NewRef(vals); /* round 16: build1's own tuple (it was a list copied here) */
    f[CD_EXTRA] = extra;
    Py_INCREF(extra);
    Py_XDECREF(bua);
    PyObject *c = new_slots(PyTuple_GET_ITEM(dctx, 0), PyTuple_GET_ITEM(dctx, 1), f, CD_N);
    if (!c) {
        for (int i = 0; i < CD_N; i++) Py_CLEAR(f[i]);
    } else {
        gc_untrack_leaf_slots(c, f, CD_N);
    }
    return c;
fail:
    Py_XDECREF(bua);
    for (int i = 0; i < CD_N; i++) Py_CLEAR(f[i]);
    return NULL;
}

/* sections.renderer_model for an ASCII str s[0..n): every match of \s*\(0x[0-9a-f]+\)|-\d+(?:\.\d+)+ removed, the
 * rest written to o (n bytes at most); returns the length written */
static Py_ssize_t renderer_model_into(const unsigned char *s, Py_ssize_t n, char *o) {
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
    return m;
}

/* SEP + (v or MISSING) of the family text into the state: v a str or None (round 15: the text is hashed as it is
 * made, no parts list, no join); raw: v itself (a str, the source), never MISSING. 0, or -1 with an error. */
static int fam_part(HB *st, PyObject *v, int raw) {
    if (v != Py_None && !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
        return -1;
    }
    if (!raw && (v == Py_None || PyUnicode_GET_LENGTH(v) == 0)) {
        hb_update(st, "\x1f\x00", 2);
        return 0;
    }
    hb_update(st, "\x1f", 1);
    return hb_update_str(st, v);
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
    Py_ssize_t ridx = fs_index(PyTuple_GET_ITEM(actx, 3)), tidx = fs_index(PyTuple_GET_ITEM(actx, 4));
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
    /* the hardware family text (sections._family_input): "fam" SEP source SEP os_family SEP value... [SEP renderer
     * model], MISSING for None or empty, hashed as it is written */
    PyObject *idxs = PyTuple_GET_ITEM(actx, is_app ? 1 : 2);
    if (!PyTuple_Check(idxs)) {
        PyErr_SetString(PyExc_TypeError, "family indices");
        return NULL;
    }
    Py_ssize_t np = PyTuple_GET_SIZE(idxs);
    HB fst;
    start(h, &fst);
    hb_update(&fst, "fam", 3);
    if (fam_part(&fst, src, 1) < 0 || fam_part(&fst, fam, 0) < 0) return NULL;
    for (Py_ssize_t i = 0; i < np; i++) {
        Py_ssize_t j = tuple_index(idxs, i, nv);
        if (j < 0 || fam_part(&fst, PyTuple_GET_ITEM(vals, j), 0) < 0) return NULL;
    }
    if (!is_app) {
        PyObject *rend = PyTuple_GET_ITEM(vals, ridx);
        if (rend == Py_None) {
            hb_update(&fst, "\x1f\x00", 2);
        } else {
            if (!PyUnicode_Check(rend)) {
                PyErr_SetString(PyExc_TypeError, "canonical values must be str or None");
                return NULL;
            }
            if (!PyUnicode_IS_COMPACT_ASCII(rend)) Py_RETURN_NONE; /* the reference decides */
            Py_ssize_t rn = PyUnicode_GET_LENGTH(rend);
            char stackbuf[512], *o = rn <= 512 ? stackbuf : PyMem_Malloc((size_t)rn + 1);
            if (!o) return PyErr_NoMemory();
            Py_ssize_t m = renderer_model_into((const unsigned char *)PyUnicode_DATA(rend), rn, o);
            if (m) {
                hb_update(&fst, "\x1f", 1);
                hb_update(&fst, o, (size_t)m);
            } else {
                hb_update(&fst, "\x1f\x00", 2);
            }
            if (o != stackbuf) PyMem_Free(o);
        }
    }
    uint64_t fam_hash = hb_digest(&fst);
    /* the hashes (sections1) */
    PyObject *os_major = Py_None, *b_major = Py_None;
    if (PyTuple_Check(f[CD_OS_VERSION]) && PyTuple_GET_SIZE(f[CD_OS_VERSION]) > 0)
        os_major = PyTuple_GET_ITEM(f[CD_OS_VERSION], 0);
    if (PyTuple_Check(f[CD_BVER]) && PyTuple_GET_SIZE(f[CD_BVER]) > 0) b_major = PyTuple_GET_ITEM(f[CD_BVER], 0);
    if ((f[CD_OS_VERSION] != Py_None && !PyTuple_Check(f[CD_OS_VERSION])) ||
        (f[CD_BVER] != Py_None && !PyTuple_Check(f[CD_BVER]))) {
        PyErr_SetString(PyExc_TypeError, "versions are tuples or None");
        return NULL;
    }
    PyObject *sargs[8] = {PyTuple_GET_ITEM(actx, 0), vals, src, fam, os_major, f[CD_BFAM], b_major, Py_None};
    if (!PyTuple_Check(sargs[0]) || PyTuple_GET_SIZE(sargs[0]) != 12) {
        PyErr_SetString(PyExc_TypeError, "sections1 plan");
        return NULL;
    }
    PyObject *r = fp_sections1_h(h, sargs, fam_hash);
    if (!r) return NULL;
    PyObject *scheme = PyLong_FromLong(1);
    if (!scheme) {
        Py_DECREF(r);
        return NULL;
    }
    PyObject *fv[16] = {
        PyTuple_GET_ITEM(r, 0), PyTuple_GET_ITEM(r, 1), PyTuple_GET_ITEM(r, 2), PyTuple_GET_ITEM(r, 3), scheme, c,
        PyTuple_GET_ITEM(r, 4), PyTuple_GET_ITEM(r, 5), PyTuple_GET_ITEM(actx, 8), PyTuple_GET_ITEM(r, 6),
        PyTuple_GET_ITEM(r, 7), PyTuple_GET_ITEM(r, 8), PyTuple_GET_ITEM(r, 9), PyTuple_GET_ITEM(r, 10),
        PyTuple_GET_ITEM(r, 11), mobile ? Py_True : Py_False};
    PyObject *fp = new_slots(PyTuple_GET_ITEM(actx, 5), PyTuple_GET_ITEM(actx, 6), fv, 16);
    if (fp) gc_untrack_leaf_slots(fp, fv, 16); /* c is a leaf only when derive untracked it */
    Py_DECREF(scheme);
    Py_DECREF(r);
    return fp;
}

/* build1(ctx, device) -> Fingerprint, or None (use the reference): ctx = (canon_args, extras, dctx, actx) with
 * canon_args = (n, keys, strs, resolve, norm, norm_str, norm_cached, values[, ints, norm_int]) (canon_values' arguments after the
 * device) and extras(unknown pairs) -> CanonicalDevice.extra. from_canonical(canonicalize(device)) for an exact
 * dict, scheme 1. */
PyObject *Hasher_build1(Hasher *h, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 4) {
        PyErr_SetString(PyExc_TypeError, "build1(ctx, device)");
        return NULL;
    }
    if (!PyDict_CheckExact(args[1])) Py_RETURN_NONE;
    PyObject *ctx = args[0], *ca = PyTuple_GET_ITEM(ctx, 0);
    Py_ssize_t nca = PyTuple_Check(ca) ? PyTuple_GET_SIZE(ca) : -1;
    if (nca != 8 && nca != 10) { /* round 17: 10 with the int memos (ints, norm_int) */
        PyErr_SetString(PyExc_TypeError, "canon_values arguments");
        return NULL;
    }
    PyObject *cargs[11] = {args[1]};
    for (Py_ssize_t i = 0; i < nca; i++) cargs[i + 1] = PyTuple_GET_ITEM(ca, i);
    /* round 16: the canonical values written into the CanonicalDevice's tuple itself (no list, no copy, no pair) */
    Py_ssize_t n = fp_canon_check(cargs, nca + 1);
    if (n < 0) return NULL;
    PyObject *vals = PyTuple_New(n), *unknown = NULL, *extra;
    if (!vals) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(vals, i, Py_NewRef(Py_None));
    if (fp_canon_fill(cargs, nca + 1, &PyTuple_GET_ITEM(vals, 0), n, &unknown) < 0) {
        Py_DECREF(vals);
        Py_XDECREF(unknown);
        return NULL;
    }
    if (!unknown) {
        extra = PyTuple_New(0);
    } else {
        extra = PyObject_CallOneArg(PyTuple_GET_ITEM(ctx, 1), unknown);
    }
    Py_XDECREF(unknown);
    if (!extra) {
        Py_DECREF(vals);
        return NULL;
    }
    PyObject *f[CD_N];
    PyObject *c = derive(PyTuple_GET_ITEM(ctx, 2), vals, extra, f);
    Py_DECREF(extra);
    Py_DECREF(vals);
    if (!c) return NULL;
    PyObject *fp = assemble(h, PyTuple_GET_ITEM(ctx, 3), c, f);
    Py_DECREF(c);
    for (int i = 0; i < CD_N; i++) Py_DECREF(f[i]);
    return fp;
}

/* assemble1(actx, descriptors, c) -> from_canonical(c) for scheme 1, or None (use the reference): the fields of
 * the CanonicalDevice c read through its member descriptors */
PyObject *Hasher_assemble1(Hasher *h, PyObject *const *args, Py_ssize_t nargs) {
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
