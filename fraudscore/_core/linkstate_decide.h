/*
 * The link decision of fraudscore._core.linkstate (reference: fraudscore/fingerprint/linker.py
 * DeviceLinker.read -> decide -> write): the fingerprint's parts read once, the exact / class / candidate
 * paths, the new record, and ``link`` (see the contract at the top of linkstate.c).
 *
 * Included by linkstate.c, after its interned names and state helpers, which it uses: one compilation unit,
 * one extension (setup.py lists this header among linkstate's rebuild dependencies).
 */
/* ---- link ----------------------------------------------------------------------------------------------- */
typedef struct {
    PyObject *fp, *canonical, *comps_obj, *family;  /* owned */
    int64_t comps[NCOMP];                           /* read on demand (fpl_comps) */
    int have_comps;
    int mobile;
    int have_versions;
    PyObject *ver_obj[3];                           /* owned: os, browser, app version objects */
    version_t ver[3];
    const fpinfo_t *info; /* round 16: read_fp(fp) done (by_candidates, for select): its objects and values */
} fpl_t;

static void fpl_release(fpl_t *f) {
    int i;
    Py_CLEAR(f->canonical);
    Py_CLEAR(f->comps_obj);
    Py_CLEAR(f->family);
    for (i = 0; i < 3; ++i) Py_CLEAR(f->ver_obj[i]);
}

static PyObject *getattr_clear(PyObject *o, PyObject *name) {
    PyObject *v = fast_attr(o, name); /* linking_attr.h: a slot read where the type allows it */
    if (v == NULL) PyErr_Clear();
    return v;
}

/* what every path reads: family (interned), components, mobile; 0 ok, -1 hand over */
static int fpl_read(PyObject *fp, fpl_t *f) {
    PyObject *o;
    Py_ssize_t i;
    int t;
    memset(f, 0, sizeof(*f));
    f->fp = fp;
    if ((f->family = getattr_clear(fp, A_family)) == NULL || !PyUnicode_CheckExact(f->family)) return -1;
    /* (not interned here: only a new record stores it, interned by make_record as the reference does) */
    if ((f->comps_obj = getattr_clear(fp, A_components)) == NULL || !PyTuple_CheckExact(f->comps_obj) ||
        PyTuple_GET_SIZE(f->comps_obj) != NCOMP)
        return -1;
    for (i = 0; i < NCOMP; ++i) {
        if (!PyLong_CheckExact(PyTuple_GET_ITEM(f->comps_obj, i))) return -1;
    }
    if ((o = getattr_clear(fp, A_mobile)) == NULL) return -1;
    t = PyObject_IsTrue(o);
    Py_DECREF(o);
    if (t < 0) {
        PyErr_Clear();
        return -1;
    }
    f->mobile = t;
    return 0;
}

/* the components as int64 (read once, when a path needs their values) */
static int fpl_comps(fpl_t *f) {
    Py_ssize_t i;
    if (f->have_comps) return 0;
    for (i = 0; i < NCOMP; ++i) {
        if (as_i64(PyTuple_GET_ITEM(f->comps_obj, i), &f->comps[i]) != 0) return -1;
    }
    f->have_comps = 1;
    return 0;
}

/* the canonical versions (tuples or None), for _ahead and make_record */
static int fpl_versions(fpl_t *f) {
    PyObject *names[3] = {A_os_version, A_browser_version, A_app_version};
    int i;
    if (f->have_versions) return 0;
    if (f->info != NULL) { /* read_fp read the same objects with the same read_version (round 16) */
        const version_t *pv[3] = {&f->info->ov, &f->info->bv, &f->info->av};
        f->canonical = Py_NewRef(f->info->canon);
        for (i = 0; i < 3; ++i) {
            PyObject *o = f->info->ver_obj[i];
            f->ver_obj[i] = Py_NewRef(o);
            if (!(o == Py_None || PyTuple_CheckExact(o))) return -1;
            f->ver[i] = *pv[i];
        }
        f->have_versions = 1;
        return 0;
    }
    if ((f->canonical = getattr_clear(f->fp, A_canonical)) == NULL) return -1;
    for (i = 0; i < 3; ++i) {
        PyObject *o = getattr_clear(f->canonical, names[i]);
        if (o == NULL) return -1;
        f->ver_obj[i] = o;
        if (!(o == Py_None || PyTuple_CheckExact(o)) || read_version(o, &f->ver[i], 0) != 0) return -1;
    }
    f->have_versions = 1;
    return 0;
}

