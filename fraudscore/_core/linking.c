/*
 * fraudscore._core.linking -- the device linker's per-candidate work
 * (reference: fraudscore/fingerprint/linkfeatures.py and linker.py DeviceLinker.decide, linkstate.py
 * MemoryLinkState.read).
 *
 * walk(blocks, block_keys, devices, skip, now, ttl)
 *     The live records of the candidate blocks, most recently seen first, no repeats, ``skip`` left out:
 *     the block walk of MemoryLinkState.read.
 * select(fp, cands, now, ip, max_scored[, hand])
 *     compatible_records(fp, cands); of those sharing a resettable id with ``fp`` (else all of them) the
 *     ``max_scored`` first in the order of sorted((n_differences, -t, id)); their pair_features as one
 *     float64 row each. Returns (n_compatible, [records], bytes of rows x 24 float64).
 * pick(probabilities, records)
 *     The index of the first of sorted(key=(-p, -t, id)): the record the model links to.
 *
 * Contract: every function computes exactly what the Python reference computes, bit for bit, or returns
 * None (pick: -1) -- a type it does not handle (a non-int, an int beyond 64 bits, a record that is not a
 * dict, a missing key, a tie the reference would settle by comparing dicts): the caller then runs the
 * Python reference on the same input, which gives the answer (or the exception). No Python code runs
 * inside these functions (only exact dicts, lists, tuples, str and int are read).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linkcommon.h"
#include "switch_arg.h"
#include "linking_attr.h"
#include "linking_odict.h"
#include "linkstate_maps.h" /* rm_t, rm_get: the C-owned maps of MemoryLinkState (round 13; the type: linkstate) */

#define NCOMP 14         /* len(VOLATILE_ATTRS) */
#define NFEAT 24         /* len(PAIR_FEATURES) */
#define SKETCH_K 32      /* sections.SKETCH_K */
#define MAX_SKETCH 512   /* longer sketches go to the reference */
#define MS_PER_HOUR 3600000.0

/* positions in VOLATILE_ATTRS (checked against the Python module by LAYOUT at import) */
#define POS_UA 0
#define POS_OSV 1
static const int ATTR_POS[6] = {3, 4, 5, 6, 7, 11}; /* screen timezone languages fonts_hash canvas_hash sim */
static const int ID_POS[3] = {8, 9, 10};            /* android_id idfv imei */
static const int FLAG_POS[2] = {12, 13};            /* emulator rooted */

static PyObject *K_fam, *K_bf, *K_ov, *K_bv, *K_av, *K_c, *K_r, *K_t, *K_id, *K_fs, *K_fn, *K_lg, *K_ip, *K_n, *K_fp, *K_f;
static PyObject *A_family, *A_canonical, *A_components, *A_renderer, *A_fonts_sketch, *A_font_count, *A_lang_items,
    *A_mobile, *A_browser_family, *A_os_version, *A_browser_version, *A_app_version, *A_source, *S_app,
    *S_reversed;
static PyTypeObject *OrderedDictType;
#include "linking_maps.h" /* RM_TYPE, map_get, use_maps: the C-owned maps of the walk (round 13) */
#include "linkfp.h" /* the fingerprint read (read_fp), its sketches (round 16: shared with linkstate) */

/* linkfeatures.version_step */
static double version_step(const version_t *nw, const version_t *old) {
    int64_t major, minor, s;
    if (nw->none || old->none || nw->len == 0 || old->len == 0) return -1.0;
    major = nw->v[0] - old->v[0];
    minor = (nw->len > 1 ? nw->v[1] : 0) - (old->len > 1 ? old->v[1] : 0);
    s = major * 100 + minor;
    if (s < -1) s = -1;
    if (s > 2000) s = 2000;
    return (double)s;
}

