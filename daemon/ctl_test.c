/*
 * ctl_test.c - "clerkctl playbook test": a dry run of one playbook on
 * sample uploads or payloads, step by step, without a daemon, a queue or
 * any system outside the run (the engine is tasks/dryrun.c; clerkd runs
 * the same for POST /api/v1/playbooks/NAME/test).
 *
 * Each sample runs in a folder of its own. A connector named with
 * --connector NAME=URL is run for real against URL, a simulator, so what
 * the later steps read from its answers can be seen too.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "conn.h"
#include "ctl_test.h"
#include "dryrun.h"
#include "playbook.h"
#include "queue.h"

/* The longest value shown in a line of the text output. */
#define SHOW_MAX 160

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The samples: files as given, a folder's regular files in name order. */
static int
list_samples(const struct dry_opts *o, char ***out, size_t *n)
{
	char **v = NULL;
	size_t cnt = 0;

	for (int i = 0; i < o->nsamples; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;
		size_t first = cnt;

		if (stat(o->samples[i], &st) < 0) {
			fprintf(stderr, "clerkctl: --sample %s: %s\n",
			    o->samples[i], strerror(errno));
			goto bad;
		}
		if (!S_ISDIR(st.st_mode)) {
			v = xrealloc(v, (cnt + 1) * sizeof(*v));
			v[cnt++] = xstrdup(o->samples[i]);
			continue;
		}
		if ((d = opendir(o->samples[i])) == NULL) {
			fprintf(stderr, "clerkctl: --sample %s: %s\n",
			    o->samples[i], strerror(errno));
			goto bad;
		}
		while ((de = readdir(d)) != NULL) {
			char *p;

			if (de->d_name[0] == '.')
				continue;
			p = xasprintf("%s/%s", o->samples[i], de->d_name);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				v = xrealloc(v, (cnt + 1) * sizeof(*v));
				v[cnt++] = p;
			} else
				free(p);
		}
		closedir(d);
		if (cnt == first) {
			fprintf(stderr, "clerkctl: --sample %s: no files in"
			    " the folder\n", o->samples[i]);
			goto bad;
		}
		qsort(v + first, cnt - first, sizeof(*v), cmpstr);
	}
	*out = v;
	*n = cnt;
	return 0;
bad:
	for (size_t i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	return -1;
}

/* "label  [name = ]value" on one line, cut at SHOW_MAX bytes (on a
 * UTF-8 boundary). */