/* linker._ahead(rec, fp): 1 ahead, 0 not, -1 hand over */
static int ahead(fpl_t *f, PyObject *rec) {
    PyObject *keys[3] = {K_ov, K_bv, K_av};
    int i;
    if (fpl_versions(f) != 0) return -1;
    for (i = 0; i < 3; ++i) {
        PyObject *o = item(rec, keys[i]);
        version_t old;
        if (o == NULL) return -1;
        if (f->ver[i].none || o == Py_None) continue;
        if (read_version(o, &old, 0) != 0) return -1;
        if (!version_ge(&f->ver[i], &old)) return 1; /* tuple(old) > tuple(new) */
    }
    return 0;
}

/* DeviceLinker._popularity (glob = 1: the linker counts nothing over all families); 0 ok, -1 hand over */
/* (the family's counts: `fe`, C-owned -- round 13 --, or the reference's dict `counts`; NULL both: no family) */
static int popularity(fpl_t *f, PyObject *pop_keys, int64_t fam_n, PyObject *counts, const fc_fam_t *fe,
                      int64_t ndev, int known, int64_t min_family, double prior, double *out) {
    int64_t k = known ? 1 : 0, n = fam_n - k, c;
    double est = 1.0, others, pop;
    Py_ssize_t i;
    if (fam_n >= NBOUND || fam_n <= -NBOUND || ndev >= NBOUND || ndev <= -NBOUND) return -1;
    if (n > 0) {
        others = (double)n;
        for (i = 0; i < PyTuple_GET_SIZE(pop_keys); ++i) {
            PyObject *v;
            if (fe != NULL) { /* the C table: an int key of 64 bits, else the reference decides */
                PyObject *key = PyTuple_GET_ITEM(pop_keys, i);
                int64_t kk;
                if (!PyLong_CheckExact(key) || as_i64(key, &kk) != 0) return -1;
                c = fc_kv_get(fe, kk);
                if (c >= NBOUND || c <= -NBOUND) return -1;
                goto counted;
            }
            v = counts != NULL ? PyDict_GetItemWithError(counts, PyTuple_GET_ITEM(pop_keys, i)) : NULL;
            if (v == NULL) {
                if (PyErr_Occurred()) {
                    PyErr_Clear();
                    return -1;
                }
                c = 0;
            } else if (!PyLong_CheckExact(v) || as_i64(v, &c) != 0 || c >= NBOUND || c <= -NBOUND) {
                return -1;
            }
        counted:
            c -= k;
            if (c <= 0) {
                others = 0.0;
                break;
            }
            others *= (double)c / (double)n;
        }
        est += others;
    }
    pop = est > (double)ndev ? est : (double)ndev;
    if (pop < 1.0) pop = 1.0;
    if (f->mobile && n < min_family && pop < prior) {
        if (fpl_comps(f) != 0) return -1;
        if (!f->comps[ID_POS[0]] && !f->comps[ID_POS[1]] && !f->comps[ID_POS[2]]) pop = prior;
    }
    *out = pop;
    return 0;
}

/* round(x, 3) as Python computes it (new reference), remembered per x: a stream sees few distinct values */
#define ROUND_SLOTS 256
static struct {
    double x;
    PyObject *r;
} round_memo[ROUND_SLOTS];

/* round(x, 3) computed in C (round 13): x * 1000 split exactly into y + lo (fma), rounded half to even on the exact
 * value (rint on y, then the exact remainder decides a tie or a crossing), divided by 1000 (one correctly rounded
 * division of an exact integer): the double nearest the decimal that Python's correctly rounded round(x, 3) picks.
 * 0 ok; -1 for values it leaves to Python (not finite, or |x| >= 2**40) */
