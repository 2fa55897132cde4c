/*
 * fraudscore._core.pipeline, part: decide() -- Scorer.score in one call, from the raw event to the Decision
 * (round 14; reference: fraudscore/scorer.py, Scorer.score and Scorer._decide, Schema.validate,
 * FeaturePipeline.online, CompiledRuleSet.evaluate_parts, Policy.decide, score_scale, make_decision). Included by
 * pipeline.c after online().
 *
 * decide(dctx, scorer, event, explain, return_features) -> Decision
 *     The steps of Scorer.score on the same objects, in the same order, each one in C where its object is the
 *     exact class the context names, else by calling the Python method:
 *     * schema.validate(event): the compiled validator (schema._fast.validate; schema._extras for extra fields),
 *       else the method;
 *     * the clock bound (max_clock_skew_ms: clock_gettime(CLOCK_REALTIME) // 1e6 for the default clock, as
 *       time.time_ns(), else int(clock()); scorer._future_error() raised past it);
 *     * FeaturePipeline.online under scorer._lock (an in-process store): online() above where the method's own gate
 *       holds (a FeaturePipeline on the compiled store and identity kernel); its (record, exc) answer goes to
 *       pipeline._online_failed, its None and every other case to pipeline.online (which decides again);
 *     * the rules: Program.fired_parts with the rule set's (names, index) (given the names, it builds the merged
 *       dict when a closure needs it; round 16), rules._hits for fired rules, hit_outcome(hits) when some fired (in C,
 *       pipeline_hits.h, for RuleHit objects); otherwise rules.evaluate_parts;
 *     * the model: x or x[_model_cols], float(model.predict_one(xm)), score_scale in C for a finite value;
 *     * Policy.decide in C for an exact Policy with int thresholds (else the method);
 *     * the explanation (outcome.ModelReasons, PendingReasons) as Scorer._decide makes it;
 *     * the Decision: object.__new__(Decision) and its __dict__ in make_decision's key order.
 *     A degraded event, a challenger, return_features or a scorer whose parts are not the expected classes go to
 *     scorer._decide (the rest of score in Python) once the pipeline has run: state changes exactly once.
 *     dctx = (Schema, FeaturePipeline, CompiledMemoryStore, CompiledRuleSet, RuleSet, Policy, wall_clock_ms,
 *             np.empty, np.ndarray, float64 dtype, hit_outcome, score_scale, ModelReasons, PendingReasons, Decision,
 *             RuleHit, Reason, ACTION_RANK, ACTION_CODES)
 */
#include <time.h>

#include "dict_layout.h" /* dict_entries (read only: linkflat's header) */

enum {
    DC_SCHEMA, DC_PIPELINE, DC_STORE, DC_CRULES, DC_RULESET, DC_POLICY, DC_WALL_CLOCK, DC_EMPTY, DC_NDARRAY, DC_F64,
    DC_HIT_OUTCOME, DC_SCORE_SCALE, DC_MODEL_REASONS, DC_PENDING, DC_DECISION, DC_RULEHIT, DC_REASON, DC_ACTION_RANK,
    DC_ACTION_CODES, DC_N
};

static PyObject *S_schema, *S__fast, *S_validate, *S__extras, *S_max_clock_skew_ms, *S_clock, *S_time_field,
    *S__future_error, *S__local, *S__lock2, *S_pipeline, *S_linker, *S_velocity, *S_degrade, *S_online, *S__online_ctx,
    *S_store, *S_plan, *S_identity, *S__kernel, *S_fingerprinter, *S___self__, *S__n_features, *S__online_failed,
    *S_challenger, *S__decide, *S_rules, *S__program, *S__last, *S_fired_parts, *S__hits, *S_feature_names, *S_model,
    *S__model_cols, *S_predict_one, *S_policy, *S_review, *S_decline, *S_approve, *S_explain, *S_auto,
    *S_lazy_reasons, *S_copy, *S_id_field, *S_model_version, *S_ruleset, *S__version, *S_version, *S___dict__,
    *S_probability, *S_action, *S__reasons, *S_rule_hits, *S_shadow_hits, *S_degraded, *S_challenger_score,
    *S_challenger_probability, *S_challenger_action, *S_challenger_version, *S_ruleset_version, *S_score,
    *S_application_id2, *S_features2, *S_duplicate2, *S_evaluate_parts, *S_decide_m, *S_decide_kw, *EMPTY_TUPLE, *ZERO, *DECISION_TEMPLATE;

