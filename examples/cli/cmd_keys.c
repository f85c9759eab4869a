/* phicrypt keys create|list|get|delete|add-alt-name|remove-alt-name|rewrap */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>

#include "cli.h"
#include "cli_args.h"

static const char usage[] =
    "Usage: phicrypt keys SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Manage data keys in the key vault named by the configuration.\n"
    "\n"
    "  create --provider P [--master-key JSON] [--alt-name NAME]... [--key-material-file FILE]\n"
    "        create a data key wrapped by the provider's master key; prints its UUID.\n"
    "        P is local, aws, azure, gcp or kmip (configured in kms_providers), a named local key\n"
    "        (local:NAME) or a KMS plug-in (kms_plugins, docs/kms.md); --master-key\n"
    "        is the provider's master key document, e.g.\n"
    "          aws   {\"region\": \"us-east-1\", \"key\": \"arn:aws:kms:...\"}\n"
    "          azure {\"keyVaultEndpoint\": \"myvault.vault.azure.net\", \"keyName\": \"k\"}\n"
    "          gcp   {\"projectId\": \"p\", \"location\": \"global\", \"keyRing\": \"r\", \"keyName\": \"k\"}\n"
    "          kmip  {} or {\"keyId\": \"1\"}\n"
    "        --key-material-file: use these 96 bytes as the key (for migrations and tests)\n"
    "  list  print one JSON line per key: id, keyAltNames, masterKey, dates, status\n"
    "        (never key material)\n"
    "  get (--key-id UUID | --key-alt-name NAME)\n"
    "        print one key as list does\n"
    "  delete (--key-id UUID | --key-alt-name NAME) --yes [--shred-keyring]\n"
    "        delete a data key. Everything encrypted with it becomes unrecoverable\n"
    "        (crypto-shredding), hence --yes. phicrypt's internal keys (list marks them\n"
    "        \"internal\") are refused: the one wrapping keyring keys would make every\n"
    "        token and pseudonym irreversible; --shred-keyring --yes does it (audited)\n"
    "  add-alt-name (--key-id UUID | --key-alt-name NAME) --alt-name NEW\n"
    "  remove-alt-name (--key-id UUID | --key-alt-name NAME) --alt-name OLD\n"
    "        alt names are unique across the key vault\n"
    "  rewrap [--filter JSON] --provider P [--master-key JSON]\n"
    "        rotate master keys: rewrap the data keys matching the filter (default: all;\n"
    "        e.g. '{\"masterKey.provider\": \"local\"}') under P's master key, in one atomic\n"
    "        write of the key vault; prints the number of keys rewrapped. Data encrypted\n"
    "        with them keeps decrypting\n";

typedef struct kopts {
    const char *provider, *key_id, *key_alt_name, *material_file, *master_key, *filter;
    const char *alt_names[64];
    size_t n_alt;
    int yes, shred;
} kopts;

static int store_alt_name(void *opts, const char *cmd, const char *v)
{
    kopts *o = opts;
    if (o->n_alt >= 64)
        return cli_usage_error(cmd, "at most 64 --alt-name options");
    o->alt_names[o->n_alt++] = v;
    return 0;
}

static const cli_option options[] = { CLI_OPT_STR(kopts, "provider", provider),
                                      CLI_OPT_FN("alt-name", store_alt_name),
                                      CLI_OPT_STR(kopts, "key-id", key_id),
                                      CLI_OPT_STR(kopts, "key-alt-name", key_alt_name),
                                      CLI_OPT_STR(kopts, "key-material-file", material_file),
                                      CLI_OPT_STR(kopts, "master-key", master_key),
                                      CLI_OPT_STR(kopts, "filter", filter),
                                      CLI_OPT_FLAG(kopts, "yes", yes),
                                      CLI_OPT_FLAG(kopts, "shred-keyring", shred),
                                      CLI_OPT_END };
const cli_command cli_spec_keys = { "keys", usage, options, 0, NULL, NULL };

static int parse(int argc, char **argv, kopts *o)
{
    int first;
    memset(o, 0, sizeof *o);
    return cli_parse(&cli_spec_keys, argc, argv, o, &first);
}

