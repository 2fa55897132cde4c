/*
 * fraudscore._core.linker -- the Python glue around the compiled link kernels, in C (reference:
 * fraudscore/fingerprint/linker.py DeviceLinker.best_candidate and new_device_id, and
 * fraudscore/devicecolumns.py link_rows).
 *
 * best_candidate(linker, fp, recs, now, ip[, hand])
 *     DeviceLinker.best_candidate for a linker whose selection, pick and link model are the compiled ones:
 *     linking.select (the hard rules, the pre-filter, the pair features), the compiled forest's predict_best
 *     (LinkModel.best_rows -> CompiledForest.predict_best_buffer) on the rows, linking.pick. The same calls on
 *     the same objects as the Python method, without its three Python frames, its memoryview casts and its
 *     arrays. Anything else -- another select / pick / model / forest (replaced on the instance or the class,
 *     a subclass, LightGBM's path), a select that hands over, a pick that cannot decide (a tie settled by
 *     comparing records) -- calls the Python method itself (select and the model are pure: calling again
 *     changes nothing), so the answer, or the exception, is the reference's.
 * new_device_id(fp, now)
 *     linker.new_device_id: "d_<family>_<12 hex of xxh3_64(f"{id}|{now}".encode()) & MASK48>" for an exact
 *     str id and family and an exact int time; the Python function otherwise (and on text UTF-8 cannot
 *     encode, so it raises as the reference does).
 * link_rows(linker, fps, ts, rows, ips, min_confidence)
 *     The loop of devicecolumns.link_rows: fps[j] linked at ts[rows[j]] with ips[rows[j]], in order, through
 *     linkstate.entry (the whole of DeviceLinker.link in C) when the linker would call it, else (entry hands
 *     over, or a linker whose link() is not the plain one) through linker.link. Returns (device ids, each
 *     None below min_confidence, and the confidences as float64 bytes), one per j.
 *
 * configure(...) hands the module the reference's objects (see linker_kernels._glue_kernel); until it is called every
 * function hands over to the Python callables it is given.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "switch_arg.h"

#include "linking_attr.h"
#include "linking_views.h"

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "vendor/xxhash/xxhash.h"

#define MASK48 ((((uint64_t)1) << 48) - 1)
#define SMALL_ROWS 64
static double VIEWS_OUT[SMALL_ROWS]; /* best_candidate's output rows while it holds the view pair */

/* set by configure() */
static PyObject *SELECT, *PICK, *BEST_PY, *NEW_ID_PY, *BEST_ROWS, *PREDICT_BEST_BUFFER, *ENTRY, *LINK_FUNC;
static PyTypeObject *LINKER_T, *FP_T, *MODEL_T, *FOREST_T;
static int CONFIGURED;
static Py_ssize_t NFEAT; /* len(PAIR_FEATURES) */

static PyObject *A_select, *A_pick, *A_model, *A_max_scored, *A_compiled, *A_compiled_one, *A_predict,
    *A_best_rows, *A_forest, *A_predict_best_buffer, *M_predict_best, *A_id, *A_family, *A_link, *A_link_entry,
    *A_best, *A_device_id, *A_link_confidence;

static PyObject *item(PyObject *d, PyObject *k) { /* borrowed, NULL (no exception) when absent */
    PyObject *v = PyDict_GetItemWithError(d, k);
    if (v == NULL) PyErr_Clear();
    return v;
}

