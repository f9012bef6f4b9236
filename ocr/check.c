/*
 * check.c - the document check end to end: load, per page quality and
 * recognition, fields located and validated, one verdict.
 *
 * The verdict is the most severe thing any check asks for: a reason the
 * applicant can act on rejects, anything unsure escalates, and only a
 * document where every required field was read with confidence and
 * validated is accepted.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <leptonica/allheaders.h>
#include <pcre2.h>
#include <tesseract/capi.h>

#include "ids.h"
#include "ocr_page.h"

struct page {
	PIX *pix;                 /* what was recognised (and is shown) */
	struct ocr_pagequal q;
	struct ocr_ptext pt;
	bool recognised;
	bool quality_poor;
	char image[32];
};

struct hit {
	bool found;
	bool label_found;         /* by label: the label was read */
	char raw[512];
	int page;                 /* 0-based */
	int box[4];
	double word_conf, sym_conf;
	int region[4];            /* where the value is or should be */
	bool has_region;
	int label_x0;             /* left edge of its label on the line; -1 */
	int label_y[2];           /* its top and bottom */
};

struct verdict {
	json_t *reasons;
	enum ocr_severity worst;
};

static void
reason_add(struct verdict *v, enum ocr_severity sev, const char *code,
    const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
reason_add(struct verdict *v, enum ocr_severity sev, const char *code,
    const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = json_pack("{s:s,s:s,s:s}", "code", code, "severity",
	    ocr_severity_name(sev), "message", msg);
	if (field != NULL)
		json_object_set_new(r, "field", json_string(field));
	json_array_append_new(v->reasons, r);
	if (sev > v->worst)
		v->worst = sev;
}

static bool
is_ascii_alnum(const char *t)
{
	unsigned char c = (unsigned char)t[0];

	return c < 0x80 && (c == '.' || c == '-' || (c >= '0' && c <= '9') ||
	    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
}

/* Leading separators between a label and its value. */
static bool
is_separator(const char *t)
{
	return strcmp(t, ":") == 0 || strcmp(t, "：") == 0 || strcmp(t, "|") ==
	    0 || strcmp(t, "_") == 0 || strcmp(t, "'") == 0 || strcmp(t, ",") ==
	    0 || strcmp(t, ".") == 0;
}

/* A line read's symbol that is no character of its value, as the name
 * and address rules count them: a space or a colon. */
static bool
no_char(const char *t)
{
	return strcmp(t, " ") == 0 || strcmp(t, ":") == 0 ||
	    strcmp(t, "：") == 0;
}

static void
compact_of(const char *in, char *out, size_t n)
{
	size_t j = 0;

	for (; *in != '\0' && j + 1 < n; in++)
		if (*in != ' ' && *in != '\t')
			out[j++] = *in;
	out[j] = '\0';
}

/* The value made of symbols syms[0..n): a space only between words that
 * are both Latin or digits ("ZHANG SAN"), none in Chinese. */
static void
hit_fill(const struct ocr_ptext *pt, int page, const size_t *syms, size_t n,
    struct hit *h)
{
	size_t len = 0;

	memset(h, 0, sizeof(*h));
	h->page = page;
	h->label_x0 = -1;
	h->word_conf = 100;
	h->sym_conf = 100;
	for (size_t i = 0; i < n; i++) {
		const struct ocr_sym *s = &pt->s[syms[i]];
		size_t sl = strlen(s->t);

		if (i > 0 && s->word != pt->s[syms[i - 1]].word &&
		    is_ascii_alnum(s->t) && is_ascii_alnum(pt->s[syms[i -
		    1]].t) && len + 1 < sizeof(h->raw))
			h->raw[len++] = ' ';
		if (len + sl + 1 >= sizeof(h->raw))
			break;
		memcpy(h->raw + len, s->t, sl);
		len += sl;
		if (s->conf < h->sym_conf)
			h->sym_conf = s->conf;
		if (pt->w[s->word].conf < h->word_conf)
			h->word_conf = pt->w[s->word].conf;
		if (i == 0)
			memcpy(h->box, s->box, sizeof(h->box));
		else {
			int x1 = h->box[0] + h->box[2], y1 = h->box[1] + h->box[3];
			int sx1 = s->box[0] + s->box[2], sy1 = s->box[1] + s->box[3];

			h->box[0] = h->box[0] < s->box[0] ? h->box[0] : s->box[0];
			h->box[1] = h->box[1] < s->box[1] ? h->box[1] : s->box[1];
			h->box[2] = (x1 > sx1 ? x1 : sx1) - h->box[0];
			h->box[3] = (y1 > sy1 ? y1 : sy1) - h->box[1];
		}
	}
	h->raw[len] = '\0';
	h->found = n > 0;
}

/* First byte offset in line ln at or after `from` where any other label
 * of the template starts; strlen(compact) if none. */
static size_t
stop_at(const struct ocr_template *t, const struct ocr_tfield *self,
    const struct ocr_line *ln, size_t from)
{
	size_t end = strlen(ln->compact), best = end;

	for (size_t i = 0; i < t->nfields; i++) {
		const struct ocr_tfield *f = &t->fields[i];
		char lab[256];
		const char *p;

		if (f == self || f->locate != OCR_LOC_LABEL)
			continue;
		compact_of(f->spec.label, lab, sizeof(lab));
		if (lab[0] != '\0' && from <= end &&
		    (p = strstr(ln->compact + from, lab)) != NULL &&
		    (size_t)(p - ln->compact) < best)
			best = (size_t)(p - ln->compact);
	}
	return best;
}

/* Symbols of line ln from byte `from` up to the next label, separators at
 * the start left out. */
static size_t
line_value(const struct ocr_template *t, const struct ocr_tfield *f,
    const struct ocr_ptext *pt, const struct ocr_line *ln, size_t from,
    size_t *syms, size_t cap, int *xlimit)
{
	size_t stop = stop_at(t, f, ln, from), n = 0;
	int last = -1;

	*xlimit = stop < strlen(ln->compact) && ln->cmap[stop] >= 0 ?
	    pt->s[ln->cmap[stop]].box[0] : -1;

	for (size_t b = from; b < stop && n < cap; b++) {
		int k = ln->cmap[b];

		if (k < 0 || k == last)
			continue;
		last = k;
		if (n == 0 && is_separator(pt->s[k].t))
			continue;
		syms[n++] = (size_t)k;
	}
	return n;
}

/* Code points of s with their byte offsets (offs[n] = strlen). */
static size_t
utf8_split(const char *s, uint32_t *cp, size_t *offs, size_t cap)
{
	size_t n = 0, i = 0;

	while (s[i] != '\0' && n < cap) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		uint32_t v = 0;

		for (size_t k = 0; k < len && s[i + k] != '\0'; k++)
			v = v << 8 | (unsigned char)s[i + k];
		offs[n] = i;
		cp[n++] = v;
		while (len-- > 0 && s[i] != '\0')
			i++;
	}
	offs[n] = i;
	return n;
}

/*
 * Where lab is in hay: exactly, or (fuzzy) with one character read
 * wrong, for labels of four characters or more ("良行账号" for 银行账号):
 * a misread label is no reason to lose its value, which is validated
 * anyway. NULL if not there; *len is the matched length in bytes.
 */
static const char *
find_label(const char *hay, const char *lab, bool fuzzy, size_t *len)
{
	uint32_t hc[512], lc[64];
	size_t ho[513], lo[65], nh, nl;
	const char *p;

	if (!fuzzy) {
		if ((p = strstr(hay, lab)) != NULL)
			*len = strlen(lab);
		return p;
	}
	nl = utf8_split(lab, lc, lo, 64);
	nh = utf8_split(hay, hc, ho, 512);
	if (nl < 4 || nh < nl)
		return NULL;
	for (size_t st = 0; st + nl <= nh; st++) {
		int miss = 0;

		for (size_t k = 0; k < nl && miss <= 1; k++)
			miss += hc[st + k] != lc[k];
		if (miss <= 1) {
			*len = ho[st + nl] - ho[st];
			return hay + ho[st];
		}
	}
	return NULL;
}

/* The field of t, not self, whose label p[0..len) is exactly; -1 if
 * none. */
static int
other_label(const struct ocr_template *t, const struct ocr_tfield *self,
    const char *p, size_t len)
{
	for (size_t i = 0; i < t->nfields; i++) {
		char lab[256];

		if (&t->fields[i] == self || t->fields[i].locate != OCR_LOC_LABEL)
			continue;
		compact_of(t->fields[i].spec.label, lab, sizeof(lab));
		if (strlen(lab) == len && memcmp(lab, p, len) == 0)
			return (int)i;
	}
	return -1;
}

/* The right edge of the label that ends at byte `from` of ln; -1 if
 * unknown. */
static int
label_right(const struct ocr_ptext *pt, const struct ocr_line *ln,
    size_t from)
{
	int k = from > 0 ? ln->cmap[from - 1] : -1;

	return k >= 0 ? pt->s[k].box[0] + pt->s[k].box[2] : -1;
}

/* The value's box widened to its line's height and, to the right, up
 * to the next label (xlimit > 0) or past the line's end: glyphs the page
 * read left out may be there. */
static void
hit_region(struct hit *h, const struct ocr_line *ln, int xlimit, int xlabel)
{
	int lh = ln->box[3] > 0 ? ln->box[3] : 1;
	int y0 = ln->box[1] < h->box[1] ? ln->box[1] : h->box[1];
	int y1 = ln->box[1] + ln->box[3], x1;

	if (h->box[1] + h->box[3] > y1)
		y1 = h->box[1] + h->box[3];
	x1 = h->box[0] + h->box[2];
	if (ln->box[0] + ln->box[2] > x1)
		x1 = ln->box[0] + ln->box[2];
	x1 = xlimit > 0 ? xlimit - lh / 5 : x1 + 2 * lh;
	/* From just right of the label: the page read's first glyph may be
	 * a piece of the value's first character. */
	h->region[0] = xlabel > 0 && xlabel < h->box[0] ? xlabel + lh / 10 :
	    h->box[0] - lh / 5;
	h->region[1] = y0 - 2 * lh / 5;
	h->region[2] = x1 - h->region[0];
	h->region[3] = y1 - y0 + 4 * lh / 5;
	h->has_region = h->region[2] > 0 && h->region[3] > 0;
}

static bool
locate_label(const struct ocr_template *t, const struct ocr_tfield *f,
    const struct ocr_ptext *pt, int page, struct hit *h)
{
	char lab[256];
	size_t syms[256], n;

	compact_of(f->spec.label, lab, sizeof(lab));
	h->label_x0 = -1;
	if (lab[0] == '\0')
		return false;
	for (int pass = 0; pass < 2; pass++)
	for (size_t i = 0; i < pt->nl; i++) {
		const struct ocr_line *ln = &pt->l[i], *below = NULL;
		size_t from, mlen = 0;
		const char *p = find_label(ln->compact, lab, pass == 1, &mlen);
		int best = 0, xlimit;

		if (p == NULL || (pass == 1 && other_label(t, f, p, mlen) >= 0))
			continue;
		h->label_found = true;
		from = (size_t)(p - ln->compact) + mlen;
		if ((n = line_value(t, f, pt, ln, from, syms, 256,
		    &xlimit)) > 0) {
			hit_fill(pt, page, syms, n, h);
			h->label_found = true;
			hit_region(h, ln, xlimit, label_right(pt, ln, from));
			if (ln->cmap[p - ln->compact] >= 0) {
				const struct ocr_sym *ls =
				    &pt->s[ln->cmap[p - ln->compact]];

				h->label_x0 = ls->box[0];
				h->label_y[0] = ls->box[1];
				h->label_y[1] = ls->box[1] + ls->box[3];
			}
			return true;
		}
		/* Nothing after the label on its line: the value is on the
		 * nearest line below that starts under or right of it. */
		for (size_t j = 0; j < pt->nl; j++) {
			const struct ocr_line *c = &pt->l[j];
			int dy = c->box[1] - (ln->box[1] + ln->box[3] / 2);
			int lx = pt->s[ln->cmap[p - ln->compact]].box[0];

			if (j == i || dy <= 0 || dy > 4 * ln->box[3] ||
			    c->box[0] + c->box[2] < lx)
				continue;
			if (below == NULL || dy < best) {
				below = c;
				best = dy;
			}
		}
		if (below != NULL && (n = line_value(t, f, pt, below, 0, syms,
		    256, &xlimit)) > 0) {
			hit_fill(pt, page, syms, n, h);
			h->label_found = true;
			hit_region(h, below, xlimit, -1);
			return true;
		}
		h->page = page;
		/* Where the value should be: right of the label, on its line
		 * (or up to the next label). */
		{
			int lh = ln->box[3] > 0 ? ln->box[3] : 1;
			int k = ln->cmap[from > 0 ? from - 1 : 0];
			int x0 = k >= 0 ? pt->s[k].box[0] + pt->s[k].box[2] :
			    ln->box[0] + ln->box[2];

			(void)line_value(t, f, pt, ln, from, syms, 256, &xlimit);
			if (ln->cmap[p - ln->compact] >= 0) {
				const struct ocr_sym *ls =
				    &pt->s[ln->cmap[p - ln->compact]];

				h->label_x0 = ls->box[0];
				h->label_y[0] = ls->box[1];
				h->label_y[1] = ls->box[1] + ls->box[3];
				/* the value, unread, is as high as its label */
				h->box[1] = ls->box[1];
				h->box[3] = ls->box[3];
			}
			h->region[0] = x0 + lh / 5;
			h->region[1] = ln->box[1] - 2 * lh / 5;
			h->region[2] = (xlimit > 0 ? xlimit - lh / 5 : x0 + 16 *
			    lh) - h->region[0];
			h->region[3] = lh + 4 * lh / 5;
			h->has_region = h->region[2] > lh / 2;
		}
		return false;   /* the label is there, the value is not */
	}
	return false;
}

static bool
locate_zone(const struct ocr_tfield *f, const struct ocr_ptext *pt, int page,
    int W, int H, struct hit *h)
{
	double x0 = f->zone[0] * W, y0 = f->zone[1] * H;
	double x1 = x0 + f->zone[2] * W, y1 = y0 + f->zone[3] * H;
	size_t *syms = xcalloc(pt->ns + 1, sizeof(*syms)), n = 0;
	bool found;

	for (size_t i = 0; i < pt->ns && n < 256; i++) {
		double cx = pt->s[i].box[0] + pt->s[i].box[2] / 2.0;
		double cy = pt->s[i].box[1] + pt->s[i].box[3] / 2.0;

		if (cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1)
			syms[n++] = i;
	}
	hit_fill(pt, page, syms, n, h);
	found = n > 0;
	free(syms);
	return found;
}

static bool
locate_pattern(const struct ocr_tfield *f, const struct ocr_ptext *pt,
    int page, struct hit *h)
{
	size_t cap = 1024, len = 0, n = 0, syms[256];
	char *text = xmalloc(cap);
	int *map = xmalloc(cap * sizeof(*map)), rc;
	pcre2_match_data *md;
	PCRE2_SIZE *ov;
	size_t b0, b1;
	int last = -1;

	for (size_t i = 0; i < pt->ns; i++) {
		const struct ocr_sym *s = &pt->s[i];
		size_t sl = strlen(s->t);
		const char *sep = "";

		if (i > 0 && s->line != pt->s[i - 1].line)
			sep = "\n";
		else if (i > 0 && s->word != pt->s[i - 1].word &&
		    is_ascii_alnum(s->t) && is_ascii_alnum(pt->s[i - 1].t))
			sep = " ";
		if (len + sl + 2 >= cap) {
			cap = (len + sl + 2) * 2;
			text = xrealloc(text, cap);
			map = xrealloc(map, cap * sizeof(*map));
		}
		if (*sep != '\0')
			map[len] = -1, text[len++] = *sep;
		for (size_t j = 0; j < sl; j++)
			map[len] = (int)i, text[len++] = s->t[j];
	}
	text[len] = '\0';
	md = pcre2_match_data_create_from_pattern(f->pattern_re, NULL);
	rc = pcre2_match(f->pattern_re, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
	if (rc > 0) {
		ov = pcre2_get_ovector_pointer(md);
		if (rc > 1 && ov[2] != PCRE2_UNSET) {
			b0 = ov[2];
			b1 = ov[3];
		} else {
			b0 = ov[0];
			b1 = ov[1];
		}
		for (size_t b = b0; b < b1 && n < 256; b++)
			if (map[b] >= 0 && map[b] != last)
				syms[n++] = (size_t)(last = map[b]);
	}
	pcre2_match_data_free(md);
	free(text);
	free(map);
	hit_fill(pt, page, syms, n, h);
	return n > 0;
}

static bool
is_identifier(enum ocr_ftype t)
{
	return t == OCR_F_CN_ID || t == OCR_F_USCC || t == OCR_F_BANK_CARD;
}

static json_t *
check_obj(double value, const char *limit_key, double limit, bool ok)
{
	json_t *o = json_object();

	json_object_set_new(o, "value", json_real(round(value * 100) / 100));
	if (limit_key != NULL)
		json_object_set_new(o, limit_key, json_real(limit));
	json_object_set_new(o, "ok", json_boolean(ok));
	return o;
}

/* Recognises the page; if the result is poor, tries it upside down and
 * keeps whichever reads better. */
static int
recognise_page(void *api, struct page *pg, const struct ocr_template *t,
    struct ocr_check_opts *o, struct err *e)
{
	struct ocr_ptext alt;
	PIX *rot;

	if (ocr_page_recognise(api, pg->pix, pg->q.read_dpi, t->deadline_ms,
	    &pg->pt, &o->recognise_ms, e) < 0)
		return -1;
	/* A blurred page reads poorly either way up; it escalates anyway. */
	if (pg->pt.mean_conf >= t->quality.min_confidence ||
	    pg->q.blur < t->quality.min_blur)
		return 0;
	/* OSD is unsure on sparse forms; Tesseract's own confidence on the
	 * page turned over settles 180 degrees. */
	if ((rot = pixRotateOrth(pg->pix, 2)) == NULL)
		return 0;
	if (ocr_page_recognise(api, rot, pg->q.read_dpi, t->deadline_ms, &alt,
	    &o->recognise_ms, e) == 0 && alt.mean_conf > pg->pt.mean_conf +
	    10 && alt.nw > 0) {
		ocr_ptext_clear(&pg->pt);
		pg->pt = alt;
		pixDestroy(&pg->pix);
		pg->pix = rot;
		pg->q.rotation = (pg->q.rotation + 2) % 4;
		return 0;
	}
	ocr_ptext_clear(&alt);
	pixDestroy(&rot);
	return 0;
}

/* A sideways reading has no boxes to show a reviewer: it loses. */
static double
page_score(const struct page *pg)
{
	return pg->pt.mean_conf - (pg->pt.orientation != 0 ? 50 : 0);
}

static void
page_clear(struct page *pg)
{
	pixDestroy(&pg->pix);
	ocr_ptext_clear(&pg->pt);
}

/* The page turned `quads` quarter-turns clockwise, prepared and read. */
static int
build_page(void *api, PIX *gray, int quads, const struct ocr_template *t,
    struct ocr_check_opts *o, struct page *pg, struct err *e)
{
	PIX *g = quads ? pixRotateOrth(gray, quads) : pixClone(gray);

	if (g == NULL)
		g = pixClone(gray);
	pg->q.rotation = quads;
	pg->pix = ocr_page_prepare(g, t, &pg->q);
	pixDestroy(&g);
	if (pg->q.blank)
		return 0;
	if (recognise_page(api, pg, t, o, e) < 0)
		return -1;
	pg->recognised = true;
	pg->q.mean_conf = pg->pt.mean_conf;
	pg->q.glyph_height = ocr_ptext_glyph_height(&pg->pt) / (pg->q.scale *
	    pg->q.rscale);
	return 0;
}

static json_t *
page_json(const struct page *pg, int n, const struct ocr_template *t)
{
	const struct ocr_quality *qt = &t->quality;
	const struct ocr_pagequal *q = &pg->q;
	json_t *checks = json_object(), *pj, *d;
	bool glyph_ok = q->glyph_height >= qt->min_glyph_height;
	bool dpi_ok = q->dpi >= qt->min_dpi || (q->dpi == 0 && glyph_ok);

	d = check_obj(q->dpi, "min", qt->min_dpi, dpi_ok);
	json_object_set_new(d, "source", json_string(q->dpi_source));
	json_object_set_new(d, "file", json_integer(q->file_dpi));
	json_object_set_new(checks, "dpi", d);
	if (pg->recognised)
		json_object_set_new(checks, "glyph_height", check_obj(
		    q->glyph_height, "min", qt->min_glyph_height, glyph_ok));
	json_object_set_new(checks, "blur", check_obj(q->blur, "min",
	    qt->min_blur, q->blank || q->blur >= qt->min_blur));
	d = check_obj(q->skew, "max", qt->max_skew, fabs(q->skew) <=
	    qt->max_skew);
	json_object_set_new(d, "corrected", json_boolean(q->deskewed));
	json_object_set_new(checks, "skew", d);
	d = check_obj(q->ink, "min", qt->min_ink, !q->blank);
	json_object_set_new(d, "blank", json_boolean(q->blank));
	json_object_set_new(checks, "blank", d);
	d = json_pack("{s:i,s:i,s:b,s:b}", "value", q->background, "max", 60,
	    "ok", true, "corrected", q->background_fixed);
	json_object_set_new(checks, "background", d);
	d = json_pack("{s:i,s:b,s:b}", "value", q->rotation * 90, "ok", true,
	    "corrected", q->rotation != 0);
	json_object_set_new(checks, "orientation", d);
	if (pg->recognised)
		json_object_set_new(checks, "confidence", check_obj(
		    pg->pt.mean_conf, "min", qt->min_confidence,
		    pg->pt.mean_conf >= qt->min_confidence));
	pj = json_pack("{s:i,s:i,s:i,s:i}", "page", n, "width",
	    pg->pix ? (int)pixGetWidth(pg->pix) : 0, "height",
	    pg->pix ? (int)pixGetHeight(pg->pix) : 0, "dpi", q->dpi ?
	    (int)(q->dpi * q->scale * q->rscale + 0.5) : 0);
	json_object_set_new(pj, "image", pg->image[0] ? json_string(pg->image) :
	    json_null());
	json_object_set_new(pj, "checks", checks);
	return pj;
}

/* Quality problems of a page, as reasons; true if any. */
static bool
page_quality(struct verdict *v, const struct page *pg, int n,
    const struct ocr_template *t)
{
	const struct ocr_quality *qt = &t->quality;
	const struct ocr_pagequal *q = &pg->q;
	bool poor = false, glyph_ok = q->glyph_height >= qt->min_glyph_height;

	if (q->blank)
		return false;
	if (!(q->dpi >= qt->min_dpi || (q->dpi == 0 && glyph_ok))) {
		reason_add(v, OCR_SEV_ESCALATE, "quality.dpi", NULL, "第%d页分辨率"
		    "过低 page %d: %d DPI, at least %d needed", n, n, q->dpi,
		    qt->min_dpi);
		poor = true;
	}
	if (pg->recognised && !glyph_ok) {
		reason_add(v, OCR_SEV_ESCALATE, "quality.glyph_height", NULL,
		    "第%d页文字过小 page %d: characters are %.0f px high, at"
		    " least %.0f needed", n, n, q->glyph_height,
		    qt->min_glyph_height);
		poor = true;
	}
	if (q->blur < qt->min_blur) {
		reason_add(v, OCR_SEV_ESCALATE, "quality.blur", NULL, "第%d页模糊"
		    " page %d is blurred (sharpness %.0f, at least %.0f)", n,
		    n, q->blur, qt->min_blur);
		poor = true;
	}
	if (fabs(q->skew) > qt->max_skew) {
		reason_add(v, OCR_SEV_ESCALATE, "quality.skew", NULL, "第%d页倾斜"
		    " page %d is skewed by %.1f degrees (at most %.1f)", n, n,
		    q->skew, qt->max_skew);
		poor = true;
	}
	if (pg->recognised && pg->pt.mean_conf < qt->min_confidence) {
		reason_add(v, OCR_SEV_ESCALATE, "quality.confidence", NULL,
		    "第%d页识别置信度低 page %d reads poorly (mean confidence"
		    " %.0f, at least %.0f)", n, n, pg->pt.mean_conf,
		    qt->min_confidence);
		poor = true;
	}
	return poor;
}

static bool
page_has(const struct page *pages, int np, const char *text, bool fuzzy)
{
	char want[256];
	size_t len;

	compact_of(text, want, sizeof(want));
	if (want[0] == '\0')
		return false;
	for (int i = 0; i < np; i++)
		for (size_t j = 0; j < pages[i].pt.nl; j++)
			if (find_label(pages[i].pt.l[j].compact, want, fuzzy,
			    &len) != NULL)
				return true;
	return false;
}

/*
 * The upload is the template's type when one of its identifying words
 * is read - exactly, or with one character misread in a word of four
 * or more (公民身份号玛) - or when the labels of its fields are: three
 * in four of them, at least three, read exactly are the form's layout,
 * whatever became of its title in an unusual font.
 */
static bool
identified(const struct ocr_template *t, const struct page *pages, int np)
{
	size_t nlab = 0, found = 0;

	if (t->n_identify == 0)
		return true;
	for (int fuzzy = 0; fuzzy < 2; fuzzy++)
		for (size_t k = 0; k < t->n_identify; k++)
			if (page_has(pages, np, t->identify[k], fuzzy))
				return true;
	for (size_t i = 0; i < t->nfields; i++) {
		if (t->fields[i].locate != OCR_LOC_LABEL)
			continue;
		nlab++;
		found += page_has(pages, np, t->fields[i].spec.label, false);
	}
	return nlab >= 3 && found >= 3 && 4 * found >= 3 * nlab;
}

static json_t *
field_json(const struct ocr_tfield *f, const struct hit *h,
    const struct ocr_vresult *vr, double conf)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "name", f->spec.name, "label",
	    f->spec.label ? f->spec.label : "", "type",
	    ocr_ftype_name(f->spec.type));

	json_object_set_new(o, "value", json_string(vr->value));
	json_object_set_new(o, "raw", json_string(h->raw));
	json_object_set_new(o, "confidence", h->found ?
	    json_real(round(conf * 10) / 10) : json_null());
	json_object_set_new(o, "page", h->found ? json_integer(h->page + 1) :
	    json_null());
	json_object_set_new(o, "box", h->found ? json_pack("[i,i,i,i]",
	    h->box[0], h->box[1], h->box[2], h->box[3]) : json_null());
	json_object_set_new(o, "status", json_string(
	    ocr_fstatus_name(vr->status)));
	json_object_set_new(o, "code", json_string(vr->code));
	json_object_set_new(o, "message", json_string(vr->message));
	return o;
}

