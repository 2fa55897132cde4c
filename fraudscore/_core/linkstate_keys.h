/*
 * The linker's keys of a fingerprint in C (reference: fraudscore/fingerprint/linker.py DeviceLinker._keys):
 * fingerprint ids, block keys (and the read-only font probe's), family and global count keys, the class key,
 * with their text built in place for printable-ASCII parts; ``keys`` (DeviceLinker._keys computed afresh).
 *
 * Included by linkstate.c, after its interned names and configuration, which it uses: one compilation unit,
 * one extension (setup.py lists this header among linkstate's rebuild dependencies).
 */
/* ---- ASCII text built in place (the keys' f-strings and repr, for printable-ASCII parts) ------------------ */
typedef struct {
    char b[640];
    size_t n;
    int ok; /* 0: a part is not printable ASCII or too long -- build the text with Python's own functions */
} sbuf_t;

#define SB_INLINE static inline __attribute__((always_inline))

SB_INLINE void sb_put(sbuf_t *sb, const char *p, size_t n) {
    if (!sb->ok || sb->n + n > sizeof sb->b) {
        sb->ok = 0;
        return;
    }
    memcpy(sb->b + sb->n, p, n);
    sb->n += n;
}

/* A str's text checked once for the keys' formats (round 16: the family is written four to six times a call):
 * ``plain`` -- an exact str of printable ASCII (str(u) is its text); ``quoted`` -- also no quote or backslash
 * (repr(u) is the text between single quotes); None is the text "None" either way. */
typedef struct {
    const char *d;
    size_t n;
    int plain, quoted;
} stext_t;

static void st_read(stext_t *t, PyObject *u) {
    Py_ssize_t i, n;
    const Py_UCS1 *d;
    t->plain = t->quoted = 0;
    t->d = NULL;
    t->n = 0;
    if (u == Py_None) {
        t->d = "None";
        t->n = 4;
        t->plain = 2; /* None: no quotes around it in a repr */
        t->quoted = 2;
        return;
    }
    if (!PyUnicode_CheckExact(u) || !PyUnicode_IS_ASCII(u)) return;
    n = PyUnicode_GET_LENGTH(u);
    d = PyUnicode_1BYTE_DATA(u);
    t->quoted = 1;
    for (i = 0; i < n; ++i) {
        if (d[i] < 0x20 || d[i] > 0x7e) {
            t->quoted = 0;
            return;
        }
        if (d[i] == '\'' || d[i] == '\\') t->quoted = 0;
    }
    t->plain = 1;
    t->d = (const char *)d;
    t->n = (size_t)n;
}

/* the text as str(u) (quoted = 0) or repr(u) (quoted = 1) would write it, or sb->ok = 0 */
SB_INLINE void sb_st(sbuf_t *sb, const stext_t *t, int quoted) {
    int ok = quoted ? t->quoted : t->plain;
    if (!ok) {
        sb->ok = 0;
        return;
    }
    if (quoted && ok == 1) sb_put(sb, "'", 1);
    sb_put(sb, t->d, t->n);
    if (quoted && ok == 1) sb_put(sb, "'", 1);
}

/* str(u) for an exact str of printable ASCII; ``quoted``: repr(u) (no quote or backslash inside) */
static void sb_str(sbuf_t *sb, PyObject *u, int quoted) {
    stext_t t;
    st_read(&t, u);
    sb_st(sb, &t, quoted);
}

