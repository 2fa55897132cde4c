/*
 * Compiled LightGBM forest for fraudscore: exact (bit-identical) prediction of a
 * binary LightGBM model from flat node tables, through the CPython C API.
 *
 * This file is compiled on first use by fraudscore.model.compiled (gcc, -O2,
 * no fast-math, no FP contraction) into a per-user cache directory keyed by the
 * sha256 of this source, the compiler and the Python ABI; it is never loaded
 * from a bundle. The module name is given with -DFS_MODNAME=<name>.
 *
 * Semantics mirror LightGBM 4.x exactly (include/LightGBM/tree.h, c_api.cpp,
 * gbdt_prediction.cpp, binary_objective.hpp):
 *  - an input value v with !(fabs(v) > kZeroThreshold) && !isnan(v) becomes 0.0
 *    (LightGBM keeps only "non-zero" values of a dense row);
 *  - numerical split: NaN becomes 0.0 unless the node's missing type is NaN;
 *    a missing value (Zero type: |v| <= kZeroThreshold; NaN type: NaN) follows
 *    the node's default direction; otherwise v <= threshold goes left;
 *  - categorical split: NaN or (int)v < 0 goes right; otherwise left when bit
 *    (int)v is set in the node's bitset;
 *  - the raw margin is the sum of the leaf values, tree by tree from 0.0, in
 *    model order; the probability is 1.0 / (1.0 + exp(-sigmoid * margin)).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#ifndef FS_MODNAME
#define FS_MODNAME _forest
#endif
#define FS_STR2(x) #x
#define FS_STR(x) FS_STR2(x)
#define FS_CAT2(a, b) a##b
#define FS_CAT(a, b) FS_CAT2(a, b)

#define FS_ABI_VERSION 2
#define FS_MAX_STACK_FEATURES 512
#define FS_MAX_THREADS 64

static const double kZeroThreshold = 1e-35f; /* a float literal, as in LightGBM's meta.h */

/* One internal node (24 bytes). Children >= 0 are node indices (global), < 0 are ~leaf index (global). */
typedef struct {
    union {
        double threshold;   /* numerical split */
        struct {
            int32_t start;  /* first word of the bitset in `cat_bits` */
            int32_t n;      /* number of 32-bit words */
        } cat;
    } u;
    int32_t left;
    int32_t right;
    int32_t feature;
    uint32_t decision_type; /* LightGBM's byte: bit 0 categorical, bit 1 default left, bits 2-3 missing type */
} fs_node;

enum { MISSING_NONE = 0, MISSING_ZERO = 1, MISSING_NAN = 2 };

typedef struct {
    PyObject_HEAD
    Py_ssize_t n_nodes, n_leaves, n_trees, n_cat_words;
    int num_features;
    double sigmoid;
    fs_node *nodes;
    double *leaves;
    int32_t *roots;         /* per tree: root node index, or ~leaf index for a one-leaf tree */
    uint32_t *cat_bits;
    /* TreeSHAP (set_shap; NULL until then): cover of every node and leaf, each tree's expected value, and the
       path buffer size (in fs_path elements) the deepest tree needs */
    double *node_count;
    double *leaf_count;
    double *tree_ev;
    Py_ssize_t path_len;
    struct fs_fast_s *fast; /* FastTreeSHAP v2 tables (NULL: classic algorithm only) */
    struct fs_best_s *best; /* predict_best's leaf bounds (_forest_best.h; NULL until its first call) */
    struct fs_row_s *row;   /* the single-row layout (_forest_row.h; NULL: predict_one walks the node tables) */
} ForestObject;
typedef struct fs_best_s fs_best;

static PyObject *ConfigErrorType = NULL; /* set by set_error_class(); ValueError otherwise */

static inline int32_t fs_next(const fs_node *nd, double fval, const uint32_t *cat_bits) {
    uint32_t dt = nd->decision_type;
    if (dt & 1u) { /* categorical */
        int iv;
        if (isnan(fval)) return nd->right;
        iv = (int)fval;
        if (iv < 0) return nd->right;
        {
            int i1 = iv / 32;
            if (i1 >= nd->u.cat.n) return nd->right;
            return ((cat_bits[nd->u.cat.start + i1] >> (iv % 32)) & 1u) ? nd->left : nd->right;
        }
    } else {
        uint32_t mt = (dt >> 2) & 3u;
        if (isnan(fval) && mt != MISSING_NAN) fval = 0.0;
        if ((mt == MISSING_ZERO && fval >= -kZeroThreshold && fval <= kZeroThreshold) ||
            (mt == MISSING_NAN && isnan(fval))) {
            return (dt & 2u) ? nd->left : nd->right;
        }
        return (fval <= nd->u.threshold) ? nd->left : nd->right;
    }
}

