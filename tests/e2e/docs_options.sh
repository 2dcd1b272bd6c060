# The programs' --help, their manual pages and the README name the same
# options: every option of --help is in the README (a collector setting may be
# named there as in the configuration file, max_body for --max-body), every
# option of a manual page is one --help lists (tests/e2e/ops_install.sh checks
# the other way), and where --help and the manual page both give an option's
# default on its own entry, it is the same default. docs/agent.md and
# docs/fleet.md name every option of their program. The installed pages link
# only to installed pages.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
fail=0
readme=$(sed 's/`//g' "$STS_SRC/README.md")

for p in sts-collector:8 sts-relay:8 sts-agent:8 sts-fleet:1; do
    prog=${p%:*} sec=${p#*:}
    page=$STS_SRC/docs/man/$prog.$sec
    "$STS_BIN/$prog" --help >"$STS_TMP/$prog.help" 2>&1 || sts_die "$prog --help failed"
    n=0
    for o in $(grep -o -- '--[a-z][a-z0-9-]*' "$STS_TMP/$prog.help" | sort -u); do
        n=$((n + 1))
        name=${o#--}
        grep -q -- "$o\b" <<<"$readme" || grep -q "^| ${name//-/_}\( \|,\)" <<<"$readme" ||
            { echo "FAIL README does not name $prog $o (in --help)"; fail=1; }
    done
    [ "$n" -ge 3 ] || sts_die "$prog --help lists only $n options"
    for o in $(sed 's/\\-/-/g' "$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
        grep -q -- "$o\b" "$STS_TMP/$prog.help" ||
            { echo "FAIL $prog.$sec names $o, which $prog --help does not list"; fail=1; }
    done
    # Defaults: an entry of --help naming one option and "(default X" on its
    # line, beside the manual page's entry (.TP, then a line naming only that
    # option) whose text says "default Y".
    python3 - "$STS_TMP/$prog.help" "$page" "$prog" <<'EOF' || fail=1
import re, sys
help_text, page, prog = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
helpdef = {}
for line in help_text.splitlines():
    m = re.match(r'\s+(--[a-z][a-z0-9-]*)\b(?!,)[^-]*?\(default ([^;)\s]+)', line)
    if m:
        helpdef[m.group(1)] = m.group(2).rstrip(',.')
mandef = {}
lines = page.replace('\\-', '-').splitlines()
for i, line in enumerate(lines):
    if line == '.TP' and i + 2 < len(lines):
        opts = re.findall(r'--[a-z][a-z0-9-]*', lines[i + 1])
        m = re.search(r'\bdefault ([^;)\s]+)', lines[i + 2])
        if len(opts) == 1 and m:
            mandef[opts[0]] = m.group(1).rstrip(',.')
bad = 0
for o in sorted(set(helpdef) & set(mandef)):
    if helpdef[o] != mandef[o]:
        print(f"FAIL {prog} {o}: --help says default {helpdef[o]}, the manual page {mandef[o]}")
        bad = 1
print(f"ok   {prog}: {len(set(helpdef) & set(mandef))} default(s) compared")
sys.exit(bad)
EOF
    echo "ok   $prog: $n options of --help in the README and the manual page's in --help"
done
# Each program's own page names every option of its --help.
for pair in sts-agent:agent.md sts-fleet:fleet.md; do
    prog=${pair%%:*} page=$STS_SRC/docs/${pair#*:}
    for o in $("$STS_BIN/$prog" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
        grep -q -- "$o\b" "$page" || { echo "FAIL ${pair#*:} does not name $prog $o (in --help)"; fail=1; }
    done
done
echo "ok   docs/agent.md and docs/fleet.md name every option of their program's --help"

# The pages cmake --install puts in the documentation directory link only to
# pages installed beside them.
D=$STS_TMP/dest
DESTDIR=$D cmake --install "$STS_BIN" --prefix /usr >"$STS_TMP/install.log" 2>&1 ||
    sts_die "cmake --install failed: $(tail -5 "$STS_TMP/install.log")"
doc=$D/usr/share/doc/sts
n=0
for page in "$doc"/*.md; do
    for link in $(grep -o '](\([^)#]*\)' "$page" | sed 's/^](//' | grep -v '^[a-z]*:' | sort -u); do
        n=$((n + 1))
        [ -f "$doc/$link" ] || { echo "FAIL $(basename "$page") links to $link, not installed"; fail=1; }
    done
done
[ "$n" -ge 5 ] || sts_die "only $n links in the installed pages"
echo "ok   installed pages: $n links, each to an installed page"
exit $fail
