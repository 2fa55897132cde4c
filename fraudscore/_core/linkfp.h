/*
 * The fingerprint as the link kernels read it (reference: the attributes of fraudscore/fingerprint/sections.py
 * Fingerprint and canonical.py CanonicalDevice that linkfeatures.py reads): ``read_fp`` (every field select's hard
 * rules, order and pair features use, with the checks that hand a call over to the Python reference), its sketches
 * and components. Moved out of linking.c in round 16 (``linkonce``) so that fraudscore._core.linkstate can parse a
 * fingerprint once per link call and hand the parsed form down to select (``lfp_hand_t``; see linkfp_hand.h).
 *
 * Included by linking.c and linkstate.c (each its own static copy), after linkcommon.h and linking_attr.h and after
 * their interned attribute names (A_canonical, A_family, A_browser_family, A_os_version, A_browser_version,
 * A_app_version, A_components, A_renderer, A_fonts_sketch, A_lang_items, A_font_count, A_mobile, A_source, S_app)
 * and NCOMP; setup.py lists it among both extensions' rebuild dependencies.
 */
#ifndef FRAUDSCORE_LINKFP_H
#define FRAUDSCORE_LINKFP_H

#ifndef MAX_SKETCH
#define MAX_SKETCH 512 /* longer sketches go to the reference */
#endif

/* NCOMP ints of a list / tuple of exactly NCOMP items */
static int read_comps(PyObject *o, int64_t *out, int exact_list) {
    Py_ssize_t i;
    PyObject **items;
    if (exact_list ? !PyList_CheckExact(o) : !(PyList_CheckExact(o) || PyTuple_CheckExact(o))) return -1;
    if (PySequence_Fast_GET_SIZE(o) != NCOMP) return -1;
    items = PySequence_Fast_ITEMS(o);
    for (i = 0; i < NCOMP; ++i) {
        if (as_i64(items[i], &out[i]) != 0) return -1;
    }
    return 0;
}