/* Raw margin of one row that was already cleaned (see fs_clean): leaf values added tree after tree, in model
 * order, from 0.0 (LightGBM's summation order). (Walking several trees interleaved, branch-free, measured no
 * faster on 100- and 500-tree models: see benchmarks/bench_compiled_trees.py.) */
static inline double fs_margin(const ForestObject *f, const double *x) {
    const fs_node *nodes = f->nodes;
    const double *leaves = f->leaves;
    const int32_t *roots = f->roots;
    const uint32_t *cat_bits = f->cat_bits;
    double out = 0.0;
    Py_ssize_t t;
    for (t = 0; t < f->n_trees; ++t) {
        int32_t n = roots[t];
        while (n >= 0) {
            const fs_node *nd = nodes + n;
            n = fs_next(nd, x[nd->feature], cat_bits);
        }
        out += leaves[~n];
    }
    return out;
}

static inline void fs_clean(const double *in, double *out, int k) {
    int j;
    for (j = 0; j < k; ++j) {
        double v = in[j];
        out[j] = (fabs(v) > kZeroThreshold || isnan(v)) ? v : 0.0;
    }
}

static inline double fs_sigmoid(double sigmoid, double m) {
    return 1.0f / (1.0f + exp(-sigmoid * m));
}

static int fs_row_buffers(PyObject *Xo, PyObject *outo, int k, const char *what, Py_buffer *xb, Py_buffer *ob,
                          Py_ssize_t *n); /* below: the X / out buffers of predict and predict_best */
#include "_forest_shap.h"
#include "_forest_shap_x4.h"
#include "_forest_best.h"
#include "_forest_row.h"

static void fs_raise_config(const char *msg, Py_ssize_t got, int want) {
    PyErr_Format(ConfigErrorType ? ConfigErrorType : PyExc_ValueError,
                 "The 'x' parameter of predict_one must hold %d feature values. Got %zd instead.", want, got);
    (void)msg;
}

/* Copy one row (float64 buffer or a sequence of numbers / None) into `out`, cleaned. 0 on success. */
static int fs_read_row(ForestObject *f, PyObject *arg, double *out) {
    int k = f->num_features;
    if (PyObject_CheckBuffer(arg)) {
        Py_buffer view;
        if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0) {
            if (view.itemsize == 8 && view.format != NULL && (strcmp(view.format, "d") == 0 ||
                                                               strcmp(view.format, "<d") == 0 ||
                                                               strcmp(view.format, "=d") == 0)) {
                /* a row is one-dimensional, as len(x) reads it (a (1, k) matrix is not a row) */
                Py_ssize_t n = view.ndim == 1 ? view.len / 8 : (view.ndim > 1 ? view.shape[0] : 1);
                if (n != k || view.ndim != 1) {
                    PyBuffer_Release(&view);
                    fs_raise_config("", n, k);
                    return -1;
                }
                fs_clean((const double *)view.buf, out, k);
                PyBuffer_Release(&view);
                return 0;
            }
            PyBuffer_Release(&view);
        } else {
            PyErr_Clear();
        }
    }
    {
        PyObject *seq = PySequence_Fast(arg, "x must be a sequence of numbers");
        Py_ssize_t n, j;
        PyObject **items;
        if (seq == NULL) return -1;
        n = PySequence_Fast_GET_SIZE(seq);
        if (n != k) {
            Py_DECREF(seq);
            fs_raise_config("", n, k);
            return -1;
        }
        items = PySequence_Fast_ITEMS(seq);
        for (j = 0; j < n; ++j) {
            double v;
            if (items[j] == Py_None) {
                v = NAN;
            } else {
                v = PyFloat_AsDouble(items[j]);
                if (v == -1.0 && PyErr_Occurred()) {
                    Py_DECREF(seq);
                    return -1;
                }
            }
            out[j] = v;
        }
        Py_DECREF(seq);
        fs_clean(out, out, k);
        return 0;
    }
}

/* One row's probability (or raw margin): through the single-row layout (_forest_row.h) unless `tables` or the
 * model has none, else tree by tree over the node tables (fs_margin); the same double either way. */
