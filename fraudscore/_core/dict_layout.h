/*
 * CPython 3.11 / 3.12's dict internals, read by the link kernels (round 14 review: one copy for the three places
 * that read them: linker.c's memo of best_candidate's checks, linking_pack.h's packed records and linkstate_decide.h's
 * new records).
 *
 *   dict_tag(d)          the dict's ma_version_tag: a fresh value from one global counter when a dict is made and
 *                        whenever its items change, so an equal (address, tag) pair is the same live dict with the
 *                        same items. 0 where DICT_LAYOUT is 0 (callers then never trust a tag).
 *   dict_entries(d, n)   the (key, value) entries of a combined dict of str keys with exactly n live entries, in
 *                        insertion order (Include/internal/pycore_dict.h: the keys object's header, its index bytes,
 *                        then the entries), or NULL for any other layout (split values, deleted entries, other key
 *                        kinds): the caller then goes through the dict API. Callers still check each entry's key.
 *
 * Other Python versions (and the limited API) set DICT_LAYOUT 0: the callers take their dict-API paths, with the
 * same results (their parity tests switch the shortcuts off and compare).
 */
#ifndef FRAUDSCORE_DICT_LAYOUT_H
#define FRAUDSCORE_DICT_LAYOUT_H

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000 && !defined(Py_LIMITED_API)
#define DICT_LAYOUT 1
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
static inline uint64_t dict_tag(PyObject *d) { return (uint64_t)((PyDictObject *)d)->ma_version_tag; }
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

typedef struct {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} dl_keys_t;
typedef struct {
    PyObject *me_key, *me_value;
} dl_entry_t;
#define DL_KEYS_UNICODE 1 /* DICT_KEYS_UNICODE */

static inline dl_entry_t *dict_entries(PyObject *o, Py_ssize_t n) {
    PyDictObject *d = (PyDictObject *)o;
    dl_keys_t *k = (dl_keys_t *)d->ma_keys;
    if (d->ma_values != NULL || d->ma_used != n || k->dk_kind != DL_KEYS_UNICODE || k->dk_nentries != n ||
        k->dk_log2_index_bytes > 12 || k->dk_log2_size > 12)
        return NULL;
    return (dl_entry_t *)(k->dk_indices + ((size_t)1 << k->dk_log2_index_bytes));
}
#else
#define DICT_LAYOUT 0
static inline uint64_t dict_tag(PyObject *d) {
    (void)d;
    return 0;
}
#endif

#endif
