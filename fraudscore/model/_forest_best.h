/*
 * The rows of one device-linker call, exactly: predict_best(X, out) for the device linker, which scores its up to
 * 8 candidate rows per event and uses the best (its probability, bit for bit, and the candidate).
 * Included by _forest.c (it needs ForestObject, fs_margin, fs_clean, fs_sigmoid and, declared below, fs_row_margin
 * of _forest_row.h).
 *
 * Contract (unchanged since round 9): out[i] is row i's probability, equal bit for bit to predict_one, or -1.0
 * when it is provably strictly below the best row's. Since round 11 every row is scored in full (no -1.0): the
 * leaf-bound pruning of rounds 9-10 walked 94 % of the trees on the scorer stream's candidate blocks (469 of 496
 * tree walks per call) and cost its own bookkeeping; the kernel below makes a row cheap enough that pruning does
 * not pay.
 *
 * How (round 11, #13): QuickScorer (Lucchese et al., SIGIR 2015) where the forest allows it -- every node a
 * numerical split with missing type None (LightGBM's decision_type 0 or 2: the device linker's models), no NaN
 * threshold, at most 32 leaves per tree (the shipped link model: 80 trees of 15 leaves). Each tree's leaves are
 * numbered left to right; a node whose test is false (the row goes right) rules out the leaves of its left
 * subtree, and the leaf the row reaches is the leftmost one no false node rules out (the paper's theorem). So,
 * per row: a 32-bit leaf mask per tree, all ones; for every feature the trees split on, its nodes in increasing
 * threshold (one table, built once), and while the row's value is above the threshold, that node's tree mask
 * ANDs in the node's mask; then leaf = count of trailing zeros, and the margin is the sum of those leaf values in
 * model order from 0.0 -- fs_margin's sum of the same doubles, so the same double. The row is cleaned as
 * fs_clean does and NaN read as 0.0, as fs_next reads a NaN at a node of missing type None; a node's test is
 * fs_next's (v <= threshold: left) on the same two doubles, so every tree ends in the same leaf. A +inf sentinel
 * ends each feature's run (no value is above it: the row holds no NaN). Per row that is one compare per false
 * node (267 of the link model's 1,120 on the scorer stream) plus one per feature, against ~4.3 dependent node
 * loads per tree for the walk.
 *
 * Other forests (categorical splits, missing types Zero / NaN, more leaves): every row through the single-row
 * layout (_forest_row.h, fs_row_margin), or fs_margin when the forest has no layout.
 */
#define FS_QS_MAX_LEAVES 32 /* leaves per tree the 32-bit masks hold */
#define FS_QS_STACK_TREES 1024 /* per-row tree masks kept on the stack; more trees: one allocation per call */

static double fs_row_margin(const ForestObject *f, const double *x, int *failed); /* _forest_row.h */

/* one node of the threshold table (16 bytes) */
typedef struct {
    double thr;     /* the node's threshold; +inf: the end of its feature's run */
    uint32_t mask;  /* leaves still possible when the row goes right: the left subtree's bits cleared */
    int32_t tree;
} fs_qe;

typedef struct { /* one used feature: its column and its first entry in ent */
    int32_t col, start;
} fs_qf;

struct fs_best_s {
    int qs;           /* 1: the QuickScorer tables below; 0: fs_row_margin / fs_margin */
    Py_ssize_t n_used; /* features some node splits on */
    int32_t *fcol;    /* per used feature: its column */
    int32_t *fstart;  /* per used feature: its first entry in ent (its run ends with a sentinel) */
    fs_qe *ent;       /* the nodes, by feature then threshold */
    int32_t *lbase;   /* per tree: its first leaf in lv */
    double *lv;       /* the leaf values, tree by tree, each tree's left to right */
    const double **lvp; /* per tree: lv + lbase[t] */
    double *lv32;     /* round 15: the leaf values at a fixed stride, tree t's leaf l at lv32[32 * t + l] (one load
                       * less per tree than lvp[t][l]); NULL: lvp */
    fs_qf *feat;      /* round 15: per used feature, its column and first entry side by side (one line) */
};

static void fs_best_free(fs_best *b) {
    if (b == NULL) return;
    PyMem_Free(b->fcol);
    PyMem_Free(b->fstart);
    PyMem_Free(b->ent);
    PyMem_Free(b->lbase);
    PyMem_Free(b->lv);
    PyMem_Free((void *)b->lvp);
    PyMem_Free(b->lv32);
    PyMem_Free(b->feat);
    PyMem_Free(b);
}

