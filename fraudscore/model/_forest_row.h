/*
 * One row, many trees at once: the single-row layout and walk of predict_one / predict_raw_one (#13, round 10).
 * Included by _forest.c (it needs ForestObject, fs_node and kZeroThreshold).
 *
 * Why: inside Scorer.score the other stages evict the forest from the L1/L2 caches between two predictions, so a
 * row's ~3,800 node visits (500 trees, 63 leaves, mean path 7.5) become cache misses; walking one tree at a time,
 * each miss waits for the one before it (a tree's next node depends on the loaded node), and a mispredicted
 * branch throws away what the core had fetched ahead. Here FS_ROW_LANES trees are walked together, round robin,
 * each lane taking the next tree of the model when its tree reaches a leaf, so the lanes' loads overlap; the
 * direction of a numerical split is computed without a branch.
 *
 * Layout (built once from the node tables at Forest_init), in 8-byte units: each tree's internal nodes (fs_rnode,
 * 16 bytes, two units, never across a 64-byte line) and leaf values (one unit) in one block, depth-first (a node's
 * left child comes next, its right child after the left subtree), blocks aligned to 64 bytes; children are unit
 * offsets from the parent (int16: negative when the child is a leaf), so a step knows a leaf before loading it.
 * Thresholds and leaf values are the same doubles as the node tables (500 trees of 63 leaves: 794 KB against the
 * tables' 996 KB). The per-node missing-value rule is folded into flags:
 *   bit 0 categorical, bit 1 default left, bit 2 where a NaN goes (left), bit 3 0.0 is missing (missing type Zero),
 * which, on a row cleaned by fs_clean (every |v| <= kZeroThreshold is 0.0), is exactly fs_next's decision (nodes of
missing type Zero, rare, and categorical nodes take a branch to fs_row_slow_left):
 *   missing type None: NaN -> 0.0 -> (0.0 <= thr); Zero: NaN and 0.0 -> default; NaN: NaN -> default;
 *   otherwise v <= thr.
 *
 * Exactness: every tree ends in the same leaf as fs_next's walk; each leaf value is stored per tree and the margin
 * is their sum in model order from 0.0, as fs_margin adds them: the result is the same double, bit for bit.
 * Models the layout cannot hold (more than 65,535 features, a subtree of more than 32,767 units) keep
 * the fs_next walk (f->row stays NULL).
 */
#define FS_ROW_LANES 8 /* trees walked together (fs_row_margin unrolls eight) */
#ifndef FS_ROW_PREFETCH
#define FS_ROW_PREFETCH 8 /* roots prefetched this many trees ahead */
#endif
#define FS_ROW_STACK_TREES 1024 /* per-tree leaf values kept on the stack; more trees: one allocation per row */

typedef struct {
    union {
        double thr; /* numerical threshold; a leaf's value */
        struct {
            int32_t start;
            int32_t n;
        } cat;
    } u;
    int16_t child[2];    /* [1] left, [0] right: child = this + |offset| 8-byte units; < 0: the child is a leaf */
    uint16_t feature;
    uint8_t flags;
    uint8_t pad;
} fs_rnode;

enum { FSR_CAT = 1, FSR_DEFLEFT = 2, FSR_NANLEFT = 4, FSR_ZEROMISS = 8 };

/* where a lane with no tree left waits: feature 0, no flags, a child offset of 0 (never followed) */
static const fs_rnode fs_row_sink = {{0.0}, {0, 0}, 0, 0, 0};

struct fs_row_s {
    void *mem;        /* the allocation (units is its 64-byte aligned start) */
    double *units;    /* 8-byte units: a node takes two (never across a 64-byte line), a leaf value one */
    int32_t *root;    /* per tree: the unit of its root, or ~unit when the root is a leaf */
    Py_ssize_t n_units;
    int plain; /* no categorical node and no node of missing type Zero (the lanes' walk skips fs_row_slow_left) */
};
typedef struct fs_row_s fs_row;

static void fs_row_free(fs_row *r) {
    if (r == NULL) return;
    PyMem_Free(r->mem);
    PyMem_Free(r->root);
    PyMem_Free(r);
}

/* The layout of f's validated node tables, or NULL (no memory, or a model the layout cannot hold; then no
 * exception is left set: the caller keeps the fs_next walk). */
