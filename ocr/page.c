/*
 * page.c - one page: its quality measured (resolution, blur, skew, ink),
 * its orientation found and corrected, the preprocessing a template asks
 * for, and Tesseract's result read back as symbols, words and lines with
 * their boxes and confidences.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>
#include <tesseract/capi.h>

#include "ocr_page.h"

/* A4 is 8.27 x 11.69 inches; an upload that has A4's shape tells its
 * resolution by its size even when the file's metadata does not. */
static int
a4_dpi(int w, int h)
{
	double lo = w < h ? w : h, hi = w < h ? h : w;
	double ratio = hi / lo;

	if (ratio < 1.36 || ratio > 1.47)
		return 0;
	return (int)(hi / 11.69 + 0.5);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Sharpness: the variance of the Laplacian, per 64x64 tile that has ink,
 * and the 90th percentile over those tiles - so the white space of a form
 * does not make a sharp page look blurred.
 */
static double
blur_measure(PIX *gray)
{
	int w = pixGetWidth(gray), h = pixGetHeight(gray);
	int wpl = pixGetWpl(gray), T = 64;
	l_uint32 *data = pixGetData(gray);
	size_t nt = 0, cap = (size_t)((w / T + 1) * (h / T + 1));
	double *vals = xcalloc(cap, sizeof(*vals)), res;

	for (int ty = 1; ty + T < h - 1; ty += T)
		for (int tx = 1; tx + T < w - 1; tx += T) {
			int64_t sum = 0, sum2 = 0;
			int dark = 0, n = T * T;

			/* Most of a form is white: count the tile's ink first,
			 * four pixels a word (a byte under 128 has its top bit
			 * clear; the word-aligned columns tx-1 .. tx+62), and
			 * leave tiles under 0.5% (margin or gap) out. */
			for (int y = ty; y < ty + T && dark * 200 < n; y++) {
				l_uint32 *row = data + (size_t)y * wpl;

				for (int k = (tx - 1) / 4; k < (tx - 1 + T) / 4;
				    k++)
					dark += (int)((((~row[k] & 0x80808080u)
					    >> 7) * 0x01010101u) >> 24);
			}
			if (dark * 200 < n)
				continue;
			for (int y = ty; y < ty + T; y++) {
				l_uint32 *up = data + (size_t)(y - 1) * wpl;
				l_uint32 *row = data + (size_t)y * wpl;
				l_uint32 *dn = data + (size_t)(y + 1) * wpl;

				for (int x = tx; x < tx + T; x++) {
					int lap = GET_DATA_BYTE(up, x) +
					    GET_DATA_BYTE(dn, x) +
					    GET_DATA_BYTE(row, x - 1) +
					    GET_DATA_BYTE(row, x + 1) -
					    4 * GET_DATA_BYTE(row, x);

					sum += lap;
					sum2 += (int64_t)lap * lap;
				}
			}
			vals[nt++] = (double)sum2 / n - ((double)sum / n) *
			    ((double)sum / n);
		}
	if (nt == 0) {
		free(vals);
		return 0;
	}
	qsort(vals, nt, sizeof(*vals), cmp_double);
	res = vals[(nt * 9) / 10 < nt ? (nt * 9) / 10 : nt - 1];
	free(vals);
	return res;
}

/* Fraction of dark pixels, 3% margins left out (scanner edges). */
static double
ink_measure(PIX *bin)
{
	int w = pixGetWidth(bin), h = pixGetHeight(bin);
	int mx = w * 3 / 100, my = h * 3 / 100;
	BOX *box = boxCreate(mx, my, w - 2 * mx, h - 2 * my);
	PIX *c = pixClipRectangle(bin, box, NULL);
	l_int32 n = 0;

	boxDestroy(&box);
	if (c == NULL)
		return 0;
	pixCountPixels(c, &n, NULL);
	pixDestroy(&c);
	return (double)n / ((double)(w - 2 * mx) * (h - 2 * my));
}

/*
 * The page at preprocess.dpi for reading, when it has more: Tesseract's
 * fast models read the 30-40 px glyphs of 16 pt text at 150-180 DPI
 * better than the 60 px ones at 300 (吴磊超, not 吴乔超), and the page's
 * thresholding and layout analysis cost by the pixel.
 */
static void
reduce_for_reading(PIX **p, const struct ocr_template *t,
    struct ocr_pagequal *q)
{
	double have = q->dpi > 0 ? q->dpi * q->scale : 300, r;
	PIX *s;

	q->read_dpi = (int)(have + 0.5);
	/* A page whose resolution nobody knows (no metadata, not A4's
	 * shape: a photo of a card) is read as it is. */
	if (t->pre.dpi <= 0 || q->dpi <= 0 || have <= t->pre.dpi * 1.1)
		return;
	r = t->pre.dpi / have;
	if ((s = pixScaleAreaMap(*p, (float)r, (float)r)) == NULL)
		return;
	pixDestroy(p);
	*p = s;
	q->rscale = r;
	q->read_dpi = t->pre.dpi;
}

PIX *
ocr_page_normalise(PIX *in, int file_dpi, const struct ocr_template *t,
    struct ocr_pagequal *q)
{
	PIX *gray, *p;
	int w = pixGetWidth(in), h = pixGetHeight(in);
	int est = a4_dpi(w, h);

	/* an 8-bit grey page is used as it is, not copied */
	gray = pixGetDepth(in) == 8 && pixGetColormap(in) == NULL ?
	    pixClone(in) : pixConvertTo8(in, 0);
	memset(q, 0, sizeof(*q));
	q->file_dpi = file_dpi;
	q->dpi = file_dpi;
	q->dpi_source = "file";
	/* Metadata that is missing, or off by 2x from what the A4 size
	 * says (72 DPI written by a phone app on a 300 DPI scan), lies. */
	if (est > 0 && (file_dpi <= 0 || file_dpi > 2 * est || 2 * file_dpi <
	    est)) {
		q->dpi = est;
		q->dpi_source = "page_size";
	} else if (file_dpi <= 0) {
		q->dpi = 0;
		q->dpi_source = "none";
	}
	q->scale = 1;
	q->rscale = 1;
	if (gray != NULL && t->pre.scale && q->dpi > 0 && (q->dpi < 250 ||
	    q->dpi > 400)) {
		q->scale = 300.0 / q->dpi;
		if (q->scale > 4)
			q->scale = 4;
		p = q->scale > 1 ? pixScaleGrayLI(gray, (float)q->scale,
		    (float)q->scale) : pixScale(gray, (float)q->scale,
		    (float)q->scale);
		if (p != NULL) {
			pixDestroy(&gray);
			gray = p;
		} else
			q->scale = 1;
	}
	if (gray == NULL)
		return NULL;
	/* Sharpness at the page's own resolution (a page read at 150 DPI
	 * is judged by what was uploaded); the rest is measured on the
	 * page as it is read. */
	q->blur = blur_measure(gray);
	reduce_for_reading(&gray, t, q);
	return gray;
}

/*
 * How uneven the paper is: the page at a sixteenth, each pixel the
 * brightest within ~13 mm (a grey dilation: print is lost, paper stays),
 * and the brightest minus the darkest of that, margins left out. A scan
 * is ~0-20; a phone's photo lit from one side 80 and more, where one
 * threshold for the page turns its dark corner to solid ink.
 */
static int
background_range(PIX *gray)
{
	PIX *s = pixScaleAreaMap(gray, 1.0f / 16, 1.0f / 16), *d;
	int w, h, lo = 255, hi = 0;

	if (s == NULL)
		return 0;
	d = pixDilateGray(s, 5, 5);
	pixDestroy(&s);
	if (d == NULL)
		return 0;
	w = pixGetWidth(d);
	h = pixGetHeight(d);
	for (int y = h * 3 / 100 + 1; y < h - h * 3 / 100 - 1; y++)
		for (int x = w * 3 / 100 + 1; x < w - w * 3 / 100 - 1; x++) {
			l_uint32 v;

			pixGetPixel(d, x, y, &v);
			if ((int)v < lo)
				lo = (int)v;
			if ((int)v > hi)
				hi = (int)v;
		}
	pixDestroy(&d);
	return hi > lo ? hi - lo : 0;
}

PIX *
ocr_page_prepare(PIX *gray, const struct ocr_template *t,
    struct ocr_pagequal *q)
{
	PIX *bin = pixConvertTo1(gray, 128), *p = pixClone(gray), *r;
	float angle = 0, conf = 0;

	q->ink = bin ? ink_measure(bin) : 0;
	q->blank = q->ink < t->quality.min_ink;
	/* Leptonica trusts an angle from a score ratio of 3; a form's sparse
	 * lines score ~2 at a clear 4 degrees, so 2 it is. */
	if (bin != NULL && !q->blank && pixFindSkew(bin, &angle, &conf) == 0 &&
	    conf >= 2.0) {
		q->skew = angle;
		q->skew_known = true;
	}
	pixDestroy(&bin);
	/* Tesseract copes with a degree or so itself (the benchmark reads
	 * 0.8-degree pages as well unrotated); rotating costs ~75 ms. */
	if (t->pre.deskew && q->skew_known && fabs(q->skew) >= 1.0) {
		r = pixRotate(p, (float)(M_PI / 180.0 * q->skew),
		    L_ROTATE_AREA_MAP, L_BRING_IN_WHITE, 0, 0);
		if (r != NULL) {
			pixDestroy(&p);
			p = r;
			q->deskewed = true;
		}
	}
	/* Normalising the background of every page costs ~0.3 s and reads
	 * clean scans worse (docs/BENCHMARKS.md); a page lit unevenly (a
	 * phone's photo) is not read at all without it. */
	q->background = pixGetDepth(p) == 8 ? background_range(p) : 0;
	if ((t->pre.background || q->background > 60) &&
	    (r = pixBackgroundNormSimple(p, NULL, NULL)) != NULL) {
		pixDestroy(&p);
		p = r;
		q->background_fixed = true;
	}
	if (t->pre.binarise) {
		PIX *th = NULL;

		if (pixOtsuAdaptiveThreshold(p, 300, 300, 0, 0, 0.1f, NULL,
		    &th) == 0 && th != NULL) {
			pixDestroy(&p);
			p = th;
		}
	}
	if (t->pre.border) {
		q->border = 20;
		r = pixAddBorderGeneral(p, q->border, q->border, q->border,
		    q->border, pixGetDepth(p) == 1 ? 0 : 255);
		if (r != NULL) {
			pixDestroy(&p);
			p = r;
		} else
			q->border = 0;
	}
	return p;
}

void
ocr_ptext_clear(struct ocr_ptext *pt)
{
	for (size_t i = 0; i < pt->nl; i++) {
		free(pt->l[i].compact);
		free(pt->l[i].cmap);
	}
	free(pt->s);
	free(pt->w);
	free(pt->l);
	memset(pt, 0, sizeof(*pt));
}

static void
box_union(int *acc, const int *b, bool first)
{
	int x1, y1;

	if (first) {
		memcpy(acc, b, 4 * sizeof(int));
		return;
	}
	x1 = acc[0] + acc[2] > b[0] + b[2] ? acc[0] + acc[2] : b[0] + b[2];
	y1 = acc[1] + acc[3] > b[1] + b[3] ? acc[1] + acc[3] : b[1] + b[3];
	acc[0] = acc[0] < b[0] ? acc[0] : b[0];
	acc[1] = acc[1] < b[1] ? acc[1] : b[1];
	acc[2] = x1 - acc[0];
	acc[3] = y1 - acc[1];
}

int
ocr_page_recognise(void *engine, PIX *pix, int dpi, int deadline_ms,
    struct ocr_ptext *pt, double *ms, struct err *e)
{
	TessBaseAPI *api = engine;
	ETEXT_DESC *mon = TessMonitorCreate();
	TessResultIterator *ri;
	int64_t t0 = util_mono_ms();
	double confsum = 0;
	int rc, votes[4] = { 0, 0, 0, 0 };

	memset(pt, 0, sizeof(*pt));
	TessBaseAPISetPageSegMode(api, PSM_AUTO);
	TessBaseAPISetImage2(api, pix);
	TessBaseAPISetSourceResolution(api, dpi > 0 ? dpi : 300);
	TessMonitorSetDeadlineMSecs(mon, deadline_ms);
	rc = TessBaseAPIRecognize(api, mon);
	TessMonitorDelete(mon);
	*ms += (double)(util_mono_ms() - t0);
	if (rc != 0) {
		TessBaseAPIClear(api);
		if (util_mono_ms() - t0 >= deadline_ms)
			err_set(e, "recognition took longer than the template's"
			    " deadline of %d ms", deadline_ms);
		else
			err_set(e, "Tesseract could not recognise the page");
		return -1;
	}
	ri = TessBaseAPIGetIterator(api);
	if (ri != NULL) {
		const TessPageIterator *pi = TessResultIteratorGetPageIterator(ri);
		size_t cap_s = 0, cap_w = 0, cap_l = 0;

		do {
			char *txt = TessResultIteratorGetUTF8Text(ri, RIL_SYMBOL);
			struct ocr_sym *s;
			int l, tp, r, b;

			if (txt == NULL)
				continue;
			if (TessPageIteratorIsAtBeginningOf(pi, RIL_BLOCK)) {
				TessOrientation or = ORIENTATION_PAGE_UP;
				TessWritingDirection wd;
				TessTextlineOrder to;
				float da;

				TessPageIteratorOrientation((TessPageIterator *)pi,
				    &or, &wd, &to, &da);
				votes[(int)or & 3]++;
			}
			if (pt->nl == 0 || TessPageIteratorIsAtBeginningOf(pi,
			    RIL_TEXTLINE)) {
				if (pt->nl == cap_l) {
					cap_l = cap_l ? cap_l * 2 : 32;
					pt->l = xrealloc(pt->l, cap_l *
					    sizeof(*pt->l));
				}
				memset(&pt->l[pt->nl], 0, sizeof(pt->l[0]));
				pt->l[pt->nl].first_sym = pt->ns;
				pt->nl++;
			}
			if (pt->nw == 0 || TessPageIteratorIsAtBeginningOf(pi,
			    RIL_WORD) || pt->w[pt->nw - 1].line != pt->nl - 1) {
				if (pt->nw == cap_w) {
					cap_w = cap_w ? cap_w * 2 : 64;
					pt->w = xrealloc(pt->w, cap_w *
					    sizeof(*pt->w));
				}
				memset(&pt->w[pt->nw], 0, sizeof(pt->w[0]));
				pt->w[pt->nw].conf = TessResultIteratorConfidence(
				    ri, RIL_WORD);
				pt->w[pt->nw].line = pt->nl - 1;
				pt->w[pt->nw].first_sym = pt->ns;
				confsum += pt->w[pt->nw].conf;
				pt->nw++;
			}
			if (pt->ns == cap_s) {
				cap_s = cap_s ? cap_s * 2 : 256;
				pt->s = xrealloc(pt->s, cap_s * sizeof(*pt->s));
			}
			s = &pt->s[pt->ns];
			memset(s, 0, sizeof(*s));
			snprintf(s->t, sizeof(s->t), "%s", txt);
			TessDeleteText(txt);
			s->conf = TessResultIteratorConfidence(ri, RIL_SYMBOL);
			TessPageIteratorBoundingBox(pi, RIL_SYMBOL, &l, &tp, &r, &b);
			s->box[0] = l;
			s->box[1] = tp;
			s->box[2] = r - l;
			s->box[3] = b - tp;
			s->word = (int)pt->nw - 1;
			s->line = (int)pt->nl - 1;
			box_union(pt->w[pt->nw - 1].box, s->box,
			    pt->w[pt->nw - 1].nsym == 0);
			pt->w[pt->nw - 1].nsym++;
			box_union(pt->l[pt->nl - 1].box, s->box,
			    pt->l[pt->nl - 1].nsym == 0);
			pt->l[pt->nl - 1].nsym++;
			pt->ns++;
		} while (TessResultIteratorNext(ri, RIL_SYMBOL));
		TessResultIteratorDelete(ri);
	}
	TessBaseAPIClear(api);
	pt->mean_conf = pt->nw ? confsum / (double)pt->nw : 0;
	/* Layout analysis tells text lines that run up or down the page
	 * (a page scanned sideways); the majority of blocks decides. Lines
	 * taller than wide say the same when it does not. */
	for (int k = 1; k < 4; k++)
		if (votes[k] > votes[pt->orientation])
			pt->orientation = k;
	{
		size_t tall = 0, wide = 0;

		for (size_t i = 0; i < pt->nl; i++) {
			if (pt->l[i].nsym < 3)
				continue;
			if (pt->l[i].box[3] > pt->l[i].box[2])
				tall++;
			else
				wide++;
		}
		/* Tesseract 5.3 reads a sideways page but reports no boxes
		 * for its symbols. */
		for (size_t i = 0; i < pt->ns; i++)
			if (pt->s[i].box[2] == 0 && pt->s[i].box[3] == 0)
				tall++;
			else
				wide++;
		if (pt->orientation == 0 && tall > wide)
			pt->orientation = 1;
	}
	/* Compact line texts (no spaces) with a byte -> symbol map, where
	 * labels are looked up. */
	for (size_t i = 0; i < pt->nl; i++) {
		struct ocr_line *ln = &pt->l[i];
		size_t len = 0;

		for (size_t k = ln->first_sym; k < ln->first_sym + ln->nsym; k++)
			len += strlen(pt->s[k].t);
		ln->compact = xmalloc(len + 1);
		ln->cmap = xmalloc((len + 1) * sizeof(*ln->cmap));
		len = 0;
		for (size_t k = ln->first_sym; k < ln->first_sym + ln->nsym;
		    k++) {
			size_t n = strlen(pt->s[k].t);

			memcpy(ln->compact + len, pt->s[k].t, n);
			for (size_t j = 0; j < n; j++)
				ln->cmap[len + j] = (int)k;
			len += n;
		}
		ln->compact[len] = '\0';
		ln->cmap[len] = -1;
	}
	return 0;
}

double
ocr_ptext_glyph_height(const struct ocr_ptext *pt)
{
	double *h, med;
	size_t n = 0;

	if (pt->ns == 0)
		return 0;
	h = xcalloc(pt->ns, sizeof(*h));
	for (size_t i = 0; i < pt->ns; i++)
		if (pt->s[i].conf >= 60 && (unsigned char)pt->s[i].t[0] >= 0x80)
			h[n++] = pt->s[i].box[3];   /* CJK: full-height glyphs */
	if (n == 0)
		for (size_t i = 0; i < pt->ns; i++)
			if (pt->s[i].conf >= 60)
				h[n++] = pt->s[i].box[3];
	if (n == 0) {
		free(h);
		return 0;
	}
	qsort(h, n, sizeof(*h), cmp_double);
	med = h[n / 2];
	free(h);
	return med;
}

static bool
latin_or_digit(const char *t)
{
	unsigned char c = (unsigned char)t[0];

	return c < 0x80 && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || c == '.' || c == '-');
}

