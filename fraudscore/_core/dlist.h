/*
 * fraudscore._core: intrusive doubly-linked lists over an array of entries linked by index -- the recency (LRU)
 * order of the C tables: velocity_tables.h (label LRU), velocity_results.h (exactly-once records),
 * linkstate_counts.h (link families) and linkstate_maps.h (RecencyMap entries).
 *
 * DLIST_OPS(name, Owner, ENT, HEAD, TAIL, idx_t, NILV) defines, for an owner `o` whose entries `o->ENT[i]` have
 * `prev` / `next` fields of type idx_t and whose list ends are `o->HEAD` / `o->TAIL` (NILV: none):
 *   name_unlink(o, i)  take entry i out of the list (its links set to NILV);
 *   name_append(o, i)  put entry i at the tail (the most recent end);
 *   name_to_end(o, i)  move entry i (in the list) to the tail (OrderedDict.move_to_end).
 * Header only, no state; each user includes it once per compilation unit.
 */
#ifndef FRAUDSCORE_DLIST_H
#define FRAUDSCORE_DLIST_H

#define DLIST_OPS(name, Owner, ENT, HEAD, TAIL, idx_t, NILV)                                                      \
    static inline void name##_unlink(Owner *o, idx_t i) {                                                          \
        idx_t p_ = o->ENT[i].prev, n_ = o->ENT[i].next;                                                            \
        if (p_ != (NILV)) o->ENT[p_].next = n_; else o->HEAD = n_;                                                 \
        if (n_ != (NILV)) o->ENT[n_].prev = p_; else o->TAIL = p_;                                                 \
        o->ENT[i].prev = o->ENT[i].next = (NILV);                                                                  \
    }                                                                                                              \
    static inline void name##_append(Owner *o, idx_t i) {                                                          \
        o->ENT[i].prev = o->TAIL;                                                                                  \
        o->ENT[i].next = (NILV);                                                                                   \
        if (o->TAIL != (NILV)) o->ENT[o->TAIL].next = i; else o->HEAD = i;                                         \
        o->TAIL = i;                                                                                               \
    }                                                                                                              \
    static inline void name##_to_end(Owner *o, idx_t i) {                                                          \
        if (o->TAIL == i) return;                                                                                  \
        name##_unlink(o, i);                                                                                       \
        name##_append(o, i);                                                                                       \
    }

#endif