static PyObject *fs_predict_row(ForestObject *f, PyObject *arg, int raw, int tables) {
    double stackbuf[FS_MAX_STACK_FEATURES];
    double *x = stackbuf;
    double m;
    int failed = 0;
    if (f->num_features > FS_MAX_STACK_FEATURES) {
        x = (double *)PyMem_Malloc(sizeof(double) * (size_t)f->num_features);
        if (x == NULL) return PyErr_NoMemory();
    }
    if (fs_read_row(f, arg, x) != 0) {
        if (x != stackbuf) PyMem_Free(x);
        return NULL;
    }
    m = (f->row != NULL && !tables) ? fs_row_margin(f, x, &failed) : fs_margin(f, x);
    if (x != stackbuf) PyMem_Free(x);
    if (failed) return PyErr_NoMemory();
    return PyFloat_FromDouble(raw ? m : fs_sigmoid(f->sigmoid, m));
}

static PyObject *Forest_predict_one(ForestObject *self, PyObject *arg) { return fs_predict_row(self, arg, 0, 0); }
static PyObject *Forest_predict_raw_one(ForestObject *self, PyObject *arg) { return fs_predict_row(self, arg, 1, 0); }
static PyObject *Forest_predict_one_tables(ForestObject *self, PyObject *arg) { return fs_predict_row(self, arg, 0, 1); }
static PyObject *Forest_predict_raw_one_tables(ForestObject *self, PyObject *arg) {
    return fs_predict_row(self, arg, 1, 1);
}

/* ---- batch ------------------------------------------------------------------------------------ */
/* One share of a row-parallel kernel (predict, contrib): rows [lo, hi) of X into out. `flag` is the kernel's
 * option (predict: raw margins; contrib: the classic algorithm); `failed` is set when it could not allocate. */
typedef struct {
    const ForestObject *f;
    const double *X;
    double *out;
    Py_ssize_t lo, hi;
    int flag;
    int failed;
} fs_job;

/* Run `work` over the n rows of X: `threads` (clamped to [1, FS_MAX_THREADS], and to one per `min_rows` rows)
 * contiguous shares, the calling thread doing the first (and the share of any thread that cannot start).
 * Called without the GIL. Returns 1 when a share failed. */
static int fs_run_rows(void *(*work)(void *), const ForestObject *f, const double *X, double *out, Py_ssize_t n,
                       int threads, Py_ssize_t min_rows, int flag) {
    fs_job jobs[FS_MAX_THREADS];
    pthread_t tids[FS_MAX_THREADS];
    int started[FS_MAX_THREADS];
    Py_ssize_t t, chunk;
    int failed = 0;
    if (threads < 1) threads = 1;
    if (threads > FS_MAX_THREADS) threads = FS_MAX_THREADS;
    if (n < min_rows * (Py_ssize_t)threads) threads = (int)(n / min_rows) > 0 ? (int)(n / min_rows) : 1;
    chunk = n > 0 ? (n + threads - 1) / threads : 0;
    for (t = 0; t < threads; ++t) {
        jobs[t].f = f;
        jobs[t].X = X;
        jobs[t].out = out;
        jobs[t].lo = t * chunk < n ? t * chunk : n;
        jobs[t].hi = (t + 1) * chunk < n ? (t + 1) * chunk : n;
        jobs[t].flag = flag;
        jobs[t].failed = 0;
        started[t] = 0;
    }
    for (t = 1; t < threads; ++t) {
        started[t] = pthread_create(&tids[t], NULL, work, &jobs[t]) == 0;
        if (!started[t]) work(&jobs[t]); /* could not start a thread: do its share here */
    }
    work(&jobs[0]);
    for (t = 1; t < threads; ++t) {
        if (started[t]) pthread_join(tids[t], NULL);
    }
    for (t = 0; t < threads; ++t) failed |= jobs[t].failed;
    return failed;
}

/* Rows are scored in blocks of FS_BLOCK: for each tree, every row of the block, so one tree's nodes stay in the
 * L1 cache while the block walks it. Each row's margin still adds its leaves tree after tree, in model order. */
