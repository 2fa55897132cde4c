/*
 * fraudscore._core.rules -- rule conditions evaluated from the rule IR in one call per event
 * (reference: fraudscore/rules/scalar.py, compile_condition).
 *
 * Program(trees) holds one condition tree per rule, translated from the IR by
 * fraudscore/rules/native.py:
 *   ("and", (child, ...)) / ("or", (child, ...)) / ("not", child)
 *   ("cmp", name, op, constant, fallback)   name <op> number; op 0..5 = > >= < <= == !=
 *   ("in", name, negate, numbers, strings, fallback)   name [not] in a list (two frozensets, split_list)
 *   ("streq", name, op, text, fallback)      name == / != a string constant (op 4 or 5)
 *   ("py", closure)                          any other condition: its Python closure
 * A "cmp" leaf whose value is an exact float compares it here (NaN compares false, "!=" included,
 * exactly the Python fast path); any other value (absent, None, str, int, bool...) calls the leaf's
 * Python closure, the reference. An "in" leaf looks an exact str up in the strings and an exact float (not
 * NaN) in the numbers; a "streq" leaf compares an exact str or float; a missing value (absent, None, NaN) is false for
 * both, as in the reference; any other value calls the closure. fired(values) returns the indices of the rules
 * whose condition holds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#include "pytuple.h" /* pair_steal */
#include "f64view.h" /* f64_view */
#include "slots.h"   /* new_slots (round 16: RuleHit) */

enum { N_AND = 0, N_OR, N_NOT, N_CMP, N_PY, N_IN, N_STREQ };

typedef struct {
    int kind, op;
    double c;
    PyObject *name;     /* N_CMP, N_IN, N_STREQ */
    PyObject *fallback; /* N_CMP, N_IN, N_STREQ: the leaf's closure; N_PY: the closure */
    PyObject *nums, *strs; /* N_IN: frozensets of the list's numbers and strings; N_STREQ: strs is the text */
    double *dv;         /* N_IN (round 16): the numbers as doubles, when each equals a float exactly as its double
                         * does (floats, bools, ints within +-2**53); NULL: look floats up in nums */
    Py_ssize_t ndv;
    Py_ssize_t first, count; /* children: kids[first .. first + count) */
    Py_ssize_t col; /* named leaves: the name's column in the resolved index (COL_RECORD: not in it; COL_LOOKUP: look up) */
} Node;
enum { COL_RECORD = -1, COL_LOOKUP = -2 };

typedef struct {
    PyObject_HEAD
    Node *nodes;
    Py_ssize_t n_nodes, cap_nodes;
    Py_ssize_t *kids;
    Py_ssize_t n_kids, cap_kids;
    Py_ssize_t *roots;
    Py_ssize_t n_roots;
    PyObject *trees; /* kept for __reduce__ */
    PyObject *col_index; /* the index dict the leaves' columns were resolved against (a strong reference), or NULL */
    Py_ssize_t col_len;  /* its size then */
} Program;

static Py_ssize_t add_node(Program *P) {
    if (P->n_nodes == P->cap_nodes) {
        Py_ssize_t cap = P->cap_nodes ? 2 * P->cap_nodes : 64;
        Node *nn = PyMem_Realloc(P->nodes, (size_t)cap * sizeof(Node));
        if (!nn) return -1;
        P->nodes = nn;
        P->cap_nodes = cap;
    }
    memset(&P->nodes[P->n_nodes], 0, sizeof(Node));
    return P->n_nodes++;
}

static Py_ssize_t reserve_kids(Program *P, Py_ssize_t k) {
    while (P->n_kids + k > P->cap_kids) {
        Py_ssize_t cap = P->cap_kids ? 2 * P->cap_kids : 64;
        Py_ssize_t *nk = PyMem_Realloc(P->kids, (size_t)cap * sizeof(Py_ssize_t));
        if (!nk) return -1;
        P->kids = nk;
        P->cap_kids = cap;
    }
    Py_ssize_t at = P->n_kids;
    P->n_kids += k;
    return at;
}

/* n->dv: the frozenset n->nums as doubles when a float f is in it exactly when f == one of them (numbers compare and
 * hash by value: a float equals an int or bool e exactly when it equals e's double, for |e| <= 2**53); anything else
 * (a larger int, another type) leaves dv NULL and the set decides. 0, or -1 with an error. */
