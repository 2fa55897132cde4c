/*
 * Guarded attribute reads for the compiled single-event path (round 17, #13 `attrcache`): an inline cache per call
 * site, as CPython's own LOAD_ATTR caches, so a steady-state event reads scorer.schema, pipeline._online_ctx,
 * velocity.store ... without the generic lookup (PyObject_GetAttr -> _PyObject_GenericGetAttrWithDict ->
 * _PyType_Lookup + the instance dict's probe: ~45 instructions a read, ~75 reads an event).
 *
 *   AC_GET(o, name)    o.<name> as PyObject_GetAttr(o, name) gives it (a new reference, NULL with the error).
 *
 * Each use site owns one slot (a static ac_slot): the (type, type version tag, instance dict, dict version tag,
 * name) it last read and the value found. A read whose object has the same type with the same tp_version_tag and the same
 * instance dict with the same ma_version_tag returns the slot's value: the type's tag changes whenever the class or
 * a base is modified (a property or a class attribute added, replaced or removed), the dict's tag is a fresh value
 * from one global counter whenever its items change or a dict is made (dict_layout.h), so an equal (address, tag)
 * pair is the same live dict with the same items, and the value the slot borrowed is still referenced by that dict
 * (or by the unchanged type). So `scorer.model = X`, `scorer.rules = ...`, `del obj.attr`, `obj.__dict__ = d`, a
 * property added to the class ... all miss and read again; a steady event hits.
 *
 * Only two kinds of reads are cached, the rest always go through PyObject_GetAttr (same answer, same errors):
 *   * the value in the instance dict (an exact dict) where the type has no data descriptor of that name;
 *   * a plain class attribute (no __get__) the instance dict does not shadow.
 * (A slot whose type has a descriptor of that name remembers it, value NULL: the generic read, without the probe.)
 * Objects with their own tp_getattro (__getattr__, __getattribute__, C types with slots/members), names that are
 * not exact str, descriptors (properties, methods, slots) and types without a valid version tag are never cached.
 * Reading the dict pointer with _PyObject_GetDictPtr materializes a 3.11 managed dict once (Python attribute reads on
 * that object then take the dict's path: same values).
 *
 * Other Python versions (DICT_LAYOUT 0, or not 3.11/3.12) and the switch FRAUDSCORE_ATTRCACHE=0 in the environment at
 * import take PyObject_GetAttr every time (tests/test_attrcache.py compares both). Not thread-safe without the GIL
 * (the free-threaded build is not supported by this module anyway).
 */
#ifndef FRAUDSCORE_ATTRCACHE_H
#define FRAUDSCORE_ATTRCACHE_H

#include <Python.h>
#include <stdint.h>

#include "dict_layout.h" /* dict_tag, DICT_LAYOUT */

typedef struct {
    PyTypeObject *type;   /* not owned: compared by address, guarded by ttag */
    unsigned int ttag;    /* the type's tp_version_tag at the read (never 0 in a filled slot) */
    PyObject *dict;       /* the instance dict at the read (NULL: none), not owned */
    uint64_t dtag;        /* its ma_version_tag */
    PyObject *value;      /* borrowed from dict or the type's MRO; valid while both guards hold */
    PyObject *name;       /* the name read (compared by address; a use site's name is an interned constant) */
} ac_slot;

#if DICT_LAYOUT && PY_VERSION_HEX < 0x030D0000
#define ATTRCACHE 1
static int ac_enabled = 1; /* ac_setup(): FRAUDSCORE_ATTRCACHE=0 switches it off */

static void ac_setup(void) {
    const char *e = getenv("FRAUDSCORE_ATTRCACHE");
    ac_enabled = !(e && e[0] == '0' && e[1] == '\0');
}

static int ac_on(void) { return ac_enabled; }

/* the miss: the generic read, and the slot filled when the answer is one of the two cacheable kinds */
static PyObject *ac_fill(ac_slot *s, PyObject *o, PyObject *name) {
    PyTypeObject *tp = Py_TYPE(o);
    s->ttag = 0; /* emptied first: no path below leaves a stale slot that could match */
    if (!ac_enabled || tp->tp_getattro != PyObject_GenericGetAttr || !PyUnicode_CheckExact(name))
        return PyObject_GetAttr(o, name);
    PyObject *descr = _PyType_Lookup(tp, name); /* borrowed; gives the type a version tag */
    if (!(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || tp->tp_version_tag == 0) return PyObject_GetAttr(o, name);
    if (descr && Py_TYPE(descr)->tp_descr_get) { /* a descriptor: never cached; the slot remembers to go generic */
        s->type = tp;
        s->dict = NULL;
        s->value = NULL;
        s->name = name;
        s->ttag = tp->tp_version_tag;
        return PyObject_GetAttr(o, name);
    }
    PyObject **dp = _PyObject_GetDictPtr(o), *dict = dp ? *dp : NULL, *v = NULL;
    if (dict) {
        if (!PyDict_CheckExact(dict)) return PyObject_GetAttr(o, name);
        v = PyDict_GetItemWithError(dict, name);
        if (!v && PyErr_Occurred()) return NULL;
    }
    if (!v) v = descr; /* a plain class attribute, or NULL: AttributeError from the generic read */
    if (!v) return PyObject_GetAttr(o, name);
    s->type = tp;
    s->dict = dict;
    s->dtag = dict ? dict_tag(dict) : 0;
    s->value = v;
    s->name = name;
    s->ttag = tp->tp_version_tag;
    return Py_NewRef(v);
}

static inline PyObject *ac_get(ac_slot *s, PyObject *o, PyObject *name) {
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == s->type && name == s->name && s->ttag != 0 && tp->tp_version_tag == s->ttag) {
        if (!s->value) return PyObject_GetAttr(o, name); /* a descriptor of this type (unchanged): the generic read */
        PyObject *dict;
        if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT || tp->tp_dictoffset < 0) {
            PyObject **dp = _PyObject_GetDictPtr(o);
            dict = dp ? *dp : NULL;
        } else {
            dict = tp->tp_dictoffset ? *(PyObject **)((char *)o + tp->tp_dictoffset) : NULL;
        }
        if (dict == s->dict && (!dict || dict_tag(dict) == s->dtag)) return Py_NewRef(s->value);
    }
    return ac_fill(s, o, name);
}

#if defined(__GNUC__) || defined(__clang__)
#define AC_GET(o, name)                                                                                              \
    __extension__({                                                                                                  \
        static ac_slot ac_site_;                                                                                     \
        ac_get(&ac_site_, (o), (name));                                                                              \
    })
#else
#define AC_GET(o, name) PyObject_GetAttr((o), (name))
#endif

#else /* other Python versions: the generic read */
#define ATTRCACHE 0
static void ac_setup(void) {}
static int ac_on(void) { return 0; }
#define AC_GET(o, name) PyObject_GetAttr((o), (name))
#endif

#endif