/* the instance __dict__ (new reference) when it is an exact dict, else NULL (no exception) */
static PyObject *inst_dict(PyObject *o) {
    PyObject *d = PyObject_GenericGetDict(o, NULL);
    if (d == NULL || !PyDict_CheckExact(d)) {
        PyErr_Clear();
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

/* whether type t's attribute name (looked up along its MRO) is still want */
static int class_attr_is(PyTypeObject *t, PyObject *name, PyObject *want) {
    return want != NULL && _PyType_Lookup(t, name) == want;
}

/* a 1-d float64 memoryview over n doubles at buf (not owning them) */
static PyObject *f64_view(double *buf, Py_ssize_t n, int readonly) {
    Py_buffer info;
    Py_ssize_t shape = n, stride = 8;
    memset(&info, 0, sizeof(info));
    info.buf = buf;
    info.obj = NULL;
    info.len = n * 8;
    info.itemsize = 8;
    info.readonly = readonly;
    info.ndim = 1;
    info.format = "d";
    info.shape = &shape;
    info.strides = &stride;
    return PyMemoryView_FromBuffer(&info); /* copies shape and strides */
}

/* a view over memory this function owns must not outlive it: 0 when only we hold it (then dropped), else -1
 * (the view, and the memory, are kept alive: a leak, never a dangling pointer) */
static int drop_view(PyObject *mv) {
    if (mv == NULL) return 0;
    if (Py_REFCNT(mv) != 1) return -1;
    Py_DECREF(mv);
    return 0;
}

/* The checks of best_candidate remembered (round 14): the linker's, its model's and the forest's instance dicts
 * as last checked -- their addresses and ma_version_tags (CPython 3.11 / 3.12: a fresh tag from one global
 * counter when a dict is made and whenever its items change) -- and what was read from them. While all three
 * are the same unchanged dicts, the same lookups would give the same objects (each held by its dict), so the
 * eleven dict lookups are skipped; the types and the class attributes are still checked every call (they live
 * outside those dicts). configure() and glue_memo(False) empty it. */
#include "dict_layout.h" /* dict_tag */
#define GLUE_MEMO DICT_LAYOUT
static struct {
    PyObject *ld, *md, *fd;        /* identity only */
    uint64_t ldt, mdt, fdt;        /* their tags when checked; 0: empty */
    PyObject *model, *forest, *fe, *max_scored; /* borrowed: held by those dicts */
} BC_MEMO;
static int BC_MEMO_ON = GLUE_MEMO;

/* Round 17 (#13, linkbatch): the forest's predict_best through its C entry (model/_forest_best.h fs_best_raw, a
 * capsule on the compiled Forest type) instead of the method call: the same function on the same rows, without
 * the method lookup, the argument tuple, the two buffer exports and the int made of its answer. The Forest type is
 * a static, immutable type without subclasses or instance dicts, so fe.predict_best is always that type's method,
 * which calls the same fs_best_rows. best_raw(False) turns it off (tests compare both). */
#define FS_BEST_CAPSULE "fraudscore.model._forest.best_rows.v1" /* as model/_forest_best.h */
typedef Py_ssize_t (*fs_best_raw_fn)(PyObject *self, const double *X, Py_ssize_t nvals, double *out, Py_ssize_t n);
static PyObject *A_best_rows_c;
static PyTypeObject *RAW_T; /* the forest type last looked up, and its entry (NULL: none) */
static fs_best_raw_fn RAW_FN;
static int RAW_ON = 1;
static uint64_t RAW_USED; /* calls through the entry */

/* fe.predict_best(xv, ov) over rows (n rows of NFEAT values; ov views out): a new reference, NULL with an
 * exception */
static PyObject *best_walk(PyObject *fe, PyObject *rows, Py_ssize_t n, double *out, PyObject *xv, PyObject *ov) {
    if (RAW_ON) {
        if (Py_TYPE(fe) != RAW_T) {
            PyObject *c = _PyType_Lookup(Py_TYPE(fe), A_best_rows_c);
            RAW_T = Py_TYPE(fe);
            RAW_FN = c != NULL && PyCapsule_IsValid(c, FS_BEST_CAPSULE)
                         ? (fs_best_raw_fn)PyCapsule_GetPointer(c, FS_BEST_CAPSULE) : NULL;
        }
        if (RAW_FN != NULL) {
            Py_ssize_t w = RAW_FN(fe, (const double *)PyBytes_AS_STRING(rows), PyBytes_GET_SIZE(rows) / 8, out, n);
            if (w >= 0) {
                ++RAW_USED;
                return PyLong_FromSsize_t(w);
            }
            if (w == -1) return NULL;
        }
    }
    return PyObject_CallMethodObjArgs(fe, M_predict_best, xv, ov, NULL);
}

static PyObject *best_reference(PyObject *const *args) { /* DeviceLinker.best_candidate(linker, fp, recs, now, ip) */
    return PyObject_Vectorcall(BEST_PY, args, 5, NULL);
}

/* best_candidate(linker, fp, recs, now, ip) -> (probability, record) or None */
static PyObject *lk_best_candidate(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *ld = NULL, *md = NULL, *fd = NULL, *fe = NULL, *got = NULL, *res = NULL, *xv = NULL, *ov = NULL;
    PyObject *walked = NULL, *model, *forest, *near, *rows, *sargs[6], *pargs[2], *pi;
    double small[SMALL_ROWS], *out = small;
    Py_ssize_t n, i = -1;
    int undecided = 0, took = 0;
    (void)mod;
    if (nargs != 5 && nargs != 6) { /* 6: linkstate's parse of fp (a capsule), handed to select (round 16) */
        PyErr_SetString(PyExc_TypeError, "best_candidate(linker, fp, recs, now, ip[, hand])");
        return NULL;
    }
    if (!CONFIGURED) return best_reference(args);
    /* the compiled path only where DeviceLinker.best_candidate would take it, with the objects it would use */
    if ((ld = inst_dict(args[0])) == NULL) goto ref;
    if (BC_MEMO_ON && ld == BC_MEMO.ld && BC_MEMO.ldt != 0 && dict_tag(ld) == BC_MEMO.ldt) {
        /* the dicts checked last time, unchanged (BC_MEMO): the same objects, the types checked again */
        model = BC_MEMO.model;
        if (Py_TYPE(model) != MODEL_T || !class_attr_is(MODEL_T, A_best_rows, BEST_ROWS)) goto ref;
        if ((md = inst_dict(model)) == NULL || md != BC_MEMO.md || dict_tag(md) != BC_MEMO.mdt) goto full;
        forest = BC_MEMO.forest;
        if (Py_TYPE(forest) != FOREST_T || !class_attr_is(FOREST_T, A_predict_best_buffer, PREDICT_BEST_BUFFER))
            goto ref;
        if ((fd = inst_dict(forest)) == NULL || fd != BC_MEMO.fd || dict_tag(fd) != BC_MEMO.fdt) goto full;
        fe = Py_NewRef(BC_MEMO.fe);
        sargs[4] = BC_MEMO.max_scored;
        goto checked;
    }
full:
    Py_CLEAR(md);
    Py_CLEAR(fd);
    BC_MEMO.ldt = 0;
    if (item(ld, A_select) != SELECT || item(ld, A_pick) != PICK) goto ref;
    model = item(ld, A_model);
    if (model == NULL || Py_TYPE(model) != MODEL_T || !class_attr_is(MODEL_T, A_best_rows, BEST_ROWS)) goto ref;
    if ((md = inst_dict(model)) == NULL || item(md, A_best_rows) != NULL) goto ref;
    forest = item(md, A_compiled);
    if (forest == NULL || Py_TYPE(forest) != FOREST_T || item(md, A_predict) == NULL ||
        item(md, A_predict) != item(md, A_compiled_one) ||
        !class_attr_is(FOREST_T, A_predict_best_buffer, PREDICT_BEST_BUFFER))
        goto ref;
    if ((fd = inst_dict(forest)) == NULL || item(fd, A_predict_best_buffer) != NULL || (fe = item(fd, A_forest)) == NULL)
        goto ref;
    Py_INCREF(fe);
    if ((sargs[4] = item(ld, A_max_scored)) == NULL) goto ref;
    if (BC_MEMO_ON && dict_tag(ld) != 0 && dict_tag(md) != 0 && dict_tag(fd) != 0) {
        BC_MEMO.ld = ld;
        BC_MEMO.md = md;
        BC_MEMO.fd = fd;
        BC_MEMO.ldt = dict_tag(ld);
        BC_MEMO.mdt = dict_tag(md);
        BC_MEMO.fdt = dict_tag(fd);
        BC_MEMO.model = model;
        BC_MEMO.forest = forest;
        BC_MEMO.fe = fe;
        BC_MEMO.max_scored = sargs[4];
    }
checked:
    sargs[0] = args[1];
    sargs[1] = args[2];
    sargs[2] = args[3];
    sargs[3] = args[4];
    sargs[5] = nargs == 6 ? args[5] : NULL;
    if ((got = PyObject_Vectorcall(SELECT, sargs, (size_t)nargs, NULL)) == NULL) goto out; /* raised, as from the reference */
    if (!PyTuple_CheckExact(got) || PyTuple_GET_SIZE(got) != 3) goto ref; /* None: select hands over */
    near = PyTuple_GET_ITEM(got, 1);
    rows = PyTuple_GET_ITEM(got, 2);
    if (!PyList_CheckExact(near) || !PyBytes_CheckExact(rows)) goto ref;
    n = PyList_GET_SIZE(near);
    if (n == 0) {
        res = Py_NewRef(Py_None);
        goto out;
    }
    if (PyBytes_GET_SIZE(rows) != 8 * n * NFEAT) goto ref; /* best_rows raises on it: the reference answers */
    if (n <= SMALL_ROWS && views_take(rows, n * NFEAT, VIEWS_OUT, n)) { /* linking_views.h: no views made */
        memset(VIEWS_OUT, 0, sizeof(double) * (size_t)n);
        out = VIEWS_OUT;
        xv = (PyObject *)VIEWS_X; /* borrowed, handed back by views_give */
        ov = (PyObject *)VIEWS_O;
        took = 1;
    } else {
        if (n > SMALL_ROWS && (out = (double *)PyMem_Calloc((size_t)n, sizeof(double))) == NULL) {
            out = small;
            res = PyErr_NoMemory();
            goto out;
        }
        if (out == small) memset(small, 0, sizeof(small));
        xv = f64_view((double *)PyBytes_AS_STRING(rows), n * NFEAT, 1);
        ov = f64_view(out, n, 0);
    }
    if (xv != NULL && ov != NULL && (walked = best_walk(fe, rows, n, out, xv, ov)) != NULL) { /* LinkModel.best_rows */
        pargs[0] = ov;
        pargs[1] = near;
        if ((pi = PyObject_Vectorcall(PICK, pargs, 2, NULL)) != NULL) {
            i = PyLong_AsSsize_t(pi);
            Py_DECREF(pi);
            if (!(i == -1 && PyErr_Occurred())) {
                if (i >= 0 && i < n) {
                    PyObject *p = PyFloat_FromDouble(out[i]);
                    if (p != NULL) res = PyTuple_Pack(2, p, PyList_GET_ITEM(near, i));
                    Py_XDECREF(p);
                } else {
                    undecided = 1; /* a tie the reference settles by comparing records: the Python method */
                }
            }
        }
    }
    /* views over memory owned here must not outlive it: one still held elsewhere keeps it (a leak, never a
     * dangling pointer) */
    if (took) {
        views_give();
        out = small; /* static: not freed */
    } else if ((xv != NULL && Py_REFCNT(xv) != 1) || (ov != NULL && Py_REFCNT(ov) != 1)) {
        Py_INCREF(got); /* the rows */
        out = small;    /* not freed */
    } else {
        Py_XDECREF(xv);
        Py_XDECREF(ov);
    }
    if (out != small) PyMem_Free(out);
    if (undecided) goto ref;
    goto out;
ref:
    PyErr_Clear();
    res = best_reference(args);
out:
    Py_XDECREF(walked);
    Py_XDECREF(got);
    Py_XDECREF(fe);
    Py_XDECREF(ld);
    Py_XDECREF(md);
    Py_XDECREF(fd);
    return res;
}

/* the decimal text of v (str(int)) at p; its length */
static int put_dec(char *p, long long v) {
    char tmp[24];
    int n = 0, k = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0) p[k++] = '-';
    while (n) p[k++] = tmp[--n];
    return k;
}

/* new_device_id(fp, now) -> "d_<family>_<12 hex>" */
static PyObject *lk_new_device_id(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    static const char HEX[] = "0123456789abcdef";
    PyObject *fp, *now, *id = NULL, *fam = NULL, *res = NULL;
    const char *u;
    Py_ssize_t ulen, flen;
    long long t;
    int ovf = 0, len, k;
    char small[256], *buf = small, hex[12];
    uint64_t h;
    (void)mod;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "new_device_id(fp, now)");
        return NULL;
    }
    fp = args[0];
    now = args[1];
    if (!CONFIGURED || Py_TYPE(fp) != FP_T || !PyLong_CheckExact(now)) goto ref;
    t = PyLong_AsLongLongAndOverflow(now, &ovf);
    if (ovf || (t == -1 && PyErr_Occurred())) goto ref;
    if ((id = fast_attr(fp, A_id)) == NULL || !PyUnicode_CheckExact(id)) goto ref;
    if ((fam = fast_attr(fp, A_family)) == NULL || !PyUnicode_CheckExact(fam)) goto ref;
    if ((u = PyUnicode_AsUTF8AndSize(id, &ulen)) == NULL) goto ref; /* not encodable: the reference raises */
    if ((size_t)ulen + 32 > sizeof(small) && (buf = (char *)PyMem_Malloc((size_t)ulen + 32)) == NULL) {
        res = PyErr_NoMemory();
        goto out;
    }
    memcpy(buf, u, (size_t)ulen); /* f"{id}|{now}".encode(): str(int) is its decimal text */
    buf[ulen] = '|';
    len = 1 + put_dec(buf + ulen + 1, t);
    h = XXH3_64bits(buf, (size_t)ulen + (size_t)len) & MASK48;
    if (buf != small) PyMem_Free(buf);
    for (k = 11; k >= 0; --k, h >>= 4) hex[k] = HEX[h & 15]; /* f"{h:012x}" (h < 2**48) */
    if (PyUnicode_IS_ASCII(fam) && (flen = PyUnicode_GET_LENGTH(fam)) < PY_SSIZE_T_MAX - 16) {
        char *o;
        if ((res = PyUnicode_New(flen + 15, 127)) == NULL) goto out;
        o = (char *)PyUnicode_DATA(res);
        o[0] = 'd';
        o[1] = '_';
        memcpy(o + 2, PyUnicode_DATA(fam), (size_t)flen);
        o[2 + flen] = '_';
        memcpy(o + 3 + flen, hex, 12);
    } else {
        res = PyUnicode_FromFormat("d_%U_%.12s", fam, hex);
    }
    goto out;
