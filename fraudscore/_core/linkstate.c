/*
 * fraudscore._core.linkstate -- MemoryLinkState's bookkeeping and the linker's decided-without-candidates
 * paths in C (reference: fraudscore/fingerprint/linkstate.py MemoryLinkState.touch / write, and
 * fraudscore/fingerprint/linker.py DeviceLinker.read -> decide -> write).
 *
 * touch(state, rec, fp_ids, block_keys, ndev, ip, now)
 *     MemoryLinkState.touch: the stored record ``rec`` seen again (last sighting, count, IP; to the front of
 *     the recency orders and of its blocks).
 * write(state, rec, fp_ids, block_keys, ndev, new_device, fam, fam_keys, glob_keys, now)
 *     MemoryLinkState.write of a plan that is not a touch.
 * link(state, fp, keys, now, ip, min_family_devices, mobile_prior, link_probability, walk, best_candidate,
 *      new_device_id)
 *     DeviceLinker.link over a MemoryLinkState (read -> decide -> write in one call):
 *     (a) an exact hit (the fingerprint's record, or its class record) -> touch;
 *     (b) an exact hit on a device tracked alone whose fingerprint has become common -> it joins its class
 *         record (a new record state written);
 *     (c) no usable exact hit and a common fingerprint -> its class record (created when absent). The
 *         candidate blocks are not walked: the decision only needs whether a live candidate exists (the
 *         popularity's "known"), so the walk stops at the first one;
 *     (d) otherwise the candidates decide: ``walk`` (fraudscore._core.linking.walk) lists them,
 *         ``best_candidate`` (the linker's bound method: the compiled selection, the model, the pick) scores
 *         them, and the best links ("model") or ``new_device_id(fp, now)`` names a new device.
 *     (e) an exact hit on one of the device's older fingerprints (back to an earlier state of its own) -> a new
 *         record state, its changed values counted.
 *     Returns (device_id, link_confidence, changed, new, how) -- the LinkResult's fields -- or None.
 *
 * Contract (as fraudscore._core.linking): every function computes exactly what the Python reference
 * computes, bit for bit, on the same objects, or returns None *before changing anything* -- a type it does
 * not handle (a container that is not the exact type the reference builds, a non-int time, an int beyond 64
 * bits, a missing key) or a decision that needs the candidates (the model, a new device, a device back to an
 * earlier state): the caller then runs the Python reference on the same input. The state is read and changed
 * only through the C API of dict / OrderedDict (move_to_end and popitem are called as methods); the only
 * Python code called is the reference's own: ``_shared_list`` (on a version not seen before), ``round``,
 * ``MemoryLinkState._bound`` (beyond a size limit) and, in (d), the walk, ``best_candidate`` and
 * ``new_device_id`` -- all before the state changes; an exception they raise propagates with the state
 * untouched, as from the reference.
 *
 * Layout: the state helpers, touch and write here; the link decision (``link``) in linkstate_decide.h and the
 * keys (``keys``) in linkstate_keys.h, both included below (one compilation unit); the whole-call ``entry`` here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "linkcommon.h"
#include "switch_arg.h"
#include "linking_attr.h"

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "vendor/xxhash/xxhash.h"

#define NCOMP 14            /* len(VOLATILE_ATTRS) */
#define RENDERER_SLOT 15    /* linkkeys._RENDERER_SLOT */
#define MIN_LINK_CONFIDENCE 0.6
#define COMMON_POPULARITY (1.0 / MIN_LINK_CONFIDENCE)
#define CLASS_POPULARITY 2.0
#define FONT_PROBES 2       /* linkkeys.FONT_PROBES: font-list blocks walked per fingerprint */
#define NBOUND ((int64_t)1 << 53) /* counts beyond it go to the reference (int / int as a double division) */
static const int ID_POS[3] = {8, 9, 10}; /* android_id idfv imei: linkkeys._ID_TAGS */

static PyObject *K_id, *K_fp, *K_fam, *K_bf, *K_ov, *K_bv, *K_av, *K_c, *K_r, *K_fs, *K_fn, *K_lg, *K_ip, *K_f,
    *K_t, *K_n;
static PyObject *A_dict, *A_devices, *A_exact, *A_blocks, *A_fam, *A_glob, *A_ttl, *A_cap, *A_max, *A_evictions,
    *A_bound, *M_move_to_end, *M_popitem, *M_round, *M_reversed;
static PyObject *A_family, *A_canonical, *A_components, *A_renderer, *A_fonts_sketch, *A_font_count, *A_lang_items,
    *A_mobile, *A_browser_family, *A_os_version, *A_browser_version, *A_app_version;
