/*
 * load.c - an uploaded file to page images. The type comes from the
 * content (libmagic), never the name; bytes, pixels and pages are checked
 * from the headers before anything is decoded, so a PNG that declares
 * 100000x100000 pixels is refused without allocating them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <leptonica/allheaders.h>
#include <magic.h>

#ifdef HAVE_POPPLER
#include <cairo.h>
#include <poppler.h>
#endif

#include "ocr.h"

/* A libmagic cookie is not thread-safe; one, shared under a lock. */
static pthread_mutex_t magic_lock = PTHREAD_MUTEX_INITIALIZER;
static magic_t magic_cookie;
static pthread_once_t lept_once = PTHREAD_ONCE_INIT;

static void
lept_quiet(void)
{
	/* Leptonica reports every corrupt file on stderr; the reason code
	 * says it once, in the result. */
	setMsgSeverity(L_SEVERITY_NONE);
}

void
ocr_limits_default(struct ocr_limits *l)
{
	l->max_bytes = 50 * 1024 * 1024;
	l->max_pixels = 60000000;      /* A3 at 600 DPI is ~70M; A4 300 is 8.7M */
	l->max_pages = 20;
	l->pdf_dpi = 300;
}

bool
ocr_have_pdf(void)
{
#ifdef HAVE_POPPLER
	return true;
#else
	return false;
#endif
}

static int
mime_of(const unsigned char *data, size_t len, char *out, size_t n,
    struct err *e)
{
	const char *m;
	int rc = 0;

	pthread_mutex_lock(&magic_lock);
	if (magic_cookie == NULL) {
		magic_cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
		if (magic_cookie != NULL && magic_load(magic_cookie, NULL) != 0) {
			err_set(e, "libmagic: cannot load its database: %s",
			    magic_error(magic_cookie));
			magic_close(magic_cookie);
			magic_cookie = NULL;
			rc = -1;
			goto out;
		}
		if (magic_cookie == NULL) {
			err_set(e, "libmagic: %s", strerror(errno));
			rc = -1;
			goto out;
		}
	}
	m = magic_buffer(magic_cookie, data, len);
	snprintf(out, n, "%s", m ? m : "application/octet-stream");
out:
	pthread_mutex_unlock(&magic_lock);
	return rc;
}

void
ocr_doc_clear(struct ocr_doc *doc)
{
	for (int i = 0; i < doc->npages; i++)
		pixDestroy(&doc->pages[i]);
	free(doc->pages);
	free(doc->dpi);
	memset(doc, 0, sizeof(*doc));
}

static void
doc_add(struct ocr_doc *doc, PIX *pix, int dpi)
{
	doc->pages = xrealloc(doc->pages, (size_t)(doc->npages + 1) *
	    sizeof(*doc->pages));
	doc->dpi = xrealloc(doc->dpi, (size_t)(doc->npages + 1) *
	    sizeof(*doc->dpi));
	doc->pages[doc->npages] = pix;
	doc->dpi[doc->npages] = dpi;
	doc->npages++;
}