/* sections.sketch_jaccard(a, b, k=SKETCH_K) of two non-empty sketches */
static double sketch_jaccard(const sketch_t *a, const sketch_t *b) {
    Py_ssize_t i = 0, j = 0, u = 0, both = 0;
    if (a->n == 0 || b->n == 0) return 0.0;
    while (u < SKETCH_K && (i < a->n || j < b->n)) {
        if (j >= b->n || (i < a->n && a->v[i] < b->v[j])) {
            ++i;
        } else if (i >= a->n || b->v[j] < a->v[i]) {
            ++j;
        } else {
            ++i;
            ++j;
            ++both;
        }
        ++u;
    }
    return (double)both / (double)u;
}

static inline double cmp_comp(int64_t a, int64_t b) { /* linkfeatures._cmp */
    if (a == b) return a ? 0.0 : -1.0;
    return (a == 0 || b == 0) ? 2.0 : 1.0;
}

#include "linking_pack.h" /* the packed records: prec_t, pack, packed, PACK_CACHE */

/* ---- the candidates ------------------------------------------------------------------------------------- */
typedef struct {
    PyObject *rec;   /* borrowed from the cands list */
    prec_t p;        /* its packed fields (a copy: the table slot may be taken by a later record) */
    int64_t nd;
} cand_t;

/* the version lists checked per version kind, and their outcome, in a small direct-mapped table (round 10: was
 * the last list only, which missed whenever a block's records alternate between two versions): records share
 * version lists (linkfeatures.make_record), so most checks are one pointer test. Valid for one select call (no
 * Python code runs in between, so no list is freed and its memory reused). */
#define VMEMO_BITS 6
typedef struct {
    PyObject *obj[3][1 << VMEMO_BITS];
    int ok[3][1 << VMEMO_BITS];
    /* round 14: what version_step reads of the parsed list (None, length, first two parts), for the pair features
     * of the scored few (most of their lists were parsed by the filter: records share them) */
    int none[3][1 << VMEMO_BITS];
    Py_ssize_t len[3][1 << VMEMO_BITS];
    int64_t v0[3][1 << VMEMO_BITS], v1[3][1 << VMEMO_BITS];
} vmemo_t;
#define VMEMO_SLOT(o) ((size_t)(((uint64_t)(uintptr_t)(o) * 0x9E3779B97F4A7C15ull) >> (64 - VMEMO_BITS)))

#include "linking_scratch.h" /* round 15: select's scratch kept between calls, the parsed version lists */

/* compatible(fp, rec) of a packed record: 1 yes, 0 no, -1 hand over */
static int compatible(const fpinfo_t *fp, const prec_t *pr, vmemo_t *memo) {
    PyObject *o = pr->fam;
    version_t v;
    int eq;
    if (o != fp->fam) { /* interned names: equal ones are mostly the same object */
        if (!PyUnicode_CheckExact(o)) return -1;
        if (PyUnicode_Compare(o, fp->fam) != 0) {
            if (PyErr_Occurred()) return -1;
            return 0;
        }
    }
    o = pr->bf;
    if (o == fp->bf) {
        eq = 1;
    } else if (o == Py_None || fp->bf == Py_None) {
        eq = o == fp->bf;
    } else {
        if (!PyUnicode_CheckExact(o)) return -1;
        eq = o == fp->bf || PyUnicode_Compare(o, fp->bf) == 0;
        if (PyErr_Occurred()) return -1;
    }
    if (!eq) return 0;
#define VCHECK(field, mine, m)                                                            \
    if (!(mine)->none) {                                                                  \
        size_t h_;                                                                        \
        o = pr->field;                                                                    \
        h_ = VMEMO_SLOT(o);                                                               \
        if (o != memo->obj[m][h_]) {                                                      \
            const int64_t *pv_;                                                           \
            Py_ssize_t pl_;                                                               \
            int pn_;                                                                      \
            if (vc_parts(o, &v, &pv_, &pl_, &pn_) != 0) return -1;                        \
            memo->obj[m][h_] = o;                                                         \
            memo->ok[m][h_] = pn_ || version_ge_parts(mine, pv_, pl_);                    \
            memo->none[m][h_] = pn_;                                                      \
            memo->len[m][h_] = pl_;                                                       \
            memo->v0[m][h_] = pl_ > 0 ? pv_[0] : 0;                                       \
            memo->v1[m][h_] = pl_ > 1 ? pv_[1] : 0;                                       \
        }                                                                                 \
        if (!memo->ok[m][h_]) return 0;                                                   \
    }
    VCHECK(ov, &fp->ov, 0)
    VCHECK(bv, &fp->bv, 1)
    VCHECK(av, &fp->av, 2)
#undef VCHECK
    return 1;
}

