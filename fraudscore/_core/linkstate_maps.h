/*
 * RecencyMap (round 13, `linkc`): the recency-ordered str -> object maps of MemoryLinkState owned by C -- the
 * devices (id -> record), the exact index (fingerprint id -> [device id, devices seen]) and the blocks (key ->
 * OrderedDict of device ids) -- in place of the reference's OrderedDicts (fraudscore/fingerprint/linkstate.py).
 *
 * Layout: entries (key: an exact str, held; value: held; the key's hash) in an array, found through an
 * open-addressing index on the hash (Fibonacci hashing, linear probing, deletion by backward shift) and chained in
 * recency order by an intrusive doubly-linked list (oldest first): OrderedDict's insert-at-end, move_to_end and
 * popitem(last=False) are a few pointer moves instead of its node table and method calls. The values are the very
 * objects stored (records stay dicts: the kernels and the reference read and change the same objects).
 *
 * The Python face is the part of OrderedDict that MemoryLinkState uses: len, in, [], []=, get, move_to_end,
 * popitem, pop, del, keys / values / items (lists, in order), iteration and reversed() (over a copy of the keys), and
 * construction from (key, value) pairs. Keys must be exact str (another raises TypeError, nothing changed).
 *
 * Included by linkstate.c (which defines and exports the type: RM_DEFINE_TYPE) and by linking.c (the walk reads
 * the maps through rm_get; the type object is handed to it by ``linking.use_maps``).
 */
#ifndef FRAUDSCORE_LINKSTATE_MAPS_H
#define FRAUDSCORE_LINKSTATE_MAPS_H

#include "dlist.h"

#define RM_GOLDEN 0x9E3779B97F4A7C15ull

typedef struct {
    PyObject *key;      /* exact str (owned); NULL: a free entry */
    PyObject *value;    /* owned */
    Py_hash_t hash;
    int32_t prev, next; /* recency order (entry positions, -1: none); `next` also chains the free entries */
} rm_ent_t;

typedef struct {
    PyObject_HEAD
    rm_ent_t *ent;
    uint32_t nent, cent; /* entries ever used, allocated */
    int32_t free_head;
    uint32_t *idx;       /* entry position + 1 per slot, 0 empty */
    uint32_t imask;
    int32_t head, tail;  /* oldest, newest */
    Py_ssize_t len;
} rm_t;

static inline uint32_t rm_slot(Py_hash_t h, uint32_t mask) {
    return (uint32_t)(((uint64_t)h * RM_GOLDEN) >> 32) & mask;
}

static inline int rm_key_eq(PyObject *a, PyObject *b) {
    Py_ssize_t n;
    if (a == b) return 1;
    n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) return 0;
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * PyUnicode_KIND(a)) == 0;
}

/* hash of an exact str (cached in the object) */
static inline Py_hash_t rm_hash(PyObject *key) {
    Py_hash_t h = ((PyASCIIObject *)key)->hash;
    return h != -1 ? h : PyObject_Hash(key);
}

/* the entry of key (an exact str with hash h), or NULL */
static inline rm_ent_t *rm_find(const rm_t *m, PyObject *key, Py_hash_t h) {
    uint32_t i, p;
    if (m->idx == NULL) return NULL;
    for (i = rm_slot(h, m->imask);; i = (i + 1) & m->imask) {
        rm_ent_t *e;
        p = m->idx[i];
        if (p == 0) return NULL;
        e = &m->ent[p - 1];
        if (e->key == key || (e->hash == h && rm_key_eq(e->key, key))) return e;
    }
}

/* m[key] (borrowed) or NULL; key must be an exact str (NULL with an exception only when hashing fails) */
static inline PyObject *rm_get(const rm_t *m, PyObject *key) {
    Py_hash_t h = rm_hash(key);
    rm_ent_t *e;
    if (h == -1) return NULL;
    e = rm_find(m, key, h);
    return e != NULL ? e->value : NULL;
}

#ifdef RM_DEFINE_TYPE
static PyTypeObject RM_Type;

