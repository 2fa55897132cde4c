/*
 * The whole DeviceLinker.link of fraudscore._core.linkstate in one call (``entry``: keys, IP hash, the link, the
 * LinkResult) and the module's configuration and test switches (``configure_entry``, ``configure``, ``round3``,
 * ``direct_records``). Split out of linkstate.c in round 13 (a move, no change of behaviour); included by
 * linkstate.c only, after linkstate_decide.h (one compilation unit).
 */
#ifndef FRAUDSCORE_LINKSTATE_ENTRY_H
#define FRAUDSCORE_LINKSTATE_ENTRY_H

/* ---- the whole DeviceLinker.link in one call: keys, ip, the link, the LinkResult -------------------------- */
#define KEY_MEMO_MAX 65536
#define MASK48 (((uint64_t)1 << 48) - 1)

/* an exact int in [lo, hi) or -1 (hand over) */
static int int_in(PyObject *o, int64_t lo, int64_t hi, int64_t *out) {
    if (o == NULL || !PyLong_CheckExact(o) || as_i64(o, out) != 0) return -1;
    return *out >= lo && *out < hi ? 0 : -1;
}


#include "linkstate_keys.h"

/* The linker's instance dict as last read by entry (round 16): its address and ma_version_tag (CPython 3.11 / 3.12: a
 * fresh tag from one global counter when a dict is made and whenever its items change -- linker.c's BC_MEMO relies
 * on the same) and the nine values read from it (borrowed: held by that dict). While entry finds the same unchanged
 * dict, the same lookups would give the same objects, so they are skipped; every check of a value (its type) is
 * still made every call. entry_memo(False) empties and switches it off (tests compare both). */
static struct en_memo_s {
    PyObject *ld; /* identity only */
    uint64_t tag; /* 0: empty */
    PyObject *state, *best, *ip_memo, *results, *key_memo, *variant_memo, *min_family, *prior, *link_p;
} EN_MEMO;
static int EN_MEMO_ON = DICT_LAYOUT;

/* entry_memo([on]) -> whether entry remembers its reads of the linker's dict (EN_MEMO) */
static PyObject *ls_entry_memo(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "entry_memo([on])", &on);
    if (given < 0) return NULL;
    if (given) {
        EN_MEMO_ON = on && DICT_LAYOUT;
        EN_MEMO.tag = 0;
    }
    return Py_NewRef(EN_MEMO_ON ? Py_True : Py_False);
}

/* 1 equal, 0 not, -1 error */
static int same(PyObject *a, PyObject *b) { return a == b ? 1 : PyObject_RichCompareBool(a, b, Py_EQ); }

/* the linker's keys of fp (new reference): the memo's entry, else computed here and memoised; the reference
 * (linker._keys) for a memo entry of another variant or a fingerprint compute_keys does not handle. NULL with
 * an exception: raised by the reference */
static PyObject *entry_keys(PyObject *linker, PyObject *memo, PyObject *vmemo, PyObject *fp) {
    PyObject *fid = NULL, *hit, *fs = NULL, *al = NULL, *k = NULL, *mkey;
    int ok;
    if (memo == NULL || !PyDict_CheckExact(memo)) goto ref;
    if ((fid = getattr_clear(fp, A_id)) == NULL || !PyUnicode_CheckExact(fid)) goto ref;
    hit = PyDict_GetItemWithError(memo, fid);
    if (hit == NULL && PyErr_Occurred()) goto ref;
    if (hit != NULL) { /* the font sketch and aliases are not part of the id: the entry must be this variant's */
        if (!PyTuple_CheckExact(hit) || PyTuple_GET_SIZE(hit) != 10) goto ref;
        if ((fs = getattr_clear(fp, A_fonts_sketch)) == NULL || (al = getattr_clear(fp, A_aliases)) == NULL) goto ref;
        ok = same(PyTuple_GET_ITEM(hit, 5), fs);
        if (ok == 1) ok = same(PyTuple_GET_ITEM(hit, 8), al);
        if (ok < 0) goto ref;
        if (ok) {
            k = Py_NewRef(hit);
            goto done;
        }
        /* another variant of a known id: the variant memo, keyed (id, font sketch, aliases) */
        memo = vmemo;
        if (memo == NULL || !PyDict_CheckExact(memo) || (mkey = PyTuple_Pack(3, fid, fs, al)) == NULL) goto ref;
        hit = PyDict_GetItemWithError(memo, mkey);
        if (hit != NULL) {
            Py_DECREF(mkey);
            k = Py_NewRef(hit);
            goto done;
        }
    } else {
        mkey = Py_NewRef(fid);
    }
    if (PyErr_Occurred() || (k = compute_keys(fp)) == NULL) {
        Py_DECREF(mkey);
        goto ref;
    }
    if (PyDict_GET_SIZE(memo) >= KEY_MEMO_MAX) PyDict_Clear(memo);
    ok = PyDict_SetItem(memo, mkey, k);
    Py_DECREF(mkey);
    if (ok != 0) Py_CLEAR(k); /* an exception (memory) */
done:
    Py_XDECREF(fid);
    Py_XDECREF(fs);
    Py_XDECREF(al);
    return k;
ref:
    PyErr_Clear();
    Py_XDECREF(fid);
    Py_XDECREF(fs);
    Py_XDECREF(al);
    return PyObject_CallMethodOneArg(linker, M_keys, fp);
}