static fs_row *fs_row_prepare(const ForestObject *f) {
    Py_ssize_t nn = f->n_nodes, nl = f->n_leaves, t, i, pos = 0, sp;
    int32_t *node_slot = NULL, *leaf_slot = NULL, *stack = NULL;
    fs_row *r = NULL;
    if (f->num_features > 65535) return NULL;
    node_slot = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(nn > 0 ? nn : 1));
    leaf_slot = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(nl > 0 ? nl : 1));
    stack = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(nn + nl + 1));
    r = (fs_row *)PyMem_Calloc(1, sizeof(fs_row));
    if (node_slot == NULL || leaf_slot == NULL || stack == NULL || r == NULL) goto fail;
    for (i = 0; i < nn; ++i) node_slot[i] = -1;
    for (i = 0; i < nl; ++i) leaf_slot[i] = -1;
    r->root = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(f->n_trees > 0 ? f->n_trees : 1));
    if (r->root == NULL) goto fail;
    /* pass 1: units in depth-first order (left subtree first), each tree from a 64-byte boundary; a node that
       would start in a line's last unit starts on the next line */
    for (t = 0; t < f->n_trees; ++t) {
        int32_t root = f->roots[t];
        pos = (pos + 7) & ~(Py_ssize_t)7;
        if (pos > INT32_MAX / 2 - 8 - 2 * (nn + nl)) goto fail;
        if (root < 0) {
            if (leaf_slot[~root] >= 0) goto fail; /* a leaf shared by two trees: not a forest of trees */
            leaf_slot[~root] = (int32_t)pos;
            r->root[t] = ~(int32_t)pos++;
            continue;
        }
        r->root[t] = (int32_t)pos;
        sp = 0;
        stack[sp++] = root;
        while (sp > 0) {
            int32_t n = stack[--sp];
            if (n < 0) {
                if (leaf_slot[~n] >= 0) goto fail;
                leaf_slot[~n] = (int32_t)pos++;
            } else {
                if (node_slot[n] >= 0 || sp + 2 > nn + nl + 1) goto fail;
                if ((pos & 7) == 7) ++pos;
                node_slot[n] = (int32_t)pos;
                pos += 2;
                stack[sp++] = f->nodes[n].right;
                stack[sp++] = f->nodes[n].left;
            }
        }
    }
    r->n_units = (pos + 7) & ~(Py_ssize_t)7;
    r->mem = PyMem_Calloc((size_t)r->n_units * sizeof(double) + 64, 1);
    if (r->mem == NULL) goto fail;
    r->units = (double *)(((uintptr_t)r->mem + 63) & ~(uintptr_t)63);
    r->plain = 1;
    /* pass 2: fill the units */
    for (i = 0; i < nl; ++i) {
        if (leaf_slot[i] >= 0) r->units[leaf_slot[i]] = f->leaves[i];
    }
    for (i = 0; i < nn; ++i) {
        const fs_node *nd = f->nodes + i;
        fs_rnode *s;
        int32_t c[2] = {nd->left, nd->right};
        int16_t off[2];
        uint32_t dt = nd->decision_type, mt = (dt >> 2) & 3u;
        int j;
        if (node_slot[i] < 0) continue; /* not reachable from a root: never walked */
        s = (fs_rnode *)(r->units + node_slot[i]);
        for (j = 0; j < 2; ++j) {
            int32_t cs = c[j] >= 0 ? node_slot[c[j]] : leaf_slot[~c[j]];
            Py_ssize_t d = (Py_ssize_t)cs - node_slot[i];
            if (cs < 0 || d <= 0 || d > 32767) goto fail;
            off[j] = (int16_t)(c[j] >= 0 ? d : -d);
        }
        memcpy(&s->u, &nd->u, sizeof s->u);
        s->child[1] = off[0];
        s->child[0] = off[1];
        s->feature = (uint16_t)nd->feature;
        s->flags = (uint8_t)((dt & 1u) ? FSR_CAT : 0);
        if (dt & 2u) s->flags |= FSR_DEFLEFT;
        if (!(dt & 1u)) {
            if (mt == MISSING_ZERO) s->flags |= FSR_ZEROMISS;
            if (mt == MISSING_ZERO || mt == MISSING_NAN ? (dt & 2u) != 0 : 0.0 <= nd->u.threshold)
                s->flags |= FSR_NANLEFT;
        }
        if (s->flags & (FSR_CAT | FSR_ZEROMISS)) r->plain = 0;
    }
    PyMem_Free(node_slot);
    PyMem_Free(leaf_slot);
    PyMem_Free(stack);
    return r;
fail:
    PyMem_Free(node_slot);
    PyMem_Free(leaf_slot);
    PyMem_Free(stack);
    fs_row_free(r);
    return NULL;
}

/* fs_next's rule for a categorical node or a numerical one of missing type Zero (on a cleaned value): 1 to go
 * left */
