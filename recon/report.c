/*
 * report.c - what a reconciliation leaves behind: result.json for
 * machines, differences.csv for a spreadsheet, and report.html, the
 * printable 余额调节表 a finance officer signs.
 *
 * Every value that came from a file is escaped for where it goes (JSON by
 * jansson, CSV quoting, HTML entities): a counterparty named
 * "<script>" is printed, never run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "recon.h"

/* Matched pairs shown in the HTML; all of them are in result.json. */
#define HTML_MATCH_ROWS 2000

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static const char *
file_of(const struct recon_side *s, const struct recon_line *l)
{
	return l->src_file < s->nfiles ? base_name(s->files[l->src_file]) : "";
}

static const char *
diff_kind_zh(enum recon_diff_kind k)
{
	switch (k) {
	case DIFF_BANK_IN_NOT_BOOKED: return "银行已收企业未收";
	case DIFF_BANK_OUT_NOT_BOOKED: return "银行已付企业未付";
	case DIFF_BOOKED_IN_NOT_BANK: return "企业已收银行未收";
	case DIFF_BOOKED_OUT_NOT_BANK: return "企业已付银行未付";
	case DIFF_AMBIGUOUS: return "无法唯一匹配";
	case DIFF_DUPLICATE: return "重复记录";
	case DIFF_FEE: return "容差差额（手续费）";
	case DIFF_BALANCE: return "余额不平";
	}
	return "";
}

static const char *
match_kind_zh(enum recon_match_kind k)
{
	switch (k) {
	case MATCH_REFERENCE: return "流水号";
	case MATCH_AMOUNT_DATE: return "金额+日期";
	case MATCH_BATCH: return "批量";
	case MATCH_REVERSAL: return "冲正";
	case MATCH_TOLERANCE: return "容差";
	case MATCH_MANUAL: return "人工";
	}
	return "";
}

/* DIFF_BALANCE is about a whole side; every other kind names a line. */
static const struct recon_line *
diff_line(const struct recon_side *bank, const struct recon_side *ledger,
    const struct recon_diff *d)
{
	const struct recon_side *s = d->on_bank ? bank : ledger;

	if (d->kind == DIFF_BALANCE || d->line >= s->n)
		return NULL;
	return &s->lines[d->line];
}

/* Candidates are on the other side, except a duplicate's, which is the
 * bank line it repeats. */
