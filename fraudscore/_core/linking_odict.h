/*
 * An OrderedDict's keys, last to first, without its iterator (round 10; included by linking.c for the walk).
 *
 * reversed(OrderedDict) checks, per key, that the dict did not change under it: a lookup of the key in the
 * dict (_odict_get_index) -- about 50 of the ~60 instructions an item costs, 8k instructions a link call on
 * the scorer stream. The walk runs no Python code while it reads a block's ids, so the block cannot change
 * there, and the order can be read from the OrderedDict's own doubly-linked list (od_last, then each node's
 * prev). The list is CPython's private layout (Objects/odictobject.c, unchanged from 3.7 to 3.13): checked at
 * import on real OrderedDicts (the type's size; the order, forwards and backwards, after appends, a
 * move_to_end, a delete and a re-insert), and used only where that check passed and only on exact
 * OrderedDicts; otherwise, and on other Python versions, the iterator (the same ids in the same order).
 */
#ifndef FRAUDSCORE_LINKING_ODICT_H
#define FRAUDSCORE_LINKING_ODICT_H

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000 && !defined(Py_LIMITED_API) && \
    !defined(Py_GIL_DISABLED)
#define ODICT_LIST 1
typedef struct od_node_s {
    PyObject *key;
    Py_hash_t hash;
    struct od_node_s *next;
    struct od_node_s *prev;
} od_node_t;

typedef struct {
    PyDictObject od_dict;
    od_node_t *od_first;
    od_node_t *od_last;
    void *od_fast_nodes;
    Py_ssize_t od_fast_nodes_size;
    void *od_resize_sentinel;
    size_t od_state;
    PyObject *od_inst_dict;
    PyObject *od_weakreflist;
} od_mirror_t;
#else
#define ODICT_LIST 0
#endif

static int ODICT_OK; /* set by odict_check(): the list layout was verified on this interpreter */

#if ODICT_LIST
/* 1 when od's keys, read through the list both ways, are the str keys of `want` (a tuple) in order */
static int odict_matches(PyObject *od, PyObject *want) {
    const od_mirror_t *o = (const od_mirror_t *)od;
    const od_node_t *nd;
    Py_ssize_t n = PyTuple_GET_SIZE(want), i = 0;
    if (PyDict_GET_SIZE(od) != n) return 0;
    for (nd = o->od_first; nd != NULL && i < n; nd = nd->next, ++i) {
        if (nd->key != PyTuple_GET_ITEM(want, i) || (i == 0 && nd->prev != NULL)) return 0;
    }
    if (nd != NULL || i != n) return 0;
    for (nd = o->od_last; nd != NULL && i > 0; nd = nd->prev, --i) {
        if (nd->key != PyTuple_GET_ITEM(want, i - 1) || (i == n && nd->next != NULL)) return 0;
    }
    return nd == NULL && i == 0;
}
#endif

#if ODICT_LIST
/* one step of the import check on d; 0 on an error (the check then fails, quietly) */
static int odict_step(PyObject *d, int op, const char *key, int last) {
    PyObject *k = PyUnicode_FromString(key), *res = NULL;
    int ok = 0;
    if (k == NULL) return 0;
    switch (op) {
    case 0: ok = PyObject_SetItem(d, k, Py_None) == 0; break;  /* d[k] = None */
    case 1: ok = PyObject_DelItem(d, k) == 0; break;            /* del d[k] */
    default:                                                    /* d.move_to_end(k, last) */
        res = PyObject_CallMethod(d, "move_to_end", "OO", k, last ? Py_True : Py_False);
        ok = res != NULL;
        Py_XDECREF(res);
    }
    Py_DECREF(k);
    return ok;
}

/* after a step: the iterator's order (tuple(d)) must be the list's, both ways */
static int odict_agrees(PyObject *d) {
    PyObject *r = PySequence_Tuple(d);
    int ok = r != NULL && odict_matches(d, r);
    Py_XDECREF(r);
    return ok;
}
#endif

/* at import: ODICT_OK = the layout holds on this interpreter (0 otherwise; never an error). The check is a
 * fixed history of C-API calls on a real OrderedDict: appends, move_to_end both ways, deletes, a re-insert and
 * a resize; after each step the list read both ways must equal the iterator's order. */
static void odict_check(PyTypeObject *odtype) {
    ODICT_OK = 0;
#if ODICT_LIST
    {
        static const char *const first[] = {"a", "b", "c", "d", "e"};
        char key[16];
        PyObject *d = NULL;
        int i, ok = odtype->tp_basicsize == (Py_ssize_t)sizeof(od_mirror_t);
        if (ok) ok = (d = PyObject_CallNoArgs((PyObject *)odtype)) != NULL && Py_TYPE(d) == odtype;
        for (i = 0; ok && i < 5; ++i) ok = odict_step(d, 0, first[i], 1) && odict_agrees(d);
        if (ok) ok = odict_step(d, 2, "a", 1) && odict_agrees(d);
        if (ok) ok = odict_step(d, 1, "c", 1) && odict_agrees(d);
        if (ok) ok = odict_step(d, 0, "c", 1) && odict_agrees(d);
        if (ok) ok = odict_step(d, 2, "b", 0) && odict_agrees(d);
        if (ok) ok = odict_step(d, 1, "e", 1) && odict_agrees(d);
        for (i = 0; ok && i < 40; ++i) {
            snprintf(key, sizeof key, "%d", i);
            ok = odict_step(d, 0, key, 1);
        }
        if (ok) ok = odict_agrees(d);
        for (i = 0; ok && i < 40; i += 3) {
            snprintf(key, sizeof key, "%d", i);
            ok = odict_step(d, 1, key, 1);
        }
        if (ok) ok = odict_agrees(d) && odict_step(d, 2, "7", 1) && odict_agrees(d);
        PyErr_Clear();
        Py_XDECREF(d);
        ODICT_OK = ok;
    }
#else
    (void)odtype;
#endif
}

/* the keys of od (an exact OrderedDict, ODICT_OK) last to first into ids (new references), at most cap; the
 * count, or -1 when the list and the dict disagree on the size (the caller hands over) */
static Py_ssize_t odict_keys_reversed(PyObject *od, PyObject **ids, Py_ssize_t cap) {
#if ODICT_LIST
    const od_node_t *nd = ((const od_mirror_t *)od)->od_last;
    Py_ssize_t m = 0;
    while (nd != NULL && m < cap) {
        PyObject *k = nd->key;
        __builtin_prefetch(k); /* its hash, read by the lookups that follow */
        Py_INCREF(k);
        ids[m++] = k;
        nd = nd->prev;
    }
    if (nd != NULL || m != PyDict_GET_SIZE(od)) {
        while (m > 0) Py_DECREF(ids[--m]);
        return -1;
    }
    return m;
#else
    (void)od;
    (void)ids;
    (void)cap;
    return -1;
#endif
}

#endif /* FRAUDSCORE_LINKING_ODICT_H */
