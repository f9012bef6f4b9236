/*
 * records.h - record matching (record linkage) at province scale:
 * 参保信息合并 (the same insured person registered more than once) and
 * 四比对 (benefit recipients against the death registry, the prison
 * registry and other regions' recipients).
 *
 * A record set is read from a CSV export (UTF-8 or GBK, columns mapped by
 * the rules) with the recon/ readers; every record is normalised once
 * (resident ID 15->18 with ocr/ids, full width folded, names without
 * spaces and punctuation, traditional->simplified (ICU, or a table),
 * dates in the usual formats). The matcher never compares all pairs: it
 * looks candidates up in hash blocks (normalised ID, birth date + name
 * key, name key + region prefix) and scores each candidate pair with
 * explainable components; thresholds make a decision of auto, review or
 * no-match. Records live in one array per set and names in one arena: no
 * allocation per record, because a province has millions of them.
 */
#ifndef CLERK_RECORDS_H
#define CLERK_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <libconfig.h>

#include "ids.h"
#include "util.h"

/* Days since 1970-01-01; REC_NODAY when unknown. */
typedef int32_t rec_day;
#define REC_NODAY INT32_MIN

enum rec_col {
	RC_ID, RC_NAME, RC_BIRTH, RC_SEX, RC_REGION, RC_FROM, RC_TO,
	RC_AMOUNT, RC_BENEFIT, RC_N
};

/* How one CSV export maps to records. */
struct rec_spec {
	char encoding[16];       /* "UTF-8" (default), "GBK", "GB18030" */
	char delimiter;          /* default ',' */
	/* Header names (or 1-based numbers as text); NULL = the default
	 * English name (id, name, birth, ...), optional unless id/name. */
	char *col[RC_N];
};

struct rec_variants;         /* traditional -> simplified, from a file */

enum { REC_BLOCK_ID = 1, REC_BLOCK_BIRTH_NAME = 2, REC_BLOCK_NAME_REGION = 4 };

struct rec_rules {
	/* Sides by name: "left", "right", and in a cross-check the
	 * registries "death", "prison", "recipients"; a missing registry
	 * falls back to "right", a missing "right" to the first side that is
	 * not "left", then to the defaults. */
	char *side_name[8];
	struct rec_spec side[8];
	int nsides;
	unsigned blocking;       /* REC_BLOCK_*; default ID | BIRTH_NAME */
	int region_prefix;       /* digits of the region the third block uses; 4 */
	int auto_min;            /* score >= auto_min: auto (default 90) */
	int review_min;          /* score >= review_min: review (default 50) */
	int max_block;           /* candidates per block and key; larger blocks
	                            are skipped and counted (default 1000) */
	int threads;             /* default 2 */
	char *variants_file;
	struct rec_variants *variants;
	int today;               /* YYYYMMDD for ID birth checks; 0 = today */
};

void rec_rules_default(struct rec_rules *r);
/* A rules group (in a step or a rules file); file:line errors. base is
 * the folder relative paths (variants) are read from, or NULL. */
int rec_rules_load(const config_setting_t *g, const char *base,
    struct rec_rules *r, struct err *e);
int rec_rules_load_file(const char *path, struct rec_rules *r, struct err *e);
void rec_rules_clear(struct rec_rules *r);
/* The spec of a side, with the fall-backs above. */
const struct rec_spec *rec_rules_side(const struct rec_rules *r,
    const char *name);

/* Traditional -> simplified: a UTF-8 file of lines "繁 简" (or "繁简"),
 * '#' comments. */
struct rec_variants *rec_variants_load(const char *path, struct err *e);
void rec_variants_free(struct rec_variants *v);

/* Record flags. */
enum {
	RF_ID15 = 1,             /* the ID was written in 15 digits */
	RF_BAD_ID = 2,           /* the ID is not valid (id_status says why) */
	RF_BAD_BIRTH = 4,        /* the birth column is not a real date */
	RF_INITIALS = 8,         /* nkey is the pinyin initials of every char */
};

struct rec_record {
	char id[18];             /* normalised; id[0] == 0: none */
	uint8_t id_status;       /* enum cnid_status */
	uint8_t sex;             /* 0 unknown, 1 male, 2 female */
	uint8_t name_len;        /* bytes of the normalised name */
	uint8_t flags;
	uint32_t name;           /* offset of the normalised name in names */
	uint32_t line;           /* line in the file */
	rec_day birth;
	uint32_t region;         /* 6-digit division code, 0 if unknown */
	rec_day from, to;        /* period (contribution, payments, sentence)
	                            or event date (from) */
	uint16_t benefit;        /* index into benefits, 0 = none */
	uint64_t nkey;           /* name key: hash of the pinyin initials */
	int64_t amount;          /* fen */
};

