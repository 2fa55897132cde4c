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
 *   dict_hint_get(d, key, h)  d[key] as PyDict_GetItemWithError(d, key) gives it (borrowed; NULL: missing, or the
 *                        error), d an exact dict, through a position hint (round 17, `attrcache`): when the entry at
 *                        h->pos of a combined table holds this very key object, its value is the answer (a live entry
 *                        holding the key is the dict's one entry for it; deleted entries have a NULL key). Otherwise
 *                        the dict API answers, and the hint learns the key's position by identity (stops learning
 *                        after DL_HINT_FAILS tries that find no identical key, e.g. keys made anew per event).
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

typedef struct {
    uint32_t pos;   /* the entry index the key was last found at */
    uint32_t fails; /* learning attempts that found no identical key */
} dl_hint_t;
#define DL_HINT_FAILS 8

/* the entry array's key pointers of a combined general (3 pointers an entry) or str-keys (2) table: entry i's key at
 * e[i * *stride], its value at e[i * *stride + 1]; NULL for a split table or another kind */
static inline PyObject **dl_keyvals(PyDictObject *d, int *stride) {
    dl_keys_t *k = (dl_keys_t *)d->ma_keys;
    if (d->ma_values != NULL || k->dk_kind > DL_KEYS_UNICODE) return NULL;
    PyObject **base = (PyObject **)(k->dk_indices + ((size_t)1 << k->dk_log2_index_bytes));
    if (k->dk_kind == DL_KEYS_UNICODE) {
        *stride = 2;
        return base;
    }
    *stride = 3;
    return base + 1; /* past me_hash */
}

static PyObject *dict_hint_miss(PyObject *o, PyObject *key, dl_hint_t *h) {
    PyObject *v = PyDict_GetItemWithError(o, key);
    if (!v || h->fails >= DL_HINT_FAILS) return v;
    int st;
    PyObject **e = dl_keyvals((PyDictObject *)o, &st);
    Py_ssize_t n = ((dl_keys_t *)((PyDictObject *)o)->ma_keys)->dk_nentries;
    for (Py_ssize_t i = 0; e && i < n && i < 4096; i++) {
        if (e[i * st] == key) {
            h->pos = (uint32_t)i;
            return v;
        }
    }
    h->fails++;
    return v;
}

static inline PyObject *dict_hint_get(PyObject *o, PyObject *key, dl_hint_t *h) {
    PyDictObject *d = (PyDictObject *)o;
    if ((Py_ssize_t)h->pos < ((dl_keys_t *)d->ma_keys)->dk_nentries) {
        int st;
        PyObject **e = dl_keyvals(d, &st);
        if (e && e[h->pos * st] == key) return e[h->pos * st + 1];
    }
    return dict_hint_miss(o, key, h);
}
#else
#define DICT_LAYOUT 0
static inline uint64_t dict_tag(PyObject *d) {
    (void)d;
    return 0;
}
typedef struct {
    unsigned int pos, fails;
} dl_hint_t;
static inline PyObject *dict_hint_get(PyObject *o, PyObject *key, dl_hint_t *h) {
    (void)h;
    return PyDict_GetItemWithError(o, key);
}
#endif

#endif
