/*
 * linking.c's view of MemoryLinkState's C-owned maps (round 13): the RecencyMap type the walk reads (handed over by
 * ``linking.use_maps``, the type itself lives in fraudscore._core.linkstate: linkstate_maps.h) and its lookup.
 * Included by linking.c only, after OrderedDictType.
 */
#ifndef FRAUDSCORE_LINKING_MAPS_H
#define FRAUDSCORE_LINKING_MAPS_H

static PyTypeObject *RM_TYPE; /* fraudscore._core.linkstate.RecencyMap, set by use_maps() (NULL: none) */

/* m[key] (borrowed) of a dict or a RecencyMap (key an exact str), or NULL (absent, or an exception set) */
static inline PyObject *map_get(PyObject *m, PyObject *key) {
    if (Py_TYPE(m) == RM_TYPE) return rm_get((rm_t *)m, key);
    return PyDict_GetItemWithError(m, key);
}


/* use_maps(RecencyMap): the type of the C-owned maps the walk reads (fraudscore._core.linkstate.RecencyMap) */
static PyObject *linking_use_maps(PyObject *mod, PyObject *type) {
    (void)mod;
    if (!PyType_Check(type) || ((PyTypeObject *)type)->tp_basicsize != (Py_ssize_t)sizeof(rm_t) ||
        strcmp(((PyTypeObject *)type)->tp_name, "fraudscore._core.linkstate.RecencyMap") != 0) {
        PyErr_SetString(PyExc_TypeError, "use_maps(RecencyMap): fraudscore._core.linkstate.RecencyMap");
        return NULL;
    }
    Py_XSETREF(RM_TYPE, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

#endif /* FRAUDSCORE_LINKING_MAPS_H */