ref:
    PyErr_Clear();
    res = NEW_ID_PY != NULL ? PyObject_Vectorcall(NEW_ID_PY, args, 2, NULL) : NULL;
    if (res == NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "linker glue not configured");
out:
    Py_XDECREF(id);
    Py_XDECREF(fam);
    return res;
}

/* round 17 (#13, linkbatch): link_rows asks entry for a new device's fields instead of its LinkResult (the
 * result would be made only to read two of its fields here); row_fields(False) turns it off (tests compare both) */
static int ROW_FIELDS = 1;
static PyObject *lk_row_fields(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "row_fields([on])", &on);
    if (given < 0) return NULL;
    if (given) ROW_FIELDS = on;
    return PyBool_FromLong(ROW_FIELDS);
}

/* link_rows(linker, fps, ts, rows, ips, min_confidence) -> (device ids, confidences as float64 bytes) */
static PyObject *lk_link_rows(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *linker, *fps, *ts, *rows, *ips, *ld = NULL, *link = NULL, *ids = NULL, *confs = NULL, *res = NULL;
    Py_ssize_t m, j, i;
    double min_conf, *cv;
    int direct = 0;
    (void)mod;
    if (nargs != 6 || !PyList_CheckExact(args[1]) || !PyList_CheckExact(args[2]) || !PyList_CheckExact(args[3]) ||
        !PyList_CheckExact(args[4]) || !PyFloat_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "link_rows(linker, fps: list, ts: list, rows: list, ips: list, "
                                         "min_confidence: float)");
        return NULL;
    }
    linker = args[0];
    fps = args[1];
    ts = args[2];
    rows = args[3];
    ips = args[4];
    min_conf = PyFloat_AS_DOUBLE(args[5]);
    m = PyList_GET_SIZE(fps);
    if (PyList_GET_SIZE(rows) != m) {
        PyErr_SetString(PyExc_ValueError, "link_rows: fps and rows differ in length");
        return NULL;
    }
    /* link = linker.link, read once as the Python loop does */
    if ((link = PyObject_GetAttr(linker, A_link)) == NULL) return NULL;
    /* DeviceLinker.link's first step, taken here: entry(linker, fp, ts, ip) when link is the plain method and
     * the linker holds the compiled entry (else link() itself, every row) */
    if (CONFIGURED && Py_TYPE(linker) == LINKER_T && PyMethod_Check(link) && PyMethod_GET_FUNCTION(link) == LINK_FUNC &&
        PyMethod_GET_SELF(link) == linker && (ld = inst_dict(linker)) != NULL) {
        PyObject *e = item(ld, A_link_entry);
        direct = e != NULL && e == ENTRY;
    }
    if ((ids = PyList_New(m)) == NULL || (confs = PyBytes_FromStringAndSize(NULL, m * 8)) == NULL) goto out;
    cv = (double *)PyBytes_AS_STRING(confs);
    for (j = 0; j < m; ++j) {
        PyObject *fp = PyList_GET_ITEM(fps, j), *iv = PyList_GET_ITEM(rows, j), *a[5], *r = NULL, *c, *cf, *did;
        i = PyLong_AsSsize_t(iv);
        if (i == -1 && PyErr_Occurred()) goto out;
        if (i < 0 || i >= PyList_GET_SIZE(ts) || i >= PyList_GET_SIZE(ips)) {
            PyErr_SetString(PyExc_IndexError, "link_rows: row index out of range");
            goto out;
        }
        a[0] = linker;
        a[1] = fp;
        a[2] = PyList_GET_ITEM(ts, i);
        a[3] = PyList_GET_ITEM(ips, i);
        a[4] = Py_True; /* fields: a new device's result as its fields' tuple (round 17; no LinkResult made) */
        Py_INCREF(fp);
        Py_INCREF(a[2]);
        Py_INCREF(a[3]);
        if (direct) {
            r = PyObject_Vectorcall(ENTRY, a, ROW_FIELDS ? 5 : 4, NULL);
            if (r == Py_None) Py_CLEAR(r);
            else if (r == NULL) goto row_fail;
        }
        if (r == NULL) r = PyObject_Vectorcall(link, a + 1, 3, NULL); /* link(fp, ts, ip) */
    row_fail:
        Py_DECREF(fp);
        Py_DECREF(a[2]);
        Py_DECREF(a[3]);
        if (r == NULL) goto out;
        /* c = float(res.link_confidence); device_id = res.device_id if c >= MIN_LINK_CONFIDENCE else None */
        if (PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 5) { /* entry's fields of a new device's LinkResult */
            c = Py_NewRef(PyTuple_GET_ITEM(r, 1));
        } else if ((c = fast_attr(r, A_link_confidence)) == NULL) { /* a LinkResult slot (linking_attr.h) */
            Py_DECREF(r);
            goto out;
        }
        cf = PyFloat_CheckExact(c) ? Py_NewRef(c) : PyNumber_Float(c);
        Py_DECREF(c);
        if (cf == NULL) {
            Py_DECREF(r);
            goto out;
        }
        cv[j] = PyFloat_AS_DOUBLE(cf);
        Py_DECREF(cf);
        if (cv[j] >= min_conf) {
            if (PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 5) {
                did = Py_NewRef(PyTuple_GET_ITEM(r, 0));
            } else if ((did = fast_attr(r, A_device_id)) == NULL) {
                Py_DECREF(r);
                goto out;
            }
        } else {
            did = Py_NewRef(Py_None);
        }
        Py_DECREF(r);
        PyList_SET_ITEM(ids, j, did);
    }
    res = PyTuple_Pack(2, ids, confs);
