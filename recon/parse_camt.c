/*
 * parse_camt.c - ISO 20022 camt.053 bank-to-customer statements, versions
 * 02 and later (the paths that moved, such as RltdPties/Cdtr/Pty/Nm and
 * Sts/Cd, are read in both forms). libxml2's xmlTextReader streams the
 * file, so a statement of millions of entries is never a DOM; we keep the
 * path of the element we are in and pick the few leaves we need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlreader.h>

#include "recon.h"

#define MAX_DEPTH 64

struct sbuf {
	char *s;
	size_t len, cap;
};

static void
sb_set(struct sbuf *b, const char *s, bool append)
{
	size_t n = strlen(s);

	if (!append)
		b->len = 0;
	if (b->len + n + 2 > b->cap) {
		b->cap = (b->len + n + 2) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	if (append && b->len > 0)
		b->s[b->len++] = ' ';
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static void
sb_clear(struct sbuf *b)
{
	b->len = 0;
	if (b->s != NULL)
		b->s[0] = '\0';
}

struct entry {
	unsigned line;
	bool has_amt, has_ind, credit, rvsl, has_btch, skip;
	int64_t amt;
	recon_day bookg, val;
	int ntx, nboftxs;
	struct sbuf acctsvcrref, ntryref, e2e, txref, ustrd, addtl, cdtr, dbtr,
	    btch, ccy;
};

struct camt {
	const char *path;
	struct err *e;
	xmlTextReaderPtr r;
	char path_buf[1024];
	size_t off[MAX_DEPTH];   /* path_buf length before each element */
	size_t plen[MAX_DEPTH];  /* and the length it adds, "/Name" */
	unsigned lines[MAX_DEPTH];
	int depth;
	int stmt_depth;          /* depth of <Stmt>, -1 outside one */
	size_t rel;              /* path_buf offset of what is below <Stmt> */
	int nstmt;
	struct entry en;
	/* the <Bal> being read */
	char bal_type[8];
	bool bal_has_amt, bal_debit;
	int64_t bal_amt;
	recon_day bal_day;
	char stmt_account[128];
	char xml_err[256];
	unsigned xml_err_line;
};

