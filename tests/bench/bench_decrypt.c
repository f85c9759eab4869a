/* Bulk decryption benchmark in the shape of MongoDB's own (one document of
 * 1,500 deterministic strings "value 0001".. under one local data key,
 * decrypted whole, repeatedly), and the auto-encrypt insert benchmark.
 * Every figure is measured in this run against a baseline from this run:
 *   raw libmongocrypt loop with its default crypto (the baseline),
 *   phicrypt_decrypt_document with crypto hooks off and on,
 * at 1 and 2 threads sharing one client. Prints one table. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bson/bson.h>
#include <mongocrypt/mongocrypt.h>

#include <phicrypt.h>
#include "fle/analysis_private.h"

#define N_FIELDS 1500

static double seconds = 2.0;
static long fixed_ops; /* BENCH_OPS=N: N documents per measurement instead of a time */
static char dir[] = "/tmp/phicrypt-bench-XXXXXX";
static uint8_t master[96];
static bson_t keydoc;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static phicrypt_t *client(int hooks)
{
    char *cfg;
    phicrypt_t *ph;
    if (asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}}, "
                       "\"key_vault\": \"file:%s/keyvault.jsonl\", \"crypto_hooks\": %s}",
                 dir, dir, hooks ? "true" : "false") < 0 || phicrypt_new(&ph, cfg) != 0) {
        fprintf(stderr, "client: %s\n", phicrypt_errmsg(NULL));
        exit(1);
    }
    free(cfg);
    return ph;
}

/* The encrypted document: {key0001: enc("value 0001"), ...}. */
static bson_t *make_doc(phicrypt_t *ph)
{
    bson_t *doc = bson_new();
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    o.key_alt_name = "bench";
    for (int i = 1; i <= N_FIELDS; i++) {
        char k[16], plain[32];
        bson_t in = BSON_INITIALIZER, c;
        bson_iter_t it;
        phicrypt_buf out = PHICRYPT_BUF_INIT;
        snprintf(k, sizeof k, "key%04d", i);
        snprintf(plain, sizeof plain, "value %04d", i);
        BSON_APPEND_UTF8(&in, "v", plain);
        if (phicrypt_encrypt(ph, &out, bson_get_data(&in), in.len, &o) != 0) {
            fprintf(stderr, "encrypt: %s\n", phicrypt_errmsg(ph));
            exit(1);
        }
        bson_init_static(&c, out.data, out.len);
        bson_iter_init_find(&it, &c, "v");
        bson_append_iter(doc, k, -1, &it);
        phicrypt_buf_dispose(&out);
        bson_destroy(&in);
    }
    return doc;
}

/* ---- raw libmongocrypt baseline ---- */
static mongocrypt_t *raw_crypt(void)
{
    mongocrypt_t *c = mongocrypt_new();
    bson_t prov = BSON_INITIALIZER, local;
    mongocrypt_binary_t *b;
    BSON_APPEND_DOCUMENT_BEGIN(&prov, "local", &local);
    BSON_APPEND_BINARY(&local, "key", BSON_SUBTYPE_BINARY, master, 96);
    bson_append_document_end(&prov, &local);
    b = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(&prov), prov.len);
    if (!mongocrypt_setopt_kms_providers(c, b) || !mongocrypt_init(c))
        exit(1);
    mongocrypt_binary_destroy(b);
    bson_destroy(&prov);
    return c;
}

static int raw_decrypt(mongocrypt_t *c, const bson_t *doc)
{
    mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(c);
    mongocrypt_binary_t *in = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(doc), doc->len);
    mongocrypt_binary_t *out = mongocrypt_binary_new();
    int ok = mongocrypt_ctx_decrypt_init(ctx, in);
    while (ok) {
        mongocrypt_ctx_state_t st = mongocrypt_ctx_state(ctx);
        if (st == MONGOCRYPT_CTX_NEED_MONGO_KEYS) {
            mongocrypt_binary_t *k = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(&keydoc), keydoc.len);
            ok = mongocrypt_ctx_mongo_feed(ctx, k) && mongocrypt_ctx_mongo_done(ctx);
            mongocrypt_binary_destroy(k);
        } else if (st == MONGOCRYPT_CTX_READY) {
            ok = mongocrypt_ctx_finalize(ctx, out);
            break;
        } else {
            ok = 0;
        }
    }
    mongocrypt_binary_destroy(out);
    mongocrypt_binary_destroy(in);
    mongocrypt_ctx_destroy(ctx);
    return ok;
}