static int hits_init(void);

static int decide_init(void) {
#define INTERN(v, s)                                                                                             \
    if (!((v) = PyUnicode_InternFromString(s))) return -1
    INTERN(S_schema, "schema");
    INTERN(S__fast, "_fast");
    INTERN(S_validate, "validate");
    INTERN(S__extras, "_extras");
    INTERN(S_max_clock_skew_ms, "max_clock_skew_ms");
    INTERN(S_clock, "clock");
    INTERN(S_time_field, "time_field");
    INTERN(S__future_error, "_future_error");
    INTERN(S__local, "_local");
    INTERN(S__lock2, "_lock");
    INTERN(S_pipeline, "pipeline");
    INTERN(S_linker, "linker");
    INTERN(S_velocity, "velocity");
    INTERN(S_degrade, "degrade");
    INTERN(S_online, "online");
    INTERN(S__online_ctx, "_online_ctx");
    INTERN(S_store, "store");
    INTERN(S_plan, "plan");
    INTERN(S_identity, "identity");
    INTERN(S__kernel, "_kernel");
    INTERN(S_fingerprinter, "fingerprinter");
    INTERN(S___self__, "__self__");
    INTERN(S__n_features, "_n_features");
    INTERN(S__online_failed, "_online_failed");
    INTERN(S_challenger, "challenger");
    INTERN(S__decide, "_decide");
    INTERN(S_rules, "rules");
    INTERN(S__program, "_program");
    INTERN(S__last, "_last");
    INTERN(S_fired_parts, "fired_parts");
    INTERN(S__hits, "_hits");
    INTERN(S_feature_names, "feature_names");
    INTERN(S_model, "model");
    INTERN(S__model_cols, "_model_cols");
    INTERN(S_predict_one, "predict_one");
    INTERN(S_policy, "policy");
    INTERN(S_review, "review");
    INTERN(S_decline, "decline");
    INTERN(S_approve, "approve");
    INTERN(S_explain, "explain");
    INTERN(S_auto, "auto");
    INTERN(S_lazy_reasons, "lazy_reasons");
    INTERN(S_copy, "copy");
    INTERN(S_id_field, "id_field");
    INTERN(S_model_version, "model_version");
    INTERN(S_ruleset, "ruleset");
    INTERN(S__version, "_version");
    INTERN(S_version, "version");
    INTERN(S___dict__, "__dict__");
    INTERN(S_probability, "probability");
    INTERN(S_action, "action");
    INTERN(S__reasons, "_reasons");
    INTERN(S_rule_hits, "rule_hits");
    INTERN(S_shadow_hits, "shadow_hits");
    INTERN(S_degraded, "degraded");
    INTERN(S_challenger_score, "challenger_score");
    INTERN(S_challenger_probability, "challenger_probability");
    INTERN(S_challenger_action, "challenger_action");
    INTERN(S_challenger_version, "challenger_version");
    INTERN(S_ruleset_version, "ruleset_version");
    INTERN(S_score, "score");
    INTERN(S_application_id2, "application_id");
    INTERN(S_features2, "features");
    INTERN(S_duplicate2, "duplicate");
    INTERN(S_evaluate_parts, "evaluate_parts");
    INTERN(S_decide_m, "decide");
#undef INTERN
    if (!(S_decide_kw = PyTuple_Pack(1, S_degrade))) return -1;
    if (!(EMPTY_TUPLE = PyTuple_New(0)) || !(ZERO = PyLong_FromLong(0))) return -1;
    /* make_decision's __dict__ keys in order; features None, not degraded, no challenger */
    PyObject *keys[17] = {S_application_id2, S_score, S_probability, S_action, S__reasons, S_rule_hits, S_shadow_hits,
                          S_features2, S_model_version, S_ruleset_version, S_device_id, S_degraded, S_challenger_score,
                          S_challenger_probability, S_challenger_action, S_challenger_version, S_duplicate2};
    if (!(DECISION_TEMPLATE = PyDict_New())) return -1;
    for (int i = 0; i < 17; i++) {
        PyObject *v = keys[i] == S_degraded ? Py_False : keys[i] == S_challenger_version ? S_empty : Py_None;
        if (PyDict_SetItem(DECISION_TEMPLATE, keys[i], v) < 0) return -1;
    }
    return hits_init();
}

