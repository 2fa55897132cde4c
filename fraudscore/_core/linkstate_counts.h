/*
 * MemoryLinkState's family value counts owned by C (round 13, `linkc`): the ``FamilyCounts`` type of
 * fraudscore._core.linkstate, which stands in for the reference's ``OrderedDict[str, [n, dict[int, int]]]``
 * (fraudscore/fingerprint/linkstate.py, ``MemoryLinkState._fam``) when the compiled core is in use.
 *
 * Layout: one entry per hardware family (its name -- an exact str, held --, its device count ``n`` and its
 * value counts), found through an open-addressing index on the name's hash (linear probing, deletion by
 * backward shift) and chained in recency order (an intrusive doubly-linked list: oldest first, as the
 * OrderedDict's move_to_end / popitem(last=False) keep it). A family's value counts are an append-only array
 * of (int64 key, int64 count) pairs in insertion order (the order of the reference's plain dict) with an
 * open-addressing index of positions on the key (Fibonacci hashing of the 64-bit key, linear probing; keys are
 * never deleted one by one, only with their family).
 *
 * The reference's keys are Python ints (``value hash * 16 + position``, below 2**62: linkkeys.stat_keys); here a
 * key or count must fit an int64 (another raises TypeError / OverflowError before anything changes). Python sees
 * the counts through ``get`` / ``[]`` / ``items`` / ``values`` / ``keys`` (each family materialised as a new
 * ``[n, {key: count}]`` list -- a copy: editing it changes nothing), ``count`` (the counting of
 * ``MemoryLinkState._write_reference``), ``bound`` (``_bound``'s family part) and ``load`` (``restore_dict``).
 * The kernels of linkstate.c read and count through fc_lookup / fc_kv_get / fc_count directly.
 *
 * Included by linkstate.c (one compilation unit), after linkcommon.h.
 */
#ifndef FRAUDSCORE_LINKSTATE_COUNTS_H
#define FRAUDSCORE_LINKSTATE_COUNTS_H

#include "dlist.h"

#define FC_GOLDEN 0x9E3779B97F4A7C15ull
#define FC_MAX_KEYS 64 /* more count keys in one write: the reference counts them */

typedef struct {
    int64_t key, val;
} fc_kv_t;

typedef struct {
    PyObject *name;     /* the family (exact str, owned); NULL: a free entry */
    Py_hash_t hash;     /* hash(name) */
    int64_t n;          /* devices counted */
    fc_kv_t *kv;        /* the value counts, in insertion order */
    uint32_t nkv, ckv;  /* used, allocated */
    uint32_t *idx;      /* kv position + 1 per slot, 0 empty; NULL while there is no count */
    uint32_t imask;     /* slots - 1 */
    int32_t prev, next; /* recency order (entry positions; -1: none); `next` chains the free entries */
} fc_fam_t;

typedef struct {
    PyObject_HEAD
    fc_fam_t *ent;
    uint32_t nent, cent; /* entries ever used (the free ones are reused first), allocated */
    int32_t free_head;
    uint32_t *idx;       /* entry position + 1 per slot, 0 empty */
    uint32_t imask;
    int32_t head, tail;  /* oldest, newest */
    Py_ssize_t len;
} fc_t;

static PyTypeObject FC_Type;

static inline uint32_t fc_kslot(int64_t key, uint32_t mask) {
    return (uint32_t)(((uint64_t)key * FC_GOLDEN) >> 32) & mask;
}

static inline uint32_t fc_hslot(Py_hash_t h, uint32_t mask) {
    return (uint32_t)(((uint64_t)h * FC_GOLDEN) >> 32) & mask;
}

/* ---- one family's value counts ------------------------------------------------------------------------- */
/* the count of key (0 when absent) */
static inline int64_t fc_kv_get(const fc_fam_t *e, int64_t key) {
    uint32_t i, p;
    if (e->idx == NULL) return 0;
    for (i = fc_kslot(key, e->imask);; i = (i + 1) & e->imask) {
        p = e->idx[i];
        if (p == 0) return 0;
        if (e->kv[p - 1].key == key) return e->kv[p - 1].val;
    }
}