/* Resolves --key-id or --key-alt-name to an id. */
static int which_key(phicrypt_t *ph, const kopts *o, uint8_t id[16])
{
    int rc;
    if (!o->key_id == !o->key_alt_name)
        return cli_usage_error("keys", "give exactly one of --key-id and --key-alt-name");
    if (o->key_id) {
        if (cli_parse_uuid(id, o->key_id) != 0)
            return cli_usage_error("keys", "--key-id: '%s' is not a UUID", o->key_id);
        return 0;
    }
    if ((rc = phicrypt_datakey_id_by_alt_name(ph, id, o->key_alt_name)) != 0)
        return cli_lib_fail(ph, rc, "keys");
    return 0;
}

/* The alt names of the data keys phicrypt creates for itself (the
 * library's PHI_KEYRING_DATA_KEY and PHI_AUDIT_DATA_KEY) and what they do. */
static const char *internal_role(const bson_t *doc)
{
    bson_iter_t it, a;
    if (!bson_iter_init_find(&it, doc, "keyAltNames") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &a))
        return NULL;
    while (bson_iter_next(&a)) {
        const char *n = BSON_ITER_HOLDS_UTF8(&a) ? bson_iter_utf8(&a, NULL) : "";
        if (strcmp(n, "phicrypt-keyring") == 0)
            return "wraps the keyring's token, pseudonym and audit keys";
        if (strcmp(n, "phicrypt-audit") == 0)
            return "the audit log's keys derive from it";
    }
    return NULL;
}

/* Prints a key document as one JSON line with the id as a UUID string. */
static int print_key(const uint8_t *data, uint32_t len)
{
    bson_t doc, out = BSON_INITIALIZER;
    bson_iter_t it;
    char *json;
    if (!bson_init_static(&doc, data, len) || !bson_iter_init(&it, &doc))
        return cli_fail("malformed key document");
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0 && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t n;
            const uint8_t *b;
            char u[37];
            bson_iter_binary(&it, &st, &n, &b);
            if (n == 16) {
                cli_format_uuid(u, b);
                BSON_APPEND_UTF8(&out, "id", u);
                continue;
            }
        }
        if (strcmp(k, "keyMaterial") == 0)
            continue;
        bson_append_iter(&out, k, -1, &it);
    }
    if (internal_role(&doc))
        BSON_APPEND_UTF8(&out, "internal", internal_role(&doc));
    json = bson_as_relaxed_extended_json(&out, NULL);
    bson_destroy(&out);
    if (!json)
        return cli_fail("cannot print key document");
    cli_compact_json(json);
    puts(json);
    bson_free(json);
    return 0;
}

static int read_material(const char *path, uint8_t m[96])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    uint8_t extra;
    if (fd < 0)
        return cli_fail("--key-material-file %s: %s", path, strerror(errno));
    n = read(fd, m, 96);
    if (n != 96 || read(fd, &extra, 1) != 0) {
        close(fd);
        return cli_fail("--key-material-file %s: must hold exactly 96 bytes", path);
    }
    close(fd);
    return 0;
}

static int do_create(phicrypt_t *ph, const kopts *o)
{
    phicrypt_datakey_opts dk = PHICRYPT_DATAKEY_OPTS_INIT;
    uint8_t id[16], material[96];
    char u[37];
    int rc;
    if (!o->provider)
        return cli_usage_error("keys", "create: --provider is required (local, aws, azure, gcp, kmip)");
    dk.provider = o->provider;
    dk.master_key_json = o->master_key;
    dk.alt_names = o->alt_names;
    dk.alt_names_count = o->n_alt;
    if (o->material_file) {
        if (read_material(o->material_file, material) != 0)
            return EXIT_ERR;
        dk.key_material = material;
        dk.key_material_len = 96;
    }
    rc = phicrypt_datakey_create(ph, id, &dk);
    memset(material, 0, sizeof material);
    if (rc != 0)
        return cli_lib_fail(ph, rc, "keys create");
    cli_format_uuid(u, id);
    puts(u);
    return EXIT_OK;
}

static int do_rewrap(phicrypt_t *ph, const kopts *o)
{
    size_t n = 0;
    int rc;
    if (!o->provider)
        return cli_usage_error("keys", "rewrap: --provider is required (local, aws, azure, gcp, kmip)");
    /* One atomic library call (every KMS round trip inside it): on a terminal a progress line
     * ticks while it runs; then, on a terminal or not, one summary line on stderr. stdout keeps
     * only the count, for scripts. */
    cli_progress pr;
    cli_progress_start(&pr, "keys rewrap", isatty(STDERR_FILENO));
    cli_progress_tick_start(&pr);
    rc = phicrypt_datakey_rewrap(ph, &n, o->filter, o->provider, o->master_key);
    cli_progress_end(&pr);
    if (rc != 0)
        return cli_lib_fail(ph, rc, "keys rewrap");
    fprintf(stderr, "phicrypt keys rewrap: %zu key%s rewrapped under %s in %.1fs (key vault replaced atomically)\n", n,
            n == 1 ? "" : "s", o->provider, cli_now() - pr.t0);
    printf("%zu\n", n);
    return EXIT_OK;
}