static int nums_as_doubles(Node *n) {
    Py_ssize_t m = PySet_GET_SIZE(n->nums), k = 0, pos = 0;
    Py_hash_t hash;
    PyObject *e;
    double *dv = PyMem_Malloc((size_t)(m ? m : 1) * sizeof(double));
    if (!dv) {
        PyErr_NoMemory();
        return -1;
    }
    while (_PySet_NextEntry(n->nums, &pos, &e, &hash)) {
        if (PyFloat_CheckExact(e)) {
            dv[k++] = PyFloat_AS_DOUBLE(e);
        } else if (PyBool_Check(e)) {
            dv[k++] = e == Py_True ? 1.0 : 0.0;
        } else if (PyLong_CheckExact(e)) {
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(e, &overflow);
            if (overflow || x > (1LL << 53) || x < -(1LL << 53)) {
                PyErr_Clear();
                PyMem_Free(dv);
                return 0;
            }
            dv[k++] = (double)x;
        } else {
            PyMem_Free(dv);
            return 0;
        }
    }
    n->dv = dv;
    n->ndv = k;
    return 0;
}

/* d (not NaN) in the node's numbers: 1 / 0, -1 error */
static int nums_contain(Node *n, double d) {
    if (n->dv) {
        for (Py_ssize_t j = 0; j < n->ndv; j++)
            if (n->dv[j] == d) return 1;
        return 0;
    }
    PyObject *f = PyFloat_FromDouble(d);
    if (!f) return -1;
    int r = PySet_Contains(n->nums, f);
    Py_DECREF(f);
    return r;
}