typedef struct job {
    int kind; /* 0 raw, 1 phicrypt */
    mongocrypt_t *crypt;
    phicrypt_t *ph;
    const bson_t *doc;
    long ops;
    double stop;
} job;

static void *run(void *arg)
{
    job *j = arg;
    while (fixed_ops ? j->ops < fixed_ops : now() < j->stop) {
        if (j->kind == 0) {
            if (!raw_decrypt(j->crypt, j->doc)) {
                fprintf(stderr, "raw decrypt failed\n");
                exit(1);
            }
        } else {
            phicrypt_buf out = PHICRYPT_BUF_INIT;
            if (phicrypt_decrypt_document(j->ph, &out, bson_get_data(j->doc), j->doc->len) != 0) {
                fprintf(stderr, "decrypt failed: %s\n", phicrypt_errmsg(j->ph));
                exit(1);
            }
            phicrypt_buf_dispose(&out);
        }
        j->ops++;
    }
    return NULL;
}

static double measure(int kind, mongocrypt_t *c, phicrypt_t *ph, const bson_t *doc, int threads)
{
    pthread_t th[8];
    job jobs[8];
    long total = 0;
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){ kind, c, ph, doc, 0, t0 + seconds };
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].ops;
    }
    return (double)total / (now() - t0);
}

/* ---- auto-encrypt insert: 20 fields, 8 encrypted ---- */
static const char *enc_fields[8] = { "ssn", "mrn", "name", "dob", "phone", "email", "address", "diagnosis" };

static char *insert_schema_map(const uint8_t id[16])
{
    char *props = strdup(""), *s, b64[32];
    bson_t tmp = BSON_INITIALIZER;
    char *j;
    BSON_APPEND_BINARY(&tmp, "k", BSON_SUBTYPE_UUID, id, 16);
    j = bson_as_canonical_extended_json(&tmp, NULL);
    /* {"k":{"$binary":{"base64":"...","subType":"04"}}} -> the base64 */
    sscanf(strstr(j, "base64") + 11, "%24[^\"]", b64);
    bson_free(j);
    bson_destroy(&tmp);
    for (int i = 0; i < 8; i++) {
        char *n;
        if (asprintf(&n, "%s%s\"%s\": {\"encrypt\": {\"bsonType\": \"string\", \"algorithm\": "
                         "\"AEAD_AES_256_CBC_HMAC_SHA_512-%s\"}}",
                     props, i ? "," : "", enc_fields[i], i < 2 ? "Deterministic" : "Random") < 0)
            exit(1);
        free(props);
        props = n;
    }
    if (asprintf(&s, "{\"hospital.patients\": {\"bsonType\": \"object\", \"encryptMetadata\": {\"keyId\": "
                     "[{\"$binary\": {\"base64\": \"%s\", \"subType\": \"04\"}}]}, \"properties\": {%s}}}",
                 b64, props) < 0)
        exit(1);
    free(props);
    return s;
}

static bson_t *patient_doc(int n)
{
    bson_t *d = bson_new();
    char v[64];
    for (int i = 0; i < 8; i++) {
        snprintf(v, sizeof v, "%s-value-%d", enc_fields[i], n);
        BSON_APPEND_UTF8(d, enc_fields[i], v);
    }
    for (int i = 0; i < 12; i++) {
        char k[16];
        snprintf(k, sizeof k, "field%02d", i);
        if (i % 3 == 0)
            BSON_APPEND_INT32(d, k, i * n);
        else {
            snprintf(v, sizeof v, "clear text %d", i);
            BSON_APPEND_UTF8(d, k, v);
        }
    }
    return d;
}