/* a LinkResult of fields (did, conf, changed, new, how) without its dataclass __init__ (new reference) */
static PyObject *new_result(PyObject *fields) {
    PyObject *o = RESULT_T->tp_alloc(RESULT_T, 0);
    int i;
    if (o == NULL) return NULL;
    for (i = 0; i < 5; ++i) {
        if (fast_set_slot(o, R_fields[i], PyTuple_GET_ITEM(fields, i)) != 0) { /* object.__setattr__ */
            Py_DECREF(o);
            return NULL;
        }
    }
    return untracked(o); /* str, float, a tuple of str, bool, str: frozen, no cycle through it (see untracked) */
}

/* entry(linker, fp, ts_ms, ip[, fields]): DeviceLinker.link(fp, ts_ms, ip) over a MemoryLinkState in one call (the
 * LinkResult), or None: the caller runs DeviceLinker.link's Python path (nothing changed). fields=True (round 17,
 * linker.c's link_rows, which reads only the id and the confidence): a new device's result is handed back as the
 * tuple of its fields (device_id, link_confidence, changed, new, how) -- the LinkResult's very field objects --
 * instead of the LinkResult made of them (a new device's result is never memoised, so nothing else differs); any
 * other result is the LinkResult, through the memo as without it. */
static PyObject *ls_entry(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *linker, *fp, *now_obj, *ip, *ld = NULL, *state, *keys = NULL, *got = NULL;
    PyObject *res = NULL, *results, *ipv, *a[11], *held[3] = {NULL, NULL, NULL};
    struct en_memo_s en;
    int fields;
    (void)mod;
    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "entry(linker, fp, ts_ms, ip[, fields])");
        return NULL;
    }
    fields = nargs == 5 && args[4] == Py_True;
    linker = args[0];
    fp = args[1];
    now_obj = args[2];
    ip = args[3];
    if (LINKER_T == NULL || NAMES == NULL || Py_TYPE(linker) != LINKER_T || Py_TYPE(fp) != FP_T ||
        !PyLong_CheckExact(now_obj))
        Py_RETURN_NONE;
    if ((ld = PyObject_GenericGetDict(linker, NULL)) == NULL || !PyDict_CheckExact(ld)) goto hand;
    if (!(EN_MEMO_ON && ld == EN_MEMO.ld && EN_MEMO.tag != 0 && dict_tag(ld) == EN_MEMO.tag)) { /* see EN_MEMO */
        EN_MEMO.tag = 0;
        EN_MEMO.state = item(ld, A_state);
        EN_MEMO.best = item(ld, A_best);
        EN_MEMO.ip_memo = item(ld, A_ip_memo);
        EN_MEMO.results = item(ld, A_results);
        EN_MEMO.key_memo = item(ld, A_key_memo);
        EN_MEMO.variant_memo = item(ld, A_variant_memo);
        EN_MEMO.min_family = item(ld, A_min_family);
        EN_MEMO.prior = item(ld, A_prior);
        EN_MEMO.link_p = item(ld, A_link_p);
        EN_MEMO.ld = ld;
        if (EN_MEMO_ON) EN_MEMO.tag = dict_tag(ld);
    }
    en = EN_MEMO; /* a copy: a call below may run Python code that links on another linker (and refills EN_MEMO) */
    if ((state = en.state) == NULL || Py_TYPE(state) != STATE_T) goto hand;
    if (en.best != NULL) goto hand; /* best_candidate replaced on the instance: the Python path */
    if (ip == Py_None) {
        ip = I_zero;
    } else if (!PyLong_CheckExact(ip)) {
        PyObject *memo = en.ip_memo;
        if (!PyUnicode_CheckExact(ip) || memo == NULL || !PyDict_CheckExact(memo)) goto hand;
        ipv = PyDict_GetItemWithError(memo, ip);
        if (ipv == NULL) { /* (xxh3_64(str(ip).encode()) & MASK48) or 1, memoised as link() does */
            Py_ssize_t len;
            const char *utf;
            uint64_t h;
            if (PyErr_Occurred() || (utf = PyUnicode_AsUTF8AndSize(ip, &len)) == NULL) goto hand;
            h = XXH3_64bits(utf, (size_t)len) & MASK48;
            if ((ipv = PyLong_FromUnsignedLongLong((unsigned long long)(h ? h : 1))) == NULL) goto fail;
            if (PyDict_GET_SIZE(memo) >= KEY_MEMO_MAX) PyDict_Clear(memo);
            if (PyDict_SetItem(memo, ip, ipv) != 0) {
                Py_DECREF(ipv);
                goto fail;
            }
            Py_DECREF(ipv); /* held by the memo */
        } else if (!PyLong_CheckExact(ipv) || !PyObject_IsTrue(ipv)) {
            goto hand;
        }
        ip = ipv;
    }
    if ((results = en.results) == NULL || !PyDict_CheckExact(results)) goto hand;
    /* held for the call: the linker's attributes could be replaced by the Python code called back */
    held[0] = Py_NewRef(state);
    held[1] = Py_NewRef(ip);
    held[2] = Py_NewRef(results);
    if ((keys = entry_keys(linker, en.key_memo, en.variant_memo, fp)) == NULL) goto fail;
    if (en.tag != 0 && dict_tag(ld) == en.tag) { /* ld unchanged by the keys' Python code: the same values */
        a[5] = en.min_family;
        a[6] = en.prior;
        a[7] = en.link_p;
    } else {
        a[5] = item(ld, A_min_family);
        a[6] = item(ld, A_prior);
        a[7] = item(ld, A_link_p);
    }
    a[0] = state;
    a[1] = fp;
    a[2] = keys;
    a[3] = now_obj;
    a[4] = ip;
    if (a[5] == NULL || a[6] == NULL || a[7] == NULL) goto hand;
    a[8] = state;  /* its _walk, read where the candidates are walked */
    a[9] = linker; /* its best_candidate, called where the candidates are scored */
    a[10] = NEW_ID;
    if ((got = ls_link(NULL, a, 11)) == NULL) goto fail;
    if (got == Py_None) goto hand;
    /* a new device's result never repeats (its id is new): made without the memo's lookup and insert (round 12;
     * the memo only shares immutable objects, so what the caller sees is the same) */
    if (PyTuple_GET_ITEM(got, 3) == Py_True) {
        res = fields ? Py_NewRef(got) : new_result(got);
        goto done;
    }
    res = PyDict_GetItemWithError(results, got);
    if (res != NULL) {
        Py_INCREF(res);
    } else if (!PyErr_Occurred() && (res = new_result(got)) != NULL) {
        if (PyDict_GET_SIZE(results) >= KEY_MEMO_MAX) PyDict_Clear(results);
        if (PyDict_SetItem(results, got, res) != 0) Py_CLEAR(res);
    }
    goto done;
