/*
 * The link state as the kernels read it: MemoryLinkState's containers and settings from its __dict__ (split out of
 * linkstate.c in round 12, with the per-version memo of state_load; included by linkstate.c only).
 */
#ifndef FRAUDSCORE_LINKSTATE_STATE_H
#define FRAUDSCORE_LINKSTATE_STATE_H

/* ---- the state ------------------------------------------------------------------------------------------ */
typedef struct {
    PyObject *self, *dict;                        /* the state and its __dict__ (owned) */
    PyObject *devices, *exact, *blocks, *fam;     /* OrderedDicts (borrowed from dict); fam: or a FamilyCounts */
    fc_t *fc;                                     /* fam when it is a FamilyCounts (round 13), else NULL */
    PyObject *glob;                               /* [n, OrderedDict] (borrowed) */
    PyObject *ttl_obj;
    int64_t ttl, cap, limit;
} state_t;

static void state_release(state_t *s) { Py_CLEAR(s->dict); }

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000 && !defined(Py_LIMITED_API)
#define SL_MEMO 1
static state_t SL_LAST; /* the last state loaded, valid while its __dict__ keeps the tag SL_TAG */
static uint64_t SL_TAG;
#else
#define SL_MEMO 0
#endif

/* 0 ok, -1 hand over */
static int state_load(PyObject *self, state_t *s) {
    PyObject *d;
    s->self = self;
    s->dict = NULL;
    d = PyObject_GenericGetDict(self, NULL);
    if (d == NULL || !PyDict_CheckExact(d)) {
        Py_XDECREF(d);
        PyErr_Clear();
        return -1;
    }
    s->dict = d;
#if SL_MEMO
    /* the same __dict__ unchanged since the last load (its ma_version_tag: CPython gives a dict a new tag from
     * one global counter when it is made and on every item set or delete, so an equal (address, tag) pair is the
     * same live dict with the same items): the same objects and numbers, without the nine lookups (round 12).
     * glob's items can change without the dict changing: checked again. */
    if (d == SL_LAST.dict && ((PyDictObject *)d)->ma_version_tag == SL_TAG) {
        PyObject *keep = s->dict;
        *s = SL_LAST;
        s->self = self;
        s->dict = keep;
        if (!PyLong_CheckExact(PyList_GET_ITEM(s->glob, 0)) || !PyODict_CheckExact(PyList_GET_ITEM(s->glob, 1)))
            return -1;
        return 0;
    }
    SL_LAST.dict = NULL;
#endif
/* the reference's OrderedDicts, or all three C-owned RecencyMaps (round 13) */
#define OD(dst, name)                                                   \
    if ((dst = item(d, name)) == NULL || !(PyODict_CheckExact(dst) || Py_TYPE(dst) == &RM_Type)) return -1;
    OD(s->devices, A_devices)
    OD(s->exact, A_exact)
    OD(s->blocks, A_blocks)
#undef OD
    if ((Py_TYPE(s->devices) == &RM_Type) != (Py_TYPE(s->exact) == &RM_Type) ||
        (Py_TYPE(s->devices) == &RM_Type) != (Py_TYPE(s->blocks) == &RM_Type))
        return -1;
    /* the family counts: C-owned (linkstate_counts.h, round 13) or the reference's OrderedDict */
    if ((s->fam = item(d, A_fam)) == NULL) return -1;
    if (Py_TYPE(s->fam) == &FC_Type) {
        s->fc = (fc_t *)s->fam;
    } else if (PyODict_CheckExact(s->fam)) {
        s->fc = NULL;
    } else {
        return -1;
    }
    if ((s->glob = item(d, A_glob)) == NULL || !PyList_CheckExact(s->glob) || PyList_GET_SIZE(s->glob) != 2 ||
        !PyLong_CheckExact(PyList_GET_ITEM(s->glob, 0)) || !PyODict_CheckExact(PyList_GET_ITEM(s->glob, 1)))
        return -1;
    if ((s->ttl_obj = item(d, A_ttl)) == NULL || !PyLong_CheckExact(s->ttl_obj) || as_i64(s->ttl_obj, &s->ttl) != 0)
        return -1;
    if (as_i64(item(d, A_cap), &s->cap) != 0 || as_i64(item(d, A_max), &s->limit) != 0) return -1;
    if (s->cap < 1 || s->limit < 1 || s->limit > ((int64_t)1 << 58) || s->ttl > TBOUND) return -1;
#if SL_MEMO
    SL_LAST = *s; /* (its dict pointer is only compared, never dereferenced: no reference held) */
    SL_TAG = ((PyDictObject *)d)->ma_version_tag;
#endif
    return 0;
}

#endif /* FRAUDSCORE_LINKSTATE_STATE_H */