static bson_t *insert_cmd(const bson_t *doc)
{
    bson_t *c = bson_new(), arr;
    BSON_APPEND_UTF8(c, "insert", "patients");
    BSON_APPEND_ARRAY_BEGIN(c, "documents", &arr);
    BSON_APPEND_DOCUMENT(&arr, "0", doc);
    bson_append_array_end(c, &arr);
    return c;
}

static double rate(double t0, long n)
{
    return (double)n / (now() - t0);
}

static void bench_insert(const uint8_t id[16])
{
    char *schema = insert_schema_map(id), *cfg;
    phicrypt_t *ph;
    bson_t *doc = patient_doc(1), *cmd = insert_cmd(doc), markings_req, reply;
    long n;
    double t0, auto_rate, expl_rate, raw_rate;
    int eh;
    phicrypt_encrypt_opts o = PHICRYPT_ENCRYPT_OPTS_INIT;
    mongocrypt_t *raw;
    if (asprintf(&cfg, "{\"kms_providers\": {\"local\": {\"key_file\": \"%s/master.key\"}}, "
                       "\"key_vault\": \"file:%s/keyvault.jsonl\", \"schema_map\": %s}",
                 dir, dir, schema) < 0 || phicrypt_new(&ph, cfg) != 0) {
        fprintf(stderr, "insert client: %s\n", phicrypt_errmsg(NULL));
        exit(1);
    }
    /* phicrypt_encrypt_command */
    for (n = 0, t0 = now(); now() - t0 < seconds; n++) {
        phicrypt_buf out = PHICRYPT_BUF_INIT;
        if (phicrypt_encrypt_command(ph, &out, "hospital", bson_get_data(cmd), cmd->len) != 0) {
            fprintf(stderr, "encrypt_command: %s\n", phicrypt_errmsg(ph));
            exit(1);
        }
        phicrypt_buf_dispose(&out);
    }
    auto_rate = rate(t0, n);
    /* the same document field by field with explicit encryption */
    o.key_id = id;
    for (n = 0, t0 = now(); now() - t0 < seconds; n++) {
        bson_t out_doc = BSON_INITIALIZER;
        bson_iter_t it;
        bson_iter_init(&it, doc);
        while (bson_iter_next(&it)) {
            int enc = -1;
            for (int i = 0; i < 8; i++)
                if (strcmp(bson_iter_key(&it), enc_fields[i]) == 0)
                    enc = i;
            if (enc < 0) {
                bson_append_iter(&out_doc, NULL, 0, &it);
            } else {
                bson_t v = BSON_INITIALIZER, c;
                bson_iter_t ci;
                phicrypt_buf ct = PHICRYPT_BUF_INIT;
                bson_append_iter(&v, "v", 1, &it);
                o.algorithm = enc < 2 ? PHICRYPT_ALG_DETERMINISTIC : PHICRYPT_ALG_RANDOM;
                if (phicrypt_encrypt(ph, &ct, bson_get_data(&v), v.len, &o) != 0)
                    exit(1);
                bson_init_static(&c, ct.data, ct.len);
                bson_iter_init_find(&ci, &c, "v");
                bson_append_iter(&out_doc, bson_iter_key(&it), -1, &ci);
                phicrypt_buf_dispose(&ct);
                bson_destroy(&v);
            }
        }
        bson_destroy(&out_doc);
    }
    expl_rate = rate(t0, n);
    /* raw libmongocrypt fed markings computed once in advance */
    bson_copy_to(cmd, &markings_req);
    {
        bson_t sm;
        bson_iter_t it;
        uint32_t len;
        const uint8_t *data;
        bson_t *map = bson_new_from_json((const uint8_t *)schema, -1, NULL);
        bson_iter_init_find(&it, map, "hospital.patients");
        bson_iter_document(&it, &len, &data);
        bson_init_static(&sm, data, len);
        BSON_APPEND_DOCUMENT(&markings_req, "jsonSchema", &sm);
        BSON_APPEND_BOOL(&markings_req, "isRemoteSchema", false);
        if (phi_analysis_mark(&eh, "hospital", &markings_req, &reply) != 0)
            exit(1);
        raw = mongocrypt_new();
        {
            bson_t prov = BSON_INITIALIZER, local;
            mongocrypt_binary_t *b;
            BSON_APPEND_DOCUMENT_BEGIN(&prov, "local", &local);
            BSON_APPEND_BINARY(&local, "key", BSON_SUBTYPE_BINARY, master, 96);
            bson_append_document_end(&prov, &local);
            b = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(&prov), prov.len);
            mongocrypt_setopt_kms_providers(raw, b);
            mongocrypt_binary_destroy(b);
            bson_destroy(&prov);
            b = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(map), map->len);
            mongocrypt_setopt_schema_map(raw, b);
            mongocrypt_binary_destroy(b);
        }
        if (!mongocrypt_init(raw))
            exit(1);
        bson_destroy(map);
    }
    for (n = 0, t0 = now(); now() - t0 < seconds; n++) {
        mongocrypt_ctx_t *ctx = mongocrypt_ctx_new(raw);
        mongocrypt_binary_t *in = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(cmd), cmd->len);
        mongocrypt_binary_t *out = mongocrypt_binary_new();
        int ok = mongocrypt_ctx_encrypt_init(ctx, "hospital", -1, in);
        while (ok) {
            mongocrypt_ctx_state_t st = mongocrypt_ctx_state(ctx);
            if (st == MONGOCRYPT_CTX_NEED_MONGO_MARKINGS) {
                mongocrypt_binary_t *r = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(&reply), reply.len);
                ok = mongocrypt_ctx_mongo_feed(ctx, r) && mongocrypt_ctx_mongo_done(ctx);
                mongocrypt_binary_destroy(r);
            } else if (st == MONGOCRYPT_CTX_NEED_MONGO_KEYS) {
                mongocrypt_binary_t *k = mongocrypt_binary_new_from_data((uint8_t *)bson_get_data(&keydoc), keydoc.len);
                ok = mongocrypt_ctx_mongo_feed(ctx, k) && mongocrypt_ctx_mongo_done(ctx);
                mongocrypt_binary_destroy(k);
            } else if (st == MONGOCRYPT_CTX_READY) {
                ok = mongocrypt_ctx_finalize(ctx, out);
                break;
            } else {
                ok = 0;
            }
        }
        if (!ok) {
            fprintf(stderr, "raw encrypt failed\n");
            exit(1);
        }
        mongocrypt_binary_destroy(out);
        mongocrypt_binary_destroy(in);
        mongocrypt_ctx_destroy(ctx);
    }
    raw_rate = rate(t0, n);
    printf("\nauto-encrypt insert (20-field document, 8 encrypted fields), documents/s, 1 thread\n");
    printf("  %-58s %10.0f\n", "raw libmongocrypt fed precomputed markings (default crypto)", raw_rate);
    printf("  %-58s %10.0f\n", "8 fields one by one with phicrypt_encrypt (explicit)", expl_rate);
    printf("  %-58s %10.0f\n", "phicrypt_encrypt_command (analysis in-process)", auto_rate);
    printf("  ratio encrypt_command / explicit field by field: %.2fx\n", auto_rate / expl_rate);
    printf("  ratio encrypt_command / raw with precomputed markings: %.2fx\n", auto_rate / raw_rate);
    printf("ROW insert_raw %.2f\nROW insert_explicit %.2f\n", auto_rate / raw_rate, auto_rate / expl_rate);
    mongocrypt_destroy(raw);
    bson_destroy(&reply);
    bson_destroy(&markings_req);
    bson_destroy(cmd);
    bson_destroy(doc);
    phicrypt_free(ph);
    free(cfg);
    free(schema);
}

