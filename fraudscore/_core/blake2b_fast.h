/*
 * The keyed BLAKE2b-128 digest of pseudonym.h without the streaming state (round 12, #13).
 *
 * fs_digest (pseudonym.h) used the reference's blake2b_update + blake2b_final on a copy of the
 * ~380-byte keyed state: a state copy, a buffer copy, a padding memset and the reference compression
 * (~1.4k instructions). Here the same blocks go through one compression each, straight from the
 * input: every full block but the last with the counter advanced by 128 bytes, the last (1..128
 * bytes, zero padded) with the counter advanced by its length and the last-block flag set -- the
 * order and parameters of blake2b_update + blake2b_final, so the digest is the same, bit for bit
 * (tested against hashlib in tests/test_identity_compiled.py, both compressions).
 *
 * Two compressions with one result: fs_compress_scalar (the reference's G and ROUND on local words)
 * and, on x86-64 with AVX2 (checked at run time, once per module), fs_compress_avx2: the four
 * columns (then the four diagonals) of the 4x4 state in four 256-bit registers, the rotations by
 * byte shuffles, the diagonal step by lane permutations (the layout of the BLAKE2 authors' SIMD
 * implementations). fs_blake2_simd is the switch (-1: not decided yet; tests set it through the
 * modules' _set_simd to compare the two).
 *
 * The including file includes vendor/blake2/blake2b-ref.c first (IV, sigma, load64, rotr64).
 */
#ifndef FRAUDSCORE_BLAKE2B_FAST_H
#define FRAUDSCORE_BLAKE2B_FAST_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FS_HAVE_AVX2_PATH 1
#include <immintrin.h>
#else
#define FS_HAVE_AVX2_PATH 0
#endif

/* -1: not decided; 0: the scalar compression; 1: AVX2 */
static int fs_blake2_simd = -1;

#define FS_G(r, i, a, b, c, d)                     \
    do {                                           \
        a = a + b + m[blake2b_sigma[r][2 * i + 0]]; \
        d = rotr64(d ^ a, 32);                     \
        c = c + d;                                 \
        b = rotr64(b ^ c, 24);                     \
        a = a + b + m[blake2b_sigma[r][2 * i + 1]]; \
        d = rotr64(d ^ a, 16);                     \
        c = c + d;                                 \
        b = rotr64(b ^ c, 63);                     \
    } while (0)

#define FS_ROUND(r)                          \
    do {                                     \
        FS_G(r, 0, v0, v4, v8, v12);         \
        FS_G(r, 1, v1, v5, v9, v13);         \
        FS_G(r, 2, v2, v6, v10, v14);        \
        FS_G(r, 3, v3, v7, v11, v15);        \
        FS_G(r, 4, v0, v5, v10, v15);        \
        FS_G(r, 5, v1, v6, v11, v12);        \
        FS_G(r, 6, v2, v7, v8, v13);         \
        FS_G(r, 7, v3, v4, v9, v14);         \
    } while (0)

/* h ^= compress(h, m, t, f0): == the reference's blake2b_compress with S->t = {t0, t1}, S->f = {f0, 0} */
static void fs_compress_scalar(uint64_t h[8], const uint64_t m[16], uint64_t t0, uint64_t t1, uint64_t f0) {
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    uint64_t v8 = blake2b_IV[0], v9 = blake2b_IV[1], v10 = blake2b_IV[2], v11 = blake2b_IV[3];
    uint64_t v12 = blake2b_IV[4] ^ t0, v13 = blake2b_IV[5] ^ t1, v14 = blake2b_IV[6] ^ f0, v15 = blake2b_IV[7];
    FS_ROUND(0); FS_ROUND(1); FS_ROUND(2); FS_ROUND(3); FS_ROUND(4); FS_ROUND(5);
    FS_ROUND(6); FS_ROUND(7); FS_ROUND(8); FS_ROUND(9); FS_ROUND(10); FS_ROUND(11);
    h[0] ^= v0 ^ v8; h[1] ^= v1 ^ v9; h[2] ^= v2 ^ v10; h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12; h[5] ^= v5 ^ v13; h[6] ^= v6 ^ v14; h[7] ^= v7 ^ v15;
}