/*
 * Tesseract's chi_sim reads the rarer capital numerals as look-alikes:
 * 仟 as 什, 叁 as 参 (itself a variant of 叁 seen on real forms). Folded
 * only in amount_cn fields, whose value must then agree with the figures.
 */
static void
fold_capital_numerals(char *s)
{
	static const char *const map[][2] = { { "什", "仟" }, { "参", "叁" },
	    { "圆", "元" } };
	char *p;

	/* Each pair is 3 bytes in UTF-8: replaced in place. */
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		while ((p = strstr(s, map[i][0])) != NULL)
			memcpy(p, map[i][1], strlen(map[i][1]));
}

struct fstate {
	struct hit h;
	struct ocr_vresult vr;
	double conf;
	bool low;                 /* unsure: escalates */
	struct ocr_reads reads;
	struct ocr_lineread line; /* the second read, if reads.reread */
	double extra_ms;          /* recognition time of lines read again */
	char first_raw[512];      /* the page read, before any second read */
	double first_conf;
	bool first_found;
	struct ocr_vresult first_vr;
	char line_raw[512];       /* the third read: label and value as one line */
	double line_conf;
	bool line_read;
	struct ocr_linesym line_sym[32]; /* its value's symbols */
	int line_nsym;
	int label_box[4];         /* the third read's box, on h.page */
	/* A name that differs from the case's, verified against it
	 * (field_verify): tried, and with which read. */
	bool verify_tried;
	/* The surest read of a name that was a name but not the case's
	 * (-1: none), and whether it outweighs a read that is the case's. */
	double other_conf;
	bool contradicted;
	struct ocr_verify verify;
	const char *verify_read;  /* "label_line" | "value_line" */
	char verify_raw[512];
	int line_box[4];          /* the second read's box, on line_page */
	int line_page;
	/* "alternatives" | "second_engine" | "second_engine_chars" */
	const char *verify_rule;
	/* The second engine's read of the value's line, if asked. */
	bool verify_second_tried;
	char verify_second_raw[512];
	double verify_second_conf;
	char verify_second_why[512];
	/* Another field's label ended the third read (field_line_read):
	 * which field (-1: none), and what followed its label. */
	int tail_field;
	char tail_raw[128];
	double tail_conf;
	int tail_box[4];
};

/* The characters a field can hold, for its second read; "" for any. An
 * enum's are those of its values (男女: 性别 misread as 舅 or 另 on the
 * page has only two characters to be read as). */
static const char *
type_whitelist(const struct ocr_tfield *f, char *buf, size_t n)
{
	size_t len = 0;

	switch (f->spec.type) {
	case OCR_F_ENUM:
		buf[0] = '\0';
		for (size_t i = 0; i < f->spec.n_enum; i++) {
			const char *v = f->spec.enum_values[i];
			size_t vl = strlen(v);

			if (len + vl + 1 > n)
				return "";
			memcpy(buf + len, v, vl);
			len += vl;
			buf[len] = '\0';
		}
		return buf;
	case OCR_F_CN_ID:
		return "0123456789X";
	case OCR_F_USCC:
		return "0123456789ABCDEFGHJKLMNPQRTUWXY";
	case OCR_F_BANK_CARD:
		return "0123456789";
	case OCR_F_DATE:
		return "0123456789年月日-/.";
	case OCR_F_AMOUNT:
		return "0123456789.,￥¥元";
	case OCR_F_AMOUNT_CN:
		return "零壹贰叁肆伍陆柒捌玖拾佰仟万亿元圆角分整正人民币";
	default:
		return "";
	}
}

