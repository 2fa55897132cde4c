/*
 * fraudscore._core.schema -- the fast path of Schema.validate in one call
 * (reference: Schema.validate in fraudscore/schema.py and the field checkers of fraudscore/_checkers.py).
 *
 * Validator(plan, limits).validate(event) returns (normalised dict, has_extra) or None. None means
 * "not on the fast path": the caller then runs the Python Schema.validate, which is the reference
 * and the only place errors are raised. The fast path handles exact built-in types only (None, str,
 * float, int, bool, dict; any other type anywhere -> None) and computes, for those, exactly what the
 * Python fast path computes: ASCII strings stripped, finite numbers in range, plain int timestamps,
 * device mappings of ASCII text / finite numbers / bools / flat lists within every size limit. A
 * value outside its fast case goes to the field's own Python checker (plan item 7), as in Python.
 * has_extra says the event holds undeclared fields (the caller validates them with Schema._extras).
 *
 * check_mapping(value, max_keys, max_list) is the device-mapping fast path alone (batch columns):
 * a new dict, or None (use the Python checker).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dict_layout.h" /* dict_entries, dict_hint_get (read only: fpstage's header) */
#include "pytuple.h"    /* pair_steal */

enum { T_STR = 0, T_NUM, T_BOOL, T_TS, T_MAP, T_OTHER };

typedef struct {
    PyObject *name;
    int required, is_str, type, whole;
    double lo, hi;
    PyObject *check; /* the Python checker: check(value) */
    dl_hint_t hint;  /* where the event held this name last time (round 17: dict_hint_get) */
} FieldPlan;

typedef struct {
    PyObject_HEAD
    PyObject *plan, *limits; /* kept for __reduce__ (copies, worker processes) */
    Py_ssize_t n;
    FieldPlan *f;
    Py_ssize_t max_fields, max_str, max_keys, max_list, max_name, max_attr, max_item, max_chars;
    long long ts_min, ts_max, sec_cutoff;
    PyObject *tmpl; /* round 16: {name: None for each field of the plan}, in plan order (validate's output copied) */
} Validator;

static Py_ssize_t LIMITS[8];
static int ws(Py_UCS1 c) { return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f); }

/* a finite float64 from an exact int below 2**1023 in magnitude (else -1: slow path) */
static int int_float(PyObject *v, double *out) {
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        if (_PyLong_NumBits(v) >= 1023) return -1;
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        *out = d;
        return 0;
    }
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    *out = (double)x; /* round-to-nearest, as float(int) */
    return 0;
}

static int finite_number(PyObject *x) {
    if (PyFloat_CheckExact(x)) return isfinite(PyFloat_AS_DOUBLE(x));
    if (PyLong_CheckExact(x)) {
        double d;
        return int_float(x, &d) == 0;
    }
    return 0;
}

