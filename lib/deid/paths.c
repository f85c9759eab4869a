/* Field paths of policies (`a.b`, `a.*.c`, `a[].c`) and their matching
 * against the position of a value in a record. */
#include <string.h>

#include "core/error_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

void phi_path_free(phi_path *p)
{
    for (size_t i = 0; i < p->n; i++)
        phi_free(p->segs[i].key);
    phi_free(p->segs);
    p->segs = NULL;
    p->n = 0;
}

static int add_seg(phi_path *p, int kind, const char *k, size_t n)
{
    phi_pseg *s = phi_realloc(p->segs, (p->n + 1) * sizeof *s);
    if (!s)
        return PHICRYPT_ENOMEM;
    p->segs = s;
    s[p->n].kind = kind;
    s[p->n].key = k ? phi_strndup(k, n) : NULL;
    s[p->n].key_len = n;
    if (k && !s[p->n].key)
        return PHICRYPT_ENOMEM;
    p->n++;
    return 0;
}

int phi_path_parse(const void *eh, const char *where, const char *text, phi_path *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    if (len == 0)
        return phi_error(eh, PHICRYPT_EINVAL, "%s: empty field path", where);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *seg_end = dot ? dot : end;
        size_t n = (size_t)(seg_end - p);
        size_t elems = 0;
        while (n >= 2 && p[n - 2] == '[' && p[n - 1] == ']') {
            n -= 2;
            elems++;
        }
        int rc = 0;
        if (n == 0 || memchr(p, '[', n) || memchr(p, ']', n)) {
            phi_path_free(out);
            return phi_error(eh, PHICRYPT_EINVAL,
                             "%s: bad field path (segments are names, '*' or name[]; no empty segment)", where);
        }
        if (n == 1 && p[0] == '*')
            rc = add_seg(out, PHI_SEG_ANY, NULL, 0);
        else
            rc = add_seg(out, PHI_SEG_KEY, p, n);
        while (rc == 0 && elems--)
            rc = add_seg(out, PHI_SEG_ELEM, NULL, 0);
        if (rc) {
            phi_path_free(out);
            return phi_error(eh, rc, "out of memory");
        }
        if (!dot)
            break;
        p = dot + 1;
        if (p == end) {
            phi_path_free(out);
            return phi_error(eh, PHICRYPT_EINVAL, "%s: bad field path (ends with '.')", where);
        }
    }
    return 0;
}

/* Segments and components are consumed left to right; an array element
 * component that the path does not name with [] is stepped over. */
int phi_path_match(const phi_path *p, const phi_pcomp *c, size_t n)
{
    size_t i = 0, j = 0;
    while (j < n) {
        if (c[j].key == NULL) {
            if (i < p->n && p->segs[i].kind == PHI_SEG_ELEM)
                i++;
            j++;
            continue;
        }
        if (i >= p->n)
            return 0;
        const phi_pseg *s = &p->segs[i];
        if (s->kind == PHI_SEG_ELEM)
            return 0;
        if (s->kind == PHI_SEG_KEY && (s->key_len != c[j].key_len || memcmp(s->key, c[j].key, s->key_len) != 0))
            return 0;
        i++;
        j++;
    }
    return i == p->n;
}