typedef struct {
    Py_ssize_t n;   /* distinct values */
    int truthy;     /* the sequence is non-empty */
    int64_t v[MAX_SKETCH];
} sketch_t;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* a sketch (list / tuple of ints, or None for a record's): sorted distinct values, as set() + sorted() */
static int read_sketch(PyObject *o, sketch_t *out) {
    Py_ssize_t i, j, n;
    PyObject **items;
    if (o == Py_None) {
        out->n = 0;
        out->truthy = 0;
        return 0;
    }
    if (!PyList_CheckExact(o) && !PyTuple_CheckExact(o)) return -1;
    n = PySequence_Fast_GET_SIZE(o);
    if (n > MAX_SKETCH) return -1;
    items = PySequence_Fast_ITEMS(o);
    for (i = 0; i < n; ++i) {
        if (as_i64(items[i], &out->v[i]) != 0) return -1;
    }
    out->truthy = n > 0;
    for (i = 1; i < n && out->v[i - 1] < out->v[i]; ++i) {
    }
    if (i < n) qsort(out->v, (size_t)n, sizeof(int64_t), cmp_i64);
    for (i = j = 0; i < n; ++i) {
        if (j == 0 || out->v[j - 1] != out->v[i]) out->v[j++] = out->v[i];
    }
    out->n = j;
    return 0;
}


/* ---- the fingerprint ------------------------------------------------------------------------------------ */
typedef struct {
    PyObject *fam, *bf;
    version_t ov, bv, av;
    int64_t comps[NCOMP];
    PyObject *comps_tuple;       /* owned: keeps comp_obj alive */
    PyObject *comp_obj[NCOMP];   /* the component ints (a record sharing the object needs no read) */
    int64_t renderer;
    sketch_t fs, lg;
    int64_t font_count;
    double source_app, mobile;
    /* round 16: the objects read, owned, for linkstate's new record (make_record) when it parsed fp itself: the
     * canonical device, its three version objects, the renderer, the sketches' and the font count's objects */
    PyObject *canon, *ver_obj[3], *rend_obj, *fs_obj, *lg_obj, *fc_obj;
} fpinfo_t;

static PyObject *attr(PyObject *o, PyObject *name) { /* new reference or NULL (cleared) */
    PyObject *v = fast_attr(o, name); /* linking_attr.h: a slot read where the type allows it */
    if (v == NULL) PyErr_Clear();
    return v;
}

/* reads fp into info: 0, or -1 (the caller hands over); the references in info are owned either way (release
 * with fp_release) */
static int read_fp(PyObject *fp, fpinfo_t *info) {
    PyObject *c, *o = NULL;
    int r = -1, t;
    info->fam = info->bf = info->comps_tuple = NULL;
    info->ver_obj[0] = info->ver_obj[1] = info->ver_obj[2] = NULL;
    info->rend_obj = info->fs_obj = info->lg_obj = info->fc_obj = NULL;
    if ((info->canon = c = attr(fp, A_canonical)) == NULL) return -1;
    if ((info->fam = attr(fp, A_family)) == NULL || !PyUnicode_CheckExact(info->fam)) goto done;
    if ((info->bf = attr(c, A_browser_family)) == NULL || !(info->bf == Py_None || PyUnicode_CheckExact(info->bf)))
        goto done;
    /* make_record stores interned family names: then most comparisons are one pointer test */
    PyUnicode_InternInPlace(&info->fam);
    if (info->bf != Py_None) PyUnicode_InternInPlace(&info->bf);
#define VER(field, i, dst)                                                                             \
    if ((info->ver_obj[i] = attr(c, field)) == NULL || read_version(info->ver_obj[i], dst, 0) != 0) goto done;
    VER(A_os_version, 0, &info->ov)
    VER(A_browser_version, 1, &info->bv)
    VER(A_app_version, 2, &info->av)
#undef VER
    if ((o = attr(fp, A_components)) == NULL || read_comps(o, info->comps, 0) != 0) goto done;
    memcpy(info->comp_obj, PySequence_Fast_ITEMS(o), sizeof(PyObject *) * NCOMP);
    info->comps_tuple = o;
    o = NULL;
    if ((info->rend_obj = attr(fp, A_renderer)) == NULL || as_i64(info->rend_obj, &info->renderer) != 0) goto done;
    if ((info->fs_obj = attr(fp, A_fonts_sketch)) == NULL || info->fs_obj == Py_None ||
        read_sketch(info->fs_obj, &info->fs) != 0)
        goto done;
    if ((info->lg_obj = attr(fp, A_lang_items)) == NULL || info->lg_obj == Py_None ||
        read_sketch(info->lg_obj, &info->lg) != 0)
        goto done;
    if ((info->fc_obj = attr(fp, A_font_count)) == NULL || as_i64(info->fc_obj, &info->font_count) != 0) goto done;
    if (info->font_count >= VBOUND || info->font_count <= -VBOUND) goto done;
    if ((o = attr(fp, A_mobile)) == NULL || (t = PyObject_IsTrue(o)) < 0) goto done;
    info->mobile = t ? 1.0 : 0.0;
    Py_CLEAR(o);
    if ((o = attr(c, A_source)) == NULL || !(o == Py_None || PyUnicode_CheckExact(o))) goto done;
    info->source_app = (o != Py_None && PyUnicode_Compare(o, S_app) == 0) ? 1.0 : 0.0;
    r = 0;
done:
    if (PyErr_Occurred()) PyErr_Clear();
    Py_XDECREF(o);
    return r;
}

static void fp_release(fpinfo_t *info) {
    int i;
    Py_CLEAR(info->comps_tuple);
    Py_CLEAR(info->fam);
    Py_CLEAR(info->bf);
    Py_CLEAR(info->canon);
    for (i = 0; i < 3; ++i) Py_CLEAR(info->ver_obj[i]);
    Py_CLEAR(info->rend_obj);
    Py_CLEAR(info->fs_obj);
    Py_CLEAR(info->lg_obj);
    Py_CLEAR(info->fc_obj);
}

/* ---- the parsed fingerprint handed down one link call (round 16) ---------------------------------------------
 * linkstate's link parses the event's fingerprint (read_fp) before it scores the candidates and hands the parse
 * down: linkstate -> linker.best_candidate(linker, fp, recs, now, ip, HAND) -> linking.select(fp, recs, now, ip,
 * max_scored, HAND), HAND a capsule (LFP_CAPSULE) of linkstate's one lfp_hand_t. select uses ``info`` in place of
 * its own read_fp only while ``fp`` is the very fingerprint it is called with (set just around the call, cleared
 * after; a nested link call finds it taken and passes nothing). Every other caller passes five arguments and select
 * reads the fingerprint itself, handing over at the same point as before. */
#define LFP_CAPSULE "fraudscore._core.linkstate.fp_hand"
typedef struct {
    PyObject *fp;         /* borrowed, NULL: not in use */
    const fpinfo_t *info; /* read_fp(fp) succeeded into it */
} lfp_hand_t;

#endif /* FRAUDSCORE_LINKFP_H */