/* the device-mapping fast path (_checkers.compile_check, type "mapping"): new dict, Py_None (slow path), NULL */
static PyObject *mapping_fast(PyObject *v, Py_ssize_t max_keys, Py_ssize_t max_list) {
    if (!PyDict_CheckExact(v) || PyDict_GET_SIZE(v) > max_keys) Py_RETURN_NONE;
    /* round 13: check every item first (nothing allocated), then copy the dict in one call (PyDict_Copy clones a
     * compact dict's table) and replace the list values with copies -- the same keys, values and order as the item
     * by item inserts it replaced, at a fraction of the cost (a device of ~15 attributes: ~5k -> ~1.5k) */
    Py_ssize_t pos = 0, total = 0, lists = 0;
    PyObject *k, *x;
    while (PyDict_Next(v, &pos, &k, &x)) {
        if (!PyUnicode_CheckExact(k) || !PyUnicode_IS_COMPACT_ASCII(k)) Py_RETURN_NONE;
        Py_ssize_t kl = PyUnicode_GET_LENGTH(k);
        if (kl == 0 || kl > LIMITS[4]) Py_RETURN_NONE;
        total += kl;
        if (PyUnicode_CheckExact(x)) {
            if (!PyUnicode_IS_COMPACT_ASCII(x) || PyUnicode_GET_LENGTH(x) > LIMITS[5]) Py_RETURN_NONE;
            total += PyUnicode_GET_LENGTH(x);
        } else if (PyFloat_CheckExact(x) || PyLong_CheckExact(x)) {
            if (!finite_number(x)) Py_RETURN_NONE;
        } else if (PyList_CheckExact(x)) {
            Py_ssize_t m = PyList_GET_SIZE(x);
            if (m > max_list) Py_RETURN_NONE;
            for (Py_ssize_t i = 0; i < m; i++) {
                PyObject *it = PyList_GET_ITEM(x, i);
                if (PyUnicode_CheckExact(it)) {
                    if (!PyUnicode_IS_COMPACT_ASCII(it) || PyUnicode_GET_LENGTH(it) > LIMITS[6]) Py_RETURN_NONE;
                    total += PyUnicode_GET_LENGTH(it);
                } else if (!((PyLong_CheckExact(it) || PyFloat_CheckExact(it)) && finite_number(it))) {
                    Py_RETURN_NONE;
                }
            }
            lists++;
        } else if (!PyBool_Check(x) && x != Py_None) {
            Py_RETURN_NONE;
        }
    }
    if (total > LIMITS[7]) Py_RETURN_NONE;
    PyObject *out = PyDict_Copy(v);
    if (!out || !lists) return out;
    pos = 0;
    while (PyDict_Next(v, &pos, &k, &x)) { /* a list value: its copy (list(x)); the key keeps its place */
        if (!PyList_CheckExact(x)) continue;
        PyObject *val = PyList_GetSlice(x, 0, PyList_GET_SIZE(x));
        int r = val ? PyDict_SetItem(out, k, val) : -1;
        Py_XDECREF(val);
        if (r < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *check_mapping(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "check_mapping(value, max_keys, max_list)");
        return NULL;
    }
    Py_ssize_t mk = PyLong_AsSsize_t(args[1]), ml = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    return mapping_fast(args[0], mk, ml);
}

/* mapping_column(values, max_keys, max_list) -> (out, rest): check_mapping over a batch column (reference: the loop
 * of batch._check_mapping_column). out[i] is the fast path's dict for an exact dict on the fast path -- one dict per
 * distinct input object, shared by the rows holding that object, as the reference's memo by id() does -- and None
 * elsewhere; rest lists every other position (non-dicts, dicts off the fast path) for the Python checker. */
static PyObject *mapping_column(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "mapping_column(values, max_keys, max_list)");
        return NULL;
    }
    Py_ssize_t mk = PyLong_AsSsize_t(args[1]), ml = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    PyObject *fast = PySequence_Fast(args[0], "values must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *out = PyList_New(n), *rest = PyList_New(0), *memo = PyDict_New();
    if (!out || !rest || !memo) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i], *r = NULL;
        Py_INCREF(Py_None);
        PyList_SET_ITEM(out, i, Py_None);
        if (PyDict_CheckExact(v)) {
            PyObject *key = PyLong_FromVoidPtr(v); /* the object stays alive in values: its address is not reused */
            if (!key) goto fail;
            r = PyDict_GetItemWithError(memo, key);
            if (r) {
                Py_INCREF(r);
            } else if (PyErr_Occurred()) {
                Py_DECREF(key);
                goto fail;
            } else {
                r = mapping_fast(v, mk, ml);
                if (!r || PyDict_SetItem(memo, key, r) < 0) {
                    Py_XDECREF(r);
                    Py_DECREF(key);
                    goto fail;
                }
            }
            Py_DECREF(key);
            if (r != Py_None) {
                PyList_SetItem(out, i, r); /* steals r, drops the None */
                continue;
            }
            Py_DECREF(r);
        }
        PyObject *ix = PyLong_FromSsize_t(i);
        if (!ix || PyList_Append(rest, ix) < 0) {
            Py_XDECREF(ix);
            goto fail;
        }
        Py_DECREF(ix);
    }
    Py_DECREF(memo);
    Py_DECREF(fast);
    return Py_BuildValue("(NN)", out, rest);