/* order of sorted((n_differences, -t, id)): <0 a first, >0 b first; 0 = a tie the reference settles by
 * comparing the records (hand over) or an error */
static int cand_cmp(const cand_t *a, const cand_t *b) {
    int c;
    if (a->nd != b->nd) return a->nd < b->nd ? -1 : 1;
    if (a->p.t != b->p.t) return a->p.t > b->p.t ? -1 : 1;
    c = PyUnicode_Compare(a->p.id, b->p.id);
    if (c == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return c;
}

/* a record's version list of kind m (0 ov, 1 bv, 2 av) as version_step reads it: from the filter's memo when that
 * parsed this very list in this call (no Python code ran since: the list is unchanged), else parsed now (round 14) */
static int version_of(PyObject *o, const vmemo_t *memo, int m, version_t *out) {
    size_t h = VMEMO_SLOT(o);
    if (memo->obj[m][h] == o) {
        out->none = memo->none[m][h];
        out->len = memo->len[m][h];
        out->v[0] = memo->v0[m][h];
        out->v[1] = memo->v1[m][h];
        return 0;
    }
    return read_version(o, out, 1);
}

/* pair_features(fp, rec, now, ip, n_c) of a candidate whose comps / t are read; 0 ok, -1 hand over */
static int features(const fpinfo_t *fp, const cand_t *cd, int64_t now, int64_t ip, Py_ssize_t n_c, double *x,
                    const vmemo_t *memo) {
    const prec_t *pr = &cd->p;
    PyObject *o;
    version_t rov, rbv, rav;
    sketch_t rfs, rlg;
    const int64_t *nw = fp->comps, *old = pr->comps;
    int64_t rfn, rip, rn, gapms, fdi;
    double bstep, ostep, astep, flags, f2;
    int i, nboth = 0, anyeq = 0, alldiff = 1;
    if (version_of(pr->bv, memo, 1, &rbv) != 0 || version_of(pr->ov, memo, 0, &rov) != 0 ||
        version_of(pr->av, memo, 2, &rav) != 0)
        return -1;
    bstep = version_step(&fp->bv, &rbv);
    ostep = version_step(&fp->ov, &rov);
    astep = version_step(&fp->av, &rav);
    x[0] = bstep;
    x[1] = ostep;
    x[2] = astep;
    x[3] = (nw[POS_UA] != old[POS_UA] && bstep <= 0 && ostep <= 0 && nw[POS_OSV] == old[POS_OSV]) ? 1.0 : 0.0;
    x[4] = (double)cd->nd;
    for (i = 0; i < 5; ++i) x[5 + i] = cmp_comp(nw[ATTR_POS[i]], old[ATTR_POS[i]]);
    x[10] = cmp_comp(fp->renderer, pr->r);
    x[11] = cmp_comp(nw[ATTR_POS[5]], old[ATTR_POS[5]]);
    flags = cmp_comp(nw[FLAG_POS[0]], old[FLAG_POS[0]]);
    f2 = cmp_comp(nw[FLAG_POS[1]], old[FLAG_POS[1]]);
    x[12] = f2 > flags ? f2 : flags;
    for (i = 0; i < 3; ++i) {
        int64_t a = nw[ID_POS[i]], b = old[ID_POS[i]];
        if (a && b) {
            ++nboth;
            if (a == b) {
                anyeq = 1;
                alldiff = 0;
            }
        }
    }
    x[13] = anyeq ? 1.0 : 0.0;
    x[14] = nboth == 0 ? -1.0 : (alldiff ? 1.0 : 0.0);
    if ((o = pr->fs) == NULL || read_sketch(o, &rfs) != 0) return -1;
    if (fp->fs.truthy && rfs.truthy) {
        if ((o = pr->fn) == NULL || as_i64(o, &rfn) != 0 || rfn >= VBOUND || rfn <= -VBOUND) return -1;
        x[15] = sketch_jaccard(&fp->fs, &rfs);
        fdi = fp->font_count - rfn;
        if (fdi < 0) fdi = -fdi;
        x[16] = (double)(fdi < 500 ? fdi : 500);
    } else {
        x[15] = -1.0;
        x[16] = -1.0;
    }
    if ((o = pr->lg) == NULL || read_sketch(o, &rlg) != 0) return -1;
    x[17] = (fp->lg.truthy && rlg.truthy) ? sketch_jaccard(&fp->lg, &rlg) : -1.0;
    /* now - t: both within int64 (checked by the caller's bound) */
    gapms = now - pr->t;
    x[18] = log1p((double)(gapms > 0 ? gapms : 0) / MS_PER_HOUR);
    if ((o = pr->ip) == NULL || as_i64(o, &rip) != 0) return -1;
    x[19] = (!ip || !rip) ? -1.0 : (ip == rip ? 1.0 : 0.0);
    x[20] = (double)n_c;
    x[21] = fp->source_app;
    x[22] = fp->mobile;
    if ((o = pr->n) == NULL || as_i64(o, &rn) != 0) return -1;
    x[23] = log1p((double)rn);
    return 0;
}


/* The records select handed back last, with their time, id and dict version tag (round 14): pick reads a record's
 * time and id from here while the record is the same dict with the same items (its address and ma_version_tag
 * unchanged: CPython 3.11 / 3.12 give a dict a fresh tag from one global counter when it is made and whenever
 * its items change, as the packed-record table relies on), instead of two dict lookups and an int read per row.
 * The id is borrowed: it is dereferenced only while its dict, which holds it, is unchanged. */
#define SEL_MEMO_MAX 64
static struct {
    Py_ssize_t k;
    PyObject *rec[SEL_MEMO_MAX];
    uint64_t tag[SEL_MEMO_MAX];
    int64_t t[SEL_MEMO_MAX];
    PyObject *id[SEL_MEMO_MAX];
} SEL_MEMO;
static int SEL_MEMO_ON = 1; /* pick_memo(False) turns it off (tests compare both) */

static PyObject *hand_over(void) {
    if (PyErr_Occurred()) PyErr_Clear();
    Py_RETURN_NONE;
}

static PyObject *linking_select(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *fp, *cands, *res = NULL, *recs = NULL, *feats = NULL;
    fpinfo_t own;
    const fpinfo_t *info = NULL; /* &own, or the parse linkstate handed down (round 16) */
    int64_t now, ip, max_scored;
    Py_ssize_t n, i, j, n_c = 0, n_pool = 0, k = 0;
    cand_t *all = NULL, **pool = NULL, **top = NULL;
    int ids_now[3], n_ids = 0, ok = 0;
    vmemo_t vmemo;
    prec_t tmp;
    const lfp_hand_t *hand = NULL;
    (void)mod;
    if (nargs == 6) { /* linkstate's parse of fp, handed down (linkfp.h, round 16) */
        if ((hand = (const lfp_hand_t *)PyCapsule_GetPointer(args[5], LFP_CAPSULE)) == NULL) return NULL;
    } else if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "select(fp, cands, now, ip, max_scored[, hand])");
        return NULL;
    }
    fp = args[0];
    cands = args[1];
    if (!PyList_CheckExact(cands) || as_i64(args[2], &now) != 0 || as_i64(args[3], &ip) != 0 ||
        as_i64(args[4], &max_scored) != 0 || max_scored < 1 || now >= TBOUND || now <= -TBOUND)
        return hand_over();
    if (hand != NULL && hand->fp == fp && hand->info != NULL) { /* read_fp(fp) done and succeeded in linkstate */
        info = hand->info;
        own.fam = own.bf = own.comps_tuple = own.canon = own.rend_obj = own.fs_obj = own.lg_obj = own.fc_obj = NULL;
        own.ver_obj[0] = own.ver_obj[1] = own.ver_obj[2] = NULL;
    } else if (read_fp(fp, &own) != 0) {
        fp_release(&own);
        return hand_over();
    } else {
        info = &own;
    }
    if (SCRATCH.busy) { /* a call from inside this one (see SCRATCH): the reference answers */
        fp_release(&own);
        return hand_over();
    }
    SCRATCH.busy = 1;
    memset(vmemo.obj, 0, sizeof(vmemo.obj)); /* NULL: no list (a record's field is never NULL here) */
    n = PyList_GET_SIZE(cands);
    if (n > 0) {
        if (scratch_reserve(n) != 0) goto out;
        all = SCRATCH.all;
        pool = SCRATCH.pool;
        top = SCRATCH.top;
    }
    /* compatible_records, over the packed records */
    for (i = 0; i < n; ++i) {
        PyObject *rec = PyList_GET_ITEM(cands, i);
        const prec_t *pr;
        int c;
        if (!PyDict_CheckExact(rec) || (pr = packed(rec, &tmp)) == NULL) goto out;
        c = compatible(info, pr, &vmemo);
        if (c < 0) goto out;
        if (c) {
            all[n_c].rec = rec;
            all[n_c++].p = *pr;
        }
    }
    for (i = 0; i < 3; ++i) {
        if (info->comps[ID_POS[i]]) ids_now[n_ids++] = ID_POS[i];
    }
    /* the resettable-id pool first (read every compatible record's components, as the reference does) */
    if (n_ids) {
        for (i = 0; i < n_c; ++i) {
            for (j = 0; j < n_ids; ++j) {
                if (all[i].p.comps[ids_now[j]] == info->comps[ids_now[j]]) {
                    pool[n_pool++] = &all[i];
                    break;
                }
            }
        }
    }
    if (n_pool == 0) {
        for (i = 0; i < n_c; ++i) pool[n_pool++] = &all[i];
    }
    /* keys (n_differences, -t, id) and the top max_scored in that order (insertion into a sorted prefix) */
    for (i = 0; i < n_pool; ++i) {
        cand_t *cd = pool[i];
        int64_t nd = info->renderer != cd->p.r;
        for (j = 0; j < NCOMP; ++j) nd += info->comps[j] != cd->p.comps[j];
        cd->nd = nd; /* the id is compared (a str) only on a (nd, t) tie */
        if (k < max_scored || cand_cmp(cd, top[k - 1]) < 0) {
            Py_ssize_t p = k < max_scored ? k : k - 1;
            if (k < max_scored) ++k;
            while (p > 0) {
                int c = cand_cmp(cd, top[p - 1]);
                if (c == 0) goto out;
                if (c > 0) break;
                top[p] = top[p - 1];
                --p;
            }
            top[p] = cd;
        }
        /* a tie with the last kept or the first left out also needs the reference */
        if (k == max_scored && i >= k && cd != top[k - 1] && cand_cmp(cd, top[k - 1]) == 0) goto out;
    }
    /* a full tie anywhere in the pool (equal ids: the reference would compare the records) hands over; ids are
     * compared only where (n_differences, t) tie, as the reference's tuple comparison does */
    if (n_pool > 1) {
        Py_ssize_t size = 4, mask, h;
        Py_ssize_t *slot;
        while (size < 2 * n_pool) size *= 2;
        mask = size - 1;
        if ((slot = scratch_slots(size)) == NULL) goto out;
        for (i = 0; i < size; ++i) slot[i] = -1;
        for (i = 0; i < n_pool; ++i) {
            uint64_t hv = (uint64_t)pool[i]->p.t * 0x9E3779B97F4A7C15ull + (uint64_t)pool[i]->nd;
            hv ^= hv >> 29;
            for (h = (Py_ssize_t)(hv & (uint64_t)mask); slot[h] >= 0; h = (h + 1) & mask) {
                if (cand_cmp(pool[slot[h]], pool[i]) == 0) goto out;
            }
            slot[h] = i;
        }
    }
    /* the rows */
    recs = PyList_New(k);
    feats = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(sizeof(double) * NFEAT * (size_t)(k > 0 ? k : 0)));
    if (recs == NULL || feats == NULL) goto out;
    {
        double *x = (double *)PyBytes_AS_STRING(feats);
        for (i = 0; i < k; ++i) {
            if (features(info, top[i], now, ip, n_c, x + i * NFEAT, &vmemo) != 0) goto out;
            Py_INCREF(top[i]->rec);
            PyList_SET_ITEM(recs, i, top[i]->rec);
        }
    }
    {
        PyObject *nobj = PyLong_FromSsize_t(n_c); /* (n_c, recs, feats), without Py_BuildValue's format parsing */
        res = nobj != NULL ? PyTuple_Pack(3, nobj, recs, feats) : NULL;
        Py_XDECREF(nobj);
    }
    ok = res != NULL;