/* room for one more pair (the index at most half full); -1 with MemoryError */
static int fc_kv_reserve(fc_fam_t *e) {
    uint32_t need = e->nkv + 1, slots, i, j;
    if (need > e->ckv) {
        uint32_t c = e->ckv ? 2 * e->ckv : 8;
        fc_kv_t *kv;
        if (c > (1u << 28)) goto nomem;
        if ((kv = PyMem_Realloc(e->kv, (size_t)c * sizeof(fc_kv_t))) == NULL) goto nomem;
        e->kv = kv;
        e->ckv = c;
    }
    if (e->idx == NULL || 2 * need > e->imask + 1) {
        uint32_t *idx;
        slots = e->idx == NULL ? 16 : 2 * (e->imask + 1);
        while (2 * need > slots) slots *= 2;
        if ((idx = PyMem_Calloc(slots, sizeof(uint32_t))) == NULL) goto nomem;
        for (j = 0; j < e->nkv; ++j) {
            for (i = fc_kslot(e->kv[j].key, slots - 1); idx[i]; i = (i + 1) & (slots - 1)) {
            }
            idx[i] = j + 1;
        }
        PyMem_Free(e->idx);
        e->idx = idx;
        e->imask = slots - 1;
    }
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* counts[key] = counts.get(key, 0) + delta (set = 1: counts[key] = delta); -1 with MemoryError */
static int fc_kv_add(fc_fam_t *e, int64_t key, int64_t delta, int set) {
    uint32_t i, p;
    if (e->idx != NULL) {
        for (i = fc_kslot(key, e->imask);; i = (i + 1) & e->imask) {
            p = e->idx[i];
            if (p == 0) break;
            if (e->kv[p - 1].key == key) {
                e->kv[p - 1].val = set ? delta : e->kv[p - 1].val + delta;
                return 0;
            }
        }
    }
    if (fc_kv_reserve(e) != 0) return -1;
    for (i = fc_kslot(key, e->imask); e->idx[i]; i = (i + 1) & e->imask) {
    }
    e->kv[e->nkv].key = key;
    e->kv[e->nkv].val = delta;
    e->idx[i] = ++e->nkv;
    return 0;
}

/* ---- the families ----------------------------------------------------------------------------------------- */
/* the entry of family `name` (an exact str; its hash `h`), or NULL */
static inline fc_fam_t *fc_find(const fc_t *fc, PyObject *name, Py_hash_t h) {
    uint32_t i, p;
    if (fc->idx == NULL) return NULL;
    for (i = fc_hslot(h, fc->imask);; i = (i + 1) & fc->imask) {
        fc_fam_t *e;
        p = fc->idx[i];
        if (p == 0) return NULL;
        e = &fc->ent[p - 1];
        if (e->name == name) return e;
        if (e->hash == h && PyUnicode_GET_LENGTH(e->name) == PyUnicode_GET_LENGTH(name) &&
            PyUnicode_Compare(e->name, name) == 0)
            return e;
    }
}

/* the entry of `name` (NULL: absent, or not an exact str: no exception left set) */
static fc_fam_t *fc_lookup(const fc_t *fc, PyObject *name) {
    Py_hash_t h;
    if (!PyUnicode_CheckExact(name)) return NULL;
    if ((h = PyObject_Hash(name)) == -1) {
        PyErr_Clear();
        return NULL;
    }
    return fc_find(fc, name, h);
}

/* fc_unlink, fc_append, fc_to_end (OrderedDict.move_to_end): the families' recency order (dlist.h) */
DLIST_OPS(fc, fc_t, ent, head, tail, int32_t, -1)

/* a new family at the end (n = 0, no counts); NULL with MemoryError */
static fc_fam_t *fc_insert(fc_t *fc, PyObject *name, Py_hash_t h) {
    int32_t pos;
    uint32_t i;
    fc_fam_t *e;
    if (fc->idx == NULL || 2 * (uint64_t)(fc->len + 1) > (uint64_t)fc->imask + 1) { /* the index half full at most */
        uint32_t slots = fc->idx == NULL ? 16 : 2 * (fc->imask + 1), *idx;
        int32_t p;
        while (2 * (uint64_t)(fc->len + 1) > slots) slots *= 2;
        if (slots > (1u << 30) || (idx = PyMem_Calloc(slots, sizeof(uint32_t))) == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        for (p = fc->head; p >= 0; p = fc->ent[p].next) {
            for (i = fc_hslot(fc->ent[p].hash, slots - 1); idx[i]; i = (i + 1) & (slots - 1)) {
            }
            idx[i] = (uint32_t)p + 1;
        }
        PyMem_Free(fc->idx);
        fc->idx = idx;
        fc->imask = slots - 1;
    }
    if (fc->free_head >= 0) {
        pos = fc->free_head;
        fc->free_head = fc->ent[pos].next;
    } else {
        if (fc->nent == fc->cent) {
            uint32_t c = fc->cent ? 2 * fc->cent : 8;
            fc_fam_t *ent;
            if (c > (1u << 30) || (ent = PyMem_Realloc(fc->ent, (size_t)c * sizeof(fc_fam_t))) == NULL) {
                PyErr_NoMemory();
                return NULL;
            }
            fc->ent = ent;
            fc->cent = c;
        }
        pos = (int32_t)fc->nent++;
    }
    e = &fc->ent[pos];
    memset(e, 0, sizeof(*e));
    e->name = Py_NewRef(name);
    e->hash = h;
    for (i = fc_hslot(h, fc->imask); fc->idx[i]; i = (i + 1) & fc->imask) {
    }
    fc->idx[i] = (uint32_t)pos + 1;
    fc_append(fc, pos);
    ++fc->len;
    return e;
}

/* OrderedDict.popitem(last=False): the oldest family out */
static void fc_pop_oldest(fc_t *fc) {
    int32_t pos = fc->head;
    fc_fam_t *e;
    uint32_t i, j, k;
    if (pos < 0) return;
    e = &fc->ent[pos];
    for (i = fc_hslot(e->hash, fc->imask); fc->idx[i] != (uint32_t)pos + 1; i = (i + 1) & fc->imask) {
    }
    /* backward-shift deletion: move up every later entry of the probe run whose home slot allows it */
    for (j = i;;) {
        j = (j + 1) & fc->imask;
        if (fc->idx[j] == 0) break;
        k = fc_hslot(fc->ent[fc->idx[j] - 1].hash, fc->imask);
        if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
            fc->idx[i] = fc->idx[j];
            i = j;
        }
    }
    fc->idx[i] = 0;
    fc_unlink(fc, pos);
    Py_CLEAR(e->name);
    PyMem_Free(e->kv);
    PyMem_Free(e->idx);
    memset(e, 0, sizeof(*e));
    e->prev = -1;
    e->next = fc->free_head;
    fc->free_head = pos;
    --fc->len;
}

static void fc_clear(fc_t *fc) {
    uint32_t p;
    for (p = 0; p < fc->nent; ++p) {
        fc_fam_t *e = &fc->ent[p];
        Py_CLEAR(e->name);
        PyMem_Free(e->kv);
        PyMem_Free(e->idx);
    }
    PyMem_Free(fc->ent);
    PyMem_Free(fc->idx);
    fc->ent = NULL;
    fc->idx = NULL;
    fc->nent = fc->cent = fc->imask = 0;
    fc->free_head = fc->head = fc->tail = -1;
    fc->len = 0;
}

/* the counting of MemoryLinkState._write_reference on checked input: the family (an exact str) got or created,
 * moved to the end, n += new_device, each key counted up; -1 with an exception (memory only) */
static int fc_count(fc_t *fc, PyObject *fam, int64_t new_device, const int64_t *keys, Py_ssize_t nkeys) {
    Py_hash_t h = PyObject_Hash(fam);
    fc_fam_t *e;
    Py_ssize_t i;
    if (h == -1) return -1;
    e = fc_find(fc, fam, h);
    if (e == NULL) {
        if ((e = fc_insert(fc, fam, h)) == NULL) return -1;
    } else {
        fc_to_end(fc, (int32_t)(e - fc->ent));
    }
    e->n += new_device;
    for (i = 0; i < nkeys; ++i) {
        if (fc_kv_add(e, keys[i], 1, 0) != 0) return -1;
    }
    return 0;
}

/* keys (a tuple or list of ints that fit an int64) into out (at least len(keys) long); -1 with TypeError /
 * OverflowError */
static int fc_read_keys(PyObject *keys, int64_t *out) {
    Py_ssize_t i, n = PySequence_Fast_GET_SIZE(keys);
    PyObject **items = PySequence_Fast_ITEMS(keys);
    for (i = 0; i < n; ++i) {
        if (!PyLong_Check(items[i])) {
            PyErr_Format(PyExc_TypeError, "a value-count key must be an int. Got %.100s instead.",
                         Py_TYPE(items[i])->tp_name);
            return -1;
        }
        if (as_i64(items[i], &out[i]) != 0) {
            PyErr_SetString(PyExc_OverflowError, "a value-count key must fit 64 bits");
            return -1;
        }
    }
    return 0;
}

/* ---- the Python face ---------------------------------------------------------------------------------- */
/* [n, {key: count}] of a family (new reference) */
static PyObject *fc_family_list(const fc_fam_t *e) {
    PyObject *d = PyDict_New(), *n;
    uint32_t j;
    if (d == NULL) return NULL;
    for (j = 0; j < e->nkv; ++j) {
        PyObject *k = PyLong_FromLongLong(e->kv[j].key), *v = PyLong_FromLongLong(e->kv[j].val);
        if (k == NULL || v == NULL || PyDict_SetItem(d, k, v) != 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    if ((n = PyLong_FromLongLong(e->n)) == NULL) {
        Py_DECREF(d);
        return NULL;
    }
    return Py_BuildValue("[NN]", n, d);
}

static PyObject *fc_load_m(fc_t *fc, PyObject *const *args, Py_ssize_t nargs);

/* FamilyCounts(items=()): items as items() gives them, (family, [n, {key: count}]) pairs (copies, pickles) */
static PyObject *fc_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    fc_t *fc;
    PyObject *src = NULL, *it, *pair;
    if ((kw != NULL && PyDict_GET_SIZE(kw) != 0) || !PyArg_UnpackTuple(args, "FamilyCounts", 0, 1, &src)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "FamilyCounts(items=())");
        return NULL;
    }
    if ((fc = (fc_t *)type->tp_alloc(type, 0)) == NULL) return NULL;
    fc->free_head = fc->head = fc->tail = -1;
    if (src == NULL) return (PyObject *)fc;
    if ((it = PyObject_GetIter(src)) == NULL) goto fail;
    while ((pair = PyIter_Next(it)) != NULL) {
        PyObject *a[3], *r = NULL, *f;
        if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2 && PyList_Check(f = PyTuple_GET_ITEM(pair, 1)) &&
            PyList_GET_SIZE(f) == 2) {
            a[0] = PyTuple_GET_ITEM(pair, 0);
            a[1] = PyList_GET_ITEM(f, 0);
            a[2] = PyList_GET_ITEM(f, 1);
            r = fc_load_m(fc, a, 3);
        } else {
            PyErr_SetString(PyExc_TypeError, "FamilyCounts(items): (family, [n, {key: count}]) pairs");
        }
        Py_DECREF(pair);
        if (r == NULL) {
            Py_DECREF(it);
            goto fail;
        }
        Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) goto fail;
    return (PyObject *)fc;
fail:
    Py_DECREF(fc);
    return NULL;
}

