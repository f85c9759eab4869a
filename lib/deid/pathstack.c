/* The path of the value being rewritten, and a per-worker table of the
 * paths seen so far. Records of an export repeat the same paths, so each
 * distinct path becomes a node (found from its parent node and last key)
 * that remembers its rule, its text ("visits[].date") and its statistics
 * entry: a value's path then costs one hash probe per key, not a rule
 * search, a string build and a comparison of the whole path.
 *
 * The table is bounded: once full, new paths are handled uncached
 * (correct, only slower), and it is emptied between records when most
 * lookups miss, so an odd first batch cannot pin it. */
#include <string.h>

#include "core/mem_private.h"
#include "deid/deid_private.h"

#define PT_MAX_NODES 8192u
#define PT_MAX_ARENA (1u << 20)
#define PT_MAX_KEY 1024u
#define PT_ELEM UINT32_MAX /* key_len of an array level */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t key_hash(uint32_t parent, const char *k, uint32_t n)
{
    uint64_t h = mix(((uint64_t)parent << 32) ^ n ^ 0x9e3779b97f4a7c15ULL);
    if (n == PT_ELEM)
        return h;
    while (n >= 8) {
        uint64_t x;
        memcpy(&x, k, 8);
        h = mix(h ^ x);
        k += 8;
        n -= 8;
    }
    /* The last 0-7 bytes with whole loads (no byte-by-byte copy to the stack
     * then a wide read, which stalls store forwarding). */
    uint64_t x = 0;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, k, 4);
        memcpy(&b, k + n - 4, 4);
        x = (uint64_t)a << 32 | b;
    } else if (n > 0) {
        const unsigned char *u = (const unsigned char *)k;
        x = (uint64_t)u[0] | (uint64_t)u[n / 2] << 8 | (uint64_t)u[n - 1] << 16;
    }
    return mix(h ^ x ^ 0x5bd1e995ULL);
}