static PyObject *S_exact, *S_shared, *S_model, *S_new, *S_renderer, *I_zero, *I_one, *I_three;
/* set by configure(): VOLATILE_ATTRS (the names of changed attributes), linkfeatures._shared_list and its cache */
static PyObject *NAMES, *SHARED_LIST, *LISTS;
/* set by configure_entry(): the exact types the entry handles, the reference's callables, key positions */
static PyTypeObject *LINKER_T, *FP_T, *STATE_T, *RESULT_T;
static PyObject *BEST_FUNC, *NEW_ID, *TAG_NAMES[3];
static int CLASS_POS[NCOMP], N_CLASS_POS, CLASS_POS_M[NCOMP], N_CLASS_POS_M, POP_POS[NCOMP], N_POP_POS,
    POP_POS_M[NCOMP], N_POP_POS_M, TAG_POS[3], N_TAGS;
static PyObject *A_id, *A_aliases, *A_source, *A_state, *A_key_memo, *A_results, *A_ip_memo, *A_min_family,
    *A_prior, *A_link_p, *A_walk, *A_best, *M_keys, *A_variant_memo, *R_fields[5], *EMPTY;

#include "linkstate_counts.h" /* FamilyCounts: the family value counts owned by C (round 13) */
#define RM_DEFINE_TYPE
#include "linkstate_maps.h"   /* RecencyMap: the devices, exact index and blocks owned by C (round 13) */
#include "linkstate_state.h" /* state_t, state_load, state_release */

/* OrderedDict.move_to_end and .popitem (the method descriptors, called without a lookup per call) */
static PyObject *OD_move_to_end, *OD_popitem;

static int move_to_end(PyObject *od, PyObject *key) {
    PyObject *a[2] = {od, key};
    PyObject *r = PyObject_Vectorcall(OD_move_to_end, a, 2, NULL);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* od[key] = value; od.move_to_end(key) */
static int set_to_end(PyObject *od, PyObject *key, PyObject *value) {
    int had = PyDict_Contains(od, key);
    if (had < 0 || PyODict_SetItem(od, key, value) != 0) return -1;
    return had ? move_to_end(od, key) : 0;
}

/* ---- the state's maps: the reference's OrderedDicts or C-owned RecencyMaps (round 13; keys: exact str) ---- */
#define IS_RM(o) (Py_TYPE(o) == &RM_Type)

/* m[key] (borrowed), or NULL: absent (a RecencyMap holds only str keys), or an error (an exception set) */
static inline PyObject *mget(PyObject *m, PyObject *key) {
    if (IS_RM(m)) return PyUnicode_CheckExact(key) ? rm_get((rm_t *)m, key) : NULL;
    return PyDict_GetItemWithError(m, key);
}

static inline Py_ssize_t msize(PyObject *m) { return IS_RM(m) ? ((rm_t *)m)->len : PyDict_GET_SIZE(m); }

/* key in m: 1, 0, -1 error */
static inline int mcontains(PyObject *m, PyObject *key) {
    if (IS_RM(m)) {
        if (!PyUnicode_CheckExact(key)) return 0;
        return rm_get((rm_t *)m, key) != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
    }
    return PyDict_Contains(m, key);
}

/* m.move_to_end(key) (KeyError when absent) */
static int mmove_end(PyObject *m, PyObject *key) {
    if (IS_RM(m)) {
        int r = rm_check_key(key) != 0 ? -1 : rm_move_end((rm_t *)m, key);
        if (r == 0) PyErr_SetObject(PyExc_KeyError, key);
        return r > 0 ? 0 : -1;
    }
    return move_to_end(m, key);
}

/* m[key] = value; m.move_to_end(key) */
static int mset_end(PyObject *m, PyObject *key, PyObject *value) {
    if (IS_RM(m)) return rm_check_key(key) != 0 ? -1 : rm_set((rm_t *)m, key, value, 1);
    return set_to_end(m, key, value);
}

/* m[key] = value (a new key: appended) */
static int mset(PyObject *m, PyObject *key, PyObject *value) {
    if (IS_RM(m)) return rm_check_key(key) != 0 ? -1 : rm_set((rm_t *)m, key, value, 0);
    return PyODict_SetItem(m, key, value);
}

/* Leave ``o`` out of the cyclic garbage collector (returns ``o``). For the state's own containers that hold
 * only str, int, None and lists of ints (a record, its component / font / language lists, an exact-index entry,
 * a block) and the linker's memoised LinkResults: they can never be part of a reference cycle, and a state of a million devices would otherwise be
 * walked by every collection its allocations trigger. A dict re-enters the collector by itself when a container
 * is stored in it (CPython's dict tracking); lists never receive one (records are replaced, not edited). */
static PyObject *untracked(PyObject *o) {
    if (o != NULL && PyObject_GC_IsTracked(o)) PyObject_GC_UnTrack(o);
    return o;
}

/* the live record under exact[key] (borrowed) and its device count (borrowed): 1 found, 0 none, -1 hand over */
static int lookup_live(const state_t *s, PyObject *key, int64_t now, PyObject **rec_out, PyObject **ndev_out) {
    PyObject *hit = mget(s->exact, key), *rec;
    int64_t t;
    if (hit == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyList_CheckExact(hit) || PyList_GET_SIZE(hit) != 2) return -1;
    rec = mget(s->devices, PyList_GET_ITEM(hit, 0));
    if (rec == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyDict_CheckExact(rec) || as_i64(item(rec, K_t), &t) != 0 || t >= TBOUND || t <= -TBOUND) return -1;
    if (now - t > s->ttl) return 0;
    *rec_out = rec;
    *ndev_out = PyList_GET_ITEM(hit, 1);
    return 1;
}

/* the checks _index needs before anything changes: str keys, existing blocks are OrderedDicts */
static int check_blocks(const state_t *s, PyObject *block_keys) {
    Py_ssize_t i, n;
    if (!PyTuple_CheckExact(block_keys)) return -1;
    n = PyTuple_GET_SIZE(block_keys);
    for (i = 0; i < n; ++i) {
        PyObject *key = PyTuple_GET_ITEM(block_keys, i), *blk;
        if (!PyUnicode_CheckExact(key)) return -1;
        blk = mget(s->blocks, key);
        if (blk == NULL) {
            if (PyErr_Occurred()) return -1;
        } else if (!(PyODict_CheckExact(blk) || IS_RM(blk))) {
            return -1;
        }
    }
    return 0;
}

static int check_str_tuple(PyObject *t) {
    Py_ssize_t i;
    if (!PyTuple_CheckExact(t)) return -1;
    for (i = 0; i < PyTuple_GET_SIZE(t); ++i) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(t, i))) return -1;
    }
    return 0;
}