/* o.<name> (a new reference, NULL with an error): a guarded read with its own inline cache per use (round 17,
 * attrcache.h: the same answer as PyObject_GetAttr, re-read when the object's dict or type changed) */
#define GET(o, name) AC_GET((o), (name))

/* ev = scorer.schema.validate(event): the compiled validator's hit, else the method. A new reference. */
static PyObject *decide_validate(PyObject *dctx, PyObject *schema, PyObject *event) {
    if (Py_TYPE(schema) == (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_SCHEMA)) {
        PyObject *fast = GET(schema, S__fast);
        if (!fast) return NULL;
        if (fast != Py_None) {
            PyObject *hit = PyObject_CallMethodOneArg(fast, S_validate, event);
            Py_DECREF(fast);
            if (!hit) return NULL;
            if (hit != Py_None) {
                if (!PyTuple_CheckExact(hit) || PyTuple_GET_SIZE(hit) != 2) {
                    Py_DECREF(hit);
                    PyErr_SetString(PyExc_TypeError, "validate: bad answer");
                    return NULL;
                }
                PyObject *out = Py_NewRef(PyTuple_GET_ITEM(hit, 0)), *extra = PyTuple_GET_ITEM(hit, 1);
                int ex = PyObject_IsTrue(extra);
                if (ex > 0) {
                    PyObject *args[3] = {schema, event, out};
                    PyObject *r = PyObject_VectorcallMethod(S__extras, args, 3, NULL);
                    if (!r) ex = -1;
                    Py_XDECREF(r);
                }
                Py_DECREF(hit);
                if (ex < 0) Py_CLEAR(out);
                return out;
            }
            Py_DECREF(hit);
        } else {
            Py_DECREF(fast);
        }
    }
    return PyObject_CallMethodOneArg(schema, S_validate, event);
}

