/*
 * Dotted-decimal text of IPv4 octets, for identity.c (header only): what
 * snprintf("%d.%d.%d.%d") writes for octets 0..255, without the printf machinery (round 9: the two
 * snprintf calls per IP address were ~5k of the ~245k instructions of a scored event).
 */
#ifndef FRAUDSCORE_DOTTED_H
#define FRAUDSCORE_DOTTED_H

/* the decimal digits of v (0..255) at o; returns the number written (1..3) */
static inline int fs_octet(char *o, int v) {
    if (v >= 100) {
        o[0] = (char)('0' + v / 100);
        o[1] = (char)('0' + v / 10 % 10);
        o[2] = (char)('0' + v % 10);
        return 3;
    }
    if (v >= 10) {
        o[0] = (char)('0' + v / 10);
        o[1] = (char)('0' + v % 10);
        return 2;
    }
    o[0] = (char)('0' + v);
    return 1;
}

/* "a.b.c" + tail (a NUL-terminated suffix such as ".7" or ".0/24") of the first three octets (0..255) at o,
 * NUL-terminated; returns the length (o needs 12 + strlen(tail) bytes) */
static inline int fs_dotted3(char *o, const int part[3], const char *tail) {
    int n = fs_octet(o, part[0]);
    o[n++] = '.';
    n += fs_octet(o + n, part[1]);
    o[n++] = '.';
    n += fs_octet(o + n, part[2]);
    while (*tail) o[n++] = *tail++;
    o[n] = '\0';
    return n;
}

/* "a.b.c.d" of four octets (0..255) at o (16 bytes), NUL-terminated; returns the length */
static inline int fs_dotted4(char *o, const int part[4]) {
    int n = fs_dotted3(o, part, ".");
    n += fs_octet(o + n, part[3]);
    o[n] = '\0';
    return n;
}

#endif