/* rm_unlink, rm_append, rm_to_end (OrderedDict.move_to_end): the entries' recency order (dlist.h) */
DLIST_OPS(rm, rm_t, ent, head, tail, int32_t, -1)

/* a map left out of the collector (its values None, str, untracked containers) goes back in when it receives a
 * GC container, as CPython's dicts do */
static inline void rm_track_for(rm_t *m, PyObject *value) {
    if (PyObject_IS_GC(value) && !PyObject_GC_IsTracked((PyObject *)m)) PyObject_GC_Track((PyObject *)m);
}

/* a new entry at the end (key not present); -1 with MemoryError */
static int rm_insert(rm_t *m, PyObject *key, Py_hash_t h, PyObject *value) {
    int32_t pos;
    uint32_t i;
    rm_ent_t *e;
    if (m->idx == NULL || 2 * (uint64_t)(m->len + 1) > (uint64_t)m->imask + 1) { /* at most half full */
        uint32_t slots = m->idx == NULL ? 8 : 2 * (m->imask + 1), *idx;
        int32_t p;
        while (2 * (uint64_t)(m->len + 1) > slots) slots *= 2;
        if (slots > (1u << 31) || (idx = PyMem_Calloc(slots, sizeof(uint32_t))) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (p = m->head; p >= 0; p = m->ent[p].next) {
            for (i = rm_slot(m->ent[p].hash, slots - 1); idx[i]; i = (i + 1) & (slots - 1)) {
            }
            idx[i] = (uint32_t)p + 1;
        }
        PyMem_Free(m->idx);
        m->idx = idx;
        m->imask = slots - 1;
    }
    if (m->free_head >= 0) {
        pos = m->free_head;
        m->free_head = m->ent[pos].next;
    } else {
        if (m->nent == m->cent) {
            uint32_t c = m->cent ? 2 * m->cent : 4;
            rm_ent_t *ent;
            if (c > (1u << 30) || (ent = PyMem_Realloc(m->ent, (size_t)c * sizeof(rm_ent_t))) == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            m->ent = ent;
            m->cent = c;
        }
        pos = (int32_t)m->nent++;
    }
    e = &m->ent[pos];
    e->key = Py_NewRef(key);
    e->value = Py_NewRef(value);
    rm_track_for(m, value);
    e->hash = h;
    for (i = rm_slot(h, m->imask); m->idx[i]; i = (i + 1) & m->imask) {
    }
    m->idx[i] = (uint32_t)pos + 1;
    rm_append(m, pos);
    ++m->len;
    return 0;
}

/* m[key] = value (key an exact str); to_end: then move_to_end(key). -1 with an exception */
static int rm_set(rm_t *m, PyObject *key, PyObject *value, int to_end) {
    Py_hash_t h = rm_hash(key);
    rm_ent_t *e;
    if (h == -1) return -1;
    if ((e = rm_find(m, key, h)) == NULL) return rm_insert(m, key, h, value);
    if (to_end) rm_to_end(m, (int32_t)(e - m->ent));
    if (e->value != value) { /* (the old value released last: its release may run code) */
        PyObject *old = e->value;
        e->value = Py_NewRef(value);
        rm_track_for(m, value);
        Py_DECREF(old);
    }
    return 0;
}

/* move_to_end(key): 1 moved, 0 absent, -1 error */
static int rm_move_end(rm_t *m, PyObject *key) {
    Py_hash_t h = rm_hash(key);
    rm_ent_t *e;
    if (h == -1) return -1;
    if ((e = rm_find(m, key, h)) == NULL) return 0;
    rm_to_end(m, (int32_t)(e - m->ent));
    return 1;
}

/* take entry pos out (its key and value handed to the caller: new references) */
static void rm_remove(rm_t *m, int32_t pos, PyObject **key, PyObject **value) {
    rm_ent_t *e = &m->ent[pos];
    uint32_t i, j, k;
    for (i = rm_slot(e->hash, m->imask); m->idx[i] != (uint32_t)pos + 1; i = (i + 1) & m->imask) {
    }
    for (j = i;;) { /* backward-shift deletion */
        j = (j + 1) & m->imask;
        if (m->idx[j] == 0) break;
        k = rm_slot(m->ent[m->idx[j] - 1].hash, m->imask);
        if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
            m->idx[i] = m->idx[j];
            i = j;
        }
    }
    m->idx[i] = 0;
    rm_unlink(m, pos);
    *key = e->key;
    *value = e->value;
    e->key = e->value = NULL;
    e->next = m->free_head;
    m->free_head = pos;
    --m->len;
}

/* popitem(last=False) without the pair: the oldest entry out (references dropped) */
static void rm_drop_oldest(rm_t *m) {
    PyObject *k, *v;
    if (m->head < 0) return;
    rm_remove(m, m->head, &k, &v);
    Py_DECREF(k);
    Py_DECREF(v);
}

static int rm_check_key(PyObject *key) {
    if (PyUnicode_CheckExact(key)) return 0;
    PyErr_Format(PyExc_TypeError, "a RecencyMap key must be a str. Got %.100s instead.", Py_TYPE(key)->tp_name);
    return -1;
}

/* ---- the Python face -------------------------------------------------------------------------------------- */
static int rm_clear(rm_t *m) {
    uint32_t p;
    rm_ent_t *ent = m->ent;
    uint32_t n = m->nent;
    m->ent = NULL;
    PyMem_Free(m->idx);
    m->idx = NULL;
    m->nent = m->cent = m->imask = 0;
    m->free_head = m->head = m->tail = -1;
    m->len = 0;
    for (p = 0; p < n; ++p) {
        Py_XDECREF(ent[p].key);
        Py_XDECREF(ent[p].value);
    }
    PyMem_Free(ent);
    return 0;
}

static int rm_traverse(rm_t *m, visitproc visit, void *arg) {
    uint32_t p;
    for (p = 0; p < m->nent; ++p) Py_VISIT(m->ent[p].value);
    return 0;
}

static void rm_dealloc(rm_t *m) {
    PyObject_GC_UnTrack(m);
    Py_TRASHCAN_BEGIN(m, rm_dealloc)
    rm_clear(m);
    Py_TYPE(m)->tp_free((PyObject *)m);
    Py_TRASHCAN_END
}

static PyObject *rm_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    rm_t *m;
    PyObject *src = NULL, *it, *pair;
    if ((kw != NULL && PyDict_GET_SIZE(kw) != 0) || !PyArg_UnpackTuple(args, "RecencyMap", 0, 1, &src)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "RecencyMap(pairs=())");
        return NULL;
    }
    if ((m = (rm_t *)type->tp_alloc(type, 0)) == NULL) return NULL;
    m->free_head = m->head = m->tail = -1;
    if (src == NULL) return (PyObject *)m;
    if ((it = PyObject_GetIter(src)) == NULL) goto fail;
    while ((pair = PyIter_Next(it)) != NULL) {
        PyObject *k, *v;
        int r;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            Py_DECREF(it);
            PyErr_SetString(PyExc_TypeError, "RecencyMap(pairs): (key, value) tuples");
            goto fail;
        }
        k = PyTuple_GET_ITEM(pair, 0);
        v = PyTuple_GET_ITEM(pair, 1);
        r = rm_check_key(k) != 0 ? -1 : rm_set(m, k, v, 0);
        Py_DECREF(pair);
        if (r != 0) {
            Py_DECREF(it);
            goto fail;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) goto fail;
    return (PyObject *)m;