fail:
    Py_XDECREF(out);
    Py_XDECREF(rest);
    Py_XDECREF(memo);
    Py_DECREF(fast);
    return NULL;
}

/* one field's value: new ref, NULL with *slow set (whole event to Python) or NULL + exception */
static PyObject *field_value(Validator *V, FieldPlan *f, PyObject *value, int *slow) {
    if (PyUnicode_CheckExact(value)) {
        if (f->is_str && PyUnicode_IS_COMPACT_ASCII(value)) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(value), b = 0, e = n;
            const Py_UCS1 *s = PyUnicode_1BYTE_DATA(value);
            while (b < e && ws(s[b])) b++;
            while (e > b && ws(s[e - 1])) e--;
            if (e - b <= V->max_str && !memchr(s + b, 0, (size_t)(e - b))) {
                if (e == b) Py_RETURN_NONE;
                if (b == 0 && e == n) {
                    Py_INCREF(value);
                    return value;
                }
                return PyUnicode_Substring(value, b, e);
            }
        }
        return PyObject_CallOneArg(f->check, value);
    }
    if (PyFloat_CheckExact(value) || (PyLong_CheckExact(value) && !PyBool_Check(value))) {
        if (f->type == T_NUM) {
            double x;
            int ok = 1;
            if (PyFloat_CheckExact(value)) x = PyFloat_AS_DOUBLE(value);
            else ok = int_float(value, &x) == 0;
            if (ok && isfinite(x) && f->lo <= x && x <= f->hi && (!f->whole || x == floor(x)))
                return PyFloat_FromDouble(x);
        } else if (f->type == T_TS && PyLong_CheckExact(value)) {
            int overflow;
            long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
            if (!overflow && !(v == -1 && PyErr_Occurred())) {
                long long ms = (v < V->sec_cutoff && v > -V->sec_cutoff) ? v * 1000 : v;
                if (V->ts_min <= ms && ms <= V->ts_max) return PyLong_FromLongLong(ms);
            }
            PyErr_Clear();
        }
        return PyObject_CallOneArg(f->check, value);
    }
    if (PyBool_Check(value)) {
        if (f->type == T_BOOL) {
            Py_INCREF(value);
            return value;
        }
        return PyObject_CallOneArg(f->check, value);
    }
    if (PyDict_CheckExact(value)) {
        if (f->type == T_MAP) {
            PyObject *r = mapping_fast(value, V->max_keys, V->max_list);
            if (r != Py_None) return r;
            Py_DECREF(r);
        }
        return PyObject_CallOneArg(f->check, value);
    }
    *slow = 1;
    return NULL;
}

#if DICT_LAYOUT
/* the (hash, key, value) entries of a combined general-keys dict with exactly n live entries, in insertion order, or
 * NULL for any other layout (dict_layout.h's dict_entries is the str-keys twin). _PyDict_NewPresized makes general
 * keys for more than 5 items, so the template, made as the item-by-item output was made, has them: its copies keep
 * the output's key kind, table and lookup costs as before (a str-keys table would make every later lookup in the
 * validated event and the record copied from it ~5 instructions dearer on CPython 3.11). */
typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key, *me_value;
} sc_gentry_t;