/* The symbol's alternatives other than what was read, surest first. */
static void
sym_choices(const TessResultIterator *ri, const char *read,
    struct ocr_linesym *sym)
{
	TessChoiceIterator *ci = TessResultIteratorGetChoiceIterator(ri);

	sym->nalt = 0;
	sym->self = -1;
	if (ci == NULL)
		return;
	do {
		const char *t = TessChoiceIteratorGetUTF8Text(ci);
		float c = TessChoiceIteratorConfidence(ci);
		int k;

		if (t != NULL && strcmp(t, read) == 0) {
			if (c > sym->self)
				sym->self = c;
			continue;
		}
		if (t == NULL || t[0] == '\0' ||
		    strlen(t) >= sizeof(sym->alt[0].t))
			continue;
		for (k = 0; k < sym->nalt && strcmp(sym->alt[k].t, t) != 0; k++)
			;
		if (k < sym->nalt) {
			if (c > sym->alt[k].conf)
				sym->alt[k].conf = c;
			continue;
		}
		if (sym->nalt == OCR_NALT && c <= sym->alt[OCR_NALT - 1].conf)
			continue;
		k = sym->nalt < OCR_NALT ? sym->nalt++ : OCR_NALT - 1;
		for (; k > 0 && sym->alt[k - 1].conf < c; k--)
			sym->alt[k] = sym->alt[k - 1];
		snprintf(sym->alt[k].t, sizeof(sym->alt[k].t), "%s", t);
		sym->alt[k].conf = c;
	} while (TessChoiceIteratorNext(ci));
	TessChoiceIteratorDelete(ci);
}

