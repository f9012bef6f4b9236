/*
 * store_rules.h - the rules both store backends apply around their SQL.
 *
 * A request's argument checks and the decision a row's values imply live
 * here once, with their messages, so SQLite and PostgreSQL cannot drift.
 */
#ifndef STORE_RULES_H
#define STORE_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

int	store_esc_claim_check(const struct qreq *r, struct err *e);
int	store_esc_holder_check(int64_t id, const char *state,
	    const char *holder, int64_t until, const char *by, int64_t now,
	    struct err *e);
int	store_esc_decided(int64_t id, const char *decision, const char *by,
	    struct err *e);
int	store_decide_check(const struct qreq *r, struct err *e);
int	store_esc_assign_check(const struct qreq *r, struct err *e);
int	store_esc_comment_check(const struct qreq *r, struct err *e);
int	store_pb_pause_check(const char *name, bool pause, bool paused,
	    const char *by, int64_t at, struct err *e);

#endif
