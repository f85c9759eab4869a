/* Shared by the de-identification fuzz targets: one keyless policy that
 * exercises every keyless action and path form, and a driver that feeds a
 * stream through a reader and the record rewriter. */
#ifndef PHI_DEID_FUZZ_COMMON_H
#define PHI_DEID_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <phicrypt.h>
#include "core/mem_private.h"
#include "deid/deid_private.h"

static const char fuzz_policy_json[] =
    "{\"version\":1,\"preset\":\"safe-harbor\",\"unknown_fields\":\"keep\",\"fields\":{"
    "\"a\":{\"action\":\"redact\"},\"b\":{\"action\":\"mask\",\"keep_last\":2},\"c\":{\"action\":\"drop\"},"
    "\"d\":{\"action\":\"generalize\",\"to\":\"month\"},\"n\":{\"action\":\"generalize\",\"bucket\":7},"
    "\"z\":{\"action\":\"zip3\"},\"g\":{\"action\":\"age\"},\"t\":{\"action\":\"scrub\"},"
    "\"x.*.y\":{\"action\":\"redact\"},\"l[].m\":{\"action\":\"drop\"},\"k\":{\"action\":\"keep\"}}}";

static phicrypt_deid_policy *fuzz_policy(void)
{
    static phicrypt_deid_policy *p;
    if (!p && phicrypt_deid_policy_new(&p, NULL, fuzz_policy_json) != 0)
        abort();
    return p;
}

/* Reads `data` as a file of format `fmt` in small batches (to exercise
 * records split across reads) and rewrites every record. */
static void fuzz_stream(const uint8_t *data, size_t size, int fmt)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return;
    int eh;
    phi_reader rd;
    phi_deid_stats st;
    phi_deid_rec rec;
    phi_csv_cols cols;
    phi_sbuf buf = { 0 }, out = { 0 }, line = { 0 };
    phi_span *spans = NULL;
    size_t ns = 0, cs = 0;
    memset(&rd, 0, sizeof rd);
    memset(&st, 0, sizeof st);
    memset(&rec, 0, sizeof rec);
    memset(&cols, 0, sizeof cols);
    rd.f = f;
    rd.fmt = fmt;
    rd.name = "fuzz";
    rd.line = 1;
    rec.pol = fuzz_policy();
    rec.eh = &eh;
    rec.st = &st;
    snprintf(rec.where, sizeof rec.where, "fuzz");
    int ok = 1;
    if (fmt == PHICRYPT_DEID_CSV)
        ok = phi_reader_csv_header(&eh, &rd, &line) == 0 && phi_csv_header(&rec, line.p, line.len, ',', 0, rd.crlf, &cols, &out) == 0;
    while (ok) {
        if (phi_reader_next(&eh, &rd, &buf, &spans, &ns, &cs, 61) != 0)
            break;
        for (size_t i = 0; i < ns; i++) {
            out.len = 0;
            if (fmt == PHICRYPT_DEID_CSV)
                phi_csv_rewrite(&rec, &cols, buf.p + spans[i].off, spans[i].len, &out);
            else if (fmt == PHICRYPT_DEID_BSON)
                phi_bson_rewrite(&rec, (const uint8_t *)buf.p + spans[i].off, spans[i].len, &out);
            else
                phi_json_rewrite(&rec, buf.p + spans[i].off, spans[i].len, &out);
        }
        if (ns == 0 && rd.eof && rd.carry_len == 0)
            break;
        if (rd.eof && rd.carry_len == 0)
            break;
    }
    phi_rec_free(&rec);
    phi_stats_free(&st);
    phi_csv_cols_free(&cols);
    phi_sbuf_free(&buf);
    phi_sbuf_free(&out);
    phi_sbuf_free(&line);
    phi_free(spans);
    if (rd.carry)
        phi_free(rd.carry);
    fclose(f);
}

#endif
