/*
 * The identity kernel's batch describer (Kernel.describe_columns), moved out of identity.c in round 16
 * (`velident`: identity.c was near 800 lines) without a change. Included by identity.c after describe_one (one
 * compilation unit).
 */

static void desc_drop(desc_t *d, PyObject *hit); /* identity.c, after this header */

/* describe_columns(kind, values, feats, birth, done) -> (pseudonyms, extras): the batch path's describer over
 * the distinct values of one column (identity/columns.py process_columns), with no Python loop per value.
 * For each values[i] on the fast path (describe(kind, values[i]) is not None): done[i] = 1, feats[i, :len(fv)] = fv
 * (float64, C order, rows of ``width`` = feats' row length), for national ids birth[i] = (y, m, d) when the
 * extra is a birth date, pseudonyms[i] / extras[i] = the describer's pseudonym and extra. Values off the fast
 * path (non-str, "", non-ASCII, ...) keep done[i] = 0 and None in both lists: the caller runs the reference. */
static PyObject *Kernel_describe_columns(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "describe_columns(kind, values, feats, birth, done)");
        return NULL;
    }
    int kind = kind_arg(args[0]);
    if (kind < 0) return NULL;
    PyObject *fast = PySequence_Fast(args[1], "values must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    Py_buffer fb = {0}, bb = {0}, db = {0};
    PyObject *pseudos = NULL, *extras = NULL;
    int have_f = 0, have_b = 0, have_d = 0;
    if (PyObject_GetBuffer(args[2], &fb, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto fail;
    have_f = 1;
    if (PyObject_GetBuffer(args[3], &bb, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto fail;
    have_b = 1;
    if (PyObject_GetBuffer(args[4], &db, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto fail;
    have_d = 1;
    if (fb.itemsize != 8 || fb.format == NULL || strcmp(fb.format, "d") != 0 || (n && fb.len % (n * 8) != 0)) {
        PyErr_SetString(PyExc_ValueError, "feats must be a C-contiguous float64 array of len(values) rows");
        goto fail;
    }
    Py_ssize_t width = n ? fb.len / 8 / n : 0;
    if (n && width < 1) {
        PyErr_SetString(PyExc_ValueError, "feats must have len(values) rows");
        goto fail;
    }
    const char *bf = (bb.format && *bb.format) ? bb.format + strlen(bb.format) - 1 : "";
    if (bb.itemsize != 8 || (*bf != 'l' && *bf != 'q') || bb.len != n * 3 * 8 || db.len != n) {
        PyErr_SetString(PyExc_ValueError, "birth must be int64 of shape (len(values), 3) and done len(values) bytes");
        goto fail;
    }
    double *F = (double *)fb.buf;
    int64_t *B = (int64_t *)bb.buf;
    uint8_t *D = (uint8_t *)db.buf;
    pseudos = PyList_New(n);
    extras = PyList_New(n);
    if (!pseudos || !extras) goto fail;
    desc_t *prev = k->sink;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i], *r = NULL;
        /* round 17 (`batchkern`): the C describers fill a sink (process_into's, no (p, (a, b, c), extra) tuples to
         * build and free per value); a describer that returns its tuple anyway is read as before */
        desc_t dsc = {0};
        if (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) > 0) {
            k->sink = &dsc;
            r = describe_one(k, kind, v);
            k->sink = prev;
            if (!r) goto fail;
        }
        if (r == NULL || r == Py_None) {
            Py_XDECREF(r);
            D[i] = 0;
            Py_INCREF(Py_None);
            PyList_SET_ITEM(pseudos, i, Py_None);
            Py_INCREF(Py_None);
            PyList_SET_ITEM(extras, i, Py_None);
            continue;
        }
        PyObject *hit = NULL;
        if (r == Py_True) { /* the sink holds owned references */
            Py_DECREF(r);
            dsc.owned = 1;
            dsc.f = dsc.own;
        } else { /* r = (pseudonym, feature tuple, extra): as built by result() / d_generic */
            hit = r;
            PyObject *fv = PyTuple_GET_ITEM(r, 1);
            dsc.p = PyTuple_GET_ITEM(r, 0);
            dsc.extra = PyTuple_GET_ITEM(r, 2);
            dsc.f = ((PyTupleObject *)fv)->ob_item;
            dsc.nf = PyTuple_GET_SIZE(fv);
        }
        Py_ssize_t nf = dsc.nf;
        if (nf > width) {
            desc_drop(&dsc, hit);
            PyErr_SetString(PyExc_ValueError, "feats has fewer columns than the describer's features");
            goto fail;
        }
        for (Py_ssize_t j = 0; j < nf; j++) {
            PyObject *o = dsc.f[j];
            double x = PyFloat_CheckExact(o) ? PyFloat_AS_DOUBLE(o) : PyFloat_AsDouble(o);
            if (x == -1.0 && PyErr_Occurred()) {
                desc_drop(&dsc, hit);
                goto fail;
            }
            F[i * width + j] = x;
        }
        PyObject *ex = dsc.extra;
        if (kind == K_NID && PyTuple_Check(ex) && PyTuple_GET_SIZE(ex) == 3) {
            for (int j = 0; j < 3; j++) {
                long long x = PyLong_AsLongLong(PyTuple_GET_ITEM(ex, j));
                if (x == -1 && PyErr_Occurred()) {
                    desc_drop(&dsc, hit);
                    goto fail;
                }
                B[i * 3 + j] = (int64_t)x;
            }
        }
        D[i] = 1;
        Py_INCREF(dsc.p);
        PyList_SET_ITEM(pseudos, i, dsc.p);
        Py_INCREF(ex);
        PyList_SET_ITEM(extras, i, ex);
        desc_drop(&dsc, hit);
    }
    PyBuffer_Release(&fb);
    PyBuffer_Release(&bb);
    PyBuffer_Release(&db);
    Py_DECREF(fast);
    return Py_BuildValue("(NN)", pseudos, extras);
fail:
    if (have_f) PyBuffer_Release(&fb);
    if (have_b) PyBuffer_Release(&bb);
    if (have_d) PyBuffer_Release(&db);
    Py_XDECREF(pseudos);
    Py_XDECREF(extras);
    Py_DECREF(fast);
    return NULL;
}