/* MemoryLinkState._index (after check_blocks); -1 with an exception set */
/* self.live_evictions += *pending (then 0); -1 with an exception set */
static int add_evictions(const state_t *s, Py_ssize_t *pending) {
    PyObject *ev, *ev2, *k;
    if (*pending == 0) return 0;
    if ((k = PyLong_FromSsize_t(*pending)) == NULL) return -1;
    *pending = 0;
    if ((ev = PyObject_GetAttr(s->self, A_evictions)) == NULL) {
        Py_DECREF(k);
        return -1;
    }
    ev2 = PyNumber_Add(ev, k);
    Py_DECREF(ev);
    Py_DECREF(k);
    if (ev2 == NULL || PyObject_SetAttr(s->self, A_evictions, ev2) != 0) {
        Py_XDECREF(ev2);
        return -1;
    }
    Py_DECREF(ev2);
    return 0;
}

static int do_index(const state_t *s, PyObject *did, PyObject *block_keys, PyObject *now_obj) {
    Py_ssize_t i, n = PyTuple_GET_SIZE(block_keys), pending = 0;
    int64_t now = 0;
    int have_now = PyLong_CheckExact(now_obj) && as_i64(now_obj, &now) == 0 && now < TBOUND && now > -TBOUND;
    PyObject *ev0 = s->dict != NULL ? item(s->dict, A_evictions) : NULL;
    int batch = STATE_T != NULL && Py_TYPE(s->self) == STATE_T && ev0 != NULL && PyLong_CheckExact(ev0);
    for (i = 0; i < n; ++i) {
        PyObject *key = PyTuple_GET_ITEM(block_keys, i), *blk, *v;
        blk = mget(s->blocks, key);
        if (blk == NULL) {
            if (PyErr_Occurred()) goto fail;
            /* a new block: of the kind of the block index (C-owned maps hold C-owned blocks) */
            blk = untracked(IS_RM(s->blocks) ? RM_Type.tp_alloc(&RM_Type, 0) : PyODict_New());
            if (blk == NULL) goto fail;
            if (IS_RM(blk)) ((rm_t *)blk)->free_head = ((rm_t *)blk)->head = ((rm_t *)blk)->tail = -1;
            if (mset(s->blocks, key, blk) != 0) {
                Py_DECREF(blk);
                goto fail;
            }
            Py_DECREF(blk); /* held by blocks */
            if (mset(blk, did, Py_None) != 0) goto fail;
            /* blocks[key] was appended: already at the end */
        } else {
            v = mget(blk, did);
            if (v == NULL) {
                if (PyErr_Occurred() || mset(blk, did, Py_None) != 0) goto fail;
            } else {
                if (v != Py_None && mset(blk, did, Py_None) != 0) goto fail;
                if (mmove_end(blk, did) != 0) goto fail;
            }
            if (mmove_end(s->blocks, key) != 0) goto fail;
        }
        while (msize(blk) > s->cap) { /* the oldest out; a live one counted */
            PyObject *a[2] = {blk, Py_False}, *pair, *orec, *ok, *ov;
            if (IS_RM(blk)) { /* popitem(last=False) */
                rm_remove((rm_t *)blk, ((rm_t *)blk)->head, &ok, &ov);
                pair = PyTuple_Pack(2, ok, ov);
                Py_DECREF(ok);
                Py_DECREF(ov);
            } else {
                pair = PyObject_Vectorcall(OD_popitem, a, 2, NULL);
            }
            if (pair == NULL) goto fail;
            orec = mget(s->devices, PyTuple_GET_ITEM(pair, 0));
            Py_DECREF(pair);
            if (orec == NULL) {
                if (PyErr_Occurred()) goto fail;
                continue;
            }
            {
                PyObject *t;
                int64_t tv;
                int live;
                if (have_now && PyDict_CheckExact(orec) && (t = item(orec, K_t)) != NULL && PyLong_CheckExact(t) &&
                    as_i64(t, &tv) == 0 && tv < TBOUND && tv > -TBOUND) {
                    live = now - tv <= s->ttl; /* `now - orec["t"] <= ttl` on exact ints, in range (round 12) */
                } else {
                    PyObject *diff;
                    if ((t = PyObject_GetItem(orec, K_t)) == NULL) goto fail;
                    diff = PyNumber_Subtract(now_obj, t);
                    Py_DECREF(t);
                    if (diff == NULL) goto fail;
                    live = PyObject_RichCompareBool(diff, s->ttl_obj, Py_LE);
                    Py_DECREF(diff);
                    if (live < 0) goto fail;
                }
                if (!live) continue;
                /* self.live_evictions += 1: counted here and added once below for the exact MemoryLinkState (no
                 * Python code runs in between); one at a time for another type (its attribute may be anything) */
                ++pending;
                if (!batch && add_evictions(s, &pending) != 0) goto fail; /* (nothing pending then) */
            }
        }
    }
    return add_evictions(s, &pending);
fail:
    if (pending) { /* the counts the reference made before failing, the failure's exception kept */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        if (add_evictions(s, &pending) != 0) PyErr_Clear();
        PyErr_Restore(et, ev, tb);
    }
    return -1;
}