out:
    Py_XDECREF(ld);
    Py_XDECREF(link);
    Py_XDECREF(ids);
    Py_XDECREF(confs);
    return res;
}

/* configure(linker_type, fp_type, model_type, forest_type, select, pick, best_candidate, new_device_id,
 *           best_rows, predict_best_buffer, entry, link, n_features) */
static PyObject *lk_configure(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    int k;
    (void)mod;
    Py_ssize_t nf;
    if (nargs != 13 || !PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyType_Check(args[2]) ||
        !PyType_Check(args[3]) || (nf = PyLong_AsSsize_t(args[12])) < 1) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "configure(linker_type, fp_type, model_type, forest_type, select, pick, "
                                         "best_candidate, new_device_id, best_rows, predict_best_buffer, entry, link, n_features)");
        return NULL;
    }
    for (k = 4; k < 12; ++k) {
        if (!PyCallable_Check(args[k])) {
            PyErr_SetString(PyExc_TypeError, "configure: the reference's callables");
            return NULL;
        }
    }
    Py_XSETREF(LINKER_T, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(FP_T, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(MODEL_T, (PyTypeObject *)Py_NewRef(args[2]));
    Py_XSETREF(FOREST_T, (PyTypeObject *)Py_NewRef(args[3]));
    Py_XSETREF(SELECT, Py_NewRef(args[4]));
    Py_XSETREF(PICK, Py_NewRef(args[5]));
    Py_XSETREF(BEST_PY, Py_NewRef(args[6]));
    Py_XSETREF(NEW_ID_PY, Py_NewRef(args[7]));
    Py_XSETREF(BEST_ROWS, Py_NewRef(args[8]));
    Py_XSETREF(PREDICT_BEST_BUFFER, Py_NewRef(args[9]));
    Py_XSETREF(ENTRY, Py_NewRef(args[10]));
    Py_XSETREF(LINK_FUNC, Py_NewRef(args[11]));
    NFEAT = nf;
    BC_MEMO.ldt = 0;
    CONFIGURED = 1;
    Py_RETURN_NONE;
}

/* glue_memo([on]) -> whether best_candidate remembers its checks (BC_MEMO, round 14); on=False turns it off (tests
 * compare both) */
static PyObject *lk_glue_memo(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "glue_memo([on])", &on);
    if (given < 0) return NULL;
    if (given) {
        BC_MEMO_ON = on && GLUE_MEMO;
        BC_MEMO.ldt = 0;
    }
    return PyBool_FromLong(BC_MEMO_ON);
}