#if PACK_CACHE
    SEL_MEMO.k = 0;
    if (ok && SEL_MEMO_ON && k <= SEL_MEMO_MAX) {
        for (i = 0; i < k; ++i) {
            uint64_t tag = dict_tag(top[i]->rec);
            if (tag == 0 || top[i]->p.id == NULL || !PyUnicode_CheckExact(top[i]->p.id)) break;
            SEL_MEMO.rec[i] = top[i]->rec;
            SEL_MEMO.tag[i] = tag;
            SEL_MEMO.t[i] = top[i]->p.t;
            SEL_MEMO.id[i] = top[i]->p.id;
        }
        if (i == k) SEL_MEMO.k = k;
    }
#endif
out:
    SCRATCH.busy = 0;
    Py_XDECREF(recs);
    Py_XDECREF(feats);
    fp_release(&own);
    if (!ok) return hand_over();
    return res;
}

/* pick(probabilities, records): index of the first of sorted(range(k), key=(-p, -t, id)); -1 hand over */
static PyObject *linking_pick(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer pb;
    PyObject *recs;
    Py_ssize_t k, i, best = -1;
    const double *p;
    int64_t bt = 0;
    PyObject *bid = NULL;
    int better;
    (void)mod;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pick(probabilities, records)");
        return NULL;
    }
    recs = args[1];
    if (!PyList_CheckExact(recs)) return PyLong_FromLong(-1);
    if (PyObject_GetBuffer(args[0], &pb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        PyErr_Clear();
        return PyLong_FromLong(-1);
    }
    k = PyList_GET_SIZE(recs);
    if (pb.itemsize != 8 || pb.format == NULL || strcmp(pb.format, "d") != 0 || pb.len != k * 8) {
        PyBuffer_Release(&pb);
        return PyLong_FromLong(-1);
    }
    p = (const double *)pb.buf;
    for (i = 0; i < k; ++i) {
        PyObject *rec = PyList_GET_ITEM(recs, i), *o, *id;
        int64_t t;
        if (isnan(p[i]) || !PyDict_CheckExact(rec)) goto bad;
#if PACK_CACHE
        if (k == SEL_MEMO.k && rec == SEL_MEMO.rec[i] && dict_tag(rec) == SEL_MEMO.tag[i]) {
            t = SEL_MEMO.t[i]; /* the same dict, unchanged since select read it (see SEL_MEMO) */
            id = SEL_MEMO.id[i];
        } else
#endif
        {
            if ((o = item(rec, K_t)) == NULL || as_i64(o, &t) != 0) goto bad;
            if ((id = item(rec, K_id)) == NULL || !PyUnicode_CheckExact(id)) goto bad;
        }
        if (best < 0 || p[i] > p[best]) {
            better = 1;
        } else if (p[i] < p[best]) {
            better = 0;
        } else if (t != bt) {
            better = t > bt;
        } else {
            int c = PyUnicode_Compare(id, bid);
            if (c == -1 && PyErr_Occurred()) goto bad;
            better = c < 0;
        }
        if (better) {
            best = i;
            bt = t;
            bid = id;
        }
    }
    PyBuffer_Release(&pb);
    return PyLong_FromSsize_t(best);
bad:
    PyErr_Clear();
    PyBuffer_Release(&pb);
    return PyLong_FromLong(-1);
}