/* big, spaces left out, has small's code points in order, and at most
 * extra more. */
static bool
holds_with_noise(const char *big, const char *small, size_t extra)
{
	uint32_t bc[512], sc[512];
	size_t bo[513], so[513], nb, ns, j = 0, nbig = 0;
	char cb[512], cs[512];

	compact_of(big, cb, sizeof(cb));
	compact_of(small, cs, sizeof(cs));
	nb = utf8_split(cb, bc, bo, 512);
	ns = utf8_split(cs, sc, so, 512);
	if (ns == 0)
		return false;
	for (size_t i = 0; i < nb; i++) {
		nbig++;
		if (j < ns && bc[i] == sc[j])
			j++;
	}
	return j == ns && nbig - ns <= extra;
}

/* The code says the value was not of its type's form at all. */
static bool
malformed_code(const char *code)
{
	static const char *const ends[] = { ".length", ".chars", ".format" };
	size_t n = strlen(code);

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		size_t k = strlen(ends[i]);

		if (n >= k && strcmp(code + n - k, ends[i]) == 0)
			return true;
	}
	return false;
}

/*
 * A name the case has in Chinese characters is read again without Latin
 * letters, digits or ASCII punctuation: chi_sim+eng reads some printed
 * Chinese names as Latin strings ("RR" for 吴磊超). Which script to expect
 * is taken from the case; the value still has to match it as read.
 */
static const char *
name_blacklist(const struct ocr_tfield *f, const json_t *payload)
{
	char want[256];

	if (f->spec.type != OCR_F_NAME || f->spec.match == NULL ||
	    !ocr_payload_string(payload, f->spec.match, want, sizeof(want)) ||
	    want[0] == '\0')
		return "";
	for (const char *p = want; *p != '\0'; p++)
		if ((unsigned char)*p < 0x80 && *p != ' ')
			return "";
	return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
}

/* A name to compare with the case's: its line reads keep each
 * character's alternatives, to verify the case's name against. */
static bool
verifiable(const struct ocr_tfield *f, const json_t *payload)
{
	char want[256];

	return f->spec.type == OCR_F_NAME && f->spec.match != NULL &&
	    ocr_payload_string(payload, f->spec.match, want, sizeof(want)) &&
	    want[0] != '\0';
}

/* How many characters more than the case's name a read of a name field
 * has, when it is a name and not the case's; INT_MIN otherwise. */
static int
name_longer_by(const struct ocr_tfield *f, const json_t *payload,
    const struct ocr_vresult *vr)
{
	char want[256];
	uint32_t a[64], b[64];
	size_t oa[65], ob[65];

	if (f->spec.type != OCR_F_NAME || vr->status != OCR_FS_MISMATCH ||
	    f->spec.match == NULL ||
	    !ocr_payload_string(payload, f->spec.match, want, sizeof(want)))
		return INT_MIN;
	return (int)utf8_split(vr->value, a, oa, 64) -
	    (int)utf8_split(want, b, ob, 64);
}

/* A read of a name field that is a name, not the case's, and as many
 * characters long: another person's name (a read that lost a character,
 * 朱兰 for 朱兰芳, is not). */
static bool
other_name(const struct ocr_tfield *f, const json_t *payload,
    const struct ocr_vresult *vr)
{
	return name_longer_by(f, payload, vr) == 0;
}

/* A line read's symbols (its first 128) joined without spaces into
 * text, as many whole symbols as fit in n bytes. */
static void
syms_text(const struct ocr_lineread *lr, char *text, size_t n)
{
	size_t len = 0;

	for (int k = 0; k < lr->nsym && k < 128; k++) {
		size_t sl = strlen(lr->sym[k].t);

		if (len + sl + 1 >= n)
			break;
		memcpy(text + len, lr->sym[k].t, sl);
		len += sl;
	}
	text[len] = '\0';
}

/*
 * A label the page read did not find may be on a line it misread as a
 * whole ("#RITUKS 6222..." for 银行账号 6222...): lines that hold no label
 * of the template are read again on their own, and if the label is on
 * one, the region right of it is where the value is (field_reread reads
 * it). Only for templates that reread.
 */
static void
find_label_again(void *api, const struct ocr_template *t,
    const struct ocr_tfield *f, struct page *pages, int np,
    struct fstate *fs)
{
	struct hit *h = &fs->h;
	char lab[256];

	compact_of(f->spec.label, lab, sizeof(lab));
	if (!t->reread || f->locate != OCR_LOC_LABEL || h->found ||
	    h->label_found || lab[0] == '\0')
		return;
	for (int p = 0; p < np; p++) {
		const struct ocr_ptext *pt = &pages[p].pt;

		if (!pages[p].recognised || (f->page > 0 && f->page != p + 1))
			continue;
		for (size_t i = 0; i < pt->nl; i++) {
			const struct ocr_line *ln = &pt->l[i];
			int lh = ln->box[3], reg[4], W, H;
			struct ocr_lineread *lr = &fs->line;
			char text[512];
			size_t len = 0, mlen = 0, at, b = 0;
			const char *q;
			struct err e;
			size_t stop, first = 0;
			int xstop = -1;

			/* Lines with other labels too: 性别 misread on the
			 * line of 性别 女 民族 汉, 民族 read right. */
			if (ln->nsym < 2 || lh <= 0)
				continue;
			W = (int)pixGetWidth(pages[p].pix);
			H = (int)pixGetHeight(pages[p].pix);
			reg[0] = ln->box[0] - lh / 2 < 0 ? 0 : ln->box[0] - lh / 2;
			reg[1] = ln->box[1] - 2 * lh / 5 < 0 ? 0 : ln->box[1] -
			    2 * lh / 5;
			reg[2] = ln->box[0] + ln->box[2] + lh / 2 > W ? W - reg[0] :
			    ln->box[0] + ln->box[2] + lh / 2 - reg[0];
			reg[3] = ln->box[1] + lh + 2 * lh / 5 > H ? H - reg[1] :
			    ln->box[1] + lh + 2 * lh / 5 - reg[1];
			if (reg[2] < 4 || reg[3] < 4 || ocr_line_reread(api,
			    pages[p].pix, pages[p].q.read_dpi, reg, "", "",
			    false, t->deadline_ms, lr, &fs->extra_ms, &e) < 0)
				continue;
			/* The line's symbols without spaces, and where the
			 * label ends among them. */
			syms_text(lr, text, sizeof(text));
			if ((q = find_label(text, lab, false, &mlen)) == NULL &&
			    ((q = find_label(text, lab, true, &mlen)) == NULL ||
			    other_label(t, f, q, mlen) >= 0))
				continue;
			at = (size_t)(q - text) + mlen;
			/* the value ends where another label starts */
			stop = strlen(text);
			for (size_t k = 0; k < t->nfields; k++) {
				char other[256];
				const char *o2;

				compact_of(t->fields[k].spec.label ?
				    t->fields[k].spec.label : "", other,
				    sizeof(other));
				if (&t->fields[k] == f || other[0] == '\0' ||
				    (o2 = strstr(text + at, other)) == NULL)
					continue;
				if ((size_t)(o2 - text) < stop)
					stop = (size_t)(o2 - text);
			}
			/* the symbols that start and end the label */
			len = 0;
			for (int k = 0; k < lr->nsym && k < 128; k++) {
				if (len <= (size_t)(q - text))
					first = (size_t)k;
				len += strlen(lr->sym[k].t);
				if (len >= at) {
					b = (size_t)k;
					break;
				}
			}
			/* and the one that starts the next label */
			len = 0;
			for (int k = 0; k < lr->nsym && k < 128; k++) {
				if (len >= stop && stop < strlen(text)) {
					xstop = lr->sym[k].x0;
					break;
				}
				len += strlen(lr->sym[k].t);
			}
			h->label_found = true;
			h->page = p;
			/* The line read is the field's first read. */
			{
				size_t n = 0, sl;

				h->sym_conf = h->word_conf = 100;
				for (int k = (int)b + 1; k < lr->nsym && k < 128 &&
				    (xstop < 0 || lr->sym[k].x0 < xstop); k++) {
					if (n == 0 && is_separator(lr->sym[k].t))
						continue;
					sl = strlen(lr->sym[k].t);
					if (n + sl + 1 >= sizeof(h->raw))
						break;
					memcpy(h->raw + n, lr->sym[k].t, sl);
					n += sl;
					if (lr->sym[k].conf < h->sym_conf)
						h->sym_conf = lr->sym[k].conf;
				}
				h->raw[n] = '\0';
				h->word_conf = h->sym_conf;
				h->found = n > 0;
				h->box[0] = lr->sym[b].x1;
				h->box[1] = ln->box[1];
				h->box[2] = ln->box[0] + ln->box[2] - h->box[0];
				h->box[3] = lh;
			}
			h->region[0] = lr->sym[b].x1 + lh / 10;
			h->region[1] = ln->box[1] - 2 * lh / 5;
			h->region[2] = (xstop > 0 ? xstop - lh / 5 : ln->box[0] +
			    ln->box[2] + 2 * lh) - h->region[0];
			h->region[3] = lh + 4 * lh / 5;
			h->has_region = h->region[2] > lh / 2;
			if (h->found && xstop > 0)
				h->box[2] = xstop - h->box[0];
			h->label_x0 = lr->sym[first].x0;
			h->label_y[0] = ln->box[1];
			h->label_y[1] = ln->box[1] + lh;
			memset(lr, 0, sizeof(*lr));
			return;
		}
	}
	memset(&fs->line, 0, sizeof(fs->line));
}

/*
 * A field the page read is not sure of (low confidence, a value that
 * does not validate or match, or a label with nothing read after it) is
 * read again: its region alone, as one line, with only its type's
 * characters. The field then takes the second read's value and
 * confidence, and whether the two reads agree is evidence
 * (ocr_field_unsure decides). A field the page read is sure of is left
 * as it is: the second read costs recognition time.
 */
static void
field_reread(void *api, const struct ocr_template *t,
    const struct ocr_tfield *f, struct page *pages,
    struct ocr_check_opts *o, struct fstate *fs)
{
	struct hit *h = &fs->h;
	struct ocr_reads *r = &fs->reads;
	struct ocr_vresult vr2;
	int reg[4], W, H;
	struct err e;
	char raw[512], wl[256];

	memset(r, 0, sizeof(*r));
	r->found = h->found;
	r->conf = fs->conf;
	r->min_confidence = f->spec.min_confidence;
	r->agree_confidence = t->quality.agree_confidence;
	if (!t->reread || (!h->found && !h->label_found))
		return;
	if (h->found && fs->conf >= f->spec.min_confidence &&
	    fs->vr.status == OCR_FS_OK)
		return;
	if (h->found && !h->has_region) {
		int m = h->box[3] / 3;

		h->region[0] = h->box[0] - m;
		h->region[1] = h->box[1] - m;
		h->region[2] = h->box[2] + 2 * m;
		h->region[3] = h->box[3] + 2 * m;
		h->has_region = true;
	}
	if (!h->has_region || pages[h->page].pix == NULL)
		return;
	W = (int)pixGetWidth(pages[h->page].pix);
	H = (int)pixGetHeight(pages[h->page].pix);
	reg[0] = h->region[0] < 0 ? 0 : h->region[0];
	reg[1] = h->region[1] < 0 ? 0 : h->region[1];
	reg[2] = (h->region[0] + h->region[2] > W ? W : h->region[0] +
	    h->region[2]) - reg[0];
	reg[3] = (h->region[1] + h->region[3] > H ? H : h->region[1] +
	    h->region[3]) - reg[1];
	if (reg[2] < 4 || reg[3] < 4)
		return;
	if (ocr_line_reread(api, pages[h->page].pix, pages[h->page].q.read_dpi,
	    reg, type_whitelist(f, wl, sizeof(wl)), name_blacklist(f, o->payload),
	    verifiable(f, o->payload), t->deadline_ms, &fs->line,
	    &o->recognise_ms, &e) < 0 ||
	    fs->line.nsym == 0)
		return;
	memcpy(fs->line_box, reg, sizeof(fs->line_box));
	fs->line_page = h->page;
	snprintf(raw, sizeof(raw), "%s", fs->line.text);
	if (f->spec.type == OCR_F_AMOUNT_CN)
		fold_capital_numerals(raw);
	ocr_validate_field(&f->spec, raw, o->payload, o->today, &vr2);
	if (other_name(f, o->payload, &vr2) && fs->line.word_conf >
	    fs->other_conf)
		fs->other_conf = fs->line.word_conf;
	r->reread = true;
	r->found = true;
	r->agree = h->found && ocr_text_equal(fs->vr.value, vr2.value, false,
	    NULL);
	/* A page read that was no value of the type (an extra character,
	 * a 了 in a date) agrees when it holds the second read's characters
	 * in order with at most two more; an identifier's after folding the
	 * characters Tesseract confuses in both (the page's 91310000YMBMUINMT7N,
	 * I for 1 and a T more, holds 91310000YMBMU1NM7N). */
	if (h->found && !r->agree && fs->vr.status == OCR_FS_INVALID &&
	    malformed_code(fs->vr.code)) {
		char fa[512], fb[512];

		r->agree = holds_with_noise(h->raw, raw, 2);
		if (!r->agree && is_identifier(f->spec.type)) {
			ocr_fold_confusables(h->raw, fa, sizeof(fa));
			ocr_fold_confusables(raw, fb, sizeof(fb));
			r->agree = holds_with_noise(fa, fb, 2);
		}
	}
	r->conf = is_identifier(f->spec.type) ? fs->line.sym_conf :
	    fs->line.word_conf;
	fs->conf = r->conf;
	fs->vr = vr2;
	if (!h->found) {
		h->found = true;
		memcpy(h->box, reg, sizeof(h->box));
	}
	snprintf(h->raw, sizeof(h->raw), "%s", raw);
}

/* Which rule left the field unsure or wrong, for the reviewer. */
static const char *
failed_rule(const struct fstate *fs)
{
	const struct ocr_vresult *vr = &fs->vr;

	if (strcmp(vr->code, "cn_id.inconsistent") == 0)
		return "from_id";
	if (vr->status == OCR_FS_MISMATCH)
		return "match";
	if (vr->status == OCR_FS_MISSING)
		return fs->h.label_found ? "required" : "locate";
	if (vr->status == OCR_FS_INVALID)
		return "validate";
	if (fs->contradicted)
		return "other_name_read";
	if (fs->low)
		return fs->reads.reread && !fs->reads.agree ? "reads_disagree" :
		    "min_confidence";
	return "validate";
}

/*
 * What a reviewer needs to decide an escalated field in seconds: the
 * rule that failed, the field's threshold, both reads (the page's, and
 * the field's line alone) with their confidences, and the field's crop
 * of the page as it was read (field-NAME.png beside page-N.png), where
 * the value is or should be.
 */
