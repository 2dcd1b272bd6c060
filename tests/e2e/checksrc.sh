#!/usr/bin/env bash
# scripts/checksrc.py must object, with file and line, to each house rule broken
# in a sample, and stay quiet on the same sample written correctly.
set -euo pipefail
src=${STS_SRC:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { python3 "$src/scripts/checksrc.py" --no-format "$@"; }

cat >"$work/bad.c" <<'C'
/* A sample that breaks the rules. */
#include <stdio.h>
void f(char *d, const char *s)
{
    sprintf(d, "%s", s);
    strcpy(d, s); /* strcat( in a comment is fine */
    int n = atoi(s);
    (void)n;
    puts("gmtime( in a string is fine");
}
C
cat >"$work/bad.h" <<'C'
/* A header whose contract forgets the errors. */
#include "sts/err.h"
/* Parses s. */
enum sts_err g_parse(const char *s);

/* Frees x.
 * Errors: none. */
enum sts_err g_ok(void *x);
C
if out=$(check "$work/bad.c" "$work/bad.h"); then
  echo "FAIL: checksrc accepted a sample with banned calls"; exit 1
fi
fail=0
for want in "bad.c:5: banned function sprintf" "bad.c:6: banned function strcpy" \
            "bad.c:7: banned function atoi" "bad.h:4: g_parse() returns enum sts_err"; do
  grep -qF "$want" <<<"$out" || { echo "FAIL: missing objection '$want' in:"; echo "$out"; fail=1; }
done
for unwanted in strcat gmtime g_ok; do
  if grep -q "$unwanted" <<<"$out"; then echo "FAIL: objected to $unwanted: $out"; fail=1; fi
done
[ "$(grep -c "^.*:[0-9]*: " <<<"$out")" -eq 4 ] || { echo "FAIL: expected 4 objections: $out"; fail=1; }

cat >"$work/good.c" <<'C'
/* The same sample, within the rules. */
#include <stdio.h>
void f(char *d, size_t n, const char *s)
{
    snprintf(d, n, "%s", s);
}
C
check "$work/good.c" "$src/include/sts/err.h" >/dev/null || { echo "FAIL: objected to a clean sample"; fail=1; }

# The tree itself is clean (format included, when clang-format is present).
python3 "$src/scripts/checksrc.py" || fail=1
[ $fail -eq 0 ] && echo "checksrc: 3 samples, all objections as expected"
exit $fail
