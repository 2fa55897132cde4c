/*
 * The best of a few rows, exactly: predict_best(X, out) for the device linker, which uses only the best-scored
 * candidate (its probability, bit for bit, and the candidate) of the up to 8 it scores per event.
 * Included by _forest.c (it needs ForestObject, fs_next, fs_clean and fs_sigmoid).
 *
 * out[i] is either row i's probability, equal bit for bit to predict_one (its leaf values added tree after tree,
 * in model order, from 0.0, then fs_sigmoid), or -1.0 when its probability is *strictly below* that of a row
 * scored in full: such a row is never the best, whatever the tie-break among equal probabilities. The rows whose
 * probability ties the best's are all scored in full, so a pick over out (highest probability, then its
 * tie-break) chooses what it would over every row's probability.
 *
 * How: each tree's least and greatest leaf are read once (fs_best_prepare), the trees ordered by their leaf
 * range, widest first. Every row walks the first FS_BEST_LEAD trees of that order; the row leading on them is
 * scored in full; every other row then walks the remaining trees in that order, its leaf values kept, until
 *     (sum of its leaves so far) + (sum of the greatest leaves of the trees left) + slack <= mlow,
 * where mlow is a margin whose probability is provably below the best probability p found so far (see
 * fs_best_floor), or until it has walked every tree: then its margin is the sum of its kept leaf values in model
 * order (the order predict_one adds them in) and it may become the best.
 *
 * Why it is exact: (1) the margin predict_one computes is a float sum; it differs from the real sum of the same
 * leaf values by at most gamma_{N} * sum |leaf| (N trees, gamma_n = n u / (1 - n u), u = 2^-53), and the float
 * partial sums and the precomputed suffix sums add at most as much again each: slack = (4 N + 16) 2^-52 *
 * sum over trees of max |leaf| covers all three and the rounding of the test itself. So a row meeting the test
 * has a computed margin m <= mlow. (2) The computed probability is within a relative 1e-12 of the real sigmoid
 * of the computed margin, plus 1e-300 where it underflows (glibc's exp is within 1 ulp; -sigmoid * m adds at
 * most |sigmoid * m| u < 1e-13 below the overflow point, the two remaining roundings 2 u). (3) fs_best_floor
 * chooses mlow with sigmoid(mlow) (1 + 1e-12) + 1e-300 < p in real arithmetic, verified on the computed
 * exponential with margins (mlow = -inf, no pruning, when that check fails). The real sigmoid being increasing,
 * the row's computed probability is < p. A model with a non-finite leaf, or
 * a sigmoid parameter that is not a positive number, is scored in full (no pruning).
 */
#ifndef FS_BEST_LEAD
#define FS_BEST_LEAD 8 /* trees (of the widest-first order) every row walks before one is scored in full */
#endif
#define FS_BEST_STACK 4096 /* leaf values kept on the stack (rows x trees) */

/* A plain forest's node for predict_best (16 bytes, four to a cache line): see fs_plain_build. */
typedef struct {
    double thr;
    int16_t feat;   /* the feature's byte offset in the row (index x 8) */
    int16_t kid[2]; /* [0] left (x <= thr), [1] right: >= 0 the node's byte offset (index x 16), < 0 ~leaf index */
    int16_t pad;
} fs_pnode;

struct fs_best_s {
    int usable;         /* 0: score every row in full */
    fs_pnode *plain;    /* NULL unless every node is numerical with missing type None (and the tables fit int16) */
    int32_t *order;     /* the trees, widest leaf range first (ties: model order) */
    double *hi_rest;    /* [j]: sum of the greatest leaf of trees order[j..n_trees-1]; [n_trees] = 0 */
    double slack;       /* see above */
};

static void fs_best_free(fs_best *b) {
    if (b == NULL) return;
    PyMem_Free(b->plain);
    PyMem_Free(b->order);
    PyMem_Free(b->hi_rest);
    PyMem_Free(b);
}