static int round3_c(double x, double *out) {
    double y, lo, n, e;
    if (!(fabs(x) < 1099511627776.0)) return -1;
    y = x * 1000.0;
    lo = fma(x, 1000.0, -y); /* x * 1000 = y + lo exactly */
    n = rint(y);             /* half to even on y (the default rounding mode) */
    e = y - n;               /* exact: |e| <= 0.5 */
    /* |e| < 0.5: n is the nearest (e is a multiple of ulp(y) <= 1/4 and |lo| <= ulp(y) / 2). e = +-0.5: y is a half
     * and rint took the even side; the exact remainder lo moves it to the other side, or leaves an exact tie */
    if (e == 0.5 && lo > 0.0) n += 1.0;
    else if (e == -0.5 && lo < 0.0) n -= 1.0;
    *out = n / 1000.0;
    if (*out == 0.0) *out = copysign(0.0, x);
    return 0;
}
static int ROUND_C_ON = 1; /* round3_c in use (tests compare it with Python's round through round3([x])) */

static PyObject *round3(double x) {
    uint64_t bits;
    size_t h;
    double v;
    PyObject *f, *r;
    memcpy(&bits, &x, sizeof bits);
    h = (size_t)((bits * 0x9E3779B97F4A7C15ull) >> 56);
    if (round_memo[h].r != NULL && memcmp(&round_memo[h].x, &x, sizeof x) == 0) return Py_NewRef(round_memo[h].r);
    if (ROUND_C_ON && round3_c(x, &v) == 0) {
        r = PyFloat_FromDouble(v);
        if (r == NULL) return NULL;
        Py_XSETREF(round_memo[h].r, Py_NewRef(r));
        round_memo[h].x = x;
        return r;
    }
    if ((f = PyFloat_FromDouble(x)) == NULL) return NULL;
    r = PyObject_CallMethodOneArg(f, M_round, I_three);
    Py_DECREF(f);
    if (r == NULL || !PyFloat_CheckExact(r)) return r;
    Py_XSETREF(round_memo[h].r, Py_NewRef(r));
    round_memo[h].x = x;
    return r;
}

/* linker._changes(fp, rec): the changed names and the family count keys of the changed positions
 * (DeviceLinker.stat_keys(fp, pos)[0]); 0 ok, -1 hand over (nothing set) */
static int changes(fpl_t *f, PyObject *rec, PyObject **names_out, PyObject **keys_out) {
    PyObject *c = item(rec, K_c), *r, *rend, *names = NULL, *keys = NULL;
    int64_t rc[NCOMP], rr, fr;
    Py_ssize_t i, nn = 0, nk = 0;
    int pos[NCOMP + 1], np = 0;
    if (c == NULL || !PyList_CheckExact(c) || PyList_GET_SIZE(c) != NCOMP || fpl_comps(f) != 0) return -1;
    for (i = 0; i < NCOMP; ++i) {
        if (as_i64(PyList_GET_ITEM(c, i), &rc[i]) != 0) return -1;
    }
    if ((r = item(rec, K_r)) == NULL || as_i64(r, &rr) != 0) return -1;
    if ((rend = f->info != NULL ? Py_NewRef(f->info->rend_obj) : getattr_clear(f->fp, A_renderer)) == NULL) return -1;
    if (as_i64(rend, &fr) != 0) {
        Py_DECREF(rend);
        return -1;
    }
    if (fr >= ((int64_t)1 << 58) || fr <= -((int64_t)1 << 58)) {
        Py_DECREF(rend);
        return -1;
    }
    for (i = 0; i < NCOMP; ++i) {
        if (f->comps[i] >= ((int64_t)1 << 58) || f->comps[i] <= -((int64_t)1 << 58)) {
            Py_DECREF(rend);
            return -1;
        }
        if (f->comps[i] != rc[i]) pos[np++] = (int)i;
    }
    if (fr != rr) pos[np++] = RENDERER_SLOT;
    names = PyTuple_New(np);
    for (i = 0; i < np; ++i) nk += pos[i] == RENDERER_SLOT ? fr != 0 : f->comps[pos[i]] != 0;
    keys = PyTuple_New(nk);
    if (names == NULL || keys == NULL) goto fail;
    for (i = 0; i < np; ++i) {
        PyObject *nm = pos[i] == RENDERER_SLOT ? S_renderer : PyTuple_GET_ITEM(NAMES, pos[i]);
        int64_t v = pos[i] == RENDERER_SLOT ? fr : f->comps[pos[i]];
        PyTuple_SET_ITEM(names, i, Py_NewRef(nm));
        if (v) {
            PyObject *kv = PyLong_FromLongLong((long long)(v * 16 + pos[i]));
            if (kv == NULL) goto fail;
            PyTuple_SET_ITEM(keys, nn++, kv);
        }
    }
    (void)nn;
    Py_DECREF(rend);
    *names_out = names;
    *keys_out = keys;
    return 0;
fail:
    Py_DECREF(rend);
    Py_XDECREF(names);
    Py_XDECREF(keys);
    PyErr_Clear();
    return -1;
}

