/*
 * Exact TreeSHAP over the compiled forest's flat node tables (included by _forest.c; part of the same
 * extension and of its cache key).
 *
 * This is the classic path-dependent algorithm (Lundberg, Erion & Lee 2018, "Consistent individualized
 * feature attribution for tree ensembles", Algorithm 2) written as LightGBM 4 writes it (src/io/tree.cpp:
 * Tree::ExtendPath, UnwindPath, UnwoundPathSum, TreeSHAP, ExpectedValue, PredictContrib), with the same
 * floating-point expressions in the same order, the same cover (internal_count / leaf_count from the model
 * text), the same hot/cold traversal order and the same accumulation into the output row, so that its
 * contributions equal Booster.predict(X, pred_contrib=True) bit for bit (tested with hypothesis in
 * tests/model/test_treeshap.py; -ffp-contract=off keeps the compiler from fusing multiply-adds).
 *
 * Output row layout (as LightGBM's): k feature contributions, then the bias (sum over trees of the
 * cover-weighted mean leaf value), all in raw-margin units; the row sums to the raw margin up to rounding.
 */

typedef struct {
    int feature;          /* -1 for the root element */
    double zero_fraction; /* cover fraction down this path when the feature is "absent" */
    double one_fraction;  /* 1 when the row follows this path, else 0 */
    double pweight;       /* permutation weight */
} fs_path;

static void fs_extend_path(fs_path *p, int d, double zero_fraction, double one_fraction, int feature) {
    int i;
    p[d].feature = feature;
    p[d].zero_fraction = zero_fraction;
    p[d].one_fraction = one_fraction;
    p[d].pweight = (d == 0 ? 1 : 0);
    for (i = d - 1; i >= 0; i--) {
        p[i + 1].pweight += one_fraction * p[i].pweight * (i + 1) / (double)(d + 1);
        p[i].pweight = zero_fraction * p[i].pweight * (d - i) / (double)(d + 1);
    }
}

static void fs_unwind_path(fs_path *p, int d, int path_index) {
    const double one_fraction = p[path_index].one_fraction;
    const double zero_fraction = p[path_index].zero_fraction;
    double next_one_portion = p[d].pweight;
    int i;
    for (i = d - 1; i >= 0; --i) {
        if (one_fraction != 0) {
            const double tmp = p[i].pweight;
            p[i].pweight = next_one_portion * (d + 1) / (double)((i + 1) * one_fraction);
            next_one_portion = tmp - p[i].pweight * zero_fraction * (d - i) / (double)(d + 1);
        } else {
            p[i].pweight = (p[i].pweight * (d + 1)) / (double)(zero_fraction * (d - i));
        }
    }
    for (i = path_index; i < d; ++i) {
        p[i].feature = p[i + 1].feature;
        p[i].zero_fraction = p[i + 1].zero_fraction;
        p[i].one_fraction = p[i + 1].one_fraction;
    }
}

static double fs_unwound_path_sum(const fs_path *p, int d, int path_index) {
    const double one_fraction = p[path_index].one_fraction;
    const double zero_fraction = p[path_index].zero_fraction;
    double next_one_portion = p[d].pweight;
    double total = 0;
    int i;
    for (i = d - 1; i >= 0; --i) {
        if (one_fraction != 0) {
            const double tmp = next_one_portion * (d + 1) / (double)((i + 1) * one_fraction);
            total += tmp;
            next_one_portion = p[i].pweight - tmp * zero_fraction * ((d - i) / (double)(d + 1));
        } else {
            total += (p[i].pweight / zero_fraction) / ((d - i) / (double)(d + 1));
        }
    }
    return total;
}

static inline double fs_count(const ForestObject *f, int32_t n) {
    return n >= 0 ? f->node_count[n] : f->leaf_count[~n];
}

/* One recursion step of TreeSHAP (LightGBM's Tree::TreeSHAP). `parent` holds the parent's path; this call's
 * path starts at parent + d (the caller sized the buffer for the tree's depth). */
