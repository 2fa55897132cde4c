/*
 * FastTreeSHAP v2 over four rows at once with AVX2 (#13 round 12; included by _forest.c after _forest_shap.h, part
 * of the same extension and of its cache key).
 *
 * Since round 12 every row walks a fast tree in the same fixed order (fs_fast_tree_flat: the internal nodes in
 * index order, then the leaves in index order, each adding its d entries), so four rows can go through a tree
 * together. Their contributions are kept feature-major for the block (acc[feature * 4 + lane]), so a leaf entry is
 * one gather of the four rows' table entries T[P & ~bit], one blend of the factor (-1.0 or coef_i), one multiply
 * and one add into four adjacent doubles. Each lane performs exactly the scalar path's operations on its row, in
 * the same order (IEEE double multiply and add, no fused multiply-add: -ffp-contract=off and no FMA target), so the
 * contributions are the same bits as fs_fast_tree_flat's (tests/model/test_treeshap.py compares blocks with single
 * rows, which take the scalar path). Used where the compiler targets x86-64, the CPU has AVX2 (checked once at
 * load) and every tree of the model has its tables (a classic tree would have to write into the same layout).
 */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FS_NO_X4)
#include <immintrin.h>
#define FS_HAVE_X4 1

/* Whether this CPU runs the AVX2 path (called with the GIL held, at load). */
static int fs_x4_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

/* One fast tree for the four cleaned rows at x (row-major, k values each) into acc ((k + 1) x 4, feature-major);
 * scr holds four masks per slot of the tree (fs_fast's max_slots * 4). */
__attribute__((target("avx2"))) static void fs_fast_tree_x4(const ForestObject *f, const fs_fast *ff,
                                                            Py_ssize_t t, const double *x, int k, double *acc,
                                                            uint32_t *scr) {
    const int32_t n0 = ff->tree_n0[t], nint = ff->tree_nint[t], l0 = ff->tree_l0[t], nl = ff->tree_nl[t];
    const int32_t *slot = ff->node_slot + 2 * (Py_ssize_t)n0;
    const __m256d neg1 = _mm256_set1_pd(-1.0);
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi32(1);
    int32_t i;
    int r;
    const __m128i kidx = _mm_setr_epi32(0, k, 2 * k, 3 * k);
    for (r = 0; r < 4; ++r) scr[r] = 0xFFFFFFFFu;
    for (i = 0; i < nint; ++i) { /* fs_fast_tree_flat's node loop, four lanes */
        const int32_t n = n0 + i;
        const fs_node *nd = f->nodes + n;
        const unsigned kind = ff->node_kind[n];
        const __m128i bit = _mm_set1_epi32((int)(1u << ff->node_pos[n]));
        const __m128i m = _mm_loadu_si128((const __m128i *)(scr + (Py_ssize_t)i * 4));
        const __m128i clr = _mm_andnot_si128(bit, m);
        int lm = 0;
        __m128i left;
        if (kind) { /* fs_fast_left's (v <= threshold) | (isnan(v) & NaN goes left), the four rows at once */
            const __m256d v = _mm256_i32gather_pd(x + nd->feature, kidx, 8);
            __m256d go = _mm256_cmp_pd(v, _mm256_set1_pd(nd->u.threshold), _CMP_LE_OQ);
            if (kind >> 1) go = _mm256_or_pd(go, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
            lm = _mm256_movemask_pd(go);
        } else {
            for (r = 0; r < 4; ++r) lm |= fs_fast_left(f, ff, n, x + (Py_ssize_t)r * k) << r;
        }
        left = _mm_cmpgt_epi32(_mm_and_si128(_mm_set1_epi32(lm), _mm_setr_epi32(1, 2, 4, 8)), _mm_setzero_si128());
        _mm_storeu_si128((__m128i *)(scr + (Py_ssize_t)slot[2 * i] * 4), _mm_blendv_epi8(clr, m, left));
        _mm_storeu_si128((__m128i *)(scr + (Py_ssize_t)slot[2 * i + 1] * 4), _mm_blendv_epi8(m, clr, left));
    }
    for (i = 0; i < nl; ++i) { /* fs_fast_leaf, four lanes */
        const int32_t l = l0 + i;
        const int d = ff->leaf_d[l];
        const double *T = ff->tab + ff->leaf_tab[l];
        const int32_t *feat = ff->par_feat + ff->leaf_par[l];
        const double *coef = ff->par_coef + ff->leaf_par[l];
        const __m128i P = _mm_and_si128(_mm_loadu_si128((const __m128i *)(scr + (Py_ssize_t)(nint + i) * 4)),
                                        _mm_set1_epi32((int)(((uint32_t)1 << d) - 1u)));
        int j;
        for (j = 0; j < d; ++j) {
            const __m128i idx = _mm_andnot_si128(_mm_set1_epi32((int)((uint32_t)1 << j)), P); /* P & ~bit */
            const __m256d tv = _mm256_i32gather_pd(T, idx, 8);
            const __m128i sat = _mm_and_si128(_mm_srl_epi32(P, _mm_cvtsi32_si128(j)), one);
            const __m256d m64 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_sub_epi32(zero, sat)));
            const __m256d pick = _mm256_blendv_pd(neg1, _mm256_set1_pd(coef[j]), m64);
            double *a = acc + (Py_ssize_t)feat[j] * 4;
            _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), _mm256_mul_pd(pick, tv)));
        }
    }
}