int main(int argc, char **argv)
{
    char path[300];
    phicrypt_t *hooks, *plain;
    bson_t *doc;
    FILE *f;
    mongocrypt_t *raw;
    double r1, r2, p1, p2, h1, h2;
    if (argc > 1)
        seconds = atof(argv[1]);
    if (getenv("BENCH_OPS"))
        fixed_ops = atol(getenv("BENCH_OPS"));
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/master.key", dir);
    if (phicrypt_local_key_file_create(path) != 0)
        return 1;
    f = fopen(path, "rb");
    if (fread(master, 1, 96, f) != 96)
        return 1;
    fclose(f);
    snprintf(path, sizeof path, "%s/keyvault.jsonl", dir);
    fclose(fopen(path, "w"));
    hooks = client(1);
    {
        phicrypt_datakey_opts o = PHICRYPT_DATAKEY_OPTS_INIT;
        const char *n[] = { "bench" };
        uint8_t id[16];
        o.alt_names = n;
        o.alt_names_count = 1;
        if (phicrypt_datakey_create(hooks, id, &o) != 0)
            return 1;
    }
    {
        char line[8192];
        f = fopen(path, "r");
        if (!fgets(line, sizeof line, f))
            return 1;
        fclose(f);
        bson_init_from_json(&keydoc, line, -1, NULL);
    }
    plain = client(0);
    doc = make_doc(hooks);
    raw = raw_crypt();

    if (getenv("BENCH_ONLY") && strcmp(getenv("BENCH_ONLY"), "insert") == 0) {
        uint8_t id[16];
        if (phicrypt_datakey_id_by_alt_name(hooks, id, "bench") != 0)
            return 1;
        bench_insert(id);
        return 0;
    }
    /* BENCH_ONLY=raw or hooks: that one measurement at 1 thread (for
     * instruction counts under callgrind). */
    if (getenv("BENCH_ONLY") && (strcmp(getenv("BENCH_ONLY"), "raw") == 0 || strcmp(getenv("BENCH_ONLY"), "hooks") == 0)) {
        int is_raw = strcmp(getenv("BENCH_ONLY"), "raw") == 0;
        double r = measure(is_raw ? 0 : 1, raw, hooks, doc, 1);
        printf("%s: %.1f documents/s\n", is_raw ? "raw libmongocrypt" : "phicrypt hooks", r);
        return 0;
    }
    r1 = measure(0, raw, NULL, doc, 1);
    p1 = measure(1, NULL, plain, doc, 1);
    h1 = measure(1, NULL, hooks, doc, 1);
    r2 = measure(0, raw, NULL, doc, 2);
    p2 = measure(1, NULL, plain, doc, 2);
    h2 = measure(1, NULL, hooks, doc, 2);

    printf("bulk decrypt (1 document, %d deterministic strings), ops/s over %.1f s each\n", N_FIELDS, seconds);
    printf("  %-44s %10s %10s %8s\n", "", "1 thread", "2 threads", "2t/1t");
    printf("  %-44s %10.1f %10.1f %8.2f\n", "raw libmongocrypt, default crypto (baseline)", r1, r2, r2 / r1);
    printf("  %-44s %10.1f %10.1f %8.2f\n", "phicrypt, crypto_hooks: false", p1, p2, p2 / p1);
    printf("  %-44s %10.1f %10.1f %8.2f\n", "phicrypt, crypto_hooks: true (default)", h1, h2, h2 / h1);
    printf("  ratio phicrypt (hooks) / raw libmongocrypt:   1 thread %.2fx   2 threads %.2fx\n", h1 / r1, h2 / r2);
    printf("ROW decrypt_1t %.2f\nROW decrypt_2t_1t %.2f\n", h1 / r1, h2 / h1);
    mongocrypt_destroy(raw);
    bson_destroy(doc);
    {
        uint8_t id[16];
        if (phicrypt_datakey_id_by_alt_name(hooks, id, "bench") != 0)
            return 1;
        bench_insert(id);
    }
    phicrypt_free(hooks);
    phicrypt_free(plain);
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