#include "linkstate_record.h" /* make_record (round 16: split out) */

/* whether a block holds a live device other than ``skip`` (the reference's walk, stopped at its first find):
 * 1 yes, 0 no, -1 hand over */
static int any_live(const state_t *s, PyObject *block_keys, PyObject *skip, int64_t now) {
    Py_ssize_t i;
    for (i = 0; i < PyTuple_GET_SIZE(block_keys); ++i) {
        PyObject *blk = mget(s->blocks, PyTuple_GET_ITEM(block_keys, i)), *it, *did;
        int found = 0;
        if (blk == NULL) {
            if (PyErr_Occurred()) return -1;
            continue;
        }
        if (IS_RM(blk)) { /* a C-owned block: its ids newest first, read in place (no Python code runs here) */
            const rm_t *b = (const rm_t *)blk;
            int32_t p;
            for (p = b->tail; p >= 0 && !found; p = b->ent[p].prev) {
                PyObject *rec;
                int64_t t;
                did = b->ent[p].key;
                if (skip != NULL && (did == skip || PyUnicode_Compare(did, skip) == 0)) continue;
                if ((rec = mget(s->devices, did)) == NULL) {
                    if (PyErr_Occurred()) return -1;
                    continue;
                }
                if (!PyDict_CheckExact(rec) || as_i64(item(rec, K_t), &t) != 0 || t >= TBOUND || t <= -TBOUND)
                    return -1;
                found = now - t <= s->ttl;
            }
            if (found) return 1;
            continue;
        }
        if (!PyODict_CheckExact(blk)) return -1;
        if (PyDict_GET_SIZE(blk) == 0) continue;
        if ((it = PyObject_CallMethodNoArgs(blk, M_reversed)) == NULL) return -1;
        while (!found && (did = PyIter_Next(it)) != NULL) {
            PyObject *rec;
            int64_t t;
            if (!PyUnicode_CheckExact(did)) {
                Py_DECREF(did);
                Py_DECREF(it);
                return -1;
            }
            if (skip != NULL && (did == skip || PyUnicode_Compare(did, skip) == 0)) {
                Py_DECREF(did);
                continue;
            }
            rec = mget(s->devices, did);
            Py_DECREF(did);
            if (rec == NULL) {
                if (PyErr_Occurred()) break;
                continue;
            }
            if (!PyDict_CheckExact(rec) || as_i64(item(rec, K_t), &t) != 0 || t >= TBOUND || t <= -TBOUND) {
                Py_DECREF(it);
                return -1;
            }
            found = now - t <= s->ttl;
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) return -1;
        if (found) return 1;
    }
    return 0;
}

static int str_eq(PyObject *a, PyObject *b) { /* 1 equal, 0 not, -1 hand over (both must be str) */
    int c;
    if (a == b) return 1;
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b)) return -1;
    c = PyUnicode_Compare(a, b);
    if (c == -1 && PyErr_Occurred()) return -1;
    return c == 0;
}

/* (did, conf, changed, new, how): new reference */
static PyObject *result(PyObject *did, PyObject *conf, PyObject *changed, int new_device, PyObject *how) {
    return PyTuple_Pack(5, did, conf, changed, new_device ? Py_True : Py_False, how);
}