/* the clock bound: 0 (within it), -1 with an error (EventError from scorer._future_error(), or another) */
static int decide_clock(PyObject *dctx, PyObject *scorer, PyObject *schema, PyObject *ev) {
    PyObject *skew = GET(scorer, S_max_clock_skew_ms);
    if (!skew) return -1;
    if (skew == Py_None) {
        Py_DECREF(skew);
        return 0;
    }
    PyObject *clock = GET(scorer, S_clock), *now = NULL, *limit = NULL, *tf = NULL, *t = NULL;
    int rc = -1;
    if (!clock) goto done;
    if (clock == PyTuple_GET_ITEM(dctx, DC_WALL_CLOCK)) { /* time.time_ns() // 1_000_000 */
        struct timespec tsp;
        if (clock_gettime(CLOCK_REALTIME, &tsp) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
        long long ns_ms = (long long)tsp.tv_sec * 1000LL, rem = (long long)tsp.tv_nsec;
        /* floor division of sec * 1e9 + nsec by 1e6, nsec in [0, 1e9) */
        now = PyLong_FromLongLong(ns_ms + rem / 1000000LL);
    } else {
        PyObject *c = PyObject_CallNoArgs(clock);
        now = c ? PyNumber_Long(c) : NULL;
        Py_XDECREF(c);
    }
    if (!now || !(limit = PyNumber_Add(now, skew))) goto done;
    if (!(tf = GET(schema, S_time_field)) || !(t = PyObject_GetItem(ev, tf))) goto done;
    int late = PyObject_RichCompareBool(t, limit, Py_GT);
    if (late < 0) goto done;
    if (late) {
        PyObject *exc = PyObject_CallMethodNoArgs(scorer, S__future_error);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(t);
    Py_XDECREF(tf);
    Py_XDECREF(limit);
    Py_XDECREF(now);
    Py_XDECREF(clock);
    Py_DECREF(skew);
    return rc;
}

/* FeaturePipeline.online(ev, linker, velocity, degrade=degrade) for the scorer: online() above where the method's
 * gate holds, else the method. Returns the (record, x, degraded, duplicate) tuple; *fast_x is set when x is the
 * float64 vector allocated here (contiguous, exact). */
static PyObject *decide_online(PyObject *dctx, PyObject *pipeline, PyObject *ev, PyObject *linker,
                               PyObject *velocity, PyObject *degrade, int *fast_x) {
    PyObject *octx = NULL, *store = NULL, *plan = NULL, *ident = NULL, *kernel = NULL, *x = NULL, *out = NULL;
    *fast_x = 0;
    if (Py_TYPE(pipeline) != (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_PIPELINE)) goto method;
    if (!(octx = GET(pipeline, S__online_ctx))) return NULL;
    if (octx == Py_None || !PyTuple_CheckExact(octx) || PyTuple_GET_SIZE(octx) != OC_N) goto method;
    if (!(store = GET(velocity, S_store))) goto fail;
    if ((PyObject *)Py_TYPE(store) != PyTuple_GET_ITEM(dctx, DC_STORE)) goto method;
    if (!(ident = GET(pipeline, S_identity)) || !(kernel = GET(ident, S__kernel))) goto fail;
    if (kernel == Py_None) goto method;
    PyObject *dc = PyTuple_GET_ITEM(octx, OC_DEVICE);
    if (dc != Py_None) { /* octx[1][0].__self__ is self.fingerprinter */
        if (!PyTuple_Check(dc) || PyTuple_GET_SIZE(dc) < 1) goto method;
        PyObject *bm = PyTuple_GET_ITEM(dc, 0); /* a bound method's __self__ read from the method object itself */
        PyObject *me = PyMethod_Check(bm) ? Py_NewRef(PyMethod_GET_SELF(bm)) : GET(bm, S___self__);
        if (!me) goto fail;
        PyObject *fpr = GET(pipeline, S_fingerprinter);
        int same = fpr == me;
        Py_DECREF(me);
        if (!fpr) goto fail;
        Py_DECREF(fpr);
        if (!same) goto method;
    }
    if (!(plan = GET(velocity, S_plan))) goto fail;
    PyObject *n = GET(pipeline, S__n_features);
    if (!n) goto fail;
    PyObject *eargs[2] = {n, PyTuple_GET_ITEM(dctx, DC_F64)};
    x = PyObject_Vectorcall(PyTuple_GET_ITEM(dctx, DC_EMPTY), eargs, 2, NULL);
    Py_DECREF(n);
    if (!x) goto fail;
    PyObject *oargs[6] = {octx, ev, x, linker, plan, store};
    PyObject *r = py_online(NULL, oargs, 6);
    if (!r) goto fail;
    if (r != Py_None) {
        if (PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 4) {
            out = r;
            *fast_x = PyTuple_GET_ITEM(r, 1) == x;
            goto done;
        }
        if (PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 2) { /* a StoreError: degrade or raise */
            PyObject *fargs[5] = {pipeline, PyTuple_GET_ITEM(r, 0), x, PyTuple_GET_ITEM(r, 1), degrade};
            out = PyObject_VectorcallMethod(S__online_failed, fargs, 5, NULL);
            Py_DECREF(r);
            goto done;
        }
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError, "online: bad answer");
        goto fail;
    }
    Py_DECREF(r);
method: { /* the method decides (and, off the fast path, runs the Python steps) */
    PyObject *margs[5] = {pipeline, ev, linker, velocity, degrade};
    out = PyObject_VectorcallMethod(S_online, margs, 4, S_decide_kw);
    goto done;
}
fail:
done:
    Py_XDECREF(x);
    Py_XDECREF(plan);
    Py_XDECREF(kernel);
    Py_XDECREF(ident);
    Py_XDECREF(store);
    Py_XDECREF(octx);
    return out;
}

#include "pipeline_decision.h" /* decide_gather, decide_score_scale, decide_policy, decide_decision, decide_reasons */


/* the rules' hits as Scorer._decide reads them: evaluate_parts' steps in C for the exact CompiledRuleSet whose last
 * (names, index) is the pipeline's names (else the method). A new reference. */
static PyObject *decide_hits(PyObject *dctx, PyObject *rules, PyObject *record, PyObject *x, PyObject *names) {
    PyObject *prog = NULL, *last = NULL, *fired = NULL, *hits = NULL;
    if (Py_TYPE(rules) != (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_CRULES) || !PyDict_CheckExact(record) ||
        !PyTuple_CheckExact(names))
        goto method;
    if (!(prog = GET(rules, S__program)) || !(last = GET(rules, S__last))) goto done;
    if (prog == Py_None || !PyTuple_CheckExact(last) || PyTuple_GET_SIZE(last) != 2 ||
        PyTuple_GET_ITEM(last, 0) != names || !PyDict_CheckExact(PyTuple_GET_ITEM(last, 1)))
        goto method;
    /* round 16: the names tuple as make_values (fired_parts builds the merged dict itself when a closure needs it);
     * None: x is not an exact contiguous float64 vector -- the method decides */
    PyObject *fargs[5] = {prog, record, x, PyTuple_GET_ITEM(last, 1), names};
    if (!(fired = PyObject_VectorcallMethod(S_fired_parts, fargs, 5, NULL))) goto done;
    if (fired == Py_None) goto method;
    if (!PyTuple_CheckExact(fired) || PyTuple_GET_SIZE(fired) != 2) {
        PyErr_SetString(PyExc_TypeError, "fired_parts: bad answer");
        goto done;
    }
    PyObject *idx = PyTuple_GET_ITEM(fired, 0);
    int any = PyObject_IsTrue(idx);
    if (any < 0) goto done;
    if (!any) { /* if not idx: return idx */
        hits = Py_NewRef(idx);
        goto done;
    }
    PyObject *hargs[6] = {rules, idx, PyTuple_GET_ITEM(fired, 1), record, x, names};
    hits = PyObject_VectorcallMethod(S__hits, hargs, 6, NULL);
    goto done;
method: {
    PyObject *margs[4] = {rules, record, x, names};
    hits = PyObject_VectorcallMethod(S_evaluate_parts, margs, 4, NULL);
}
done:
    Py_XDECREF(fired);
    Py_XDECREF(last);
    Py_XDECREF(prog);
    return hits;
}


#include "pipeline_hits.h"

/* lock.acquire(); r = decide_online(...); lock.release() -- the with block of Scorer.score (its error kept) */
static PyObject *decide_locked(PyObject *dctx, PyObject *lock, PyObject *pipeline, PyObject *ev, PyObject *linker,
                               PyObject *velocity, PyObject *degrade, int *fast_x) {
    PyObject *got = PyObject_CallMethodNoArgs(lock, S_acquire);
    if (!got) return NULL;
    Py_DECREF(got);
    PyObject *r = decide_online(dctx, pipeline, ev, linker, velocity, degrade, fast_x);
    PyObject *et, *evl, *tb;
    PyErr_Fetch(&et, &evl, &tb);
    PyObject *rel = PyObject_CallMethodNoArgs(lock, S_release);
    if (!rel) {
        Py_XDECREF(et);
        Py_XDECREF(evl);
        Py_XDECREF(tb);
        Py_XDECREF(r);
        return NULL;
    }
    Py_DECREF(rel);
    PyErr_Restore(et, evl, tb);
    return r;
}

static PyObject *py_decide(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "decide(dctx, scorer, event, explain, return_features)");
        return NULL;
    }
    PyObject *dctx = args[0], *scorer = args[1], *event = args[2], *explain = args[3], *retf = args[4];
    if (!PyTuple_CheckExact(dctx) || PyTuple_GET_SIZE(dctx) != DC_N) {
        PyErr_SetString(PyExc_TypeError, "decide: bad context");
        return NULL;
    }
    PyObject *schema = NULL, *ev = NULL, *local = NULL, *pipeline = NULL, *linker = NULL, *velocity = NULL;
    PyObject *degrade = NULL, *res = NULL, *chal = NULL, *rules = NULL, *names = NULL, *hits = NULL, *parts = NULL;
    PyObject *model = NULL, *xm = NULL, *p = NULL, *mscore = NULL, *policy = NULL, *score = NULL, *dec = NULL;
    PyObject *reasons = NULL, *rule_hits = NULL, *shadow_hits = NULL, *mv = NULL, *rs = NULL, *rv = NULL;
    PyObject *idf = NULL, *app = NULL, *out = NULL;
    PyObject *rule_action = Py_None, *points = ZERO, *action = NULL;
    int fast_x = 0;
    if (!(schema = GET(scorer, S_schema)) || !(ev = decide_validate(dctx, schema, event))) goto done;
    if (decide_clock(dctx, scorer, schema, ev) < 0) goto done;
    if (!(local = GET(scorer, S__local)) || !(pipeline = GET(scorer, S_pipeline)) ||
        !(linker = GET(scorer, S_linker)) || !(velocity = GET(scorer, S_velocity)) ||
        !(degrade = GET(scorer, S_degrade)))
        goto done;
    int lk = PyObject_IsTrue(local);
    if (lk < 0) goto done;
    if (lk) {
        PyObject *lock = GET(scorer, S__lock2);
        if (!lock) goto done;
        res = decide_locked(dctx, lock, pipeline, ev, linker, velocity, degrade, &fast_x);
        Py_DECREF(lock);
    } else {
        res = decide_online(dctx, pipeline, ev, linker, velocity, degrade, &fast_x);
    }
    if (!res) goto done;
    if (!PyTuple_CheckExact(res) || PyTuple_GET_SIZE(res) != 4) { /* record, x, degraded, duplicate = res */
        PyObject *t = PySequence_Tuple(res);
        Py_SETREF(res, t);
        if (!res) goto done;
        if (PyTuple_GET_SIZE(res) != 4) {
            PyErr_Format(PyExc_ValueError, "expected 4 values to unpack (got %zd)", PyTuple_GET_SIZE(res));
            goto done;
        }
        fast_x = 0;
    }
    PyObject *record = PyTuple_GET_ITEM(res, 0), *x = PyTuple_GET_ITEM(res, 1);
    PyObject *degraded = PyTuple_GET_ITEM(res, 2), *duplicate = PyTuple_GET_ITEM(res, 3);
    if (!(chal = GET(scorer, S_challenger))) goto done;
    int rf = PyObject_IsTrue(retf);
    if (rf < 0) goto done;
    if (!fast_x || degraded != Py_False || rf || chal != Py_None || !PyDict_CheckExact(record)) {
        /* the rest of score in Python: a degraded decision, a challenger, the features asked for */
        PyObject *sargs[8] = {scorer, ev, record, x, degraded, duplicate, explain, retf};
        out = PyObject_VectorcallMethod(S__decide, sargs, 8, NULL);
        goto done;
    }
    /* hits = self.rules.evaluate_parts(record, x, self.pipeline.feature_names) */
    if (!(rules = GET(scorer, S_rules)) || !(names = GET(pipeline, S_feature_names))) goto done;
    if (!(hits = decide_hits(dctx, rules, record, x, names))) goto done;
    int any = PyObject_IsTrue(hits);
    if (any < 0) goto done;
    if (any) { /* rule_action, points, reasons, rule_hits, shadow_hits = hit_outcome(hits) */
        parts = hits_outcome(dctx, hits); /* in C for RuleHit objects, else the function */
        if (!parts && (PyErr_Occurred() || !(parts = PyObject_CallOneArg(PyTuple_GET_ITEM(dctx, DC_HIT_OUTCOME), hits))))
            goto done;
        if (!PyTuple_CheckExact(parts) || PyTuple_GET_SIZE(parts) != 5) {
            PyErr_SetString(PyExc_TypeError, "hit_outcome: bad answer");
            goto done;
        }
        rule_action = PyTuple_GET_ITEM(parts, 0);
        points = PyTuple_GET_ITEM(parts, 1);
        reasons = Py_NewRef(PyTuple_GET_ITEM(parts, 2));
        rule_hits = Py_NewRef(PyTuple_GET_ITEM(parts, 3));
        shadow_hits = Py_NewRef(PyTuple_GET_ITEM(parts, 4));
    } else if (!(reasons = PyList_New(0)) || !(rule_hits = PyList_New(0)) || !(shadow_hits = PyList_New(0))) {
        goto done;
    }
    /* the model: p = float(model.predict_one(xm)), model_score = score_scale(p) */
    if (!(model = GET(scorer, S_model))) goto done;
    if (model != Py_None) {
        PyObject *cols = GET(scorer, S__model_cols);
        if (!cols) goto done;
        xm = cols == Py_None ? Py_NewRef(x) : decide_gather(dctx, x, cols);
        Py_DECREF(cols);
        if (!xm) goto done;
        PyObject *margs[2] = {model, xm};
        PyObject *r = PyObject_VectorcallMethod(S_predict_one, margs, 2, NULL);
        p = r ? PyNumber_Float(r) : NULL;
        Py_XDECREF(r);
        if (!p || !(mscore = decide_score_scale(dctx, p))) goto done;
    } else if (!(p = PyFloat_FromDouble(Py_NAN))) {
        goto done;
    } else {
        mscore = Py_NewRef(ZERO);
    }
    /* score, action = self.policy.decide(model_score, rule_action, points) */
    if (!(policy = GET(scorer, S_policy))) goto done;
    int pc = decide_policy(dctx, policy, mscore, rule_action, points, &score, &action);
    if (pc < 0) goto done;
    if (pc == 0) {
        PyObject *pargs[4] = {policy, mscore, rule_action, points};
        dec = PyObject_VectorcallMethod(S_decide_m, pargs, 4, NULL);
        if (!dec) goto done;
        if (!PyTuple_CheckExact(dec) || PyTuple_GET_SIZE(dec) != 2) {
            PyObject *t = PySequence_Tuple(dec);
            Py_SETREF(dec, t);
            if (!dec) goto done;
            if (PyTuple_GET_SIZE(dec) != 2) {
                PyErr_Format(PyExc_ValueError, "expected 2 values to unpack (got %zd)", PyTuple_GET_SIZE(dec));
                goto done;
            }
        }
        score = Py_NewRef(PyTuple_GET_ITEM(dec, 0));
        action = PyTuple_GET_ITEM(dec, 1);
    }
    if (model != Py_None) { /* the explanation, when asked for */
        PyObject *r = decide_reasons(dctx, scorer, explain, model, xm, action, reasons);
        reasons = r;
        if (!r) goto done;
    }
    /* make_decision(ev[id_field], score, p, action, reasons, rule_hits, shadow_hits, None, model_version,
     * ruleset.version, record.get("device_id"), False, duplicate, None) */
    if (!(idf = GET(schema, S_id_field)) || !(app = PyObject_GetItem(ev, idf))) goto done;
    if (!(mv = GET(scorer, S_model_version)) || !(rs = GET(scorer, S_ruleset))) goto done;
    if (Py_TYPE(rs) == (PyTypeObject *)PyTuple_GET_ITEM(dctx, DC_RULESET)) { /* the property's cached value */
        if (!(rv = GET(rs, S__version))) goto done;
        if (rv == Py_None) Py_CLEAR(rv);
    }
    if (!rv && !(rv = GET(rs, S_version))) goto done;
    PyObject *did = PyDict_GetItemWithError(record, S_device_id);
    if (!did && PyErr_Occurred()) goto done;
    out = decide_decision(dctx, app, score, p, action, reasons, rule_hits, shadow_hits, mv, rv, did ? did : Py_None,
                          duplicate);
done:
    Py_XDECREF(app);
    Py_XDECREF(idf);
    Py_XDECREF(rv);
    Py_XDECREF(rs);
    Py_XDECREF(mv);
    Py_XDECREF(dec);
    Py_XDECREF(score);
    Py_XDECREF(policy);
    Py_XDECREF(mscore);
    Py_XDECREF(p);
    Py_XDECREF(xm);
    Py_XDECREF(model);
    Py_XDECREF(shadow_hits);
    Py_XDECREF(rule_hits);
    Py_XDECREF(reasons);
    Py_XDECREF(parts);
    Py_XDECREF(hits);
    Py_XDECREF(names);
    Py_XDECREF(rules);
    Py_XDECREF(chal);
    Py_XDECREF(res);
    Py_XDECREF(degrade);
    Py_XDECREF(velocity);
    Py_XDECREF(linker);
    Py_XDECREF(pipeline);
    Py_XDECREF(local);
    Py_XDECREF(ev);
    Py_XDECREF(schema);
    return out;
}