static json_t *
field_evidence(const struct ocr_tfield *f, const struct fstate *fs,
    const struct page *pages, const char *image_dir)
{
	const struct hit *h = &fs->h;
	json_t *ev = json_pack("{s:s,s:f}", "rule", failed_rule(fs),
	    "min_confidence", f->spec.min_confidence);
	int r[4], W, H, m;
	PIX *pix;

	json_object_set_new(ev, "page_read", fs->first_found ? json_pack(
	    "{s:s,s:f}", "raw", fs->first_raw, "confidence",
	    round(fs->first_conf * 10) / 10) : json_null());
	if (fs->line_read)
		json_object_set_new(ev, "line_read", json_pack("{s:s,s:f,s:b}",
		    "raw", fs->line_raw, "confidence",
		    round(fs->line_conf * 10) / 10, "alone", fs->reads.alone));
	json_object_set_new(ev, "crop", json_null());
	if (image_dir == NULL || (!h->found && !h->has_region) ||
	    (pix = pages[h->page].pix) == NULL)
		return ev;
	memcpy(r, h->has_region ? h->region : h->box, sizeof(r));
	m = r[3] / 3;
	W = (int)pixGetWidth(pix);
	H = (int)pixGetHeight(pix);
	r[0] -= m;
	r[1] -= m;
	r[2] += 2 * m;
	r[3] += 2 * m;
	if (r[0] < 0)
		r[2] += r[0], r[0] = 0;
	if (r[1] < 0)
		r[3] += r[1], r[1] = 0;
	if (r[0] + r[2] > W)
		r[2] = W - r[0];
	if (r[1] + r[3] > H)
		r[3] = H - r[1];
	if (r[2] >= 4 && r[3] >= 4) {
		BOX *b = boxCreate(r[0], r[1], r[2], r[3]);
		PIX *c = b ? pixClipRectangle(pix, b, NULL) : NULL;
		char name[64], *path;
		size_t j = 0;

		/* artifact names are plain: letters, digits, - and _ */
		j = (size_t)snprintf(name, sizeof(name), "field-");
		for (const char *p = f->spec.name; *p != '\0' && j + 5 <
		    sizeof(name); p++)
			name[j++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' &&
			    *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ?
			    *p : '_';
		snprintf(name + j, sizeof(name) - j, ".png");
		path = xasprintf("%s/%s", image_dir, name);
		if (c != NULL && pixWrite(path, c, IFF_PNG) == 0) {
			json_object_set_new(ev, "crop", json_string(name));
			json_object_set_new(ev, "crop_box", json_pack("[i,i,i,i]",
			    r[0], r[1], r[2], r[3]));
			json_object_set_new(ev, "crop_page", json_integer(h->page +
			    1));
		}
		free(path);
		pixDestroy(&c);
		boxDestroy(&b);
	}
	return ev;
}

enum id_agree { ID_JUNK, ID_SAME, ID_OTHER };

/* Maximal runs of ASCII digits in s as numbers, the runs between them
 * (and after the last) at most two code points of anything else, none
 * before the first; -1 if s is not of that form. ] | l I ! next to a
 * digit, or alone between 年 and 月 or 月 and 日, are a 1 and O an 0
 * (1967年11]月: the stroke of a 1 read alone). */
static int
digit_groups(const char *in, long *g, int cap)
{
	int n = 0, gap = 0;
	char buf[512], *s = buf;
	size_t len;

	snprintf(buf, sizeof(buf), "%s", in);
	len = strlen(buf);
	for (size_t i = 0; i < len; i++) {
		bool near = (i > 0 && buf[i - 1] >= '0' && buf[i - 1] <= '9') ||
		    (i + 1 < len && buf[i + 1] >= '0' && buf[i + 1] <= '9');

		/* a 1 standing alone as a month or a day: 1977年]月12日 */
		if (!near && strchr("]|lI!", buf[i]) != NULL)
			near = (i >= 3 && (memcmp(buf + i - 3, "年", 3) == 0 ||
			    memcmp(buf + i - 3, "月", 3) == 0)) && i + 4 <= len &&
			    (memcmp(buf + i + 1, "月", 3) == 0 ||
			    memcmp(buf + i + 1, "日", 3) == 0);
		if (near && strchr("]|lI!", buf[i]) != NULL)
			buf[i] = '1';
		else if (near && buf[i] == 'O')
			buf[i] = '0';
	}

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s != '\0') {
		if (*s >= '0' && *s <= '9') {
			long v = 0;
			int len = 0;

			if (n == cap)
				return -1;
			while (*s >= '0' && *s <= '9' && len++ < 6)
				v = v * 10 + (*s++ - '0');
			if (*s >= '0' && *s <= '9')
				return -1;
			g[n++] = v;
			gap = 0;
			continue;
		}
		if (*s != ' ' && ++gap > 2)
			return -1;
		/* one code point */
		s++;
		while (((unsigned char)*s & 0xc0) == 0x80)
			s++;
	}
	return n;
}

/*
 * What one read of a from_id field says against want (the ID number's
 * "YYYY-MM-DD" or 男/女): the same, another value, or nothing of its
 * kind. A date whose 年, 月 or 日 was misread (1999年4月17晶) still says
 * its three numbers, when they can be a year, a month and a day; a
 * 1月17日 is not an 11月7日.
 */
static enum id_agree
id_agree_of(enum ocr_from_id kind, const char *raw, const char *want)
{
	char c[512];

	compact_of(raw, c, sizeof(c));
	if (kind == OCR_FROM_ID_BIRTH) {
		long g[4];
		int ymd, n;

		if (ocr_parse_date(c, &ymd) == 0) {
			char v[16];

			snprintf(v, sizeof(v), "%04d-%02d-%02d", ymd / 10000,
			    ymd / 100 % 100, ymd % 100);
			return strcmp(v, want) == 0 ? ID_SAME : ID_OTHER;
		}
		/* no year, month or day (19895年12月18日: a 5 read into the
		 * year) says nothing of another date */
		if ((n = digit_groups(c, g, 4)) != 3 || g[0] < 1000 ||
		    g[0] > 9999 || g[1] < 1 || g[1] > 12 || g[2] < 1 ||
		    g[2] > 31)
			return ID_JUNK;
		return g[0] == atol(want) && g[1] == atol(want + 5) &&
		    g[2] == atol(want + 8) ? ID_SAME : ID_OTHER;
	}
	if (strcmp(c, "男") == 0 || strcmp(c, "女") == 0)
		return strcmp(c, want) == 0 ? ID_SAME : ID_OTHER;
	return ID_JUNK;
}

/*
 * A birth date and a sex repeat what the resident ID number on the same
 * document says (GB 11643: digits 7-14, and the 17th odd for 男): when
 * that number is valid and sure, a field read as it says is sure
 * whatever its confidence (two independent readings agree, one of them
 * check-digit protected) - read so by the page or by the field's line
 * alone, the other read saying nothing of its kind (舅 for 男, a 日 read
 * 晶). A read of another valid value is a document that contradicts
 * itself: a person looks at it. A field with no read of its kind keeps
 * its own verdict; an ID that is not sure vouches for nothing.
 */
static void
check_from_id(const struct ocr_template *t, struct fstate *fs)
{
	const char *id = NULL;
	size_t k;

	for (k = 0; k < t->nfields; k++)
		if (t->fields[k].spec.type == OCR_F_CN_ID)
			break;
	if (k == t->nfields || fs[k].vr.status != OCR_FS_OK || fs[k].low ||
	    strlen(fs[k].vr.value) != 18)
		return;
	id = fs[k].vr.value;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct ocr_tfield *f = &t->fields[i];
		struct ocr_vresult *vr = &fs[i].vr;
		int same = 0, other = 0;
		char want[16];
		const char *what;
		enum id_agree a;

		if (f->from_id == OCR_FROM_ID_NONE || (!fs[i].h.found &&
		    !fs[i].line_read))
			continue;
		if (f->from_id == OCR_FROM_ID_BIRTH) {
			snprintf(want, sizeof(want), "%.4s-%.2s-%.2s", id + 6,
			    id + 10, id + 12);
			what = "出生日期 the birth date";
		} else {
			snprintf(want, sizeof(want), "%s", (id[16] - '0') % 2 ?
			    "男" : "女");
			what = "性别 the sex";
		}
		if (fs[i].first_found) {
			a = id_agree_of(f->from_id, fs[i].first_raw, want);
			same += a == ID_SAME;
			other += a == ID_OTHER;
		}
		if (fs[i].reads.reread) {
			a = id_agree_of(f->from_id, fs[i].h.raw, want);
			same += a == ID_SAME;
			other += a == ID_OTHER;
		}
		if (fs[i].line_read) {
			a = id_agree_of(f->from_id, fs[i].line_raw, want);
			same += a == ID_SAME;
			other += a == ID_OTHER;
		}
		if (same > 0 && other == 0) {
			if (!fs[i].h.found) {
				/* read only with its label: where it was */
				fs[i].h.found = true;
				memcpy(fs[i].h.box, fs[i].h.region,
				    sizeof(fs[i].h.box));
				fs[i].conf = fs[i].line_conf;
			}
			/* the value as the ID says it, in the type's form */
			snprintf(vr->value, sizeof(vr->value), "%s", want);
			vr->status = OCR_FS_OK;
			vr->severity = OCR_SEV_NONE;
			snprintf(vr->code, sizeof(vr->code), "ok");
			vr->message[0] = '\0';
			fs[i].reads.id_confirmed = true;
			fs[i].low = false;
			continue;
		}
		if (other == 0)
			continue;
		if (same > 0) {
			/* one read says what the ID says, the other not */
			fs[i].low = true;
			continue;
		}
		vr->status = OCR_FS_INVALID;
		vr->severity = OCR_SEV_ESCALATE;
		snprintf(vr->code, sizeof(vr->code), "cn_id.inconsistent");
		snprintf(vr->message, sizeof(vr->message), "与公民身份号码不符"
		    " %s read (%s) is not the one the ID number %.6s…%s says"
		    " (%s)", what, fs[i].h.raw, id, id + 14, want);
		fs[i].low = false;
	}
}

/* The field of t, not self, whose label the symbols from sym[k] on
 * spell exactly (those after the label have no say), *after the symbol
 * after that label; -1 if none. */
static int
next_label_at(const struct ocr_template *t, const struct ocr_tfield *self,
    const struct ocr_linesym *sym, int k, int nsym, int *after)
{
	char buf[256];
	size_t n = 0;
	int g;

	for (int j = k; j < nsym && j < k + 16; j++) {
		size_t sl = strlen(sym[j].t);

		if (n + sl + 1 >= sizeof(buf))
			break;
		memcpy(buf + n, sym[j].t, sl);
		n += sl;
		buf[n] = '\0';
		if ((g = other_label(t, self, buf, n)) >= 0) {
			*after = j + 1;
			return g;
		}
	}
	return -1;
}

/* What follows another field's label on a third read's line, up to the
 * next label, into fs->tail_* (the field's own read when the page did
 * not find its label: the card's 民族 read RR). */
static void
keep_tail(const struct ocr_template *t, const struct ocr_lineread *lr,
    int g, int from, struct fstate *fs)
{
	size_t n = 0;
	int after, x0 = -1, x1 = -1;

	fs->tail_field = g;
	fs->tail_raw[0] = '\0';
	fs->tail_conf = 100;
	memset(fs->tail_box, 0, sizeof(fs->tail_box));
	for (int k = from; k < lr->nsym && k < 128; k++) {
		const struct ocr_linesym *y = &lr->sym[k];
		size_t sl = strlen(y->t);

		if (n == 0 && is_separator(y->t))
			continue;
		if (next_label_at(t, &t->fields[g], lr->sym, k, lr->nsym,
		    &after) >= 0 || n + sl + 1 >= sizeof(fs->tail_raw))
			break;
		memcpy(fs->tail_raw + n, y->t, sl);
		fs->tail_raw[n += sl] = '\0';
		if (y->conf < fs->tail_conf)
			fs->tail_conf = y->conf;
		if (x0 < 0 || y->x0 < x0)
			x0 = y->x0;
		if (y->x1 > x1)
			x1 = y->x1;
	}
	/* across the value's line, as high as the read line */
	if (x0 >= 0 && x1 > x0) {
		fs->tail_box[0] = x0;
		fs->tail_box[1] = fs->h.region[1];
		fs->tail_box[2] = x1 - x0;
		fs->tail_box[3] = fs->h.region[3];
	}
}

/*
 * A third read, of a field still unsure after two: its line from the
 * label's left edge, label and value together, as one line with no
 * whitelist. The LSTM reads a name's characters in context better than
 * alone (磊 read 舌, 乔 or 大 from the value's crop, 磊 with 姓名 before
 * it: docs/BENCHMARKS.md), and a date with its 年月日 as characters
 * rather than forced to digits. Only the text after the label counts, up
 * to another field's label on the same line (性别 女 民族 汉 is one line
 * of the ID card: the sex is 女, not 女民族汉).
 */
static void
field_line_read(void *api, const struct ocr_template *t,
    const struct ocr_tfield *f, struct page *pages, struct ocr_check_opts *o,
    struct fstate *fs)
{
	struct hit *h = &fs->h;
	struct ocr_lineread lr;
	char lab[256], text[512];
	const char *q;
	size_t len = 0, mlen = 0, at, n = 0;
	int reg[4], W, H, lh, b = -1, g, after;
	struct err e;
	PIX *pix;