static Py_ssize_t build(Program *P, PyObject *t, int depth) {
    if (depth > 200 || !PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2 || !PyUnicode_Check(PyTuple_GET_ITEM(t, 0))) {
        PyErr_SetString(PyExc_ValueError, "bad condition tree");
        return -1;
    }
    const char *tag = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 0));
    if (!tag) return -1;
    Py_ssize_t i = add_node(P);
    if (i < 0) return -1;
    if (!strcmp(tag, "and") || !strcmp(tag, "or")) {
        PyObject *ch = PyTuple_GET_ITEM(t, 1);
        if (!PyTuple_Check(ch)) {
            PyErr_SetString(PyExc_ValueError, "bad condition tree");
            return -1;
        }
        Py_ssize_t k = PyTuple_GET_SIZE(ch), at = reserve_kids(P, k);
        if (at < 0) return -1;
        P->nodes[i].kind = tag[0] == 'a' ? N_AND : N_OR;
        P->nodes[i].first = at;
        P->nodes[i].count = k;
        for (Py_ssize_t j = 0; j < k; j++) {
            Py_ssize_t c = build(P, PyTuple_GET_ITEM(ch, j), depth + 1);
            if (c < 0) return -1;
            P->kids[at + j] = c;
        }
        return i;
    }
    if (!strcmp(tag, "not")) {
        Py_ssize_t at = reserve_kids(P, 1);
        if (at < 0) return -1;
        P->nodes[i].kind = N_NOT;
        P->nodes[i].first = at;
        P->nodes[i].count = 1;
        Py_ssize_t c = build(P, PyTuple_GET_ITEM(t, 1), depth + 1);
        if (c < 0) return -1;
        P->kids[at] = c;
        return i;
    }
    if (!strcmp(tag, "cmp") && PyTuple_GET_SIZE(t) == 5) {
        PyObject *name = PyTuple_GET_ITEM(t, 1), *fb = PyTuple_GET_ITEM(t, 4);
        long op = PyLong_AsLong(PyTuple_GET_ITEM(t, 2));
        double c = PyFloat_AsDouble(PyTuple_GET_ITEM(t, 3));
        if (PyErr_Occurred()) return -1;
        if (!PyUnicode_Check(name) || op < 0 || op > 5 || !PyCallable_Check(fb)) {
            PyErr_SetString(PyExc_ValueError, "bad comparison leaf");
            return -1;
        }
        Node *n = &P->nodes[i];
        n->kind = N_CMP;
        n->op = (int)op;
        n->c = c;
        Py_INCREF(name);
        Py_INCREF(fb);
        n->name = name;
        n->fallback = fb;
        return i;
    }
    if (!strcmp(tag, "in") && PyTuple_GET_SIZE(t) == 6) {
        PyObject *name = PyTuple_GET_ITEM(t, 1), *nums = PyTuple_GET_ITEM(t, 3), *strs = PyTuple_GET_ITEM(t, 4),
                 *fb = PyTuple_GET_ITEM(t, 5);
        int neg = PyObject_IsTrue(PyTuple_GET_ITEM(t, 2));
        if (neg < 0) return -1;
        if (!PyUnicode_Check(name) || !PyFrozenSet_CheckExact(nums) || !PyFrozenSet_CheckExact(strs) ||
            !PyCallable_Check(fb)) {
            PyErr_SetString(PyExc_ValueError, "bad membership leaf");
            return -1;
        }
        Node *n = &P->nodes[i];
        n->kind = N_IN;
        n->op = neg;
        Py_INCREF(name);
        Py_INCREF(fb);
        Py_INCREF(nums);
        Py_INCREF(strs);
        n->name = name;
        n->fallback = fb;
        n->nums = nums;
        n->strs = strs;
        return nums_as_doubles(n) < 0 ? -1 : i;
    }
    if (!strcmp(tag, "streq") && PyTuple_GET_SIZE(t) == 5) {
        PyObject *name = PyTuple_GET_ITEM(t, 1), *text = PyTuple_GET_ITEM(t, 3), *fb = PyTuple_GET_ITEM(t, 4);
        long op = PyLong_AsLong(PyTuple_GET_ITEM(t, 2));
        if (op == -1 && PyErr_Occurred()) return -1;
        if (!PyUnicode_Check(name) || !PyUnicode_CheckExact(text) || (op != 4 && op != 5) || !PyCallable_Check(fb)) {
            PyErr_SetString(PyExc_ValueError, "bad string comparison leaf");
            return -1;
        }
        Node *n = &P->nodes[i];
        n->kind = N_STREQ;
        n->op = (int)op;
        Py_INCREF(name);
        Py_INCREF(fb);
        Py_INCREF(text);
        n->name = name;
        n->fallback = fb;
        n->strs = text;
        return i;
    }
    if (!strcmp(tag, "py") && PyCallable_Check(PyTuple_GET_ITEM(t, 1))) {
        Node *n = &P->nodes[i];
        n->kind = N_PY;
        n->fallback = PyTuple_GET_ITEM(t, 1);
        Py_INCREF(n->fallback);
        return i;
    }
    PyErr_SetString(PyExc_ValueError, "bad condition tree");
    return -1;
}

/* where leaves read their values: a dict (values), or the parts it is made of (record, feature vector x with
 * a name -> column index, and a callable that builds the dict for the Python closures, once) */
typedef struct {
    PyObject *values;   /* the dict, or NULL until built from the parts */
    PyObject *record, *index, *make;
    const double *x;
    Py_ssize_t nx;
    PyObject *const *cols; /* fired_parts: &P->col_index; the leaves' col fields hold index's columns while it is
                            * index (a closure that re-enters the program with another dict re-resolves them) */
} Src;

/* dict(record) updated with zip(names, x.tolist()) for a float64 vector x[0..nx) (rules' _merged): the same keys in
 * the same order and equal floats. A new reference. */