#include "linking_walk.h" /* walk (round 14: moved to its own file) */

/* pack_stats() -> (table in use, hits, misses): the packed-record table's counters (tests, benchmarks) */
static PyObject *linking_pack_stats(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
    return Py_BuildValue("(iKK)", PACK_CACHE, PACK_HITS, PACK_MISSES);
}

/* pack_direct([on]) -> whether records in make_record's layout are packed from their entries in place (round 14,
 * linking_pack.h); on=False turns it off (tests compare both) */
static PyObject *linking_pack_direct(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "pack_direct([on])");
        return NULL;
    }
#if PACK_CACHE
    if (nargs == 1) {
        int on = PyObject_IsTrue(args[0]);
        if (on < 0) return NULL;
        PACK_DIRECT_ON = on;
    }
    return PyBool_FromLong(PACK_DIRECT_ON);
#else
    (void)args;
    Py_RETURN_FALSE;
#endif
}

/* vcache([on]) -> whether select keeps the records' parsed version lists between calls (round 15, VCACHE); on=False
 * empties the table and turns it off (tests compare both) */
static PyObject *linking_vcache(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "vcache([on])", &on);
    if (given < 0) return NULL;
    if (given) {
        if (!on) vcache_clear();
        VCACHE_ON = on;
    }
    return PyBool_FromLong(VCACHE_ON);
}

