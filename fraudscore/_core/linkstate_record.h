/*
 * The new link record of fraudscore._core.linkstate (reference: fraudscore/fingerprint/linkfeatures.py make_record):
 * ``make_record`` and its helpers (the shared version lists, the record template stored in place). Moved out of
 * linkstate_decide.h in round 16 (``linkonce``; a move, plus the fingerprint's objects taken from the parse handed
 * down to select where linkstate made one: linkfp.h).
 *
 * Included by linkstate_decide.h (one compilation unit; setup.py lists it among linkstate's rebuild dependencies).
 */
#ifndef FRAUDSCORE_LINKSTATE_RECORD_H
#define FRAUDSCORE_LINKSTATE_RECORD_H

/* linkfeatures._shared_list(v) if v else None (new reference; NULL with an exception set) */
static PyObject *shared_list(PyObject *v) {
    PyObject *hit;
    if (v == Py_None || PyTuple_GET_SIZE(v) == 0) return Py_NewRef(Py_None);
    hit = PyDict_GetItemWithError(LISTS, v);
    if (hit != NULL) return Py_NewRef(hit);
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallOneArg(SHARED_LIST, v);
}

static PyObject *REC_TEMPLATE; /* {key: None} in make_record's key order (made on first use, kept) */

/* The values of a fresh copy of REC_TEMPLATE stored in its entries directly (round 13): CPython 3.11 / 3.12's layout
 * of a combined dict of str keys (Include/internal/pycore_dict.h: the keys object's header, its index bytes, then
 * (key, value) entries in insertion order), checked on every copy -- a combined table (no split values) of the
 * str kind whose 16 entries hold the template's very key objects with None -- else the 16 PyDict_SetItem calls.
 * The copy is new and nothing has seen it, so its version tag (from the copy) stays valid for what it then holds;
 * the values are untracked containers, ints and str (no GC tracking to maintain: the record is untracked anyway). */
#include "dict_layout.h" /* dict_entries */
#if DICT_LAYOUT
/* the copy's 16 entries, or NULL (another layout: the caller stores through PyDict_SetItem) */
static dl_entry_t *rec_entries(PyObject *rec, PyObject **const *keys) {
    dl_entry_t *e = dict_entries(rec, 16);
    int i;
    if (e == NULL) return NULL;
    for (i = 0; i < 16; ++i) {
        if (e[i].me_key != *keys[i] || e[i].me_value != Py_None) return NULL;
    }
    return e;
}
#define REC_DIRECT 1
static int REC_DIRECT_ON = 1;  /* direct_records(False) turns it off (tests compare both) */
static uint64_t REC_DIRECT_HITS; /* records made this way */
#else
#define REC_DIRECT 0
#endif

/* list(t) of an exact tuple: the same items in a list of exactly their number (round 14: PySequence_List grows an
 * empty list through list.extend); NULL with an exception set */
static PyObject *list_of_tuple(PyObject *t) {
    Py_ssize_t i, n = PyTuple_GET_SIZE(t);
    PyObject *l = PyList_New(n);
    if (l == NULL) return NULL;
    for (i = 0; i < n; ++i) PyList_SET_ITEM(l, i, Py_NewRef(PyTuple_GET_ITEM(t, i)));
    return l;
}