/* the build's scratch: the nodes in visit order and the leaves */
typedef struct {
    double thr;
    uint32_t mask;
    int32_t tree, feat, seq;
} fs_qs_node;

typedef struct {
    fs_qs_node *nodes;
    Py_ssize_t n_nodes, cap_nodes;
    double *lv;
    Py_ssize_t n_lv, cap_lv;
    int leaves; /* leaves of the current tree so far */
} fs_qs_build;

static int fs_qs_grow(void **p, Py_ssize_t *cap, Py_ssize_t need, size_t size) {
    void *q;
    Py_ssize_t c = *cap > 0 ? *cap : 64;
    if (need <= *cap) return 0;
    while (c < need) c *= 2;
    if ((q = PyMem_Realloc(*p, size * (size_t)c)) == NULL) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* the subtree at node n of tree t, in order (left subtree, the node, right subtree). 1: done; 0: the forest does
 * not fit the tables (a tree of more than 32 leaves, a NaN threshold, a node that is not plain); -1: no memory */
static int fs_qs_visit(const ForestObject *f, fs_qs_build *s, int32_t n, int32_t t, int depth) {
    const fs_node *nd;
    fs_qs_node *q;
    int lo, r;
    uint32_t dt;
    if (n < 0) {
        if (s->leaves >= FS_QS_MAX_LEAVES) return 0;
        if (fs_qs_grow((void **)&s->lv, &s->cap_lv, s->n_lv + 1, sizeof(double)) != 0) return -1;
        s->lv[s->n_lv++] = f->leaves[~n];
        s->leaves++;
        return 1;
    }
    if (depth >= FS_QS_MAX_LEAVES) return 0; /* a path this long: more leaves than the masks hold */
    nd = f->nodes + n;
    dt = nd->decision_type;
    if ((dt & 1u) || ((dt >> 2) & 3u) != MISSING_NONE || isnan(nd->u.threshold)) return 0;
    lo = s->leaves;
    if ((r = fs_qs_visit(f, s, nd->left, t, depth + 1)) != 1) return r;
    if (fs_qs_grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof(fs_qs_node)) != 0) return -1;
    q = s->nodes + s->n_nodes;
    q->thr = nd->u.threshold;
    /* the left subtree's leaves are lo .. s->leaves - 1 (at least one): ruled out when the row goes right */
    q->mask = ~(uint32_t)((((uint64_t)1 << s->leaves) - 1) & ~(((uint64_t)1 << lo) - 1));
    q->tree = t;
    q->feat = nd->feature;
    q->seq = (int32_t)s->n_nodes;
    s->n_nodes++;
    return fs_qs_visit(f, s, nd->right, t, depth + 1);
}

