/*
 * The calls of src/store/db.h, passed on to the connection's driver.
 */
#include "store/db.h"

#include <stddef.h>

#include "core/err.h"
#include "store/db_int.h"

#include "core/banned.h"

void nsh_db_close(struct nsh_db *db)
{
	if (db)
		db->ops->close(db);
}

enum nsh_db_kind nsh_db_kind(const struct nsh_db *db)
{
	return db->kind;
}

int nsh_db_fail(struct nsh_db *db, struct nsh_err *err, const char *what)
{
	return db->ops->fail(db, err, what);
}

int nsh_db_exec(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	return db->ops->exec(db, sql, err);
}

int nsh_db_begin(struct nsh_db *db, struct nsh_err *err)
{
	return db->ops->begin(db, err);
}

int nsh_db_commit(struct nsh_db *db, struct nsh_err *err)
{
	return db->ops->exec(db, "COMMIT", err);
}

void nsh_db_rollback(struct nsh_db *db)
{
	if (db->ops->in_tx(db))
		db->ops->exec(db, "ROLLBACK", NULL);
}

bool nsh_db_in_tx(struct nsh_db *db)
{
	return db->ops->in_tx(db);
}

int64_t nsh_db_changes(struct nsh_db *db)
{
	return db->ops->changes(db);
}

struct nsh_db_stmt *nsh_db_prepare(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	return db->ops->prepare(db, sql, err);
}

int nsh_db_check(struct nsh_db *db, const char *sql, struct nsh_err *err)
{
	return db->ops->check(db, sql, err);
}

void nsh_db_finalize(struct nsh_db_stmt *st)
{
	if (st)
		st->db->ops->finalize(st);
}

void nsh_db_reset(struct nsh_db_stmt *st)
{
	st->db->ops->reset(st);
}

int nsh_db_param_count(struct nsh_db_stmt *st)
{
	return st->db->ops->param_count(st);
}

void nsh_db_bind_int64(struct nsh_db_stmt *st, int i, int64_t v)
{
	st->db->ops->bind_int64(st, i, v);
}

void nsh_db_bind_text(struct nsh_db_stmt *st, int i, const char *v)
{
	if (v)
		st->db->ops->bind_text(st, i, v);
	else
		st->db->ops->bind_null(st, i);
}

void nsh_db_bind_blob(struct nsh_db_stmt *st, int i, const void *p, size_t len)
{
	st->db->ops->bind_blob(st, i, p, len);
}

void nsh_db_bind_null(struct nsh_db_stmt *st, int i)
{
	st->db->ops->bind_null(st, i);
}

int nsh_db_step(struct nsh_db_stmt *st)
{
	return st->db->ops->step(st);
}

int64_t nsh_db_col_int64(struct nsh_db_stmt *st, int i)
{
	return st->db->ops->col_int64(st, i);
}

const char *nsh_db_col_text(struct nsh_db_stmt *st, int i)
{
	return st->db->ops->col_text(st, i);
}

const void *nsh_db_col_blob(struct nsh_db_stmt *st, int i)
{
	return st->db->ops->col_blob(st, i);
}

size_t nsh_db_col_bytes(struct nsh_db_stmt *st, int i)
{
	return st->db->ops->col_bytes(st, i);
}

bool nsh_db_col_is_null(struct nsh_db_stmt *st, int i)
{
	return st->db->ops->col_is_null(st, i);
}
