/* Unicode folding for the text scrub: a "shadow" of a note in which the
 * recognisers only see ASCII separators and digits, and the folded form of
 * the record's own identifiers that the shadow is compared with. */
#ifndef PHI_DEID_FOLD_PRIVATE_H
#define PHI_DEID_FOLD_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

/* Whether s[0..n) holds a byte >= 0x80 (else the shadow is the text). */
int phi_fold_needed(const char *s, size_t n);

/* The shadow of s[0..n) into t (n bytes of room) and map (n + 1 entries):
 * Unicode digits, spaces, dashes, quotes, fullwidth and small forms become
 * their ASCII twin, invisible characters (zero-width, soft hyphen, bidi
 * controls, combining marks) go, other punctuation and symbols become a
 * space, Latin letters lose their accents (case kept) and Greek and
 * Cyrillic letters are lower-cased. t[j] comes from the code point that
 * starts at s[map[j]]; map[tn] is n (map may be NULL). Returns tn (<= n). */
size_t phi_fold_shadow(const char *s, size_t n, char *t, uint32_t *map);

/* An identifier as the scrub compares it (ignoring ASCII case): the
 * shadow, without apostrophes. out has n bytes of room; returns the length. */
size_t phi_fold_ident(const char *s, size_t n, char *out);

#endif