fail:
    Py_DECREF(m);
    return NULL;
}

static Py_ssize_t rm_len(rm_t *m) { return m->len; }

static PyObject *rm_subscript(rm_t *m, PyObject *key) {
    PyObject *v;
    if (rm_check_key(key) != 0) {
        if (PyObject_Hash(key) == -1) return NULL;
        PyErr_Clear();
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    if ((v = rm_get(m, key)) == NULL) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return Py_NewRef(v);
}

/* the entry of key out (its value: a new reference), or NULL: absent (no exception) or an error */
static PyObject *rm_take(rm_t *m, PyObject *key) {
    Py_hash_t h;
    rm_ent_t *e;
    PyObject *k, *v;
    if (!PyUnicode_CheckExact(key)) return PyObject_Hash(key) == -1 ? NULL : NULL;
    if ((h = rm_hash(key)) == -1 || (e = rm_find(m, key, h)) == NULL) return NULL;
    rm_remove(m, (int32_t)(e - m->ent), &k, &v);
    Py_DECREF(k);
    return v;
}

static int rm_ass_subscript(rm_t *m, PyObject *key, PyObject *value) {
    if (value == NULL) { /* del m[key] */
        PyObject *v = rm_take(m, key);
        if (v == NULL) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
            return -1;
        }
        Py_DECREF(v);
        return 0;
    }
    if (rm_check_key(key) != 0) return -1;
    return rm_set(m, key, value, 0);
}

