/*
 * Keyed BLAKE2b-128 pseudonyms, shared by pseudonym.c and identity.c (header only).
 *
 * A pseudonym is "p:" + hex(BLAKE2b-128(value, key, person)), exactly what
 * hashlib.blake2b(key=..., digest_size=16, person=...) gives. fs_keyed_init computes the state
 * after the key block once per (key, person); fs_pseudonym copies it per value, as hashlib's
 * copy() does. The including file includes vendor/blake2/blake2b-ref.c first.
 */
#ifndef FRAUDSCORE_PSEUDONYM_H
#define FRAUDSCORE_PSEUDONYM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const char FS_HEX[] = "0123456789abcdef";

/* the keyed state after the key block; key 1..64 bytes, person at most 16 (checked by the caller) */
static void fs_keyed_init(blake2b_state *st, const void *key, size_t key_len, const void *person,
                          size_t person_len) {
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
}

/* the 16-byte digest of s[0:n] under the keyed state */
static inline void fs_digest(const blake2b_state *keyed, const void *s, size_t n, uint8_t out[16]) {
    blake2b_state st = *keyed;
    blake2b_update(&st, s, n);
    blake2b_final(&st, out, 16);
}

/* "p:<32 lowercase hex>" of a digest: a new str */
static PyObject *fs_pseudonym_text(const uint8_t d[16]) {
    PyObject *r = PyUnicode_New(34, 127);
    if (!r) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(r);
    o[0] = 'p';
    o[1] = ':';
    for (int i = 0; i < 16; i++) {
        o[2 + 2 * i] = (Py_UCS1)FS_HEX[d[i] >> 4];
        o[3 + 2 * i] = (Py_UCS1)FS_HEX[d[i] & 15];
    }
    return r;
}

#endif
