/*
 * A slot attribute read without the generic attribute machinery (round 12, #13; included by linking.c,
 * linkstate.c and linker.c).
 *
 * The link kernels read ~45 attributes of a `Fingerprint` and its `CanonicalDevice` per event (both frozen
 * dataclasses with `__slots__`). `PyObject_GetAttr` costs ~100 instructions for each (the type's method cache,
 * the member descriptor's get, the instance checks): ~4.5k instructions per link call on the scorer stream
 * (callgrind). `fast_attr(o, name)` reads the slot at its offset instead, from a small direct-mapped cache of
 * (type, name) -> member offset that is valid while the type is unchanged:
 *
 * - only for an object whose type uses the generic `__getattribute__` (`tp_getattro ==
 *   PyObject_GenericGetAttr`), where the attribute resolves, through the type's MRO (`_PyType_Lookup`), to a
 *   member descriptor of kind `T_OBJECT_EX` (what `__slots__` makes) -- a data descriptor, so it wins over an
 *   instance `__dict__` exactly as in `PyObject_GenericGetAttr`;
 * - each entry remembers the type's version tag; CPython gives a type a new tag (or none) whenever the type or
 *   a base is modified (`PyType_Modified`), and tags are never reused, so a class attribute assigned later, a
 *   replaced descriptor or a freed type whose address is reused all miss and resolve again;
 * - an empty slot (the attribute deleted or never set) or anything else calls `PyObject_GetAttr`, which answers
 *   or raises exactly as before.
 *
 * The value read is the object the member descriptor would return (`member_get` on `T_OBJECT_EX` reads the
 * same pointer), so nothing a caller sees changes. On other Python versions (and free-threaded builds) it is
 * `PyObject_GetAttr`.
 */
#ifndef FRAUDSCORE_LINKING_ATTR_H
#define FRAUDSCORE_LINKING_ATTR_H

#include <Python.h>
#include <stdint.h>
#include <structmember.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000 && !defined(Py_LIMITED_API) && \
    !defined(Py_GIL_DISABLED)
#define FAST_ATTR 1
#define FA_BITS 8 /* round 14: 256 entries (was 64): the ~45 (type, name) pairs of a link call clashed ~4 times a call */

typedef struct {
    PyTypeObject *tp;    /* not owned: the version tag tells a live, unchanged type */
    PyObject *name;      /* not owned: the callers' interned names (module constants, alive while the module is) */
    unsigned int tag;    /* tp_version_tag when resolved (never 0) */
    Py_ssize_t off;      /* the member's offset */
} fa_entry_t;

static fa_entry_t FA_CACHE[1 << FA_BITS];

static inline int fa_tag_valid(PyTypeObject *tp) {
#ifdef Py_TPFLAGS_VALID_VERSION_TAG
    if (!PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) return 0;
#endif
    return tp->tp_version_tag != 0;
}

/* resolve name on tp into e: 1 a T_OBJECT_EX member (e filled), 0 not (the generic path answers) */
static int fa_resolve(PyTypeObject *tp, PyObject *name, fa_entry_t *e) {
    PyObject *d;
    const PyMemberDef *m;
    d = _PyType_Lookup(tp, name); /* borrowed; assigns a version tag where it can */
    if (d == NULL || Py_TYPE(d) != &PyMemberDescr_Type || !fa_tag_valid(tp)) return 0;
    m = ((PyMemberDescrObject *)d)->d_member;
    if (m == NULL || m->type != T_OBJECT_EX || m->offset <= 0) return 0;
    e->tp = tp;
    e->name = name;
    e->tag = tp->tp_version_tag;
    e->off = m->offset;
    return 1;
}
#endif

/* getattr(o, name): a new reference, or NULL with an exception set (PyObject_GetAttr's answer) */
static inline PyObject *fast_attr(PyObject *o, PyObject *name) {
#if FAST_ATTR
    PyTypeObject *tp = Py_TYPE(o);
    if (tp->tp_getattro == PyObject_GenericGetAttr) {
        uintptr_t h = ((uintptr_t)tp >> 4) ^ ((uintptr_t)name >> 3);
        fa_entry_t *e = &FA_CACHE[(h ^ (h >> FA_BITS)) & ((1u << FA_BITS) - 1)];
        if (e->tp == tp && e->name == name && e->tag == tp->tp_version_tag && fa_tag_valid(tp)) {
            PyObject *v = *(PyObject **)((char *)o + e->off);
            if (v != NULL) return Py_NewRef(v);
        } else if (PyUnicode_CheckExact(name) && fa_resolve(tp, name, e)) {
            PyObject *v = *(PyObject **)((char *)o + e->off);
            if (v != NULL) return Py_NewRef(v);
        }
    }
#endif
    return PyObject_GetAttr(o, name);
}

/* object.__setattr__(o, name, v) for a slot of o's type (what a frozen dataclass's __init__ does): 0, or -1 with
 * an exception set (PyObject_GenericSetAttr's answer). The slot is written where the same cache as fast_attr's
 * resolves name to a T_OBJECT_EX member of o's exact type (PyObject_GenericSetAttr finds that data descriptor
 * first and member_set writes the same slot); otherwise PyObject_GenericSetAttr sets it. */
static inline int fast_set_slot(PyObject *o, PyObject *name, PyObject *v) {
#if FAST_ATTR
    PyTypeObject *tp = Py_TYPE(o);
    if (v != NULL) { /* (the generic setter, whatever o's __setattr__: object.__setattr__ as the caller asks) */
        uintptr_t h = ((uintptr_t)tp >> 4) ^ ((uintptr_t)name >> 3);
        fa_entry_t *e = &FA_CACHE[(h ^ (h >> FA_BITS)) & ((1u << FA_BITS) - 1)];
        if ((e->tp == tp && e->name == name && e->tag == tp->tp_version_tag && fa_tag_valid(tp)) ||
            (PyUnicode_CheckExact(name) && fa_resolve(tp, name, e))) {
            PyObject **slot = (PyObject **)((char *)o + e->off), *old = *slot;
            *slot = Py_NewRef(v);
            Py_XDECREF(old);
            return 0;
        }
    }
#endif
    return PyObject_GenericSetAttr(o, name, v);
}

#endif /* FRAUDSCORE_LINKING_ATTR_H */