#undef FS_G
#undef FS_ROUND

#if FS_HAVE_AVX2_PATH
/* one G on four lanes; x, y: the message words of the lanes */
#define FS_VG(A, B, C, D, x, y)                                                          \
    do {                                                                                 \
        A = _mm256_add_epi64(_mm256_add_epi64(A, B), x);                                 \
        D = _mm256_shuffle_epi32(_mm256_xor_si256(D, A), _MM_SHUFFLE(2, 3, 0, 1));       \
        C = _mm256_add_epi64(C, D);                                                      \
        B = _mm256_shuffle_epi8(_mm256_xor_si256(B, C), r24);                            \
        A = _mm256_add_epi64(_mm256_add_epi64(A, B), y);                                 \
        D = _mm256_shuffle_epi8(_mm256_xor_si256(D, A), r16);                            \
        C = _mm256_add_epi64(C, D);                                                      \
        B = _mm256_xor_si256(B, C);                                                      \
        B = _mm256_or_si256(_mm256_add_epi64(B, B), _mm256_srli_epi64(B, 63));           \
    } while (0)

#define FS_W(r, k) ((long long)m[blake2b_sigma[r][k]])
#define FS_VROUND(r)                                                                                 \
    do {                                                                                             \
        FS_VG(A, B, C, D, _mm256_setr_epi64x(FS_W(r, 0), FS_W(r, 2), FS_W(r, 4), FS_W(r, 6)),         \
              _mm256_setr_epi64x(FS_W(r, 1), FS_W(r, 3), FS_W(r, 5), FS_W(r, 7)));                   \
        B = _mm256_permute4x64_epi64(B, _MM_SHUFFLE(0, 3, 2, 1));                                    \
        C = _mm256_permute4x64_epi64(C, _MM_SHUFFLE(1, 0, 3, 2));                                    \
        D = _mm256_permute4x64_epi64(D, _MM_SHUFFLE(2, 1, 0, 3));                                    \
        FS_VG(A, B, C, D, _mm256_setr_epi64x(FS_W(r, 8), FS_W(r, 10), FS_W(r, 12), FS_W(r, 14)),      \
              _mm256_setr_epi64x(FS_W(r, 9), FS_W(r, 11), FS_W(r, 13), FS_W(r, 15)));                \
        B = _mm256_permute4x64_epi64(B, _MM_SHUFFLE(2, 1, 0, 3));                                    \
        C = _mm256_permute4x64_epi64(C, _MM_SHUFFLE(1, 0, 3, 2));                                    \
        D = _mm256_permute4x64_epi64(D, _MM_SHUFFLE(0, 3, 2, 1));                                    \
    } while (0)

/* == fs_compress_scalar: rows (v0..v3), (v4..v7), (v8..v11), (v12..v15) in A, B, C, D; the diagonal step
 * rotates B, C, D by one, two and three lanes so that lane i holds G i+4's words, then rotates them back */
__attribute__((target("avx2"))) static void fs_compress_avx2(uint64_t h[8], const uint64_t m[16], uint64_t t0,
                                                             uint64_t t1, uint64_t f0) {
    const __m256i r24 = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
                                         3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    const __m256i r16 = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
                                         2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    const __m256i h0 = _mm256_loadu_si256((const __m256i *)(const void *)h);
    const __m256i h1 = _mm256_loadu_si256((const __m256i *)(const void *)(h + 4));
    __m256i A = h0, B = h1;
    __m256i C = _mm256_loadu_si256((const __m256i *)(const void *)blake2b_IV);
    __m256i D = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(blake2b_IV + 4)),
                                 _mm256_setr_epi64x((long long)t0, (long long)t1, (long long)f0, 0));
    FS_VROUND(0); FS_VROUND(1); FS_VROUND(2); FS_VROUND(3); FS_VROUND(4); FS_VROUND(5);
    FS_VROUND(6); FS_VROUND(7); FS_VROUND(8); FS_VROUND(9); FS_VROUND(10); FS_VROUND(11);
    _mm256_storeu_si256((__m256i *)(void *)h, _mm256_xor_si256(h0, _mm256_xor_si256(A, C)));
    _mm256_storeu_si256((__m256i *)(void *)(h + 4), _mm256_xor_si256(h1, _mm256_xor_si256(B, D)));
}

