/* Small tuple helpers shared by the compiled modules (round 14 review: schema.c, rules.c and fingerprint_canonical.c
 * each had their own copy). */
#ifndef FRAUDSCORE_PYTUPLE_H
#define FRAUDSCORE_PYTUPLE_H

#include <Python.h>

/* Py_BuildValue("(NN)", a, b) without the format parser (a, b non-NULL; stolen) */
static inline PyObject *pair_steal(PyObject *a, PyObject *b) {
    PyObject *t = PyTuple_New(2);
    if (!t) {
        Py_DECREF(a);
        Py_DECREF(b);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}

#endif