/* least and greatest leaf of the tree rooted at `root` (a depth-first walk; nodes are validated by Forest_init) */
static int fs_tree_range(const ForestObject *f, int32_t root, int32_t *stack, double *lo, double *hi) {
    Py_ssize_t sp = 0;
    double l = INFINITY, h = -INFINITY;
    stack[sp++] = root;
    while (sp > 0) {
        int32_t n = stack[--sp];
        if (n < 0) {
            double v = f->leaves[~n];
            if (!isfinite(v)) return -1;
            if (v < l) l = v;
            if (v > h) h = v;
        } else {
            if (sp + 2 > f->n_nodes + 1) return -1; /* cannot happen in a validated tree */
            stack[sp++] = f->nodes[n].right;
            stack[sp++] = f->nodes[n].left;
        }
    }
    *lo = l;
    *hi = h;
    return 0;
}

/*
 * The plain node table (round 10): when every node of the forest is a numerical split whose missing type is None
 * (LightGBM's decision_type 0 or 2: the device linker's model), fs_next reduces to
 *     v = isnan(x) ? 0.0 : x;  go left iff v <= threshold
 * (the default direction is never read: only the Zero and NaN missing types use it). predict_best then cleans each
 * row once more -- NaN to 0.0, after fs_clean -- and walks these 16-byte nodes with one comparison per node,
 * choosing the child by its result (no branch on the node's type): the same comparison of the same two doubles as
 * fs_next, so the same leaf. Children and features are stored as byte offsets (int16: up to 2,047 nodes and 4,095
 * features; the device linker's model has 1,120 nodes), so a node costs ten instructions. Returns 0 (b->plain NULL:
 * the forest is not plain or too large) or -1 (no memory).
 */
static int fs_plain_build(const ForestObject *f, fs_best *b) {
    Py_ssize_t i;
    b->plain = NULL;
    if (f->n_nodes < 1 || f->n_nodes > 2047 || f->n_leaves > 32768 || f->num_features > 4095) return 0;
    for (i = 0; i < f->n_nodes; ++i) {
        uint32_t dt = f->nodes[i].decision_type;
        if ((dt & 1u) || ((dt >> 2) & 3u) != MISSING_NONE) return 0;
    }
    if ((b->plain = (fs_pnode *)PyMem_Calloc((size_t)f->n_nodes, sizeof(fs_pnode))) == NULL) return -1;
    for (i = 0; i < f->n_nodes; ++i) {
        const fs_node *nd = f->nodes + i;
        b->plain[i].thr = nd->u.threshold;
        b->plain[i].feat = (int16_t)(nd->feature * 8);
        b->plain[i].kid[0] = (int16_t)(nd->left >= 0 ? nd->left * 16 : nd->left);
        b->plain[i].kid[1] = (int16_t)(nd->right >= 0 ? nd->right * 16 : nd->right);
    }
    return 0;
}

/* the bounds tables (NULL with a Python error set on failure) */
static fs_best *fs_best_prepare(const ForestObject *f) {
    Py_ssize_t n = f->n_trees, t, j;
    fs_best *b = (fs_best *)PyMem_Calloc(1, sizeof(fs_best));
    double *lo = NULL, *hi = NULL, *range = NULL, amax = 0.0;
    int32_t *stack = NULL;
    if (b == NULL) return (fs_best *)PyErr_NoMemory();
    b->order = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    b->hi_rest = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n + 1));
    lo = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    hi = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    range = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    stack = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(f->n_nodes + 2));
    if (b->order == NULL || b->hi_rest == NULL || lo == NULL || hi == NULL || range == NULL || stack == NULL) {
        fs_best_free(b);
        b = (fs_best *)PyErr_NoMemory();
        goto done;
    }
    if (fs_plain_build(f, b) != 0) {
        fs_best_free(b);
        b = (fs_best *)PyErr_NoMemory();
        goto done;
    }
    b->usable = isfinite(f->sigmoid) && f->sigmoid > 0.0;
    for (t = 0; t < n && b->usable; ++t) {
        if (fs_tree_range(f, f->roots[t], stack, &lo[t], &hi[t]) != 0) {
            b->usable = 0;
            break;
        }
        range[t] = hi[t] - lo[t];
        amax += fabs(lo[t]) > fabs(hi[t]) ? fabs(lo[t]) : fabs(hi[t]);
    }
    for (t = 0; t < n; ++t) b->order[t] = (int32_t)t;
    if (!b->usable || !isfinite(amax)) {
        b->usable = 0;
        goto done;
    }
    /* insertion sort by decreasing range, stable (a few hundred trees at most are worth it; any order is exact) */
    for (t = 1; t < n; ++t) {
        int32_t v = b->order[t];
        for (j = t; j > 0 && range[b->order[j - 1]] < range[v]; --j) b->order[j] = b->order[j - 1];
        b->order[j] = v;
    }
    b->hi_rest[n] = 0.0;
    for (j = n - 1; j >= 0; --j) b->hi_rest[j] = b->hi_rest[j + 1] + hi[b->order[j]];
    b->slack = (4.0 * (double)n + 16.0) * 0x1p-52 * amax;