/* pick_memo([on]) -> whether pick reads select's last records from SEL_MEMO (round 14); on=False turns it off (tests
 * compare both) */
static PyObject *linking_pick_memo(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "pick_memo([on])", &on);
    if (given < 0) return NULL;
    if (given) {
        SEL_MEMO_ON = on;
        SEL_MEMO.k = 0;
    }
    return PyBool_FromLong(PACK_CACHE && SEL_MEMO_ON);
}

/* odict_list([on]) -> whether walk reads OrderedDict blocks from their linked list (linking_odict.h); on=False
 * turns it off, on=True back on where the import check passed (tests compare both) */
static PyObject *linking_odict_list(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    static int verified = -1;
    (void)mod;
    if (verified < 0) verified = ODICT_OK;
    int on = 0, given = switch_arg(args, nargs, "odict_list([on])", &on);
    if (given < 0) return NULL;
    if (given) {
        ODICT_OK = on && verified;
    }
    return PyBool_FromLong(ODICT_OK);
}

static PyMethodDef methods[] = {
    {"odict_list", (PyCFunction)(void (*)(void))linking_odict_list, METH_FASTCALL,
     "odict_list([on]) -> whether walk reads OrderedDict blocks from their linked list."},
    {"pack_direct", (PyCFunction)(void (*)(void))linking_pack_direct, METH_FASTCALL,
     "pack_direct([on]) -> whether records in make_record's layout are packed from their entries in place."},
    {"vcache", (PyCFunction)(void (*)(void))linking_vcache, METH_FASTCALL,
     "vcache([on]) -> whether select keeps the records' parsed version lists between calls."},
    {"pick_memo", (PyCFunction)(void (*)(void))linking_pick_memo, METH_FASTCALL,
     "pick_memo([on]) -> whether pick reads the records select handed back last from its memo."},
    {"pack_stats", linking_pack_stats, METH_NOARGS,
     "pack_stats() -> (packed-record table in use, hits, misses)."},
    {"select", (PyCFunction)(void (*)(void))linking_select, METH_FASTCALL,
     "select(fp, cands, now, ip, max_scored[, hand]) -> (n_compatible, records, float64 rows) or None "
     "(hand: linkstate's parse of fp, handed down by the linker's glue)."},
    {"pick", (PyCFunction)(void (*)(void))linking_pick, METH_FASTCALL,
     "pick(probabilities, records) -> index of the best candidate, or -1."},
    {"use_maps", (PyCFunction)linking_use_maps, METH_O,
     "use_maps(RecencyMap): walk reads MemoryLinkState's C-owned maps of this type too."},
    {"walk", (PyCFunction)(void (*)(void))linking_walk, METH_FASTCALL,
     "walk(blocks, block_keys, devices, skip, now, ttl) -> live candidate records, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "linking",
    "The device linker's per-candidate work (reference: fraudscore/fingerprint/linkfeatures.py).", -1, methods,
};

PyMODINIT_FUNC PyInit_linking(void) {
    PyObject *m;
#define INTERN(var, s) \
    if ((var = PyUnicode_InternFromString(s)) == NULL) return NULL;
    INTERN(K_fp, "fp") INTERN(K_f, "f") INTERN(K_fam, "fam") INTERN(K_bf, "bf") INTERN(K_ov, "ov") INTERN(K_bv, "bv") INTERN(K_av, "av")
    INTERN(K_c, "c") INTERN(K_r, "r") INTERN(K_t, "t") INTERN(K_id, "id") INTERN(K_fs, "fs") INTERN(K_fn, "fn")
    INTERN(K_lg, "lg") INTERN(K_ip, "ip") INTERN(K_n, "n")
    INTERN(A_family, "family") INTERN(A_canonical, "canonical") INTERN(A_components, "components")
    INTERN(A_renderer, "renderer") INTERN(A_fonts_sketch, "fonts_sketch") INTERN(A_font_count, "font_count")
    INTERN(A_lang_items, "lang_items") INTERN(A_mobile, "mobile") INTERN(A_browser_family, "browser_family")
    INTERN(A_os_version, "os_version") INTERN(A_browser_version, "browser_version")
    INTERN(A_app_version, "app_version") INTERN(A_source, "source") INTERN(S_app, "app")
    INTERN(S_reversed, "__reversed__")
#undef INTERN
    {
        PyObject *col = PyImport_ImportModule("collections"), *od;
        if (col == NULL) return NULL;
        od = PyObject_GetAttrString(col, "OrderedDict");
        Py_DECREF(col);
        if (od == NULL) return NULL;
        OrderedDictType = (PyTypeObject *)od; /* kept */
        odict_check(OrderedDictType);
    }
    m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    /* (n components, n features, sketch k, ua, os_version, per-attribute, id, flag positions) */
    if (PyModule_AddObject(m, "LAYOUT",
                           Py_BuildValue("(iiiii(iiiiii)(iii)(ii))", NCOMP, NFEAT, SKETCH_K, POS_UA, POS_OSV,
                                         ATTR_POS[0], ATTR_POS[1], ATTR_POS[2], ATTR_POS[3], ATTR_POS[4],
                                         ATTR_POS[5], ID_POS[0], ID_POS[1], ID_POS[2], FLAG_POS[0],
                                         FLAG_POS[1])) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