/* best_raw([on]) -> (whether best_candidate calls the forest's C entry, the calls made through it) */
static PyObject *lk_best_raw(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    int on = 0, given = switch_arg(args, nargs, "best_raw([on])", &on);
    if (given < 0) return NULL;
    if (given) RAW_ON = on;
    return Py_BuildValue("(OK)", RAW_ON ? Py_True : Py_False, (unsigned long long)RAW_USED);
}

static PyMethodDef methods[] = {
    {"row_fields", (PyCFunction)(void (*)(void))lk_row_fields, METH_FASTCALL,
     "row_fields([on]) -> whether link_rows takes a new device's fields from entry instead of its LinkResult."},
    {"best_raw", (PyCFunction)(void (*)(void))lk_best_raw, METH_FASTCALL,
     "best_raw([on]) -> (whether best_candidate calls the forest's C entry, calls made through it)."},
    {"glue_memo", (PyCFunction)(void (*)(void))lk_glue_memo, METH_FASTCALL,
     "glue_memo([on]) -> whether best_candidate remembers its checks of the linker, model and forest."},
    {"best_candidate", (PyCFunction)(void (*)(void))lk_best_candidate, METH_FASTCALL,
     "best_candidate(linker, fp, recs, now, ip[, hand]) -> DeviceLinker.best_candidate's (probability, record) or "
     "None (hand: linkstate's parse of fp, passed on to select)."},
    {"new_device_id", (PyCFunction)(void (*)(void))lk_new_device_id, METH_FASTCALL,
     "new_device_id(fp, now) -> linker.new_device_id(fp, now)."},
    {"link_rows", (PyCFunction)(void (*)(void))lk_link_rows, METH_FASTCALL,
     "link_rows(linker, fps, ts, rows, ips, min_confidence) -> (device ids, float64 confidences as bytes)."},
    {"configure", (PyCFunction)(void (*)(void))lk_configure, METH_FASTCALL,
     "configure(linker_type, fp_type, model_type, forest_type, select, pick, best_candidate, new_device_id, "
     "best_rows, predict_best_buffer, entry, link, n_features)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "linker",
    "The glue around the compiled link kernels (reference: fingerprint/linker.py best_candidate, new_device_id; "
    "devicecolumns.py link_rows).",
    -1, methods,
};

PyMODINIT_FUNC PyInit_linker(void) {
#define INTERN(var, s) \
    if ((var = PyUnicode_InternFromString(s)) == NULL) return NULL;
    INTERN(A_select, "_select") INTERN(A_pick, "_pick") INTERN(A_model, "model") INTERN(A_max_scored, "max_scored")
    INTERN(A_compiled, "_compiled") INTERN(A_compiled_one, "_compiled_one") INTERN(A_predict, "predict")
    INTERN(A_best_rows, "best_rows") INTERN(A_forest, "_forest") INTERN(A_predict_best_buffer, "predict_best_buffer")
    INTERN(M_predict_best, "predict_best") INTERN(A_best_rows_c, "_best_rows_c") INTERN(A_id, "id") INTERN(A_family, "family") INTERN(A_link, "link")
    INTERN(A_link_entry, "_link_entry") INTERN(A_best, "best_candidate") INTERN(A_device_id, "device_id")
    INTERN(A_link_confidence, "link_confidence")
#undef INTERN
    views_init();
    return PyModule_Create(&moduledef);
}
