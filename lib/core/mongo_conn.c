/* MongoDB connections over libmongoc (see mongo_conn_private.h). */
#include <pthread.h>
#include <string.h>

#include <phicrypt.h>
#include "core/error_private.h"
#include "core/mem_private.h"
#include "core/mongo_conn_private.h"

struct phi_mongo_conn {
    mongoc_client_pool_t *pool; /* thread-safe; one client per operation */
    mongoc_uri_t *uri;
    char *hosts;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_mongoc(void)
{
    mongoc_init();
}

int phi_mongo_conn_open(phi_mongo_conn **out, const void *eh, const char *what, const char *uri)
{
    phi_mongo_conn *c;
    bson_error_t err;
    const mongoc_host_list_t *h;
    size_t dlen = 64;
    *out = NULL;
    pthread_once(&init_once, init_mongoc);
    if (!(c = phi_calloc(1, sizeof *c)))
        return phi_error(eh, PHICRYPT_ENOMEM, "out of memory");
    if (!(c->uri = mongoc_uri_new_with_error(uri, &err))) {
        phi_mongo_conn_close(c);
        /* The URI may hold a password: quote libmongoc's reason only. */
        return phi_error(eh, PHICRYPT_ECONFIG, "%s: not a valid MongoDB URI (%s)", what, err.message);
    }
    for (h = mongoc_uri_get_hosts(c->uri); h; h = h->next)
        dlen += strlen(h->host_and_port) + 1;
    c->hosts = phi_malloc(dlen);
    c->pool = mongoc_client_pool_new(c->uri);
    if (!c->hosts || !c->pool) {
        phi_mongo_conn_close(c);
        return phi_error(eh, PHICRYPT_ENOMEM, "%s: cannot create a MongoDB client pool", what);
    }
    mongoc_client_pool_set_error_api(c->pool, MONGOC_ERROR_API_VERSION_2);
    if (!mongoc_uri_get_appname(c->uri))
        mongoc_client_pool_set_appname(c->pool, "phicrypt");
    strcpy(c->hosts, "mongodb://");
    for (h = mongoc_uri_get_hosts(c->uri); h; h = h->next) {
        strcat(c->hosts, h->host_and_port);
        if (h->next)
            strcat(c->hosts, ",");
    }
    *out = c;
    return 0;
}

void phi_mongo_conn_close(phi_mongo_conn *c)
{
    if (!c)
        return;
    if (c->pool)
        mongoc_client_pool_destroy(c->pool);
    if (c->uri)
        mongoc_uri_destroy(c->uri);
    phi_free(c->hosts);
    phi_free(c);
}

const char *phi_mongo_conn_hosts(const phi_mongo_conn *c)
{
    return c->hosts;
}

const char *phi_mongo_conn_database(const phi_mongo_conn *c)
{
    return mongoc_uri_get_database(c->uri);
}

mongoc_client_t *phi_mongo_conn_pop(phi_mongo_conn *c)
{
    return mongoc_client_pool_pop(c->pool);
}

void phi_mongo_conn_push(phi_mongo_conn *c, mongoc_client_t *client)
{
    if (client)
        mongoc_client_pool_push(c->pool, client);
}