static PyObject *merged_values(PyObject *record, PyObject *names, const double *x, Py_ssize_t nx) {
    PyObject *d = PyDict_Copy(record);
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (nx < n) n = nx;
    for (Py_ssize_t i = 0; d && i < n; i++) {
        PyObject *v = PyFloat_FromDouble(x[i]);
        if (!v || PyDict_SetItem(d, PyTuple_GET_ITEM(names, i), v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

/* make is the names tuple (round 16: the merged dict built here, no closure per event) or a callable */
static PyObject *src_values(Src *s) {
    if (!s->values)
        s->values = PyTuple_CheckExact(s->make) ? merged_values(s->record, s->make, s->x, s->nx)
                                                : PyObject_CallNoArgs(s->make);
    return s->values;
}

/* the value of a leaf's name as the merged dict holds it: 2 with *d set (a feature: the vector's float),
 * 1 with *v set (borrowed; NULL when absent), -1 error */
static int leaf_value(Src *s, Node *n, double *d, PyObject **v) {
    PyObject *src = s->values, *name = n->name;
    if (!src && s->cols && *s->cols == s->index && n->col != COL_LOOKUP) { /* the resolved column: the same answer as the lookup below */
        if (n->col == COL_RECORD) {
            src = s->record;
        } else if (n->col >= s->nx) {
            PyErr_SetString(PyExc_IndexError, "feature index out of range");
            return -1;
        } else {
            *d = s->x[n->col];
            return 2;
        }
    }
    if (!src) {
        PyObject *j = PyDict_GetItemWithError(s->index, name);
        if (j) {
            Py_ssize_t k = PyLong_AsSsize_t(j);
            if (k < 0 || k >= s->nx) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "feature index out of range");
                return -1;
            }
            *d = s->x[k];
            return 2;
        }
        if (PyErr_Occurred()) return -1;
        src = s->record;
    }
    *v = PyDict_GetItemWithError(src, name);
    return (!*v && PyErr_Occurred()) ? -1 : 1;
}

/* the value of a leaf's name: 1 with *d set (a float), 0 (not a float: use the closure), -1 error */
static int leaf_float(Src *s, Node *n, double *d) {
    PyObject *v = NULL;
    int k = leaf_value(s, n, d, &v);
    if (k != 1) return k < 0 ? -1 : 1; /* 2: a feature, *d is the vector's float */
    if (v && PyFloat_CheckExact(v)) {
        *d = PyFloat_AS_DOUBLE(v);
        return 1;
    }
    return 0;
}

/* "name [not] in list": 1 / 0, -1 error, 2 the closure decides (a value that is not str, float or missing) */
static int member_leaf(Src *s, Node *n) {
    double d;
    PyObject *v = NULL;
    int k = leaf_value(s, n, &d, &v);
    if (k < 0) return -1;
    if (k == 2) {
        if (d != d) return 0; /* NaN: missing */
        int r = nums_contain(n, d);
        return r < 0 ? -1 : (r != n->op);
    }
    if (!v || v == Py_None) return 0;
    if (PyUnicode_CheckExact(v) || PyFloat_CheckExact(v)) {
        if (PyFloat_CheckExact(v) && PyFloat_AS_DOUBLE(v) != PyFloat_AS_DOUBLE(v)) return 0;
        int r = PyUnicode_CheckExact(v) ? PySet_Contains(n->strs, v) : nums_contain(n, PyFloat_AS_DOUBLE(v));
        return r < 0 ? -1 : (r != n->op);
    }
    return 2;
}

/* "name == / != text": 1 / 0, -1 error, 2 the closure decides (a value that is not str, float or missing);
 * a number never equals a text (the reference's _cmp: mixed kinds are only "!=") */
static int streq_leaf(Src *s, Node *n) {
    double d;
    PyObject *v = NULL;
    int k = leaf_value(s, n, &d, &v);
    if (k < 0) return -1;
    if (k == 2) return d != d ? 0 : n->op == 5; /* a feature: NaN is missing (false); a number is != any text */
    if (!v || v == Py_None) return 0;
    if (PyFloat_CheckExact(v)) return PyFloat_AS_DOUBLE(v) != PyFloat_AS_DOUBLE(v) ? 0 : n->op == 5;
    if (!PyUnicode_CheckExact(v)) return 2;
    int eq = PyUnicode_Compare(v, n->strs) == 0;
    if (PyErr_Occurred()) return -1;
    return eq == (n->op == 4);
}

static int call_src(PyObject *fn, Src *s) {
    PyObject *values = src_values(s);
    if (!values) return -1;
    PyObject *r = PyObject_CallOneArg(fn, values);
    if (!r) return -1;
    int b = PyObject_IsTrue(r);
    Py_DECREF(r);
    return b;
}

/* x <op> c for a float x (NaN compares false, "!=" included: the Python fast path) */
static inline int cmp_op(int op, double x, double c) {
    switch (op) {
    case 0: return x > c;
    case 1: return x >= c;
    case 2: return x < c;
    case 3: return x <= c;
    case 4: return x == c;
    default: return x == x && x != c;
    }
}

/* round 17: a "cmp" leaf on a feature column read straight from the vector (the leaf_value branch it would take:
 * no dict yet, the columns resolved against this index, a column in range); -1 when that does not apply */
static inline int cmp_feature(Node *n, const Src *s) {
    if (n->kind != N_CMP || n->col < 0 || n->col >= s->nx || s->values || !s->cols || *s->cols != s->index)
        return -1;
    return cmp_op(n->op, s->x[n->col], n->c);
}

/* 1 true, 0 false, -1 error */
static int eval_src(Program *P, Py_ssize_t i, Src *s) {
    Node *n = &P->nodes[i];
    switch (n->kind) {
    case N_AND:
        for (Py_ssize_t j = 0; j < n->count; j++) {
            Py_ssize_t k = P->kids[n->first + j];
            int r = cmp_feature(&P->nodes[k], s); /* round 17: feature leaves without the call */
            if (r < 0) r = eval_src(P, k, s);
            if (r <= 0) return r;
        }
        return 1;
    case N_OR:
        for (Py_ssize_t j = 0; j < n->count; j++) {
            Py_ssize_t k = P->kids[n->first + j];
            int r = cmp_feature(&P->nodes[k], s);
            if (r < 0) r = eval_src(P, k, s);
            if (r != 0) return r;
        }
        return 0;
    case N_NOT: {
        int r = eval_src(P, P->kids[n->first], s);
        return r < 0 ? r : !r;
    }
    case N_CMP: {
        double x, c = n->c;
        int f = leaf_float(s, n, &x);
        if (f < 0) return -1;
        if (f) return cmp_op(n->op, x, c);
        return call_src(n->fallback, s);
    }
    case N_IN: {
        int r = member_leaf(s, n);
        return r == 2 ? call_src(n->fallback, s) : r;
    }
    case N_STREQ: {
        int r = streq_leaf(s, n);
        return r == 2 ? call_src(n->fallback, s) : r;
    }
    default:
        return call_src(n->fallback, s);
    }
}

/* fired_parts(record, x, index, make_values) -> (indices, values or None): fired() over the dict
 * dict(record) + {name: x[index[name]]} without building it (make_values() builds it, at most once, when a
 * Python closure needs it; it is returned so hits can render their reasons from it). Round 16: make_values may be
 * the names tuple itself (the dict is then dict(record) updated with zip(names, x.tolist()), built here, and no
 * closure is made per event); in that mode x must be an exact C-contiguous float64 ndarray, else the answer is
 * None (the caller takes the callable form). */
/* each named leaf's column in index (name -> column, an int), looked up once per index dict instead of once per
 * leaf and event: the rule set passes the same private dict for every event and never changes it (a dict of
 * another identity or size is resolved again; the strong reference keeps its address from being reused). A
 * value that is not an int >= 0 keeps the per-event lookup (COL_LOOKUP), which raises as before. */
static int resolve_cols(Program *P, PyObject *index) {
    for (Py_ssize_t i = 0; i < P->n_nodes; i++) {
        Node *n = &P->nodes[i];
        if (!n->name) continue;
        PyObject *j = PyDict_GetItemWithError(index, n->name);
        if (!j) {
            if (PyErr_Occurred()) return -1;
            n->col = COL_RECORD;
            continue;
        }
        Py_ssize_t k = PyLong_Check(j) ? PyLong_AsSsize_t(j) : -1;
        if (k == -1 && PyErr_Occurred()) PyErr_Clear();
        n->col = k >= 0 ? k : COL_LOOKUP;
    }
    Py_INCREF(index);
    Py_XSETREF(P->col_index, index);
    P->col_len = PyDict_GET_SIZE(index);
    return 0;
}

static PyObject *Program_fired_parts(Program *P, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "fired_parts(record: dict, x, index: dict, make_values)");
        return NULL;
    }
    Py_buffer buf;
    int fv = f64_view(args[1], &buf, PyBUF_C_CONTIGUOUS); /* round 15: an exact float64 ndarray without its format */
    if (fv < 0) return NULL;
    if (!fv && PyTuple_CheckExact(args[3])) Py_RETURN_NONE; /* round 16: names mode takes only such a vector */
    if (!fv && PyObject_GetBuffer(args[1], &buf, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (!fv && (buf.itemsize != 8 || !buf.format || strcmp(buf.format, "d") != 0)) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_TypeError, "x must be a contiguous float64 vector");
        return NULL;
    }
    if ((P->col_index != args[2] || PyDict_GET_SIZE(args[2]) != P->col_len) && resolve_cols(P, args[2]) < 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    Src s = {NULL, args[0], args[2], args[3], (const double *)buf.buf, buf.len / 8,
             (PyObject *const *)&P->col_index};
    PyObject *out = PyList_New(0);
    if (!out) goto fail;
    for (Py_ssize_t r = 0; r < P->n_roots; r++) {
        int b = cmp_feature(&P->nodes[P->roots[r]], &s); /* round 17: a feature leaf root without the call */
        if (b < 0) b = eval_src(P, P->roots[r], &s);
        if (b < 0) goto fail;
        if (b) {
            PyObject *ix = PyLong_FromSsize_t(r);
            if (!ix || PyList_Append(out, ix) < 0) {
                Py_XDECREF(ix);
                goto fail;
            }
            Py_DECREF(ix);
        }
    }
    PyBuffer_Release(&buf);
    return pair_steal(out, s.values ? s.values : Py_NewRef(Py_None));
fail:
    PyBuffer_Release(&buf);
    Py_XDECREF(out);
    Py_XDECREF(s.values);
    return NULL;
}

/* fired(values) -> list of the indices of the rules that fire (values: a dict) */
static PyObject *Program_fired(Program *P, PyObject *values) {
    if (!PyDict_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "values must be a dict");
        return NULL;
    }
    Src s = {values, NULL, NULL, NULL, NULL, 0, NULL}; /* borrowed: leaves read the dict (eval_src's dict case) */
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (Py_ssize_t r = 0; r < P->n_roots; r++) {
        int b = eval_src(P, P->roots[r], &s);
        if (b < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (b) {
            PyObject *ix = PyLong_FromSsize_t(r);
            if (!ix || PyList_Append(out, ix) < 0) {
                Py_XDECREF(ix);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(ix);
        }
    }
    return out;
}

static void Program_clear(Program *P) {
    for (Py_ssize_t i = 0; i < P->n_nodes; i++) {
        Py_XDECREF(P->nodes[i].name);
        Py_XDECREF(P->nodes[i].fallback);
        Py_XDECREF(P->nodes[i].nums);
        Py_XDECREF(P->nodes[i].strs);
        PyMem_Free(P->nodes[i].dv);
    }
    PyMem_Free(P->nodes);
    PyMem_Free(P->kids);
    PyMem_Free(P->roots);
    P->nodes = NULL;
    P->kids = NULL;
    P->roots = NULL;
    P->n_nodes = P->n_kids = P->n_roots = 0;
}

static PyObject *Program_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *trees;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &trees)) return NULL;
    Program *P = (Program *)type->tp_alloc(type, 0);
    if (!P) return NULL;
    Py_INCREF(trees);
    P->trees = trees;
    Py_ssize_t n = PyTuple_GET_SIZE(trees);
    P->roots = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Py_ssize_t));
    if (!P->roots) {
        PyErr_NoMemory();
        Py_DECREF(P);
        return NULL;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        Py_ssize_t i = build(P, PyTuple_GET_ITEM(trees, r), 0);
        if (i < 0) {
            Py_DECREF(P);
            return NULL;
        }
        P->roots[r] = i;
        P->n_roots = r + 1;
    }
    return (PyObject *)P;
}

