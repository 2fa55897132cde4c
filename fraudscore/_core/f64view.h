/*
 * A float64 vector's memory without the buffer protocol (round 15, eventpath).
 *
 * PyObject_GetBuffer on a numpy array builds the buffer's format text, shape and strides (and compares them with
 * the array's cached ones): 270-560 instructions a call, and the single event's feature vector x went through it
 * in online(), Kernel.into and Program.fired_parts. f64_view reads an exact numpy.ndarray's data pointer, length and
 * flags from the array object itself (numpy's PyArrayObject_fields, the layout its PyArray_DATA / PyArray_DIMS /
 * PyArray_FLAGS macros read; unchanged from numpy 1.7 to 2.x) when the array is one-dimensional, C-contiguous,
 * writable where asked, and its dtype is the native float64 dtype object (np.dtype("float64"), a singleton).
 * The layout is checked once against PyObject_GetBuffer on arrays made for the purpose (a vector, a strided view,
 * a read-only one); if anything differs the shortcut stays off. Anything else (another type, a subclass, another
 * dtype, numpy not imported) returns 0 with nothing held: the caller takes its PyObject_GetBuffer path, with the
 * same checks and the same errors as before.
 *
 * The view's obj is NULL (PyBuffer_Release does nothing, as for pipeline.c's held copy): the caller holds x, and the
 * kernels do not keep the pointer past their call.
 */
#ifndef FRAUDSCORE_F64VIEW_H
#define FRAUDSCORE_F64VIEW_H

#include <Python.h>
#include <string.h>

typedef struct { /* numpy's PyArrayObject_fields, up to flags */
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
    PyObject *descr;
    int flags;
} f64v_array;

#define F64V_C_CONTIGUOUS 0x0001 /* NPY_ARRAY_C_CONTIGUOUS */
#define F64V_WRITEABLE 0x0400    /* NPY_ARRAY_WRITEABLE */

static PyTypeObject *F64V_NDARRAY; /* numpy.ndarray (strong references once the layout is checked) */
static PyObject *F64V_DTYPE;       /* np.dtype("float64") */
static PyObject *F64V_INTP;        /* np.dtype("intp") */
static int F64V_STATE;             /* 0 not checked yet, 1 on, -1 off */

/* the array's fields as a 1-d float64 view, or 0 */
static int f64v_fill(PyObject *x, Py_buffer *view, int flags) {
    f64v_array *a = (f64v_array *)x;
    int need = F64V_C_CONTIGUOUS | ((flags & PyBUF_WRITABLE) ? F64V_WRITEABLE : 0);
    if (a->descr != F64V_DTYPE || a->nd != 1 || (a->flags & need) != need) return 0;
    memset(view, 0, sizeof *view);
    view->buf = a->data;
    view->len = a->dimensions[0] * (Py_ssize_t)sizeof(double);
    view->itemsize = sizeof(double);
    view->readonly = !(a->flags & F64V_WRITEABLE);
    view->ndim = 1;
    return 1;
}

/* 1: the layout agrees with the buffer protocol on an array arr (1-d float64) */
static int f64v_agrees(PyObject *arr, int writable, int contiguous) {
    Py_buffer v, w;
    int fl = PyBUF_STRIDES | PyBUF_FORMAT, ok;
    if (PyObject_GetBuffer(arr, &v, fl) < 0) return 0;
    ok = v.ndim == 1 && v.format && strcmp(v.format, "d") == 0 && v.itemsize == 8 && v.readonly == !writable;
    int mine = f64v_fill(arr, &w, writable ? PyBUF_WRITABLE : 0);
    ok = ok && (mine == contiguous) && (!mine || (w.buf == v.buf && w.len == v.len && w.readonly == v.readonly));
    PyBuffer_Release(&v);
    return ok;
}

