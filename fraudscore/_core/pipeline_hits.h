/*
 * fraudscore._core.pipeline, part: the rule hits of one decision in C (round 14; reference: fraudscore/scorer.py
 * hit_outcome and fraudscore/rules/combine.py combine). Included by pipeline_decide.h.
 *
 * hits_outcome(dctx, hits) -> (rule_action, points, reasons, rule_hits, shadow_hits) for a list of exact RuleHit
 *     objects: combine's rank and points over the acting (non-shadow) hits (ACTION_RANK[h.action], a KeyError for
 *     an unknown action as there), the acting hits sorted by -priority (stable: an insertion sort comparing with
 *     `<`, the order sorted() gives for int keys), a Reason(code, reason, "rule", False) each -- built as the frozen
 *     dataclass's __init__ leaves it: its __dict__ {code, message, source, adverse_action_ok} in field order -- and the
 *     acting and shadow codes. NULL without an error: not such a list (the caller runs the Python function).
 */

static PyObject *S_shadow, *S_priority, *S_code, *S_reason, *S_message, *S_source, *S_adverse_action_ok, *S_rule,
    *S_action_h;

static int hits_init(void) {
#define INTERN(v, s)                                                                                             \
    if (!((v) = PyUnicode_InternFromString(s))) return -1
    INTERN(S_shadow, "shadow");
    INTERN(S_priority, "priority");
    INTERN(S_code, "code");
    INTERN(S_reason, "reason");
    INTERN(S_message, "message");
    INTERN(S_source, "source");
    INTERN(S_adverse_action_ok, "adverse_action_ok");
    INTERN(S_rule, "rule");
    INTERN(S_action_h, "action");
#undef INTERN
    return 0;
}

/* Reason(code, message, "rule", False) as the frozen dataclass's __init__ makes it (a new reference) */
static PyObject *rule_reason(PyTypeObject *tp, PyObject *code, PyObject *message) {
    PyObject *r = PyBaseObject_Type.tp_new(tp, EMPTY_TUPLE, NULL), *d = r ? PyDict_New() : NULL;
    if (!d || PyDict_SetItem(d, S_code, code) < 0 || PyDict_SetItem(d, S_message, message) < 0 ||
        PyDict_SetItem(d, S_source, S_rule) < 0 || PyDict_SetItem(d, S_adverse_action_ok, Py_False) < 0 ||
        PyObject_GenericSetAttr(r, S___dict__, d) < 0) {
        Py_XDECREF(d);
        Py_XDECREF(r);
        return NULL;
    }
    Py_DECREF(d);
    return r;
}

static PyObject *hits_outcome(PyObject *dctx, PyObject *hits) {
    PyTypeObject *hit_t = (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_RULEHIT);
    if (!PyList_CheckExact(hits)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(hits);
    for (Py_ssize_t i = 0; i < n; i++)
        if (Py_TYPE(PyList_GET_ITEM(hits, i)) != hit_t) return NULL;
    PyObject *rank = Py_NewRef(ZERO), *points = Py_NewRef(ZERO), *acting = PyList_New(0), *keys = PyList_New(0);
    PyObject *reasons = NULL, *rule_hits = NULL, *shadow_hits = PyList_New(0), *rule_action = NULL, *out = NULL;
    if (!acting || !keys || !shadow_hits) goto done;
    for (Py_ssize_t i = 0; i < n; i++) { /* combine(hits), the acting hits and their keys, the shadow codes */
        PyObject *h = PyList_GET_ITEM(hits, i), *v = PyObject_GetAttr(h, S_shadow);
        int sh = v ? PyObject_IsTrue(v) : -1;
        Py_XDECREF(v);
        if (sh < 0) goto done;
        if (sh) {
            PyObject *c = PyObject_GetAttr(h, S_code);
            int rc = c ? PyList_Append(shadow_hits, c) : -1;
            Py_XDECREF(c);
            if (rc < 0) goto done;
            continue;
        }
        PyObject *sc = PyObject_GetAttr(h, S_score), *sum = sc ? PyNumber_InPlaceAdd(points, sc) : NULL;
        Py_XDECREF(sc);
        if (!sum) goto done;
        Py_SETREF(points, sum);
        PyObject *a = PyObject_GetAttr(h, S_action_h), *r = a ? PyObject_GetItem(PyTuple_GET_ITEM(dctx, DC_ACTION_RANK), a)
                                                             : NULL;
        Py_XDECREF(a);
        if (!r) goto done;
        int gt = PyObject_RichCompareBool(r, rank, Py_GT);
        if (gt < 0) {
            Py_DECREF(r);
            goto done;
        }
        if (gt) {
            Py_SETREF(rank, r);
        } else {
            Py_DECREF(r);
        }
        PyObject *pr = PyObject_GetAttr(h, S_priority), *k = pr ? PyNumber_Negative(pr) : NULL;
        Py_XDECREF(pr);
        int rc = k ? PyList_Append(keys, k) : -1;
        Py_XDECREF(k);
        if (rc < 0 || PyList_Append(acting, h) < 0) goto done;
    }
    if (!(rule_action = PyObject_GetItem(PyTuple_GET_ITEM(dctx, DC_ACTION_CODES), rank))) goto done;
    Py_ssize_t m = PyList_GET_SIZE(acting);
    for (Py_ssize_t i = 1; i < m; i++) { /* stable: an element moves before the ones whose key it is < */
        PyObject *k = PyList_GET_ITEM(keys, i), *h = PyList_GET_ITEM(acting, i);
        Py_ssize_t j = i;
        while (j > 0) {
            int lt = PyObject_RichCompareBool(k, PyList_GET_ITEM(keys, j - 1), Py_LT);
            if (lt < 0) goto done;
            if (!lt) break;
            PyList_SET_ITEM(keys, j, PyList_GET_ITEM(keys, j - 1));
            PyList_SET_ITEM(acting, j, PyList_GET_ITEM(acting, j - 1));
            j--;
        }
        PyList_SET_ITEM(keys, j, k);
        PyList_SET_ITEM(acting, j, h);
    }
    if (!(reasons = PyList_New(m)) || !(rule_hits = PyList_New(m))) goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *h = PyList_GET_ITEM(acting, i), *c = PyObject_GetAttr(h, S_code);
        PyObject *msg = c ? PyObject_GetAttr(h, S_reason) : NULL;
        PyObject *r = msg ? rule_reason((PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_REASON), c, msg) : NULL;
        Py_XDECREF(msg);
        if (!r) {
            Py_XDECREF(c);
            goto done;
        }
        PyList_SET_ITEM(reasons, i, r);
        PyList_SET_ITEM(rule_hits, i, c);
    }
    out = PyTuple_Pack(5, rule_action, points, reasons, rule_hits, shadow_hits);
done:
    if (!out && !PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "hits_outcome failed");
    Py_XDECREF(rule_action);
    Py_XDECREF(shadow_hits);
    Py_XDECREF(rule_hits);
    Py_XDECREF(reasons);
    Py_XDECREF(keys);
    Py_XDECREF(acting);
    Py_XDECREF(points);
    Py_XDECREF(rank);
    return out;
}
