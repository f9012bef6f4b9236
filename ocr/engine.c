/*
 * engine.c - one Tesseract engine per worker thread and language set.
 *
 * Initialising TessBaseAPI (loading chi_sim's LSTM model) takes longer
 * than recognising a page, so each worker thread keeps the engines it
 * made, keyed by the language string, and reuses them for every page.
 * A TessBaseAPI is not safe to share between threads; a thread-local
 * list needs no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tesseract/capi.h>

#include "ocr.h"

struct engine {
	char *langs;
	TessBaseAPI *api;
	struct engine *next;
};

static pthread_key_t engine_key;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void
engines_free(void *p)
{
	struct engine *en = p, *next;

	for (; en != NULL; en = next) {
		next = en->next;
		TessBaseAPIEnd(en->api);
		TessBaseAPIDelete(en->api);
		free(en->langs);
		free(en);
	}
}

static void
engine_key_make(void)
{
	if (pthread_key_create(&engine_key, engines_free) != 0)
		fatal("ocr: cannot create the engine thread key");
}

/* The calling thread's engine kept under key, or NULL. */
static TessBaseAPI *
engine_find(const char *key)
{
	pthread_once(&engine_once, engine_key_make);
	for (struct engine *en = pthread_getspecific(engine_key); en != NULL;
	    en = en->next)
		if (strcmp(en->langs, key) == 0)
			return en->api;
	return NULL;
}

/* Keeps api for the calling thread under key; returns api. */
static TessBaseAPI *
engine_keep(const char *key, TessBaseAPI *api)
{
	struct engine *en = xcalloc(1, sizeof(*en));

	/* Tesseract's own diagnostics ("Invalid resolution", "Empty page")
	 * would go to stderr for every page; the result says what matters. */
	TessBaseAPISetVariable(api, "debug_file", "/dev/null");
	en->langs = xstrdup(key);
	en->api = api;
	en->next = pthread_getspecific(engine_key);
	pthread_setspecific(engine_key, en);
	return api;
}

void *
ocr_engine_acquire(const char *langs, struct err *e)
{
	TessBaseAPI *api;

	if ((api = engine_find(langs)) != NULL)
		return api;
	if ((api = TessBaseAPICreate()) == NULL) {
		err_set(e, "ocr: cannot create a Tesseract engine");
		return NULL;
	}
	if (TessBaseAPIInit3(api, NULL, langs) != 0) {
		TessBaseAPIDelete(api);
		err_set(e, "ocr: Tesseract cannot load the languages \"%s\";"
		    " install tesseract-ocr-chi-sim / tesseract-ocr-eng (or the"
		    " packages for those languages)", langs);
		return NULL;
	}
	return engine_keep(langs, api);
}

/*
 * The legacy (shape-classifier) engine of a traineddata that has one, in
 * datapath: Tesseract's other recogniser, whose mistakes are not the
 * LSTM's (chi_sim's LSTM reads 磊 as 舌 or 乔 in most faces; the legacy
 * classifier reads it). Kept per thread like the others; NULL with e set
 * when datapath holds no such model.
 */
void *
ocr_engine_acquire_legacy(const char *datapath, const char *lang,
    struct err *e)
{
	TessBaseAPI *api;
	char key[1024];

	snprintf(key, sizeof(key), "legacy\t%s\t%s", datapath, lang);
	if ((api = engine_find(key)) != NULL)
		return api;
	if ((api = TessBaseAPICreate()) == NULL) {
		err_set(e, "ocr: cannot create a Tesseract engine");
		return NULL;
	}
	if (TessBaseAPIInit2(api, datapath, lang, OEM_TESSERACT_ONLY) != 0) {
		TessBaseAPIDelete(api);
		err_set(e, "ocr: no legacy-engine model %s/%s.traineddata",
		    datapath, lang);
		return NULL;
	}
	return engine_keep(key, api);
}

/*
 * The model is not part of any Debian package: scripts/deps.sh installs it
 * under /usr/local, the local administrator's tree. A clerkd built for
 * another prefix (the Debian package's is /usr) looks there too, after its
 * own data directory.
 */
static const char *const legacy_dirs[] = {
	CLERK_LEGACY_TESSDATA_DIR,
	"/usr/local/share/clerk/tessdata-legacy",
	"/usr/share/clerk/tessdata-legacy",
};

static int
legacy_has_model(const char *dir)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/chi_sim.traineddata", dir);
	return access(path, R_OK) == 0;
}

const char *
ocr_legacy_tessdata(void)
{
	const char *d = getenv("CLERK_LEGACY_TESSDATA");
	size_t i;

	if (d != NULL && d[0] != '\0') {
		if (strcmp(d, "none") == 0)
			return NULL;
		return legacy_has_model(d) ? d : NULL;
	}
	for (i = 0; i < sizeof(legacy_dirs) / sizeof(legacy_dirs[0]); i++)
		if (legacy_has_model(legacy_dirs[i]))
			return legacy_dirs[i];
	return NULL;
}

void
ocr_engine_thread_done(void)
{
	pthread_once(&engine_once, engine_key_make);
	engines_free(pthread_getspecific(engine_key));
	pthread_setspecific(engine_key, NULL);
}

void
ocr_env_ensure(char **argv)
{
	const char *v = getenv("OMP_THREAD_LIMIT");

	if (v != NULL && strcmp(v, "1") == 0)
		return;
	/*
	 * libgomp read OMP_THREAD_LIMIT when it was loaded with
	 * libtesseract, before main(); setting it now would change nothing,
	 * so run this program again with it in the environment. Tesseract's
	 * OpenMP threads only fight clerk's own workers for the cores: a
	 * page takes several times longer with them.
	 */
	if (setenv("OMP_THREAD_LIMIT", "1", 1) != 0)
		return;
	execv("/proc/self/exe", argv);
	fprintf(stderr, "%s: cannot re-execute with OMP_THREAD_LIMIT=1: %s;"
	    " OCR will be slow\n", argv[0], strerror(errno));
}