/* numpy's types and the layout check, once numpy is imported (never imports it) */
static int f64v_setup(void) {
    static PyObject *name;
    if (!name && !(name = PyUnicode_InternFromString("numpy"))) return -1;
    PyObject *np = PyImport_GetModule(name);
    if (!np) return PyErr_Occurred() ? -1 : 0;
    PyObject *nd = PyObject_GetAttrString(np, "ndarray"), *dt = NULL, *a = NULL, *s = NULL, *r = NULL;
    dt = nd ? PyObject_CallMethod(np, "dtype", "s", "float64") : NULL;
    PyObject *ip = dt ? PyObject_CallMethod(np, "dtype", "s", "intp") : NULL;
    a = dt ? PyObject_CallMethod(np, "zeros", "i", 5) : NULL; /* float64 */
    s = a ? PySequence_GetSlice(a, 0, 5) : NULL; /* a[0:5]: the same contiguous vector */
    F64V_STATE = -1;
    if (a && s && PyType_Check(nd) && Py_TYPE(a) == (PyTypeObject *)nd) {
        F64V_NDARRAY = (PyTypeObject *)nd;
        F64V_DTYPE = dt;
        PyObject *two = PyLong_FromLong(2), *sl = two ? PySlice_New(NULL, NULL, two) : NULL; /* a[::2] */
        PyObject *strided = sl ? PyObject_GetItem(a, sl) : NULL;
        Py_XDECREF(sl);
        Py_XDECREF(two);
        PyObject *ro = PyObject_CallMethod(a, "copy", NULL);
        r = ro ? PyObject_CallMethod(ro, "setflags", "O", Py_False) : NULL; /* setflags(write=False) */
        int ok = strided && r && ip && f64v_agrees(a, 1, 1) && f64v_agrees(s, 1, 1) &&
                 f64v_agrees(strided, 1, 0) && f64v_agrees(ro, 0, 1) && !f64v_fill(ro, &(Py_buffer){0}, PyBUF_WRITABLE);
        PyObject *ia = ok ? PyObject_CallMethod(a, "astype", "O", ip) : NULL; /* an intp vector */
        if (ia) {
            Py_buffer v;
            f64v_array *f = (f64v_array *)ia;
            if (PyObject_GetBuffer(ia, &v, PyBUF_FORMAT) == 0) {
                ok = Py_TYPE(ia) == (PyTypeObject *)nd && f->descr == ip && f->nd == 1 && v.itemsize == 8 &&
                     (f->flags & F64V_C_CONTIGUOUS) && v.buf == f->data && v.len == f->dimensions[0] * 8;
                PyBuffer_Release(&v);
            } else {
                ok = 0;
            }
            Py_DECREF(ia);
        } else {
            ok = 0;
        }
        Py_XDECREF(strided);
        Py_XDECREF(ro);
        if (ok) {
            F64V_STATE = 1;
            F64V_INTP = ip;
            nd = dt = ip = NULL; /* kept */
        } else {
            F64V_NDARRAY = NULL;
            F64V_DTYPE = NULL;
        }
    }
    PyErr_Clear();
    Py_XDECREF(r);
    Py_XDECREF(s);
    Py_XDECREF(a);
    Py_XDECREF(dt);
    Py_XDECREF(ip);
    Py_XDECREF(nd);
    Py_DECREF(np);
    return 0;
}

/* 1: x is an exact numpy.ndarray, 1-d, C-contiguous (and writable where flags ask it) of the native float64 dtype,
 * *view describes its memory (format NULL: doubles; obj NULL: nothing to release); 0: not known to be (nothing
 * held, no error set: the caller's PyObject_GetBuffer path decides); -1: error */
static int f64_view(PyObject *x, Py_buffer *view, int flags) {
    if (F64V_STATE == 0 && f64v_setup() < 0) return -1;
    if (F64V_STATE != 1 || Py_TYPE(x) != F64V_NDARRAY) return 0;
    return f64v_fill(x, view, flags);
}

/* 1: x is an exact numpy.ndarray, 1-d, C-contiguous, of the native intp dtype: *data and *n set; 0: not known to be
 * (nothing set, no error); -1: error */
static int intp_view(PyObject *x, const Py_ssize_t **data, Py_ssize_t *n) {
    if (F64V_STATE == 0 && f64v_setup() < 0) return -1;
    if (F64V_STATE != 1 || Py_TYPE(x) != F64V_NDARRAY) return 0;
    f64v_array *a = (f64v_array *)x;
    if (a->descr != F64V_INTP || a->nd != 1 || !(a->flags & F64V_C_CONTIGUOUS)) return 0;
    *data = (const Py_ssize_t *)a->data;
    *n = a->dimensions[0];
    return 1;
}

#endif