static PyObject *Program_reduce(Program *P, PyObject *unused) {
    return Py_BuildValue("(O(O))", (PyObject *)Py_TYPE(P), P->trees);
}

static void Program_dealloc(Program *P) {
    Program_clear(P);
    Py_CLEAR(P->col_index);
    Py_XDECREF(P->trees);
    Py_TYPE(P)->tp_free((PyObject *)P);
}

static PyMethodDef Program_methods[] = {
    {"fired", (PyCFunction)Program_fired, METH_O, "fired(values) -> indices of the rules whose condition holds."},
    {"fired_parts", (PyCFunction)(void (*)(void))Program_fired_parts, METH_FASTCALL,
     "fired_parts(record, x, index, make_values or names) -> (indices, values or None): fired() without building "
     "values; None in names mode for a vector that is not an exact contiguous float64 ndarray."},
    {"__reduce__", (PyCFunction)Program_reduce, METH_NOARGS, "Rebuilt from its condition trees."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.rules.Program",
    .tp_basicsize = sizeof(Program),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Program(trees): rule conditions evaluated from their IR (see fraudscore/rules/native.py).",
    .tp_methods = Program_methods,
    .tp_new = Program_new,
    .tp_dealloc = (destructor)Program_dealloc,
};

/* make_hits(cls, descrs, rows, idx, reasons) -> [cls(*rows[i][:3], reason, *rows[i][4:]) for the fired rules i in
 * idx] (round 16: CompiledRuleSet._hits without the frozen dataclass's __init__, ~1.5 us a hit): rows holds each
 * rule's (code, action, score, None, shadow, priority); reasons is a list aligned with idx (rendered reasons), or a
 * tuple indexed by rule (the static reasons: None where a reason reads values -- then the answer is None and the
 * caller renders them). The slots are set as the dataclass's __init__ sets them (slots.h). */
static PyObject *rules_make_hits(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyTuple_CheckExact(args[2]) || !PyList_CheckExact(args[3]) ||
        !(PyList_CheckExact(args[4]) || PyTuple_CheckExact(args[4]))) {
        PyErr_SetString(PyExc_TypeError, "make_hits(cls, descrs, rows: tuple, idx: list, reasons: list | tuple)");
        return NULL;
    }
    PyObject *rows = args[2], *idx = args[3], *reasons = args[4];
    int by_rule = PyTuple_CheckExact(reasons);
    Py_ssize_t n = PyList_GET_SIZE(idx), nr = PyTuple_GET_SIZE(rows);
    if (!by_rule && PyList_GET_SIZE(reasons) != n) {
        PyErr_SetString(PyExc_ValueError, "one reason per fired rule");
        return NULL;
    }
    PyObject *rv[64]; /* the rows, checked before anything is made */
    if (n > 64) Py_RETURN_NONE;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = PyLong_AsSsize_t(PyList_GET_ITEM(idx, k));
        if (i < 0 || i >= nr || (by_rule && i >= PyTuple_GET_SIZE(reasons))) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "rule index out of range");
            return NULL;
        }
        rv[k] = PyTuple_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(rv[k]) || PyTuple_GET_SIZE(rv[k]) != 6) {
            PyErr_SetString(PyExc_TypeError, "a rule's row is (code, action, score, None, shadow, priority)");
            return NULL;
        }
        if (by_rule && PyTuple_GET_ITEM(reasons, i) == Py_None) Py_RETURN_NONE; /* a reason to render */
    }
    PyObject *out = PyList_New(n);
    for (Py_ssize_t k = 0; out && k < n; k++) {
        PyObject *reason = by_rule ? PyTuple_GET_ITEM(reasons, PyLong_AsSsize_t(PyList_GET_ITEM(idx, k)))
                                   : PyList_GET_ITEM(reasons, k);
        PyObject *f[6] = {PyTuple_GET_ITEM(rv[k], 0), PyTuple_GET_ITEM(rv[k], 1), PyTuple_GET_ITEM(rv[k], 2), reason,
                          PyTuple_GET_ITEM(rv[k], 4), PyTuple_GET_ITEM(rv[k], 5)};
        PyObject *h = new_slots(args[0], args[1], f, 6);
        if (!h) Py_CLEAR(out);
        else PyList_SET_ITEM(out, k, h);
    }
    return out;
}

static PyMethodDef module_methods[] = {
    {"make_hits", (PyCFunction)(void (*)(void))rules_make_hits, METH_FASTCALL,
     "make_hits(cls, descrs, rows, idx, reasons) -> the RuleHit list of the fired rules idx, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "rules", "Rule conditions from the IR (reference: fraudscore/rules/scalar.py).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit_rules(void) {
    if (PyType_Ready(&ProgramType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&ProgramType);
    if (PyModule_AddObject(m, "Program", (PyObject *)&ProgramType) < 0) {
        Py_DECREF(&ProgramType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