/* MemoryLinkState._bound: only its size checks here; the eviction itself (rare) is the reference's */
static int do_bound(const state_t *s) {
    int64_t lim = s->limit;
    PyObject *r;
    if (msize(s->devices) <= lim && msize(s->exact) <= 4 * lim && msize(s->blocks) <= 4 * lim && (s->fc != NULL ? s->fc->len : PyDict_GET_SIZE(s->fam)) <= lim &&
        PyDict_GET_SIZE(PyList_GET_ITEM(s->glob, 1)) <= 8 * lim)
        return 0;
    r = PyObject_CallMethodNoArgs(s->self, A_bound);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* ---- touch ---------------------------------------------------------------------------------------------- */
typedef struct {
    PyObject *rec, *did, *n_obj;
    int64_t t;
} touch_t;

/* the checks of a touch: 0 ok, -1 hand over */
static int touch_check(const state_t *s, PyObject *rec, PyObject *fp_ids, PyObject *block_keys, PyObject *ip,
                       int64_t now, touch_t *tc) {
    int c;
    if (!PyDict_CheckExact(rec) || as_i64(item(rec, K_t), &tc->t) != 0) return -1;
    if ((tc->n_obj = item(rec, K_n)) == NULL || !PyLong_CheckExact(tc->n_obj)) return -1;
    if ((tc->did = item(rec, K_id)) == NULL || !PyUnicode_CheckExact(tc->did)) return -1;
    if (!PyLong_CheckExact(ip) || now >= TBOUND || now <= -TBOUND) return -1;
    if (check_str_tuple(fp_ids) != 0 || check_blocks(s, block_keys) != 0) return -1;
    c = mcontains(s->devices, tc->did); /* the reference's move_to_end raises KeyError without it */
    if (c <= 0) return -1;
    tc->rec = rec;
    return 0;
}

static int touch_do(const state_t *s, const touch_t *tc, PyObject *fp_ids, PyObject *block_keys, PyObject *ndev,
                    PyObject *ip, PyObject *now_obj, int64_t now) {
    PyObject *n1;
    Py_ssize_t i;
    if (now > tc->t && PyDict_SetItem(tc->rec, K_t, now_obj) != 0) return -1;
    if ((n1 = PyNumber_Add(tc->n_obj, I_one)) == NULL) return -1;
    if (PyDict_SetItem(tc->rec, K_n, n1) != 0) {
        Py_DECREF(n1);
        return -1;
    }
    Py_DECREF(n1);
    if (PyObject_IsTrue(ip) && PyDict_SetItem(tc->rec, K_ip, ip) != 0) return -1; /* `if ip:` (an exact int) */
    if (mmove_end(s->devices, tc->did) != 0) return -1;
    for (i = 0; i < PyTuple_GET_SIZE(fp_ids); ++i) {
        PyObject *fid = PyTuple_GET_ITEM(fp_ids, i);
        int c = mcontains(s->exact, fid);
        if (c < 0) return -1;
        if (c) {
            if (mmove_end(s->exact, fid) != 0) return -1;
        } else {
            PyObject *hit = untracked(PyList_New(2));
            if (hit == NULL) return -1;
            Py_INCREF(tc->did);
            Py_INCREF(ndev);
            PyList_SET_ITEM(hit, 0, tc->did);
            PyList_SET_ITEM(hit, 1, ndev);
            c = mset(s->exact, fid, hit);
            Py_DECREF(hit);
            if (c != 0) return -1;
        }
    }
    if (do_index(s, tc->did, block_keys, now_obj) != 0) return -1;
    return do_bound(s);
}

static PyObject *ls_touch(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    state_t s;
    touch_t tc;
    int64_t now;
    PyObject *res = NULL;
    (void)mod;
    s.dict = NULL;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "touch(state, rec, fp_ids, block_keys, ndev, ip, now)");
        return NULL;
    }
    if (as_i64(args[6], &now) != 0 || !PyLong_CheckExact(args[6]) || state_load(args[0], &s) != 0 ||
        touch_check(&s, args[1], args[2], args[3], args[5], now, &tc) != 0) {
        state_release(&s);
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (touch_do(&s, &tc, args[2], args[3], args[4], args[5], args[6], now) == 0) res = Py_NewRef(Py_True);
    state_release(&s);
    return res;
}

