/*
 * verify.c - does the document say the case's value? A name field with
 * a `match` asks that, not "what does it say?": when a line read of the
 * name differs from the case's name, the LSTM's own alternatives for the
 * differing characters (ocr_line_reread with choices) say whether the
 * case's characters were a real candidate there. The rule is strict on
 * purpose: a look-alike name (侯/候, 王/玉) is another person.
 */
#include <stdio.h>
#include <string.h>

#include "ocr_page.h"
#include "validate.h"

/* Whether s is a character of a value: a line read keeps the colon
 * after a label, and its spaces. */
static bool
counted(const char *s)
{
	return strcmp(s, " ") != 0 && strcmp(s, ":") != 0 &&
	    strcmp(s, "：") != 0;
}

void
ocr_verify_rule_default(struct ocr_verify_rule *r)
{
	r->min_alt = OCR_VERIFY_MIN_ALT;
	r->max_margin = OCR_VERIFY_MAX_MARGIN;
	r->min_same = OCR_VERIFY_MIN_SAME;
}

int
ocr_verify_expected(const char *want, const struct ocr_linesym *sym,
    int nsym, const struct ocr_verify_rule *rule, struct ocr_verify *out)
{
	char ch[64][16];
	size_t nch = 0, maxdiff;
	int k = 0;

	memset(out, 0, sizeof(*out));
	for (const char *p = want; *p != '\0'; ) {
		size_t l = ocr_u8len((unsigned char)*p);

		if (*p == ' ') {
			p++;
			continue;
		}
		if (nch == sizeof(ch) / sizeof(ch[0]) || strnlen(p, l) < l) {
			snprintf(out->why, sizeof(out->why), "case value too long "
			    "or not UTF-8");
			return -1;
		}
		memcpy(ch[nch], p, l);
		ch[nch++][l] = '\0';
		p += l;
	}
	/* Separators the line read kept (a colon after the label) are not
	 * characters of the value. */
	{
		int n = 0;

		for (int i = 0; i < nsym; i++)
			if (counted(sym[i].t))
				n++;
		if ((size_t)n != nch || nch == 0) {
			snprintf(out->why, sizeof(out->why), "%d characters read, "
			    "the case has %zu", n, nch);
			return -1;
		}
	}
	maxdiff = nch >= 4 ? 2 : 1;
	for (int i = 0; i < nsym; i++) {
		const struct ocr_linesym *s = &sym[i];
		const char *w;
		float self, alt = -1;

		if (!counted(s->t))
			continue;
		w = ch[k++];
		if (strcmp(s->t, w) == 0) {
			/* What agrees must itself be read surely: the rule
			 * vouches for the whole name, not one character. */
			if (s->conf < rule->min_same) {
				snprintf(out->why, sizeof(out->why), "%s read at "
				    "%.0f < %.0f", s->t, s->conf, rule->min_same);
				return -1;
			}
			continue;
		}
		if ((size_t)out->ndiff == maxdiff) {
			snprintf(out->why, sizeof(out->why), "more than %zu "
			    "characters differ", maxdiff);
			return -1;
		}
		for (int a = 0; a < s->nalt; a++)
			if (strcmp(s->alt[a].t, w) == 0)
				alt = s->alt[a].conf;
		self = s->self >= 0 ? s->self : s->conf;
		{
			struct ocr_verify_diff *d = &out->diff[out->ndiff++];

			d->pos = k - 1;
			snprintf(d->read, sizeof(d->read), "%s", s->t);
			snprintf(d->want, sizeof(d->want), "%s", w);
			d->read_conf = self;
			d->want_conf = alt;
		}
		if (alt < rule->min_alt) {
			if (alt < 0)
				snprintf(out->why, sizeof(out->why), "%s read, %s "
				    "not among its alternatives", s->t, w);
			else
				snprintf(out->why, sizeof(out->why), "%s read, %s "
				    "only at %.1f < %.1f", s->t, w, alt,
				    rule->min_alt);
			return -1;
		}
		if (self - alt > rule->max_margin) {
			snprintf(out->why, sizeof(out->why), "%s at %.1f, %s at "
			    "%.1f: the read is surer by more than %.0f", s->t,
			    self, w, alt, rule->max_margin);
			return -1;
		}
	}
	out->ok = true;
	snprintf(out->why, sizeof(out->why), "%d differing character%s "
	    "supported by the alternatives", out->ndiff, out->ndiff == 1 ? "" :
	    "s");
	return 0;
}

/* Splits s into its characters, spaces and colons left out; -1 when
 * there are more than cap or s is not UTF-8. */
static int
chars_of(const char *s, char (*ch)[16], int cap)
{
	int n = 0;

	for (const char *p = s; *p != '\0'; ) {
		size_t l = ocr_u8len((unsigned char)*p);

		if (*p == ' ' || *p == ':' || strncmp(p, "：", 3) == 0) {
			p += *p == ' ' || *p == ':' ? 1 : 3;
			continue;
		}
		if (n == cap || strnlen(p, l) < l || l >= 16)
			return -1;
		memcpy(ch[n], p, l);
		ch[n++][l] = '\0';
		p += l;
	}
	return n;
}

int
ocr_verify_second(const char *want, const char *second, double second_conf,
    const char *first, const float *first_conf, double min_conf,
    struct ocr_verify *out)
{
	char w[64][16], s[64][16], f[64][16];
	int nw, ns, nf, maxdiff;

