/*
 * Matrices through the single-row layout, eight rows at a time (#13 round 15, `batchcols`). Included by _forest.c
 * after _forest_row.h (it needs fs_job, fs_clean, fs_row, fs_rnode and fs_row_slow_left).
 *
 * Why: fs_run_job_rows walks each row's trees eight at a time, one tree per lane; a lane reaching a leaf takes a
 * branch that depends on the row (is this child a leaf?), mispredicted about once per tree and row (500 trees,
 * mean path 7.5: one mispredict every 7.5 node visits). Here the eight lanes are eight *rows* of a block, all in
 * the same tree, stepped together without a branch per lane: a lane whose next child is a leaf stays on its node
 * (the step adds `off & -(off > 0)` units, 0 for a leaf offset), and the group leaves the tree when no lane moved
 * in a step -- one data-dependent branch per tree and eight rows. Lanes that reached their leaf early repeat their
 * last node (the same decision, so the same leaf) until the deepest path of the group is done. A block of
 * FS_LANE_BLOCK cleaned rows goes through every tree before the next block, so a tree's nodes are loaded once
 * per block from L2 and its rows stay in L1.
 *
 * Exactness: each lane's decision is FS_LANE's expression (fs_row_margin), on the same cleaned values, so every
 * tree ends in the same leaf; a row's margin is its leaf values added in model order from 0.0 (one-leaf trees in
 * their place), as fs_row_margin and fs_margin add them: the same double, bit for bit
 * (tests/model/test_forest_lanes.py).
 */
#ifndef FS_LANE_BLOCK
#define FS_LANE_BLOCK 64 /* rows per block: eight groups of eight lanes (64 rows of 52 features: 26 KB) */
#endif
#define FS_LANE_MIN 16 /* shares of fewer rows keep fs_run_job_rows (the linker's few candidates per event) */

/* The leaf values of tree root `root` for the eight cleaned rows of a group, into v[8]; xt holds the group's
 * values feature-major (xt[feature * 8 + lane]), so the eight lanes share one base register. */
static inline void fs_lane_group(const fs_rnode *root, const double *xt, const uint32_t *cat_bits, int plain,
                                 double *v) {
    const fs_rnode *p0 = root, *p1 = root, *p2 = root, *p3 = root, *p4 = root, *p5 = root, *p6 = root, *p7 = root;
    int o0, o1, o2, o3, o4, o5, o6, o7;
#define FS_LSTEP(P, X, O)                                                                                          \
    do {                                                                                                           \
        const fs_rnode *nd_ = P;                                                                                   \
        double v_ = xt[(size_t)nd_->feature * 8 + X];                                                              \
        unsigned fl_ = nd_->flags, g_;                                                                             \
        int a_;                                                                                                    \
        if (!FS_PLAIN && (fl_ & (FSR_CAT | FSR_ZEROMISS)))                                                         \
            g_ = (unsigned)fs_row_slow_left(nd_, v_, cat_bits);                                                    \
        else                                                                                                       \
            g_ = (unsigned)(v_ <= nd_->u.thr) | ((unsigned)(v_ != v_) & (fl_ >> 2));                               \
        O = nd_->child[g_ & 1u];                                                                                   \
        a_ = O & -(O > 0); /* 0 for a leaf child: the lane stays */                                                \
        P = (const fs_rnode *)((const double *)nd_ + a_);                                                          \
        mv |= a_;                                                                                                  \
    } while (0)
#define FS_LLOOP                                                                                                   \
    for (;;) {                                                                                                     \
        int mv = 0;                                                                                                \
        FS_LSTEP(p0, 0, o0);                                                                                      \
        FS_LSTEP(p1, 1, o1);                                                                                      \
        FS_LSTEP(p2, 2, o2);                                                                                      \
        FS_LSTEP(p3, 3, o3);                                                                                      \
        FS_LSTEP(p4, 4, o4);                                                                                      \
        FS_LSTEP(p5, 5, o5);                                                                                      \
        FS_LSTEP(p6, 6, o6);                                                                                      \
        FS_LSTEP(p7, 7, o7);                                                                                      \
        /* no lane moved: every lane's node has a leaf child on its side */                                        \
        if (!mv) break;                                                                                            \
    }
    if (plain) { /* no node needs fs_row_slow_left: the flags test is left out of the step */
#define FS_PLAIN 1
        FS_LLOOP
#undef FS_PLAIN
    } else {
#define FS_PLAIN 0
        FS_LLOOP
#undef FS_PLAIN
    }
#undef FS_LLOOP
#undef FS_LSTEP
    /* a leaf child: offset < 0, its value |offset| units after its parent */
    v[0] = ((const double *)p0)[-o0];
    v[1] = ((const double *)p1)[-o1];
    v[2] = ((const double *)p2)[-o2];
    v[3] = ((const double *)p3)[-o3];
    v[4] = ((const double *)p4)[-o4];
    v[5] = ((const double *)p5)[-o5];
    v[6] = ((const double *)p6)[-o6];
    v[7] = ((const double *)p7)[-o7];
}

