/*
 * validate.h - field validators of the OCR document check: each field of a
 * template has a type (resident ID, credit code, date, amount ...) and
 * optional constraints; ocr_validate_field() turns the OCR text of one
 * field into a normalised value, a status and the severity it asks of the
 * verdict.
 *
 * Severity policy (safety first - never auto-accept a wrong document):
 *   cn_id wrong check/birth/region        -> INVALID + REJECT
 *       (the core lowers it to ESCALATE if a character had low confidence)
 *   cn_id wrong length or characters      -> INVALID + ESCALATE (a misread)
 *   cn_id 15-digit (no check character)   -> WARNING + WARN
 *   cn_id/uscc/bank_card valid only after confusable folding (O→0 ...)
 *                                         -> OK + WARN, folded = true
 *   uscc failure                          -> INVALID + ESCALATE
 *   bank_card Luhn failure                -> WARNING + WARN
 *   bank_card not digits / wrong length   -> INVALID + ESCALATE
 *   date unparseable                      -> INVALID + ESCALATE
 *   date out of range                     -> INVALID + REJECT
 *   amount / amount_cn unparseable        -> INVALID + ESCALATE
 *   enum / regex mismatch                 -> INVALID + ESCALATE
 *   text with divisions not beginning with a real province/city/county
 *                                         -> INVALID + ESCALATE (a misread
 *                                            such as 武侯区 read 武候区)
 *   match mismatch                        -> MISMATCH + ESCALATE
 *   match equal only after confusables    -> OK + WARN (code "match.folded")
 *   required and empty                    -> MISSING + REJECT
 *   optional and empty                    -> OK + NONE, value ""
 * The amount_cn cross-check against the numeric amount is done by the core
 * across fields (ocr_parse_amount_cn / ocr_parse_amount).
 */
#ifndef CLERK_OCR_VALIDATE_H
#define CLERK_OCR_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

struct ocr_divisions;

enum ocr_ftype {
	OCR_F_TEXT,
	OCR_F_NAME,
	OCR_F_CN_ID,
	OCR_F_USCC,
	OCR_F_BANK_CARD,
	OCR_F_DATE,
	OCR_F_AMOUNT,
	OCR_F_AMOUNT_CN,
	OCR_F_ENUM,
	OCR_F_REGEX,
};

/* "text", "name", "cn_id", ... ; -1 if unknown. */
int ocr_ftype_from_name(const char *name);
const char *ocr_ftype_name(enum ocr_ftype t);

struct ocr_field_spec {            /* filled by the template loader (core) */
	char *name, *label;
	enum ocr_ftype type;
	bool required;
	char **enum_values; size_t n_enum;     /* OCR_F_ENUM */
	char *regex; void *re;                 /* OCR_F_REGEX: PCRE2 UTF-8, whole value; re compiled by ocr_field_spec_compile().
	                                          On other types it is an extra check of the normalised value. */
	int not_before, not_after;             /* dates YYYYMMDD; 0 = no bound; -1 = today */
	char *match;                           /* payload key the value must equal (after normalisation), or NULL */
	bool match_optional;                   /* a payload without the key: no comparison (case data not known) */
	bool latin;                            /* OCR_F_NAME: Latin letters allowed too (ZHANG SAN); default Chinese only */
	char *cross_check;                     /* OCR_F_AMOUNT_CN: name of the numeric amount field it must equal */
	double min_confidence;                 /* 0..100; below it the field is low_confidence */
	struct ocr_divisions *divisions;       /* OCR_F_TEXT: the address begins with a chain of these
	                                          (GB/T 2260); one reference, released by ocr_field_spec_clear */
};

/*
 * Compiles spec->regex (if any) into spec->re, anchored to the whole value.
 * 0, or -1 with "pattern error at offset N: ..." in e. Safe to call twice.
 */
int ocr_field_spec_compile(struct ocr_field_spec *spec, struct err *e);
/* Frees every string, the enum values and the compiled regex, releases
 * the divisions; zeroes spec. */
void ocr_field_spec_clear(struct ocr_field_spec *spec);

enum ocr_fstatus {
	OCR_FS_OK,
	OCR_FS_WARNING,
	OCR_FS_LOW_CONFIDENCE,   /* set by the core from word confidences */
	OCR_FS_MISMATCH,
	OCR_FS_INVALID,
	OCR_FS_MISSING,
};

enum ocr_severity {
	OCR_SEV_NONE,
	OCR_SEV_WARN,
	OCR_SEV_ESCALATE,
	OCR_SEV_REJECT,
};