static void fc_dealloc(fc_t *fc) {
    fc_clear(fc);
    Py_TYPE(fc)->tp_free((PyObject *)fc);
}

static Py_ssize_t fc_len(fc_t *fc) { return fc->len; }

static PyObject *fc_subscript(fc_t *fc, PyObject *name) {
    fc_fam_t *e;
    if (PyObject_Hash(name) == -1) return NULL;
    if ((e = fc_lookup(fc, name)) == NULL) {
        PyErr_SetObject(PyExc_KeyError, name);
        return NULL;
    }
    return fc_family_list(e);
}

static int fc_contains(fc_t *fc, PyObject *name) {
    if (PyObject_Hash(name) == -1) return -1;
    return fc_lookup(fc, name) != NULL;
}

static PyObject *fc_get(fc_t *fc, PyObject *const *args, Py_ssize_t nargs) {
    fc_fam_t *e;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(family, default=None)");
        return NULL;
    }
    if (PyObject_Hash(args[0]) == -1) return NULL;
    if ((e = fc_lookup(fc, args[0])) == NULL) return Py_NewRef(nargs == 2 ? args[1] : Py_None);
    return fc_family_list(e);
}

/* what = 0 keys, 1 values, 2 items: a list in recency order (oldest first) */
static PyObject *fc_listing(fc_t *fc, int what) {
    PyObject *out = PyList_New(0), *o;
    int32_t p;
    if (out == NULL) return NULL;
    for (p = fc->head; p >= 0; p = fc->ent[p].next) {
        const fc_fam_t *e = &fc->ent[p];
        if (what == 0) {
            o = Py_NewRef(e->name);
        } else if ((o = fc_family_list(e)) != NULL && what == 2) {
            o = Py_BuildValue("(ON)", e->name, o);
        }
        if (o == NULL || PyList_Append(out, o) != 0) {
            Py_XDECREF(o);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(o);
    }
    return out;
}

static PyObject *fc_keys_m(fc_t *fc, PyObject *unused) { (void)unused; return fc_listing(fc, 0); }
static PyObject *fc_values_m(fc_t *fc, PyObject *unused) { (void)unused; return fc_listing(fc, 1); }
static PyObject *fc_items_m(fc_t *fc, PyObject *unused) { (void)unused; return fc_listing(fc, 2); }

/* copy / deepcopy / pickle: FamilyCounts(items) */
static PyObject *fc_reduce_m(fc_t *fc, PyObject *unused) {
    PyObject *items = fc_listing(fc, 2);
    (void)unused;
    if (items == NULL) return NULL;
    return Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(fc), items);
}

