/*
 * Keyed BLAKE2b-128 pseudonyms, shared by pseudonym.c and identity.c (header only).
 *
 * A pseudonym is "p:" + hex(BLAKE2b-128(value, key, person)), exactly what
 * hashlib.blake2b(key=..., digest_size=16, person=...) gives. fs_keyed_init computes the state
 * after the key block once per (key, person); fs_pseudonym copies it per value, as hashlib's
 * copy() does (with the key block already compressed for a non-empty value, see fs_keyed_t).
 * The including file includes vendor/blake2/blake2b-ref.c first.
 */
#ifndef FRAUDSCORE_PSEUDONYM_H
#define FRAUDSCORE_PSEUDONYM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "blake2b_fast.h"

static const char FS_HEX[] = "0123456789abcdef";
/* the two hex digits of each byte (round 17, `batchkern`: one 2-byte copy per digest byte in fs_pseudonym_text) */
static const char FS_HEX2[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* a key: the state after absorbing the key block (buffered, not yet compressed: it is the last block of an
 * empty message) and, for non-empty messages, the same state with the key block compressed -- the first
 * thing blake2b_update does with any input (round 9: one compression per pseudonym instead of two). */
typedef struct {
    blake2b_state keyed;
    blake2b_state primed;
} fs_keyed_t;

/* the keyed states; key 1..64 bytes, person at most 16 (checked by the caller) */
static void fs_keyed_init(fs_keyed_t *k, const void *key, size_t key_len, const void *person,
                          size_t person_len) {
    blake2b_state *st = &k->keyed;
    blake2b_param P;
    memset(&P, 0, sizeof(P));
    P.digest_length = 16;
    P.key_length = (uint8_t)key_len;
    P.fanout = 1;
    P.depth = 1;
    memcpy(P.personal, person, person_len);
    blake2b_init_param(st, &P);
    uint8_t block[BLAKE2B_BLOCKBYTES];
    memset(block, 0, sizeof(block));
    memcpy(block, key, key_len);
    blake2b_update(st, block, BLAKE2B_BLOCKBYTES);
    memset(block, 0, sizeof(block));
    /* blake2b_update(st, in, inlen > 0) with the key block buffered (buflen == 128, fill == 0): buflen = 0,
     * the counter advanced by a block, the buffer compressed; then the input is absorbed from buflen 0 */
    k->primed = *st;
    k->primed.buflen = 0;
    blake2b_increment_counter(&k->primed, BLAKE2B_BLOCKBYTES);
    blake2b_compress(&k->primed, k->primed.buf);
}

/* the 16-byte digest of s[0:n] under the key: == blake2b_update(copy of keyed, s, n) + blake2b_final, without
 * the state copy (blake2b_fast.h): a non-empty value continues from the primed state (nothing buffered), the
 * empty one finishes the keyed state's buffered key block */
static inline void fs_digest(const fs_keyed_t *k, const void *s, size_t n, uint8_t out[16]) {
    if (n)
        fs_digest_from(k->primed.h, k->primed.t[0], k->primed.t[1], (const uint8_t *)s, n, out);
    else
        fs_digest_from(k->keyed.h, k->keyed.t[0], k->keyed.t[1], k->keyed.buf, k->keyed.buflen, out);
}

/* "p:<32 lowercase hex>" of a digest: a new str */
static PyObject *fs_pseudonym_text(const uint8_t d[16]) {
    PyObject *r = PyUnicode_New(34, 127);
    if (!r) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    o[0] = 'p';
    o[1] = ':';
    for (int i = 0; i < 16; i++) memcpy(o + 2 + 2 * i, FS_HEX2 + 2 * d[i], 2);
    return r;
}

#endif
