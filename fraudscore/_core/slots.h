/*
 * fraudscore._core: a new instance of a slots class (a frozen dataclass with slots=True) whose fields are set as its
 * generated __init__ sets them (object.__setattr__ through each field's member descriptor), shared by the
 * fingerprint module (CanonicalDevice, Fingerprint: fingerprint_build.c) and the rules module (RuleHit: rules.c,
 * round 16). A static function per including module (two extensions).
 */
#ifndef FS_SLOTS_H
#define FS_SLOTS_H

#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX, READONLY */

/* cls(*vals) for a slots class: descrs holds one member descriptor per field (n of them), vals n values (borrowed).
 * A field whose descriptor is an object member (T_OBJECT_EX, writable, inside the instance) is stored where the
 * member lives -- what PyMember_SetOne does (round 15) --, any other descriptor is called. A new reference. */
static PyObject *new_slots(PyObject *cls, PyObject *descrs, PyObject *const *vals, Py_ssize_t n) {
    if (!PyType_Check(cls) || !PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != n) {
        PyErr_SetString(PyExc_TypeError, "a class and one member descriptor per field");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *o = tp->tp_alloc(tp, 0);
    if (!o) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        if (Py_TYPE(d) == &PyMemberDescr_Type) {
            PyMemberDef *md = ((PyMemberDescrObject *)d)->d_member;
            if (md->type == T_OBJECT_EX && !(md->flags & READONLY) && md->offset > 0 &&
                (size_t)md->offset + sizeof(PyObject *) <= (size_t)tp->tp_basicsize &&
                PyObject_TypeCheck(o, PyDescr_TYPE(d))) {
                PyObject **slot = (PyObject **)((char *)o + md->offset), *old = *slot;
                *slot = Py_NewRef(vals[i]);
                Py_XDECREF(old);
                continue;
            }
        }
        descrsetfunc set = Py_TYPE(d)->tp_descr_set;
        if (!set || set(d, o, vals[i]) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "not a member descriptor");
            Py_DECREF(o);
            return NULL;
        }
    }
    return o;
}

#endif