/* the class-record paths (b) and (c): record, write, result; NULL with hand_over = 1: nothing changed */
static PyObject *to_class(const state_t *s, fpl_t *f, PyObject *keys, PyObject *sh, PyObject *ndev, double pop,
                          int new_fp, PyObject *now_obj, int64_t now, PyObject *ip, int *hand_over) {
    PyObject *ids = PyTuple_GET_ITEM(keys, 0), *key = PyTuple_GET_ITEM(keys, 4), *class_id = PyTuple_GET_ITEM(keys, 7);
    PyObject *did, *changed = NULL, *fk = NULL, *rec = NULL, *fp_ids = NULL, *conf = NULL, *res = NULL;
    plan_t p;
    PyObject *pdid;
    Py_ssize_t i, n = PyTuple_GET_SIZE(ids);
    *hand_over = 1;
    if (sh != NULL) {
        did = item(sh, K_id);
        if (did == NULL || !PyUnicode_CheckExact(did) || changes(f, sh, &changed, &fk) != 0) return NULL;
    } else {
        did = class_id;
        changed = PyTuple_New(0);
        fk = Py_NewRef(PyTuple_GET_ITEM(keys, 2)); /* fam_keys = stat_keys(fp) */
        if (changed == NULL) goto out;
    }
    if ((rec = make_record(f, did, now_obj, now, sh, ip, PyTuple_GET_ITEM(ids, 0))) == NULL) goto out;
    if ((fp_ids = PyTuple_New(n + 1)) == NULL) goto out;
    for (i = 0; i < n; ++i) PyTuple_SET_ITEM(fp_ids, i, Py_NewRef(PyTuple_GET_ITEM(ids, i)));
    PyTuple_SET_ITEM(fp_ids, n, Py_NewRef(key));
    p.rec = rec;
    p.fp_ids = fp_ids;
    p.block_keys = PyTuple_GET_ITEM(keys, 1);
    p.ndev = ndev;
    p.fam = f->family;
    /* the class-join of an exact hit (b) writes no counts; a new fingerprint (c) counts its changed values */
    p.fam_keys = new_fp ? fk : PyTuple_GET_ITEM(keys, 3);
    p.glob_keys = PyTuple_GET_ITEM(keys, 3);
    p.new_device = new_fp && sh == NULL;
    if (write_check(s, &p, &pdid) != 0) goto out;
    if ((conf = round3(1.0 / (CLASS_POPULARITY > pop ? CLASS_POPULARITY : pop))) == NULL) goto out;
    *hand_over = 0; /* from here on the state changes: an error is raised, not handed over */
    if (write_do(s, &p, pdid, now_obj) != 0) goto out;
    res = result(did, conf, changed, p.new_device, S_shared);
out:
    if (*hand_over) PyErr_Clear();
    Py_XDECREF(changed);
    Py_XDECREF(fk);
    Py_XDECREF(rec);
    Py_XDECREF(fp_ids);
    Py_XDECREF(conf);
    return res;
}

/* (d) the candidates decide: walk the blocks, score them (the linker's best_candidate), then link to the best
 * (the model) or create a new device; NULL with hand_over = 1: nothing changed (an exception from the walk or
 * the scoring is raised, the state untouched, as the reference raises it from the same calls) */