hand:
    PyErr_Clear();
    res = Py_NewRef(Py_None);
    goto done;
fail:
    res = NULL;
done:
    Py_XDECREF(ld);
    Py_XDECREF(keys);
    Py_XDECREF(got);
    Py_XDECREF(held[0]);
    Py_XDECREF(held[1]);
    Py_XDECREF(held[2]);
    return res;
}

/* positions from a tuple of ints in [0, NCOMP) into out; -1 with TypeError */
static int read_positions(PyObject *t, int *out, int *n) {
    Py_ssize_t i;
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) > NCOMP) goto bad;
    for (i = 0; i < PyTuple_GET_SIZE(t); ++i) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(t, i));
        if (v < 0 || v >= NCOMP) goto bad;
        out[i] = (int)v;
    }
    *n = (int)PyTuple_GET_SIZE(t);
    return 0;
bad:
    PyErr_Clear();
    PyErr_SetString(PyExc_TypeError, "positions must be a tuple of component positions");
    return -1;
}

/* whether f is fraudscore._core.linker's best_candidate (it takes the parsed fingerprint as a sixth argument) */
static int is_glue_best(PyObject *f) {
    PyObject *self;
    const char *name;
    if (!PyCFunction_Check(f) || strcmp(((PyCFunctionObject *)f)->m_ml->ml_name, "best_candidate") != 0) return 0;
    self = PyCFunction_GET_SELF(f);
    if (self == NULL || !PyModule_Check(self) || (name = PyModule_GetName(self)) == NULL) {
        PyErr_Clear();
        return 0;
    }
    return strcmp(name, "fraudscore._core.linker") == 0;
}

/* fp_hand([on]) -> (on, count): whether link hands its parse of the fingerprint down to select (round 16), and the
 * link calls that did */
