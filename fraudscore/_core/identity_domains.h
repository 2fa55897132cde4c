/*
 * The disposable e-mail domains as a C table (round 16, `velident`).
 *
 * The e-mail describer asks whether the domain, and each of its parent domains, is in the kernel's frozenset of
 * disposable domains: before this round one new str and one PySet_Contains per question (about 7 an event, ~0.7k
 * instructions). The frozenset is immutable, so its members are read once, when the Kernel is made, into an
 * open-addressing table of (FNV-1a hash, pointer to the text, length); the text stays owned by the frozenset,
 * which the Kernel holds. The questions are printable-ASCII bytes (describe_one's fast path), so only the compact
 * ASCII str members can be equal to one: others are left out of the table, and the answer is the frozenset's,
 * bit for bit. Anything else -- a frozenset subclass, a member that is not an exact str -- leaves the table off,
 * and the describer asks the frozenset as before.
 *
 * Included by identity.c before the Kernel type (one compilation unit).
 */
#ifndef FRAUDSCORE_IDENTITY_DOMAINS_H
#define FRAUDSCORE_IDENTITY_DOMAINS_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t h;
    const char *s; /* borrowed: the text of a member of the frozenset */
    Py_ssize_t n;
} dom_ent;

typedef struct {
    int on;       /* the table answers (else the frozenset) */
    uint64_t mask; /* slots - 1 */
    dom_ent *t;    /* s == NULL: an empty slot */
} DomainSet;

static inline uint64_t dom_hash(const char *s, Py_ssize_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static void dom_free(DomainSet *d) {
    PyMem_Free(d->t);
    d->t = NULL;
    d->on = 0;
}

/* fill the table from the frozenset fs (0; the table may be left off), -1 with an exception set */
static int dom_init(DomainSet *d, PyObject *fs) {
    d->on = 0;
    d->t = NULL;
    if (!PyFrozenSet_CheckExact(fs)) return 0;
    Py_ssize_t n = PySet_GET_SIZE(fs);
    uint64_t size = 16;
    while (size < (uint64_t)n * 2 + 2) size <<= 1;
    d->t = PyMem_Calloc((size_t)size, sizeof(dom_ent));
    if (!d->t) {
        PyErr_NoMemory();
        return -1;
    }
    d->mask = size - 1;
    PyObject *it = PyObject_GetIter(fs), *e;
    if (!it) {
        dom_free(d);
        return -1;
    }
    int ok = 1;
    while ((e = PyIter_Next(it)) != NULL) {
        if (!PyUnicode_CheckExact(e) || (PyUnicode_IS_ASCII(e) && !PyUnicode_IS_COMPACT_ASCII(e))) ok = 0;
        if (ok && PyUnicode_IS_COMPACT_ASCII(e)) { /* other members cannot equal an ASCII question */
            const char *s = (const char *)PyUnicode_DATA(e);
            Py_ssize_t m = PyUnicode_GET_LENGTH(e);
            uint64_t h = dom_hash(s, m), i = h & d->mask;
            while (d->t[i].s) i = (i + 1) & d->mask;
            d->t[i].h = h;
            d->t[i].s = s; /* the frozenset (held by the Kernel) keeps e alive */
            d->t[i].n = m;
        }
        Py_DECREF(e);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        dom_free(d);
        return -1;
    }
    if (!ok) {
        dom_free(d);
        return 0;
    }
    d->on = 1;
    return 0;
}

/* whether the printable-ASCII text s[0:n] is a member (the table is on) */
static int dom_contains(const DomainSet *d, const char *s, Py_ssize_t n) {
    uint64_t h = dom_hash(s, n), i = h & d->mask;
    for (; d->t[i].s; i = (i + 1) & d->mask)
        if (d->t[i].h == h && d->t[i].n == n && memcmp(d->t[i].s, s, (size_t)n) == 0) return 1;
    return 0;
}

#endif