static PyObject *by_candidates(const state_t *s, fpl_t *f, PyObject *keys, PyObject *skip, PyObject *ndev, double pop,
                               PyObject *now_obj, int64_t now, PyObject *ip, PyObject *const *cb, double link_p,
                               int *hand_over) {
    PyObject *ids = PyTuple_GET_ITEM(keys, 0), *cands = NULL, *best = NULL, *rec = NULL, *changed = NULL, *fk = NULL;
    PyObject *did = NULL, *conf = NULL, *res = NULL, *pdid;
    PyObject *wargs[6] = {s->blocks, PyTuple_GET_ITEM(keys, 9), s->devices, skip != NULL ? skip : Py_None, now_obj,
                          s->ttl_obj};
    PyObject *bargs[6] = {cb[1], f->fp, NULL, now_obj, ip, NULL}, *walk = cb[0];
    fpinfo_t info; /* round 16: the parse handed down (parsed: to release) */
    int parsed = 0;
    plan_t p;
    double p1 = 0.0, c = 0.0;
    int model = 0;
    *hand_over = 1;
    if (STATE_T != NULL && Py_TYPE(walk) == STATE_T && (walk = item(s->dict, A_walk)) == NULL) return NULL;
    if (walk == Py_None) return NULL;
    if ((cands = PyObject_Vectorcall(walk, wargs, 6, NULL)) == NULL) goto raise;
    if (!PyList_CheckExact(cands)) goto out; /* the compiled walk handed over: the reference walks */
    bargs[2] = cands;
    /* the linker itself stands for its best_candidate (DeviceLinker.best_candidate, no bound method made) */
    if (LINKER_T != NULL && Py_TYPE(cb[1]) == LINKER_T) {
        /* round 16: the linker's C glue gets the fingerprint parsed here (read_fp), for select and then for the new
         * record; nothing is handed down where the parse fails (select reads fp itself and hands over there, as
         * before) or where a link call below this one holds the hand */
        if (HAND_ON && HAND_CAP != NULL && BEST_GLUE && HAND.fp == NULL) {
            parsed = 1;
            if (read_fp(f->fp, &info) == 0) {
                HAND.fp = f->fp;
                HAND.info = &info;
                bargs[5] = HAND_CAP;
                ++HAND_USED;
            }
        }
        best = PyObject_Vectorcall(BEST_FUNC, bargs, bargs[5] != NULL ? 6 : 5, NULL);
        if (bargs[5] != NULL) {
            HAND.fp = NULL;
            HAND.info = NULL;
            f->info = &info; /* for make_record and changes below */
        }
    } else {
        best = PyObject_Vectorcall(cb[1], bargs + 1, 4, NULL);
    }
    if (best == NULL) goto raise;
    if (best != Py_None) {
        PyObject *pb, *rb;
        if (!PyTuple_CheckExact(best) || PyTuple_GET_SIZE(best) != 2) goto out;
        pb = PyTuple_GET_ITEM(best, 0);
        rb = PyTuple_GET_ITEM(best, 1);
        if (!PyFloat_CheckExact(pb) || !PyDict_CheckExact(rb)) goto out;
        p1 = PyFloat_AS_DOUBLE(pb);
        if (p1 >= link_p) {
            model = 1;
            if ((did = item(rb, K_id)) == NULL || !PyUnicode_CheckExact(did)) goto out;
            Py_INCREF(did);
            if (changes(f, rb, &changed, &fk) != 0) goto out;
            if ((rec = make_record(f, did, now_obj, now, rb, ip, PyTuple_GET_ITEM(ids, 0))) == NULL) goto out;
            c = p1 / pop;
        }
    }
    if (!model) {
        PyObject *nargs_[2] = {f->fp, now_obj};
        if ((did = PyObject_Vectorcall(cb[2], nargs_, 2, NULL)) == NULL) goto raise;
        if (!PyUnicode_CheckExact(did) || (changed = PyTuple_New(0)) == NULL) goto out;
        fk = Py_NewRef(PyTuple_GET_ITEM(keys, 2));
        if ((rec = make_record(f, did, now_obj, now, NULL, ip, PyTuple_GET_ITEM(ids, 0))) == NULL) goto out;
        c = (1.0 - p1) / pop;
    }
    p.rec = rec;
    p.fp_ids = ids;
    p.block_keys = PyTuple_GET_ITEM(keys, 1);
    p.ndev = ndev;
    p.fam = f->family;
    p.fam_keys = fk;
    p.glob_keys = PyTuple_GET_ITEM(keys, 3);
    p.new_device = !model;
    if (write_check(s, &p, &pdid) != 0) goto out;
    if ((conf = round3(c < 1.0 ? c : 1.0)) == NULL) goto out;
    *hand_over = 0;
    if (write_do(s, &p, pdid, now_obj) == 0) res = result(did, conf, changed, !model, model ? S_model : S_new);
    goto out;
raise:
    *hand_over = 0;
out:
    if (*hand_over) PyErr_Clear();
    if (parsed) {
        f->info = NULL;
        fp_release(&info);
    }
    Py_XDECREF(cands);
    Py_XDECREF(best);
    Py_XDECREF(rec);
    Py_XDECREF(changed);
    Py_XDECREF(fk);
    Py_XDECREF(did);
    Py_XDECREF(conf);
    return res;
}