static void pt_clear(phi_ptable *t)
{
    if (t->slots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->n = 0;
    if (t->arena.p)
        phi_wipe(t->arena.p, t->arena.len);
    t->arena.len = 0;
    t->misses = 0;
    phi_sbuf_putc(&t->arena, 0);
    if (t->nodes && !t->arena.oom) {
        /* the root: no key, empty text (the NUL at offset 0) */
        memset(&t->nodes[0], 0, sizeof t->nodes[0]);
        t->nodes[0].parent = PHI_PNODE_NONE;
        t->n = 1;
    }
}

static int pt_init(phi_ptable *t)
{
    if (t->nodes)
        return t->n > 0; /* 0: emptied, and out of memory since */
    t->cap = 64;
    t->nslots = 256;
    t->nodes = phi_malloc(t->cap * sizeof *t->nodes);
    t->slots = phi_calloc(t->nslots, sizeof *t->slots);
    if (t->nodes && t->slots)
        pt_clear(t);
    if (!t->nodes || !t->slots || t->n == 0) {
        phi_ptable_free(t);
        return 0;
    }
    return 1;
}

void phi_ptable_free(phi_ptable *t)
{
    phi_free(t->nodes);
    phi_free(t->slots);
    phi_sbuf_free(&t->arena);
    memset(t, 0, sizeof *t);
}

void phi_ptable_record_start(phi_ptable *t)
{
    if (t->nodes && t->misses > PT_MAX_NODES)
        pt_clear(t);
}

static int pt_grow(phi_ptable *t)
{
    if (t->n == t->cap) {
        phi_pnode *nn = phi_realloc(t->nodes, 2 * t->cap * sizeof *nn);
        if (!nn)
            return 0;
        t->nodes = nn;
        t->cap *= 2;
    }
    if (2 * (t->n + 1) > t->nslots) {
        size_t ns = 2 * t->nslots;
        uint32_t *s = phi_calloc(ns, sizeof *s);
        if (!s)
            return 0;
        for (uint32_t i = 1; i < t->n; i++) {
            size_t j = t->nodes[i].hash & (ns - 1);
            while (s[j])
                j = (j + 1) & (ns - 1);
            s[j] = i;
        }
        phi_free(t->slots);
        t->slots = s;
        t->nslots = ns;
    }
    return 1;
}

/* The child of `parent` for key k (n bytes; PT_ELEM: an array level), or
 * PHI_PNODE_NONE when it is not and cannot be in the table. */
static uint32_t pt_child(phi_ptable *t, uint32_t parent, const char *k, uint32_t n)
{
    if (parent == PHI_PNODE_NONE)
        return PHI_PNODE_NONE;
    uint64_t h = key_hash(parent, k, n);
    size_t mask = t->nslots - 1, j = h & mask;
    for (; t->slots[j]; j = (j + 1) & mask) {
        const phi_pnode *e = &t->nodes[t->slots[j]];
        if (e->hash == h && e->parent == parent && e->key_len == n &&
            (n == PT_ELEM || memcmp(t->arena.p + e->key_off, k, n) == 0))
            return t->slots[j];
    }
    const phi_pnode *pn = &t->nodes[parent];
    size_t kn = n == PT_ELEM ? 0 : n;
    size_t need = 2 * kn + pn->text_len + 4; /* key, then text: parent + '.' or "[]" + key + NUL */
    if ((n != PT_ELEM && n > PT_MAX_KEY) || t->n >= PT_MAX_NODES || t->arena.len + need > PT_MAX_ARENA) {
        t->misses++;
        return PHI_PNODE_NONE;
    }
    if (!pt_grow(t))
        return PHI_PNODE_NONE;
    mask = t->nslots - 1; /* the slots may have been rehashed */
    for (j = h & mask; t->slots[j]; j = (j + 1) & mask)
        ;
    phi_sbuf_reserve(&t->arena, need + 1);
    if (t->arena.oom)
        return PHI_PNODE_NONE;
    pn = &t->nodes[parent];
    uint32_t id = t->n++;
    phi_pnode *e = &t->nodes[id];
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->parent = parent;
    e->key_len = n;
    /* key bytes, then the text: parent's text, '.' between keys, "[]", NUL */
    char *a = t->arena.p;
    e->key_off = t->arena.len;
    if (kn)
        memcpy(a + e->key_off, k, kn);
    e->text_off = e->key_off + kn;
    char *p = a + e->text_off;
    memcpy(p, a + pn->text_off, pn->text_len);
    p += pn->text_len;
    if (n == PT_ELEM) {
        memcpy(p, "[]", 2);
        p += 2;
    } else {
        if (pn->text_len)
            *p++ = '.';
        memcpy(p, k, kn);
        p += kn;
    }
    *p = 0; /* the text is also a C string (error messages) */
    e->text_len = (size_t)(p - (a + e->text_off));
    t->arena.len = e->text_off + e->text_len + 1;
    t->slots[j] = id;
    return id;
}

void phi_ps_init(phi_pstack *ps, phi_deid_rec *r)
{
    ps->r = r;
    ps->nc = 0;
    ps->node[0] = pt_init(&r->pt) ? 0 : PHI_PNODE_NONE;
    ps->sib[1] = PHI_PNODE_NONE;
}

void phi_ps_push(phi_pstack *ps, const char *key, size_t len, char *owned)
{
    size_t d = ps->nc;
    phi_ptable *t = &ps->r->pt;
    uint32_t parent = ps->node[d], id = PHI_PNODE_NONE;
    ps->comps[d].key = key;
    ps->comps[d].key_len = key ? len : 0;
    ps->owned[d] = owned;
    uint32_t n = key ? (len > PT_MAX_KEY ? PT_MAX_KEY + 1 : (uint32_t)len) : PT_ELEM;
    if (parent != PHI_PNODE_NONE) {
        /* Records repeat their keys in order: try the node that followed
         * the previous sibling last time (or the parent's first child)
         * before hashing. */
        uint32_t sib = ps->sib[d + 1];
        uint32_t c = sib != PHI_PNODE_NONE ? t->nodes[sib].next : t->nodes[parent].first;
        if (c && c < t->n && t->nodes[c].parent == parent && t->nodes[c].key_len == n &&
            (n == PT_ELEM || memcmp(t->arena.p + t->nodes[c].key_off, key, n) == 0)) {
            id = c;
        } else if ((id = pt_child(t, parent, key, n)) != PHI_PNODE_NONE) {
            /* by index: pt_child may have moved the nodes */
            if (sib != PHI_PNODE_NONE)
                t->nodes[sib].next = id;
            else
                t->nodes[parent].first = id;
        }
    }
    ps->node[d + 1] = id;
    ps->sib[d + 2] = PHI_PNODE_NONE;
    ps->nc = d + 1;
}

void phi_ps_pop(phi_pstack *ps)
{
    ps->nc--;
    ps->sib[ps->nc + 1] = ps->node[ps->nc + 1];
    if (ps->owned[ps->nc]) {
        phi_free(ps->owned[ps->nc]);
        ps->owned[ps->nc] = NULL;
    }
}

void phi_ps_free(phi_pstack *ps)
{
    while (ps->nc)
        phi_ps_pop(ps);
    phi_sbuf_free(&ps->text);
}

const char *phi_ps_path(phi_pstack *ps, size_t *len)
{
    uint32_t id = ps->node[ps->nc];
    if (id != PHI_PNODE_NONE) {
        const phi_pnode *e = &ps->r->pt.nodes[id];
        *len = e->text_len;
        return ps->r->pt.arena.p ? ps->r->pt.arena.p + e->text_off : "";
    }
    /* Not in the table: built from the components, in the same form. */
    ps->text.len = 0;
    if (ps->text.p)
        ps->text.p[0] = 0;
    for (size_t i = 0; i < ps->nc; i++) {
        if (!ps->comps[i].key) {
            phi_sbuf_put(&ps->text, "[]", 2);
            continue;
        }
        if (ps->text.len)
            phi_sbuf_putc(&ps->text, '.');
        phi_sbuf_put(&ps->text, ps->comps[i].key, ps->comps[i].key_len);
    }
    *len = ps->text.oom ? 0 : ps->text.len;
    return ps->text.p && !ps->text.oom ? ps->text.p : "";
}

/* Out of line: phi_ps_rule runs for every value, this once per path. */
static __attribute__((noinline)) const phi_deid_rule *rule_lookup(phi_pstack *ps)
{
    const phi_deid_rule *rule = phi_rule_for(ps->r->pol, ps->comps, ps->nc);
    phi_rec_hit(ps->r, rule); /* for the "rule matched nothing" warning */
    return rule;
}

const phi_deid_rule *phi_ps_rule(phi_pstack *ps)
{
    uint32_t id = ps->node[ps->nc];
    if (id == PHI_PNODE_NONE)
        return rule_lookup(ps);
    phi_pnode *e = &ps->r->pt.nodes[id];
    if (!e->rule_known) {
        e->rule = rule_lookup(ps);
        e->rule_known = 1;
    }
    return e->rule;
}

void phi_ps_count(phi_pstack *ps, int act)
{
    phi_deid_stats *st = ps->r->st;
    if (!st)
        return;
    uint32_t id = ps->node[ps->nc];
    phi_pnode *e = id == PHI_PNODE_NONE ? NULL : &ps->r->pt.nodes[id];
    if (e && e->stat_act == act + 1 && e->stat_idx < st->n) {
        st->ents[e->stat_idx].count++;
        return;
    }
    size_t len;
    const char *path = phi_ps_path(ps, &len);
    size_t idx = phi_stats_count(st, path, len, act);
    if (e && idx != SIZE_MAX) {
        e->stat_act = act + 1;
        e->stat_idx = idx;
    }
}