static int fs_row_slow_left(const fs_rnode *nd, double v, const uint32_t *cat_bits) {
    int iv, i1;
    if (!(nd->flags & FSR_CAT)) {
        if (isnan(v) || v == 0.0) return (nd->flags & FSR_DEFLEFT) != 0;
        return v <= nd->u.thr;
    }
    if (isnan(v)) return 0;
    iv = (int)v;
    if (iv < 0) return 0;
    i1 = iv / 32;
    if (i1 >= nd->u.cat.n) return 0;
    return (int)((cat_bits[nd->u.cat.start + i1] >> (iv % 32)) & 1u);
}

/* Put the next tree (from *next) with an internal root in lane l, storing the value of one-leaf trees on the
 * way; 0 when no tree is left. */
static inline int fs_row_refill(const fs_row *rw, Py_ssize_t n_trees, Py_ssize_t *next, double *val,
                                const fs_rnode **p, Py_ssize_t *tr, int l) {
    while (*next < n_trees) {
        Py_ssize_t t = (*next)++;
        int32_t r = rw->root[t];
        if (t + FS_ROW_PREFETCH < n_trees) {
            int32_t q = rw->root[t + FS_ROW_PREFETCH];
            __builtin_prefetch(rw->units + (q >= 0 ? q : ~q));
        }
        if (r < 0) {
            val[t] = rw->units[~r];
            continue;
        }
        p[l] = (const fs_rnode *)(rw->units + r);
        tr[l] = t;
        return 1;
    }
    return 0;
}

/* Raw margin of one cleaned row (see fs_clean) through the layout: equal, bit for bit, to fs_margin. -1.0 in
 * *failed (and 0.0 returned) only when more than FS_ROW_STACK_TREES trees need an allocation that fails. */
static double fs_row_margin(const ForestObject *f, const double *x, int *failed) {
    const fs_row *rw = f->row;
    const uint32_t *cat_bits = f->cat_bits;
    Py_ssize_t n_trees = f->n_trees, next = 0, t, tr[FS_ROW_LANES];
    const fs_rnode *p[FS_ROW_LANES];
    double stackv[FS_ROW_STACK_TREES], *val = stackv, out = 0.0;
    int live = 0, l;
    if (n_trees > FS_ROW_STACK_TREES) {
        val = (double *)malloc(sizeof(double) * (size_t)n_trees);
        if (val == NULL) {
            *failed = 1;
            return 0.0;
        }
    }
    for (t = 0; t < FS_ROW_PREFETCH && t < n_trees; ++t) {
        int32_t q = rw->root[t];
        __builtin_prefetch(rw->units + (q >= 0 ? q : ~q));
    }
    /* eight lanes, unrolled, each in its own variables; a lane with no tree left parks on `sink` (its step is a
       no-op) until every lane has */
    for (l = 0; l < FS_ROW_LANES; ++l) {
        if (fs_row_refill(rw, n_trees, &next, val, p, tr, l)) {
            ++live;
        } else {
            p[l] = &fs_row_sink;
            tr[l] = 0;
        }
    }
    {
        const fs_rnode *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4], *p5 = p[5], *p6 = p[6],
                       *p7 = p[7];
#define FS_LANE(P, L)                                                                                              \
    do {                                                                                                           \
        const fs_rnode *nd_ = P;                                                                                   \
        double v_ = x[nd_->feature];                                                                               \
        unsigned fl_ = nd_->flags, g_;                                                                             \
        int off_;                                                                                                  \
        if (fl_ & (FSR_CAT | FSR_ZEROMISS))                                                                        \
            g_ = (unsigned)fs_row_slow_left(nd_, v_, cat_bits);                                                    \
        else                                                                                                       \
            g_ = (unsigned)(v_ <= nd_->u.thr) | ((unsigned)(v_ != v_) & (fl_ >> 2));                               \
        off_ = nd_->child[g_ & 1u];                                                                                \
        if (off_ > 0) {                                                                                            \
            P = (const fs_rnode *)((const double *)nd_ + off_);                                                    \
        } else if (nd_ != &fs_row_sink) {                                                                          \
            val[tr[L]] = ((const double *)nd_)[-off_];                                                             \
            if (fs_row_refill(rw, n_trees, &next, val, p, tr, L)) {                                                \
                P = p[L];                                                                                          \
            } else {                                                                                               \
                P = &fs_row_sink;                                                                                  \
                --live;                                                                                            \
            }                                                                                                      \
        }                                                                                                          \
    } while (0)
        while (live > 0) {
            FS_LANE(p0, 0);
            FS_LANE(p1, 1);
            FS_LANE(p2, 2);
            FS_LANE(p3, 3);
            FS_LANE(p4, 4);
            FS_LANE(p5, 5);
            FS_LANE(p6, 6);
            FS_LANE(p7, 7);
        }
#undef FS_LANE
    }
    for (t = 0; t < n_trees; ++t) out += val[t];
    if (val != stackv) free(val);
    return out;
}