static PyObject *ls_link(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *state_obj, *fp, *keys, *now_obj, *ip, *ids, *class_id, *shared_key, *pop_keys;
    PyObject *ex = NULL, *ex_ndev = NULL, *sh = NULL, *sh_ndev = NULL, *counts = NULL, *famrec, *res = NULL;
    const fc_fam_t *fe = NULL;
    state_t s;
    fpl_t f;
    int64_t now, min_family, fam_n = 0, ndev;
    double prior, pop;
    int r, hand_over = 1;
    Py_ssize_t i;
    (void)mod;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "link(state, fp, keys, now, ip, min_family_devices, mobile_prior, "
                                         "link_probability, walk, best_candidate, new_device_id)");
        return NULL;
    }
    state_obj = args[0];
    fp = args[1];
    keys = args[2];
    now_obj = args[3];
    ip = args[4];
    memset(&f, 0, sizeof(f));
    s.dict = NULL;
    if (NAMES == NULL || !PyLong_CheckExact(now_obj) || as_i64(now_obj, &now) != 0 || now >= TBOUND ||
        now <= -TBOUND || !PyLong_CheckExact(ip) || as_i64(args[5], &min_family) != 0 || !PyFloat_CheckExact(args[6]) ||
        !PyFloat_CheckExact(args[7]) ||
        !(args[8] == Py_None || PyCallable_Check(args[8]) || (STATE_T != NULL && Py_TYPE(args[8]) == STATE_T)) ||
        !(PyCallable_Check(args[9]) || (LINKER_T != NULL && Py_TYPE(args[9]) == LINKER_T)) ||
        !PyCallable_Check(args[10]))
        goto hand;
    prior = PyFloat_AS_DOUBLE(args[6]);
    if (!PyTuple_CheckExact(keys) || PyTuple_GET_SIZE(keys) != 10) goto hand;
    ids = PyTuple_GET_ITEM(keys, 0);
    shared_key = PyTuple_GET_ITEM(keys, 4);
    pop_keys = PyTuple_GET_ITEM(keys, 6);
    class_id = PyTuple_GET_ITEM(keys, 7);
    if (check_str_tuple(ids) != 0 || PyTuple_GET_SIZE(ids) < 1 || !PyTuple_CheckExact(PyTuple_GET_ITEM(keys, 3)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(keys, 3)) != 0 || !PyUnicode_CheckExact(shared_key) ||
        !PyTuple_CheckExact(pop_keys) || !PyUnicode_CheckExact(class_id) ||
        !PyTuple_CheckExact(PyTuple_GET_ITEM(keys, 2)))
        goto hand;
    if (state_load(state_obj, &s) != 0 || fpl_read(fp, &f) != 0) goto hand;
    /* read(): the exact match (first live of the ids), the class record, the family counts */
    for (i = 0; i < PyTuple_GET_SIZE(ids); ++i) {
        r = lookup_live(&s, PyTuple_GET_ITEM(ids, i), now, &ex, &ex_ndev);
        if (r < 0) goto hand;
        if (r) break;
    }
    /* (the class record under shared_key is looked up only where the decision reads it: paths b and c) */
    if (s.fc != NULL) { /* the C-owned counts (round 13) */
        fe = fc_lookup(s.fc, f.family);
        if (fe != NULL) fam_n = fe->n;
    } else if ((famrec = PyDict_GetItemWithError(s.fam, f.family)) != NULL) {
        if (!PyList_CheckExact(famrec) || PyList_GET_SIZE(famrec) != 2 || as_i64(PyList_GET_ITEM(famrec, 0), &fam_n))
            goto hand;
        counts = PyList_GET_ITEM(famrec, 1);
        if (!PyDict_Check(counts)) goto hand;
    } else if (PyErr_Occurred()) {
        goto hand;
    }
    /* decide() */
    if (ex != NULL) {
        PyObject *did = item(ex, K_id), *exfp;
        int is_class, same_fp;
        int64_t nd;
        if (did == NULL || (is_class = str_eq(did, class_id)) < 0) goto hand;
        if (!is_class) {
            int a = ahead(&f, ex);
            if (a < 0) goto hand;
            if (a) goto no_exact; /* another device shows this fingerprint now */
        }
        if (!PyLong_CheckExact(ex_ndev) || as_i64(ex_ndev, &nd) != 0) goto hand;
        if (popularity(&f, pop_keys, fam_n, counts, fe, nd, 1, min_family, prior, &pop) != 0) goto hand;
        if (is_class && pop < CLASS_POPULARITY) pop = CLASS_POPULARITY;
        if (pop >= COMMON_POPULARITY && !is_class) { /* (b) joins its class record */
            if (lookup_live(&s, shared_key, now, &sh, &sh_ndev) < 0) goto hand;
            res = to_class(&s, &f, keys, sh, ex_ndev, pop, 0, now_obj, now, ip, &hand_over);
            if (hand_over) goto hand;
            goto done;
        }
        if ((exfp = item(ex, K_fp)) == NULL || (same_fp = str_eq(exfp, PyTuple_GET_ITEM(ids, 0))) < 0) goto hand;
        if (same_fp || is_class) { /* (a) seen again */
            touch_t tc;
            PyObject *conf;
            double c1 = 1.0 / pop;
            if (touch_check(&s, ex, ids, PyTuple_GET_ITEM(keys, 1), ip, now, &tc) != 0) goto hand;
            if ((conf = round3(c1 < 1.0 ? c1 : 1.0)) == NULL) goto hand;
            hand_over = 0;
            if (touch_do(&s, &tc, ids, PyTuple_GET_ITEM(keys, 1), ex_ndev, ip, now_obj, now) == 0) {
                PyObject *empty = PyTuple_New(0);
                if (empty != NULL)
                    res = result(did, conf, empty,
                                 0, PyFloat_AS_DOUBLE(conf) >= MIN_LINK_CONFIDENCE ? S_exact : S_shared);
                Py_XDECREF(empty);
            }
            Py_DECREF(conf);
            goto done;
        }
        { /* (e) back to an earlier state of its own (e.g. undocked again): a new record state, its changed
           * values counted (decide's "back" branch) */
            PyObject *changed = NULL, *fk = NULL, *rec = NULL, *conf = NULL, *pdid;
            plan_t p;
            double c1 = 1.0 / pop;
            if (!PyUnicode_CheckExact(did) || changes(&f, ex, &changed, &fk) != 0) goto hand;
            rec = make_record(&f, did, now_obj, now, ex, ip, PyTuple_GET_ITEM(ids, 0));
            conf = rec != NULL ? round3(c1 < 1.0 ? c1 : 1.0) : NULL;
            p.rec = rec;
            p.fp_ids = ids;
            p.block_keys = PyTuple_GET_ITEM(keys, 1);
            p.ndev = ex_ndev;
            p.fam = f.family;
            p.fam_keys = fk;
            p.glob_keys = PyTuple_GET_ITEM(keys, 3);
            p.new_device = 0;
            if (rec != NULL && conf != NULL && write_check(&s, &p, &pdid) == 0) {
                hand_over = 0;
                if (write_do(&s, &p, pdid, now_obj) == 0)
                    res = result(did, conf, changed, 0,
                                 PyFloat_AS_DOUBLE(conf) >= MIN_LINK_CONFIDENCE ? S_exact : S_shared);
            }
            Py_XDECREF(changed);
            Py_XDECREF(fk);
            Py_XDECREF(rec);
            Py_XDECREF(conf);
            if (hand_over) goto hand;
            goto done;
        }
    }