static int do_list(phicrypt_t *ph)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    bson_t doc;
    bson_iter_t it, a;
    int rc = phicrypt_datakey_list(ph, &b);
    if (rc != 0)
        return cli_lib_fail(ph, rc, "keys list");
    if (bson_init_static(&doc, b.data, b.len) && bson_iter_init_find(&it, &doc, "keys") && bson_iter_recurse(&it, &a)) {
        while (bson_iter_next(&a)) {
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&a, &len, &data);
            if (print_key(data, len) != 0) {
                phicrypt_buf_dispose(&b);
                return EXIT_ERR;
            }
        }
    }
    phicrypt_buf_dispose(&b);
    return EXIT_OK;
}

static int do_get(phicrypt_t *ph, const kopts *o)
{
    phicrypt_buf b = PHICRYPT_BUF_INIT;
    uint8_t id[16];
    int rc = which_key(ph, o, id);
    if (rc != 0)
        return rc;
    if ((rc = phicrypt_datakey_get(ph, &b, id)) != 0)
        return cli_lib_fail(ph, rc, "keys get");
    rc = print_key(b.data, (uint32_t)b.len) ? EXIT_ERR : EXIT_OK;
    phicrypt_buf_dispose(&b);
    return rc;
}

static int do_delete(phicrypt_t *ph, const kopts *o)
{
    phicrypt_datakey_delete_opts dopts = PHICRYPT_DATAKEY_DELETE_OPTS_INIT;
    uint8_t id[16];
    char u[37];
    int rc = which_key(ph, o, id);
    if (rc != 0)
        return rc;
    if (!o->yes)
        return cli_usage_error("keys", "delete: refusing without --yes: data encrypted with this key becomes "
                                       "unrecoverable");
    dopts.shred_internal = o->shred;
    if ((rc = phicrypt_datakey_delete_ex(ph, id, &dopts)) != 0)
        return cli_lib_fail(ph, rc, "keys delete");
    cli_format_uuid(u, id);
    printf("deleted %s\n", u);
    return EXIT_OK;
}

static int do_alt(phicrypt_t *ph, const kopts *o, int add)
{
    uint8_t id[16];
    int rc = which_key(ph, o, id);
    if (rc != 0)
        return rc;
    if (o->n_alt != 1)
        return cli_usage_error("keys", "give one --alt-name");
    rc = add ? phicrypt_datakey_add_alt_name(ph, id, o->alt_names[0])
             : phicrypt_datakey_remove_alt_name(ph, id, o->alt_names[0]);
    if (rc != 0)
        return cli_lib_fail(ph, rc, add ? "keys add-alt-name" : "keys remove-alt-name");
    return EXIT_OK;
}

int cmd_keys(int argc, char **argv)
{
    kopts o;
    phicrypt_t *ph = NULL;
    const char *sub;
    int rc;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "get") && strcmp(sub, "delete") &&
        strcmp(sub, "add-alt-name") && strcmp(sub, "remove-alt-name") && strcmp(sub, "rewrap"))
        return cli_usage_error("keys", "unknown subcommand '%s'", sub);
    rc = parse(argc - 1, argv + 1, &o);
    if (rc < 0)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    if ((rc = cli_open(&ph)) != 0)
        return rc;
    if (strcmp(sub, "create") == 0)
        rc = do_create(ph, &o);
    else if (strcmp(sub, "list") == 0)
        rc = do_list(ph);
    else if (strcmp(sub, "get") == 0)
        rc = do_get(ph, &o);
    else if (strcmp(sub, "delete") == 0)
        rc = do_delete(ph, &o);
    else if (strcmp(sub, "rewrap") == 0)
        rc = do_rewrap(ph, &o);
    else
        rc = do_alt(ph, &o, strcmp(sub, "add-alt-name") == 0);
    phicrypt_free(ph);
    return rc;
}