SB_INLINE void sb_hex(sbuf_t *sb, uint64_t v, int width) { /* format(v, f"0{width}x") */
    char t[16];
    int n = 0;
    if (width == 12 && v < ((uint64_t)1 << 48) && sb->ok && sb->n + 12 <= sizeof sb->b) {
        /* round 16: the usual 48-bit value, twelve digits written in place */
        char *o = sb->b + sb->n;
        for (n = 11; n >= 0; --n) {
            o[n] = "0123456789abcdef"[v & 15];
            v >>= 4;
        }
        sb->n += 12;
        return;
    }
    do {
        t[15 - n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n < width) t[15 - n++] = '0';
    sb_put(sb, t + 16 - n, (size_t)n);
}

SB_INLINE void sb_dec(sbuf_t *sb, int64_t v) { /* repr(int), |v| < 2**62 */
    char t[24];
    int n = 0, neg = v < 0;
    uint64_t u = neg ? (uint64_t)(-v) : (uint64_t)v;
    static const char D2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    while (u >= 100) { /* two digits a step (round 12) */
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        t[23 - n++] = D2[2 * r + 1];
        t[23 - n++] = D2[2 * r];
    }
    if (u >= 10) {
        t[23 - n++] = D2[2 * u + 1];
        t[23 - n++] = D2[2 * u];
    } else {
        t[23 - n++] = (char)('0' + u);
    }
    if (neg) t[23 - n++] = '-';
    sb_put(sb, t + 24 - n, (size_t)n);
}

static PyObject *sb_text(const sbuf_t *sb) { /* the ASCII text as a str (new reference) */
    PyObject *u = PyUnicode_New((Py_ssize_t)sb->n, 127);
    if (u != NULL) memcpy(PyUnicode_1BYTE_DATA(u), sb->b, sb->n);
    return u;
}

/* The family count keys' ints (value hash * 16 + position) from a small direct-mapped memo of int objects by value
 * (round 14): a stream's new fingerprints share most of their component values (screen, timezone, languages,
 * versions...), so most keys are an int made before. Equal ints are interchangeable (the keys are compared and
 * hashed, never tested for identity; pop_keys already shares fam_keys' objects). New reference or NULL. */
#define KI_BITS 12
static struct {
    int64_t v;
    PyObject *o; /* owned, or NULL */
} KI_MEMO[1 << KI_BITS];

static PyObject *key_int(int64_t v) {
    size_t h = (size_t)(((uint64_t)v * 0x9E3779B97F4A7C15ull) >> (64 - KI_BITS));
    PyObject *o;
    if (KI_MEMO[h].o != NULL && KI_MEMO[h].v == v) return Py_NewRef(KI_MEMO[h].o);
    if ((o = PyLong_FromLongLong((long long)v)) == NULL) return NULL;
    Py_XSETREF(KI_MEMO[h].o, Py_NewRef(o));
    KI_MEMO[h].v = v;
    return o;
}

/* DeviceLinker._keys's computation for a fingerprint not in the memo: (ids, block_keys, fam_keys, glob_keys,
 * shared_key, fonts_sketch, pop_keys, class_id, aliases), new reference; NULL: hand over (nothing set) */
static PyObject *compute_keys(PyObject *fp) {
    PyObject *fid = NULL, *aliases = NULL, *fam = NULL, *can = NULL, *bff = NULL, *src = NULL, *comps = NULL,
             *rend = NULL, *fs = NULL, *mob = NULL, *ids = NULL, *blocks = NULL, *famk = NULL, *popk = NULL,
             *key = NULL, *cls = NULL, *res = NULL, *bf, *t = NULL, *rep = NULL, *walk = NULL;
    int64_t c[NCOMP], r, fs0 = 0, big = (int64_t)1 << 58;
    const int *pos;
    int mobile, np, i, n;
    Py_ssize_t na, len;
    const char *utf;
    char buf[32];
    uint64_t h;
    PyObject *kobj[NCOMP], *robj = NULL; /* the fam_keys ints by position (borrowed), shared with pop_keys */
    stext_t famt, bft, bfft; /* the family's, the block's browser family's, the browser family's text */
    if ((fid = getattr_clear(fp, A_id)) == NULL || !PyUnicode_CheckExact(fid)) goto out;
    if ((aliases = getattr_clear(fp, A_aliases)) == NULL || !PyTuple_CheckExact(aliases)) goto out;
    if ((fam = getattr_clear(fp, A_family)) == NULL || !PyUnicode_CheckExact(fam)) goto out;
    if ((can = getattr_clear(fp, A_canonical)) == NULL) goto out;
    if ((bff = getattr_clear(can, A_browser_family)) == NULL || !(bff == Py_None || PyUnicode_CheckExact(bff))) goto out;
    if ((src = getattr_clear(can, A_source)) == NULL || !(src == Py_None || PyUnicode_CheckExact(src))) goto out;
    if ((comps = getattr_clear(fp, A_components)) == NULL || !PyTuple_CheckExact(comps) ||
        PyTuple_GET_SIZE(comps) != NCOMP)
        goto out;
    for (i = 0; i < NCOMP; ++i) {
        if (int_in(PyTuple_GET_ITEM(comps, i), 0, big, &c[i]) != 0) goto out;
    }
    if ((rend = getattr_clear(fp, A_renderer)) == NULL || int_in(rend, 0, big, &r) != 0) goto out;
    if ((fs = getattr_clear(fp, A_fonts_sketch)) == NULL || !PyTuple_CheckExact(fs)) goto out;
    if (PyTuple_GET_SIZE(fs) && int_in(PyTuple_GET_ITEM(fs, 0), 0, big, &fs0) != 0) goto out;
    if ((mob = getattr_clear(fp, A_mobile)) == NULL || (mobile = PyObject_IsTrue(mob)) < 0) goto out;
    /* ids = (fp.id, *fp.aliases) */
    na = PyTuple_GET_SIZE(aliases);
    for (i = 0; i < na; ++i) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(aliases, i))) goto out;
    }
    if ((ids = PyTuple_New(na + 1)) == NULL) goto out;
    PyTuple_SET_ITEM(ids, 0, Py_NewRef(fid));
    for (i = 0; i < na; ++i) PyTuple_SET_ITEM(ids, i + 1, Py_NewRef(PyTuple_GET_ITEM(aliases, i)));
    /* block_keys: <fam>:<browser family or source>[:<font MinHash>], <fam>:<tag><resettable id> */
    bf = (bff != Py_None && PyUnicode_GET_LENGTH(bff) > 0) ? bff : src;
    st_read(&famt, fam); /* each text checked once (round 16) */
    st_read(&bft, bf);
    st_read(&bfft, bff);
    for (i = n = 0; i < N_TAGS; ++i) n += c[TAG_POS[i]] != 0;
    if ((blocks = PyTuple_New(1 + n)) == NULL) goto out;
    for (i = 0, n = 0; i < 1 + N_TAGS; ++i) {
        sbuf_t sb; /* (not zero-filled: round 16) */
        sb.n = 0;
        sb.ok = 1;
        if (i > 0 && !c[TAG_POS[i - 1]]) continue;
        sb_st(&sb, &famt, 0);
        sb_put(&sb, ":", 1);
        if (i == 0) { /* f"{fam}:{bf}:{fonts_sketch[0]:08x}" or f"{fam}:{bf}" */
            sb_st(&sb, &bft, 0);
            if (PyTuple_GET_SIZE(fs)) {
                sb_put(&sb, ":", 1);
                sb_hex(&sb, (uint64_t)fs0, 8);
            }
        } else { /* f"{fam}:{tag}{comps[p]:012x}" */
            sb_str(&sb, TAG_NAMES[i - 1], 0);
            sb_hex(&sb, (uint64_t)c[TAG_POS[i - 1]], 12);
        }
        if (sb.ok) {
            t = sb_text(&sb);
        } else if (i == 0) {
            snprintf(buf, sizeof buf, "%08llx", (unsigned long long)fs0);
            t = PyTuple_GET_SIZE(fs) ? PyUnicode_FromFormat("%U:%S:%s", fam, bf, buf) : PyUnicode_FromFormat("%U:%S", fam, bf);
        } else {
            snprintf(buf, sizeof buf, "%012llx", (unsigned long long)c[TAG_POS[i - 1]]);
            t = PyUnicode_FromFormat("%U:%U%s", fam, TAG_NAMES[i - 1], buf);
        }
        if (t == NULL) goto out;
        PyTuple_SET_ITEM(blocks, n++, t);
        t = NULL;
    }
    /* stat_keys(fp)[0]: every present component, then the renderer */
    for (i = n = 0; i < NCOMP; ++i) n += c[i] != 0;
    if ((famk = PyTuple_New(n + (r != 0))) == NULL) goto out;
    for (i = n = 0; i < NCOMP; ++i) {
        kobj[i] = NULL;
        if (!c[i]) continue;
        if ((t = key_int(c[i] * 16 + i)) == NULL) goto out;
        PyTuple_SET_ITEM(famk, n++, t);
        kobj[i] = t; /* borrowed (held by famk): pop_keys below holds the same int objects (equal values) */
    }
    if (r) {
        if ((t = key_int(r * 16 + RENDERER_SLOT)) == NULL) goto out;
        PyTuple_SET_ITEM(famk, n, t);
    }
    robj = r ? t : NULL;
    t = NULL;
    /* shared_key: xxh3_64(repr((fam, browser family, fonts, *class components)).encode()) & MASK48 */
    pos = mobile ? CLASS_POS_M : CLASS_POS;
    np = mobile ? N_CLASS_POS_M : N_CLASS_POS;
    {
        sbuf_t sb; /* (not zero-filled: round 16) */
        sb.n = 0;
        sb.ok = 1;
        sb_put(&sb, "(", 1);
        sb_st(&sb, &famt, 1);
        sb_put(&sb, ", ", 2);
        sb_st(&sb, &bfft, 1);
        sb_put(&sb, ", ", 2);
        sb_dec(&sb, PyTuple_GET_SIZE(fs) ? (mobile ? 1 : fs0) : 0);
        for (i = 0; i < np; ++i) {
            sb_put(&sb, ", ", 2);
            sb_dec(&sb, c[pos[i]]);
        }
        sb_put(&sb, ")", 1);
        if (sb.ok) {
            h = XXH3_64bits(sb.b, sb.n) & MASK48;
        } else { /* Python's own repr */
            if ((t = PyTuple_New(3 + np)) == NULL) goto out;
            PyTuple_SET_ITEM(t, 0, Py_NewRef(fam));
            PyTuple_SET_ITEM(t, 1, Py_NewRef(bff));
            PyTuple_SET_ITEM(t, 2,
                             Py_NewRef(PyTuple_GET_SIZE(fs) ? (mobile ? I_one : PyTuple_GET_ITEM(fs, 0)) : I_zero));
            for (i = 0; i < np; ++i) PyTuple_SET_ITEM(t, 3 + i, Py_NewRef(PyTuple_GET_ITEM(comps, pos[i])));
            if ((rep = PyObject_Repr(t)) == NULL || (utf = PyUnicode_AsUTF8AndSize(rep, &len)) == NULL) goto out;
            Py_CLEAR(t);
            h = XXH3_64bits(utf, (size_t)len) & MASK48;
        }
    }
    {
        sbuf_t sb; /* (not zero-filled: round 16) */
        sb.n = 0;
        sb.ok = 1;
        sb_put(&sb, "s:", 2);
        sb_hex(&sb, h, 12);
        if ((key = sb_text(&sb)) == NULL) goto out;
        sb.n = 0;
        sb_put(&sb, "d_", 2);
        sb_st(&sb, &famt, 0);
        sb_put(&sb, "_", 1);
        sb_hex(&sb, h, 12);
        if (sb.ok) {
            cls = sb_text(&sb);
        } else {
            snprintf(buf, sizeof buf, "%012llx", (unsigned long long)h);
            cls = PyUnicode_FromFormat("d_%U_%s", fam, buf);
        }
        if (cls == NULL) goto out;
    }
    /* pop_keys */
    pos = mobile ? POP_POS_M : POP_POS;
    np = mobile ? N_POP_POS_M : N_POP_POS;
    for (i = n = 0; i < np; ++i) n += c[pos[i]] != 0;
    if ((popk = PyTuple_New(n + (r != 0 && !mobile))) == NULL) goto out;
    for (i = n = 0; i < np; ++i) {
        if (!c[pos[i]]) continue;
        PyTuple_SET_ITEM(popk, n++, Py_NewRef(kobj[pos[i]])); /* c[pos] * 16 + pos, made for fam_keys */
    }
    if (r && !mobile) PyTuple_SET_ITEM(popk, n, Py_NewRef(robj));
    t = NULL;
    /* walk keys (DeviceLinker.walk_keys): blocks, with the block of fonts_sketch[1] after the first when the
     * sketch has two hashes or more (FONT_PROBES == 2) */
    if (PyTuple_GET_SIZE(fs) >= FONT_PROBES) {
        Py_ssize_t nb = PyTuple_GET_SIZE(blocks), j;
        int64_t fs1;
        sbuf_t sb; /* (not zero-filled: round 16) */
        sb.n = 0;
        sb.ok = 1;
        if (int_in(PyTuple_GET_ITEM(fs, 1), 0, big, &fs1) != 0) goto out;
        sb_st(&sb, &famt, 0);
        sb_put(&sb, ":", 1);
        sb_st(&sb, &bft, 0);
        sb_put(&sb, ":", 1);
        sb_hex(&sb, (uint64_t)fs1, 8);
        if (sb.ok) {
            t = sb_text(&sb);
        } else {
            snprintf(buf, sizeof buf, "%08llx", (unsigned long long)fs1);
            t = PyUnicode_FromFormat("%U:%S:%s", fam, bf, buf);
        }
        if (t == NULL || (walk = PyTuple_New(nb + 1)) == NULL) goto out;
        PyTuple_SET_ITEM(walk, 0, Py_NewRef(PyTuple_GET_ITEM(blocks, 0)));
        PyTuple_SET_ITEM(walk, 1, t);
        t = NULL;
        for (j = 1; j < nb; ++j) PyTuple_SET_ITEM(walk, j + 1, Py_NewRef(PyTuple_GET_ITEM(blocks, j)));
    } else {
        walk = Py_NewRef(blocks);
    }
    /* out of the cyclic collector (round 12): tuples of exact str / int cannot be part of a cycle, and the linker's
     * key memo keeps these for good, so each young collection walked the last few hundred events' keys (about
     * 1.5k instructions per link call on the scorer stream); CPython would untrack them itself at their first
     * collection (_PyTuple_MaybeUntrack) */
    untracked(ids);
    untracked(blocks);
    untracked(famk);
    untracked(popk);
    untracked(walk);
    if ((res = PyTuple_Pack(10, ids, blocks, famk, EMPTY, key, fs, popk, cls, aliases, walk)) != NULL) {
        for (i = 0; i < 10; ++i) { /* fs and aliases are the fingerprint's: untracked only when they are */
            PyObject *o = PyTuple_GET_ITEM(res, i);
            if (PyObject_IS_GC(o) && PyObject_GC_IsTracked(o)) break;
        }
        if (i == 10) untracked(res);
    }
out:
    if (res == NULL) PyErr_Clear();
    Py_XDECREF(t);
    Py_XDECREF(rep);
    Py_XDECREF(fid);
    Py_XDECREF(aliases);
    Py_XDECREF(fam);
    Py_XDECREF(can);
    Py_XDECREF(bff);
    Py_XDECREF(src);
    Py_XDECREF(comps);
    Py_XDECREF(rend);
    Py_XDECREF(fs);
    Py_XDECREF(mob);
    Py_XDECREF(ids);
    Py_XDECREF(blocks);
    Py_XDECREF(famk);
    Py_XDECREF(popk);
    Py_XDECREF(key);
    Py_XDECREF(cls);
    Py_XDECREF(walk);
    return res;
}

static PyObject *ls_keys(PyObject *mod, PyObject *fp) {
    PyObject *k;
    (void)mod;
    if (N_TAGS == 0) Py_RETURN_NONE;
    k = compute_keys(fp);
    if (k == NULL) Py_RETURN_NONE;
    return k;
}