	memset(out, 0, sizeof(*out));
	nw = chars_of(want, w, 64);
	ns = chars_of(second, s, 64);
	nf = chars_of(first, f, 64);
	if (nw <= 0 || ns < 0 || nf < 0) {
		snprintf(out->why, sizeof(out->why), "no characters to compare");
		return -1;
	}
	if (ns != nw) {
		snprintf(out->why, sizeof(out->why), "the second engine read %d "
		    "characters, the case has %d", ns, nw);
		return -1;
	}
	for (int i = 0; i < nw; i++)
		if (strcmp(s[i], w[i]) != 0) {
			snprintf(out->why, sizeof(out->why), "the second engine "
			    "read %s for %s", s[i], w[i]);
			return -1;
		}
	if (second_conf < min_conf) {
		snprintf(out->why, sizeof(out->why), "the second engine's read "
		    "at %.0f < %.0f", second_conf, min_conf);
		return -1;
	}
	if (nf != nw) {
		snprintf(out->why, sizeof(out->why), "the LSTM read %d "
		    "characters, the case has %d", nf, nw);
		return -1;
	}
	maxdiff = nw >= 4 ? 2 : 1;
	for (int i = 0; i < nw; i++) {
		struct ocr_verify_diff *d;

		if (strcmp(f[i], w[i]) == 0)
			continue;
		if (out->ndiff == maxdiff) {
			snprintf(out->why, sizeof(out->why), "the LSTM read differs "
			    "in more than %d characters", maxdiff);
			return -1;
		}
		d = &out->diff[out->ndiff++];
		d->pos = i;
		memcpy(d->read, f[i], sizeof(d->read));
		memcpy(d->want, w[i], sizeof(d->want));
		d->read_conf = first_conf != NULL ? first_conf[i] : -1;
		d->want_conf = (float)second_conf;
	}
	out->ok = true;
	snprintf(out->why, sizeof(out->why), "the second engine read the "
	    "case's name at %.0f; the LSTM differs in %d character%s",
	    second_conf, out->ndiff, out->ndiff == 1 ? "" : "s");
	return 0;
}

/* The x range of symbols a..b of sym (counted ones, by index in idx),
 * from halfway to the symbol before to halfway to the one after; the
 * line's ends at its ends. */
static void
place_range(const struct ocr_linesym *sym, const int *idx, int n, int a,
    int b, const int line[4], struct ocr_verify_place *p)
{
	p->x0 = a > 0 ? (sym[idx[a - 1]].x1 + sym[idx[a]].x0) / 2 : line[0];
	p->x1 = b + 1 < n ? (sym[idx[b]].x1 + sym[idx[b + 1]].x0 + 1) / 2 :
	    line[0] + line[2];
	if (p->x0 < line[0])
		p->x0 = line[0];
	if (p->x1 > line[0] + line[2])
		p->x1 = line[0] + line[2];
}

int
ocr_verify_places(const char *want, const struct ocr_linesym *sym,
    int nsym, const int line[4], struct ocr_verify_place *pl, char *why,
    size_t whylen)
{
	char w[64][16];
	int idx[128], nw, nf = 0, maxdiff, merge = -1;

	nw = chars_of(want, w, 64);
	for (int i = 0; i < nsym && nf < 128; i++)
		if (counted(sym[i].t))
			idx[nf++] = i;
	if (nw <= 0 || nf == 0) {
		snprintf(why, whylen, "no characters to compare");
		return -1;
	}
	maxdiff = nw >= 4 ? 2 : 1;
	/* One symbol more than the case has characters: two of them may be
	 * one character read as two (磊 as 和大); they are where the rest
	 * agrees with the case on both sides. */
	if (nf == nw + 1) {
		for (int j = 0; j < nw && merge < 0; j++) {
			int d = 0;

			for (int i = 0; i < nw; i++)
				if (i != j && strcmp(sym[idx[i < j ? i : i + 1]].t,
				    w[i]) != 0)
					d++;
			if (d < maxdiff)
				merge = j;
		}
		if (merge < 0) {
			snprintf(why, whylen, "%d characters read, the case has "
			    "%d, and no two of them stand for one of its", nf,
			    nw);
			return -1;
		}
	} else if (nf != nw) {
		snprintf(why, whylen, "%d characters read, the case has %d", nf,
		    nw);
		return -1;
	}
	{
		int np = 0;

		for (int i = 0; i < nw; i++) {
			int a = merge >= 0 && i > merge ? i + 1 : i;
			int b = i == merge ? a + 1 : a;
			struct ocr_verify_place *p;
			size_t len = 0;

			if (a == b && strcmp(sym[idx[a]].t, w[i]) == 0)
				continue;
			if (np == maxdiff) {
				snprintf(why, whylen, "more than %d characters "
				    "differ", maxdiff);
				return -1;
			}
			p = &pl[np++];
			memset(p, 0, sizeof(*p));
			p->pos = i;
			memcpy(p->want, w[i], sizeof(p->want));
			p->read_conf = 100;
			for (int k = a; k <= b; k++) {
				const struct ocr_linesym *s = &sym[idx[k]];
				size_t l = strlen(s->t);

				if (len + l < sizeof(p->read)) {
					memcpy(p->read + len, s->t, l + 1);
					len += l;
				}
				if (s->conf < p->read_conf)
					p->read_conf = s->conf;
			}
			place_range(sym, idx, nf, a, b, line, p);
		}
		if (np == 0)
			snprintf(why, whylen, "the read is the case's");
		return np;
	}
}