static int fs_qs_cmp(const void *a, const void *b) { /* by feature, then threshold (then visit order: stable) */
    const fs_qs_node *x = (const fs_qs_node *)a, *y = (const fs_qs_node *)b;
    if (x->feat != y->feat) return x->feat < y->feat ? -1 : 1;
    if (x->thr != y->thr) return x->thr < y->thr ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* the tables (NULL with a Python error set when out of memory; b->qs = 0 where the forest does not fit them) */
static fs_best *fs_best_prepare(const ForestObject *f) {
    Py_ssize_t N = f->n_trees, t, i, j, used = 0;
    fs_qs_build s;
    fs_best *b = (fs_best *)PyMem_Calloc(1, sizeof(fs_best));
    int r = 1;
    if (b == NULL) return (fs_best *)PyErr_NoMemory();
    memset(&s, 0, sizeof(s));
    if (N < 1 || N > INT32_MAX / FS_QS_MAX_LEAVES) goto plain;
    if ((b->lbase = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)N)) == NULL) goto nomem;
    for (t = 0; t < N && r == 1; ++t) {
        b->lbase[t] = (int32_t)s.n_lv;
        s.leaves = 0;
        r = fs_qs_visit(f, &s, f->roots[t], (int32_t)t, 0);
    }
    if (r < 0) goto nomem;
    if (r == 0) goto plain;
    if (s.n_nodes > 0) qsort(s.nodes, (size_t)s.n_nodes, sizeof(fs_qs_node), fs_qs_cmp);
    for (i = 0; i < s.n_nodes; ++i) used += i == 0 || s.nodes[i].feat != s.nodes[i - 1].feat;
    b->fcol = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(used > 0 ? used : 1));
    b->fstart = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(used > 0 ? used : 1));
    b->ent = (fs_qe *)PyMem_Malloc(sizeof(fs_qe) * (size_t)(s.n_nodes + used + 1));
    if (b->fcol == NULL || b->fstart == NULL || b->ent == NULL) goto nomem;
    for (i = j = 0; i < s.n_nodes; ++i) {
        if (i == 0 || s.nodes[i].feat != s.nodes[i - 1].feat) { /* a new run (after the last one's sentinel) */
            if (i > 0) {
                b->ent[j].thr = INFINITY;
                b->ent[j].mask = ~(uint32_t)0;
                b->ent[j++].tree = 0;
            }
            b->fcol[b->n_used] = s.nodes[i].feat;
            b->fstart[b->n_used++] = (int32_t)j;
        }
        b->ent[j].thr = s.nodes[i].thr;
        b->ent[j].mask = s.nodes[i].mask;
        b->ent[j++].tree = s.nodes[i].tree;
    }
    b->ent[j].thr = INFINITY; /* the last run's sentinel */
    b->ent[j].mask = ~(uint32_t)0;
    b->ent[j].tree = 0;
    b->lv = s.lv;
    s.lv = NULL;
    if ((b->lvp = (const double **)PyMem_Malloc(sizeof(double *) * (size_t)N)) == NULL) goto nomem;
    for (t = 0; t < N; ++t) b->lvp[t] = b->lv + b->lbase[t];
    if ((b->feat = (fs_qf *)PyMem_Malloc(sizeof(fs_qf) * (size_t)(used > 0 ? used : 1))) == NULL) goto nomem;
    for (i = 0; i < b->n_used; ++i) {
        b->feat[i].col = b->fcol[i];
        b->feat[i].start = b->fstart[i];
    }
    if (N <= (Py_ssize_t)(PY_SSIZE_T_MAX / (FS_QS_MAX_LEAVES * (Py_ssize_t)sizeof(double))) &&
        (b->lv32 = (double *)PyMem_Calloc((size_t)N * FS_QS_MAX_LEAVES, sizeof(double))) != NULL) {
        for (t = 0; t < N; ++t) { /* a tree's leaves: lbase[t] .. the next tree's first (at most 32: checked above) */
            Py_ssize_t end = t + 1 < N ? (Py_ssize_t)b->lbase[t + 1] : s.n_lv;
            memcpy(b->lv32 + FS_QS_MAX_LEAVES * t, b->lv + b->lbase[t], sizeof(double) * (size_t)(end - b->lbase[t]));
        }
    }
    b->qs = 1;
    PyMem_Free(s.nodes);
    return b;
plain: /* not QuickScorer's: the tables are not used */
    PyMem_Free(s.nodes);
    PyMem_Free(s.lv);
    PyMem_Free(b->lbase);
    b->lbase = NULL;
    b->qs = 0;
    return b;
nomem:
    PyMem_Free(s.nodes);
    PyMem_Free(s.lv);
    fs_best_free(b);
    return (fs_best *)PyErr_NoMemory();
}

/* a row's margin by the threshold tables, the row read as fs_clean cleans it and NaN as 0.0 (see the header):
 * fs_margin's, bit for bit */
static inline double fs_qs_margin(const fs_best *b, Py_ssize_t N, const double *x, uint32_t *lm) {
    const fs_qe *e;
    const fs_qf *f = b->feat, *fend = b->feat + b->n_used;
    double m = 0.0;
    Py_ssize_t t;
    memset(lm, 0xff, sizeof(uint32_t) * (size_t)N); /* every leaf possible */
    for (; f < fend; ++f) {
        double v = x[f->col];
        v = fabs(v) > kZeroThreshold ? v : 0.0; /* fs_clean; NaN: 0.0 */
        for (e = b->ent + f->start; v > e->thr; ++e) lm[e->tree] &= e->mask;
    }
    if (b->lv32 != NULL) { /* round 15: the fixed-stride leaves, four trees a step; the same sum in model order */
        const double *lv = b->lv32;
        for (t = 0; t + 4 <= N; t += 4, lv += 4 * FS_QS_MAX_LEAVES) {
            m += lv[__builtin_ctz(lm[t])];
            m += lv[FS_QS_MAX_LEAVES + __builtin_ctz(lm[t + 1])];
            m += lv[2 * FS_QS_MAX_LEAVES + __builtin_ctz(lm[t + 2])];
            m += lv[3 * FS_QS_MAX_LEAVES + __builtin_ctz(lm[t + 3])];
        }
        for (; t < N; ++t, lv += FS_QS_MAX_LEAVES) m += lv[__builtin_ctz(lm[t])];
        return m;
    }
    {
        const double *const *lvp = b->lvp;
        for (t = 0; t < N; ++t) m += lvp[t][__builtin_ctz(lm[t])]; /* model order, from 0.0 */
    }
    return m;
}

