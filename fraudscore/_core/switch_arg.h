/* switch_arg.h: the argument of a module switch `name([on])` (the link modules' memo and cache switches, which
 * tests turn off and on to compare both paths).
 *
 *   switch_arg(args, nargs, usage, &on)  -> 1 and *on set (the argument's truth) when given, 0 when not, -1 with a
 *                                           TypeError (usage as its message) for more than one argument, or the
 *                                           argument's own error from its truth test.
 */
#ifndef FRAUDSCORE_SWITCH_ARG_H
#define FRAUDSCORE_SWITCH_ARG_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static inline int switch_arg(PyObject *const *args, Py_ssize_t nargs, const char *usage, int *on) {
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if (nargs == 0) return 0;
    int t = PyObject_IsTrue(args[0]);
    if (t < 0) return -1;
    *on = t;
    return 1;
}

#endif /* FRAUDSCORE_SWITCH_ARG_H */