/* a pointer to entry 0's key, *stride pointers per entry, or NULL */
static inline PyObject **out_values(PyObject *o, Py_ssize_t n, Py_ssize_t *stride) {
    dl_entry_t *u = dict_entries(o, n);
    if (u) {
        *stride = 2;
        return &u[0].me_key;
    }
    PyDictObject *d = (PyDictObject *)o;
    dl_keys_t *k = (dl_keys_t *)d->ma_keys;
    if (d->ma_values != NULL || d->ma_used != n || k->dk_kind != 0 /* DICT_KEYS_GENERAL */ || k->dk_nentries != n ||
        k->dk_log2_index_bytes > 12 || k->dk_log2_size > 12)
        return NULL;
    *stride = 3;
    return &((sc_gentry_t *)(k->dk_indices + ((size_t)1 << k->dk_log2_index_bytes)))[0].me_key;
}
#endif

/* the output dict: the fields' values (new references, stolen) under their names in plan order. Round 16: the
 * template (every name -> None, the same table) copied and its values replaced where they live, the dict tracked by
 * the collector exactly when PyDict_SetItem would have tracked it (a value that is a GC object, a tuple only when
 * tracked); any other layout (duplicate or non-str names, another CPython) inserts item by item as before. */
static PyObject *out_dict(Validator *V, PyObject **vals) {
    Py_ssize_t n = V->n;
    PyObject *out = NULL;
#if DICT_LAYOUT
    if (V->tmpl) {
        out = PyDict_Copy(V->tmpl);
        if (!out) goto fail;
        Py_ssize_t st = 0; /* pointers per entry (2 or 3): key i at e[i * st], its value at e[i * st + 1] */
        PyObject **e = out_values(out, n, &st);
        for (Py_ssize_t i = 0; e && i < n; i++)
            if (e[i * st] != V->f[i].name || e[i * st + 1] != Py_None) e = NULL;
        if (e) {
            int track = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *v = vals[i], *old = e[i * st + 1];
                e[i * st + 1] = v;
                vals[i] = NULL;
                Py_DECREF(old);
                track |= PyObject_IS_GC(v) && (!PyTuple_CheckExact(v) || PyObject_GC_IsTracked(v));
            }
            if (track && !PyObject_GC_IsTracked(out)) PyObject_GC_Track(out);
            return out;
        }
        Py_CLEAR(out);
    }
#endif
    out = _PyDict_NewPresized(n);
    if (!out) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = PyDict_SetItem(out, V->f[i].name, vals[i]);
        Py_CLEAR(vals[i]);
        if (r < 0) goto fail;
    }
    return out;
fail:
    Py_XDECREF(out);
    for (Py_ssize_t i = 0; i < n; i++) Py_CLEAR(vals[i]);
    return NULL;
}

static PyObject *Validator_validate(Validator *V, PyObject *event) {
    if (!PyDict_CheckExact(event) || PyDict_GET_SIZE(event) > V->max_fields) Py_RETURN_NONE;
    /* round 16: the values first (the checkers never see the output), then the output in one step (out_dict) */
    PyObject *stack[32], **vals = stack;
    if (V->n > 32) {
        vals = PyMem_Calloc((size_t)V->n, sizeof(PyObject *));
        if (!vals) return PyErr_NoMemory();
    }
    Py_ssize_t found = 0, i; /* vals[0..i) hold references */
    for (i = 0; i < V->n; i++) {
        FieldPlan *f = &V->f[i];
        PyObject *value = dict_hint_get(event, f->name, &f->hint), *v; /* event.get(name), round 17: hinted */
        if (!value) {
            if (PyErr_Occurred()) goto fail;
            value = Py_None;
        } else {
            found++;
        }
        if (value == Py_None || (PyFloat_CheckExact(value) && isnan(PyFloat_AS_DOUBLE(value)))) {
            if (f->required) goto slow; /* Python raises "is required" */
            vals[i] = Py_NewRef(Py_None);
            continue;
        }
        int slow = 0;
        v = field_value(V, f, value, &slow);
        if (!v) {
            if (slow) goto slow;
            goto slow_err; /* a checker raised: Python raises it again, from the reference path */
        }
        if (v == Py_None && f->required) {
            Py_DECREF(v);
            goto slow;
        }
        vals[i] = v;
    }
    PyObject *out = out_dict(V, vals); /* steals vals */
    if (vals != stack) PyMem_Free(vals);
    if (!out) return NULL;
    return pair_steal(out, Py_NewRef(found < PyDict_GET_SIZE(event) ? Py_True : Py_False));
slow_err:
    PyErr_Clear(); /* whatever a checker raised, the Python reference raises it again */
slow:
    while (i > 0) Py_DECREF(vals[--i]);
    if (vals != stack) PyMem_Free(vals);
    Py_RETURN_NONE;
fail:
    while (i > 0) Py_DECREF(vals[--i]);
    if (vals != stack) PyMem_Free(vals);
    return NULL;
}