/* predict_best(X, out) -> trees walked (rows x trees). X: C-contiguous float64 (n, k); out: writable float64 (n,). */
/* predict_best's rows: out[i] for the n rows of k values at xin; trees walked (n * N), -1 with an exception */
static Py_ssize_t fs_best_rows(ForestObject *self, const double *xin, Py_ssize_t n, double *out) {
    Py_ssize_t N = self->n_trees, i;
    int k = self->num_features, failed = 0;
    double xs[FS_MAX_STACK_FEATURES], *x = xs;
    uint32_t lms[FS_QS_STACK_TREES], *lm = lms;
    const fs_best *b;
    if (self->best == NULL && (self->best = fs_best_prepare(self)) == NULL) return -1;
    b = self->best;
    if (k > FS_MAX_STACK_FEATURES) x = (double *)PyMem_Malloc(sizeof(double) * (size_t)k);
    if (b->qs && N > FS_QS_STACK_TREES) lm = (uint32_t *)PyMem_Malloc(sizeof(uint32_t) * (size_t)N);
    if (x == NULL || lm == NULL) {
        PyErr_NoMemory();
        N = -1;
        goto release;
    }
    for (i = 0; i < n; ++i, xin += k) {
        double m;
        if (b->qs) {
            m = fs_qs_margin(b, N, xin, lm);
        } else {
            fs_clean(xin, x, k);
            m = self->row != NULL ? fs_row_margin(self, x, &failed) : fs_margin(self, x);
            if (failed) { /* more trees than the layout's stack and no memory for them: the node tables */
                failed = 0;
                m = fs_margin(self, x);
            }
        }
        out[i] = fs_sigmoid(self->sigmoid, m);
    }
release:
    if (x != xs && x != NULL) PyMem_Free(x);
    if (lm != lms && lm != NULL) PyMem_Free(lm);
    return N < 0 ? -1 : n * N;
}

static PyObject *Forest_predict_best(ForestObject *self, PyObject *args) {
    PyObject *Xo, *outo, *res = NULL;
    Py_buffer xb, ob;
    Py_ssize_t n, w;
    if (PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) == 2) { /* round 15: the usual call, without the parser */
        Xo = PyTuple_GET_ITEM(args, 0);
        outo = PyTuple_GET_ITEM(args, 1);
    } else if (!PyArg_ParseTuple(args, "OO", &Xo, &outo)) {
        return NULL;
    }
    if (self->best == NULL && (self->best = fs_best_prepare(self)) == NULL) return NULL;
    if (fs_row_buffers(Xo, outo, self->num_features, "predict_best", &xb, &ob, &n) != 0) return NULL;
    if ((w = fs_best_rows(self, (const double *)xb.buf, n, (double *)ob.buf)) >= 0) res = PyLong_FromSsize_t(w);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    return res;
}

/* Round 17 (#13, linkbatch): predict_best without the method call, for fraudscore._core.linker's best_candidate
 * (the link model's rows of one link call). The type holds it as a capsule (FS_BEST_CAPSULE, set at import): the
 * caller hands the raw rows it would wrap in views. Returns the trees walked (predict_best's answer), -1 with an
 * exception (as the method raises), or -2 without one where the method is the way to the same answer or error: not
 * this type, or nvals not n * num_features (the method's ConfigError). */
#define FS_BEST_CAPSULE "fraudscore.model._forest.best_rows.v1"
typedef Py_ssize_t (*fs_best_raw_fn)(PyObject *self, const double *X, Py_ssize_t nvals, double *out, Py_ssize_t n);
static PyTypeObject ForestType;
static Py_ssize_t fs_best_raw(PyObject *self, const double *X, Py_ssize_t nvals, double *out, Py_ssize_t n) {
    ForestObject *f = (ForestObject *)self;
    if (Py_TYPE(self) != &ForestType || n < 0 || nvals != n * (Py_ssize_t)f->num_features) return -2;
    return fs_best_rows(f, X, n, out);
}
