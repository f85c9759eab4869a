/* phicrypt policy check: which rules of a policy do not give Safe Harbor
 * de-identified output (45 CFR 164.514(b)(2)), or do not remove the direct
 * identifiers a limited data set must not hold (164.514(e)(2)), and why.
 * A static reading of the policy: what an export holds is the gate's job. */
#include <string.h>

#include "core/error_private.h"
#include "core/json_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"
#include "deid/gate_private.h"

enum { STD_SAFE_HARBOR, STD_LIMITED };

/* Classes a limited data set may keep (164.514(e)(2) lists what it must not). */
static int lds_may_keep(const char *cls)
{
    return strcmp(cls, "dates") == 0 || strcmp(cls, "ages over 89") == 0 || strcmp(cls, "none") == 0 ||
           strcmp(cls, "free text") == 0;
}

/* Geography a limited data set keeps: town or city, state, ZIP, county;
 * not the street address. */
static int lds_geography_ok(const char *path)
{
    const char *k = strrchr(path, '.');
    k = k ? k + 1 : path;
    return strstr(k, "city") || strstr(k, "town") || strstr(k, "zip") || strstr(k, "postal") ||
           strstr(k, "county") || strstr(k, "state");
}

/* One line: the rule, then the reason (`fmt` with its one "%s" replaced by `arg`). */
static void finding(phi_sbuf *b, size_t *n, const phi_deid_rule *r, const char *fmt, const char *arg)
{
    phi_sbuf_puts(b, "fields.\"");
    phi_sbuf_puts(b, r->path_text);
    phi_sbuf_printf(b, "\" (%s): ", phi_deid_act_name(r->act));
    const char *at = strstr(fmt, "%s");
    if (at) {
        phi_sbuf_put(b, fmt, (size_t)(at - fmt));
        phi_sbuf_puts(b, arg);
        phi_sbuf_puts(b, at + 2);
    } else {
        phi_sbuf_puts(b, fmt);
    }
    phi_sbuf_putc(b, '\n');
    (*n)++;
}

int phicrypt_deid_policy_check(phicrypt_buf *out, size_t *nfindings, const phicrypt_deid_policy *p,
                               const char *standard)
{
    if (!out || !p || !standard)
        return phi_error(NULL, PHICRYPT_EINVAL, "policy check: NULL argument");
    int std;
    if (strcmp(standard, "safe-harbor") == 0)
        std = STD_SAFE_HARBOR;
    else if (strcmp(standard, "limited-data-set") == 0)
        std = STD_LIMITED;
    else
        return phi_error(NULL, PHICRYPT_EINVAL, "policy check: standard '%s' unknown (safe-harbor, limited-data-set)",
                         standard);
    out->data = NULL;
    out->len = 0;
    phi_sbuf b = { 0 };
    size_t n = 0;
    for (size_t i = 0; i < p->nrules; i++) {
        const phi_deid_rule *r = &p->rules[i];
        const char *cls = phi_gate_class(NULL, r->path_text);
        switch (r->act) {
        case PHI_ACT_PSEUDONYMIZE:
        case PHI_ACT_TOKENIZE:
        case PHI_ACT_ENCRYPT:
            if (std == STD_SAFE_HARBOR)
                finding(&b, &n, r,
                        "%s: a code derived from the individual's information (45 CFR 164.514(c) allows a "
                        "re-identification code only if it is not derived from it and cannot be translated); "
                        "redact or drop it, or link records another way",
                        r->act == PHI_ACT_PSEUDONYMIZE ? "an HMAC pseudonym"
                        : r->act == PHI_ACT_TOKENIZE   ? "a deterministic token"
                                                       : "an encrypted value");
            break;
        case PHI_ACT_DATE_SHIFT:
            if (std == STD_SAFE_HARBOR)
                finding(&b, &n, r, "%s",
                        "a shifted full date keeps a day and a month, and the shift is derived from the subject "
                        "(164.514(b)(2)(i)(C): all elements of dates except the year); generalize it to the year");
            break;
        case PHI_ACT_GENERALIZE:
            if (std == STD_SAFE_HARBOR && r->gen_month)
                finding(&b, &n, r, "%s",
                        "dates generalised to the month keep an element other than the year "
                        "(164.514(b)(2)(i)(C)); generalize to the year");
            break;
        case PHI_ACT_MASK:
            if (r->keep_last > 0 && strcmp(cls, "none") != 0 && strcmp(cls, "free text") != 0)
                finding(&b, &n, r, "keeps the last characters of %s: a part of an identifier is still one of it",
                        cls);
            break;
        case PHI_ACT_KEEP:
            if (strcmp(cls, "free text") == 0)
                finding(&b, &n, r, "%s",
                        "free text kept as it is may hold any identifier (names, dates, numbers); scrub it");
            else if (strcmp(cls, "none") != 0 &&
                     (std == STD_SAFE_HARBOR || !(lds_may_keep(cls) || (strcmp(cls, "geographic subdivisions") == 0 &&
                                                                         lds_geography_ok(r->path_text)))))
                finding(&b, &n, r,
                        std == STD_SAFE_HARBOR ? "keeps a field of a HIPAA identifier class (%s, 164.514(b)(2)(i))"
                                               : "keeps a direct identifier a limited data set must remove "
                                                 "(%s, 164.514(e)(2))",
                        cls);
            break;
        default:
            break;
        }
    }
    if (p->unknown == PHI_UNKNOWN_KEEP) {
        phi_sbuf_puts(&b, "unknown_fields (keep): a field the policy does not name is kept as it is, and may be an "
                          "identifier; use \"drop\" or \"error\"\n");
        n++;
    }
    if (std == STD_SAFE_HARBOR && !p->safe_harbor) {
        phi_sbuf_puts(&b, "preset: none; only the fields the policy names are handled (\"preset\": \"safe-harbor\" "
                          "covers the 18 identifiers by field name)\n");
        n++;
    }
    if (b.oom) {
        phi_sbuf_free(&b);
        return phi_error(NULL, PHICRYPT_ENOMEM, "out of memory");
    }
    if (nfindings)
        *nfindings = n;
    int rc = phi_buf_from_bytes(NULL, out, (const uint8_t *)(b.p ? b.p : ""), b.len + 1);
    if (rc == 0)
        out->len = b.len;
    phi_sbuf_free(&b);
    return rc;
}