/* ---- write ---------------------------------------------------------------------------------------------- */
typedef struct {
    PyObject *rec, *did, *fp_ids, *block_keys, *ndev, *fam, *fam_keys, *glob_keys;
    int new_device;
} plan_t;

/* the checks of a write: 0 ok, -1 hand over */
static int write_check(const state_t *s, const plan_t *p, PyObject **did) {
    PyObject *f;
    if (!PyDict_Check(p->rec) || (*did = item(p->rec, K_id)) == NULL || !PyUnicode_CheckExact(*did)) return -1;
    if (check_str_tuple(p->fp_ids) != 0 || check_blocks(s, p->block_keys) != 0) return -1;
    if (!PyUnicode_CheckExact(p->fam) || !PyTuple_CheckExact(p->fam_keys) || !PyTuple_CheckExact(p->glob_keys))
        return -1;
    if (s->fc != NULL) { /* C-owned counts: keys that fit an int64 (the linker's are below 2**62) */
        Py_ssize_t i, n = PyTuple_GET_SIZE(p->fam_keys);
        if (n > FC_MAX_KEYS) return -1;
        for (i = 0; i < n; ++i) {
            int64_t k;
            if (!PyLong_CheckExact(PyTuple_GET_ITEM(p->fam_keys, i)) || as_i64(PyTuple_GET_ITEM(p->fam_keys, i), &k))
                return -1;
        }
    } else if (PyTuple_GET_SIZE(p->fam_keys) || p->new_device) {
        f = PyDict_GetItemWithError(s->fam, p->fam);
        if (f == NULL) {
            if (PyErr_Occurred()) return -1;
        } else if (!PyList_CheckExact(f) || PyList_GET_SIZE(f) != 2 || !PyLong_CheckExact(PyList_GET_ITEM(f, 0)) ||
                   !PyDict_CheckExact(PyList_GET_ITEM(f, 1))) {
            return -1;
        }
    }
    return 0;
}