static void
xml_error(void *arg, xmlErrorPtr err)
{
	struct camt *c = arg;
	size_t n;

	if (c->xml_err[0] != '\0' || err == NULL || err->level < XML_ERR_ERROR)
		return;
	snprintf(c->xml_err, sizeof(c->xml_err), "%s",
	    err->message ? err->message : "broken XML");
	n = strlen(c->xml_err);
	while (n > 0 && (c->xml_err[n - 1] == '\n' || c->xml_err[n - 1] == ' '))
		c->xml_err[--n] = '\0';
	for (char *p = c->xml_err; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	c->xml_err_line = (unsigned)(err->line > 0 ? err->line : 0);
}

static void
quiet(void *ctx, const char *msg, ...)
{
}

/* "FILE:LINE: message" (recon_errf), always -1. */
#define fail(c, line, ...) recon_errf((c)->e, (c)->path, line, __VA_ARGS__)

/* "2026-11-23" or "2026-11-23T10:00:00+08:00". */
static recon_day
iso_day(const char *s)
{
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return -1;
	if (s[10] != '\0' && s[10] != 'T' && s[10] != ' ' && s[10] != 'Z' &&
	    s[10] != '+' && s[10] != '-')
		return -1;
	return recon_day_ymd((s[0] - '0') * 1000 + (s[1] - '0') * 100 +
	    (s[2] - '0') * 10 + (s[3] - '0'), (s[5] - '0') * 10 + (s[6] - '0'),
	    (s[8] - '0') * 10 + (s[9] - '0'));
}

static void
entry_reset(struct entry *en, unsigned line)
{
	struct sbuf *bufs[] = { &en->acctsvcrref, &en->ntryref, &en->e2e,
	    &en->txref, &en->ustrd, &en->addtl, &en->cdtr, &en->dbtr,
	    &en->btch, &en->ccy };

	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		sb_clear(bufs[i]);
	en->line = line;
	en->has_amt = en->has_ind = en->credit = en->rvsl = false;
	en->has_btch = en->skip = false;
	en->amt = 0;
	en->bookg = en->val = 0;
	en->ntx = en->nboftxs = 0;
}

static void
entry_free(struct entry *en)
{
	struct sbuf *bufs[] = { &en->acctsvcrref, &en->ntryref, &en->e2e,
	    &en->txref, &en->ustrd, &en->addtl, &en->cdtr, &en->dbtr,
	    &en->btch, &en->ccy };

	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		free(bufs[i]->s);
}

static const char *
arena_or_empty(struct recon_side *side, const struct sbuf *b)
{
	return b->len > 0 ? recon_arena_strdup(&side->arena, b->s, b->len) : "";
}

static int
entry_emit(struct camt *c, struct recon_side *side, struct recon_stmt *st)
{
	struct entry *en = &c->en;
	struct recon_line *l;
	const struct sbuf *ref;
	bool one_tx = en->ntx <= 1;

	if (en->skip)
		return 0;   /* pending or information only: not booked */
	if (!en->has_amt)
		return fail(c, en->line, "<Ntry> without <Amt>");
	if (!en->has_ind)
		return fail(c, en->line, "<Ntry> without <CdtDbtInd> (CRDT or"
		    " DBIT)");
	if (en->bookg == 0 && en->val == 0)
		return fail(c, en->line, "<Ntry> without <BookgDt> or <ValDt>");
	if (en->ccy.len > 0 && st->currency[0] != '\0' &&
	    strcmp(en->ccy.s, st->currency) != 0)
		return fail(c, en->line, "<Ntry> in %s in a statement in %s",
		    en->ccy.s, st->currency);
	l = recon_side_add(side);
	/* A reversal carries the indicator of the entry it reverses turned
	 * round: a reversed credit is booked as DBIT, so the sign follows
	 * CdtDbtInd either way. */
	l->amount = en->credit ? en->amt : -en->amt;
	l->date = en->bookg != 0 ? en->bookg : en->val;
	l->value_date = en->val;
	l->reversal = en->rvsl;
	l->src_line = en->line;
	if (one_tx && en->e2e.len > 0)
		ref = &en->e2e;
	else if (en->acctsvcrref.len > 0)
		ref = &en->acctsvcrref;
	else if (one_tx && en->txref.len > 0)
		ref = &en->txref;
	else
		ref = &en->ntryref;
	recon_line_set_ref(&side->arena, l, ref->s ? ref->s : "", ref->len);
	if (one_tx)
		l->counterparty = arena_or_empty(side, en->credit ? &en->dbtr :
		    &en->cdtr);
	l->text = arena_or_empty(side, one_tx && en->ustrd.len > 0 ?
	    &en->ustrd : &en->addtl);
	if (en->has_btch || en->ntx > 1) {
		const struct sbuf *id = en->btch.len > 0 ? &en->btch :
		    en->acctsvcrref.len > 0 ? &en->acctsvcrref : &en->ntryref;
		char tmp[32];

		if (id->len > 0) {
			l->batch = arena_or_empty(side, id);
		} else {
			snprintf(tmp, sizeof(tmp), "NTRY%u", en->line);
			l->batch = recon_arena_strdup(&side->arena, tmp,
			    strlen(tmp));
		}
		l->batch_count = en->nboftxs > 0 ? en->nboftxs : en->ntx;
	}
	return 0;
}

static int
bal_end(struct camt *c, unsigned line, struct recon_stmt *st)
{
	int64_t v = c->bal_debit ? -c->bal_amt : c->bal_amt;

	if (!c->bal_has_amt)
		return fail(c, line, "<Bal> without <Amt>");
	/* Of a multi-page statement, the first opening and the last
	 * closing. */
	if ((strcmp(c->bal_type, "OPBD") == 0 ||
	    strcmp(c->bal_type, "PRCD") == 0) && (!st->has_opening ||
	    (c->nstmt == 1 && strcmp(c->bal_type, "OPBD") == 0))) {
		st->has_opening = true;
		st->opening = v;
		if (st->period_from == 0 && c->bal_day > 0)
			st->period_from = c->bal_day;
	} else if (strcmp(c->bal_type, "CLBD") == 0) {
		st->has_closing = true;
		st->closing = v;
		if (c->bal_day > st->period_to)
			st->period_to = c->bal_day;
	}
	return 0;
}

static int
on_text(struct camt *c, const char *rel, const char *v, unsigned line,
    struct recon_stmt *st)
{
	struct entry *en = &c->en;
	recon_day d;

	if (strncmp(rel, "Ntry/", 5) == 0) {
		const char *p = rel + 5;

		if (strcmp(p, "Amt") == 0) {
			if (recon_amount_parse(v, strlen(v), '.', &en->amt) < 0 ||
			    en->amt < 0)
				return fail(c, line, "unparseable amount in"
				    " <Amt> (value \"%.60s\")", v);
			en->has_amt = true;
		} else if (strcmp(p, "CdtDbtInd") == 0) {
			if (strcmp(v, "CRDT") != 0 && strcmp(v, "DBIT") != 0)
				return fail(c, line, "<CdtDbtInd> must be CRDT"
				    " or DBIT (value \"%.60s\")", v);
			en->has_ind = true;
			en->credit = v[0] == 'C';
		} else if (strcmp(p, "RvslInd") == 0) {
			en->rvsl = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
		} else if (strcmp(p, "Sts") == 0 || strcmp(p, "Sts/Cd") == 0) {
			en->skip = strcmp(v, "PDNG") == 0 ||
			    strcmp(v, "INFO") == 0 || strcmp(v, "FUTR") == 0;
		} else if (strncmp(p, "BookgDt/", 8) == 0 ||
		    strncmp(p, "ValDt/", 6) == 0) {
			if ((d = iso_day(v)) < 0)
				return fail(c, line, "unparseable date in <%s>"
				    " (value \"%.60s\")", p, v);
			*(p[0] == 'B' ? &en->bookg : &en->val) = d;
		} else if (strcmp(p, "AcctSvcrRef") == 0) {
			sb_set(&en->acctsvcrref, v, false);
		} else if (strcmp(p, "NtryRef") == 0) {
			sb_set(&en->ntryref, v, false);
		} else if (strcmp(p, "AddtlNtryInf") == 0) {
			sb_set(&en->addtl, v, false);
		} else if (strcmp(p, "NtryDtls/Btch/NbOfTxs") == 0) {
			en->nboftxs = atoi(v);
		} else if (strcmp(p, "NtryDtls/Btch/PmtInfId") == 0 ||
		    (strcmp(p, "NtryDtls/Btch/MsgId") == 0 && en->btch.len == 0)) {
			sb_set(&en->btch, v, false);
		} else if (en->ntx == 1 && strncmp(p, "NtryDtls/TxDtls/", 16) ==
		    0) {
			/* The first transaction's details; several make a
			 * batch, described by the entry itself. */
			p += 16;
			if (strcmp(p, "Refs/EndToEndId") == 0) {
				if (strcmp(v, "NOTPROVIDED") != 0)
					sb_set(&en->e2e, v, false);
			} else if (strcmp(p, "Refs/AcctSvcrRef") == 0) {
				sb_set(&en->txref, v, false);
			} else if (strcmp(p, "RmtInf/Ustrd") == 0) {
				sb_set(&en->ustrd, v, true);
			} else if (strcmp(p, "AddtlTxInf") == 0 &&
			    en->addtl.len == 0) {
				sb_set(&en->addtl, v, false);
			} else if (strcmp(p, "RltdPties/Cdtr/Nm") == 0 ||
			    strcmp(p, "RltdPties/Cdtr/Pty/Nm") == 0) {
				sb_set(&en->cdtr, v, false);
			} else if (strcmp(p, "RltdPties/Dbtr/Nm") == 0 ||
			    strcmp(p, "RltdPties/Dbtr/Pty/Nm") == 0) {
				sb_set(&en->dbtr, v, false);
			}
		}
		return 0;
	}
	if (strncmp(rel, "Bal/", 4) == 0) {
		const char *p = rel + 4;

		if (strcmp(p, "Tp/CdOrPrtry/Cd") == 0) {
			snprintf(c->bal_type, sizeof(c->bal_type), "%s", v);
		} else if (strcmp(p, "Amt") == 0) {
			if (recon_amount_parse(v, strlen(v), '.', &c->bal_amt) <
			    0)
				return fail(c, line, "unparseable amount in"
				    " <Bal><Amt> (value \"%.60s\")", v);
			c->bal_has_amt = true;
		} else if (strcmp(p, "CdtDbtInd") == 0) {
			c->bal_debit = strcmp(v, "DBIT") == 0;
		} else if (strcmp(p, "Dt/Dt") == 0 || strcmp(p, "Dt/DtTm") == 0) {
			if ((c->bal_day = iso_day(v)) < 0)
				return fail(c, line, "unparseable date in <Bal>"
				    " (value \"%.60s\")", v);
		}
		return 0;
	}
	if (strcmp(rel, "Acct/Id/IBAN") == 0 ||
	    strcmp(rel, "Acct/Id/Othr/Id") == 0) {
		if (c->nstmt > 1 && strcmp(c->stmt_account, v) != 0)
			return fail(c, line, "a second <Stmt> for another"
			    " account (%.60s, the first is %s)", v,
			    c->stmt_account);
		snprintf(c->stmt_account, sizeof(c->stmt_account), "%s", v);
		if (st->account == NULL)
			st->account = xstrdup(v);
	} else if (strcmp(rel, "Acct/Ccy") == 0) {
		snprintf(st->currency, sizeof(st->currency), "%s", v);
	} else if (strcmp(rel, "FrToDt/FrDtTm") == 0 ||
	    strcmp(rel, "FrToDt/ToDtTm") == 0) {
		if ((d = iso_day(v)) < 0)
			return fail(c, line, "unparseable date in <%s> (value"
			    " \"%.60s\")", rel, v);
		if (rel[7] == 'F' && (st->period_from == 0 ||
		    d < st->period_from))
			st->period_from = d;
		if (rel[7] == 'T' && d > st->period_to)
			st->period_to = d;
	}
	return 0;
}

/* c->depth counts the element being started or ended; c->path_buf is
 * its path. */
static const char *
rel_path(const struct camt *c)
{
	return c->stmt_depth >= 0 && c->depth - 1 > c->stmt_depth ?
	    c->path_buf + c->rel : NULL;
}

static int
on_start(struct camt *c, const char *name, unsigned line,
    struct recon_stmt *st)
{
	const char *rel = rel_path(c);

	if (c->depth == 1) {
		const xmlChar *ns = xmlTextReaderConstNamespaceUri(c->r);

		if (strcmp(name, "Document") != 0 || ns == NULL ||
		    strstr((const char *)ns, "camt.053") == NULL)
			return fail(c, line, "the root element is not a camt.053"
			    " <Document> (namespace %s)", ns ?
			    (const char *)ns : "none");
		return 0;
	}
	if (strcmp(name, "Stmt") == 0 && c->stmt_depth < 0) {
		c->stmt_depth = c->depth - 1;
		c->rel = strlen(c->path_buf) + 1;
		c->nstmt++;
		return 0;
	}
	if (rel == NULL)
		return 0;
	if (strcmp(rel, "Ntry") == 0) {
		entry_reset(&c->en, line);
	} else if (strcmp(rel, "Ntry/NtryDtls/TxDtls") == 0) {
		c->en.ntx++;
	} else if (strcmp(rel, "Ntry/NtryDtls/Btch") == 0) {
		c->en.has_btch = true;
	} else if (strcmp(rel, "Bal") == 0) {
		c->bal_type[0] = '\0';
		c->bal_has_amt = c->bal_debit = false;
		c->bal_day = 0;
	} else if (strcmp(rel, "Ntry/Amt") == 0 || strcmp(rel, "Bal/Amt") == 0) {
		xmlChar *ccy = xmlTextReaderGetAttribute(c->r,
		    BAD_CAST "Ccy");

		if (ccy != NULL) {
			if (rel[0] == 'N') {
				sb_set(&c->en.ccy, (const char *)ccy, false);
				if (st->currency[0] == '\0')
					snprintf(st->currency,
					    sizeof(st->currency), "%s", ccy);
			} else if (st->currency[0] == '\0') {
				snprintf(st->currency, sizeof(st->currency),
				    "%s", ccy);
			}
			xmlFree(ccy);
		}
	}
	return 0;
}

static int
on_end(struct camt *c, unsigned line, struct recon_side *side,
    struct recon_stmt *st)
{
	const char *rel = rel_path(c);

	if (c->depth - 1 == c->stmt_depth) {
		c->stmt_depth = -1;
		return 0;
	}
	if (rel == NULL)
		return 0;
	if (strcmp(rel, "Ntry") == 0)
		return entry_emit(c, side, st);
	if (strcmp(rel, "Bal") == 0)
		return bal_end(c, line, st);
	return 0;
}

int
recon_parse_camt(const char *path, const char *buf, size_t len,
    struct recon_side *side, struct recon_stmt *st, struct err *e)
{
	struct camt *c = xcalloc(1, sizeof(*c));
	xmlGenericErrorFunc old_err = NULL;
	void *old_ctx = NULL;
	int ret, rc = -1;

	c->path = path;
	c->e = e;
	c->stmt_depth = -1;
	if (len > INT32_MAX) {
		err_setc(e, ERR_INVALID, "%s: an XML statement over 2 GB cannot"
		    " be read; ask the bank for daily files", path);
		goto out;
	}
	/* No network, no entity expansion: the file comes from outside. */
	c->r = xmlReaderForMemory(buf, (int)len, path, NULL,
	    XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOBLANKS);
	if (c->r == NULL) {
		err_setc(e, ERR_INVALID, "%s: cannot read the XML", path);
		goto out;
	}
	xmlTextReaderSetStructuredErrorHandler(c->r, xml_error, c);
	/* Encoding errors bypass the reader's handler and would go to
	 * stderr, which is clerkd's JSON log. */
	old_err = xmlGenericError;
	old_ctx = xmlGenericErrorContext;
	xmlSetGenericErrorFunc(NULL, quiet);
	while ((ret = xmlTextReaderRead(c->r)) == 1) {
		int type = xmlTextReaderNodeType(c->r);
		xmlNodePtr node = xmlTextReaderCurrentNode(c->r);
		unsigned line = node ? (unsigned)xmlGetLineNo(node) : 0;

		if (type == XML_READER_TYPE_ELEMENT) {
			const char *name = (const char *)
			    xmlTextReaderConstLocalName(c->r);
			size_t n = strlen(name), at = c->depth > 0 ?
			    c->off[c->depth - 1] + c->plen[c->depth - 1] : 0;
			bool empty = xmlTextReaderIsEmptyElement(c->r) == 1;

			if (c->depth >= MAX_DEPTH - 1 ||
			    at + n + 2 > sizeof(c->path_buf)) {
				fail(c, line, "elements nested too deep");
				goto out;
			}
			c->off[c->depth] = at;
			c->plen[c->depth] = n + 1;
			c->lines[c->depth] = line;
			c->path_buf[at] = '/';
			memcpy(c->path_buf + at + 1, name, n + 1);
			c->depth++;
			if (on_start(c, name, line, st) < 0)
				goto out;
			if (empty) {
				if (on_end(c, line, side, st) < 0)
					goto out;
				c->depth--;
				c->path_buf[c->off[c->depth]] = '\0';
			}
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			if (c->depth == 0)
				continue;
			if (on_end(c, c->lines[c->depth - 1], side, st) < 0)
				goto out;
			c->depth--;
			c->path_buf[c->off[c->depth]] = '\0';
		} else if (type == XML_READER_TYPE_TEXT ||
		    type == XML_READER_TYPE_CDATA) {
			const char *v = (const char *)
			    xmlTextReaderConstValue(c->r);

			if (v != NULL && rel_path(c) != NULL &&
			    on_text(c, rel_path(c), v,
			    c->lines[c->depth - 1], st) < 0)
				goto out;
		}
	}
	if (ret < 0) {
		fail(c, c->xml_err_line ? c->xml_err_line :
		    (unsigned)xmlTextReaderGetParserLineNumber(c->r),
		    "broken XML: %s%s", c->xml_err[0] ? c->xml_err :
		    "parse error", strstr(c->xml_err, "end of") ?
		    " (is the file truncated?)" : "");
		goto out;
	}
	if (c->nstmt == 0) {
		err_setc(e, ERR_INVALID, "%s: no <Stmt> in the camt.053"
		    " document", path);
		goto out;
	}
	rc = 0;
out:
	if (c->r != NULL) {
		xmlFreeTextReader(c->r);
		xmlSetGenericErrorFunc(old_ctx, old_err);
	}
	entry_free(&c->en);
	free(c);
	return rc;
}