	fs->line_read = false;
	fs->line_nsym = 0;
	compact_of(f->spec.label != NULL ? f->spec.label : "", lab, sizeof(lab));
	if (!t->reread || lab[0] == '\0' || !h->has_region || h->label_x0 < 0 ||
	    (pix = pages[h->page].pix) == NULL)
		return;
	W = (int)pixGetWidth(pix);
	H = (int)pixGetHeight(pix);
	/* From the label's and the value's glyphs, a fifth of their height
	 * around: more takes in the lines above and below, which a single
	 * line read makes part of its line. */
	{
		int y0 = h->label_y[0] < h->box[1] ? h->label_y[0] : h->box[1];
		int y1 = h->label_y[1] > h->box[1] + h->box[3] ? h->label_y[1] :
		    h->box[1] + h->box[3];

		lh = y1 - y0;
		reg[0] = h->label_x0 - lh / 4 < 0 ? 0 : h->label_x0 - lh / 4;
		reg[1] = y0 - lh / 5 < 0 ? 0 : y0 - lh / 5;
		reg[2] = (h->region[0] + h->region[2] > W ? W : h->region[0] +
		    h->region[2]) - reg[0];
		reg[3] = (y1 + lh / 5 > H ? H : y1 + lh / 5) - reg[1];
	}
	/* The template's first language alone: chi_sim+eng reads a line of
	 * Chinese with a lone character as Latin (性别 女 as "le"), chi_sim
	 * does not. Another engine of the worker's, made once. */
	{
		char first[64];
		void *one;

		snprintf(first, sizeof(first), "%s", t->languages);
		first[strcspn(first, "+")] = '\0';
		if (strcmp(first, t->languages) != 0 && first[0] != '\0' &&
		    (one = ocr_engine_acquire(first, &e)) != NULL)
			api = one;
	}
	if (reg[2] < 4 || reg[3] < 4 || ocr_line_reread(api, pix,
	    pages[h->page].q.read_dpi, reg, "", name_blacklist(f, o->payload),
	    verifiable(f, o->payload), t->deadline_ms, &lr, &o->recognise_ms,
	    &e) < 0)
		return;
	syms_text(&lr, text, sizeof(text));
	if ((q = find_label(text, lab, false, &mlen)) == NULL &&
	    (q = find_label(text, lab, true, &mlen)) == NULL)
		return;
	at = (size_t)(q - text) + mlen;
	len = 0;
	for (int k = 0; k < lr.nsym && k < 128; k++) {
		len += strlen(lr.sym[k].t);
		if (len >= at) {
			b = k;
			break;
		}
	}
	if (b < 0)
		return;
	memcpy(fs->label_box, reg, sizeof(fs->label_box));
	fs->line_conf = 100;
	for (int k = b + 1; k < lr.nsym && k < 128; k++) {
		size_t sl = strlen(lr.sym[k].t);

		if (n == 0 && is_separator(lr.sym[k].t))
			continue;
		/* another field's label on the same line ends this value: the
		 * card's 性别 女 民族 汉 is read as one line */
		if (n > 0 && (g = next_label_at(t, f, lr.sym, k, lr.nsym,
		    &after)) >= 0) {
			keep_tail(t, &lr, g, after, fs);
			break;
		}
		if (n + sl + 1 >= sizeof(fs->line_raw))
			break;
		memcpy(fs->line_raw + n, lr.sym[k].t, sl);
		n += sl;
		if (fs->line_nsym < (int)(sizeof(fs->line_sym) /
		    sizeof(fs->line_sym[0])))
			fs->line_sym[fs->line_nsym++] = lr.sym[k];
		if (lr.sym[k].conf < fs->line_conf)
			fs->line_conf = lr.sym[k].conf;
	}
	fs->line_raw[n] = '\0';
	fs->line_read = n > 0;
}

/*
 * A field still unsure after two reads (low, misread, not found after
 * its label) is read a third time with its label (field_line_read):
 *   - a name read exactly as the case has it is the applicant's name
 *     (the rule of ocr_field_unsure for names);
 *   - otherwise two of the three reads that agree count as two
 *     agreeing reads (sure from agree_confidence, taken at the lower of
 *     their confidences) when the third is no value of the type ("tt"
 *     for 壮, a 年 read as digits) or another value read less surely
 *     than either of them;
 *   - a birth date or sex keeps the third read for check_from_id.
 * Identifiers are never settled so: their least sure character decides.
 */
static void
field_third_read(void *api, const struct ocr_template *t,
    const struct ocr_tfield *f, struct page *pages, struct ocr_check_opts *o,
    struct fstate *fs)
{
	struct ocr_vresult vr3;
	const struct ocr_vresult *with = NULL;
	double wconf = 0, oconf = -1, hconf;
	bool alone = false;

	/* A name read as the case's by the value's line alone (the page
	 * read something else, or nothing) is read a third time too: that
	 * one read may be the misread (AR PL UKai's 赵 read 起 on a phone
	 * photo let a case naming 起平敏 meet a card of 赵平敏), and another
	 * name read here contradicts it (name_contradicted). */
	bool lone = f->spec.type == OCR_F_NAME && fs->vr.status == OCR_FS_OK &&
	    fs->vr.matched && fs->reads.reread && !fs->reads.agree;

	if (!(fs->low || fs->vr.status != OCR_FS_OK || lone) ||
	    !fs->h.label_found || f->locate != OCR_LOC_LABEL ||
	    is_identifier(f->spec.type))
		return;
	field_line_read(api, t, f, pages, o, fs);
	if (!fs->line_read)
		return;
	if (f->spec.type == OCR_F_AMOUNT_CN)
		fold_capital_numerals(fs->line_raw);
	ocr_validate_field(&f->spec, fs->line_raw, o->payload, o->today, &vr3);
	if (other_name(f, o->payload, &vr3) && fs->line_conf > fs->other_conf)
		fs->other_conf = fs->line_conf;
	if (f->spec.type == OCR_F_NAME && vr3.status == OCR_FS_OK &&
	    vr3.matched && !vr3.folded) {
		fs->vr = vr3;
		fs->conf = fs->line_conf;
		snprintf(fs->h.raw, sizeof(fs->h.raw), "%s", fs->line_raw);
		fs->low = ocr_field_unsure(&f->spec, &fs->vr, &fs->reads);
		return;
	}
	/* A name whose read so far is no name (FEA: the page read Latin
	 * letters) and a third read that is a name of the case's length,
	 * or of one more character (刘和大敏 for 刘磊敏: two of its symbols
	 * may be one character, which ocr_verify_places reads as one): the
	 * third is the field's read, another name until field_verify says
	 * the document holds the case's. */
	if (f->spec.type == OCR_F_NAME && fs->vr.status == OCR_FS_INVALID &&
	    (other_name(f, o->payload, &vr3) || name_longer_by(f, o->payload,
	    &vr3) == 1)) {
		fs->vr = vr3;
		fs->conf = fs->line_conf;
		snprintf(fs->h.raw, sizeof(fs->h.raw), "%s", fs->line_raw);
		return;
	}
	if (f->from_id != OCR_FROM_ID_NONE || vr3.status != OCR_FS_OK)
		return;
	/* the page read, and the second read (fs->vr) if one was made; a
	 * page read that was no value of the type agrees when it holds the
	 * third read's characters in order with at most two more (2024年
	 * 11]月7日, 2024年9月:1日), as it does for the second read */
	if (fs->first_found && fs->first_vr.status == OCR_FS_OK) {
		if (ocr_text_equal(fs->first_vr.value, vr3.value, false, NULL))
			with = &fs->first_vr, wconf = fs->first_conf;
		else
			oconf = fs->first_conf;
	} else if (fs->first_found && fs->first_vr.status == OCR_FS_INVALID &&
	    malformed_code(fs->first_vr.code) &&
	    holds_with_noise(fs->first_raw, fs->line_raw, 2))
		with = &fs->first_vr, wconf = fs->first_conf;
	if (fs->reads.reread && fs->vr.status == OCR_FS_OK) {
		if (ocr_text_equal(fs->vr.value, vr3.value, false, NULL)) {
			if (with == NULL || fs->conf > wconf)
				wconf = fs->conf;
			with = &fs->vr;
		} else if (fs->conf > oconf)
			oconf = fs->conf;
	}
	hconf = wconf > fs->line_conf ? wconf : fs->line_conf;
	if (wconf > fs->line_conf)
		wconf = fs->line_conf;
	/* All three reads - the page's, the value's line and label with
	 * value, two engines - alike: sure at any confidence (on the
	 * tuning set of bench/ocr_fonts.sh no misread was read alike
	 * three times that two alike at agree_confidence did not let
	 * through already). */
	if (fs->first_found && fs->first_vr.status == OCR_FS_OK &&
	    fs->reads.reread && fs->vr.status == OCR_FS_OK &&
	    ocr_text_equal(fs->first_vr.value, vr3.value, false, NULL) &&
	    ocr_text_equal(fs->vr.value, vr3.value, false, NULL) &&
	    wconf < t->quality.agree_confidence)
		wconf = t->quality.agree_confidence;
	/* A field whose values are a closed set - an enum's values, an
	 * address checked against the divisions (ocr_divisions_match): the
	 * reads that are none of them (tt for 壮, 武修区 for 武侯区) say
	 * nothing against those that are. Two of those alike are sure when
	 * the surer reaches the field's confidence; the third read alone is
	 * sure from it, as a page read alone is (seeds 41, 43 and 47 of
	 * bench/ocr_fonts.sh: no such read at 70 or more was a misread). */
	if ((f->spec.divisions != NULL || f->spec.type == OCR_F_ENUM) &&
	    oconf < 0) {
		if (with != NULL && hconf >= fs->reads.min_confidence &&
		    wconf < t->quality.agree_confidence)
			wconf = t->quality.agree_confidence;
		else if (with == NULL && fs->line_conf >=
		    fs->reads.min_confidence)
			with = &vr3, wconf = fs->line_conf, alone = true;
	}
	/* Two agreeing reads outvote a third of another value only when it
	 * is the least sure of the three. */
	if (with == NULL || (oconf >= 0 && oconf >= wconf))
		return;
	fs->vr = vr3;
	fs->conf = wconf;
	fs->reads.reread = true;
	fs->reads.agree = !alone;
	fs->reads.alone = alone;
	fs->reads.found = true;
	fs->reads.conf = fs->conf;
	snprintf(fs->h.raw, sizeof(fs->h.raw), "%s", fs->line_raw);
	fs->low = ocr_field_unsure(&f->spec, &fs->vr, &fs->reads);
}

/* The legacy engine's read of the value's line, into fs->verify_second_*;
 * -1 (fs->verify_second_why says why, if there is a reason to give) when
 * there is no line or no model. */
static int
second_engine_read(struct ocr_check_opts *o, struct page *pages,
    struct fstate *fs)
{
	const char *dp = ocr_legacy_tessdata();
	struct ocr_lineread lr;
	struct err e;
	void *api;

	if (!fs->reads.reread || fs->line_box[2] <= 0 ||
	    pages[fs->line_page].pix == NULL)
		return -1;
	if (dp == NULL) {
		snprintf(fs->verify_second_why, sizeof(fs->verify_second_why),
		    "no legacy-engine model installed (scripts/deps.sh)");
		return -1;
	}
	if ((api = ocr_engine_acquire_legacy(dp, "chi_sim", &e)) == NULL ||
	    ocr_box_read(api, pages[fs->line_page].pix,
	    pages[fs->line_page].q.read_dpi, fs->line_box, PSM_SINGLE_LINE, "",
	    "", false, 5000, &lr, &o->recognise_ms, &e) < 0) {
		snprintf(fs->verify_second_why, sizeof(fs->verify_second_why),
		    "%s", e.msg);
		return -1;
	}
	fs->verify_second_tried = true;
	snprintf(fs->verify_second_raw, sizeof(fs->verify_second_raw), "%s",
	    lr.text);
	fs->verify_second_conf = lr.word_conf;
	return 0;
}

/* The LSTM's reads of a name field that were not the case's name: the
 * page's, the value's line, label and value as one line, as many as
 * were made; their texts and confidences. */
static int
lstm_reads(const struct fstate *fs, const char *txt[3], double conf[3])
{
	int n = 0;

	if (fs->first_found && fs->first_vr.status == OCR_FS_MISMATCH) {
		txt[n] = fs->first_raw;
		conf[n++] = fs->first_conf;
	}
	if (fs->reads.reread) {
		txt[n] = fs->line.text;
		conf[n++] = fs->line.word_conf;
	}
	if (fs->line_read) {
		txt[n] = fs->line_raw;
		conf[n++] = fs->line_conf;
	}
	return n;
}

/* Whether two of the LSTM's reads (lstm_reads) are the same name, not
 * want, each read at OCR_VERIFY_SECOND_SETTLED or more. */
static bool
lstm_settled(const struct fstate *fs, const struct ocr_check_opts *o,
    const struct ocr_tfield *f, const char *want)
{
	struct ocr_vresult vr;
	const char *txt[3];
	double conf[3];
	int n = lstm_reads(fs, txt, conf);

	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			if (conf[i] < OCR_VERIFY_SECOND_SETTLED ||
			    conf[j] < OCR_VERIFY_SECOND_SETTLED ||
			    !ocr_text_equal(txt[i], txt[j], false, NULL))
				continue;
			ocr_validate_field(&f->spec, txt[i], o->payload, o->today,
			    &vr);
			if (vr.status == OCR_FS_MISMATCH &&
			    !ocr_text_equal(vr.value, want, false, NULL))
				return true;
		}
	return false;
}

/*
 * The legacy classifier's read of places pl[0..np) of a line (line, on
 * page pg), each alone (PSM_SINGLE_CHAR): true when every one reads its
 * want, nothing else, at OCR_VERIFY_SECOND_MIN_CONF or more; v holds
 * each read, and why. With binarise, each place is cut out and
 * binarised first (ocr_crop_binarised) - only for places found from the
 * ink (division_place), which hold whole characters: a place from the
 * LSTM's drifting symbol boxes can hold part of one, and binarised the
 * legacy engine read 寿 of 涛 so (a card of 赵平涛 accepted for 赵平寿,
 * seed 43's look-alike defect). With margin (names), the engine made to
 * read the LSTM's character at the place must fit it clearly worse
 * (OCR_VERIFY_SECOND_MARGIN): a look-alike name is another person. An
 * address has no such other: 侯 and 候 fit UKai's glyph at 79 and 74.
 */
static bool
read_places(struct ocr_check_opts *o, struct page *pages, int pg,
    const int line[4], const struct ocr_verify_place *pl, int np,
    bool binarise, bool margin, struct ocr_verify *v)
{
	const char *dp = ocr_legacy_tessdata();
	void *api;
	struct err e;

	if (dp == NULL) {
		snprintf(v->why, sizeof(v->why), "no legacy-engine model");
		return false;
	}
	if ((api = ocr_engine_acquire_legacy(dp, "chi_sim", &e)) == NULL) {
		snprintf(v->why, sizeof(v->why), "%.120s", e.msg);
		return false;
	}
	for (int k = 0; k < np; k++) {
		int box[4] = { pl[k].x0, line[1], pl[k].x1 - pl[k].x0, line[3] };
		int whole[4] = { 0, 0, box[2], box[3] };
		struct ocr_verify_diff *d = &v->diff[v->ndiff++];
		struct ocr_lineread lr, lr2;
		PIX *bin = binarise && box[2] >= 4 ?
		    ocr_crop_binarised(pages[pg].pix, box) : NULL;
		bool cut = !binarise || bin != NULL;
		char got[16];
		int rc;

		d->pos = pl[k].pos;
		snprintf(d->read, sizeof(d->read), "%s", pl[k].read);
		snprintf(d->want, sizeof(d->want), "%s", pl[k].want);
		d->read_conf = pl[k].read_conf;
		d->want_conf = -1;
		rc = box[2] < 4 || !cut ? -1 : ocr_box_read(api, binarise ? bin :
		    pages[pg].pix, pages[pg].q.read_dpi, binarise ? whole : box,
		    PSM_SINGLE_CHAR, "", "", false, 5000, &lr, &o->recognise_ms,
		    &e);
		if (rc < 0) {
			snprintf(v->why, sizeof(v->why), "%s: %.90s", pl[k].read,
			    box[2] < 4 ? "no room to read it alone" : !cut ?
			    "its box is off the page" : e.msg);
			pixDestroy(&bin);
			return false;
		}
		compact_of(lr.text, got, sizeof(got));
		if (strcmp(got, pl[k].want) != 0) {
			snprintf(v->why, sizeof(v->why), "the second engine read "
			    "%s alone as %s, not %s", pl[k].read, got[0] != '\0' ?
			    got : "nothing", pl[k].want);
			pixDestroy(&bin);
			return false;
		}
		d->want_conf = lr.word_conf;
		if (lr.word_conf < OCR_VERIFY_SECOND_MIN_CONF) {
			snprintf(v->why, sizeof(v->why), "the second engine read "
			    "%s alone as %s at %.0f < %.0f", pl[k].read, got,
			    lr.word_conf, OCR_VERIFY_SECOND_MIN_CONF);
			pixDestroy(&bin);
			return false;
		}
		/* made to read the LSTM's character there, the engine must
		 * find it a clearly worse fit: 吴 and 昊 both fit either
		 * glyph (Noto Sans, a card of 吴洋磊 was accepted for 昊洋磊,
		 * seed 47), 舌 for 磊 does not */
		if (margin && ocr_u8len((unsigned char)pl[k].read[0]) ==
		    strlen(pl[k].read) && ocr_box_read(api, binarise ? bin :
		    pages[pg].pix, pages[pg].q.read_dpi, binarise ? whole : box,
		    PSM_SINGLE_CHAR, pl[k].read, "", false, 5000, &lr2,
		    &o->recognise_ms, &e) == 0) {
			compact_of(lr2.text, got, sizeof(got));
			if (strcmp(got, pl[k].read) == 0 && lr2.word_conf >
			    lr.word_conf - OCR_VERIFY_SECOND_MARGIN) {
				snprintf(v->why, sizeof(v->why), "the second engine "
				    "read %s alone as %s at %.0f, and as %s at %.0f",
				    pl[k].read, pl[k].want, lr.word_conf, got,
				    lr2.word_conf);
				pixDestroy(&bin);
				return false;
			}
		}
		pixDestroy(&bin);
	}
	v->ok = true;
	snprintf(v->why, sizeof(v->why), "the second engine read %s where the "
	    "LSTM read %.12s%s%.12s", np == 1 ? pl[0].want : "the case's "
	    "characters", pl[0].read, np > 1 ? " and " : "", np > 1 ?
	    pl[1].read : "");
	return true;
}