static PyObject *rm_pop_m(rm_t *m, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *v;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    if ((v = rm_take(m, args[0])) != NULL || PyErr_Occurred()) return v;
    if (nargs == 2) return Py_NewRef(args[1]);
    PyErr_SetObject(PyExc_KeyError, args[0]);
    return NULL;
}

static int rm_contains(rm_t *m, PyObject *key) {
    if (!PyUnicode_CheckExact(key)) return PyObject_Hash(key) == -1 ? -1 : 0;
    if (rm_get(m, key) != NULL) return 1;
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *rm_get_m(rm_t *m, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *v;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[0])) {
        if (PyObject_Hash(args[0]) == -1) return NULL;
        v = NULL;
    } else if ((v = rm_get(m, args[0])) == NULL && PyErr_Occurred()) {
        return NULL;
    }
    return Py_NewRef(v != NULL ? v : nargs == 2 ? args[1] : Py_None);
}

static PyObject *rm_move_to_end_m(rm_t *m, PyObject *key) {
    int r;
    if (rm_check_key(key) != 0) return NULL;
    if ((r = rm_move_end(m, key)) < 0) return NULL;
    if (r == 0) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *rm_popitem_m(rm_t *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    int last = 1;
    PyObject *k, *v;
    Py_ssize_t nk = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nk > 1 || (nk == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "last") != 0)) {
        PyErr_SetString(PyExc_TypeError, "popitem(last=True)");
        return NULL;
    }
    if (nargs + nk == 1 && (last = PyObject_IsTrue(args[0])) < 0) return NULL;
    if (m->len == 0) {
        PyErr_SetString(PyExc_KeyError, "dictionary is empty");
        return NULL;
    }
    rm_remove(m, last ? m->tail : m->head, &k, &v);
    return Py_BuildValue("(NN)", k, v);
}

/* what = 0 keys, 1 values, 2 items; reverse: newest first */
static PyObject *rm_listing(rm_t *m, int what, int reverse) {
    PyObject *out = PyList_New(m->len), *o;
    int32_t p;
    Py_ssize_t i = 0;
    if (out == NULL) return NULL;
    for (p = reverse ? m->tail : m->head; p >= 0; p = reverse ? m->ent[p].prev : m->ent[p].next) {
        const rm_ent_t *e = &m->ent[p];
        o = what == 0 ? Py_NewRef(e->key) : what == 1 ? Py_NewRef(e->value) : PyTuple_Pack(2, e->key, e->value);
        if (o == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i++, o);
    }
    return out;
}

static PyObject *rm_keys_m(rm_t *m, PyObject *unused) { (void)unused; return rm_listing(m, 0, 0); }
static PyObject *rm_values_m(rm_t *m, PyObject *unused) { (void)unused; return rm_listing(m, 1, 0); }
static PyObject *rm_items_m(rm_t *m, PyObject *unused) { (void)unused; return rm_listing(m, 2, 0); }