static int
fail(char reason[48], const char *code, struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(char reason[48], const char *code, struct err *e, const char *fmt, ...)
{
	va_list ap;

	snprintf(reason, 48, "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = ERR_INVALID;
	return -1;
}

static int
check_pixels(int64_t w, int64_t h, int page, const struct ocr_limits *lim,
    char reason[48], struct err *e)
{
	if (w <= 0 || h <= 0)
		return fail(reason, "input.corrupt", e, "page %d declares %lldx"
		    "%lld pixels; the file is damaged", page, (long long)w,
		    (long long)h);
	if (w * h > lim->max_pixels)
		return fail(reason, "input.too_many_pixels", e, "page %d declares"
		    " %lldx%lld pixels, more than the limit of %lld; scan at 300"
		    " DPI", page, (long long)w, (long long)h,
		    (long long)lim->max_pixels);
	return 0;
}

static int
load_raster(const unsigned char *data, size_t len, const struct ocr_limits *lim,
    struct ocr_doc *doc, char reason[48], struct err *e)
{
	l_int32 format = 0, w = 0, h = 0, bps = 0, spp = 0, cmap = 0, res = 0;
	PIX *pix;

	if (findFileFormatBuffer(data, &format) != 0 || format == IFF_UNKNOWN)
		return fail(reason, "input.corrupt", e, "the image's header is"
		    " not readable");
	if (L_FORMAT_IS_TIFF(format)) {
		FILE *fp = fopenReadFromMemory(data, len);
		l_int32 n = 0;

		if (fp == NULL || tiffGetCount(fp, &n) != 0 || n <= 0) {
			if (fp != NULL)
				fclose(fp);
			return fail(reason, "input.corrupt", e, "the TIFF's page"
			    " directory is not readable");
		}
		fclose(fp);
		if (n > lim->max_pages)
			return fail(reason, "input.too_many_pages", e, "the TIFF"
			    " has %d pages, more than the limit of %d", n,
			    lim->max_pages);
		for (int i = 0; i < n; i++) {
			if (readHeaderMemTiff(data, len, i, &w, &h, &bps, &spp,
			    &res, &cmap, &format) != 0)
				return fail(reason, "input.corrupt", e, "page %d"
				    " of the TIFF has no readable header", i + 1);
			if (check_pixels(w, h, i + 1, lim, reason, e) < 0)
				return -1;
		}
		for (int i = 0; i < n; i++) {
			if ((pix = pixReadMemTiff(data, len, i)) == NULL)
				return fail(reason, "input.corrupt", e, "page %d"
				    " of the TIFF cannot be decoded", i + 1);
			doc_add(doc, pix, pixGetXRes(pix));
		}
		return 0;
	}
	if (pixReadHeaderMem(data, len, &format, &w, &h, &bps, &spp, &cmap) != 0)
		return fail(reason, "input.corrupt", e, "the image's header is"
		    " not readable; the file is damaged or truncated");
	if (check_pixels(w, h, 1, lim, reason, e) < 0)
		return -1;
	if ((pix = pixReadMem(data, len)) == NULL)
		return fail(reason, "input.corrupt", e, "the image cannot be"
		    " decoded; the file is damaged or truncated");
	if (pixGetWidth(pix) != w || pixGetHeight(pix) != h) {
		pixDestroy(&pix);
		return fail(reason, "input.corrupt", e, "the image decodes to"
		    " another size than its header declares");
	}
	doc_add(doc, pix, pixGetXRes(pix));
	return 0;
}

#ifdef HAVE_POPPLER
/* cairo RGB24 is 0x00RRGGBB per native word; Leptonica wants 0xRRGGBBAA. */
static PIX *
pix_from_cairo(cairo_surface_t *s)
{
	int w = cairo_image_surface_get_width(s);
	int h = cairo_image_surface_get_height(s);
	int stride = cairo_image_surface_get_stride(s);
	unsigned char *src = cairo_image_surface_get_data(s);
	PIX *pix = pixCreate(w, h, 32);
	l_uint32 *dst;
	int wpl;

	if (pix == NULL)
		return NULL;
	dst = pixGetData(pix);
	wpl = pixGetWpl(pix);
	for (int y = 0; y < h; y++) {
		const uint32_t *row = (const uint32_t *)(src + (size_t)y * stride);

		for (int x = 0; x < w; x++)
			dst[(size_t)y * wpl + x] = (row[x] & 0xffffff) << 8;
	}
	return pix;
}

static int
load_pdf(const unsigned char *data, size_t len, const struct ocr_limits *lim,
    struct ocr_doc *doc, char reason[48], struct err *e)
{
	GBytes *bytes = g_bytes_new(data, len);
	GError *gerr = NULL;
	PopplerDocument *pd = poppler_document_new_from_bytes(bytes, NULL, &gerr);
	double scale = lim->pdf_dpi / 72.0;
	int n, rc = 0;

	g_bytes_unref(bytes);
	if (pd == NULL) {
		bool enc = gerr != NULL && gerr->domain == POPPLER_ERROR &&
		    gerr->code == POPPLER_ERROR_ENCRYPTED;

		rc = fail(reason, enc ? "input.encrypted" : "input.corrupt", e,
		    enc ? "the PDF is password-protected; upload it without"
		    " a password" : "the PDF cannot be read (%s); the file is"
		    " damaged or truncated", gerr ? gerr->message : "?");
		if (gerr != NULL)
			g_error_free(gerr);
		return rc;
	}
	n = poppler_document_get_n_pages(pd);
	if (n <= 0) {
		rc = fail(reason, "input.corrupt", e, "the PDF has no pages");
		goto out;
	}
	if (n > lim->max_pages) {
		rc = fail(reason, "input.too_many_pages", e, "the PDF has %d"
		    " pages, more than the limit of %d", n, lim->max_pages);
		goto out;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		PopplerPage *pg = poppler_document_get_page(pd, i);
		double pw = 0, ph = 0;

		if (pg == NULL) {
			rc = fail(reason, "input.corrupt", e, "page %d of the PDF"
			    " cannot be read", i + 1);
			break;
		}
		poppler_page_get_size(pg, &pw, &ph);
		if (pw > 100000 || ph > 100000)
			rc = fail(reason, "input.too_many_pixels", e, "page %d of"
			    " the PDF is %.0fx%.0f points", i + 1, pw, ph);
		else
			rc = check_pixels((int64_t)(pw * scale + 0.5),
			    (int64_t)(ph * scale + 0.5), i + 1, lim, reason, e);
		g_object_unref(pg);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		PopplerPage *pg = poppler_document_get_page(pd, i);
		double pw, ph;
		cairo_surface_t *s;
		cairo_t *cr;
		PIX *pix;

		poppler_page_get_size(pg, &pw, &ph);
		s = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		    (int)(pw * scale + 0.5), (int)(ph * scale + 0.5));
		cr = cairo_create(s);
		cairo_set_source_rgb(cr, 1, 1, 1);
		cairo_paint(cr);
		cairo_scale(cr, scale, scale);
		poppler_page_render_for_printing(pg, cr);
		cairo_destroy(cr);
		cairo_surface_flush(s);
		pix = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS ?
		    pix_from_cairo(s) : NULL;
		cairo_surface_destroy(s);
		g_object_unref(pg);
		if (pix == NULL) {
			rc = fail(reason, "input.corrupt", e, "page %d of the PDF"
			    " cannot be rendered", i + 1);
			break;
		}
		pixSetResolution(pix, lim->pdf_dpi, lim->pdf_dpi);
		doc_add(doc, pix, lim->pdf_dpi);
	}
out:
	g_object_unref(pd);
	return rc;
}
#endif

int
ocr_doc_load_mem(const unsigned char *data, size_t len,
    const struct ocr_limits *lim, struct ocr_doc *doc, char reason[48],
    struct err *e)
{
	int rc;

	memset(doc, 0, sizeof(*doc));
	reason[0] = '\0';
	pthread_once(&lept_once, lept_quiet);
	if (len == 0)
		return fail(reason, "input.empty", e, "the file is empty (0"
		    " bytes); upload it again");
	if ((int64_t)len > lim->max_bytes)
		return fail(reason, "input.too_large", e, "the file has %zu"
		    " bytes, more than the limit of %lld", len,
		    (long long)lim->max_bytes);
	if (mime_of(data, len, doc->mime, sizeof(doc->mime), e) < 0) {
		snprintf(reason, 48, "internal");
		return -1;
	}
	if (strcmp(doc->mime, "image/png") == 0 ||
	    strcmp(doc->mime, "image/jpeg") == 0 ||
	    strcmp(doc->mime, "image/tiff") == 0)
		rc = load_raster(data, len, lim, doc, reason, e);
	else if (strcmp(doc->mime, "application/pdf") == 0) {
#ifdef HAVE_POPPLER
		rc = load_pdf(data, len, lim, doc, reason, e);
#else
		rc = fail(reason, "input.unsupported_type", e, "this clerk was"
		    " built without PDF support (meson -Dpdf=enabled)");
#endif
	} else
		rc = fail(reason, "input.unsupported_type", e, "the file is %s,"
		    " not PNG, JPEG, TIFF or PDF", doc->mime);
	if (rc < 0) {
		char mime[64];

		memcpy(mime, doc->mime, sizeof(mime));
		ocr_doc_clear(doc);
		memcpy(doc->mime, mime, sizeof(mime));
	}
	return rc;
}

int
ocr_doc_load(const char *path, const struct ocr_limits *lim,
    struct ocr_doc *doc, char reason[48], struct err *e)
{
	struct stat st;
	size_t len;
	char *data;
	int rc;

	memset(doc, 0, sizeof(*doc));
	if (stat(path, &st) < 0) {
		snprintf(reason, 48, "input.unreadable");
		err_set(e, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(reason, 48, "input.unreadable");
		err_set(e, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_size > lim->max_bytes)
		return fail(reason, "input.too_large", e, "the file has %lld"
		    " bytes, more than the limit of %lld",
		    (long long)st.st_size, (long long)lim->max_bytes);
	if ((data = util_read_file(path, &len, e)) == NULL) {
		snprintf(reason, 48, "input.unreadable");
		return -1;
	}
	rc = ocr_doc_load_mem((const unsigned char *)data, len, lim, doc,
	    reason, e);
	free(data);
	return rc;
}
