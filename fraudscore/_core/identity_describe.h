/*
 * The per-kind describers of fraudscore._core.identity (reference: fraudscore/identity/normalize.py and the
 * describers of fraudscore/identity/__init__.py): national ID, phone, email, bank card, IP and generic values
 * on the printable-ASCII fast path, each returning what the Python describer returns, or Py_None (hand over).
 *
 * Included by identity.c, after the Kernel type and the result helpers, which it uses: one compilation unit,
 * one extension (setup.py lists this header among identity's rebuild dependencies).
 */
/* strip spaces: [*b, *e) */
static void strip_sp(const char **b, const char **e) {
    while (*b < *e && **b == ' ') (*b)++;
    while (*e > *b && (*e)[-1] == ' ') (*e)--;
}

#define BUF 600 /* inputs are at most 512 characters after schema validation; longer ones go to Python */

/* -- national ID -------------------------------------------------------------------------- */
static const int ID_W[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char ID_CHECK[] = "10X98765432";

static char id_checksum(const char *d17) {
    int s = 0;
    for (int i = 0; i < 17; i++) s += (d17[i] - '0') * ID_W[i];
    return ID_CHECK[s % 11];
}

static int valid_date(int y, int m, int d) {
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    int md = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) md = 29;
    return d <= md;
}

static int num(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

static PyObject *d_nid(Kernel *k, const char *b, const char *e) {
    char s[BUF];
    Py_ssize_t n = 0;
    strip_sp(&b, &e);
    for (const char *c = b; c < e; c++) {
        if (*c == ' ') continue;
        s[n++] = (*c >= 'a' && *c <= 'z') ? (char)(*c - 32) : *c;
    }
    if (n == 0) return result(k, K_NID, NULL, 0, FEATS3(flag(0), flag(0), (Py_INCREF(Py_NaN), Py_NaN)), none_ref());
    int all15 = n == 15;
    for (Py_ssize_t i = 0; all15 && i < 15; i++) all15 = is_digit(s[i]);
    if (all15) {
        memmove(s + 8, s + 6, 9);
        s[6] = '1';
        s[7] = '9';
        s[17] = id_checksum(s);
        n = 18;
    } else {
        int ok = n == 18;
        for (Py_ssize_t i = 0; ok && i < 17; i++) ok = is_digit(s[i]);
        if (ok) ok = is_digit(s[17]) || s[17] == 'X';
        if (!ok)
            return result(k, K_NID, s, n < 64 ? n : 64, FEATS3(flag(0), flag(0), (Py_INCREF(Py_NaN), Py_NaN)),
                          none_ref());
    }
    int checksum_ok = id_checksum(s) == s[17];
    int y = num(s + 6, 4), m = num(s + 10, 2), d = num(s + 12, 2);
    int birth_ok = y >= 1900 && y <= 2199 && valid_date(y, m, d);
    int region_ok = REGION[num(s, 2)];
    int male = (s[16] - '0') % 2 == 1;
    PyObject *birth = birth_ok ? tuple3(PyLong_FromLong(y), PyLong_FromLong(m), PyLong_FromLong(d)) : none_ref();
    return result(k, K_NID, s, 18, FEATS3(flag(checksum_ok && birth_ok && region_ok), flag(checksum_ok), flag(male)),
                  birth);
}

/* -- phone ------------------------------------------------------------------------------- */
static int cn_mobile(const char *e, Py_ssize_t n) {
    /* ^\+861(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}$ ; e is "+" + digits */
    if (n != 14 || memcmp(e, "+861", 4) != 0) return 0;
    char a = e[4], b = e[5];
    int ok;
    switch (a) {
    case '3': case '8': ok = 1; break;
    case '4': ok = b >= '5'; break;
    case '5': case '9': ok = b != '4'; break;
    case '6': ok = b == '2' || b == '5' || b == '6' || b == '7'; break;
    case '7': ok = b <= '8'; break;
    default: ok = 0;
    }
    return ok; /* the rest are digits by construction */
}

static PyObject *d_phone(Kernel *k, const char *b, const char *e) {
    char s[BUF + 4];
    Py_ssize_t n = 0;
    strip_sp(&b, &e);
    for (const char *c = b; c < e; c++) {
        char x = *c;
        if (x == ' ' || x == '-' || x == '(' || x == ')' || x == '.' || x == '\t' || x == '/') continue;
        s[n++] = x;
    }
    if (n == 0) return result(k, K_PHONE, NULL, 0, FEATS3(flag(0), flag(0), flag(0)), none_ref());
    char *t = s;
    if (n >= 2 && t[0] == '0' && t[1] == '0') { /* "00" -> "+" */
        t += 1;
        t[0] = '+';
        n -= 1;
    }
    char e164[BUF + 8];
    Py_ssize_t m;
    int all_digits = 1;
    if (t[0] == '+') {
        for (Py_ssize_t i = 1; i < n; i++) all_digits &= is_digit(t[i]);
        if (n == 1 || !all_digits)
            return result(k, K_PHONE, t, n < 32 ? n : 32, FEATS3(flag(0), flag(0), flag(0)), none_ref());
        memcpy(e164, t, (size_t)n);
        m = n;
    } else {
        for (Py_ssize_t i = 0; i < n; i++) all_digits &= is_digit(t[i]);
        if (all_digits && n == 11 && t[0] == '1') {
            memcpy(e164, "+86", 3);
            memcpy(e164 + 3, t, 11);
            m = 14;
        } else if (all_digits && n == 13 && memcmp(t, "861", 3) == 0) {
            e164[0] = '+';
            memcpy(e164 + 1, t, 13);
            m = 14;
        } else {
            return result(k, K_PHONE, t, n < 32 ? n : 32, FEATS3(flag(0), flag(0), flag(0)), none_ref());
        }
    }
    int valid = m - 1 >= 8 && m - 1 <= 15 && e164[1] != '0';
    if (m >= 3 && e164[1] == '8' && e164[2] == '6' && valid) {
        int mob = cn_mobile(e164, m);
        if (m > 3 && e164[3] == '1' && !mob) valid = 0;
        int virt = 0;
        if (mob) {
            char a = e164[4], c = e164[5];
            virt = (a == '7' && (c == '0' || c == '1')) || (a == '6' && (c == '2' || c == '5' || c == '7'));
        }
        return result(k, K_PHONE, e164, m, FEATS3(flag(valid), flag(mob), flag(virt)), none_ref());
    }
    return result(k, K_PHONE, e164, m < 32 ? m : 32, FEATS3(flag(valid), flag(0), flag(0)), none_ref());
}

/* -- e-mail ------------------------------------------------------------------------------ */
static int local_ok(const char *s, Py_ssize_t n) {
    if (n < 1 || n > 64) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_lower_alnum(c)) continue;
        if (!strchr("!#$%&'*+/=?^_`{|}~.-", c) || c == 0) return 0;
    }
    return 1;
}