done:
    PyMem_Free(lo);
    PyMem_Free(hi);
    PyMem_Free(range);
    PyMem_Free(stack);
    return b;
}

/* a margin whose probability is provably below p (see the header), or -inf. The condition sigmoid(m) (1 + 1e-12)
 * + 1e-300 < p reads exp(-sigmoid m) > G = (1 + 1e-12) / (p - 1e-300) - 1 (G >= 1e-12: p <= 1), tested on the
 * exponential, not on the probability (which cannot resolve it near 1.0): the computed G is within 3 u (1 + G)
 * of the real one and the computed exp(-sigmoid m) within a relative 1e-13 of the real one, both covered by the
 * margins of Gs. */
static double fs_best_floor(double sigmoid, double p) {
    double G, Gs, m;
    if (!(p > 1e-290)) return -INFINITY;
    G = (1.0 + 1e-12) / (p - 1e-300) - 1.0;
    Gs = G * (1.0 + 1e-3) + 1e-15;
    m = -log(Gs) / sigmoid;
    if (!isfinite(m)) return -INFINITY;
    m -= 1e-3 + 1e-6 * fabs(m);
    return exp(-sigmoid * m) > Gs ? m : -INFINITY;
}

/* tree t's leaf value for row x (cleaned; for a plain forest also without NaN, see fs_plain_build) */
static inline double fs_leaf(const ForestObject *f, const fs_pnode *plain, int32_t t, const double *x) {
    int32_t n = f->roots[t];
    if (plain != NULL) { /* byte offsets: no index scaling or sign extension per node */
        const char *base = (const char *)plain, *xb = (const char *)x;
        Py_ssize_t o = n >= 0 ? (Py_ssize_t)n * 16 : (Py_ssize_t)n;
        while (o >= 0) {
            double thr = *(const double *)(base + o);
            Py_ssize_t fo = *(const int16_t *)(base + o + 8);
            o = *(const int16_t *)(base + o + 10 + 2 * (Py_ssize_t)!(*(const double *)(xb + fo) <= thr));
        }
        return f->leaves[~o];
    }
    while (n >= 0) {
        const fs_node *nd = f->nodes + n;
        n = fs_next(nd, x[nd->feature], f->cat_bits);
    }
    return f->leaves[~n];
}

/* a row's margin as fs_margin computes it (leaf values in model order, from 0.0), by fs_leaf */
static inline double fs_best_margin(const ForestObject *f, const fs_pnode *plain, const double *x) {
    double m = 0.0;
    Py_ssize_t t;
    for (t = 0; t < f->n_trees; ++t) m += fs_leaf(f, plain, (int32_t)t, x);
    return m;
}