/* counts[k] = counts.get(k, 0) + 1 (then counts.move_to_end(k) for an OrderedDict) */
static int count_up(PyObject *counts, PyObject *k, int ordered) {
    PyObject *v, *v1;
    Py_hash_t h = PyObject_Hash(k); /* hashed once for the read and the store (round 12) */
    int r;
    if (h == -1) return -1;
    v = _PyDict_GetItem_KnownHash(counts, k, h);
    if (v == NULL) {
        if (PyErr_Occurred()) return -1;
        v1 = Py_NewRef(I_one);
    } else if ((v1 = PyNumber_Add(v, I_one)) == NULL) {
        return -1;
    }
    r = ordered ? set_to_end(counts, k, v1) : _PyDict_SetItem_KnownHash(counts, k, v1, h);
    Py_DECREF(v1);
    return r;
}

static int write_do(const state_t *s, const plan_t *p, PyObject *did, PyObject *now_obj) {
    Py_ssize_t i;
    if (mset_end(s->devices, did, p->rec) != 0) return -1;
    for (i = 0; i < PyTuple_GET_SIZE(p->fp_ids); ++i) {
        PyObject *hit = untracked(PyList_New(2));
        int r;
        if (hit == NULL) return -1;
        Py_INCREF(did);
        Py_INCREF(p->ndev);
        PyList_SET_ITEM(hit, 0, did);
        PyList_SET_ITEM(hit, 1, p->ndev);
        r = mset_end(s->exact, PyTuple_GET_ITEM(p->fp_ids, i), hit);
        Py_DECREF(hit);
        if (r != 0) return -1;
    }
    if (do_index(s, did, p->block_keys, now_obj) != 0) return -1;
    if (s->fc != NULL) {
        if (PyTuple_GET_SIZE(p->fam_keys) || p->new_device) { /* checked by write_check */
            int64_t kv[FC_MAX_KEYS];
            Py_ssize_t n = PyTuple_GET_SIZE(p->fam_keys);
            for (i = 0; i < n; ++i) (void)as_i64(PyTuple_GET_ITEM(p->fam_keys, i), &kv[i]);
            if (fc_count(s->fc, p->fam, p->new_device, kv, n) != 0) return -1;
        }
    } else if (PyTuple_GET_SIZE(p->fam_keys) || p->new_device) {
        PyObject *f = PyDict_GetItemWithError(s->fam, p->fam), *counts;
        if (f == NULL) {
            PyObject *c0;
            if (PyErr_Occurred()) return -1;
            if ((c0 = PyDict_New()) == NULL) return -1;
            f = Py_BuildValue("[iN]", 0, c0);
            if (f == NULL || PyODict_SetItem(s->fam, p->fam, f) != 0) {
                Py_XDECREF(f);
                return -1;
            }
            Py_DECREF(f); /* held by fam; already at the end */
        } else if (move_to_end(s->fam, p->fam) != 0) {
            return -1;
        }
        if (p->new_device) {
            PyObject *n1 = PyNumber_Add(PyList_GET_ITEM(f, 0), I_one);
            if (n1 == NULL || PyList_SetItem(f, 0, n1) != 0) return -1;
        }
        counts = PyList_GET_ITEM(f, 1);
        for (i = 0; i < PyTuple_GET_SIZE(p->fam_keys); ++i) {
            if (count_up(counts, PyTuple_GET_ITEM(p->fam_keys, i), 0) != 0) return -1;
        }
    }
    if (PyTuple_GET_SIZE(p->glob_keys) || p->new_device) {
        PyObject *g = PyList_GET_ITEM(s->glob, 1);
        if (p->new_device) {
            PyObject *n1 = PyNumber_Add(PyList_GET_ITEM(s->glob, 0), I_one);
            if (n1 == NULL || PyList_SetItem(s->glob, 0, n1) != 0) return -1;
        }
        for (i = 0; i < PyTuple_GET_SIZE(p->glob_keys); ++i) {
            if (count_up(g, PyTuple_GET_ITEM(p->glob_keys, i), 1) != 0) return -1;
        }
    }
    return do_bound(s);
}