/* A row with something wrong that is still matched by its other fields. */
struct rec_issue {
	uint32_t rec;            /* index of the record */
	uint32_t line;
	char what[120];
};

struct rec_set {
	char *path;
	struct rec_record *r;
	size_t n, cap;
	char *names;             /* arena of normalised names */
	size_t names_len, names_cap;
	char **benefits;         /* interned benefit names; [0] = "" */
	size_t nbenefits;
	struct rec_issue *issues;
	size_t nissues, issues_cap;
};

/* Reads one CSV export; errors are "file:line: what, what to do". */
int rec_set_load(const char *path, const struct rec_spec *spec,
    const struct rec_rules *r, struct rec_set *s, struct err *e);
/* Both sides at once, on two threads; right NULL leaves R empty. */
int rec_load_pair(const char *left, const struct rec_spec *lspec,
    const char *right, const struct rec_spec *rspec,
    const struct rec_rules *r, struct rec_set *L, struct rec_set *R,
    struct err *e);
void rec_set_free(struct rec_set *s);
static inline const char *
rec_name(const struct rec_set *s, const struct rec_record *x)
{
	return s->names + x->name;
}

/* Normalisation, public for the tests and the step. */
/* ID: fold, 15->18, upper-case X. Returns the status; out is "" when the
 * text has no ID at all. */
enum cnid_status rec_id_normalise(const char *in, size_t len, int today,
    char out[19], bool *was15);
/* Name: full width folded, spaces and punctuation dropped, upper case,
 * traditional hanzi simplified (the variants table first, then ICU's
 * Traditional-Simplified). Returns the bytes written (at most
 * outsz - 1). */
size_t rec_name_normalise(const char *in, size_t len,
    const struct rec_variants *v, char *out, size_t outsz);
/* Name key: hash of the pinyin initials (a polyphonic surname, first,
 * by its surname reading: 单 S, 曾 Z, 解 X, 仇 Q, 区 O, 朴 P, ...);
 * *complete false when some character has no known initial (it then
 * stands for itself). */
uint64_t rec_name_key(const char *norm, size_t len, bool *complete);
/* Initials as text ("ZS"), '?' for an unknown character. */
size_t rec_name_initials(const char *norm, size_t len, char *out,
    size_t outsz);
/* The pinyin initial of a hanzi ('A'..'Z') in the CJK Unified
 * Ideographs and Extension A, by its common reading (ICU's Han-Latin); 0
 * if unknown. The tables behind it are built once per process, on first
 * use, from any thread. */
char rec_pinyin_initial(uint32_t cp);
/* The initial the name key gives the i-th character (from 0) of a name:
 * rec_pinyin_initial, but a polyphonic surname's reading for the first. */
char rec_name_initial(uint32_t cp, size_t i);
/* How long building those tables took (builds them if not yet), in ms. */
double rec_hanzi_tables_ms(void);
/* "2026-11-23", "2026/11/23", "2026.11.23", "20261123", "2026年11月23日",
 * with an optional time after; REC_NODAY if not a real date. */
rec_day rec_date_parse(const char *s, size_t len);
void rec_day_format(rec_day d, char out[11]);

enum rec_decision { REC_AUTO, REC_REVIEW, REC_NOMATCH };

enum rec_idcmp { IDC_MISSING, IDC_EXACT, IDC_CHECK, IDC_ONE_OFF,
    IDC_TRANSPOSED, IDC_DIFFERENT };
enum rec_namecmp { NC_MISSING, NC_EXACT, NC_EDIT1, NC_EDIT2, NC_INITIALS,
    NC_DIFFERENT };
enum rec_cmp3 { C3_UNKNOWN, C3_SAME, C3_NEAR, C3_DIFFERENT };

/* One scored pair; every decision carries its components. */
struct rec_pair {
	uint32_t l, r;           /* indices in the left and right sets */
	int16_t score;
	uint8_t decision;        /* enum rec_decision */
	uint8_t blocks;          /* REC_BLOCK_* that proposed it */
	uint8_t idc, namec, birthc, sexc, regionc;
	int8_t pts[5];           /* points of id, name, birth, sex, region */
};

/* Scores a against b (no thresholds: decision is left REVIEW). */
void rec_score(const struct rec_set *A, const struct rec_record *a,
    const struct rec_set *B, const struct rec_record *b,
    struct rec_pair *p);
enum rec_decision rec_decide(const struct rec_rules *r, int score);

struct rec_result {
	struct rec_pair *pairs;  /* score >= review_min, left then right order */
	size_t n;
	size_t candidates;       /* pairs scored */
	size_t oversized;        /* block lookups skipped (> max_block) */
	size_t nauto, nreview;
	bool self;
};

