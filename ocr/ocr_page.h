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

#define OCR_NALT 6

/* One symbol of a line read on its own. */
struct ocr_linesym {
	char t[16];
	int x0, x1;               /* left and right edge on the page */
	float conf;
	/* With choices: the LSTM's candidates for this symbol other than
	 * t, surest first, and t's own score on the same scale (0-100,
	 * TessChoiceIteratorConfidence; -1 if it was not among them) -
	 * what the line could also say, for verifying a read against the
	 * case's value. */
	float self;
	int nalt;
	struct {
		char t[16];
		float conf;
	} alt[OCR_NALT];
};

/* One field's box read again on its own. */
struct ocr_lineread {
	char text[512];           /* words joined as hit_fill joins them */
	double sym_conf;          /* least symbol confidence */
	double word_conf;         /* least word confidence */
	int nsym;
	struct ocr_linesym sym[128]; /* the first 128 symbols */
};

/*
 * Reads box (x, y, w, h in pix) of pix as a single text line with only
 * the characters of whitelist ("" = any) and none of blacklist; with
 * choices, each symbol's alternatives too (lstm_choice_mode 2, which
 * costs the beam search a little, so only when asked): a line on its own, with no
 * layout analysis to get wrong and fewer characters to confuse, usually
 * reads better and surer than the same characters on the full page.
 * 0, or -1 with e set; *ms grows by the time inside TessBaseAPIRecognize.
 */
int ocr_line_reread(void *engine, PIX *pix, int dpi, const int box[4],
    const char *whitelist, const char *blacklist, bool choices,
    int deadline_ms, struct ocr_lineread *out, double *ms, struct err *e);
/* The same with Tesseract's page segmentation mode psm (PSM_SINGLE_CHAR
 * for one glyph). */
int ocr_box_read(void *engine, PIX *pix, int dpi, const int box[4], int psm,
    const char *whitelist, const char *blacklist, bool choices,
    int deadline_ms, struct ocr_lineread *out, double *ms, struct err *e);
double ocr_ptext_glyph_height(const struct ocr_ptext *pt);

/*
 * Verification against the case's value (verify.c). A line read of a
 * name that differs from the case's name is taken as the case's name
 * only when: as many characters; every character that agrees read at
 * min_same or more; at most one differing character (two from four
 * characters on); and at each the case's character among the
 * alternatives at min_alt or more, and the read character no surer than
 * it by more than max_margin (a plausible other character read much
 * more surely is what the document says). Chosen on the tuning set of
 * bench/ocr_fonts.sh (docs/BENCHMARKS.md).
 */
#define OCR_VERIFY_MIN_ALT 20.0
#define OCR_VERIFY_MAX_MARGIN 40.0
#define OCR_VERIFY_MIN_SAME 80.0

struct ocr_verify_rule {
	double min_alt, max_margin, min_same;
};

struct ocr_verify_diff {
	int pos;                  /* 0-based character of the value */
	char read[16], want[16];
	float read_conf, want_conf; /* want_conf -1: not an alternative */
};

struct ocr_verify {
	bool ok;
	int ndiff;
	struct ocr_verify_diff diff[2];
	char why[128];            /* for the reviewer, either way */
};

void ocr_verify_rule_default(struct ocr_verify_rule *r);
/* 0 if sym (a value's symbols) verify want, else -1; out says why. */
int ocr_verify_expected(const char *want, const struct ocr_linesym *sym,
    int nsym, const struct ocr_verify_rule *rule, struct ocr_verify *out);

/*
 * The second engine's verdict (the legacy classifier, whose mistakes are
 * not the LSTM's): want is verified when the second engine's read of the
 * value's line is exactly want at min_conf or more, and the LSTM's read
 * of the same line (first; first_conf its characters' confidences, for
 * the evidence, or NULL) has as many characters, at most one of them
 * differing (two from four characters on). Two readers that work
 * differently then say the case's name; a look-alike (高超平 for 高起平)
 * would need the second one to misread the very character. 0 or -1; out
 * says why either way.
 */
#define OCR_VERIFY_SECOND_MIN_CONF 70.0
/* ... and made to read the LSTM's character there instead, it must fit
 * it by this much less (a glyph both fit is no evidence) */
#define OCR_VERIFY_SECOND_MARGIN 10.0
/* Two of the LSTM's reads of the same other name, each at this or more:
 * the LSTM is sure, and the second engine does not overrule it (the
 * legacy engine read a card of 吴勇芳 as 昊勇芳, a look-alike case's name,
 * where the LSTM read 吴勇芳 three times at 92-99). */
#define OCR_VERIFY_SECOND_SETTLED 80.0
int ocr_verify_second(const char *want, const char *second,
    double second_conf, const char *first, const float *first_conf,
    double min_conf, struct ocr_verify *out);
/*
 * Where a value's LSTM symbols (a line read) differ from want, character
 * by character, for reading those places again with the second engine:
 * as many symbols as want has characters, or one more where two of them
 * stand for one of want's (磊 read 和大); at most one differing place
 * (two from four characters on). Each place's x range runs from halfway
 * to the symbol before to halfway to the symbol after (the line's ends,
 * line = x, y, w, h, at the ends). The number of places (0 when the
 * read is want), or -1; why says why.
 */
struct ocr_verify_place {
	int pos;                  /* 0-based character of want */
	char read[32], want[16];  /* what the LSTM read there; want's */
	float read_conf;
	int x0, x1;
};
int ocr_verify_places(const char *want, const struct ocr_linesym *sym,
    int nsym, const int line[4], struct ocr_verify_place *pl, char *why,
    size_t whylen);

/*
 * Box (x, y, w, h) of pix cut out and binarised (Otsu over the box, a
 * fixed threshold when it is smaller than 16 pixels either way), for a
 * character read alone: framed in white as ocr_box_read frames it, a
 * photo's grey background around the glyph reads as "." to the legacy
 * classifier. NULL when the box is off the page.
 */
PIX *ocr_crop_binarised(PIX *pix, const int box[4]);

/*
 * The character cells of a line of Chinese print in box (x, y, w, h) of
 * pix, left to right, from its ink rather than from the LSTM's symbol
 * boxes (on a line of fourteen characters those drift by a character
 * and more): the Otsu-binarised columns with ink, specks dropped, joined
 * while a cell stays narrower than the line's ink is high and the gap
 * to the next run is small (亻 and 侯's right part are one cell, two
 * characters are never one). Digits may share a cell. cell[k] is
 * { x0, x1 } in page coordinates, at most cap; band_y the ink's rows
 * (y, height).
 * The number of cells, or -1 when the box holds no line of ink.
 */
int ocr_char_cells(PIX *pix, const int box[4], int (*cell)[2], int cap,
    int band_y[2]);
#endif