static void fs_tree_shap(const ForestObject *f, const double *x, double *phi, int32_t node, int d, fs_path *parent,
                         double parent_zero_fraction, double parent_one_fraction, int parent_feature) {
    fs_path *p = parent + d;
    if (d > 0) memcpy(p, parent, sizeof(fs_path) * (size_t)d);
    fs_extend_path(p, d, parent_zero_fraction, parent_one_fraction, parent_feature);
    if (node < 0) {
        const double leaf = f->leaves[~node];
        int i;
        for (i = 1; i <= d; ++i) {
            const double w = fs_unwound_path_sum(p, d, i);
            phi[p[i].feature] += w * (p[i].one_fraction - p[i].zero_fraction) * leaf;
        }
    } else {
        const fs_node *nd = f->nodes + node;
        const int feature = nd->feature;
        const int32_t hot = fs_next(nd, x[feature], f->cat_bits);
        const int32_t cold = (hot == nd->left ? nd->right : nd->left);
        const double w = fs_count(f, node);
        const double hot_zero_fraction = fs_count(f, hot) / w;
        const double cold_zero_fraction = fs_count(f, cold) / w;
        double incoming_zero_fraction = 1;
        double incoming_one_fraction = 1;
        int path_index = 0;
        for (; path_index <= d; ++path_index) {
            if (p[path_index].feature == feature) break;
        }
        if (path_index != d + 1) {
            incoming_zero_fraction = p[path_index].zero_fraction;
            incoming_one_fraction = p[path_index].one_fraction;
            fs_unwind_path(p, d, path_index);
            d -= 1;
        }
        fs_tree_shap(f, x, phi, hot, d + 1, p, hot_zero_fraction * incoming_zero_fraction, incoming_one_fraction,
                     feature);
        fs_tree_shap(f, x, phi, cold, d + 1, p, cold_zero_fraction * incoming_zero_fraction, 0, feature);
    }
}

/* Depth (in edges) of the deepest leaf under `n`; -1 if the tables form a path longer than `limit`. */
static int fs_depth(const ForestObject *f, int32_t n, int limit) {
    int a, b;
    if (n < 0) return 0;
    if (limit <= 0) return -1;
    a = fs_depth(f, f->nodes[n].left, limit - 1);
    b = fs_depth(f, f->nodes[n].right, limit - 1);
    if (a < 0 || b < 0) return -1;
    return 1 + (a > b ? a : b);
}

/* Cover-weighted mean leaf value of the tree whose leaves are [lo, hi) (LightGBM's Tree::ExpectedValue). */
static double fs_expected_value(const ForestObject *f, int32_t root, Py_ssize_t lo, Py_ssize_t hi) {
    double total_count, ev = 0.0;
    Py_ssize_t i;
    if (root < 0) return f->leaves[~root];
    total_count = f->node_count[root];
    for (i = lo; i < hi; ++i) ev += (f->leaf_count[i] / total_count) * f->leaves[i];
    return ev;
}

/* ---- FastTreeSHAP v2 (Yang 2022, arXiv 2109.09847): per-leaf tables computed once, O(L D) per row ---------
 *
 * For a leaf l with value v, D = the distinct features split on along its path (d of them), z_j = the product
 * of the cover ratios (child / parent) of the splits on feature j along the path, and P = the features whose
 * splits along the path the row x all satisfies, the path-dependent TreeSHAP value of feature i in D is
 *
 *     phi_i += v (1[i in P] - z_i) / z_i * K(P \ {i}),
 *     K(Q) = sum_{S subset of Q} |S|! (d - 1 - |S|)! / d! * prod_{j in D \ S} z_j,
 *
 * (the Shapley sum restricted to the leaf's d players; subsets holding an unsatisfied feature vanish). The
 * table T_l[Q] = v K(Q) over the 2^d subsets Q (bit p = the p-th distinct feature in path order) is built at
 * load; a row then walks each tree once, carrying the mask of satisfied positions (a cold edge clears the bit
 * of its node's position), and adds d table entries per leaf. The arithmetic differs from LightGBM's, so the
 * contributions equal pred_contrib to rounding (tested within 1e-9 of the margin scale), not bit for bit.
 * Trees whose tables would exceed the memory budget keep the classic algorithm above. */

#define FS_FAST_MAX_D 16