/* Probabilities (or margins, job->flag) of rows [lo, hi) through the layout, FS_LANE_BLOCK rows at a time, eight
 * lanes of rows per tree; equal to fs_run_job_rows's, bit for bit. */
static void *fs_run_job_lanes(void *arg) {
    fs_job *job = (fs_job *)arg;
    const ForestObject *f = job->f;
    const fs_row *rw = f->row;
    const uint32_t *cat_bits = f->cat_bits;
    int k = f->num_features;
    Py_ssize_t n_trees = f->n_trees, i0, t, kk = k > 0 ? k : 1;
    double acc[FS_LANE_BLOCK], v[8], *x, *row;
    if (job->hi - job->lo < FS_LANE_MIN) return fs_run_job_rows(arg);
    /* FS_LANE_BLOCK / 8 groups of k * 8 values (feature-major in a group), then one cleaned row */
    x = (double *)malloc(sizeof(double) * (size_t)kk * (FS_LANE_BLOCK + 1));
    if (x == NULL) {
        job->failed = 1;
        return NULL;
    }
    row = x + kk * FS_LANE_BLOCK;
    for (i0 = job->lo; i0 < job->hi; i0 += FS_LANE_BLOCK) {
        int b, g, j, nb = (int)((job->hi - i0) < FS_LANE_BLOCK ? (job->hi - i0) : FS_LANE_BLOCK);
        for (b = 0; b < nb; ++b) {
            double *xt = x + (Py_ssize_t)(b / 8) * kk * 8 + b % 8;
            fs_clean(job->X + (i0 + b) * k, row, k);
            for (j = 0; j < k; ++j) xt[(Py_ssize_t)j * 8] = row[j];
            acc[b] = 0.0;
        }
        for (b = nb; b % 8 != 0; ++b) { /* spare lanes of the last group: zeros; their leaves are dropped */
            double *xt = x + (Py_ssize_t)(b / 8) * kk * 8 + b % 8;
            for (j = 0; j < k; ++j) xt[(Py_ssize_t)j * 8] = 0.0;
        }
        for (t = 0; t < n_trees; ++t) {
            int32_t r = rw->root[t];
            if (t + 1 < n_trees) {
                int32_t q = rw->root[t + 1];
                __builtin_prefetch(rw->units + (q >= 0 ? q : ~q));
            }
            if (r < 0) { /* a one-leaf tree: its value for every row, in its place in the sum */
                double lv = rw->units[~r];
                for (b = 0; b < nb; ++b) acc[b] += lv;
                continue;
            }
            for (g = 0; g < nb; g += 8) {
                int l, m = nb - g < 8 ? nb - g : 8;
                fs_lane_group((const fs_rnode *)(rw->units + r), x + (Py_ssize_t)(g / 8) * kk * 8, cat_bits,
                              rw->plain, v);
                for (l = 0; l < m; ++l) acc[g + l] += v[l];
            }
        }
        for (b = 0; b < nb; ++b) job->out[i0 + b] = job->flag ? acc[b] : fs_sigmoid(f->sigmoid, acc[b]);
    }
    free(x);
    return NULL;
}