#ifndef FS_BLOCK
#define FS_BLOCK 32
#endif
static void *fs_run_job(void *arg) {
    fs_job *job = (fs_job *)arg;
    const ForestObject *f = job->f;
    int k = f->num_features;
    double *x = (double *)malloc(sizeof(double) * (size_t)k * FS_BLOCK);
    double acc[FS_BLOCK];
    Py_ssize_t i0;
    if (x == NULL) {
        job->failed = 1;
        return NULL;
    }
    for (i0 = job->lo; i0 < job->hi; i0 += FS_BLOCK) {
        int b, nb = (int)((job->hi - i0) < FS_BLOCK ? (job->hi - i0) : FS_BLOCK);
        Py_ssize_t t;
        for (b = 0; b < nb; ++b) {
            fs_clean(job->X + (i0 + b) * k, x + (Py_ssize_t)b * k, k);
            acc[b] = 0.0;
        }
        for (t = 0; t < f->n_trees; ++t) {
            int32_t root = f->roots[t];
            for (b = 0; b < nb; ++b) {
                const double *xb = x + (Py_ssize_t)b * k;
                int32_t n = root;
                while (n >= 0) {
                    const fs_node *nd = f->nodes + n;
                    n = fs_next(nd, xb[nd->feature], f->cat_bits);
                }
                acc[b] += f->leaves[~n];
            }
        }
        for (b = 0; b < nb; ++b) job->out[i0 + b] = job->flag ? acc[b] : fs_sigmoid(f->sigmoid, acc[b]);
    }
    free(x);
    return NULL;
}

/* The same margins through the single-row layout (_forest_row.h), row after row: FS_ROW_LANES trees of one row
 * walked together, so their node loads overlap. Measured 2.8x faster than fs_run_job's tree-major blocks on the
 * 500-tree bench bundle (one thread; #13 round 11, docs/benchmarks.md): the blocks keep one tree in L1 but walk it
 * one dependent load at a time. Each margin is fs_row_margin's, the same double as fs_margin's, bit for bit. */
static void *fs_run_job_rows(void *arg) {
    fs_job *job = (fs_job *)arg;
    const ForestObject *f = job->f;
    int k = f->num_features, failed = 0;
    double stackbuf[FS_MAX_STACK_FEATURES];
    double *x = k > FS_MAX_STACK_FEATURES ? (double *)malloc(sizeof(double) * (size_t)k) : stackbuf;
    Py_ssize_t i;
    if (x == NULL) {
        job->failed = 1;
        return NULL;
    }
    for (i = job->lo; i < job->hi && !failed; ++i) {
        double m;
        fs_clean(job->X + i * k, x, k);
        m = fs_row_margin(f, x, &failed);
        job->out[i] = job->flag ? m : fs_sigmoid(f->sigmoid, m);
    }
    if (x != stackbuf) free(x);
    job->failed = failed;
    return NULL;
}

#include "_forest_lanes.h"

/* X a C-contiguous float64 (n, k) buffer and out a writable float64 (n,) one: 0 with both held and *n set, or -1
 * with an exception set and neither held. */
static int fs_row_buffers(PyObject *Xo, PyObject *outo, int k, const char *what, Py_buffer *xb, Py_buffer *ob,
                          Py_ssize_t *n) {
    if (PyObject_GetBuffer(Xo, xb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return -1;
    if (PyObject_GetBuffer(outo, ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) {
        PyBuffer_Release(xb);
        return -1;
    }
    if (xb->itemsize != 8 || ob->itemsize != 8 || xb->format == NULL || ob->format == NULL ||
        strchr(xb->format, 'd') == NULL || strchr(ob->format, 'd') == NULL) {
        PyErr_Format(PyExc_TypeError, "%s needs float64 buffers", what);
        goto fail;
    }
    *n = ob->len / 8;
    if (xb->len != *n * 8 * (Py_ssize_t)k) {
        PyErr_Format(ConfigErrorType ? ConfigErrorType : PyExc_ValueError,
                     "The 'X' parameter must be a matrix with %d columns and as many rows as 'out'. Got %zd values "
                     "for %zd rows instead.", k, xb->len / 8, *n);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(xb);
    PyBuffer_Release(ob);
    return -1;
}

/* predict(X, out, raw=False, threads=1, tables=False, by_row=False): X a C-contiguous float64 (n, k) buffer, out
 * a writable float64 (n,) one; through the single-row layout, eight rows at a time (fs_run_job_lanes; with
 * `by_row` one row at a time, fs_run_job_rows), unless `tables` or the model has none. The same doubles. */
static PyObject *Forest_predict(ForestObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"X", "out", "raw", "threads", "tables", "by_row", NULL};
    PyObject *Xo, *outo;
    int raw = 0, threads = 1, tables = 0, by_row = 0;
    Py_buffer xb, ob;
    Py_ssize_t n;
    int failed;
    void *(*work)(void *);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|pipp", kwlist, &Xo, &outo, &raw, &threads, &tables,
                                     &by_row)) {
        return NULL;
    }
    if (fs_row_buffers(Xo, outo, self->num_features, "predict", &xb, &ob, &n) != 0) return NULL;
    work = (self->row == NULL || tables) ? fs_run_job : by_row ? fs_run_job_rows : fs_run_job_lanes;
    Py_BEGIN_ALLOW_THREADS
    failed = fs_run_rows(work, self, (const double *)xb.buf, (double *)ob.buf, n, threads, 256, raw);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ---- construction -------------------------------------------------------------------------------- */
static int fs_copy(PyObject *obj, void **dst, Py_ssize_t itemsize, Py_ssize_t *count, const char *what) {
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_C_CONTIGUOUS) != 0) return -1;
    if (b.len % itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes is not a whole number of %zd-byte items", what, b.len,
                     itemsize);
        PyBuffer_Release(&b);
        return -1;
    }
    *count = b.len / itemsize;
    *dst = PyMem_Malloc(b.len > 0 ? (size_t)b.len : 1);
    if (*dst == NULL) {
        PyBuffer_Release(&b);
        PyErr_NoMemory();
        return -1;
    }
    if (b.len > 0) memcpy(*dst, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    return 0;
}