#undef FS_VG
#undef FS_W
#undef FS_VROUND
#endif

/* whether the AVX2 compression runs here (decided once) */
static int fs_blake2_simd_default(void) {
#if FS_HAVE_AVX2_PATH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

static inline void fs_compress(uint64_t h[8], const uint64_t m[16], uint64_t t0, uint64_t t1, uint64_t f0) {
    if (fs_blake2_simd < 0) fs_blake2_simd = fs_blake2_simd_default();
#if FS_HAVE_AVX2_PATH
    if (fs_blake2_simd) {
        fs_compress_avx2(h, m, t0, t1, f0);
        return;
    }
#endif
    fs_compress_scalar(h, m, t0, t1, f0);
}

/* the 128-byte block at p as little-endian words */
static inline void fs_load_block(uint64_t m[16], const uint8_t *p) {
    for (int i = 0; i < 16; i++) m[i] = load64(p + 8 * i);
}

/* the chaining value h (in place) after BLAKE2b's input s[0:n] and final block, continuing from the byte counter
 * (t0, t1) of a state with nothing buffered: == blake2b_update(state, s, n) + blake2b_final's compression (also the
 * one-shot hashes of redis_blake.h) */
static inline void fs_finish_from(uint64_t h[8], uint64_t t0, uint64_t t1, const uint8_t *s, size_t n) {
    uint64_t m[16];
    while (n > BLAKE2B_BLOCKBYTES) { /* every full block but the last, as blake2b_update compresses them */
        t0 += BLAKE2B_BLOCKBYTES;
        t1 += (t0 < BLAKE2B_BLOCKBYTES);
        fs_load_block(m, s);
        fs_compress(h, m, t0, t1, 0);
        s += BLAKE2B_BLOCKBYTES;
        n -= BLAKE2B_BLOCKBYTES;
    }
    uint8_t last[BLAKE2B_BLOCKBYTES]; /* 0..128 bytes, zero padded: blake2b_final */
    memcpy(last, s, n);
    memset(last + n, 0, BLAKE2B_BLOCKBYTES - n);
    t0 += n;
    t1 += (t0 < n);
    fs_load_block(m, last);
    fs_compress(h, m, t0, t1, ~(uint64_t)0);
}

/* the first 16 bytes of BLAKE2b(s[0:n]) continuing from the chaining value h and byte counter (t0, t1) of a
 * state with nothing buffered: == blake2b_update(state, s, n > 0) + blake2b_final(state, out, 16) */
static void fs_digest_from(const uint64_t h_in[8], uint64_t t0, uint64_t t1, const uint8_t *s, size_t n,
                           uint8_t out[16]) {
    uint64_t h[8];
    memcpy(h, h_in, sizeof(h));
    fs_finish_from(h, t0, t1, s, n);
    for (int i = 0; i < 2; i++) store64(out + 8 * i, h[i]);
}

#ifdef Py_PYTHON_H
/* _set_simd(mode) of the modules including this header after Python.h (pseudonym, identity, redis_calls): -1 the
 * machine's choice, 0 scalar, 1 AVX2 (only where the machine has it); returns the mode in use */
static PyObject *fs_set_simd(PyObject *self, PyObject *arg) {
    (void)self;
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    int want = v < 0 ? fs_blake2_simd_default() : (v > 0 && fs_blake2_simd_default());
    fs_blake2_simd = want;
    return PyLong_FromLong(want);
}
#endif

#endif