/* The bias of four rows (acc[k * 4 + lane] += ev), as the scalar path's o[k] += ev. */
__attribute__((target("avx2"))) static void fs_bias_x4(double *acc, int k, double ev) {
    double *a = acc + (Py_ssize_t)k * 4;
    _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), _mm256_set1_pd(ev)));
}
#else
static int fs_x4_supported(void) { return 0; }
#endif

/* Contributions of nb cleaned rows (row-major, k values each) into out (nb rows of k + 1), tree by tree and,
 * within a tree, row by row (four rows at a time on the AVX2 path, into `acc`: FS_SHAP_BLOCK * (k + 1) doubles,
 * copied into out at the end), so one tree's tables stay in cache while the block walks it. Each row still adds
 * its trees in model order (so the classic trees' results equal LightGBM's bit for bit). */
static void fs_contrib_block(const ForestObject *f, const fs_fast *ff, const double *x, double *out, int nb,
                             fs_path *path, uint32_t *scr, double *acc) {
    Py_ssize_t t;
    int k = f->num_features, b, g, ng = 0;
#ifdef FS_HAVE_X4
    if (ff != NULL && ff->x4 && acc != NULL) ng = nb / 4;
#endif
    memset(out, 0, sizeof(double) * (size_t)(k + 1) * (size_t)nb);
    if (ng) memset(acc, 0, sizeof(double) * (size_t)(k + 1) * 4 * (size_t)ng);
    for (t = 0; t < f->n_trees; ++t) {
        int32_t root = f->roots[t];
        int fast = ff != NULL && ff->tree_fast[t];
#ifdef FS_HAVE_X4
        for (g = 0; g < ng; ++g) {
            double *a = acc + (Py_ssize_t)g * 4 * (k + 1);
            fs_bias_x4(a, k, f->tree_ev[t]);
            if (root >= 0) fs_fast_tree_x4(f, ff, t, x + (Py_ssize_t)g * 4 * k, k, a, scr);
        }
#endif
        for (b = 4 * ng; b < nb; ++b) {
            double *o = out + (Py_ssize_t)b * (k + 1);
            const double *xb = x + (Py_ssize_t)b * k;
            o[k] += f->tree_ev[t];
            if (root < 0) continue;
            if (fast) {
                fs_fast_tree_flat(f, ff, t, xb, o, scr);
            } else {
                fs_tree_shap(f, xb, o, root, 0, path, 1, 1, -1);
            }
        }
    }
    for (g = 0; g < ng; ++g) { /* feature-major lanes -> the rows */
        const double *a = acc + (Py_ssize_t)g * 4 * (k + 1);
        int j, r;
        for (r = 0; r < 4; ++r) {
            double *o = out + (Py_ssize_t)(4 * g + r) * (k + 1);
            for (j = 0; j <= k; ++j) o[j] = a[j * 4 + r];
        }
    }
}