int
ocr_line_reread(void *engine, PIX *pix, int dpi, const int box[4],
    const char *whitelist, const char *blacklist, bool choices,
    int deadline_ms, struct ocr_lineread *out, double *ms, struct err *e)
{
	return ocr_box_read(engine, pix, dpi, box, PSM_SINGLE_LINE, whitelist,
	    blacklist, choices, deadline_ms, out, ms, e);
}

int
ocr_box_read(void *engine, PIX *pix, int dpi, const int box[4], int psm,
    const char *whitelist, const char *blacklist, bool choices,
    int deadline_ms, struct ocr_lineread *out, double *ms, struct err *e)
{
	TessBaseAPI *api = engine;
	ETEXT_DESC *mon;
	TessResultIterator *ri;
	BOX *b;
	PIX *crop, *framed;
	int64_t t0;
	int rc, border, lastword = -1;
	size_t len = 0;
	char prev[16] = "";

	memset(out, 0, sizeof(*out));
	out->sym_conf = out->word_conf = 100;
	if ((b = boxCreate(box[0], box[1], box[2], box[3])) == NULL) {
		err_set(e, "cannot make the field's box");
		return -1;
	}
	crop = pixClipRectangle(pix, b, NULL);
	boxDestroy(&b);
	if (crop == NULL) {
		err_set(e, "the field's box is off the page");
		return -1;
	}
	/* A white frame of half a line: Tesseract reads glyphs that touch
	 * the edge poorly. */
	border = box[3] / 2 + 4;
	framed = pixAddBorderGeneral(crop, border, border, border, border,
	    pixGetDepth(crop) == 1 ? 0 : 255);
	pixDestroy(&crop);
	if (framed == NULL) {
		err_set(e, "cannot frame the field's box");
		return -1;
	}
	TessBaseAPISetPageSegMode(api, (TessPageSegMode)psm);
	TessBaseAPISetVariable(api, "tessedit_char_whitelist", whitelist);
	TessBaseAPISetVariable(api, "tessedit_char_blacklist", blacklist);
	TessBaseAPISetVariable(api, "lstm_choice_mode", choices ? "2" : "0");
	TessBaseAPISetImage2(api, framed);
	TessBaseAPISetSourceResolution(api, dpi > 0 ? dpi : 300);
	mon = TessMonitorCreate();
	TessMonitorSetDeadlineMSecs(mon, deadline_ms);
	t0 = util_mono_ms();
	rc = TessBaseAPIRecognize(api, mon);
	*ms += (double)(util_mono_ms() - t0);
	TessMonitorDelete(mon);
	if (rc == 0 && (ri = TessBaseAPIGetIterator(api)) != NULL) {
		const TessPageIterator *pi = TessResultIteratorGetPageIterator(ri);
		int word = -1;

		do {
			char *txt = TessResultIteratorGetUTF8Text(ri, RIL_SYMBOL);
			size_t sl;
			float c;

			if (txt == NULL)
				continue;
			if (TessPageIteratorIsAtBeginningOf(pi, RIL_WORD) ||
			    word < 0) {
				word++;
				c = TessResultIteratorConfidence(ri, RIL_WORD);
				if (c < out->word_conf)
					out->word_conf = c;
			}
			sl = strlen(txt);
			if (word != lastword && lastword >= 0 &&
			    latin_or_digit(txt) && latin_or_digit(prev) &&
			    len + 1 < sizeof(out->text))
				out->text[len++] = ' ';
			lastword = word;
			if (len + sl + 1 < sizeof(out->text)) {
				memcpy(out->text + len, txt, sl);
				len += sl;
				c = TessResultIteratorConfidence(ri, RIL_SYMBOL);
				if (c < out->sym_conf)
					out->sym_conf = c;
				if (out->nsym < 128) {
					int l, tp, r, bt;

					TessPageIteratorBoundingBox(pi, RIL_SYMBOL,
					    &l, &tp, &r, &bt);
					snprintf(out->sym[out->nsym].t,
					    sizeof(out->sym[0].t), "%s", txt);
					out->sym[out->nsym].x0 = l - border + box[0];
					out->sym[out->nsym].x1 = r - border + box[0];
					out->sym[out->nsym].conf = c;
					if (choices)
						sym_choices(ri, txt,
						    &out->sym[out->nsym]);
				}
				out->nsym++;
			}
			snprintf(prev, sizeof(prev), "%s", txt);
			TessDeleteText(txt);
		} while (TessResultIteratorNext(ri, RIL_SYMBOL));
		TessResultIteratorDelete(ri);
	}
	out->text[len] = '\0';
	TessBaseAPIClear(api);
	TessBaseAPISetVariable(api, "tessedit_char_whitelist", "");
	TessBaseAPISetVariable(api, "tessedit_char_blacklist", "");
	TessBaseAPISetVariable(api, "lstm_choice_mode", "0");
	TessBaseAPISetPageSegMode(api, PSM_AUTO);
	pixDestroy(&framed);
	if (rc != 0) {
		err_set(e, "Tesseract could not read the field's line");
		return -1;
	}
	if (out->nsym == 0)
		out->sym_conf = out->word_conf = 0;
	return 0;
}