static PyObject *ls_write(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    state_t s;
    plan_t p;
    PyObject *did = NULL, *res = NULL;
    int64_t now;
    int nd;
    (void)mod;
    s.dict = NULL;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError,
                        "write(state, rec, fp_ids, block_keys, ndev, new_device, fam, fam_keys, glob_keys, now)");
        return NULL;
    }
    p.rec = args[1];
    p.fp_ids = args[2];
    p.block_keys = args[3];
    p.ndev = args[4];
    p.fam = args[6];
    p.fam_keys = args[7];
    p.glob_keys = args[8];
    nd = PyBool_Check(args[5]) ? args[5] == Py_True : -1;
    p.new_device = nd;
    if (nd < 0 || !PyLong_CheckExact(args[9]) || as_i64(args[9], &now) != 0 || state_load(args[0], &s) != 0 ||
        write_check(&s, &p, &did) != 0) {
        state_release(&s);
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (write_do(&s, &p, did, args[9]) == 0) res = Py_NewRef(Py_True);
    state_release(&s);
    return res;
}

/* round 16: the fingerprint parsed once for the candidates (linkfp.h's read_fp), handed down to linking.select through
 * the linker's glue in one capsule of HAND; BEST_GLUE: BEST_FUNC is that glue (it takes the capsule) */
static PyObject *S_app;
#include "linkfp.h"
static lfp_hand_t HAND;
static PyObject *HAND_CAP;
static int BEST_GLUE;
static int HAND_ON = 1; /* fp_hand(False) turns it off (tests compare both) */
static uint64_t HAND_USED; /* link calls that handed the parse down */
#include "linkstate_decide.h"

#include "linkstate_entry.h" /* entry, configure_entry, configure, round3, direct_records */