typedef struct fs_fast_s {
    int8_t *tree_fast;     /* per tree: 1 when it uses the tables */
    int8_t *node_pos;      /* per internal node: position of its feature among the path's distinct features */
    uint8_t *node_kind;    /* per internal node: 0 any split (fs_next); 1 numerical of missing type None or NaN,
                              bit 1 its NaN direction is left (fs_fast_tree's branch-free step) */
    int32_t *leaf_d;       /* per leaf: d (fast trees only) */
    int64_t *leaf_tab;     /* per leaf: offset of T_l in tab */
    int64_t *leaf_par;     /* per leaf: offset of its d (feature, coef) pairs */
    int32_t *par_feat;
    double *par_coef;      /* (1 - z_i) / z_i */
    double *tab;
    int64_t n_tab, n_par;
    /* the fixed-order walk (fs_fast_tree_flat, #13 round 12): per tree its internal nodes [n0, n0 + nint) (parents
       before children) and leaves [l0, l0 + nl). Per internal node the
       slots of its left and right child in the walk's mask array: an internal child c at c - n0, a leaf l at
       nint + l - l0. */
    int32_t *tree_n0, *tree_nint, *tree_l0, *tree_nl;
    int32_t *node_slot;    /* 2 per internal node */
    int max_slots;         /* largest nint + nl of a flat tree */
    int x4;                /* every tree with a split has its tables and the CPU runs _forest_shap_x4.h's AVX2 path */
} fs_fast;

/* pass 1: positions and d per leaf; returns the table entries the tree needs, or -1 if some d > FS_FAST_MAX_D */
static int64_t fs_fast_scan(const ForestObject *f, fs_fast *ff, int32_t node, int *feats, int du) {
    if (node < 0) {
        ff->leaf_d[~node] = du;
        return (int64_t)1 << du;
    } else {
        const fs_node *nd = f->nodes + node;
        int p, dn = du;
        int64_t a, b;
        for (p = 0; p < du; ++p) if (feats[p] == nd->feature) break;
        if (p == du) {
            if (du >= FS_FAST_MAX_D) return -1;
            feats[du] = nd->feature;
            dn = du + 1;
        }
        ff->node_pos[node] = (int8_t)p;
        a = fs_fast_scan(f, ff, nd->left, feats, dn);
        if (a < 0) return -1;
        b = fs_fast_scan(f, ff, nd->right, feats, dn);
        if (b < 0) return -1;
        return a + b;
    }
}

/* Fill T over all subsets of the d positions: recursion over positions, carrying the polynomial
 * e(t) = sum over subsets R of the chosen-in positions with |R| = t of prod z (R = Q \ S) and the product of z
 * over the positions left out of Q. */
static void fs_fast_fill(double *T, const double *z, const double *w, int d, int p, unsigned q_mask, int q,
                         const double *poly, double out_prod, double v) {
    if (p == d) {
        double s = 0.0;
        int t;
        for (t = 0; t <= q; ++t) s += w[q - t] * poly[t];
        T[q_mask] = v * out_prod * s;
        return;
    } else {
        double np[FS_FAST_MAX_D + 1];
        int t;
        fs_fast_fill(T, z, w, d, p + 1, q_mask, q, poly, out_prod * z[p], v);          /* p not in Q */
        np[0] = poly[0];
        for (t = 1; t <= q; ++t) np[t] = poly[t] + z[p] * poly[t - 1];
        np[q + 1] = z[p] * poly[q];
        fs_fast_fill(T, z, w, d, p + 1, q_mask | (1u << p), q + 1, np, out_prod, v);  /* p in Q */
    }
}

