/*
 * fuzz_audit_anchor.c - audit_anchor_parse on the lines of an audit
 * anchor file, which `clerkctl audit verify` reads and anyone with write
 * access to the state directory can have edited.
 *
 * The input is the file; each line is parsed. An accepted line is the
 * form clerk writes: formatting what was parsed gives the line back
 * (a restore's from= text after it aside), and a head never carries
 * more rows than its id or a row 0 other than the genesis hash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *next;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = text; line != NULL; line = next) {
		struct audit_anchor a;
		char canon[256];
		size_t n;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (audit_anchor_parse(line, &a) < 0)
			continue;
		if (a.id < 0 || a.rows < 0 || a.rows > a.id ||
		    strlen(a.hash) != 64 || (a.id == 0 &&
		    strcmp(a.hash, AUDIT_GENESIS) != 0))
			abort();
		n = audit_anchor_format(&a, NULL, canon, sizeof(canon)) - 1;
		if (strncmp(line, canon, n) != 0 || (line[n] != '\0' &&
		    (a.kind != AUDIT_ANCHOR_RESTORE ||
		    strncmp(line + n, " from=", 6) != 0)))
			abort();
	}
	free(text);
	return 0;
}
