/*
 * fuzz_ocr_load.c - the upload loader (ocr_doc_load_mem in ocr/ocr.h):
 * libmagic, Leptonica's header readers and decoders, poppler for PDF, on
 * any bytes. Small limits keep every run fast and check that they hold: a
 * document that loads has 1..max_pages pages, none over max_pixels; a
 * refusal has a reason code and a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "fuzz_common.h"
#include "ocr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tz_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocr_limits lim = { .max_bytes = 1 << 20, .max_pixels = 1 << 20,
	    .max_pages = 4, .pdf_dpi = 72 };
	struct ocr_doc doc;
	struct err e = { 0 };
	char reason[48];

	if (ocr_doc_load_mem(data, size, &lim, &doc, reason, &e) < 0) {
		if (reason[0] == '\0' || e.msg[0] == '\0')
			abort();
		return 0;
	}
	if (doc.npages < 1 || doc.npages > lim.max_pages)
		abort();
	for (int i = 0; i < doc.npages; i++)
		if ((int64_t)pixGetWidth(doc.pages[i]) *
		    pixGetHeight(doc.pages[i]) > lim.max_pixels)
			abort();
	ocr_doc_clear(&doc);
	return 0;
}