static void Validator_clear_plan(Validator *V) {
    if (V->f) {
        for (Py_ssize_t i = 0; i < V->n; i++) {
            Py_XDECREF(V->f[i].name);
            Py_XDECREF(V->f[i].check);
        }
        PyMem_Free(V->f);
        V->f = NULL;
    }
}

/* Validator(plan, limits): plan = tuple of (name, required, is_str, type code, lo, hi, whole, check);
 * limits = (max_fields, max_str, max_keys, max_list, ts_min, ts_max, sec_cutoff) */
static PyObject *Validator_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *plan, *limits;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &plan, &PyTuple_Type, &limits)) return NULL;
    Validator *V = (Validator *)type->tp_alloc(type, 0);
    if (!V) return NULL;
    Py_INCREF(plan);
    Py_INCREF(limits);
    V->plan = plan;
    V->limits = limits;
    if (!PyArg_ParseTuple(limits, "nnnnLLL", &V->max_fields, &V->max_str, &V->max_keys, &V->max_list, &V->ts_min,
                          &V->ts_max, &V->sec_cutoff))
        goto fail;
    V->n = PyTuple_GET_SIZE(plan);
    V->f = PyMem_Calloc((size_t)(V->n ? V->n : 1), sizeof(FieldPlan));
    if (!V->f) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < V->n; i++) {
        FieldPlan *f = &V->f[i];
        PyObject *name, *check;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(plan, i), "Uppiddp" "O", &name, &f->required, &f->is_str, &f->type,
                              &f->lo, &f->hi, &f->whole, &check))
            goto fail;
        Py_INCREF(name);
        Py_INCREF(check);
        f->name = name;
        f->check = check;
    }
    V->tmpl = _PyDict_NewPresized(V->n); /* made as the item-by-item output is made: the same key kind and table */
    if (!V->tmpl) goto fail;
    for (Py_ssize_t i = 0; i < V->n; i++)
        if (PyDict_SetItem(V->tmpl, V->f[i].name, Py_None) < 0) goto fail;
    return (PyObject *)V;
fail:
    Py_DECREF(V);
    return NULL;
}

static PyObject *Validator_reduce(Validator *V, PyObject *unused) {
    return Py_BuildValue("(O(OO))", (PyObject *)Py_TYPE(V), V->plan, V->limits);
}

static void Validator_dealloc(Validator *V) {
    Py_XDECREF(V->tmpl);
    Py_XDECREF(V->plan);
    Py_XDECREF(V->limits);
    Validator_clear_plan(V);
    Py_TYPE(V)->tp_free((PyObject *)V);
}