/*
 * Matches L against R, or L against itself when R is NULL (pairs l < r).
 * Threads split the left side.
 */
struct rec_result *rec_match(const struct rec_set *L, const struct rec_set *R,
    const struct rec_rules *r);
void rec_result_free(struct rec_result *res);

const char *rec_decision_name(enum rec_decision d);
const char *rec_idcmp_name(enum rec_idcmp c);
const char *rec_namecmp_name(enum rec_namecmp c);
const char *rec_cmp3_name(enum rec_cmp3 c);

/* A record as evidence: file:line, ID, name, birth, ... */
json_t *rec_record_json(const struct rec_set *s, const struct rec_record *x);
/* A pair: decision, score, the components with their points, both
 * records. */
json_t *rec_pair_json(const struct rec_set *L, const struct rec_set *R,
    const struct rec_pair *p);

/* pairs.csv, issues.csv, result.json in dir (created); summary as JSON
 * (caller owns). */
int rec_write_outputs(const char *dir, const struct rec_set *L,
    const struct rec_set *R, const struct rec_result *res, json_t **summary,
    struct err *e);

/* Adds the issues of one more set (a third registry) to dir/issues.csv. */
int rec_append_issues(const char *dir, const struct rec_set *s,
    struct err *e);

/*
 * 参保信息合并: clusters of duplicates in one set. A cluster is merged
 * automatically only when every record in it has the same valid ID, every
 * link is auto and no two contribution periods overlap; the surviving
 * record is proposed either way, with the periods combined.
 */
enum rec_merge_kind { MERGE_AUTO, MERGE_REVIEW, MERGE_DOUBLE_ENROLMENT };

struct rec_cluster {
	uint32_t *members;       /* record indices, survivor first */
	size_t n;
	enum rec_merge_kind kind;
	char reason[160];
};

struct rec_merge {
	struct rec_cluster *c;
	size_t n;
	size_t nauto, nreview, ndouble;
};

struct rec_merge *rec_merge_plan(const struct rec_set *S,
    const struct rec_result *res);
void rec_merge_free(struct rec_merge *m);
/* One cluster as evidence: members, links with components, combined
 * periods. */
json_t *rec_cluster_json(const struct rec_set *S, const struct rec_result *res,
    const struct rec_cluster *c);
/* merge-instructions.csv (auto clusters only: survivor, merged record,
 * combined periods) and clusters.json in dir. */
int rec_merge_write(const char *dir, const struct rec_set *S,
    const struct rec_result *res, const struct rec_merge *m, struct err *e);

/*
 * 四比对: recipients against registries. Each recipient with hits is one
 * case, however many registries hit it, with every reason.
 */
enum rec_registry { REG_DEATH, REG_PRISON, REG_RECIPIENTS };

struct rec_hit {
	enum rec_registry kind;
	const struct rec_set *set;
	struct rec_pair pair;
};

struct rec_case {
	uint32_t rec;            /* recipient */
	struct rec_hit *hits;
	size_t nhits;
	bool exact;              /* every hit is auto with an exact, valid ID */
	int payments_at_risk;    /* payments after the event / in the term /
	                            drawn twice */
	int64_t amount_at_risk;  /* fen */
	rec_day next_payment;    /* the payment to suspend */
};

struct rec_crosscheck {
	struct rec_case *c;
	size_t n;
	size_t nexact, nfuzzy;
	int64_t total_at_risk;
};

const char *rec_registry_name(enum rec_registry k);
/* Adds the hits of one registry (res = rec_match(recipients, reg)). */
void rec_crosscheck_add(struct rec_crosscheck *cc, const struct rec_set *rcp,
    const struct rec_set *reg, enum rec_registry kind,
    const struct rec_result *res);
/* Drops hits that are not findings (a sentence over before the payments,
 * a different benefit), computes the amounts and sorts by recipient. */
void rec_crosscheck_finish(struct rec_crosscheck *cc, const struct rec_set *rcp);
void rec_crosscheck_clear(struct rec_crosscheck *cc);
json_t *rec_case_json(const struct rec_set *rcp, const struct rec_case *c);
/* cases.json, suspensions.csv (exact cases) and cases.csv in dir. */
int rec_crosscheck_write(const char *dir, const struct rec_set *rcp,
    const struct rec_crosscheck *cc, struct err *e);

/* Internal to records/: the writers' helpers. */
/* A CSV cell, quoted when it must be. */
void rec_csv_cell(FILE *f, const char *s);
/* dir/.name.tmp for writing; rec_out_close renames it to dir/name. */
FILE *rec_out_open(const char *dir, const char *name, char **tmp,
    struct err *e);
int rec_out_close(FILE *f, const char *dir, const char *name, char *tmp,
    struct err *e);

#endif