/* pass 2: per-leaf features, coefficients and tables */
static void fs_fast_build(const ForestObject *f, fs_fast *ff, int32_t node, int *feats, double *zs, int du,
                          int64_t *tab_at, int64_t *par_at) {
    if (node < 0) {
        int32_t l = ~node;
        double w[FS_FAST_MAX_D + 1], one = 1.0;
        int i, d = du;
        ff->leaf_tab[l] = *tab_at;
        ff->leaf_par[l] = *par_at;
        for (i = 0; i < d; ++i) {
            ff->par_feat[*par_at + i] = feats[i];
            ff->par_coef[*par_at + i] = (1.0 - zs[i]) / zs[i];
        }
        if (d > 0) { /* w(s) = s! (d - 1 - s)! / d! */
            w[0] = 1.0 / d;
            for (i = 0; i + 1 < d; ++i) w[i + 1] = w[i] * (i + 1) / (double)(d - 1 - i);
            fs_fast_fill(ff->tab + *tab_at, zs, w, d, 0, 0u, 0, &one, 1.0, f->leaves[l]);
        } else {
            ff->tab[*tab_at] = 0.0;
        }
        *tab_at += (int64_t)1 << d;
        *par_at += d;
    } else {
        const fs_node *nd = f->nodes + node;
        int p = ff->node_pos[node], dn = du, c;
        double saved = 0.0;
        const double cn = fs_count(f, node);
        if (p == du) {
            feats[du] = nd->feature;
            zs[du] = 1.0;
            dn = du + 1;
        }
        saved = zs[p];
        for (c = 0; c < 2; ++c) {
            int32_t child = c == 0 ? nd->left : nd->right;
            zs[p] = saved * (fs_count(f, child) / cn);
            fs_fast_build(f, ff, child, feats, zs, dn, tab_at, par_at);
        }
        zs[p] = saved;
    }
}

static void fs_fast_free(fs_fast *ff) {
    if (ff == NULL) return;
    PyMem_Free(ff->tree_fast);
    PyMem_Free(ff->node_pos);
    PyMem_Free(ff->node_kind);
    PyMem_Free(ff->tree_n0);
    PyMem_Free(ff->tree_nint);
    PyMem_Free(ff->tree_l0);
    PyMem_Free(ff->tree_nl);
    PyMem_Free(ff->node_slot);
    PyMem_Free(ff->leaf_d);
    PyMem_Free(ff->leaf_tab);
    PyMem_Free(ff->leaf_par);
    PyMem_Free(ff->par_feat);
    PyMem_Free(ff->par_coef);
    PyMem_Free(ff->tab);
    PyMem_Free(ff);
}

/* Count the internal nodes and leaves under `n` and their index ranges; 0 when they are not [n, n + nint) with
 * every child after its parent, and nl contiguous leaves (the layout forest_tables writes), else 1. */
static int fs_flat_scan(const ForestObject *f, int32_t n, int32_t *nint, int32_t *lmin, int32_t *lmax, int32_t *nmax,
                        int32_t *nl) {
    if (n < 0) {
        const int32_t l = ~n;
        if (l < *lmin) *lmin = l;
        if (l > *lmax) *lmax = l;
        ++*nl;
        return 1;
    } else {
        const fs_node *nd = f->nodes + n;
        if (n > *nmax) *nmax = n;
        ++*nint;
        if ((nd->left >= 0 && nd->left <= n) || (nd->right >= 0 && nd->right <= n)) return 0;
        return fs_flat_scan(f, nd->left, nint, lmin, lmax, nmax, nl) &&
               fs_flat_scan(f, nd->right, nint, lmin, lmax, nmax, nl);
    }
}

/* The fixed-order walk's tree ranges and child slots (fs_fast's tree_* and node_slot); -1 on allocation failure. */
static int fs_fast_flat_prepare(const ForestObject *f, fs_fast *ff) {
    Py_ssize_t t;
    const size_t nt = (size_t)(f->n_trees > 0 ? f->n_trees : 1);
    ff->tree_n0 = (int32_t *)PyMem_Calloc(nt, sizeof(int32_t));
    ff->tree_nint = (int32_t *)PyMem_Calloc(nt, sizeof(int32_t));
    ff->tree_l0 = (int32_t *)PyMem_Calloc(nt, sizeof(int32_t));
    ff->tree_nl = (int32_t *)PyMem_Calloc(nt, sizeof(int32_t));
    ff->node_slot = (int32_t *)PyMem_Calloc((size_t)(f->n_nodes > 0 ? f->n_nodes : 1), 2 * sizeof(int32_t));
    if (!ff->tree_n0 || !ff->tree_nint || !ff->tree_l0 || !ff->tree_nl || !ff->node_slot) return -1;
    for (t = 0; t < f->n_trees; ++t) {
        const int32_t r = f->roots[t];
        int32_t nint = 0, nl = 0, lmin = INT32_MAX, lmax = -1, nmax = -1, i;
        if (!ff->tree_fast[t] || r < 0) continue;
        if (!fs_flat_scan(f, r, &nint, &lmin, &lmax, &nmax, &nl) || nmax != r + nint - 1 || lmax - lmin + 1 != nl ||
            nint + nl > (1 << 20)) {
            ff->tree_fast[t] = 0; /* another layout (not one forest_tables writes): the classic algorithm */
            continue;
        }
        for (i = 0; i < nint; ++i) {
            const fs_node *nd = f->nodes + r + i;
            ff->node_slot[2 * (r + i)] = nd->left >= 0 ? nd->left - r : nint + (~nd->left - lmin);
            ff->node_slot[2 * (r + i) + 1] = nd->right >= 0 ? nd->right - r : nint + (~nd->right - lmin);
        }
        ff->tree_n0[t] = r;
        ff->tree_nint[t] = nint;
        ff->tree_l0[t] = lmin;
        ff->tree_nl[t] = nl;
        if (nint + nl > ff->max_slots) ff->max_slots = nint + nl;
    }
    return 0;
}

