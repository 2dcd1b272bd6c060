# `cmake --install` into a DESTDIR, as a packager runs it: the programs
# (which run from there), their manual pages (which format cleanly and name
# every option their --help lists), the systemd units with their users and
# the example configuration, which the installed collector accepts. When
# systemd-analyze is there, the units verify and their exposure score is
# printed (and must stay "OK", at most 2.0).
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/ops_install.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
D=$STS_TMP/dest
DESTDIR=$D cmake --install "$STS_BIN" --prefix /usr >"$STS_TMP/install.log" 2>&1 ||
    sts_die "cmake --install failed: $(tail -5 "$STS_TMP/install.log")"
for f in bin/sts-collector bin/sts-relay bin/sts-agent bin/sts-fleet \
    share/man/man8/sts-collector.8 share/man/man8/sts-relay.8 share/man/man8/sts-agent.8 \
    share/man/man1/sts-fleet.1 lib/systemd/system/sts-collector.service \
    lib/systemd/system/sts-relay.service lib/systemd/system/sts-agent.service \
    lib/sysusers.d/sts.conf share/doc/sts/collector.conf.example share/doc/sts/operations.md; do
    [ -f "$D/usr/$f" ] || sts_die "not installed: /usr/$f"
done
for p in sts-collector sts-relay sts-agent sts-fleet; do
    [ -x "$D/usr/bin/$p" ] || sts_die "$p not executable"
    "$D/usr/bin/$p" --version | grep -q "^$p [0-9]" || sts_die "$p --version from DESTDIR"
done
echo "install: $(find "$D" -type f | wc -l) files under DESTDIR/usr"

# Manual pages: format without warnings, and every option of --help is there.
for p in sts-collector:8 sts-relay:8 sts-agent:8 sts-fleet:1; do
    prog=${p%:*} sec=${p#*:}
    page=$D/usr/share/man/man$sec/$prog.$sec
    if command -v groff >/dev/null; then
        warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1)
        [ -z "$warn" ] || sts_die "$prog.$sec: $warn"
    fi
    text=$(sed 's/\\-/-/g' "$page")
    for o in $("$D/usr/bin/$prog" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
        grep -q -- "$o\b" <<<"$text" || sts_die "$prog.$sec does not name $o (in --help)"
    done
done
echo "man pages: format cleanly, name every option of --help"

# The example configuration is one the collector accepts: a serve with it
# gets past the configuration and stops at the first file it lacks.
ex=$D/usr/share/doc/sts/collector.conf.example
"$D/usr/bin/sts-collector" serve --config "$ex" 2>"$STS_TMP/ex.err"
rc=$?
[ "$rc" = 1 ] && grep -q "pseudonym.key" "$STS_TMP/ex.err" ||
    sts_die "example configuration: exit $rc, $(cat "$STS_TMP/ex.err")"
grep -q '^u sts-collector ' "$D/usr/lib/sysusers.d/sts.conf" || sts_die "no sts-collector user"
grep -q '^User=sts-collector$' "$D/usr/lib/systemd/system/sts-collector.service" || sts_die "unit user"
echo "example configuration: accepted (stops at the missing key file)"

if command -v systemd-analyze >/dev/null; then
    # verify checks the executables exist: point them at DESTDIR.
    mkdir -p "$STS_TMP/units"
    for u in sts-collector sts-relay; do
        sed "s|/usr/bin/|$D/usr/bin/|g" "$D/usr/lib/systemd/system/$u.service" >"$STS_TMP/units/$u.service"
    done
    systemd-analyze verify --man=no "$STS_TMP/units/sts-collector.service" \
        "$STS_TMP/units/sts-relay.service" 2>&1 || sts_die "systemd-analyze verify (above)"
    for u in sts-collector sts-relay; do
        out=$(systemd-analyze security --offline=yes --threshold=20 "$D/usr/lib/systemd/system/$u.service" 2>&1) ||
            sts_die "$u: exposure over 2.0: $(tail -1 <<<"$out")"
        echo "$u.service: $(tail -1 <<<"$out" | sed 's/^→ //')"
    done
else
    echo "systemd-analyze: not installed, units not verified"
fi
echo "ops_install: ok"