static PyObject *rm_iter_of(rm_t *m, int reverse) {
    PyObject *keys = rm_listing(m, 0, reverse), *it;
    if (keys == NULL) return NULL;
    it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyObject *rm_iter(rm_t *m) { return rm_iter_of(m, 0); }

/* == and != as OrderedDict compares: with a RecencyMap or an OrderedDict, the items in order; with another dict,
 * the items in any order */
static PyObject *rm_richcompare(rm_t *m, PyObject *other, int op) {
    PyObject *a = NULL, *b = NULL, *r;
    if ((op != Py_EQ && op != Py_NE) || !(Py_TYPE(other) == Py_TYPE(m) || PyDict_Check(other)))
        Py_RETURN_NOTIMPLEMENTED;
    if ((a = rm_listing(m, 2, 0)) == NULL) return NULL;
    if (Py_TYPE(other) == Py_TYPE(m)) {
        b = rm_listing((rm_t *)other, 2, 0);
    } else if (PyODict_Check(other)) {
        PyObject *it = PyObject_CallMethod(other, "items", NULL);
        b = it != NULL ? PySequence_List(it) : NULL;
        Py_XDECREF(it);
    } else { /* a plain dict: as dict(self) == other */
        PyObject *d = PyDict_New();
        Py_ssize_t i;
        for (i = 0; d != NULL && i < PyList_GET_SIZE(a); ++i) {
            PyObject *kv = PyList_GET_ITEM(a, i);
            if (PyDict_SetItem(d, PyTuple_GET_ITEM(kv, 0), PyTuple_GET_ITEM(kv, 1)) != 0) Py_CLEAR(d);
        }
        Py_SETREF(a, d);
        b = Py_NewRef(other);
    }
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    r = PyObject_RichCompare(a, b, op);
    Py_DECREF(a);
    Py_DECREF(b);
    return r;
}

/* copy / deepcopy / pickle: RecencyMap(items) */
static PyObject *rm_reduce_m(rm_t *m, PyObject *unused) {
    PyObject *items = rm_listing(m, 2, 0);
    (void)unused;
    if (items == NULL) return NULL;
    return Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(m), items);
}
static PyObject *rm_reversed_m(rm_t *m, PyObject *unused) { (void)unused; return rm_iter_of(m, 1); }

static PyMethodDef rm_methods[] = {
    {"get", (PyCFunction)(void (*)(void))rm_get_m, METH_FASTCALL, "get(key, default=None)."},
    {"pop", (PyCFunction)(void (*)(void))rm_pop_m, METH_FASTCALL, "pop(key[, default]): the key out, its value."},
    {"move_to_end", (PyCFunction)rm_move_to_end_m, METH_O, "move_to_end(key): the most recent (KeyError if absent)."},
    {"popitem", (PyCFunction)(void (*)(void))rm_popitem_m, METH_FASTCALL | METH_KEYWORDS,
     "popitem(last=True) -> (key, value): the newest (or oldest) out."},
    {"keys", (PyCFunction)rm_keys_m, METH_NOARGS, "The keys, oldest first (a list)."},
    {"values", (PyCFunction)rm_values_m, METH_NOARGS, "The values, oldest first (a list)."},
    {"items", (PyCFunction)rm_items_m, METH_NOARGS, "(key, value) pairs, oldest first (a list)."},
    {"__reversed__", (PyCFunction)rm_reversed_m, METH_NOARGS, "The keys, newest first."},
    {"__reduce__", (PyCFunction)rm_reduce_m, METH_NOARGS, "RecencyMap(items): copies keep the order."},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods rm_as_mapping = {(lenfunc)rm_len, (binaryfunc)rm_subscript, (objobjargproc)rm_ass_subscript};
static PySequenceMethods rm_as_sequence = {.sq_contains = (objobjproc)rm_contains};

static PyTypeObject RM_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.linkstate.RecencyMap",
    .tp_basicsize = sizeof(rm_t),
    .tp_dealloc = (destructor)rm_dealloc,
    .tp_as_mapping = &rm_as_mapping,
    .tp_as_sequence = &rm_as_sequence,
    .tp_iter = (getiterfunc)rm_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A recency-ordered map of str keys (OrderedDict's insert, move_to_end and popitem) owned by C.",
    .tp_traverse = (traverseproc)rm_traverse,
    .tp_richcompare = (richcmpfunc)rm_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_clear = (inquiry)rm_clear,
    .tp_methods = rm_methods,
    .tp_new = rm_new,
};
#endif /* RM_DEFINE_TYPE */

#endif /* FRAUDSCORE_LINKSTATE_MAPS_H */