/* The characters of s, its spaces aside. */
static int
chars_in(const char *s)
{
	int n = 0;

	for (const char *p = s; *p != '\0'; p += strnlen(p,
	    ocr_u8len((unsigned char)*p)))
		n += *p != ' ';
	return n;
}

/* The characters of f's label, its spaces aside. */
static int
label_chars(const struct ocr_tfield *f)
{
	return f->spec.label != NULL ? chars_in(f->spec.label) : 0;
}

static bool cells_place(PIX *pix, int line[4], int skip, int at, int nvalue,
    struct ocr_verify_place *pl, struct ocr_verify *v);

/*
 * The second engine, a character at a time: where the LSTM's read of a
 * name (sym, on line of page pg) differs from the case's, the legacy
 * classifier reads that place alone (ocr_verify_places, read_places).
 * On the whole line it cuts wide characters in two (郭 as 享_蘑, 胡 as
 * 苔更丿弓), so a name of them is never read as the case's; a place at a
 * time, it reads only the character in question. false (v->why says
 * why) unless every place reads the case's character.
 */
static bool
verify_places(struct ocr_check_opts *o, struct page *pages, int pg,
    const int line[4], const struct ocr_linesym *sym, int nsym,
    const char *want, int skip, struct ocr_verify *v)
{
	struct ocr_verify_place pl[2];
	int np, nw, box[4];

	memset(v, 0, sizeof(*v));
	if (ocr_legacy_tessdata() == NULL || pages[pg].pix == NULL ||
	    line[2] <= 0)
		return false;
	if ((np = ocr_verify_places(want, sym, nsym, line, pl, v->why,
	    sizeof(v->why))) <= 0)
		return false;
	nw = chars_in(want);
	/* each place a whole character of the ink, the name as many */
	for (int k = 0; k < np; k++) {
		memcpy(box, line, sizeof(box));
		if (!cells_place(pages[pg].pix, box, skip, skip + pl[k].pos, nw,
		    &pl[k], v))
			return false;
	}
	return read_places(o, pages, pg, box, pl, np, false, true, v);
}

/* verify_places on one of a name's line reads: the value's line, or
 * (label) the label and value read as one. */
static bool
places_of_read(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, const struct fstate *fs, bool label,
    const char *want, struct ocr_verify *v)
{
	if (label)
		return verify_places(o, pages, fs->h.page, fs->label_box,
		    fs->line_sym, fs->line_nsym, want, label_chars(f), v);
	return verify_places(o, pages, fs->line_page, fs->line_box,
	    fs->line.sym, fs->line.nsym < 128 ? fs->line.nsym : 128, want, 0,
	    v);
}

/* v, by rule, on the value's line or (label) the label's: the field's
 * verification evidence. */
static void
verify_keep(struct fstate *fs, const struct ocr_verify *v, const char *rule,
    bool label)
{
	fs->verify_tried = true;
	fs->verify = *v;
	fs->verify_rule = rule;
	fs->verify_read = label ? "label_line" : "value_line";
	snprintf(fs->verify_raw, sizeof(fs->verify_raw), "%s", label ?
	    fs->line_raw : fs->line.text);
}

/* Whether the second engine's read of the whole value line, as many
 * characters as want, has at a place of v the LSTM's character, not the
 * case's: read alone, a place cut from drifting symbol boxes can hold
 * part of a character (寿 of 涛: a card of 林兰涛 was accepted for a
 * case of 林兰寿, seed 47's look-alike defect), and the engine's own
 * read of the line says otherwise. */
static bool
whole_line_says_read(const struct fstate *fs, const char *want,
    const struct ocr_verify *v)
{
	char ch[64][8];
	int n = 0;

	for (const char *p = fs->verify_second_raw; *p != '\0'; ) {
		size_t l = ocr_u8len((unsigned char)*p);

		if (*p != ' ' && n < 64)
			snprintf(ch[n++], sizeof(ch[0]), "%.*s", (int)l, p);
		p += strnlen(p, l);
	}
	if (n == 0 || n != chars_in(want))
		return false;
	for (int k = 0; k < v->ndiff; k++)
		if (v->diff[k].pos < n && strcmp(ch[v->diff[k].pos],
		    v->diff[k].read) == 0)
			return true;
	return false;
}

/*
 * The whole line did not verify the name (or was not read): the second
 * engine a character at a time (verify_places), on the value's line,
 * then on the label and value read as one. Its verdict goes to
 * verify_second_why, after the whole line's.
 */
static void
verify_by_place(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, struct fstate *fs, const char *want)
{
	struct ocr_verify v = { 0 };
	bool ok = false, label = false;
	size_t l;

	if (fs->reads.reread)
		ok = places_of_read(f, o, pages, fs, false, want, &v);
	if (!ok && fs->line_read) {
		label = true;
		ok = places_of_read(f, o, pages, fs, true, want, &v);
	}
	if (ok && whole_line_says_read(fs, want, &v)) {
		ok = false;
		snprintf(v.why, sizeof(v.why), "read alone as the case's, but "
		    "the second engine's whole line (%.24s) has the LSTM's "
		    "character there", fs->verify_second_raw);
	}
	if (v.why[0] == '\0')
		return;
	l = strlen(fs->verify_second_why);
	snprintf(fs->verify_second_why + l, sizeof(fs->verify_second_why) - l,
	    "%sby character: %s", l > 0 ? "; " : "", v.why);
	if (ok)
		verify_keep(fs, &v, "second_engine_chars", label);
}

/*
 * The alternatives did not verify the name: ask Tesseract's other
 * recogniser. chi_sim's LSTM reads 磊 as 舌, 乔, 大 or 硕 in most faces
 * and never lists it among its alternatives; its legacy classifier reads
 * the same line right (bench/ocr_fonts.sh, docs/BENCHMARKS.md). Only
 * with the legacy model installed (ocr_legacy_tessdata); the evidence
 * says when it is not.
 */
static void
field_verify_second(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, struct fstate *fs, const char *want)
{
	struct ocr_verify v;
	char first[512];
	float fconf[64];
	size_t len = 0;
	int nf = 0;

	if (lstm_settled(fs, o, f, want)) {
		snprintf(fs->verify_second_why, sizeof(fs->verify_second_why),
		    "not asked: two LSTM reads agree on another name at %.0f or "
		    "more", OCR_VERIFY_SECOND_SETTLED);
		return;
	}
	if (second_engine_read(o, pages, fs) < 0) {
		if (fs->verify_second_why[0] == '\0')
			verify_by_place(f, o, pages, fs, want);
		return;
	}
	/* the LSTM's characters and their confidences, as the rule counts
	 * them (no spaces, no colon) */
	for (int k = 0, n = fs->line.nsym < 128 ? fs->line.nsym : 128;
	    k < n && nf < 64; k++) {
		const char *c = fs->line.sym[k].t;
		size_t cl = strlen(c);

		if (no_char(c) || len + cl + 1 > sizeof(first))
			continue;
		memcpy(first + len, c, cl);
		len += cl;
		fconf[nf++] = fs->line.sym[k].conf;
	}
	first[len] = '\0';
	ocr_verify_second(want, fs->verify_second_raw, fs->verify_second_conf,
	    first, fconf, OCR_VERIFY_SECOND_MIN_CONF, &v);
	snprintf(fs->verify_second_why, sizeof(fs->verify_second_why), "%s",
	    v.why);
	if (v.ok) {
		verify_keep(fs, &v, "second_engine", false);
		return;
	}
	verify_by_place(f, o, pages, fs, want);
}

/*
 * A name still not the case's after three reads: does the document say
 * the case's name? Asked of the label-and-value read first (the LSTM
 * reads a name best in context), then of the value's own line, with the
 * rule of ocr_verify_expected. Verified, the field is the case's name
 * (sure, as a name read exactly as the case has it); either way the
 * field's evidence says what was compared and why.
 */
static void
field_verify(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, struct fstate *fs)
{
	struct ocr_verify_rule rule;
	struct ocr_verify v;
	struct ocr_vresult vr;
	char want[256];

	fs->verify_tried = false;
	fs->verify_rule = "alternatives";
	if (fs->vr.status != OCR_FS_MISMATCH || !verifiable(f, o->payload) ||
	    !ocr_payload_string(o->payload, f->spec.match, want, sizeof(want)))
		return;
	ocr_verify_rule_default(&rule);
	if (fs->line_read && fs->line_nsym > 0) {
		fs->verify_tried = true;
		ocr_verify_expected(want, fs->line_sym, fs->line_nsym, &rule,
		    &fs->verify);
		fs->verify_read = "label_line";
		snprintf(fs->verify_raw, sizeof(fs->verify_raw), "%s",
		    fs->line_raw);
	}
	if ((!fs->verify_tried || !fs->verify.ok) && fs->reads.reread &&
	    fs->line.nsym > 0) {
		ocr_verify_expected(want, fs->line.sym, fs->line.nsym < 128 ?
		    fs->line.nsym : 128, &rule, &v);
		if (!fs->verify_tried || v.ok) {
			fs->verify = v;
			fs->verify_read = "value_line";
			snprintf(fs->verify_raw, sizeof(fs->verify_raw), "%s",
			    fs->line.text);
		}
		fs->verify_tried = true;
	}
	if (fs->verify_tried && !fs->verify.ok)
		field_verify_second(f, o, pages, fs, want);
	if (!fs->verify_tried || !fs->verify.ok)
		return;
	ocr_validate_field(&f->spec, want, o->payload, o->today, &vr);
	if (vr.status != OCR_FS_OK || !vr.matched || vr.folded)
		return;
	fs->vr = vr;
	snprintf(fs->vr.code, sizeof(fs->vr.code), "match.verified");
	snprintf(fs->vr.message, sizeof(fs->vr.message),
	    strncmp(fs->verify_rule, "second_engine", 13) == 0 ?
	    "与案件数据一致（第二识别引擎核对） / the case's \"%s\": "
	    "Tesseract's legacy engine read the case's name" :
	    "与案件数据一致（候选字符核对） / the case's \"%s\": the "
	    "differing characters were the reader's own alternatives",
	    f->spec.match);
	fs->low = ocr_field_unsure(&f->spec, &fs->vr, &fs->reads);
}

/*
 * A read of the case's name contradicted by another name read surely
 * (name_contradicted): the second engine reads each place where the
 * other name differs, alone (verify_places). Refuted when every such
 * read was the value's line or the label with the value - reads with
 * the symbol boxes that place the characters - and at every place the
 * legacy engine read the case's character at OCR_VERIFY_SECOND_MIN_CONF
 * or more. A page read of another name is not refuted: its characters
 * have no boxes here. In AR PL UKai 赵 is read 起 by the label's line
 * (赵涛军 as 起涛军 at 95), and 磊 兢; the look-alike defect of
 * bench/ocr_fonts.sh (高超平 printed, 高起平 the case) is what this
 * must not let through. The field's verify evidence says what the
 * second engine read, refuted or not.
 */
static bool
contradiction_refuted(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, struct fstate *fs)
{
	struct ocr_vresult vr;
	char want[256];
	int n = 0;

	if (!ocr_payload_string(o->payload, f->spec.match, want, sizeof(want)))
		return false;
	if (fs->first_found && other_name(f, o->payload, &fs->first_vr) &&
	    fs->first_conf >= f->spec.min_confidence)
		return false;
	for (int k = 0; k < 2; k++) {
		bool label = k == 1, ok;
		struct ocr_verify v = { 0 };

		if (!(label ? fs->line_read : fs->reads.reread))
			continue;
		ocr_validate_field(&f->spec, label ? fs->line_raw :
		    fs->line.text, o->payload, o->today, &vr);
		if (!other_name(f, o->payload, &vr) || (label ? fs->line_conf :
		    fs->line.word_conf) < f->spec.min_confidence)
			continue;
		ok = places_of_read(f, o, pages, fs, label, want, &v);
		verify_keep(fs, &v, "second_engine_chars", label);
		if (!ok)
			return false;
		n++;
	}
	return n > 0;
}

/* The confidence of the symbol of sym that is character pos of a value
 * (no_char symbols are none); -1 if the symbols have no such. */
static double
sym_conf_at(const struct ocr_linesym *sym, int nsym, int pos)
{
	for (int k = 0; k < nsym; k++) {
		const char *c = sym[k].t;

		if (no_char(c))
			continue;
		if (pos-- == 0)
			return ocr_u8len((unsigned char)c[0]) == strlen(c) ?
			    sym[k].conf : -1;
	}
	return -1;
}

/*
 * A name verified at some places (field_verify) is the case's only if
 * no sure read says otherwise at the others. In AR PL UKai a card
 * printed 赵磊刚 met a case of 起磊刚: the label's line read 起盐刚 (赵
 * read as the case's 起 at 92), the legacy engine read 磊 where it read
 * 盐, and the value's line, 赵大刚 with 赵 at 99, went unweighed (seed
 * 43's look-alike defect, bench/ocr_fonts.sh). So each of the LSTM's
 * reads (lstm_reads) that is another name as long as the case's and
 * differs from it at a place the verification did not read, that
 * character read at the field's min_confidence or more (the page's read,
 * which has no symbols here: the read's), contradicts the verification -
 * unless it is a line read and the second engine, reading each place
 * where it differs alone, reads the case's characters (places_of_read,
 * as contradiction_refuted does): then it is the read's misreading, not
 * the document's other name. Returns the confidence of the surest read
 * that stands, -1 if none; why gets what was weighed.
 */