static PyMethodDef methods[] = {
    {"round3", (PyCFunction)(void (*)(void))ls_round3, METH_FASTCALL,
     "round3(x[, on]) -> round(x, 3) as the kernels compute it; on switches the C rounding."},
    {"entry_memo", (PyCFunction)(void (*)(void))ls_entry_memo, METH_FASTCALL,
     "entry_memo([on]) -> whether entry remembers its reads of the linker's instance dict (round 16)."},
    {"fp_hand", (PyCFunction)(void (*)(void))ls_fp_hand, METH_FASTCALL,
     "fp_hand([on]) -> (on, count): whether link hands its parse of the fingerprint down to select (round 16)."},
    {"direct_records", (PyCFunction)(void (*)(void))ls_direct_records, METH_FASTCALL,
     "direct_records([on]) -> (on, count): whether new records' values are stored in the dict's entries directly."},
    {"touch", (PyCFunction)(void (*)(void))ls_touch, METH_FASTCALL,
     "touch(state, rec, fp_ids, block_keys, ndev, ip, now) -> True, or None (hand over)."},
    {"write", (PyCFunction)(void (*)(void))ls_write, METH_FASTCALL,
     "write(state, rec, fp_ids, block_keys, ndev, new_device, fam, fam_keys, glob_keys, now) -> True, or None."},
    {"link", (PyCFunction)(void (*)(void))ls_link, METH_FASTCALL,
     "link(state, fp, keys, now, ip, min_family_devices, mobile_prior, link_probability, walk, best_candidate, "
     "new_device_id) -> (device_id, confidence, changed, new, how), or None (hand over)."},
    {"entry", (PyCFunction)(void (*)(void))ls_entry, METH_FASTCALL,
     "entry(linker, fp, ts_ms, ip[, fields]) -> DeviceLinker.link's LinkResult over a MemoryLinkState (fields=True: "
     "a new device's as the tuple of its fields), or None (hand over)."},
    {"keys", (PyCFunction)ls_keys, METH_O,
     "keys(fp) -> DeviceLinker._keys(fp) computed afresh (the 9-tuple), or None (hand over)."},
    {"configure_entry", (PyCFunction)(void (*)(void))ls_configure_entry, METH_FASTCALL,
     "configure_entry(linker_type, fp_type, state_type, result_type, best_candidate, new_device_id, class_pos, "
     "class_pos_mobile, pop_pos, pop_pos_mobile, id_tags)."},
    {"configure", (PyCFunction)(void (*)(void))ls_configure, METH_FASTCALL,
     "configure(volatile_attrs, shared_list, shared_lists): the reference's names and version-list cache."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "linkstate",
    "MemoryLinkState's bookkeeping and the linker's exact / class paths (reference: fingerprint/linkstate.py, "
    "linker.py).",
    -1, methods,
};

PyMODINIT_FUNC PyInit_linkstate(void) {
    PyObject *m;
#define INTERN(var, s) \
    if ((var = PyUnicode_InternFromString(s)) == NULL) return NULL;
    INTERN(K_id, "id") INTERN(K_fp, "fp") INTERN(K_fam, "fam") INTERN(K_bf, "bf") INTERN(K_ov, "ov")
    INTERN(K_bv, "bv") INTERN(K_av, "av") INTERN(K_c, "c") INTERN(K_r, "r") INTERN(K_fs, "fs") INTERN(K_fn, "fn")
    INTERN(K_lg, "lg") INTERN(K_ip, "ip") INTERN(K_f, "f") INTERN(K_t, "t") INTERN(K_n, "n")
    INTERN(A_dict, "__dict__") INTERN(A_devices, "_devices") INTERN(A_exact, "_exact") INTERN(A_blocks, "_blocks")
    INTERN(A_fam, "_fam") INTERN(A_glob, "_glob") INTERN(A_ttl, "ttl_ms") INTERN(A_cap, "max_per_block")
    INTERN(A_max, "max_devices") INTERN(A_evictions, "live_evictions") INTERN(A_bound, "_bound")
    INTERN(M_move_to_end, "move_to_end") INTERN(M_popitem, "popitem") INTERN(M_round, "__round__")
    INTERN(M_reversed, "__reversed__")
    INTERN(A_family, "family") INTERN(A_canonical, "canonical") INTERN(A_components, "components")
    INTERN(A_renderer, "renderer") INTERN(A_fonts_sketch, "fonts_sketch") INTERN(A_font_count, "font_count")
    INTERN(A_lang_items, "lang_items") INTERN(A_mobile, "mobile") INTERN(A_browser_family, "browser_family")
    INTERN(A_os_version, "os_version") INTERN(A_browser_version, "browser_version")
    INTERN(A_app_version, "app_version")
    INTERN(A_id, "id") INTERN(A_aliases, "aliases") INTERN(A_source, "source") INTERN(A_state, "state")
    INTERN(A_key_memo, "_key_memo") INTERN(A_results, "_results") INTERN(A_ip_memo, "_ip_memo")
    INTERN(A_min_family, "min_family_devices") INTERN(A_prior, "mobile_prior") INTERN(A_link_p, "link_probability")
    INTERN(A_walk, "_walk") INTERN(A_best, "best_candidate") INTERN(M_keys, "_keys") INTERN(A_variant_memo, "_variant_memo")
    INTERN(R_fields[0], "device_id") INTERN(R_fields[1], "link_confidence") INTERN(R_fields[2], "changed")
    INTERN(R_fields[3], "new") INTERN(R_fields[4], "how")
    INTERN(S_app, "app")
    INTERN(S_exact, "exact") INTERN(S_shared, "shared") INTERN(S_model, "model") INTERN(S_new, "new") INTERN(S_renderer, "webgl_renderer")
#undef INTERN
    if ((EMPTY = PyTuple_New(0)) == NULL) return NULL;
    if ((I_zero = PyLong_FromLong(0)) == NULL || (I_one = PyLong_FromLong(1)) == NULL || (I_three = PyLong_FromLong(3)) == NULL) return NULL;
    if (PyType_Ready(&FC_Type) < 0 || PyType_Ready(&RM_Type) < 0) return NULL;
    OD_move_to_end = PyObject_GetAttr((PyObject *)&PyODict_Type, M_move_to_end);
    OD_popitem = PyObject_GetAttr((PyObject *)&PyODict_Type, M_popitem);
    if (OD_move_to_end == NULL || OD_popitem == NULL) return NULL;
    if ((HAND_CAP = PyCapsule_New(&HAND, LFP_CAPSULE, NULL)) == NULL) return NULL;
    m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    Py_INCREF(&RM_Type);
    if (PyModule_AddObject(m, "RecencyMap", (PyObject *)&RM_Type) < 0) {
        Py_DECREF(&RM_Type);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FC_Type);
    if (PyModule_AddObject(m, "FamilyCounts", (PyObject *)&FC_Type) < 0) {
        Py_DECREF(&FC_Type);
        Py_DECREF(m);
        return NULL;
    }
    /* (n components, renderer slot, resettable-id positions, MIN_LINK_CONFIDENCE, COMMON_POPULARITY,
     * class popularity, font-list blocks walked): the linker uses this module only when they equal its own */
    if (PyModule_AddObject(m, "CONSTANTS",
                           Py_BuildValue("(ii(iii)dddi)", NCOMP, RENDERER_SLOT, ID_POS[0], ID_POS[1], ID_POS[2],
                                         MIN_LINK_CONFIDENCE, COMMON_POPULARITY, CLASS_POPULARITY,
                                         FONT_PROBES)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