static void Forest_dealloc(ForestObject *self) {
    PyMem_Free(self->nodes);
    PyMem_Free(self->leaves);
    PyMem_Free(self->roots);
    PyMem_Free(self->cat_bits);
    PyMem_Free(self->node_count);
    PyMem_Free(self->leaf_count);
    PyMem_Free(self->tree_ev);
    fs_fast_free(self->fast);
    fs_best_free(self->best);
    fs_row_free(self->row);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Forest(nodes: bytes of fs_node, leaves: float64, roots: int32, cat_bits: uint32, num_features, sigmoid) */
static int Forest_init(ForestObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"nodes", "leaves", "roots", "cat_bits", "num_features", "sigmoid", NULL};
    PyObject *nodes, *leaves, *roots, *cat;
    int k;
    double sigmoid;
    Py_ssize_t i, t;
    if (self->nodes != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Forest is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOid", kwlist, &nodes, &leaves, &roots, &cat, &k, &sigmoid))
        return -1;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "num_features must be positive");
        return -1;
    }
    if (fs_copy(nodes, (void **)&self->nodes, sizeof(fs_node), &self->n_nodes, "nodes") ||
        fs_copy(leaves, (void **)&self->leaves, sizeof(double), &self->n_leaves, "leaves") ||
        fs_copy(roots, (void **)&self->roots, sizeof(int32_t), &self->n_trees, "roots") ||
        fs_copy(cat, (void **)&self->cat_bits, sizeof(uint32_t), &self->n_cat_words, "cat_bits"))
        return -1;
    self->num_features = k;
    self->sigmoid = sigmoid;
    /* validate every index once, so prediction never reads out of bounds and always terminates
       (children of node i point forward: LightGBM numbers a tree's nodes so that a child's index is larger,
       which the Python side checks; here we check ranges). */
    for (i = 0; i < self->n_nodes; ++i) {
        const fs_node *nd = self->nodes + i;
        int32_t c[2] = {nd->left, nd->right};
        int j;
        if (nd->feature < 0 || nd->feature >= k) goto bad;
        for (j = 0; j < 2; ++j) {
            if (c[j] >= 0 ? (c[j] <= i || c[j] >= self->n_nodes) : (~c[j] >= self->n_leaves)) goto bad;
        }
        if (nd->decision_type & 1u) {
            if (nd->u.cat.start < 0 || nd->u.cat.n < 0 || (Py_ssize_t)nd->u.cat.start + nd->u.cat.n > self->n_cat_words)
                goto bad;
        }
    }
    for (t = 0; t < self->n_trees; ++t) {
        int32_t r = self->roots[t];
        if (r >= 0 ? r >= self->n_nodes : ~r >= self->n_leaves) goto bad;
    }
    self->row = fs_row_prepare(self); /* NULL (no memory, or a model it cannot hold): predict_one walks the tables */
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, "forest tables are inconsistent (an index is out of range)");
    return -1;
}

/* ---- TreeSHAP ----------------------------------------------------------------------------------- */
/* set_shap(node_count: float64 (n_nodes,), leaf_count: float64 (n_leaves,), leaf_start: int32 (n_trees + 1,),
 *          budget=0): the cover of every node and leaf (LightGBM's internal_count / leaf_count) and where each
 * tree's leaves start; enables contrib(). Covers must be finite and positive (LightGBM never writes an empty
 * node). `budget`: FastTreeSHAP v2 table entries (8 bytes each) to spend, trees in model order (0: none). */
