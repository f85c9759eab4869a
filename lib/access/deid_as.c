/* De-identification and re-identification of files through a session:
 * re-identification reverses only fields the role may see (all of the
 * policy's reversible fields, or nothing), and both runs are audited. */
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "access/access_private.h"
#include "audit/audit_private.h"
#include "core/config_private.h"
#include "core/error_private.h"
#include "core/handle_private.h"
#include "core/mem_private.h"
#include "deid/deid_private.h"

/* "a[].b" -> "a.b": access rules do not write array steps. */
static void rule_path(char *out, size_t cap, const phi_deid_rule *r)
{
    size_t o = 0;
    if (r->preset) {
        /* Chosen by field name anywhere in the record: only a role that may
         * see every field may reverse it. */
        snprintf(out, cap, "*");
        return;
    }
    for (const char *p = r->path_text; *p && o + 1 < cap; p++) {
        if (p[0] == '[' && p[1] == ']') {
            p++;
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

static int64_t records_of(const phicrypt_buf *report)
{
    const char *p;
    long long n = 0;
    if (!report->data || !(p = strstr((const char *)report->data, "\"records_out\":")))
        return 0;
    sscanf(p + strlen("\"records_out\":"), "%lld", &n);
    return n;
}

static int run_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                  const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                  const phicrypt_deid_opts *opts, int reid)
{
    const char *op = reid ? "reid" : "deid";
    phi_access_grant g;
    phi_audit_event ev;
    phicrypt_buf report = PHICRYPT_BUF_INIT;
    const char **fields = NULL, **denied = NULL;
    char (*paths)[256] = NULL;
    size_t nf = 0, nd = 0, n;
    int rc;
    if (!ph || !p)
        return phi_error(ph, PHICRYPT_EINVAL, "phicrypt_%s_file_as: NULL argument", op);
    if ((rc = phi_access_resolve(ph->cfg ? ph->cfg->access : NULL, ph, session, &g)) != 0) {
        if (rc != PHICRYPT_EACCESS)
            return rc;
        char msg[PHI_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", phicrypt_errmsg(ph));
        memset(&ev, 0, sizeof ev);
        ev.actor = session->actor;
        ev.role = session->role;
        ev.purpose = session->purpose;
        ev.op = op;
        ev.ns = ns;
        ev.outcome = "denied";
        ev.reason = msg;
        if ((rc = phi_audit_write(ph, &ev)) != 0)
            return rc;
        return phi_error(ph, PHICRYPT_EACCESS, "%s", msg);
    }
    n = p->nrules + PHI_ACT_COUNT;
    paths = phi_calloc(n ? n : 1, sizeof *paths);
    fields = phi_calloc(n ? n : 1, sizeof *fields);
    denied = phi_calloc(n ? n : 1, sizeof *denied);
    if (!paths || !fields || !denied) {
        rc = phi_error(ph, PHICRYPT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const phi_deid_rule *r = i < p->nrules ? &p->rules[i] : &p->preset_rules[i - p->nrules];
        if (i >= p->nrules && !p->safe_harbor)
            break;
        if (r->act != PHI_ACT_TOKENIZE && r->act != PHI_ACT_ENCRYPT)
            continue;
        rule_path(paths[nf + nd], sizeof paths[0], r);
        if (!reid || phi_access_allows(&g, ns, paths[nf + nd]))
            fields[nf] = paths[nf + nd], nf++;
        else
            denied[nd] = paths[nf + nd], nd++;
    }
    phi_access_event(&ev, session, op, ns);
    ev.break_glass = g.break_glass;
    ev.count = 0; /* set from the report once the run succeeds */
    if (nd > 0) {
        char msg[PHI_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "access denied: role '%s' with purpose '%s' may not re-identify '%s'%s", session->role,
                 session->purpose, denied[0], nd > 1 ? " and other fields" : "");
        ev.outcome = "denied";
        ev.reason = msg;
        ev.denied_fields = denied;
        ev.n_denied_fields = nd;
        if ((rc = phi_audit_write(ph, &ev)) == 0)
            rc = phi_error(ph, PHICRYPT_EACCESS, "%s", msg);
        goto out;
    }
    rc = reid ? phicrypt_reid_file(ph, &report, p, in_path, out_path, opts)
              : phicrypt_deid_file(ph, &report, p, in_path, out_path, opts);
    if (rc != 0) {
        if (report_json) /* the run's report says how far it got ("completed": false) */
            *report_json = report, report.data = NULL, report.len = 0;
        goto out;
    }
    ev.outcome = "ok";
    ev.fields = fields;
    ev.n_fields = nf;
    ev.count = records_of(&report);
    if ((rc = phi_audit_write(ph, &ev)) != 0)
        goto out;
    if (report_json) {
        *report_json = report;
        report.data = NULL;
        report.len = 0;
    }
out:
    phicrypt_buf_dispose(&report);
    phi_free(paths);
    phi_free(fields);
    phi_free(denied);
    return rc;
}

int phicrypt_reid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                          const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                          const phicrypt_deid_opts *opts)
{
    return run_as(ph, report_json, session, ns, p, in_path, out_path, opts, 1);
}

int phicrypt_deid_file_as(phicrypt_t *ph, phicrypt_buf *report_json, const phicrypt_session *session, const char *ns,
                          const phicrypt_deid_policy *p, const char *in_path, const char *out_path,
                          const phicrypt_deid_opts *opts)
{
    return run_as(ph, report_json, session, ns, p, in_path, out_path, opts, 0);
}
