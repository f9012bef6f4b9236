/*
 * store_rules.c - the rules both store backends apply around their SQL.
 *
 * Each backend reads the rows; what the values mean, and what the
 * reviewer is told, is decided here so both answer byte for byte alike.
 */
#include "store_rules.h"

#include <stdbool.h>
#include <string.h>

/*
 * The arguments of an escalation claim or release: -1 (and e) when the
 * reviewer is unnamed or a claim's length is out of range.
 */
int
store_esc_claim_check(const struct qreq *r, struct err *e)
{
	bool claim = r->op == QOP_ESC_CLAIM;

	if (r->u.esc_claim.by == NULL || r->u.esc_claim.by[0] == '\0') {
		err_setc(e, ERR_INVALID, "a claim needs the reviewer's"
		    " name");
		return -1;
	}
	if (claim && (r->u.esc_claim.ms <= 0 || r->u.esc_claim.ms >
	    86400000)) {
		err_setc(e, ERR_INVALID, "a claim lasts from 1 ms to 24 h");
		return -1;
	}
	return 0;
}

/*
 * Whether `by` may act on escalation id given its row's state, holder and
 * claim end: -1 (and e) when it is not open or another reviewer holds an
 * unexpired claim on it.
 */
int
store_esc_holder_check(int64_t id, const char *state, const char *holder,
    int64_t until, const char *by, int64_t now, struct err *e)
{
	if (strcmp(state, "open") != 0) {
		err_setc(e, ERR_CONFLICT, "escalation %lld is already decided",
		    (long long)id);
		return -1;
	}
	if (holder != NULL && until > now &&
	    (by == NULL || strcmp(holder, by) != 0)) {
		char t[48];

		util_format_time(until, t, sizeof(t));
		err_setc(e, ERR_CONFLICT, "escalation %lld is claimed by %s"
		    " until %s", (long long)id, holder, t);
		return -1;
	}
	return 0;
}

/*
 * The conflict a decision on an escalation already closed (decision by
 * `by`) meets: always -1, with e naming who decided what.
 */
int
store_esc_decided(int64_t id, const char *decision, const char *by,
    struct err *e)
{
	err_setc(e, ERR_CONFLICT, "escalation %lld was already"
	    " decided (%s by %s)", (long long)id,
	    decision ? decision : "closed", by ? by : "?");
	return -1;
}

/*
 * A decision's arguments: -1 (and e) when a rejection has no reason or a
 * payload is not an object or sets the keys clerk keeps.
 */
int
store_decide_check(const struct qreq *r, struct err *e)
{
	json_error_t je;
	json_t *p;
	bool ok, reserved;

	if (r->u.decide.decision == DEC_REJECT &&
	    (r->u.decide.reason == NULL || r->u.decide.reason[0] == '\0')) {
		err_setc(e, ERR_INVALID, "a rejection needs a reason the"
		    " applicant can act on");
		return -1;
	}
	/* Resume needs corrected fields; approve may carry some (what the
	 * reviewer adds for the steps after the one approved). */
	if (r->u.decide.decision != DEC_RESUME && !(r->u.decide.decision ==
	    DEC_APPROVE && r->u.decide.payload != NULL))
		return 0;
	p = r->u.decide.payload ? json_loads(r->u.decide.payload, 0, &je) :
	    NULL;
	ok = json_is_object(p);
	reserved = json_object_get(p, "_approved") != NULL ||
	    json_object_get(p, "_waiting") != NULL;
	json_decref(p);
	if (reserved) {
		err_setc(e, ERR_INVALID, "\"_approved\" and"
		    " \"_waiting\" are kept by clerk (approvals, waits);"
		    " a payload cannot set them");
		return -1;
	}
	if (!ok) {
		err_setc(e, ERR_INVALID, "%s needs the corrected payload"
		    " as a JSON object", decision_name(r->u.decide.decision));
		return -1;
	}
	return 0;
}

/* An assignment's arguments: -1 (and e) unless both people are named. */
int
store_esc_assign_check(const struct qreq *r, struct err *e)
{
	const char *by = r->u.esc_assign.by, *to = r->u.esc_assign.to;

	if (by == NULL || by[0] == '\0' || to == NULL || to[0] == '\0') {
		err_setc(e, ERR_INVALID, "an assignment needs who assigns"
		    " and to whom");
		return -1;
	}
	return 0;
}

/*
 * A comment's arguments: -1 (and e) when it has no author, no text or
 * more than is kept.
 */
int
store_esc_comment_check(const struct qreq *r, struct err *e)
{
	const char *text = r->u.esc_comment.text;

	if (r->u.esc_comment.by == NULL || r->u.esc_comment.by[0] == '\0') {
		err_setc(e, ERR_INVALID, "a comment needs its author");
		return -1;
	}
	if (text == NULL || text[strspn(text, " \t\r\n")] == '\0') {
		err_setc(e, ERR_INVALID, "the comment is empty; send"
		    " {\"text\": \"...\"}");
		return -1;
	}
	if (strlen(text) > ESC_COMMENT_MAX) {
		err_setc(e, ERR_INVALID, "the comment is %zu bytes; at most"
		    " %d are kept: shorten it or split it", strlen(text),
		    ESC_COMMENT_MAX);
		return -1;
	}
	return 0;
}

/*
 * Whether playbook name may be paused (pause) or resumed given whether it
 * is paused, by whom ("" when unknown) and since when: -1 (and e) when
 * the request changes nothing. 409 rather than a silent no-op: whoever
 * asks learns that someone else got there first, and the audit trail
 * holds no pause that changed nothing.
 */
int
store_pb_pause_check(const char *name, bool pause, bool paused,
    const char *by, int64_t at, struct err *e)
{
	char when[48];

	if (pause != paused)
		return 0;
	util_format_time(at, when, sizeof(when));
	if (pause)
		err_setc(e, ERR_CONFLICT, "playbook \"%s\" is"
		    " already paused (by %s, %s)", name, by[0] ? by :
		    "?", when);
	else
		err_setc(e, ERR_CONFLICT, "playbook \"%s\" is"
		    " not paused", name);
	return -1;
}
