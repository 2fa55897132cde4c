/*
 * One-shot personalised BLAKE2b for the Redis worker path (round 14, #15), included by redis_calls.c.
 *
 * hash_bytes (redis_calls.c) and the entity keys / distinct-of hashes of single_groups (redis_single.h) hash
 * a few short strings per event (an entity with its "s" prefix, a value, the application id: ~18 per event on
 * the benchmark stream, most shorter than one 128-byte block). The reference's streaming calls
 * (blake2b_init_param + blake2b_update + blake2b_final on a ~380-byte state, a padding memset, its portable
 * compression: ~2.3k instructions a hash) are replaced by the compression of blake2b_fast.h (AVX2 where the
 * machine has it, else the same scalar rounds), straight from the input: the chaining value from the parameter
 * block (digest length, fanout 1, depth 1, no key, the personalisation), every full block but the last with
 * the counter advanced by 128, the last (0..128 bytes, zero padded) with the counter advanced by its length
 * and the last-block flag set -- the order and parameters of blake2b_update + blake2b_final, so the digest is
 * the same bit for bit (tests/velocity/test_redis_blake_compiled.py: against hashlib.blake2b, both
 * compressions, every length across the block edges, digest sizes 1..64, personalisations of 0..16 bytes).
 *
 * The input is the concatenation pre + data (pre: at most a few bytes, e.g. "s"), without a copy of data
 * except its last block.
 *
 * The module's _set_simd(mode) is blake2b_fast.h's fs_set_simd, as pseudonym.h's modules' (for the tests: -1 the
 * machine's choice, 0 scalar, 1 AVX2 where the machine has it; returns the mode in use).
 */
#ifndef FRAUDSCORE_REDIS_BLAKE_H
#define FRAUDSCORE_REDIS_BLAKE_H

#include "blake2b_fast.h"

/* the chaining value of an unkeyed BLAKE2b of ``size`` bytes (1..64) personalised with ``person`` (0..16
 * bytes, zero padded): IV xor the parameter block (blake2b_init_param) */
static void rb_init(uint64_t h[8], size_t size, const char *person, size_t plen) {
    uint8_t pb[64];
    memset(pb, 0, sizeof(pb));
    pb[0] = (uint8_t)size; /* digest_length; key_length 0 */
    pb[2] = 1;             /* fanout */
    pb[3] = 1;             /* depth */
    memcpy(pb + 48, person, plen);
    for (int i = 0; i < 8; i++) h[i] = blake2b_IV[i] ^ load64(pb + 8 * i);
}

/* BLAKE2b(pre[0:npre] + data[0:n]) of ``size`` bytes personalised with ``person`` into out:
 * == blake2b_init_param + blake2b_update(pre) + blake2b_update(data) + blake2b_final (npre < 128) */
static void rb_blake(const char *pre, size_t npre, const char *data, size_t n, size_t size, const char *person,
                     size_t plen, uint8_t *out) {
    uint64_t h[8], m[16];
    uint64_t t0 = 0;
    uint8_t blk[BLAKE2B_BLOCKBYTES];
    rb_init(h, size, person, plen);
    size_t total = npre + n;
    const uint8_t *s = (const uint8_t *)data;
    if (npre) { /* the first block: pre then the start of data (the rest goes on from data) */
        size_t take = total > BLAKE2B_BLOCKBYTES ? BLAKE2B_BLOCKBYTES - npre : n;
        memcpy(blk, pre, npre);
        memcpy(blk + npre, s, take);
        if (total > BLAKE2B_BLOCKBYTES) {
            t0 = BLAKE2B_BLOCKBYTES;
            fs_load_block(m, blk);
            fs_compress(h, m, t0, 0, 0);
            s += take;
            n -= take;
        } else { /* one block in all: the final one, below */
            s = blk;
            n = total;
        }
    }
    fs_finish_from(h, t0, 0, s, n); /* the rest of data and the final block */
    uint8_t full[BLAKE2B_OUTBYTES];
    for (int i = 0; i < 8; i++) store64(full + 8 * i, h[i]);
    memcpy(out, full, size);
}

#endif