static const struct recon_side *
cand_side(const struct recon_side *bank, const struct recon_side *ledger,
    const struct recon_diff *d)
{
	if (d->kind == DIFF_DUPLICATE)
		return bank;
	return d->on_bank ? ledger : bank;
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *
json_amount(int64_t v)
{
	char buf[48];

	recon_amount_format(v, false, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
json_day(recon_day d)
{
	char buf[11];

	if (d == 0)
		return json_null();
	recon_day_format(d, buf);
	return json_string(buf);
}

static json_t *
json_str(const char *s)
{
	/* jansson refuses invalid UTF-8; a GBK byte that slipped through
	 * must not lose the whole difference */
	json_t *j = json_string(s ? s : "");

	return j != NULL ? j : json_string("(not UTF-8)");
}

static json_t *
line_json(const struct recon_side *s, const struct recon_line *l)
{
	return json_pack("{s:o s:i s:o s:o s:I s:o s:o s:o s:b}",
	    "file", json_str(file_of(s, l)),
	    "line", (json_int_t)l->src_line,
	    "date", json_day(l->date),
	    "amount", json_amount(l->amount),
	    "amount_fen", (json_int_t)l->amount,
	    "ref", json_str(l->ref),
	    "counterparty", json_str(l->counterparty),
	    "text", json_str(l->text),
	    "reversal", l->reversal);
}

static json_t *
side_json(const struct recon_side *s, bool proves, size_t lines)
{
	json_t *o = json_object(), *files = json_array();

	for (size_t i = 0; i < s->nfiles; i++)
		json_array_append_new(files, json_str(s->files[i]));
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "account", json_str(s->account));
	json_object_set_new(o, "currency", json_str(s->currency));
	json_object_set_new(o, "lines", json_integer((json_int_t)lines));
	json_object_set_new(o, "opening", s->has_opening ?
	    json_amount(s->opening) : json_null());
	json_object_set_new(o, "closing", s->has_closing ?
	    json_amount(s->closing) : json_null());
	json_object_set_new(o, "period_from", json_day(s->period_from));
	json_object_set_new(o, "period_to", json_day(s->period_to));
	json_object_set_new(o, "proves", json_boolean(proves));
	return o;
}

json_t *
recon_result_json(const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res)
{
	json_t *o = json_object(), *t, *mk = json_object(), *dk = json_object();
	json_t *diffs = json_array();
	size_t nm[MATCH_MANUAL + 1] = { 0 }, nd[DIFF_BALANCE + 1] = { 0 };

	json_object_set_new(o, "bank", side_json(bank, res->bank_proves,
	    bank->n));
	json_object_set_new(o, "ledger", side_json(ledger, res->ledger_proves,
	    ledger->n));
	t = json_object();
	json_object_set_new(t, "book_balance", json_amount(res->book_balance));
	json_object_set_new(t, "bank_in_not_booked",
	    json_amount(res->bank_in_not_booked));
	json_object_set_new(t, "bank_out_not_booked",
	    json_amount(res->bank_out_not_booked));
	json_object_set_new(t, "adjusted_book",
	    json_amount(res->adjusted_book));
	json_object_set_new(t, "bank_balance", json_amount(res->bank_balance));
	json_object_set_new(t, "booked_in_not_bank",
	    json_amount(res->booked_in_not_bank));
	json_object_set_new(t, "booked_out_not_bank",
	    json_amount(res->booked_out_not_bank));
	json_object_set_new(t, "adjusted_bank",
	    json_amount(res->adjusted_bank));
	json_object_set_new(t, "ties", json_boolean(res->ties));
	json_object_set_new(o, "reconciliation", t);

	for (size_t i = 0; i < res->nmatches; i++)
		nm[res->matches[i].kind]++;
	for (int k = 0; k <= MATCH_MANUAL; k++)
		json_object_set_new(mk, recon_match_kind_name(k),
		    json_integer((json_int_t)nm[k]));
	json_object_set_new(o, "matches_by_kind", mk);
	json_object_set_new(o, "matches", json_integer((json_int_t)
	    res->nmatches));

	for (size_t i = 0; i < res->ndiffs; i++) {
		const struct recon_diff *d = &res->diffs[i];
		const struct recon_line *l = diff_line(bank, ledger, d);
		const struct recon_side *cs = cand_side(bank, ledger, d);
		json_t *j, *c = json_array();

		nd[d->kind]++;
		j = l != NULL ? line_json(d->on_bank ? bank : ledger, l) :
		    json_object();
		json_object_set_new(j, "kind", json_string(
		    recon_diff_kind_name(d->kind)));
		json_object_set_new(j, "side", json_string(d->on_bank ?
		    "bank" : "ledger"));
		/* the difference's own amount: a fee or balance gap, or the
		 * line's amount */
		json_object_set_new(j, "difference", json_amount(d->amount));
		json_object_set_new(j, "message", json_str(d->message));
		for (uint32_t k = 0; k < d->ncandidates; k++)
			if (d->candidates[k] < cs->n)
				json_array_append_new(c, line_json(cs,
				    &cs->lines[d->candidates[k]]));
		json_object_set_new(j, "candidates", c);
		json_array_append_new(diffs, j);
	}
	for (int k = 0; k <= DIFF_BALANCE; k++)
		json_object_set_new(dk, recon_diff_kind_name(k),
		    json_integer((json_int_t)nd[k]));
	json_object_set_new(o, "differences_by_kind", dk);
	json_object_set_new(o, "differences", diffs);
	return o;
}

/* ---- files ---------------------------------------------------------------- */

struct out {
	FILE *f;
	char *path, *tmp;
};

static int
out_open(struct out *o, const char *dir, const char *name, struct err *e)
{
	o->path = util_path_join(dir, name);
	o->tmp = xasprintf("%s.tmp", o->path);
	if ((o->f = fopen(o->tmp, "w")) == NULL) {
		err_set(e, "%s: %s", o->tmp, strerror(errno));
		free(o->path);
		free(o->tmp);
		return -1;
	}
	return 0;
}

/* fsync + rename, so a reader never sees half a report. */
static int
out_close(struct out *o, struct err *e)
{
	int rc = 0;

	if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0) {
		err_set(e, "%s: write failed: %s", o->tmp, strerror(errno));
		rc = -1;
	}
	if (fclose(o->f) != 0 && rc == 0) {
		err_set(e, "%s: %s", o->tmp, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && rename(o->tmp, o->path) != 0) {
		err_set(e, "%s: %s", o->path, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(o->tmp);
	free(o->path);
	free(o->tmp);
	return rc;
}

/* Decimal digits of v at p; returns the end. (fprintf per number was
 * most of the time of writing a million matches.) */
static char *
put_u32(char *p, uint32_t v)
{
	char tmp[10];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static char *
put_s(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static void
put_match(FILE *f, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_match *m, bool first)
{
	char buf[160], d[48], *p = buf;

	p = put_s(p, first ? "\n  {\"kind\": \"" : ",\n  {\"kind\": \"");
	p = put_s(p, recon_match_kind_name(m->kind));
	p = put_s(p, "\", \"bank\": [");
	for (uint32_t k = 0; k < m->nbank + m->nledger; k++) {
		const struct recon_line *l = k < m->nbank ?
		    &bank->lines[m->bank[k]] :
		    &ledger->lines[m->ledger[k - m->nbank]];

		if (k == m->nbank)
			p = put_s(p, "], \"ledger\": [");
		if (k != 0 && k != m->nbank)
			p = put_s(p, ", ");
		*p++ = '[';
		p = put_u32(p, l->src_file);
		p = put_s(p, ", ");
		p = put_u32(p, l->src_line);
		*p++ = ']';
		if (p - buf > 100) {
			fwrite(buf, 1, (size_t)(p - buf), f);
			p = buf;
		}
	}
	if (m->nledger == 0)
		p = put_s(p, "], \"ledger\": [");
	recon_amount_format(m->difference, false, d, sizeof(d));
	p = put_s(p, "], \"difference\": \"");
	p = put_s(p, d);
	p = put_s(p, "\"}");
	fwrite(buf, 1, (size_t)(p - buf), f);
}

static int
write_json(const char *dir, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res,
    struct err *e)
{
	json_t *j = recon_result_json(bank, ledger, res);
	char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	size_t len;
	struct out o;

	json_decref(j);
	if (s == NULL || (len = strlen(s)) < 2) {
		free(s);
		err_set(e, "result.json: cannot serialise the result");
		return -1;
	}
	if (out_open(&o, dir, "result.json", e) < 0) {
		free(s);
		return -1;
	}
	/* The summary and differences come from jansson; the matched pairs,
	 * a million on a province's file, are streamed after them (each is
	 * only numbers and a kind name). */
	while (len > 0 && s[len - 1] != '}')
		len--;
	fwrite(s, 1, len - 1, o.f);
	free(s);
	fputs(",\n \"matched\": [", o.f);
	for (size_t i = 0; i < res->nmatches; i++)
		put_match(o.f, bank, ledger, &res->matches[i], i == 0);
	fputs("\n ]\n}\n", o.f);
	return out_close(&o, e);
}

static void
csv_cell(FILE *f, const char *s, bool last)
{
	bool formula, quote;

	s = s ? s : "";
	/* A cell starting = + - @ is a formula to Excel (a negative amount
	 * is not): it is quoted and led by ' so it stays text. */
	formula = *s == '=' || *s == '+' || *s == '@' ||
	    (*s == '-' && !(s[1] >= '0' && s[1] <= '9'));
	quote = formula || strpbrk(s, ",\"\r\n") != NULL;
	if (!quote)
		fputs(s, f);
	else {
		fputc('"', f);
		if (formula)
			fputc('\'', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	}
	fputc(last ? '\n' : ',', f);
}

static int
write_csv(const char *dir, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res,
    struct err *e)
{
	struct out o;

	if (out_open(&o, dir, "differences.csv", e) < 0)
		return -1;
	/* The BOM is what makes Excel read the file as UTF-8 (otherwise it
	 * assumes GBK on a Chinese Windows and shows mojibake). */
	fputs("\xEF\xBB\xBF", o.f);
	fputs("类型,kind,方,文件,行,日期,金额,差额,流水号,对方户名,摘要,说明,候选\n",
	    o.f);
	for (size_t i = 0; i < res->ndiffs; i++) {
		const struct recon_diff *d = &res->diffs[i];
		const struct recon_line *l = diff_line(bank, ledger, d);
		const struct recon_side *s = d->on_bank ? bank : ledger;
		const struct recon_side *cs = cand_side(bank, ledger, d);
		char num[32], day[11] = "", amt[48] = "", dif[48], cand[1024];
		size_t co = 0;

		snprintf(num, sizeof(num), "%u", l ? l->src_line : 0);
		if (l != NULL) {
			recon_day_format(l->date, day);
			recon_amount_format(l->amount, false, amt, sizeof(amt));
		}
		recon_amount_format(d->amount, false, dif, sizeof(dif));
		cand[0] = '\0';
		for (uint32_t k = 0; k < d->ncandidates && co < 900; k++) {
			const struct recon_line *c = &cs->lines[d->candidates[k]];

			co += (size_t)snprintf(cand + co, sizeof(cand) - co,
			    "%s%s:%u", k ? "; " : "", file_of(cs, c),
			    c->src_line);
		}
		csv_cell(o.f, diff_kind_zh(d->kind), false);
		csv_cell(o.f, recon_diff_kind_name(d->kind), false);
		csv_cell(o.f, d->on_bank ? "银行" : "企业", false);
		csv_cell(o.f, l ? file_of(s, l) : "", false);
		csv_cell(o.f, l ? num : "", false);
		csv_cell(o.f, day, false);
		csv_cell(o.f, amt, false);
		csv_cell(o.f, dif, false);
		csv_cell(o.f, l ? l->ref : "", false);
		csv_cell(o.f, l ? l->counterparty : "", false);
		csv_cell(o.f, l ? l->text : "", false);
		csv_cell(o.f, d->message, false);
		csv_cell(o.f, cand, true);
	}
	return out_close(&o, e);
}

/* ---- HTML ----------------------------------------------------------------- */

static void
h(FILE *f, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void
h_amount(FILE *f, int64_t v)
{
	char buf[48];

	recon_amount_format(v, true, buf, sizeof(buf));
	fputs(buf, f);
}

static void
h_day(FILE *f, recon_day d)
{
	char buf[11];

	if (d == 0)
		return;
	recon_day_format(d, buf);
	fputs(buf, f);
}

static void
h_line_cells(FILE *f, const struct recon_side *s, const struct recon_line *l)
{
	fputs("<td>", f);
	h(f, file_of(s, l));
	fprintf(f, ":%u</td><td>", l->src_line);
	h_day(f, l->date);
	fputs("</td><td class=num>", f);
	h_amount(f, l->amount);
	fputs("</td><td>", f);
	h(f, l->ref);
	fputs("</td><td>", f);
	h(f, l->counterparty);
	fputs("</td><td>", f);
	h(f, l->text);
	fputs("</td>", f);
}

static void
h_side_summary(FILE *f, const char *title, const struct recon_side *s,
    bool proves)
{
	fputs("<tr><th>", f);
	fputs(title, f);
	fputs("</th><td>", f);
	for (size_t i = 0; i < s->nfiles; i++) {
		if (i)
			fputs("<br>", f);
		h(f, base_name(s->files[i]));
	}
	fprintf(f, "</td><td class=num>%zu</td><td class=num>", s->n);
	if (s->has_opening)
		h_amount(f, s->opening);
	fputs("</td><td class=num>", f);
	if (s->has_closing)
		h_amount(f, s->closing);
	fputs("</td><td>", f);
	if (!s->has_opening || !s->has_closing)
		fputs("无期初/期末余额，未验证", f);
	else
		fputs(proves ? "<span class=ok>平</span>" :
		    "<span class=bad>不平（见差异）</span>", f);
	fputs("</td></tr>\n", f);
}

static void
h_match_rows(FILE *f, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_match *m)
{
	uint32_t rows = m->nbank > m->nledger ? m->nbank : m->nledger;
	static const char empty[] =
	    "<td></td><td></td><td></td><td></td><td></td><td></td>";

	for (uint32_t r = 0; r < rows; r++) {
		fputs("<tr><td>", f);
		if (r == 0)
			fputs(match_kind_zh(m->kind), f);
		fputs("</td>", f);
		if (r < m->nbank)
			h_line_cells(f, bank, &bank->lines[m->bank[r]]);
		else
			fputs(empty, f);
		if (r < m->nledger)
			h_line_cells(f, ledger, &ledger->lines[m->ledger[r]]);
		else
			fputs(empty, f);
		fputs("</tr>\n", f);
	}
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=zh-CN>\n<head>\n<meta charset=utf-8>\n"
    "<title>银行存款余额调节表</title>\n<style>\n"
    "body{font-family:\"Noto Sans CJK SC\",\"Microsoft YaHei\",SimSun,"
    "sans-serif;font-size:10.5pt;margin:1.5cm;color:#000}\n"
    "h1{text-align:center;font-size:16pt;margin-bottom:.2em}\n"
    "h2{font-size:12pt;border-bottom:1px solid #000;margin-top:1.4em}\n"
    ".sub{text-align:center;margin-bottom:1em}\n"
    "table{border-collapse:collapse;width:100%;margin:.5em 0}\n"
    "th,td{border:1px solid #555;padding:2px 5px;vertical-align:top}\n"
    "th{background:#eee;font-weight:normal}\n"
    ".num{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    ".adj td{width:25%}\n.total td{font-weight:bold;border-top:2px solid #000}\n"
    ".ok{color:#060;font-weight:bold}\n.bad{color:#b00;font-weight:bold}\n"
    ".sign{display:flex;justify-content:space-between;margin-top:3em}\n"
    ".sign div{width:30%;border-top:1px solid #000;padding-top:.3em}\n"
    ".note{font-size:9pt;color:#333}\n"
    "@media print{body{margin:1cm}h2{page-break-after:avoid}"
    "tr{page-break-inside:avoid}}\n"
    "</style>\n</head>\n<body>\n";

static void
h_adj_row(FILE *f, const char *l1, const char *sign1, int64_t v1,
    const char *l2, const char *sign2, int64_t v2)
{
	fprintf(f, "<tr><td>%s%s</td><td class=num>", sign1, l1);
	h_amount(f, v1);
	fprintf(f, "</td><td>%s%s</td><td class=num>", sign2, l2);
	h_amount(f, v2);
	fputs("</td></tr>\n", f);
}

static int
write_html(const char *dir, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res,
    struct err *e)
{
	size_t nm[MATCH_MANUAL + 1] = { 0 }, nd[DIFF_BALANCE + 1] = { 0 };
	struct out o;
	FILE *f;
	char now[64];
	time_t t = time(NULL);
	struct tm tm;
	recon_day from, to;
	uint32_t *by_bank;
	size_t shown = 0;

	if (out_open(&o, dir, "report.html", e) < 0)
		return -1;
	f = o.f;
	localtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M", &tm);
	for (size_t i = 0; i < res->nmatches; i++)
		nm[res->matches[i].kind]++;
	for (size_t i = 0; i < res->ndiffs; i++)
		nd[res->diffs[i].kind]++;

	fputs(html_head, f);
	fputs("<h1>银行存款余额调节表</h1>\n<div class=sub>账号 ", f);
	h(f, bank->account ? bank->account : (ledger->account ?
	    ledger->account : "（未注明）"));
	fputs(" &nbsp; 币种 ", f);
	h(f, bank->currency[0] ? bank->currency : "CNY");
	from = bank->period_from ? bank->period_from : ledger->period_from;
	to = bank->period_to ? bank->period_to : ledger->period_to;
	if (from || to) {
		fputs(" &nbsp; 期间 ", f);
		h_day(f, from);
		fputs(" 至 ", f);
		h_day(f, to);
	}
	fputs(" &nbsp; 单位：元</div>\n", f);

	/* the 余额调节表, in the standard two-column layout */
	fputs("<table class=adj>\n<tr><th colspan=2>企业账面</th>"
	    "<th colspan=2>银行对账单</th></tr>\n", f);
	h_adj_row(f, "企业银行存款日记账余额", "", res->book_balance,
	    "银行对账单余额", "", res->bank_balance);
	h_adj_row(f, "银行已收、企业未收", "加：", res->bank_in_not_booked,
	    "企业已收、银行未收", "加：", res->booked_in_not_bank);
	h_adj_row(f, "银行已付、企业未付", "减：", res->bank_out_not_booked,
	    "企业已付、银行未付", "减：", res->booked_out_not_bank);
	fputs("<tr class=total>", f);
	fputs("<td>调整后余额</td><td class=num>", f);
	h_amount(f, res->adjusted_book);
	fputs("</td><td>调整后余额</td><td class=num>", f);
	h_amount(f, res->adjusted_bank);
	fputs("</td></tr>\n</table>\n", f);
	if (res->ties)
		fputs("<p class=ok>调整后余额相符。</p>\n", f);
	else {
		fputs("<p class=bad>调整后余额不符，相差 ", f);
		h_amount(f, res->adjusted_book - res->adjusted_bank);
		fputs(" 元；请核查下列差异后再签字。</p>\n", f);
	}
	fputs("<p class=note>“无法唯一匹配”的记录按未达账项列入；"
	    "容差匹配的差额（手续费）列入银行方未达；重复记录不计入。</p>\n", f);

	fputs("<h2>概要</h2>\n<table>\n<tr><th></th><th>文件</th><th>笔数</th>"
	    "<th>期初余额</th><th>期末余额</th><th>期初+发生额=期末</th></tr>\n",
	    f);
	h_side_summary(f, "银行对账单", bank, res->bank_proves);
	h_side_summary(f, "企业账", ledger, res->ledger_proves);
	fputs("</table>\n<table>\n<tr><th>匹配方式</th><th>笔数</th>"
	    "<th>差异类型</th><th>笔数</th></tr>\n", f);
	for (int k = 0; k <= DIFF_BALANCE; k++) {
		fputs("<tr><td>", f);
		if (k <= MATCH_MANUAL)
			fputs(match_kind_zh(k), f);
		fputs("</td><td class=num>", f);
		if (k <= MATCH_MANUAL)
			fprintf(f, "%zu", nm[k]);
		fprintf(f, "</td><td>%s</td><td class=num>%zu</td></tr>\n",
		    diff_kind_zh(k), nd[k]);
	}
	fprintf(f, "<tr class=total><td>合计</td><td class=num>%zu</td>"
	    "<td>合计</td><td class=num>%zu</td></tr>\n</table>\n",
	    res->nmatches, res->ndiffs);

	fputs("<h2>未达账项及差异</h2>\n", f);
	if (res->ndiffs == 0)
		fputs("<p>无。</p>\n", f);
	else {
		fputs("<table>\n<tr><th>#</th><th>类型</th><th>方</th><th>位置</th>"
		    "<th>日期</th><th>金额</th><th>流水号</th><th>对方户名</th>"
		    "<th>摘要</th><th>说明</th></tr>\n", f);
		for (size_t i = 0; i < res->ndiffs; i++) {
			const struct recon_diff *d = &res->diffs[i];
			const struct recon_line *l = diff_line(bank, ledger, d);

			fprintf(f, "<tr><td class=num>%zu</td><td>%s</td>"
			    "<td>%s</td>", i + 1, diff_kind_zh(d->kind),
			    d->on_bank ? "银行" : "企业");
			if (l != NULL)
				h_line_cells(f, d->on_bank ? bank : ledger, l);
			else {
				fputs("<td></td><td></td><td class=num>", f);
				h_amount(f, d->amount);
				fputs("</td><td></td><td></td><td></td>", f);
			}
			fputs("<td>", f);
			h(f, d->message);
			fputs("</td></tr>\n", f);
		}
		fputs("</table>\n", f);
	}

	/* Matched items in bank order (the matcher records them in the
	 * order it found them). */
	fputs("<h2>已匹配</h2>\n", f);
	by_bank = xmalloc((bank->n ? bank->n : 1) * sizeof(*by_bank));
	memset(by_bank, 0xff, (bank->n ? bank->n : 1) * sizeof(*by_bank));
	for (size_t i = 0; i < res->nmatches; i++)
		if (res->matches[i].nbank > 0 &&
		    by_bank[res->matches[i].bank[0]] == UINT32_MAX)
			by_bank[res->matches[i].bank[0]] = (uint32_t)i;
	fputs("<table>\n<tr><th>方式</th><th>银行位置</th><th>日期</th>"
	    "<th>金额</th><th>流水号</th><th>对方户名</th><th>摘要</th>"
	    "<th>企业位置</th><th>日期</th><th>金额</th><th>凭证/流水号</th>"
	    "<th>对方户名</th><th>摘要</th></tr>\n", f);
	for (size_t b = 0; b < bank->n && shown < HTML_MATCH_ROWS; b++)
		if (by_bank[b] != UINT32_MAX) {
			h_match_rows(f, bank, ledger, &res->matches[by_bank[b]]);
			shown++;
		}
	/* then those with no bank line (reversals within the ledger) */
	for (size_t i = 0; i < res->nmatches && shown < HTML_MATCH_ROWS; i++)
		if (res->matches[i].nbank == 0) {
			h_match_rows(f, bank, ledger, &res->matches[i]);
			shown++;
		}
	free(by_bank);
	fputs("</table>\n", f);
	if (shown < res->nmatches)
		fprintf(f, "<p class=note>仅列出前 %zu 笔，共 %zu 笔；"
		    "全部匹配见 result.json。</p>\n", shown, res->nmatches);

	fputs("<div class=sign><div>编制人：</div><div>复核人：</div>"
	    "<div>财务负责人：</div></div>\n<div class=sign><div>日期：</div>"
	    "<div>日期：</div><div>日期：</div></div>\n", f);
	fprintf(f, "<p class=note>clerk 生成于 %s。</p>\n</body>\n</html>\n",
	    now);
	return out_close(&o, e);
}

int
recon_write_outputs(const char *dir, const struct recon_side *bank,
    const struct recon_side *ledger, const struct recon_result *res,
    struct err *e)
{
	if (util_mkdir_p(dir, 0755, e) < 0)
		return -1;
	if (write_json(dir, bank, ledger, res, e) < 0 ||
	    write_csv(dir, bank, ledger, res, e) < 0 ||
	    write_html(dir, bank, ledger, res, e) < 0)
		return -1;
	return 0;
}
