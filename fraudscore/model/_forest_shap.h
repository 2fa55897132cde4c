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

/* Contributions of one cleaned row into out[0..k] (zeroed here), trees in model order. `path` holds at least
 * f->path_len elements. */
static void fs_contrib_row(const ForestObject *f, const double *x, double *out, fs_path *path) {
    Py_ssize_t t;
    int k = f->num_features;
    memset(out, 0, sizeof(double) * (size_t)(k + 1));
    for (t = 0; t < f->n_trees; ++t) {
        int32_t root = f->roots[t];
        out[k] += f->tree_ev[t];
        if (root >= 0) fs_tree_shap(f, x, out, root, 0, path, 1, 1, -1);
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