static PyObject *Forest_set_shap(ForestObject *self, PyObject *args) {
    PyObject *nco, *lco, *lso;
    double *nc = NULL, *lc = NULL, *ev = NULL;
    int32_t *ls = NULL;
    Py_ssize_t n_nc, n_lc, n_ls, i, t;
    int maxd = 0;
    long long budget = 0;
    fs_fast *ff = NULL;
    if (!PyArg_ParseTuple(args, "OOO|L", &nco, &lco, &lso, &budget)) return NULL;
    if (self->nodes == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Forest is not initialised");
        return NULL;
    }
    if (self->tree_ev != NULL) { /* once: a contrib() running without the GIL reads these tables */
        PyErr_SetString(PyExc_RuntimeError, "set_shap() was already called on this Forest");
        return NULL;
    }
    if (fs_copy(nco, (void **)&nc, sizeof(double), &n_nc, "node_count") ||
        fs_copy(lco, (void **)&lc, sizeof(double), &n_lc, "leaf_count") ||
        fs_copy(lso, (void **)&ls, sizeof(int32_t), &n_ls, "leaf_start"))
        goto fail;
    if (n_nc != self->n_nodes || n_lc != self->n_leaves || n_ls != self->n_trees + 1) goto bad;
    for (i = 0; i < n_nc; ++i) if (!(nc[i] > 0 && isfinite(nc[i]))) goto bad;
    for (i = 0; i < n_lc; ++i) if (!(lc[i] > 0 && isfinite(lc[i]))) goto bad;
    if (ls[0] != 0 || ls[self->n_trees] != self->n_leaves) goto bad;
    ev = (double *)PyMem_Malloc(sizeof(double) * (size_t)(self->n_trees > 0 ? self->n_trees : 1));
    if (ev == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (t = 0; t < self->n_trees; ++t) {
        int32_t r = self->roots[t];
        int d;
        if (ls[t + 1] <= ls[t]) goto bad;
        if (r < 0) {
            if (ls[t + 1] - ls[t] != 1 || ~r != ls[t]) goto bad;
            d = 0;
        } else {
            d = fs_depth(self, r, 4096);
            if (d < 0) goto bad;
        }
        if (d > maxd) maxd = d;
    }
    PyMem_Free(self->node_count);
    PyMem_Free(self->leaf_count);
    PyMem_Free(self->tree_ev);
    self->node_count = nc;
    self->leaf_count = lc;
    for (t = 0; t < self->n_trees; ++t) ev[t] = fs_expected_value(self, self->roots[t], ls[t], ls[t + 1]);
    self->tree_ev = ev;
    self->path_len = (Py_ssize_t)(maxd + 1) * (maxd + 2) / 2 + 1;
    PyMem_Free(ls);
    fs_fast_free(self->fast);
    self->fast = NULL;
    if (budget > 0) {
        ff = fs_fast_prepare(self, (int64_t)budget);
        if (ff == NULL) return NULL; /* the classic algorithm stays usable */
        self->fast = ff;
    }
    Py_RETURN_NONE;
bad:
    PyErr_SetString(PyExc_ValueError, "TreeSHAP tables are inconsistent (a cover or leaf range is invalid)");
fail:
    PyMem_Free(nc);
    PyMem_Free(lc);
    PyMem_Free(ls);
    PyMem_Free(ev);
    return NULL;
}

/* Rows per block of fs_contrib_block: a tree's tables are read by every row of the block before the next tree's.
 * 256 rows: the 500-tree bench bundle's 738 explained rows 792 -> 478 ms on one thread, the 81-tree bundle's 954
 * 77 -> 52 ms (#13 round 11; 64: 568, 1024: 435; each row adds its trees in model order whatever the block, so
 * the values are the same bits). Round 12, with the branch-free leaf update: 256 -> 1024 rows, 535 -> 475 us per
 * row on one thread (a block of 1024 rows of 120 features is 1 MB of input, 1 MB of output per thread). */
#ifndef FS_SHAP_BLOCK
#define FS_SHAP_BLOCK 1024
#endif
static void *fs_run_cjob(void *arg) { /* a contrib share (fs_job; flag: the classic algorithm) */
    fs_job *job = (fs_job *)arg;
    const ForestObject *f = job->f;
    int k = f->num_features;
    double *x = (double *)malloc(sizeof(double) * (size_t)k * FS_SHAP_BLOCK);
    fs_path *path = (fs_path *)malloc(sizeof(fs_path) * (size_t)f->path_len);
    const fs_fast *ff = job->flag ? NULL : f->fast;
    /* the fixed-order walk's masks (fs_fast_tree_flat): per internal node and leaf of the largest tree, four per
       slot for the AVX2 path (_forest_shap_x4.h), whose contributions are kept feature-major in acc */
    uint32_t *scr = (uint32_t *)malloc(4 * sizeof(uint32_t) *
                                       (size_t)(ff != NULL && ff->max_slots > 0 ? ff->max_slots : 1));
    double *acc = ff != NULL && ff->x4 ? (double *)malloc(sizeof(double) * (size_t)(k + 1) * FS_SHAP_BLOCK) : NULL;
    Py_ssize_t i0;
    if (x == NULL || path == NULL || scr == NULL || (ff != NULL && ff->x4 && acc == NULL)) {
        job->failed = 1;
    } else {
        for (i0 = job->lo; i0 < job->hi; i0 += FS_SHAP_BLOCK) {
            int b, nb = (int)((job->hi - i0) < FS_SHAP_BLOCK ? (job->hi - i0) : FS_SHAP_BLOCK);
            for (b = 0; b < nb; ++b) fs_clean(job->X + (i0 + b) * k, x + (Py_ssize_t)b * k, k);
            fs_contrib_block(f, ff, x, job->out + i0 * (k + 1), nb, path, scr, acc);
        }
    }
    free(x);
    free(path);
    free(scr);
    free(acc);
    return NULL;
}

/* contrib(X, out, threads=1, classic=False): X a C-contiguous float64 (n, k) buffer, out a writable float64
 * (n, k + 1) one: TreeSHAP contributions per row (LightGBM's pred_contrib layout), GIL released, rows split over
 * threads; the FastTreeSHAP v2 tables where set_shap built them unless `classic`. */
static PyObject *Forest_contrib(ForestObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"X", "out", "threads", "classic", NULL};
    PyObject *Xo, *outo;
    int threads = 1, classic = 0, k = self->num_features;
    Py_buffer xb, ob;
    Py_ssize_t n;
    int failed;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|ip", kwlist, &Xo, &outo, &threads, &classic)) return NULL;
    if (self->tree_ev == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "contrib needs set_shap() first");
        return NULL;
    }
    if (PyObject_GetBuffer(Xo, &xb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return NULL;
    if (PyObject_GetBuffer(outo, &ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    if (xb.itemsize != 8 || ob.itemsize != 8 || xb.format == NULL || ob.format == NULL ||
        strchr(xb.format, 'd') == NULL || strchr(ob.format, 'd') == NULL) {
        PyErr_SetString(PyExc_TypeError, "contrib needs float64 buffers");
        goto fail;
    }
    n = xb.len / (8 * (Py_ssize_t)k);
    if (xb.len != n * 8 * (Py_ssize_t)k || ob.len != n * 8 * (Py_ssize_t)(k + 1)) {
        PyErr_Format(ConfigErrorType ? ConfigErrorType : PyExc_ValueError,
                     "The 'X' parameter must be a matrix with %d columns and 'out' one with %d columns and as many "
                     "rows. Got %zd and %zd values instead.", k, k + 1, xb.len / 8, ob.len / 8);
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    failed = fs_run_rows(fs_run_cjob, self, (const double *)xb.buf, (double *)ob.buf, n, threads, 8, classic);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    return NULL;
}

static PyObject *Forest_get_n_trees(ForestObject *self, void *closure) { return PyLong_FromSsize_t(self->n_trees); }
static PyObject *Forest_get_num_features(ForestObject *self, void *closure) { return PyLong_FromLong(self->num_features); }
static PyObject *Forest_get_n_nodes(ForestObject *self, void *closure) { return PyLong_FromSsize_t(self->n_nodes); }
static PyObject *Forest_get_row_bytes(ForestObject *self, void *closure) {
    return PyLong_FromSsize_t(self->row == NULL ? 0 : self->row->n_units * (Py_ssize_t)sizeof(double));
}
static PyObject *Forest_get_has_shap(ForestObject *self, void *closure) { return PyBool_FromLong(self->tree_ev != NULL); }
static PyObject *Forest_get_shap_lanes(ForestObject *self, void *closure) {
    /* rows the FastTreeSHAP walk takes at once: 4 on the AVX2 path (_forest_shap_x4.h), else 1 */
    return PyLong_FromLong(self->fast != NULL && self->fast->x4 ? 4 : 1);
}
static PyObject *Forest_get_fast_shap(ForestObject *self, void *closure) {
    /* (trees using the FastTreeSHAP v2 tables, table bytes) */
    Py_ssize_t t, n = 0;
    if (self->fast == NULL) return Py_BuildValue("(nL)", (Py_ssize_t)0, 0LL);
    for (t = 0; t < self->n_trees; ++t) n += self->fast->tree_fast[t];
    return Py_BuildValue("(nL)", n, (long long)(self->fast->n_tab * 8 + self->fast->n_par * 12));
}

static PyMethodDef Forest_methods[] = {
    {"predict_one", (PyCFunction)Forest_predict_one, METH_O, "Probability for one row (float64 buffer or sequence)."},
    {"predict_raw_one", (PyCFunction)Forest_predict_raw_one, METH_O, "Raw margin for one row."},
    {"predict_one_tables", (PyCFunction)Forest_predict_one_tables, METH_O,
     "predict_one walking the node tables tree by tree (the pre-layout path; tests and benchmarks)."},
    {"predict_raw_one_tables", (PyCFunction)Forest_predict_raw_one_tables, METH_O,
     "predict_raw_one walking the node tables tree by tree."},
    {"predict", (PyCFunction)(void (*)(void))Forest_predict, METH_VARARGS | METH_KEYWORDS,
     "predict(X, out, raw=False, threads=1, tables=False): fill out with one prediction per row of X (GIL "
     "released; the single-row layout unless tables)."},
    {"predict_best", (PyCFunction)Forest_predict_best, METH_VARARGS,
     "predict_best(X, out) -> trees walked: probabilities of the rows that may be the best, -1.0 for the others."},
    {"set_shap", (PyCFunction)Forest_set_shap, METH_VARARGS,
     "set_shap(node_count, leaf_count, leaf_start): node covers for TreeSHAP (enables contrib)."},
    {"contrib", (PyCFunction)(void (*)(void))Forest_contrib, METH_VARARGS | METH_KEYWORDS,
     "contrib(X, out, threads=1): TreeSHAP contributions of every row of X into out (n, k + 1), GIL released."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Forest_getset[] = {
    {"n_trees", (getter)Forest_get_n_trees, NULL, "number of trees", NULL},
    {"num_features", (getter)Forest_get_num_features, NULL, "values per row", NULL},
    {"n_nodes", (getter)Forest_get_n_nodes, NULL, "number of internal nodes", NULL},
    {"row_bytes", (getter)Forest_get_row_bytes, NULL, "bytes of the single-row layout (0: none)", NULL},
    {"has_shap", (getter)Forest_get_has_shap, NULL, "whether set_shap() was called", NULL},
    {"fast_shap", (getter)Forest_get_fast_shap, NULL, "(trees with FastTreeSHAP v2 tables, their bytes)", NULL},
    {"shap_lanes", (getter)Forest_get_shap_lanes, NULL, "rows the FastTreeSHAP walk takes at once (4: AVX2)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject ForestType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = FS_STR(FS_MODNAME) ".Forest",
    .tp_basicsize = sizeof(ForestObject),
    .tp_dealloc = (destructor)Forest_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A binary LightGBM forest in flat node tables (see fraudscore.model.compiled).",
    .tp_methods = Forest_methods,
    .tp_getset = Forest_getset,
    .tp_init = (initproc)Forest_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *fs_set_error_class(PyObject *mod, PyObject *cls) {
    Py_XDECREF(ConfigErrorType);
    Py_INCREF(cls);
    ConfigErrorType = cls;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_error_class", fs_set_error_class, METH_O, "Exception class raised for a row of the wrong length."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, FS_STR(FS_MODNAME),
                                        "fraudscore compiled forest (built on load)", -1, module_methods};

PyMODINIT_FUNC FS_CAT(PyInit_, FS_MODNAME)(void) {
    PyObject *m;
    if (PyType_Ready(&ForestType) < 0) return NULL;
    { /* round 17: predict_best's C entry for the link glue (_forest_best.h fs_best_raw) */
        PyObject *cap = PyCapsule_New((void *)fs_best_raw, FS_BEST_CAPSULE, NULL);
        int bad = cap == NULL || PyDict_SetItemString(ForestType.tp_dict, "_best_rows_c", cap) < 0;
        Py_XDECREF(cap);
        if (bad) return NULL;
        PyType_Modified(&ForestType);
    }
    m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&ForestType);
    if (PyModule_AddObject(m, "Forest", (PyObject *)&ForestType) < 0) {
        Py_DECREF(&ForestType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "ABI_VERSION", FS_ABI_VERSION);
    PyModule_AddIntConstant(m, "NODE_SIZE", (long)sizeof(fs_node));
    return m;
}