static PyObject *ls_fp_hand(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "fp_hand([on])", &on);
    if (given < 0) return NULL;
    if (given) {
        HAND_ON = on;
    }
    return Py_BuildValue("(OK)", HAND_ON && BEST_GLUE ? Py_True : Py_False, (unsigned long long)HAND_USED);
}

/* configure_entry(linker_type, fp_type, state_type, result_type, best_candidate, new_device_id, class_pos,
 *                 class_pos_mobile, pop_pos, pop_pos_mobile, id_tags) */
static PyObject *ls_configure_entry(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t i;
    int tags[3], nt;
    PyObject *names[3];
    (void)mod;
    if (nargs != 11 || !PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyType_Check(args[2]) ||
        !PyType_Check(args[3]) || !PyCallable_Check(args[4]) || !PyCallable_Check(args[5]) ||
        !PyTuple_CheckExact(args[10]) || PyTuple_GET_SIZE(args[10]) > 3) {
        PyErr_SetString(PyExc_TypeError, "configure_entry(linker_type, fp_type, state_type, result_type, "
                                         "best_candidate, new_device_id, class_pos, class_pos_mobile, pop_pos, "
                                         "pop_pos_mobile, id_tags)");
        return NULL;
    }
    if (read_positions(args[6], CLASS_POS, &N_CLASS_POS) || read_positions(args[7], CLASS_POS_M, &N_CLASS_POS_M) ||
        read_positions(args[8], POP_POS, &N_POP_POS) || read_positions(args[9], POP_POS_M, &N_POP_POS_M))
        return NULL;
    nt = (int)PyTuple_GET_SIZE(args[10]);
    for (i = 0; i < nt; ++i) {
        PyObject *pt = PyTuple_GET_ITEM(args[10], i);
        long v;
        if (!PyTuple_CheckExact(pt) || PyTuple_GET_SIZE(pt) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pt, 1)) ||
            (v = PyLong_AsLong(PyTuple_GET_ITEM(pt, 0))) < 0 || v >= NCOMP) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "id_tags must be ((position, tag), ...)");
            return NULL;
        }
        tags[i] = (int)v;
        names[i] = PyTuple_GET_ITEM(pt, 1);
    }
    for (i = 0; i < nt; ++i) {
        TAG_POS[i] = tags[i];
        Py_XSETREF(TAG_NAMES[i], Py_NewRef(names[i]));
    }
    N_TAGS = nt;
    Py_XSETREF(LINKER_T, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(FP_T, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(STATE_T, (PyTypeObject *)Py_NewRef(args[2]));
    Py_XSETREF(RESULT_T, (PyTypeObject *)Py_NewRef(args[3]));
    Py_XSETREF(BEST_FUNC, Py_NewRef(args[4]));
    BEST_GLUE = is_glue_best(args[4]);
    Py_XSETREF(NEW_ID, Py_NewRef(args[5]));
    Py_RETURN_NONE;
}

static PyObject *ls_configure(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != NCOMP || !PyCallable_Check(args[1]) ||
        !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "configure(volatile_attrs, shared_list, shared_lists)");
        return NULL;
    }
    Py_XSETREF(NAMES, Py_NewRef(args[0]));
    Py_XSETREF(SHARED_LIST, Py_NewRef(args[1]));
    Py_XSETREF(LISTS, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

/* round3(x[, on]) -> round(x, 3) as the kernels compute it (C, or Python's round where it hands over); on: switch
 * the C rounding (tests compare it with Python's round) */
static PyObject *ls_round3(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    if (nargs < 1 || nargs > 2 || !PyFloat_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "round3(x: float[, on])");
        return NULL;
    }
    if (nargs == 2) {
        int on = PyObject_IsTrue(args[1]);
        if (on < 0) return NULL;
        ROUND_C_ON = on;
        {
            int i;
            for (i = 0; i < ROUND_SLOTS; ++i) Py_CLEAR(round_memo[i].r); /* the memo starts again */
        }
    }
    return round3(PyFloat_AS_DOUBLE(args[0]));
}

/* direct_records([on]) -> (on, records made so): make_record's direct stores (linkstate_decide.h, round 13) */
static PyObject *ls_direct_records(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "direct_records([on])");
        return NULL;
    }
#if REC_DIRECT
    if (nargs == 1) {
        int on = PyObject_IsTrue(args[0]);
        if (on < 0) return NULL;
        REC_DIRECT_ON = on;
    }
    return Py_BuildValue("(OK)", REC_DIRECT_ON ? Py_True : Py_False, (unsigned long long)REC_DIRECT_HITS);
#else
    (void)args;
    return Py_BuildValue("(OK)", Py_False, 0ULL);
#endif
}

#endif /* FRAUDSCORE_LINKSTATE_ENTRY_H */