PIX *
ocr_crop_binarised(PIX *pix, const int box[4])
{
	BOX *b = boxCreate(box[0], box[1], box[2], box[3]);
	PIX *crop = b != NULL ? pixClipRectangle(pix, b, NULL) : NULL;
	PIX *bin = NULL, *g;

	boxDestroy(&b);
	if (crop == NULL)
		return NULL;
	if (pixGetDepth(crop) == 1)
		bin = pixClone(crop);
	else if ((g = pixConvertTo8(crop, 0)) != NULL) {
		if (pixGetWidth(g) < 16 || pixGetHeight(g) < 16 ||
		    pixOtsuAdaptiveThreshold(g, (int)pixGetWidth(g),
		    (int)pixGetHeight(g), 0, 0, 0.1f, NULL, &bin) != 0)
			bin = pixConvertTo1(g, 128);
		pixDestroy(&g);
	}
	pixDestroy(&crop);
	return bin;
}

/* The longest run of rows (gaps of up to two rows bridged) with two or
 * more ink pixels of bin; its first row in *top. */
static int
ink_band(PIX *bin, int *top)
{
	NUMA *rows = pixCountPixelsByRow(bin, NULL);
	int n = rows != NULL ? numaGetCount(rows) : 0, best = 0, start = -1,
	    last = -1;

	*top = 0;
	for (int y = 0; y <= n; y++) {
		int v = 0;

		if (y < n)
			numaGetIValue(rows, y, &v);
		if (y < n && v >= 2) {
			if (start < 0 || y - last > 3)
				start = y;
			last = y;
			if (last - start + 1 > best) {
				best = last - start + 1;
				*top = start;
			}
		}
	}
	numaDestroy(&rows);
	return best;
}