static int fs_x4_supported(void);

/* Tables for every tree that fits in `budget` table entries (in model order); NULL with an exception set on
 * allocation failure. Trees left out (d > FS_FAST_MAX_D, or over the budget) keep the classic algorithm. */
static fs_fast *fs_fast_prepare(const ForestObject *f, int64_t budget) {
    fs_fast *ff = (fs_fast *)PyMem_Calloc(1, sizeof(fs_fast));
    int feats[FS_FAST_MAX_D + 1];
    double zs[FS_FAST_MAX_D + 1];
    int64_t tab_at = 0, par_at = 0, used = 0;
    Py_ssize_t t, l;
    if (ff == NULL) goto nomem;
    ff->tree_fast = (int8_t *)PyMem_Calloc((size_t)(f->n_trees > 0 ? f->n_trees : 1), 1);
    ff->node_pos = (int8_t *)PyMem_Calloc((size_t)(f->n_nodes > 0 ? f->n_nodes : 1), 1);
    ff->node_kind = (uint8_t *)PyMem_Calloc((size_t)(f->n_nodes > 0 ? f->n_nodes : 1), 1);
    ff->leaf_d = (int32_t *)PyMem_Calloc((size_t)(f->n_leaves > 0 ? f->n_leaves : 1), sizeof(int32_t));
    ff->leaf_tab = (int64_t *)PyMem_Calloc((size_t)(f->n_leaves > 0 ? f->n_leaves : 1), sizeof(int64_t));
    ff->leaf_par = (int64_t *)PyMem_Calloc((size_t)(f->n_leaves > 0 ? f->n_leaves : 1), sizeof(int64_t));
    if (!ff->tree_fast || !ff->node_pos || !ff->node_kind || !ff->leaf_d || !ff->leaf_tab || !ff->leaf_par)
        goto nomem;
    for (l = 0; l < f->n_nodes; ++l) { /* fs_next's rule, per node, as fs_fast_tree's branch-free step reads it */
        const uint32_t dt = f->nodes[l].decision_type, mt = (dt >> 2) & 3u;
        if (dt & 1u || mt == MISSING_ZERO) continue;
        /* None: NaN is read as 0.0, so it goes left when 0.0 <= threshold; NaN: the default direction */
        ff->node_kind[l] = (uint8_t)(1u | ((mt == MISSING_NAN ? (dt & 2u) != 0 : 0.0 <= f->nodes[l].u.threshold)
                                           ? 2u : 0u));
    }
    for (t = 0; t < f->n_trees; ++t) {
        int32_t r = f->roots[t];
        int64_t need;
        if (r < 0) continue; /* a one-leaf tree adds only its bias */
        need = fs_fast_scan(f, ff, r, feats, 0);
        if (need < 0 || used + need > budget) continue;
        ff->tree_fast[t] = 1;
        used += need;
    }
    for (l = 0; l < f->n_leaves; ++l) ff->n_par += ff->leaf_d[l]; /* an upper bound (classic trees too) */
    ff->n_tab = used;
    ff->tab = (double *)PyMem_Malloc(sizeof(double) * (size_t)(used > 0 ? used : 1));
    ff->par_feat = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(ff->n_par > 0 ? ff->n_par : 1));
    ff->par_coef = (double *)PyMem_Malloc(sizeof(double) * (size_t)(ff->n_par > 0 ? ff->n_par : 1));
    if (!ff->tab || !ff->par_feat || !ff->par_coef) goto nomem;
    for (t = 0; t < f->n_trees; ++t) {
        if (!ff->tree_fast[t]) continue;
        fs_fast_build(f, ff, f->roots[t], feats, zs, 0, &tab_at, &par_at);
    }
    if (fs_fast_flat_prepare(f, ff) < 0) goto nomem;
    ff->x4 = fs_x4_supported();
    for (t = 0; t < f->n_trees; ++t) {
        if (f->roots[t] >= 0 && !ff->tree_fast[t]) ff->x4 = 0;
    }
    return ff;