static double
verified_contradicted(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, const struct fstate *fs, const char *want,
    char *why, size_t nwhy)
{
	const char *raw[3];
	double conf[3], best = -1;
	int n = lstm_reads(fs, raw, conf);
	uint32_t w[64], r[64];
	size_t ow[65], orr[65];
	size_t nw = utf8_split(want, w, ow, 64), l, len;

	for (int k = 0; k < n; k++) {
		bool page = raw[k] == fs->first_raw, label = raw[k] ==
		    fs->line_raw, differs = false;
		double sure = -1;
		char rest[256];
		struct ocr_vresult vr;
		struct ocr_verify v = { 0 };

		ocr_validate_field(&f->spec, raw[k], o->payload, o->today, &vr);
		if (!other_name(f, o->payload, &vr) ||
		    utf8_split(vr.value, r, orr, 64) != nw)
			continue;
		/* the places the verification read are taken as this read
		 * has them: only the others are asked about */
		len = 0;
		for (size_t i = 0; i < nw; i++) {
			bool read = false;
			double c = page ? conf[k] : label ? sym_conf_at(
			    fs->line_sym, fs->line_nsym, (int)i) : sym_conf_at(
			    fs->line.sym, fs->line.nsym < 128 ? fs->line.nsym :
			    128, (int)i);
			const char *from = want + ow[i];
			size_t cl = ow[i + 1] - ow[i];

			for (int d = 0; d < fs->verify.ndiff; d++)
				read |= fs->verify.diff[d].pos == (int)i;
			if (c < 0)
				c = conf[k];
			if (r[i] != w[i] && !read &&
			    c >= f->spec.min_confidence) {
				differs = true;
				sure = c > sure ? c : sure;
			}
			if (read) {
				from = vr.value + orr[i];
				cl = orr[i + 1] - orr[i];
			}
			if (len + cl < sizeof(rest)) {
				memcpy(rest + len, from, cl);
				len += cl;
			}
		}
		rest[len] = '\0';
		if (!differs)
			continue;
		if (!page && places_of_read(f, o, pages, fs, label, rest, &v)) {
			l = strlen(why);
			snprintf(why + l, nwhy - l, "%s%.40s refuted: %s",
			    l > 0 ? "; " : "", vr.value, v.why);
			continue;
		}
		l = strlen(why);
		snprintf(why + l, nwhy - l, "%s%.40s (%s) stands: %s",
		    l > 0 ? "; " : "", vr.value, page ? "page" : label ?
		    "label_line" : "value_line", page ? "a page read has no "
		    "character boxes" : v.why);
		if (sure > best)
			best = sure;
	}
	return best;
}

/*
 * A read that is exactly the case's name is sure (ocr_field_unsure) -
 * unless another read of the same line was another name, read surely:
 * then the case's name may be the misread. In AR PL UKai 超 and 赵 are
 * read 起 by the value's line alone, so a case naming 高起平 met a card
 * printed 高超平 (page read 高超平 at 92) and was accepted
 * (bench/ocr_fonts.sh, look-alike defect). Sure from the field's own
 * min_confidence on. A name verified against the case's
 * (match.verified) is weighed by verified_contradicted instead.
 */
static void
name_contradicted(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, struct fstate *fs)
{
	char want[256], why[256] = "";
	double c;

	fs->contradicted = false;
	if (f->spec.type != OCR_F_NAME || f->spec.match == NULL ||
	    fs->vr.status != OCR_FS_OK || !fs->vr.matched)
		return;
	if (strcmp(fs->vr.code, "match.verified") == 0) {
		if (!ocr_payload_string(o->payload, f->spec.match, want,
		    sizeof(want)))
			return;
		c = verified_contradicted(f, o, pages, fs, want, why,
		    sizeof(why));
		if (why[0] != '\0') {
			size_t l = strlen(fs->verify_second_why);

			snprintf(fs->verify_second_why + l,
			    sizeof(fs->verify_second_why) - l, "%sother reads: "
			    "%s", l > 0 ? "; " : "", why);
		}
		if (c < 0)
			return;
		fs->other_conf = c;
	} else if (fs->other_conf < f->spec.min_confidence ||
	    contradiction_refuted(f, o, pages, fs))
		return;
	fs->contradicted = true;
	fs->low = true;
	fs->reads.agree = false;
	fs->reads.reread = true;
}

/*
 * Place pl - the at'th character cell of line (x, y, w, h) on pix, the
 * first skip of them a label's - from the ink's character cells
 * (ocr_char_cells) rather than from the LSTM's symbol boxes, which
 * drift by a character and more along a line of fourteen (亦 of 南京市
 * 亦武区 was cut out as 武) and can cut a character in two (寿 of 涛).
 * With nvalue > 0 the line holds that many characters after the label,
 * no more; otherwise at least the one after the place. Every cell up to
 * the value's last (or the one after the place) must be one character
 * wide, at the value's median pitch (the ink's height takes in a noisy
 * page's specks): a cell split or joined by the ink puts the place
 * elsewhere, and then nothing is read. line's rows become the ink's and
 * a sixth of them around. false, why in v, when the cells do not say.
 */
static bool
cells_place(PIX *pix, int line[4], int skip, int at, int nvalue,
    struct ocr_verify_place *pl, struct ocr_verify *v)
{
	int cell[96][2], band[2], n, h, last, pitch, p[96], np = 0;

	last = nvalue > 0 ? skip + nvalue - 1 : at + 1;
	if (pix == NULL || (n = ocr_char_cells(pix, line, cell, 96, band)) <
	    0) {
		snprintf(v->why, sizeof(v->why), "no line of ink to find %s in",
		    pl->read);
		return false;
	}
	h = band[1];
	if (last >= n || (nvalue > 0 && n != skip + nvalue) || at > last) {
		snprintf(v->why, sizeof(v->why), "%d character cells on the line,"
		    " %s is the %dth of %d", n, pl->read, at + 1, last + 1);
		return false;
	}
	for (int k = skip + 1; k <= last; k++) {
		int x = cell[k][0] - cell[k - 1][0], j = np++;

		for (; j > 0 && p[j - 1] > x; j--)
			p[j] = p[j - 1];
		p[j] = x;
	}
	pitch = np > 0 ? p[np / 2] : cell[skip][1] - cell[skip][0];
	/* the label's cells too: one of them split would put the place on
	 * the character before it */
	for (int k = 0; k <= last; k++) {
		int cw = cell[k][1] - cell[k][0];
		int pk = k > 0 && k != skip ? cell[k][0] - cell[k - 1][0] : pitch;

		if (pitch <= 0 || cw * 20 < pitch * 9 || pk * 4 < pitch * 3 ||
		    pk * 20 > pitch * 27) {
			snprintf(v->why, sizeof(v->why), "the character cells up "
			    "to %s are not one character each", pl->read);
			return false;
		}
	}
	pl->x0 = at > 0 ? (cell[at - 1][1] + cell[at][0]) / 2 : cell[at][0] - 1;
	if (at + 1 < n)
		pl->x1 = (cell[at][1] + cell[at + 1][0] + 1) / 2;
	else
		pl->x1 = cell[at][1] + pitch / 5 < line[0] + line[2] ?
		    cell[at][1] + pitch / 5 : line[0] + line[2];
	if (at == skip && at > 0 && pl->x0 < cell[at][0] - pitch / 5)
		pl->x0 = cell[at][0] - pitch / 5;
	line[1] = band[0] - h / 6 > line[1] ? band[0] - h / 6 : line[1];
	line[3] = h + h / 3;
	return true;
}

/*
 * Where read (an address, spaces out) and want (it with one character
 * the divisions' table's) differ, as a place of line (x, y, w, h) on
 * pix, from the ink's character cells (ocr_char_cells): the LSTM's
 * symbol boxes drift by a character and more along a line of fourteen,
 * and the second engine then reads the character beside (亦 of 南京市亦
 * 武区 read 武). On the label's line read (label) the label's characters
 * come first. Every cell up to the one after the place must be one
 * character wide, at one pitch (the label's apart from the value's): a
 * cell split or joined by the ink puts the place elsewhere, and then
 * nothing is read. false, why in v, when
 * the cells do not say where it is.
 */
static bool
division_place(const struct ocr_tfield *f, PIX *pix, int line[4],
    bool label, const char *read, const char *want,
    struct ocr_verify_place *pl, struct ocr_verify *v)
{
	int pos = 0, skip = 0, at;
	const char *r = read, *w = want;

	memset(pl, 0, sizeof(*pl));
	while (*r != '\0' && *w != '\0') {
		size_t lr = ocr_u8len((unsigned char)*r);
		size_t lw = ocr_u8len((unsigned char)*w);

		if (lr != lw || memcmp(r, w, lr) != 0) {
			snprintf(pl->read, sizeof(pl->read), "%.*s", (int)lr, r);
			snprintf(pl->want, sizeof(pl->want), "%.*s", (int)lw, w);
			break;
		}
		r += lr;
		w += lw;
		pos++;
	}
	pl->pos = pos;
	if (label)
		skip = label_chars(f);
	at = skip + pos;
	return cells_place(pix, line, skip, at, -1, pl, v);
}

/* The least confidence of a line read's characters (sym, no_char
 * symbols aside) but the pos'th; whole, the read's own, when the
 * symbols are not one per character of read. */
static double
conf_but(const struct ocr_linesym *sym, int nsym, const char *read,
    int pos, double whole)
{
	double c = 100;
	int nch = chars_in(read), i = 0;

	for (int k = 0; k < nsym; k++) {
		if (no_char(sym[k].t))
			continue;
		if (ocr_u8len((unsigned char)sym[k].t[0]) != strlen(sym[k].t))
			return whole;
		if (i++ != pos && sym[k].conf < c)
			c = sym[k].conf;
	}
	return i == nch && pos < nch ? c : whole;
}

/*
 * An address whose chain of divisions breaks one character off a real
 * one (ocr_divisions_near): chi_sim reads AR PL UKai's 侯 as 候 in
 * every read, and never lists 侯 among its alternatives there, so 成都市
 * 武侯区 is read 成都市武候区 at 92. The second engine reads that place
 * alone, found from the ink (division_place) and binarised
 * (read_places), on a line read whose other characters reach the
 * field's min_confidence - the label with the value, then the value's
 * line. Verified when it reads the table's character there at
 * OCR_VERIFY_SECOND_MIN_CONF or more; the field is then that read with
 * the table's character ("address.verified"), and its raw what the LSTM
 * read. Never the nearest name alone: unverified,
 * the address escalates as read, with the second engine's read in its
 * verify evidence.
 */
static void
address_verify(const struct ocr_tfield *f, struct ocr_check_opts *o,
    struct page *pages, struct fstate *fs)
{
	if (f->spec.divisions == NULL || fs->vr.status != OCR_FS_INVALID ||
	    strcmp(fs->vr.code, "address.division") != 0 ||
	    ocr_legacy_tessdata() == NULL)
		return;
	for (int k = 0; k < 2; k++) {
		bool label = k == 0;
		const char *raw = label ? fs->line_raw : fs->line.text;
		const struct ocr_linesym *sym = label ? fs->line_sym :
		    fs->line.sym;
		int nsym = label ? fs->line_nsym : fs->line.nsym < 128 ?
		    fs->line.nsym : 128;
		int line[4], pg = label ? fs->h.page : fs->line_page;
		char read[512], want[512];
		struct ocr_verify v = { 0 };
		struct ocr_verify_place pl;
		struct ocr_vresult vr;
		double conf;
		bool ok;

		memcpy(line, label ? fs->label_box : fs->line_box, sizeof(line));
		if (!(label ? fs->line_read : fs->reads.reread) || line[2] <= 0)
			continue;
		compact_of(raw, read, sizeof(read));
		if (ocr_divisions_near(f->spec.divisions, read, want,
		    sizeof(want)) < 0)
			continue;
		ok = division_place(f, pages[pg].pix, line, label, read, want,
		    &pl, &v);
		/* the place is the second engine's to read; the rest the
		 * LSTM's, at the field's confidence */
		conf = conf_but(sym, nsym, read, pl.pos, label ? fs->line_conf :
		    fs->line.word_conf);
		pl.read_conf = (float)conf;
		if (conf < f->spec.min_confidence)
			continue;
		if (!ok || !read_places(o, pages, pg, line, &pl, 1, true, false,
		    &v)) {
			verify_keep(fs, &v, "second_engine_chars", label);
			continue;
		}
		ocr_validate_field(&f->spec, want, o->payload, o->today, &vr);
		if (vr.status != OCR_FS_OK)
			continue;
		verify_keep(fs, &v, "second_engine_chars", label);
		fs->vr = vr;
		snprintf(fs->vr.code, sizeof(fs->vr.code), "address.verified");
		snprintf(fs->vr.message, sizeof(fs->vr.message),
		    "住址经第二识别引擎核对 / the second engine read %s where "
		    "the LSTM read %s, which makes the divisions real",
		    pl.want, pl.read);
		snprintf(fs->h.raw, sizeof(fs->h.raw), "%s", raw);
		fs->conf = conf;
		fs->low = false;
		return;
	}
}

static json_t *
verify_json(const struct fstate *fs)
{
	json_t *d = json_array();

	for (int k = 0; k < fs->verify.ndiff; k++) {
		const struct ocr_verify_diff *x = &fs->verify.diff[k];

		json_array_append_new(d, json_pack("{s:i,s:s,s:f,s:s,s:o}",
		    "pos", x->pos, "read", x->read, "read_conf",
		    round(x->read_conf * 10) / 10, "want", x->want, "want_conf",
		    x->want_conf < 0 ? json_null() :
		    json_real(round(x->want_conf * 10) / 10)));
	}
	json_t *j = json_pack("{s:s,s:b,s:s,s:s,s:o,s:s}", "rule",
	    fs->verify_rule, "verified", fs->verify.ok, "read", fs->verify_read,
	    "raw", fs->verify_raw, "differ", d, "why", fs->verify.why);

	if (fs->verify_second_tried)
		json_object_set_new(j, "second_engine", json_pack("{s:s,s:f,s:s}",
		    "raw", fs->verify_second_raw, "confidence",
		    round(fs->verify_second_conf * 10) / 10, "why",
		    fs->verify_second_why));
	else if (fs->verify_second_why[0] != '\0')
		json_object_set_new(j, "second_engine", json_pack("{s:n,s:s}",
		    "raw", "why", fs->verify_second_why));
	return j;
}

/*
 * A field whose label the page did not find, found on an earlier field's
 * third read (keep_tail: 性别 女 民族 汉 read as one line, where the page
 * read 民族 as RR): what follows the label there is its read. An optional
 * field is then no longer taken for absent: read there and valid, it is
 * the value, as sure as the read's confidence makes it (as a page read);
 * nothing read after its label, it escalates. false if no earlier field's
 * line held its label.
 */
