/*
 * A pool of store handles for request threads. SQLite connections are
 * opened with SQLITE_OPEN_NOMUTEX and belong to one thread at a time, so a
 * request takes a handle for its whole duration and gives it back; handles
 * are reused across requests to keep their prepared statements.
 */
#include "server/server_int.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "store/store.h"

#include "core/banned.h"

int nsh_srv_pool_get(struct nsh_srv *srv, struct nsh_srv_conn **ret, struct nsh_err *err)
{
	struct nsh_srv_conn *c;
	int rc;

	pthread_mutex_lock(&srv->pool_lock);
	c = srv->idle;
	if (c) {
		srv->idle = c->next;
		srv->nidle--;
	}
	pthread_mutex_unlock(&srv->pool_lock);
	if (c) {
		c->next = NULL;
		*ret = c;
		return 0;
	}
	c = nsh_xcalloc(1, sizeof(*c));
	rc = nsh_store_open(srv->db_path, &c->store, err);
	if (rc) {
		free(c);
		return rc;
	}
	nsh_store_set_notify(c->store, srv->notify);
	*ret = c;
	return 0;
}

static void conn_free(struct nsh_srv_conn *c)
{
	nsh_forge_close(c->forge);
	nsh_store_close(c->store);
	free(c);
}

void nsh_srv_pool_put(struct nsh_srv *srv, struct nsh_srv_conn *c)
{
	if (!c)
		return;
	/* A handler that failed half-way must not leave a transaction open. */
	nsh_store_rollback(c->store);
	pthread_mutex_lock(&srv->pool_lock);
	if (srv->nidle < NSH_SRV_POOL_IDLE) {
		c->next = srv->idle;
		srv->idle = c;
		srv->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&srv->pool_lock);
	if (c)
		conn_free(c);
}

void nsh_srv_pool_drain(struct nsh_srv *srv)
{
	struct nsh_srv_conn *c;

	pthread_mutex_lock(&srv->pool_lock);
	c = srv->idle;
	srv->idle = NULL;
	srv->nidle = 0;
	pthread_mutex_unlock(&srv->pool_lock);
	while (c) {
		struct nsh_srv_conn *next = c->next;

		conn_free(c);
		c = next;
	}
}