/* predict_best(X, out) -> trees walked. X: C-contiguous float64 (n, k); out: writable float64 (n,). */
static PyObject *Forest_predict_best(ForestObject *self, PyObject *args) {
    PyObject *Xo, *outo, *res = NULL;
    Py_buffer xb, ob;
    Py_ssize_t n, N = self->n_trees, i, j, t, walked = 0, lead = 0;
    int k = self->num_features;
    double xstack[8 * 64], vstack[FS_BEST_STACK], *x = xstack, *vals = vstack, *out, *part = NULL;
    double pbest, mlow, slack;
    const fs_best *b;
    if (!PyArg_ParseTuple(args, "OO", &Xo, &outo)) return NULL;
    if (self->best == NULL && (self->best = fs_best_prepare(self)) == NULL) return NULL;
    b = self->best;
    if (fs_row_buffers(Xo, outo, k, "predict_best", &xb, &ob, &n) != 0) return NULL;
    out = (double *)ob.buf;
    if (n * k > (Py_ssize_t)(sizeof(xstack) / sizeof(double))) x = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n * k));
    if (n * N > FS_BEST_STACK) vals = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n * N));
    part = (double *)PyMem_Malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (x == NULL || vals == NULL || part == NULL) {
        PyErr_NoMemory();
        goto release;
    }
    if (b->plain != NULL) { /* fs_clean, and NaN read as 0.0 as at every node of a plain forest (fs_plain_build) */
        const double *xin = (const double *)xb.buf;
        for (i = 0; i < n * k; ++i) x[i] = fabs(xin[i]) > kZeroThreshold ? xin[i] : 0.0; /* NaN: false */
    } else {
        for (i = 0; i < n; ++i) fs_clean((const double *)xb.buf + i * k, x + i * k, k);
    }
    if (n < 2 || !b->usable) { /* nothing to prune: every row in full */
        for (i = 0; i < n; ++i) out[i] = fs_sigmoid(self->sigmoid, fs_best_margin(self, b->plain, x + i * k));
        res = PyLong_FromSsize_t(n * N);
        goto release;
    }
    slack = b->slack;
    /* every row on the widest trees; the leader (the first with the highest partial sum) then in full */
    lead = N < FS_BEST_LEAD ? N : FS_BEST_LEAD;
    for (i = 0; i < n; ++i) {
        double s = 0.0, *v = vals + i * N;
        const double *xi = x + i * k;
        for (j = 0; j < lead; ++j) {
            t = b->order[j];
            s += v[t] = fs_leaf(self, b->plain, (int32_t)t, xi);
        }
        part[i] = s;
    }
    walked = n * lead;
    pbest = -1.0;
    mlow = -INFINITY;
    {
        /* rows in decreasing partial sum (the likeliest best first, so the floor rises early); n is small */
        Py_ssize_t ord[64], *rows = ord, r;
        if (n > 64 && (rows = (Py_ssize_t *)PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)n)) == NULL) {
            PyErr_NoMemory();
            goto release;
        }
        for (i = 0; i < n; ++i) {
            for (r = i; r > 0 && part[rows[r - 1]] < part[i]; --r) rows[r] = rows[r - 1];
            rows[r] = i;
        }
        for (r = 0; r < n; ++r) {
            double s, m = 0.0, p, *v;
            const double *xi;
            i = rows[r];
            s = part[i];
            v = vals + i * N;
            xi = x + i * k;
            for (j = lead; j < N; ++j) {
                if (s + b->hi_rest[j] + slack <= mlow) break;
                t = b->order[j];
                s += v[t] = fs_leaf(self, b->plain, (int32_t)t, xi);
            }
            walked += j - lead;
            if (j < N || s + slack <= mlow) { /* below the best, provably */
                out[i] = -1.0;
                continue;
            }
            for (t = 0; t < N; ++t) m += v[t]; /* predict_one's sum: model order, from 0.0 */
            out[i] = p = fs_sigmoid(self->sigmoid, m);
            if (p > pbest) {
                pbest = p;
                mlow = fs_best_floor(self->sigmoid, p);
            }
        }
        if (rows != ord) PyMem_Free(rows);
    }
    res = PyLong_FromSsize_t(walked);
release:
    if (x != xstack) PyMem_Free(x);
    if (vals != vstack) PyMem_Free(vals);
    PyMem_Free(part);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    return res;
}