int
ocr_char_cells(PIX *pix, const int box[4], int (*cell)[2], int cap,
    int band_y[2])
{
	PIX *bin = ocr_crop_binarised(pix, box), *clean = NULL, *band = NULL;
	NUMA *cols = NULL;
	BOX *b;
	int n = -1, h, top, w, run0 = -1;

	/* specks of noise: nothing of a character is 3 pixels or less
	 * both ways at the 150 DPI a page is read at */
	if (bin == NULL || (clean = pixSelectBySize(bin, 3, 3, 8,
	    L_SELECT_IF_EITHER, L_SELECT_IF_GT, NULL)) == NULL)
		goto done;
	if ((h = ink_band(clean, &top)) < 6)
		goto done;
	band_y[0] = box[1] + top;
	band_y[1] = h;
	w = (int)pixGetWidth(clean);
	if ((b = boxCreate(0, top, w, h)) != NULL)
		band = pixClipRectangle(clean, b, NULL);
	boxDestroy(&b);
	if (band == NULL || (cols = pixCountPixelsByColumn(band)) == NULL)
		goto done;
	n = 0;
	for (int x = 0; x <= w; x++) {
		int v = 0;

		if (x < w)
			numaGetIValue(cols, x, &v);
		if (x < w && v > 0) {
			if (run0 < 0)
				run0 = x;
			continue;
		}
		if (run0 < 0)
			continue;
		/* a run joins the cell before it while the two fit in a
		 * square of the ink's height with a narrow gap between */
		if (n > 0 && x - cell[n - 1][0] + box[0] <= h * 23 / 20 &&
		    run0 + box[0] - cell[n - 1][1] <= h * 3 / 10)
			cell[n - 1][1] = x + box[0];
		else if (n < cap) {
			cell[n][0] = run0 + box[0];
			cell[n][1] = x + box[0];
			n++;
		}
		run0 = -1;
	}
done:
	numaDestroy(&cols);
	pixDestroy(&band);
	pixDestroy(&clean);
	pixDestroy(&bin);
	return n;
}