/* linkfeatures.make_record(fp, did, now, prev, ip) (new reference; NULL: hand over, nothing set) */
static PyObject *make_record(fpl_t *f, PyObject *did, PyObject *now_obj, int64_t now, PyObject *prev,
                             PyObject *ip, PyObject *fp_id) {
    PyObject *rec = NULL, *bf = NULL, *o = NULL;
    PyObject *vals[16];
    int i, nv = 0;
    static PyObject **keys[16] = {&K_id, &K_fp, &K_fam, &K_bf, &K_ov, &K_bv, &K_av, &K_c,
                                  &K_r, &K_fs, &K_fn, &K_lg, &K_ip, &K_f, &K_t, &K_n};
    int64_t pt;
    if (fpl_versions(f) != 0) return NULL;
    if (f->info != NULL) { /* read_fp's (round 16): the same object, interned there when a str */
        bf = Py_NewRef(f->info->bf);
    } else {
        if ((bf = getattr_clear(f->canonical, A_browser_family)) == NULL) return NULL;
        if (PyUnicode_CheckExact(bf)) PyUnicode_InternInPlace(&bf);
    }
    vals[nv++] = Py_NewRef(did);
    vals[nv++] = Py_NewRef(fp_id);
    if (f->info != NULL) { /* read_fp interned fp.family: the object intern() returns (round 16) */
        vals[nv++] = Py_NewRef(f->info->fam);
    } else {
        vals[nv] = Py_NewRef(f->family);
        PyUnicode_InternInPlace(&vals[nv++]); /* intern(fp.family) */
    }
    vals[nv++] = bf;
    for (i = 0; i < 3; ++i) {
        if ((o = shared_list(f->ver_obj[i])) == NULL) goto fail;
        vals[nv++] = o;
    }
    if ((vals[nv++] = untracked(list_of_tuple(f->comps_obj))) == NULL) goto fail; /* comps_obj: an exact tuple */
    /* the fingerprint's attributes, or the same objects as read_fp read them (round 16) */
#define FP_ATTR(name, held) (f->info != NULL ? Py_NewRef(f->info->held) : getattr_clear(f->fp, name))
#define ATTR_INT(name, held)                                                                   \
    if ((o = FP_ATTR(name, held)) == NULL || !PyLong_CheckExact(o)) { Py_XDECREF(o); goto fail; } \
    vals[nv++] = o;
#define ATTR_LIST(name, held)                                                                  \
    if ((o = FP_ATTR(name, held)) == NULL || !PyTuple_CheckExact(o)) { Py_XDECREF(o); goto fail; } \
    vals[nv] = untracked(list_of_tuple(o));                                                    \
    Py_DECREF(o);                                                                              \
    if (vals[nv++] == NULL) goto fail;
    ATTR_INT(A_renderer, rend_obj)
    ATTR_LIST(A_fonts_sketch, fs_obj)
    ATTR_INT(A_font_count, fc_obj)
    ATTR_LIST(A_lang_items, lg_obj)
#undef FP_ATTR
#undef ATTR_INT
#undef ATTR_LIST
    if (prev == NULL) {
        vals[nv++] = Py_NewRef(PyObject_IsTrue(ip) ? ip : I_zero);
        vals[nv++] = Py_NewRef(now_obj);
        vals[nv++] = Py_NewRef(now_obj);
        vals[nv++] = Py_NewRef(I_one);
    } else {
        PyObject *pip = item(prev, K_ip), *pf = item(prev, K_f), *ptobj = item(prev, K_t), *pn = item(prev, K_n);
        if (pip == NULL || pf == NULL || ptobj == NULL || pn == NULL || !PyLong_CheckExact(pn) ||
            !PyLong_CheckExact(ptobj) || as_i64(ptobj, &pt) != 0)
            goto fail;
        vals[nv++] = Py_NewRef(PyObject_IsTrue(ip) ? ip : pip);
        vals[nv++] = Py_NewRef(pf);
        vals[nv++] = Py_NewRef(now > pt ? now_obj : ptobj); /* max(prev["t"], now) */
        if ((vals[nv++] = PyNumber_Add(pn, I_one)) == NULL) goto fail;
    }
    /* a copy of the 16-key template (its keys in this order, values None) with each value replaced: the same dict
     * (keys, order, values) as 16 insertions into an empty one, at about half the instructions (round 12: the
     * copy clones the template's key table; each store then finds its key at the first probe by identity) */
    if (REC_TEMPLATE == NULL) {
        if ((REC_TEMPLATE = PyDict_New()) == NULL) goto fail;
        for (i = 0; i < 16; ++i) {
            if (PyDict_SetItem(REC_TEMPLATE, *keys[i], Py_None) != 0) {
                Py_CLEAR(REC_TEMPLATE);
                goto fail;
            }
        }
    }
    if ((rec = PyDict_Copy(REC_TEMPLATE)) == NULL) goto fail;
#if REC_DIRECT
    {
        dl_entry_t *e = REC_DIRECT_ON ? rec_entries(rec, keys) : NULL;
        if (e != NULL) { /* each None replaced by its value (the reference moves from vals to the dict) */
            for (i = 0; i < 16; ++i) {
                e[i].me_value = vals[i];
                Py_DECREF(Py_None);
            }
            ++REC_DIRECT_HITS;
            return untracked(rec);
        }
    }
#endif
    for (i = 0; i < 16; ++i) {
        if (PyDict_SetItem(rec, *keys[i], vals[i]) != 0) goto fail;
    }
    for (i = 0; i < nv; ++i) Py_DECREF(vals[i]);
    return untracked(rec);
fail:
    for (i = 0; i < nv; ++i) Py_DECREF(vals[i]);
    Py_XDECREF(rec);
    PyErr_Clear();
    return NULL;
}

#endif /* FRAUDSCORE_LINKSTATE_RECORD_H */