const char *ocr_fstatus_name(enum ocr_fstatus s);     /* "ok", "warning", "low_confidence", "mismatch", "invalid", "missing" */
const char *ocr_severity_name(enum ocr_severity s);   /* "none", "warn", "escalate", "reject" */

struct ocr_vresult {
	enum ocr_fstatus status;
	enum ocr_severity severity;   /* what this field alone asks of the verdict */
	char value[256];              /* normalised value (e.g. ID upper-case X, date "YYYY-MM-DD", amount "1234.50";
	                                 amount_cn too is given as "1234.50"); the text as read when it did not parse */
	char code[48];                /* reason code, e.g. "cn_id.check", "uscc.check", "date.after_today", "match.name" */
	char message[256];            /* for the applicant/reviewer, Chinese + English is fine */
	bool folded;                  /* look-alike folding (O→0 ...) was needed, for the value or the match */
	bool matched;                 /* compared with the case's value and equal */
};

/*
 * raw = OCR text of the field (UTF-8); payload = item payload (may be
 * NULL); today YYYYMMDD (0 = local date). Returns 0 when out is filled
 * (whatever the status), -1 only on a programming error (NULL spec/out, a
 * regex field whose pattern was not compiled) with out->code "internal".
 *
 * Reason codes: "ok", "required", "cn_id.length", "cn_id.chars",
 * "cn_id.region", "cn_id.birth", "cn_id.check", "cn_id.old15",
 * "cn_id.folded", "name.chars", "uscc.length", "uscc.chars", "uscc.check",
 * "uscc.folded", "bank_card.chars", "bank_card.length", "bank_card.luhn",
 * "bank_card.folded", "date.format", "date.before_min", "date.after_max",
 * "date.after_today", "date.before_today", "amount.format",
 * "amount_cn.format", "enum.value", "regex.nomatch", "regex.limit",
 * "address.division" (a text field with divisions whose read does not
 * begin with a chain of them: INVALID + ESCALATE),
 * "match.<key>" (mismatch; the key cut to fit), "match.missing" (payload
 * NULL or without a string/number under the key: MISMATCH + ESCALATE),
 * "match.folded". The match key may be a dotted path ("applicant.id").
 * With match_optional, a payload without the key is no mismatch: the
 * value is not compared (and not "matched").
 * An earlier INVALID is kept: the match is checked only when the value
 * itself is OK or WARNING.
 */
int ocr_validate_field(const struct ocr_field_spec *spec, const char *raw,
    const json_t *payload, int today, struct ocr_vresult *out);

/*
 * The administrative divisions of China (GB/T 2260) as a file of lines
 * 省<TAB>市<TAB>区县, 省<TAB>市 (a city with no counties: anything may
 * follow it) or 省<TAB><TAB>县级市 (one the province governs itself,
 * which is then a city with no counties); # lines are comments. A
 * municipality is its own city (北京市<TAB>北京市<TAB>东城区).
 * playbooks/templates/cn-divisions.txt, made by scripts/cn-divisions.sh.
 *
 * Loading: NULL with "PATH: cannot read it: ..." or "PATH:LINE: ..." in
 * e. The table holds one reference; ref adds one, release drops one and
 * frees it with the last. Not thread-safe: the references of a table are
 * the fields of one template.
 */
struct ocr_divisions *ocr_divisions_load(const char *path, struct err *e);
struct ocr_divisions *ocr_divisions_ref(struct ocr_divisions *d);
void ocr_divisions_release(struct ocr_divisions *d);
const char *ocr_divisions_path(const struct ocr_divisions *d);

enum ocr_div_status {
	OCR_DIV_OK,
	OCR_DIV_START,      /* no province or city begins the text */
	OCR_DIV_CITY,       /* a province, then none of its cities */
	OCR_DIV_COUNTY,     /* a city with counties, then none of them */
};

struct ocr_div_match {
	enum ocr_div_status status;
	const char *province, *city, *county;  /* the table's names read, NULL for none */
	const char *rest;                      /* into the text: after what matched */
};

/*
 * Whether s (an address with its spaces taken out) begins with a chain:
 * an optional province, then a city of it (without the province, a city
 * of any), then, unless the city has no counties, one of its counties; a
 * municipality's counties follow the municipality. Each name is the
 * longest of its level that s begins with.
 */
void ocr_divisions_match(const struct ocr_divisions *d, const char *s,
    struct ocr_div_match *m);

