/*
 * Two reusable float64 buffer exporters for the trees' call in best_candidate (round 12, #13; included by linker.c).
 *
 * best_candidate hands the forest's predict_best its candidate rows and an output array as float64 buffers, and
 * linking.pick the output. Round 9 made two memoryviews per call for that (PyMemoryView_FromBuffer: a managed
 * buffer and a view, both garbage-collected objects): ~1-2k instructions per model-scored call with their share of
 * the collections they trigger (callgrind, scorer stream). Here two module-level exporter objects (`F64View`, not
 * garbage-collected) are pointed at the memory for the duration of one call and answer the buffer protocol with
 * the same buffer a memoryview would (C-contiguous, format "d", one dimension of n items, read-only for the rows).
 *
 * Safety: the pair is used by one call at a time (`VIEWS_BUSY`; a nested call, e.g. from a finaliser run by a
 * collection inside the scoring, makes its own memoryviews as before); the rows exporter holds a reference to the
 * bytes it points into; the output points at a static array (`VIEWS_OUT`, at most SMALL_ROWS rows). After the call
 * the exporters are emptied (length 0, no owner) -- unless a buffer is still exported or a reference to an exporter
 * is still held elsewhere (nothing the forest or pick do): then the pair is left pointing at memory that stays valid
 * (the held bytes, the static array) and never used again (`VIEWS_DEAD`), so no pointer can dangle.
 */
#ifndef FRAUDSCORE_LINKING_VIEWS_H
#define FRAUDSCORE_LINKING_VIEWS_H

#include <Python.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyObject *owner;     /* what buf points into (owned), or NULL */
    double *buf;
    Py_ssize_t shape[1]; /* n items */
    Py_ssize_t stride[1];
    Py_ssize_t exports;
    int readonly;
} f64view_t;

static int f64view_getbuffer(PyObject *o, Py_buffer *view, int flags) {
    f64view_t *v = (f64view_t *)o;
    if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && v->readonly) {
        PyErr_SetString(PyExc_BufferError, "read-only buffer");
        view->obj = NULL;
        return -1;
    }
    view->buf = v->buf;
    view->obj = Py_NewRef(o);
    view->len = v->shape[0] * 8;
    view->itemsize = 8;
    view->readonly = v->readonly;
    view->ndim = 1;
    view->format = (flags & PyBUF_FORMAT) == PyBUF_FORMAT ? "d" : NULL;
    view->shape = (flags & PyBUF_ND) == PyBUF_ND ? v->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? v->stride : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    v->exports++;
    return 0;
}

static void f64view_releasebuffer(PyObject *o, Py_buffer *view) {
    (void)view;
    ((f64view_t *)o)->exports--;
}

static void f64view_dealloc(PyObject *o) {
    Py_XDECREF(((f64view_t *)o)->owner);
    Py_TYPE(o)->tp_free(o);
}

static PyBufferProcs F64VIEW_BUFFER = {f64view_getbuffer, f64view_releasebuffer};

static PyTypeObject F64VIEW_T = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fraudscore._core.linker.F64View",
    .tp_basicsize = sizeof(f64view_t),
    .tp_dealloc = f64view_dealloc,
    .tp_as_buffer = &F64VIEW_BUFFER,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A float64 buffer over memory owned by best_candidate for one call (internal).",
};

static f64view_t *VIEWS_X, *VIEWS_O; /* made at import; NULL: memoryviews */
static int VIEWS_BUSY, VIEWS_DEAD;

/* at import; never an error (without the pair, memoryviews are made per call) */
static void views_init(void) {
    if (PyType_Ready(&F64VIEW_T) != 0) {
        PyErr_Clear();
        return;
    }
    VIEWS_X = PyObject_New(f64view_t, &F64VIEW_T);
    VIEWS_O = PyObject_New(f64view_t, &F64VIEW_T);
    if (VIEWS_X == NULL || VIEWS_O == NULL) {
        PyErr_Clear();
        Py_XDECREF(VIEWS_X);
        Py_XDECREF(VIEWS_O);
        VIEWS_X = VIEWS_O = NULL;
        return;
    }
    VIEWS_X->owner = VIEWS_O->owner = NULL;
    VIEWS_X->buf = VIEWS_O->buf = NULL;
    VIEWS_X->shape[0] = VIEWS_O->shape[0] = 0;
    VIEWS_X->stride[0] = VIEWS_O->stride[0] = 8;
    VIEWS_X->exports = VIEWS_O->exports = 0;
    VIEWS_X->readonly = 1;
    VIEWS_O->readonly = 0;
}

/* the pair over rows (bytes of nx doubles) and out (n doubles, static), or 0: not available (make memoryviews) */
static int views_take(PyObject *rows, Py_ssize_t nx, double *out, Py_ssize_t n) {
    if (VIEWS_X == NULL || VIEWS_BUSY || VIEWS_DEAD) return 0;
    VIEWS_BUSY = 1;
    VIEWS_X->owner = Py_NewRef(rows);
    VIEWS_X->buf = (double *)PyBytes_AS_STRING(rows);
    VIEWS_X->shape[0] = nx;
    VIEWS_O->buf = out;
    VIEWS_O->shape[0] = n;
    return 1;
}

/* after the call: empty the pair, or keep it pointing at valid memory for good (a buffer or reference held) */
static void views_give(void) {
    if (VIEWS_X->exports != 0 || VIEWS_O->exports != 0 || Py_REFCNT(VIEWS_X) != 1 || Py_REFCNT(VIEWS_O) != 1) {
        VIEWS_DEAD = 1; /* rows stays owned, out is static: valid for as long as anything holds them */
        VIEWS_BUSY = 0;
        return;
    }
    Py_CLEAR(VIEWS_X->owner);
    VIEWS_X->buf = VIEWS_O->buf = NULL;
    VIEWS_X->shape[0] = VIEWS_O->shape[0] = 0;
    VIEWS_BUSY = 0;
}

#endif /* FRAUDSCORE_LINKING_VIEWS_H */
