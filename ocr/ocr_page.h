/*
 * ocr_page.h - internal to ocr/: one page's measurements and its
 * recognised text (page.c), used by the check (check.c).
 */
#ifndef CLERK_OCR_PAGE_H
#define CLERK_OCR_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "ocr.h"

typedef struct Pix PIX;

struct ocr_pagequal {
	int file_dpi;             /* from the file, 0 if none */
	int dpi;                  /* what we believe */
	const char *dpi_source;   /* "file", "page_size", "none" */
	double scale;             /* applied to reach ~300 DPI */
	double rscale;            /* then applied to reach preprocess.dpi */
	int read_dpi;             /* the resolution Tesseract is given */
	double glyph_height;      /* median, px at the file's resolution */
	double blur;
	double skew;
	bool skew_known, deskewed;
	double ink;
	bool blank;
	int background;           /* brightest minus darkest paper, 0-255 */
	bool background_fixed;    /* so uneven it was normalised */
	int rotation;             /* quarter-turns clockwise applied */
	int border;               /* white px added on each side */
	double mean_conf;
};

struct ocr_sym {
	char t[16];               /* UTF-8 */
	float conf;
	int box[4];               /* x, y, w, h */
	int word, line;
};

struct ocr_word {
	float conf;
	size_t first_sym, nsym;
	size_t line;
	int box[4];
};

struct ocr_line {
	size_t first_sym, nsym;
	int box[4];
	char *compact;            /* the line's symbols without spaces */
	int *cmap;                /* byte of compact -> symbol */
};

struct ocr_ptext {
	struct ocr_sym *s;
	size_t ns;
	struct ocr_word *w;
	size_t nw;
	struct ocr_line *l;
	size_t nl;
	double mean_conf;
	int orientation;          /* TessOrientation of most blocks */
};

/*
 * Grey, scaled to ~300 DPI when the template says so, its blur measured,
 * then scaled down to preprocess.dpi for reading; fills q.
 */
PIX *ocr_page_normalise(PIX *in, int file_dpi, const struct ocr_template *t,
    struct ocr_pagequal *q);
/* Measures ink and skew, then deskews, etc. per the template. */
PIX *ocr_page_prepare(PIX *gray, const struct ocr_template *t,
    struct ocr_pagequal *q);
int ocr_page_recognise(void *engine, PIX *pix, int dpi, int deadline_ms,
    struct ocr_ptext *pt, double *ms, struct err *e);
void ocr_ptext_clear(struct ocr_ptext *pt);

/* One field's box read again on its own. */
struct ocr_lineread {
	char text[512];           /* words joined as hit_fill joins them */
	double sym_conf;          /* least symbol confidence */
	double word_conf;         /* least word confidence */
	int nsym;
	struct {
		char t[16];
		int x0, x1;           /* left and right edge on the page */
		float conf;
	} sym[128];               /* the first 128 symbols */
};

/*
 * Reads box (x, y, w, h in pix) of pix as a single text line with only
 * the characters of whitelist ("" = any) and none of blacklist: a line on its own, with no
 * layout analysis to get wrong and fewer characters to confuse, usually
 * reads better and surer than the same characters on the full page.
 * 0, or -1 with e set; *ms grows by the time inside TessBaseAPIRecognize.
 */
int ocr_line_reread(void *engine, PIX *pix, int dpi, const int box[4],
    const char *whitelist, const char *blacklist, int deadline_ms,
    struct ocr_lineread *out, double *ms, struct err *e);
double ocr_ptext_glyph_height(const struct ocr_ptext *pt);

#endif
