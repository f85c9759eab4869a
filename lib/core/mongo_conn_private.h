/* A connection to a MongoDB deployment (libmongoc client pool), shared by
 * the MongoDB key vault and the audit log's MongoDB anchor: URI parsing
 * with messages that never quote credentials, one pool per URI, and a
 * description that names hosts only. Only compiled with libmongoc
 * (PHI_HAVE_MONGOC). */
#ifndef PHI_MONGO_CONN_PRIVATE_H
#define PHI_MONGO_CONN_PRIVATE_H

#include <mongoc/mongoc.h>

typedef struct phi_mongo_conn phi_mongo_conn;

/* `uri` is a mongodb:// or mongodb+srv:// URI; `what` names the user in
 * messages ("key_vault", "audit.anchors[0]"). Opening does not connect. */
int phi_mongo_conn_open(phi_mongo_conn **out, const void *eh, const char *what, const char *uri);
void phi_mongo_conn_close(phi_mongo_conn *c);
/* "mongodb://host1:port,host2:port" (never credentials). */
const char *phi_mongo_conn_hosts(const phi_mongo_conn *c);
/* The database the URI names, or NULL. */
const char *phi_mongo_conn_database(const phi_mongo_conn *c);
/* A client of the pool (NULL when none can be had); give it back. */
mongoc_client_t *phi_mongo_conn_pop(phi_mongo_conn *c);
void phi_mongo_conn_push(phi_mongo_conn *c, mongoc_client_t *client);

#endif
