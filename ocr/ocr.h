/*
 * ocr.h - the OCR document check (电子要件审核): loads an uploaded file
 * (type by content, limits from headers before decoding), checks each
 * page's quality, recognises it with a per-thread Tesseract engine,
 * extracts the fields a template names, validates them (validate.h) and
 * reaches a verdict: accept, reject (with reasons the applicant can act
 * on) or escalate (unsure).
 *
 * Never auto-accept a wrong document: anything the check is unsure of
 * escalates.
 */
#ifndef CLERK_OCR_H
#define CLERK_OCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"
#include "validate.h"

struct Pix;

/* ---- the process environment ---- */

/*
 * libgomp (pulled in by libtesseract) reads OMP_THREAD_LIMIT once, when it
 * is loaded - before main() runs - so setting it later does nothing and
 * every page would spawn one OpenMP thread per core, fighting the other
 * workers. Called first thing in main(): when the variable is not "1" it
 * sets it and re-executes the program; returns only when it is set (or
 * the re-exec failed, reported on stderr).
 */
void ocr_env_ensure(char **argv);

/* ---- loading ---- */

struct ocr_limits {
	int64_t max_bytes;        /* file size */
	int64_t max_pixels;       /* per page, from the header */
	int max_pages;
	int pdf_dpi;              /* PDF pages are rasterised at this DPI */
};

void ocr_limits_default(struct ocr_limits *l);

struct ocr_doc {
	char mime[64];
	int npages;
	struct Pix **pages;
	int *dpi;                 /* per page; 0 when the file does not say */
};

/*
 * Reads path into doc. On bad input returns -1 with a reason code in
 * reason ("input.empty", "input.too_large", "input.unsupported_type",
 * "input.corrupt", "input.encrypted", "input.too_many_pixels",
 * "input.too_many_pages", "input.unreadable") and a message in e; doc->mime
 * is set whenever the type was told.
 */
int ocr_doc_load(const char *path, const struct ocr_limits *lim,
    struct ocr_doc *doc, char reason[48], struct err *e);
int ocr_doc_load_mem(const unsigned char *data, size_t len,
    const struct ocr_limits *lim, struct ocr_doc *doc, char reason[48],
    struct err *e);
void ocr_doc_clear(struct ocr_doc *doc);
bool ocr_have_pdf(void);

/* ---- engines ---- */

/*
 * The calling thread's engine for langs ("chi_sim+eng"), created on first
 * use and kept until the thread exits (or ocr_engine_thread_done()).
 * Returns a TessBaseAPI *, or NULL with e set.
 */
void *ocr_engine_acquire(const char *langs, struct err *e);
/* Frees the calling thread's engines (threads that exit do it anyway). */
void ocr_engine_thread_done(void);
/*
 * The calling thread's legacy-engine (shape classifier) Tesseract for
 * lang from the traineddata in datapath, which must hold that engine
 * (Debian's chi_sim does not: scripts/deps.sh installs one), or NULL
 * with e set.
 */
void *ocr_engine_acquire_legacy(const char *datapath, const char *lang,
    struct err *e);
/*
 * Where that model is: $CLERK_LEGACY_TESSDATA, else the installed
 * default (share/clerk/tessdata-legacy), if chi_sim.traineddata is
 * there; NULL if not ("none" turns it off).
 */
const char *ocr_legacy_tessdata(void);

/* ---- templates ---- */

enum ocr_locate { OCR_LOC_LABEL, OCR_LOC_ZONE, OCR_LOC_PATTERN };

/* What a field repeats of the template's resident ID number (GB 11643:
 * digits 7-14 are the birth date, the 17th is odd for 男, even for 女). */
enum ocr_from_id { OCR_FROM_ID_NONE, OCR_FROM_ID_BIRTH, OCR_FROM_ID_SEX };

struct ocr_tfield {
	struct ocr_field_spec spec;
	enum ocr_locate locate;
	double zone[4];           /* x, y, w, h as fractions of the page */
	char *pattern;            /* PCRE2 on the page text; group 1 if any */
	void *pattern_re;
	int page;                 /* 1-based; 0 = any page */
	enum ocr_from_id from_id; /* from_id = "birth" | "sex" */
};

struct ocr_quality {
	int min_dpi;
	double min_glyph_height;  /* px at the page's own resolution */
	double min_blur;          /* variance of the Laplacian */
	double max_skew;          /* degrees */
	double min_ink;           /* fraction of dark pixels; below = blank */
	double min_confidence;    /* mean word confidence of the page */
	/* A non-identifier field read twice (page, then its line alone)
	 * with the same value is sure from this confidence on; 101 never. */
	double agree_confidence;
};

struct ocr_template {
	char *name;
	char *file;
	char *document_type;
	char *languages;
	int min_pages, max_pages;
	char **identify;          /* any of these on the page = right type */
	size_t n_identify;
	struct ocr_limits limits;
	struct ocr_quality quality;
	bool bad_input_escalates; /* else bad input rejects */
	struct {
		bool deskew, background, binarise, scale, border;
		int dpi;          /* read pages at most at this, 0 = as they are */
	} pre;
	int deadline_ms;          /* per page */
	bool reread;              /* read unsure fields again, line alone (quality.reread) */
	struct ocr_tfield *fields;
	size_t nfields;
};

/* Loads a template file; NULL with "file:line: ..." in e. */
struct ocr_template *ocr_template_load(const char *file, struct err *e);
/* NAME (looked up as DIR/NAME.cfg) or a path (has a '/' or ends .cfg). */
struct ocr_template *ocr_template_find(const char *name_or_path,
    const char *dir, struct err *e);
void ocr_template_free(struct ocr_template *t);

/* ---- the check ---- */

struct ocr_check_opts {
	const json_t *payload;    /* the item's payload, may be NULL */
	const char *image_dir;    /* where page-<n>.png go; NULL = nowhere */
	int today;                /* YYYYMMDD; 0 = local date */
	/* Timings, filled by the check (ms). */
	double recognise_ms;      /* inside TessBaseAPIRecognize */
	double total_ms;
};

/*
 * Checks the file at path against t. Returns the result object of the
 * OCR result contract (docs in playbooks/templates/README.md); bad input
 * is a verdict, not a failure. NULL only when the check itself could not
 * run (no engine), with e set.
 */
json_t *ocr_check_file(const char *path, const struct ocr_template *t,
    struct ocr_check_opts *o, struct err *e);

#endif