/*
 * An address (s, its spaces taken out) whose chain breaks at a city or a
 * county (OCR_DIV_CITY, OCR_DIV_COUNTY) one character off a real one:
 * 成都市武候区 for 武侯区. The division that follows there must be the
 * only one of its parent as long as what was read and differing from it
 * in one character, and s with that character the table's must then be
 * a whole chain. 0 with that text in out[n]; -1 otherwise. A guess until
 * the document is read again at that place (check.c, address_verify).
 */
int ocr_divisions_near(const struct ocr_divisions *d, const char *s,
    char *out, size_t n);

/* building blocks, also used elsewhere */

/* The length of the UTF-8 sequence starting with byte c (1 for a stray
 * byte). */
size_t ocr_u8len(unsigned char c);

/* YYYY年M月D日, YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD, full-width
 * digits and spaces tolerated; a real Gregorian date 1000..9999. 0/-1. */
int ocr_parse_date(const char *s, int *ymd);
/* "1,234.56" "￥1234.5" "1234.56元" "RMB 1 234.56" → fen (cents); 0/-1. */
int ocr_parse_amount(const char *s, int64_t *fen);
/* 大写: 壹贰叁肆伍陆柒捌玖零 拾佰仟万亿 元圆 角分 整正, "人民币" prefix; 0/-1. */
int ocr_parse_amount_cn(const char *s, int64_t *fen);
/* fen as "1234.50" (a leading '-' if negative). */
void ocr_format_amount(int64_t fen, char *buf, size_t n);

/*
 * For identifiers, after ids_fold() (width, white space, upper case):
 * O/D/Q/〇→0, I/L/|/!→1, Z→2, S→5, B→8, G→6, ×→X. Writes at most n - 1
 * bytes (never a partial UTF-8 sequence) and returns the length written.
 */
size_t ocr_fold_confusables(const char *in, char *out, size_t n);
/* Equality after ids_fold (width, spaces, case), and for identifiers after
 * confusable folding too; *folded (may be NULL) says folding was needed. */
bool ocr_text_equal(const char *ocr, const char *expected, bool identifier,
    bool *folded);

/*
 * Whether a located field is sure enough to be accepted without a person,
 * from its readings: the page's and, when one was made, a second read of
 * the field's box alone as one line with the characters of its type
 * (ocr/check.c). The rules, most important first:
 *   - two reads conflict when the second does not agree with the page's
 *     (check.c: the same value, or the page's read with a character or
 *     two of noise more); a second read alone, of a value the page did
 *     not read, vouches for nothing: a crop that cuts a glyph reads as
 *     another character with high confidence;
 *   - an identifier (cn_id, uscc, bank_card) is sure only when its least
 *     sure character (of the second read, if made) reaches min_confidence
 *     and the reads do not conflict: agreeing with the case does not
 *     vouch for a low-confidence digit, nor does agreement of two reads;
 *   - any other field whose reads conflict is unsure, unless it is read
 *     exactly (nothing folded) as the case has it (names);
 *   - a non-identifier is sure when its reads agree (two readings of the
 *     same pixels segmented differently) with at least agree_confidence,
 *     when a name matches the case exactly, when an amount in words
 *     agrees with the figures (cross_confirmed), when a birth date or
 *     sex whose reads do not conflict is the one the document's own
 *     valid and sure resident ID number says (id_confirmed), or when
 *     its confidence
 *     reaches min_confidence.
 * A field not found is not this function's to judge (false). An unsure
 * field that would reject escalates instead: a misread is not the
 * applicant's fault.
 */
struct ocr_reads {
	bool found;                   /* a value was read (either read) */
	bool reread;                  /* a second, constrained read was made and gave text */
	bool agree;                   /* the second read agrees with the page's */
	double conf;                  /* the deciding read's confidence: least symbol for identifiers, least word otherwise */
	double min_confidence;        /* the field's threshold */
	double agree_confidence;      /* two agreeing reads are sure from this confidence on */
	bool cross_confirmed;         /* amount_cn equal to its numeric twin */
	bool id_confirmed;            /* birth date / sex as the sure cn_id on the page says */
	bool alone;                   /* the one read that is a value at all (an address the divisions know):
	                                 sure from min_confidence, as a page read alone */
};
bool ocr_field_unsure(const struct ocr_field_spec *spec,
    const struct ocr_vresult *vr, const struct ocr_reads *r);
bool ocr_ftype_is_identifier(enum ocr_ftype t);
/* The payload's value under key (a dotted path too) as text; false if
 * there is none. */
bool ocr_payload_string(const json_t *payload, const char *key, char *buf,
    size_t n);

#endif