static void
show(const char *label, const char *name, json_t *v)
{
	char *s = json_is_string(v) ? xstrdup(json_string_value(v)) :
	    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n = strlen(s);
	bool cut = n > SHOW_MAX;

	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (cut) {
		n = SHOW_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	printf("      %-9s %s%s%s%s\n", label, name ? name : "", name ? " = " :
	    "", s, cut ? " ..." : "");
	free(s);
}

static void
print_run(json_t *run, const char *what, const char *dir, bool kept)
{
	json_t *row, *v;
	size_t i;
	const char *k;

	printf("%s: %s\n", what, json_string_value(json_object_get(run,
	    "outcome")));
	json_array_foreach(json_object_get(run, "steps"), i, row) {
		const char *dec = json_string_value(json_object_get(row,
		    "decision"));

		printf("  %zu %-12s %-18s %-9s", i + 1, json_string_value(
		    json_object_get(row, "step")), json_string_value(
		    json_object_get(row, "kind")), dec ? dec : "?");
		if ((v = json_object_get(row, "ms")) != NULL)
			printf(" %lld ms", (long long)json_integer_value(v));
		if (json_object_get(row, "approved") != NULL)
			printf(" (approved as with --approve)");
		putchar('\n');
		json_object_foreach(json_object_get(row, "input"), k, v) {
			char *label = xasprintf("${%s}", k);

			show("input", label, v);
			free(label);
		}
		static const char *const shown[][2] = {
			{ "against", "against" }, { "effect", "not run:" },
			{ "escalated", "escalated" },
			{ "approval_refused", "refused" },
			{ "reason", "reason" }, { "message", "message" },
			{ "until", "until" },
		};
		for (size_t n = 0; n < sizeof(shown) / sizeof(shown[0]); n++)
			if ((v = json_object_get(row, shown[n][0])) != NULL)
				show(shown[n][1], NULL, v);
		/* An object a member a line; the evidence's copy of the
		 * payload is left out (the inputs show what was read). */
		for (int n = 0; n < 2; n++) {
			const char *what = n == 0 ? "evidence" : "output";
			json_t *m, *o = json_object_get(row, what);

			if (o != NULL && !json_is_object(o))
				show(what, NULL, o);
			json_object_foreach(o, k, m)
				if (n == 1 || strcmp(k, "payload") != 0)
					show(what, k, m);
		}
	}
	json_array_foreach(json_object_get(run, "would_queue"), i, v)
		printf("  would queue %s item %s (by step %s)\n",
		    json_string_value(json_object_get(v, "playbook")),
		    json_string_value(json_object_get(v, "key")),
		    json_string_value(json_object_get(v, "by_step")));
	if (kept)
		printf("  files written: %s\n", dir);
}

static int
set_connectors(const struct playbook *pb, const struct dry_opts *o)
{
	for (int i = 0; i < o->nconnectors; i++) {
		const char *spec = o->connectors[i], *eq = strchr(spec, '=');
		char *name;
		bool used = false;

		if (eq == NULL || eq == spec || eq[1] == '\0') {
			fprintf(stderr, "clerkctl: --connector %s: use NAME=URL,"
			    " e.g. benefits=http://127.0.0.1:8090\n", spec);
			return -1;
		}
		name = xstrndup(spec, (size_t)(eq - spec));
		for (size_t k = 0; k < pb->nsteps; k++) {
			const struct pb_step *st = &pb->steps[k];
			const char *c = st->kind->connector ?
			    st->kind->connector(st->conf) : NULL;

			used |= c != NULL && strcmp(c, name) == 0;
		}
		if (!used) {
			fprintf(stderr, "clerkctl: --connector %s: no step of"
			    " playbook %s uses a connector \"%s\"\n", spec,
			    pb->name, name);
			free(name);
			return -1;
		}
		conn_override_base_url(name, eq + 1);
		free(name);
	}
	return 0;
}

int
ctl_playbook_test(const char *file, const struct dry_opts *o)
{
	struct pb_diag d = { .file = file };
	struct playbook *pb = pb_load(file, &d);
	char **samples = NULL, *base = NULL;
	size_t nsamples = 0, runs;
	json_t *report = NULL, *outcomes = json_object();
	int rc = CTLT_OK;

	if (pb == NULL) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		fprintf(stderr, "clerkctl: %s does not load; nothing was run\n",
		    file);
		pb_diag_clear(&d);
		json_decref(outcomes);
		return CTLT_FAIL;
	}
	pb_diag_clear(&d);
	if (set_connectors(pb, o) < 0 || list_samples(o, &samples,
	    &nsamples) < 0) {
		rc = CTLT_USAGE;
		goto out;
	}
	if (o->keep != NULL) {
		struct err e;

		err_clear(&e);
		if (util_mkdir_p(o->keep, 0700, &e) < 0) {
			fprintf(stderr, "clerkctl: --keep: %s\n", e.msg);
			rc = CTLT_FAIL;
			goto out;
		}
		base = xstrdup(o->keep);
	} else {
		const char *t = getenv("TMPDIR");

		base = xasprintf("%s/clerk-dry-run-XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(base) == NULL) {
			fprintf(stderr, "clerkctl: %s: %s\n", base,
			    strerror(errno));
			rc = CTLT_FAIL;
			goto out;
		}
	}
	if (o->json)
		report = json_pack("{s:s,s:s,s:s,s:o}", "playbook", pb->name,
		    "file", file, "hash", pb->hash, "runs", json_array());
	else
		printf("dry run of playbook %s (%s): nothing is queued or sent;"
		    " steps that act outside the run are shown, not run\n\n",
		    pb->name, file);
	runs = nsamples > 0 ? nsamples : 1;
	for (size_t i = 0; i < runs; i++) {
		struct dryrun_opts ro = {
			.work_dir = o->work_dir,
			.approve = o->approve,
			.run_overridden = true,
			.unstub_hint = "name its connector with --connector"
			    " NAME=URL to run it against a simulator",
		};
		char *dir = runs == 1 ? xstrdup(base) :
		    xasprintf("%s/%zu", base, i + 1);
		const char *what = nsamples > 0 ? samples[i] : "the payload";
		const char *outcome;
		json_t *payload, *run;
		struct err e;
		bool failed;

		err_clear(&e);
		if (util_mkdir_p(dir, 0700, &e) < 0) {
			fprintf(stderr, "clerkctl: %s\n", e.msg);
			free(dir);
			rc = CTLT_FAIL;
			break;
		}
		payload = nsamples > 0 ? dryrun_upload_payload(samples[i], dir,
		    o->payload, &e) : o->payload ? json_deep_copy(
		    o->payload) : json_object();
		if (payload == NULL) {
			fprintf(stderr, "clerkctl: --sample %s: %s\n", what,
			    e.msg);
			free(dir);
			rc = CTLT_FAIL;
			continue;
		}
		run = dryrun_run(pb, &ro, payload, dir, (int64_t)i + 1,
		    &failed);
		if (failed)
			rc = CTLT_FAIL;
		outcome = json_string_value(json_object_get(run, "outcome"));
		json_object_set_new(outcomes, outcome, json_integer(
		    json_integer_value(json_object_get(outcomes,
		    outcome)) + 1));
		if (o->json)
			json_array_append_new(json_object_get(report, "runs"),
			    json_pack("{s:s,s:s,s:s,s:O,s:O,s:O}", "input",
			    what, "outcome", outcome, "dir", dir, "payload",
			    payload, "steps", json_object_get(run, "steps"),
			    "would_queue", json_object_get(run,
			    "would_queue")));
		else {
			print_run(run, what, dir, o->keep != NULL);
			putchar('\n');
		}
		json_decref(run);
		json_decref(payload);
		free(dir);
	}
	if (o->json) {
		json_object_set(report, "outcomes", outcomes);
		json_object_set_new(report, "kept", o->keep ?
		    json_string(base) : json_null());
		json_dumpf(report, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(report);
	} else {
		const char *k;
		json_t *v;

		printf("%zu run%s:", runs, runs == 1 ? "" : "s");
		json_object_foreach(outcomes, k, v)
			printf(" %lld %s,", (long long)json_integer_value(v), k);
		printf(" %s\n", o->keep ? "files kept in" : "files removed from");
		printf("  %s\n", base);
	}
	if (o->keep == NULL)
		dryrun_remove_tree(base);
out:
	for (size_t i = 0; i < nsamples; i++)
		free(samples[i]);
	free(samples);
	free(base);
	json_decref(outcomes);
	pb_unref(pb);
	return rc;
}