static PyMethodDef Validator_methods[] = {
    {"validate", (PyCFunction)Validator_validate, METH_O,
     "validate(event) -> (dict, has_extra), or None: run the Python Schema.validate."},
    {"__reduce__", (PyCFunction)Validator_reduce, METH_NOARGS, "Rebuilt from its plan and limits."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ValidatorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fraudscore._core.schema.Validator",
    .tp_basicsize = sizeof(Validator),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Validator(plan, limits): the fast path of Schema.validate.",
    .tp_methods = Validator_methods,
    .tp_new = Validator_new,
    .tp_dealloc = (destructor)Validator_dealloc,
};

static PyObject *set_limits(PyObject *self, PyObject *args) {
    if (!PyArg_ParseTuple(args, "nnnnnnnn", &LIMITS[0], &LIMITS[1], &LIMITS[2], &LIMITS[3], &LIMITS[4], &LIMITS[5],
                          &LIMITS[6], &LIMITS[7]))
        return NULL;
    Py_RETURN_NONE;
}

/* str_column(values, max_len, required) -> (out, slow): the text-column fast path of the batch validator
 * (reference: batch._check_str_column). out[i] is the stripped value of an exact ASCII str without NUL of at
 * most max_len characters once stripped (non-empty), None for None when not required; every other position
 * is listed in slow (a list of ints) for the scalar checker. */
static PyObject *str_column(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "str_column(values, max_len, required)");
        return NULL;
    }
    Py_ssize_t max_len = PyLong_AsSsize_t(args[1]);
    int required = PyObject_IsTrue(args[2]);
    if (PyErr_Occurred()) return NULL;
    PyObject *fast = PySequence_Fast(args[0], "values must be a sequence");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *out = PyList_New(n), *slow = PyList_New(0);
    if (!out || !slow) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        Py_INCREF(Py_None);
        PyList_SET_ITEM(out, i, Py_None);
        if (PyUnicode_CheckExact(v) && PyUnicode_IS_COMPACT_ASCII(v)) {
            Py_ssize_t len = PyUnicode_GET_LENGTH(v), b = 0, e = len;
            const Py_UCS1 *c = PyUnicode_1BYTE_DATA(v);
            while (b < e && ws(c[b])) b++;
            while (e > b && ws(c[e - 1])) e--;
            if (e > b && e - b <= max_len && !memchr(c + b, 0, (size_t)(e - b))) {
                PyObject *r;
                if (b == 0 && e == len) {
                    Py_INCREF(v);
                    r = v;
                } else {
                    r = PyUnicode_Substring(v, b, e);
                    if (!r) goto fail;
                }
                PyList_SetItem(out, i, r);
                continue;
            }
        } else if (v == Py_None && !required) {
            continue;
        }
        PyObject *ix = PyLong_FromSsize_t(i);
        if (!ix || PyList_Append(slow, ix) < 0) {
            Py_XDECREF(ix);
            goto fail;
        }
        Py_DECREF(ix);
    }
    Py_DECREF(fast);
    return Py_BuildValue("(NN)", out, slow);
fail:
    Py_XDECREF(out);
    Py_XDECREF(slow);
    Py_DECREF(fast);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"str_column", (PyCFunction)(void (*)(void))str_column, METH_FASTCALL,
     "str_column(values, max_len, required) -> (values, slow positions): the batch text-column fast path."},
    {"mapping_column", (PyCFunction)(void (*)(void))mapping_column, METH_FASTCALL,
     "mapping_column(values, max_keys, max_list) -> (dicts, rest positions): check_mapping over a column."},
    {"check_mapping", (PyCFunction)(void (*)(void))check_mapping, METH_FASTCALL,
     "check_mapping(value, max_keys, max_list) -> dict, or None: run the Python checker."},
    {"set_limits", set_limits, METH_VARARGS,
     "set_limits(_, _, _, _, max_name, max_attr_str, max_list_item, max_device_chars): the mapping limits."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "schema", "The fast path of Schema.validate (reference: fraudscore/schema.py).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit_schema(void) {
    if (PyType_Ready(&ValidatorType) < 0) return NULL;
    /* safe defaults until set_limits: nothing passes the mapping fast path */
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&ValidatorType);
    if (PyModule_AddObject(m, "Validator", (PyObject *)&ValidatorType) < 0) {
        Py_DECREF(&ValidatorType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