no_exact:
    /* a fingerprint not linked by its exact match: common -> its class record, else the candidates decide */
    {
        PyObject *ndev_obj;
        int known;
        if (ex != NULL) {
            if (!PyLong_CheckExact(ex_ndev) || as_i64(ex_ndev, &ndev) != 0 || ndev >= NBOUND) goto hand;
            ndev += 1;
        } else {
            ndev = 1;
        }
        known = any_live(&s, PyTuple_GET_ITEM(keys, 9), ex != NULL ? item(ex, K_id) : NULL, now);
        if (known < 0) goto hand;
        if (popularity(&f, pop_keys, fam_n, counts, fe, ndev, known, min_family, prior, &pop) != 0) goto hand;
        if ((ndev_obj = PyLong_FromLongLong((long long)ndev)) == NULL) goto hand;
        if (pop >= COMMON_POPULARITY && lookup_live(&s, shared_key, now, &sh, &sh_ndev) < 0) {
            Py_DECREF(ndev_obj);
            goto hand;
        }
        if (pop < COMMON_POPULARITY) /* the model or a new device */
            res = by_candidates(&s, &f, keys, ex != NULL ? item(ex, K_id) : NULL, ndev_obj, pop, now_obj, now, ip,
                                args + 8, PyFloat_AS_DOUBLE(args[7]), &hand_over);
        else
            res = to_class(&s, &f, keys, sh, ndev_obj, pop, 1, now_obj, now, ip, &hand_over);
        Py_DECREF(ndev_obj);
        if (hand_over) goto hand;
    }
done:
    fpl_release(&f);
    state_release(&s);
    return res;
hand:
    fpl_release(&f);
    state_release(&s);
    PyErr_Clear();
    Py_RETURN_NONE;
}