nomem:
    fs_fast_free(ff);
    PyErr_NoMemory();
    return NULL;
}

/* A leaf's d entries into phi, for the row whose satisfied positions are `mask`: coef_i T[P without i] for a
 * satisfied position i, -T[P] for the others. Branch-free (#13 round 12): whether the row satisfies i is data, so
 * a branch on it is mispredicted about half the time; instead the bit picks the factor, -1.0 or coef_i, and the
 * entry T[P & ~bit] (T[P] when the bit is clear). (-1.0) * T[P] is -T[P] and phi + (-T[P]) is phi - T[P], to the
 * bit (IEEE negation is exact; subtraction is addition of the negation). */
static inline void fs_fast_leaf(const fs_fast *ff, int32_t l, uint32_t mask, double *phi) {
    const int d = ff->leaf_d[l];
    const uint32_t P = mask & (((uint32_t)1 << d) - 1u);
    const double *T = ff->tab + ff->leaf_tab[l];
    const int32_t *feat = ff->par_feat + ff->leaf_par[l];
    const double *coef = ff->par_coef + ff->leaf_par[l];
    int i;
    for (i = 0; i < d; ++i) {
        const double pick[2] = {-1.0, coef[i]};
        phi[feat[i]] += pick[(P >> i) & 1u] * T[P & ~((uint32_t)1 << i)];
    }
}

/* Whether the row goes left at internal node n (fs_next; branch-free for a numerical None / NaN split). */
static inline int fs_fast_left(const ForestObject *f, const fs_fast *ff, int32_t n, const double *x) {
    const fs_node *nd = f->nodes + n;
    const unsigned kind = ff->node_kind[n];
    if (kind) {
        const double v = x[nd->feature];
        return (v <= nd->u.threshold) | (isnan(v) & (int)(kind >> 1));
    }
    return fs_next(nd, x[nd->feature], f->cat_bits) == nd->left;
}

/* One fast tree's contributions for a cleaned row (#13 round 12: in a fixed order). The internal nodes, in index
 * order (parents first), pass each child the mask of positions whose splits the row satisfies on the way to it
 * (the hot child the node's mask, the cold one with the node's position cleared); then every leaf, in index
 * order, adds its d entries. Until round 11 an explicit stack walked the hot subtree first: the same masks and
 * entries, added in the row's own order, so the values differ from round 11's in the last bits only (both equal
 * pred_contrib to rounding). Every row now takes the same branches, where the stack walk's depended on the row's
 * directions (about one misprediction per leaf). */
static void fs_fast_tree_flat(const ForestObject *f, const fs_fast *ff, Py_ssize_t t, const double *x, double *phi,
                              uint32_t *scr) {
    const int32_t n0 = ff->tree_n0[t], nint = ff->tree_nint[t], l0 = ff->tree_l0[t], nl = ff->tree_nl[t];
    const int32_t *slot = ff->node_slot + 2 * (Py_ssize_t)n0;
    int32_t i;
    scr[0] = 0xFFFFFFFFu;
    for (i = 0; i < nint; ++i) {
        const uint32_t m = scr[i];
        const uint32_t clr = m & ~(1u << ff->node_pos[n0 + i]);
        const int left = fs_fast_left(f, ff, n0 + i, x);
        scr[slot[2 * i]] = left ? m : clr;
        scr[slot[2 * i + 1]] = left ? clr : m;
    }
    for (i = 0; i < nl; ++i) fs_fast_leaf(ff, l0 + i, scr[nint + i], phi);
}