static PyObject *fc_iter(fc_t *fc) {
    PyObject *keys = fc_listing(fc, 0), *it;
    if (keys == NULL) return NULL;
    it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

/* count(family, new_device, keys): see fc_count; every argument checked before anything changes */
static PyObject *fc_count_m(fc_t *fc, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *keys;
    int64_t nd, stack[32], *kv = stack;
    Py_ssize_t n;
    int r;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "count(family, new_device, keys)");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[0])) {
        PyErr_Format(PyExc_TypeError, "a family must be a str. Got %.100s instead.", Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    if (!PyLong_Check(args[1]) || as_i64(args[1], &nd) != 0) {
        PyErr_SetString(PyExc_TypeError, "new_device must be a bool");
        return NULL;
    }
    if ((keys = PySequence_Fast(args[2], "keys must be a sequence of ints")) == NULL) return NULL;
    n = PySequence_Fast_GET_SIZE(keys);
    if (n > 32 && (kv = PyMem_Malloc((size_t)n * sizeof(int64_t))) == NULL) {
        Py_DECREF(keys);
        return PyErr_NoMemory();
    }
    r = fc_read_keys(keys, kv);
    if (r == 0) r = fc_count(fc, args[0], nd, kv, n);
    if (kv != stack) PyMem_Free(kv);
    Py_DECREF(keys);
    if (r != 0) return NULL;
    Py_RETURN_NONE;
}

/* bound(limit): the oldest families out while more than limit */
static PyObject *fc_bound_m(fc_t *fc, PyObject *arg) {
    Py_ssize_t lim = PyLong_AsSsize_t(arg);
    if (lim == -1 && PyErr_Occurred()) return NULL;
    while (fc->len > lim && fc->len > 0) fc_pop_oldest(fc);
    Py_RETURN_NONE;
}

/* load(family, n, counts): family[...] = [n, dict(counts)] as the restore's OrderedDict would hold it (a family
 * already there keeps its place); counts a dict of ints (a later equal key replaces an earlier one) */
static PyObject *fc_load_m(fc_t *fc, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *k, *v;
    Py_ssize_t pos = 0, i = 0, m;
    int64_t n, *kv;
    Py_hash_t h;
    fc_fam_t *e;
    int32_t epos;
    if (nargs != 3 || !PyUnicode_CheckExact(args[0]) || !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "load(family: str, n: int, counts: dict)");
        return NULL;
    }
    if (!PyLong_Check(args[1]) || as_i64(args[1], &n) != 0) {
        PyErr_SetString(PyExc_OverflowError, "a family's device count must be an int of 64 bits");
        return NULL;
    }
    m = PyDict_GET_SIZE(args[2]);
    if ((kv = PyMem_Malloc((size_t)(2 * m + 1) * sizeof(int64_t))) == NULL) return PyErr_NoMemory();
    while (PyDict_Next(args[2], &pos, &k, &v)) {
        if (!PyLong_Check(k) || !PyLong_Check(v) || as_i64(k, &kv[2 * i]) != 0 || as_i64(v, &kv[2 * i + 1]) != 0) {
            PyMem_Free(kv);
            PyErr_SetString(PyExc_OverflowError, "a value count's key and count must be ints of 64 bits");
            return NULL;
        }
        ++i;
    }
    if ((h = PyObject_Hash(args[0])) == -1) {
        PyMem_Free(kv);
        return NULL;
    }
    if ((e = fc_find(fc, args[0], h)) == NULL) {
        if ((e = fc_insert(fc, args[0], h)) == NULL) {
            PyMem_Free(kv);
            return NULL;
        }
    } else { /* replaced in place: its counts start again */
        e->nkv = 0;
        if (e->idx != NULL) memset(e->idx, 0, ((size_t)e->imask + 1) * sizeof(uint32_t));
    }
    epos = (int32_t)(e - fc->ent);
    fc->ent[epos].n = n;
    for (i = 0; i < m; ++i) {
        if (fc_kv_add(&fc->ent[epos], kv[2 * i], kv[2 * i + 1], 1) != 0) {
            PyMem_Free(kv);
            return NULL;
        }
    }
    PyMem_Free(kv);
    Py_RETURN_NONE;
}