static bool
field_from_tail(const struct ocr_template *t, const struct ocr_tfield *f,
    size_t i, struct ocr_check_opts *o, struct fstate *fs)
{
	const struct fstate *src = NULL;
	struct fstate *me = &fs[i];

	for (size_t j = 0; j < i; j++)
		if (fs[j].tail_field == (int)i)
			src = &fs[j];
	if (src == NULL)
		return false;
	me->h.label_found = true;
	if (src->tail_raw[0] == '\0') {
		me->vr.status = OCR_FS_MISSING;
		me->vr.severity = OCR_SEV_ESCALATE;
		snprintf(me->vr.code, sizeof(me->vr.code), "field.not_found");
		snprintf(me->vr.message, sizeof(me->vr.message),
		    "标签后未识别出内容 its label was read on the line of %.60s,"
		    " but nothing after it", src->line_raw[0] != '\0' ?
		    src->line_raw : "another field");
		return true;
	}
	snprintf(me->line_raw, sizeof(me->line_raw), "%s", src->tail_raw);
	me->line_read = true;
	me->line_conf = src->tail_conf;
	ocr_validate_field(&f->spec, src->tail_raw, o->payload, o->today,
	    &me->vr);
	me->h.found = true;
	me->h.page = src->h.page;
	memcpy(me->h.box, src->tail_box, sizeof(me->h.box));
	memcpy(me->h.region, src->tail_box, sizeof(me->h.region));
	snprintf(me->h.raw, sizeof(me->h.raw), "%s", src->tail_raw);
	me->conf = src->tail_conf;
	me->reads.found = true;
	me->reads.conf = me->conf;
	me->reads.min_confidence = f->spec.min_confidence;
	me->reads.agree_confidence = t->quality.agree_confidence;
	return true;
}

static void
check_fields(void *api, const struct ocr_template *t, struct page *pages,
    int np, bool any_poor, struct ocr_check_opts *o, struct verdict *v,
    json_t *out)
{
	struct fstate *fs = xcalloc(t->nfields, sizeof(*fs));
	json_t *fields = json_array();

	for (size_t i = 0; i < t->nfields; i++)
		fs[i].tail_field = -1;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct ocr_tfield *f = &t->fields[i];
		struct hit *h = &fs[i].h;

		for (int p = 0; p < np && !h->found; p++) {
			if (!pages[p].recognised || (f->page > 0 &&
			    f->page != p + 1))
				continue;
			if (f->locate == OCR_LOC_LABEL)
				locate_label(t, f, &pages[p].pt, p, h);
			else if (f->locate == OCR_LOC_ZONE)
				locate_zone(f, &pages[p].pt, p,
				    (int)pixGetWidth(pages[p].pix),
				    (int)pixGetHeight(pages[p].pix), h);
			else
				locate_pattern(f, &pages[p].pt, p, h);
		}
		if (!h->found && !h->label_found && f->locate ==
		    OCR_LOC_LABEL) {
			find_label_again(api, t, f, pages, np, &fs[i]);
			o->recognise_ms += fs[i].extra_ms;
		}
		if (f->spec.type == OCR_F_AMOUNT_CN)
			fold_capital_numerals(h->raw);
		ocr_validate_field(&f->spec, h->found ? h->raw : "", o->payload,
		    o->today, &fs[i].vr);
		/* An identifier is only as sure as its least sure character:
		 * one misread digit makes another person's ID. */
		fs[i].conf = is_identifier(f->spec.type) ? h->sym_conf :
		    h->word_conf;
		if (!h->found && !h->label_found && field_from_tail(t, f, i,
		    o, fs)) {
			fs[i].low = ocr_field_unsure(&f->spec, &fs[i].vr,
			    &fs[i].reads);
			continue;
		}
		fs[i].first_found = h->found;
		fs[i].first_conf = fs[i].conf;
		fs[i].first_vr = fs[i].vr;
		snprintf(fs[i].first_raw, sizeof(fs[i].first_raw), "%s", h->raw);
		fs[i].other_conf = other_name(f, o->payload, &fs[i].vr) ?
		    fs[i].conf : -1;
		field_reread(api, t, f, pages, o, &fs[i]);
		fs[i].low = ocr_field_unsure(&f->spec, &fs[i].vr, &fs[i].reads);
		field_third_read(api, t, f, pages, o, &fs[i]);
		field_verify(f, o, pages, &fs[i]);
		name_contradicted(f, o, pages, &fs[i]);
		address_verify(f, o, pages, &fs[i]);
	}
	/* 大写金额 against the figures on the same document: agreement of
	 * two readings is surer than either's confidence; disagreement is a
	 * person's to look at. */
	for (size_t i = 0; i < t->nfields; i++) {
		const char *cc = t->fields[i].spec.cross_check;
		int64_t a, b;

		if (cc == NULL || fs[i].vr.status != OCR_FS_OK)
			continue;
		for (size_t j = 0; j < t->nfields; j++) {
			if (strcmp(t->fields[j].spec.name, cc) != 0 ||
			    fs[j].vr.status != OCR_FS_OK || fs[j].low)
				continue;
			if (ocr_parse_amount_cn(fs[i].vr.value, &a) < 0 &&
			    ocr_parse_amount(fs[i].vr.value, &a) < 0)
				continue;
			if (ocr_parse_amount(fs[j].vr.value, &b) < 0)
				continue;
			if (a == b) {
				fs[i].reads.cross_confirmed = true;
				fs[i].low = ocr_field_unsure(&t->fields[i].spec,
				    &fs[i].vr, &fs[i].reads);
				continue;
			}
			fs[i].vr.status = OCR_FS_INVALID;
			fs[i].vr.severity = OCR_SEV_ESCALATE;
			snprintf(fs[i].vr.code, sizeof(fs[i].vr.code),
			    "amount_cn.cross_check");
			{
				char sa[32], sb[32];

				ocr_format_amount(a, sa, sizeof(sa));
				ocr_format_amount(b, sb, sizeof(sb));
				snprintf(fs[i].vr.message, sizeof(fs[i].vr.message),
				    "大写金额与小写金额不符 the amount in words (%s)"
				    " differs from %s (%s)", sa, cc, sb);
			}
		}
	}
	check_from_id(t, fs);
	for (size_t i = 0; i < t->nfields; i++) {
		const struct ocr_tfield *f = &t->fields[i];
		struct ocr_vresult *vr = &fs[i].vr;

		if (fs[i].low) {
			if (vr->status == OCR_FS_OK || vr->status == OCR_FS_WARNING)
				vr->status = OCR_FS_LOW_CONFIDENCE;
			/* A misread is not the applicant's fault. */
			if (vr->severity != OCR_SEV_ESCALATE) {
				vr->severity = OCR_SEV_ESCALATE;
				snprintf(vr->code, sizeof(vr->code),
				    "field.low_confidence");
			}
			if (fs[i].contradicted)
				snprintf(vr->message, sizeof(vr->message),
				    "另一次识别为其他姓名 another read of the "
				    "line was another name, at confidence %.0f",
				    fs[i].other_conf);
			else
				snprintf(vr->message + strlen(vr->message),
				    sizeof(vr->message) - strlen(vr->message),
				    "%s识别置信度低 confidence %.0f < %.0f",
				    vr->message[0] ? "; " : "", fs[i].conf,
				    f->spec.min_confidence);
		}
		/* Blank is the applicant's to fix; unread is not: a label or
		 * pattern we did not find may be a misread, and a poor page
		 * may hide what was written. */
		if (vr->status == OCR_FS_MISSING && vr->severity ==
		    OCR_SEV_REJECT && (any_poor || f->locate == OCR_LOC_PATTERN ||
		    (f->locate == OCR_LOC_LABEL && !fs[i].h.label_found))) {
			vr->severity = OCR_SEV_ESCALATE;
			snprintf(vr->code, sizeof(vr->code), "%s",
			    any_poor ? "field.unreadable" : "field.not_found");
		}
		if (vr->severity >= OCR_SEV_ESCALATE)
			reason_add(v, vr->severity, vr->status ==
			    OCR_FS_MISSING ? "field.missing" : vr->status ==
			    OCR_FS_MISMATCH ? "field.mismatch" : vr->status ==
			    OCR_FS_LOW_CONFIDENCE ? "field.low_confidence" :
			    "field.invalid", f->spec.name, "%s: %s (%s)",
			    f->spec.label ? f->spec.label : f->spec.name,
			    vr->message, vr->code);
		{
			json_t *fj = field_json(f, &fs[i].h, vr, fs[i].conf);

			if (fs[i].reads.reread && fs[i].first_found)
				json_object_set_new(fj, "page_read", json_pack(
				    "{s:s,s:f}", "raw", fs[i].first_raw,
				    "confidence", round(fs[i].first_conf * 10) /
				    10));
			if (fs[i].reads.reread)
				json_object_set_new(fj, "second_read", json_pack(
				    "{s:s,s:f,s:b}", "raw", fs[i].line.text,
				    "confidence", round((is_identifier(
				    f->spec.type) ? fs[i].line.sym_conf :
				    fs[i].line.word_conf) * 10) / 10, "agree",
				    fs[i].reads.agree));
			if (fs[i].line_read)
				json_object_set_new(fj, "line_read", json_pack(
				    "{s:s,s:f,s:b}", "raw", fs[i].line_raw,
				    "confidence", round(fs[i].line_conf * 10) / 10,
				    "alone", fs[i].reads.alone));
			if (fs[i].verify_tried)
				json_object_set_new(fj, "verify",
				    verify_json(&fs[i]));
			if (vr->severity >= OCR_SEV_ESCALATE || fs[i].low)
				json_object_set_new(fj, "evidence", field_evidence(f,
				    &fs[i], pages, o->image_dir));
			json_array_append_new(fields, fj);
		}
	}
	json_object_set_new(out, "fields", fields);
	free(fs);
}

static const char *
verdict_name(enum ocr_severity s)
{
	return s == OCR_SEV_REJECT ? "reject" : s == OCR_SEV_ESCALATE ?
	    "escalate" : "accept";
}

json_t *
ocr_check_file(const char *path, const struct ocr_template *t,
    struct ocr_check_opts *o, struct err *e)
{
	struct verdict v = { json_array(), OCR_SEV_NONE };
	struct page *pages = NULL;
	struct ocr_doc doc;
	char reason[48], sha[65] = "";
	int64_t t0 = util_mono_ms();
	json_t *out, *pj = json_array();
	bool any_poor = false;
	int nblank = 0;
	void *api = NULL;
	struct err le;

	o->recognise_ms = 0;
	util_sha256_file(path, sha, &le);
	out = json_pack("{s:s,s:s,s:s,s:s,s:s}", "verdict", "escalate",
	    "template", t->name, "document_type", t->document_type, "file",
	    path, "sha256", sha);
	if (ocr_doc_load(path, &t->limits, &doc, reason, &le) < 0) {
		json_object_set_new(out, "mime", json_string(doc.mime));
		reason_add(&v, t->bad_input_escalates ? OCR_SEV_ESCALATE :
		    OCR_SEV_REJECT, reason, NULL, "无法读取文件 %s", le.msg);
		goto done;
	}
	json_object_set_new(out, "mime", json_string(doc.mime));
	if (doc.npages < t->min_pages || doc.npages > t->max_pages)
		reason_add(&v, OCR_SEV_REJECT, "pages.count", NULL, "页数不符"
		    " the document has %d page(s); %s expects %d to %d",
		    doc.npages, t->document_type, t->min_pages, t->max_pages);
	if ((api = ocr_engine_acquire(t->languages, e)) == NULL) {
		ocr_doc_clear(&doc);
		json_decref(out);
		json_decref(v.reasons);
		json_decref(pj);
		return NULL;
	}
	pages = xcalloc((size_t)doc.npages, sizeof(*pages));
	for (int i = 0; i < doc.npages && i < t->max_pages; i++) {
		struct page *pg = &pages[i];
		PIX *gray = ocr_page_normalise(doc.pages[i], doc.dpi[i], t,
		    &pg->q);
		struct ocr_pagequal nq = pg->q;
		struct err oe;
		int quads;

		if (gray == NULL) {
			reason_add(&v, OCR_SEV_ESCALATE, "input.corrupt", NULL,
			    "page %d cannot be converted to grey", i + 1);
			continue;
		}
		/* Tesseract's layout analysis says when lines run up or down
		 * the page, not which way: the page is read turned both ways
		 * and the reading Tesseract is surest of wins. (OSD with
		 * osd.traineddata was unsure on sparse forms, and its engine
		 * double-frees in TessBaseAPIEnd with Tesseract 5.3.0.) */
		if (build_page(api, gray, 0, t, o, pg, &oe) < 0)
			reason_add(&v, OCR_SEV_ESCALATE, "ocr.failed", NULL,
			    "page %d: %s", i + 1, oe.msg);
		quads = pg->recognised ? (4 - pg->pt.orientation) % 4 : 0;
		for (int k = 0; quads > 0 && k < 2 && pg->recognised; k++) {
			struct page alt;

			memset(&alt, 0, sizeof(alt));
			alt.q = nq;
			if (build_page(api, gray, (quads + 2 * k) % 4, t, o, &alt,
			    &oe) == 0 && alt.recognised && page_score(&alt) >
			    page_score(pg) + 5) {
				page_clear(pg);
				*pg = alt;
			} else
				page_clear(&alt);
		}
		pixDestroy(&gray);
		if (pg->q.blank)
			nblank++;
		if (page_quality(&v, pg, i + 1, t))
			any_poor = true;
		if (o->image_dir != NULL && pg->pix != NULL) {
			char *img;

			snprintf(pg->image, sizeof(pg->image), "page-%d.png", i + 1);
			img = xasprintf("%s/%s", o->image_dir, pg->image);
			if (util_mkdir_p(o->image_dir, 0755, &oe) < 0 ||
			    pixWrite(img, pg->pix, IFF_PNG) != 0)
				pg->image[0] = '\0';
			free(img);
		}
		json_array_append_new(pj, page_json(pg, i + 1, t));
	}
	if (nblank == doc.npages)
		reason_add(&v, OCR_SEV_REJECT, "page.blank", NULL, "上传的文件是"
		    "空白页 the upload is blank; scan the document again");
	else if (nblank > 0)
		reason_add(&v, OCR_SEV_WARN, "page.blank", NULL, "%d blank"
		    " page(s) left out", nblank);
	if (nblank < doc.npages && !identified(t, pages, doc.npages))
		reason_add(&v, OCR_SEV_ESCALATE, "document.type", NULL, "不像"
		    "是%s the upload does not look like a %s (none of its"
		    " identifying words were read)", t->document_type,
		    t->document_type);
	check_fields(api, t, pages, doc.npages, any_poor, o, &v, out);
	for (int i = 0; i < doc.npages; i++)
		page_clear(&pages[i]);
	free(pages);
	ocr_doc_clear(&doc);
done:
	if (json_object_get(out, "fields") == NULL)
		json_object_set_new(out, "fields", json_array());
	json_object_set_new(out, "pages", pj);
	json_object_set_new(out, "verdict", json_string(verdict_name(v.worst)));
	json_object_set_new(out, "reasons", v.reasons);
	o->total_ms = (double)(util_mono_ms() - t0);
	return out;
}
