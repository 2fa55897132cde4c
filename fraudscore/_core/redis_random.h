/*
 * Link versions and event nonces from a pool of os.urandom bytes, in C (round 14, #15); included by
 * redis_calls.c.
 *
 * References: fraudscore._redis.random_bytes_py (a per-thread pool filled 4 KiB at a time) and
 * fraudscore.fingerprint.linkstate_redis.version_py (8 random bytes, neither half all zeros, else a fixed
 * version). Each event draws ~4 of them (its nonce, a version per link write); the Python pool's
 * threading.local attributes and two Python frames cost ~5k instructions a draw.
 *
 *   random_bytes(n)  n bytes never handed out before by this process: from a process-wide pool of 4 KiB read
 *                    with os.urandom (more than 4 KiB: os.urandom(n) itself). The pool is taken under the GIL:
 *                    os.urandom may release it while filling, so a fill copies its bytes into the pool only once
 *                    they are read, and bytes are handed out after that, in one step (two threads filling at
 *                    once both hand out fresh bytes). A forked child empties its pool (pthread_atfork), so it
 *                    never hands out its parent's next bytes.
 *   link_version()   version_py: 8 bytes of random_bytes; b"\0\0\0\1\0\0\0\1" when either half is all zeros.
 *
 * Tested in tests/velocity/test_redis_random_compiled.py (lengths, no repeats across refills, threads and a
 * forked child, the versions' halves).
 */
#ifndef FRAUDSCORE_REDIS_RANDOM_H
#define FRAUDSCORE_REDIS_RANDOM_H

#include <pthread.h>

#define RR_POOL 4096

static PyObject *rr_urandom; /* os.urandom */
static unsigned char rr_buf[RR_POOL];
static size_t rr_pos = RR_POOL; /* empty until the first draw */

static void rr_atfork_child(void) { rr_pos = RR_POOL; }

/* n (<= RR_POOL) random bytes into out (0), or -1 with an exception */
static int rr_take(unsigned char *out, size_t n) {
    if (rr_pos + n > RR_POOL) {
        PyObject *b = PyObject_CallFunction(rr_urandom, "n", (Py_ssize_t)RR_POOL); /* may release the GIL */
        if (!b) return -1;
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) != RR_POOL) {
            Py_DECREF(b);
            PyErr_SetString(PyExc_RuntimeError, "os.urandom returned an unexpected value");
            return -1;
        }
        memcpy(rr_buf, PyBytes_AS_STRING(b), RR_POOL);
        Py_DECREF(b);
        rr_pos = 0;
    }
    memcpy(out, rr_buf + rr_pos, n);
    memset(rr_buf + rr_pos, 0, n); /* handed out: not kept in memory */
    rr_pos += n;
    return 0;
}

static PyObject *py_random_bytes(PyObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "negative argument not allowed");
        return NULL;
    }
    if (n > RR_POOL) return PyObject_CallFunction(rr_urandom, "n", n);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (!out) return NULL;
    if (rr_take((unsigned char *)PyBytes_AS_STRING(out), (size_t)n) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *py_link_version(PyObject *self, PyObject *unused) {
    unsigned char v[8];
    static const unsigned char zero[4] = {0, 0, 0, 0};
    static const unsigned char fixed[8] = {0, 0, 0, 1, 0, 0, 0, 1};
    if (rr_take(v, 8) < 0) return NULL;
    if (!memcmp(v, zero, 4) || !memcmp(v + 4, zero, 4)) return PyBytes_FromStringAndSize((const char *)fixed, 8);
    return PyBytes_FromStringAndSize((const char *)v, 8);
}

/* module init: os.urandom, the fork handler (0, or -1 with an exception) */
static int rr_init(void) {
    PyObject *os = PyImport_ImportModule("os");
    if (!os) return -1;
    rr_urandom = PyObject_GetAttrString(os, "urandom");
    Py_DECREF(os);
    if (!rr_urandom) return -1;
    if (pthread_atfork(NULL, NULL, rr_atfork_child) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
        return -1;
    }
    return 0;
}

#endif