static PyMethodDef fc_methods[] = {
    {"get", (PyCFunction)(void (*)(void))fc_get, METH_FASTCALL,
     "get(family, default=None) -> [n, {key: count}] (a copy), or default."},
    {"keys", (PyCFunction)fc_keys_m, METH_NOARGS, "The families, oldest first (a list)."},
    {"values", (PyCFunction)fc_values_m, METH_NOARGS, "[n, {key: count}] per family, oldest first (copies)."},
    {"items", (PyCFunction)fc_items_m, METH_NOARGS, "(family, [n, {key: count}]) pairs, oldest first (copies)."},
    {"count", (PyCFunction)(void (*)(void))fc_count_m, METH_FASTCALL,
     "count(family, new_device, keys): to the end, n += new_device, each key's count + 1."},
    {"__reduce__", (PyCFunction)fc_reduce_m, METH_NOARGS, "FamilyCounts(items): copies keep the order."},
    {"bound", (PyCFunction)fc_bound_m, METH_O, "bound(limit): the oldest families out while more than limit."},
    {"load", (PyCFunction)(void (*)(void))fc_load_m, METH_FASTCALL,
     "load(family, n, counts): set a family (at the end when new) from a dict of counts."},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods fc_as_mapping = {(lenfunc)fc_len, (binaryfunc)fc_subscript, NULL};
static PySequenceMethods fc_as_sequence = {.sq_contains = (objobjproc)fc_contains};

static PyTypeObject FC_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.linkstate.FamilyCounts",
    .tp_basicsize = sizeof(fc_t),
    .tp_dealloc = (destructor)fc_dealloc,
    .tp_as_mapping = &fc_as_mapping,
    .tp_as_sequence = &fc_as_sequence,
    .tp_iter = (getiterfunc)fc_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MemoryLinkState's family value counts in C: family -> [n, {key: count}], in recency order.",
    .tp_methods = fc_methods,
    .tp_new = fc_new,
};

#endif /* FRAUDSCORE_LINKSTATE_COUNTS_H */