static int domain_ok(const char *s, Py_ssize_t n) {
    if (n < 4 || n > 253) return 0;
    Py_ssize_t last = -1;
    for (Py_ssize_t i = n - 1; i >= 0; i--)
        if (s[i] == '.') {
            last = i;
            break;
        }
    if (last < 0) return 0;
    Py_ssize_t tl = n - last - 1;
    if (tl < 2 || tl > 63) return 0;
    for (Py_ssize_t i = last + 1; i < n; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z')) return 0;
    Py_ssize_t start = 0;
    while (start <= last) {
        Py_ssize_t end = start;
        while (s[end] != '.') end++;
        Py_ssize_t len = end - start;
        if (len < 1 || len > 63) return 0;
        if (!is_lower_alnum(s[start]) || !is_lower_alnum(s[end - 1])) return 0;
        for (Py_ssize_t i = start + 1; i < end - 1; i++)
            if (!is_lower_alnum(s[i]) && s[i] != '-') return 0;
        start = end + 1;
    }
    return 1;
}

static int in_set(Kernel *k, PyObject *set, const char *s, Py_ssize_t n) {
    if (k->dom.on) return dom_contains(&k->dom, s, n); /* round 16: no str made per lookup (identity_domains.h) */
    PyObject *o = PyUnicode_FromStringAndSize(s, n);
    if (!o) return -1;
    int r = PySet_Contains(set, o);
    Py_DECREF(o);
    return r;
}

static PyObject *d_email(Kernel *k, const char *b, const char *e) {
    char s[BUF];
    Py_ssize_t n = 0;
    strip_sp(&b, &e);
    for (const char *c = b; c < e; c++) {
        if (*c == ' ') continue;
        s[n++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c;
    }
    if (n == 0) return result(k, K_EMAIL, NULL, 0, FEATS3(flag(0), flag(0), flag(0)), none_ref());
    Py_ssize_t at = -1;
    for (Py_ssize_t i = n - 1; i >= 0; i--)
        if (s[i] == '@') {
            at = i;
            break;
        }
    if (at <= 0) return result(k, K_EMAIL, s, n < 254 ? n : 254, FEATS3(flag(0), flag(0), flag(0)), none_ref());
    char out[BUF + 16];
    Py_ssize_t ln = at;
    int plus = 0;
    for (Py_ssize_t i = 0; i < at; i++)
        if (s[i] == '+') {
            plus = 1;
            ln = i;
            break;
        }
    const char *dom = s + at + 1;
    Py_ssize_t dn = n - at - 1;
    while (dn > 0 && dom[dn - 1] == '.') dn--;
    int gmail = (dn == 9 && memcmp(dom, "gmail.com", 9) == 0) || (dn == 14 && memcmp(dom, "googlemail.com", 14) == 0);
    Py_ssize_t on = 0;
    for (Py_ssize_t i = 0; i < ln; i++) {
        if (gmail && s[i] == '.') continue;
        out[on++] = s[i];
    }
    Py_ssize_t local_n = on;
    if (gmail) {
        dom = "gmail.com";
        dn = 9;
    }
    int valid = local_n > 0 && local_ok(out, local_n) && domain_ok(dom, dn);
    int disp = in_set(k, k->disposable, dom, dn);
    if (disp < 0) return NULL;
    if (!disp) {
        int dots = 0;
        for (Py_ssize_t i = 0; i < dn; i++) dots += dom[i] == '.';
        if (dots > 1) {
            for (Py_ssize_t i = 0; i < dn && !disp; i++) {
                if (dom[i] != '.') continue;
                disp = in_set(k, k->disposable, dom + i + 1, dn - i - 1);
                if (disp < 0) return NULL;
            }
        }
    }
    out[on++] = '@';
    memcpy(out + on, dom, (size_t)dn);
    on += dn;
    return result(k, K_EMAIL, out, on < 254 ? on : 254, FEATS3(flag(valid), flag(disp), flag(plus)), none_ref());
}

/* -- bank card --------------------------------------------------------------------------- */
static PyObject *d_card(Kernel *k, const char *b, const char *e) {
    char s[BUF];
    Py_ssize_t n = 0;
    strip_sp(&b, &e);
    for (const char *c = b; c < e; c++) {
        if (*c == ' ' || *c == '-') continue;
        s[n++] = *c;
    }
    if (n == 0) return result(k, K_CARD, NULL, 0, FEATS3(flag(0), flag(0), (Py_INCREF(Py_NaN), Py_NaN)), none_ref());
    int digits = 1;
    for (Py_ssize_t i = 0; i < n; i++) digits &= is_digit(s[i]);
    if (!digits)
        return result(k, K_CARD, s, n < 32 ? n : 32, FEATS3(flag(0), flag(0), (Py_INCREF(Py_NaN), Py_NaN)),
                      none_ref());
    int ok_len = n >= 12 && n <= 19;
    int luhn = 0;
    if (ok_len) {
        int total = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            int d = s[n - 1 - i] - '0';
            if (i % 2) {
                d *= 2;
                if (d > 9) d -= 9;
            }
            total += d;
        }
        luhn = total % 10 == 0;
    }
    PyObject *bin = n >= 6 ? PyFloat_FromDouble((double)num(s, 6)) : (Py_INCREF(Py_NaN), Py_NaN);
    return result(k, K_CARD, s, n < 32 ? n : 32, FEATS3(flag(ok_len), flag(luhn), bin), none_ref());
}

/* -- IP (dotted IPv4 only; anything else -> None, the Python reference) ------------------ */
static PyObject *d_ip(Kernel *k, const char *b, const char *e, int *fallback) {
    strip_sp(&b, &e);
    Py_ssize_t n = e - b;
    if (n == 0) return result(k, K_IP, NULL, 0, FEATS3(flag(0), flag(0), flag(0)), none_ref());
    int part[4], np = 0, len = 0, v = 0, ok = 1;
    for (const char *c = b; c <= e; c++) {
        if (c == e || *c == '.') {
            if (np >= 4 || len == 0 || len > 3) {
                ok = 0;
                break;
            }
            part[np++] = v;
            v = 0;
            len = 0;
            continue;
        }
        if (!is_digit(*c) || len == 3) { /* a fourth digit: not the dotted fast path */
            ok = 0;
            break;
        }
        v = v * 10 + (*c - '0');
        len++;
    }
    if (!ok || np != 4) {
        *fallback = 1; /* not the dotted fast path: ipaddress decides (IPv6, ...) */
        return NULL;
    }
    if (part[0] > 255 || part[1] > 255 || part[2] > 255 || part[3] > 255)
        return result(k, K_IP, b, n < 64 ? n : 64, FEATS3(flag(0), flag(0), flag(0)), none_ref());
    int a = part[0], bb = part[1];
    int priv = a == 10 || a == 127 || a == 0 || (a == 172 && bb >= 16 && bb <= 31) || (a == 192 && bb == 168) ||
               (a == 169 && bb == 254) || (a == 100 && bb >= 64 && bb <= 127) || a >= 224;
    char txt[32], pre[32];
    int tn = fs_dotted4(txt, part), pn = fs_dotted3(pre, part, ".0/24"); /* == snprintf "%d.%d.%d.%d" (dotted.h) */
    PyObject *prefix = pseudo(k, K_IP_PREFIX, pre, pn);
    if (!prefix) return NULL;
    return result(k, K_IP, txt, tn, FEATS3(flag(1), flag(priv), flag(0)), prefix);
}

static PyObject *d_generic(Kernel *k, int kind, const char *b, const char *e) {
    strip_sp(&b, &e);
    Py_ssize_t n = e - b;
    PyObject *p = n ? pseudo(k, kind, b, n < 512 ? n : 512) : none_ref();
    if (!p) return NULL;
    if (k->sink) { /* process_into's sink: no tuples (round 12) */
        k->sink->p = p;
        k->sink->nf = 0;
        k->sink->extra = none_ref();
        Py_RETURN_TRUE;
    }
    return Py_BuildValue("(N()O)", p, Py_None);
}
