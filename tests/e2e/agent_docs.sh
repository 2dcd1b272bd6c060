#!/usr/bin/env bash
# Examples can't rot: every configuration block in docs/*.md (a fenced block
# with a `state_dir =` line) and packaging/android/agent.conf is parsed by
# the agent (`sts-agent status` loads the configuration and fails on any
# error in it). Then packaging/android/sts-imei, with fake getprop and
# service commands, prints the IMEI from a vendor property or from the phone
# service's parcel, and the agent takes it through cmd:.
set -euo pipefail
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
src=${STS_SRC:?STS_SRC must point at the source directory}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "agent_docs: FAIL: $*" >&2; exit 1; }

# parse FILE WHAT: the state directory is moved into tmp (the rest as written).
parse() {
  sed "s|^state_dir *=.*|state_dir = $tmp/state|" "$1" >"$tmp/check.conf"
  "$bin/sts-agent" status --config "$tmp/check.conf" >/dev/null 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; fail "$2 does not parse"; }
  blocks=$((blocks + 1))
}
blocks=0
for md in "$src"/docs/*.md; do
  awk -v out="$tmp/block" '
    /^[ \t]*```/ { if (inb) { close(f); inb = 0 } else { inb = 1; n++; f = out "." n; printf "" > f }; next }
    inb { sub(/^   /, ""); print > f }' "$md"
  for b in "$tmp"/block.*; do
    [ -e "$b" ] || continue
    if grep -q '^state_dir *=' "$b"; then
      parse "$b" "a configuration block of $(basename "$md") ($(head -c 60 "$b" | tr '\n' ' ')...)"
    fi
    rm -f "$b"
  done
done
parse "$src/packaging/android/agent.conf" packaging/android/agent.conf
[ "$blocks" -ge 3 ] || fail "only $blocks configuration blocks found in docs/"

# The IMEI helper, with the commands it calls faked.
mkdir "$tmp/fake"
cat >"$tmp/fake/getprop" <<'F'
#!/bin/sh
[ "$1" = persist.sts.imei ] && [ -n "${FAKE_PROP:-}" ] && echo "$FAKE_PROP"
exit 0
F
cat >"$tmp/fake/service" <<'F'
#!/bin/sh
[ "$1 $2 $3" = "call iphonesubinfo 1" ] || exit 1
cat <<'P'
Result: Parcel(
  0x00000000: 00000000 0000000f 00350033 00300032 '........3.5.2.0.'
  0x00000010: 00390039 00300030 00370031 00310036 '9.9.0.0.1.7.6.1.'
  0x00000020: 00380034 00000031                   '4.8.1...        ')
P
F
chmod +x "$tmp/fake/getprop" "$tmp/fake/service"
imei() { PATH="$tmp/fake:$PATH" sh "$src/packaging/android/sts-imei"; }
[ "$(FAKE_PROP=490154203237518 imei)" = 490154203237518 ] || fail "sts-imei ignores the vendor property"
[ "$(imei)" = 352099001761481 ] || fail "sts-imei does not read the parcel: '$(imei)'"
FAKE_PROP=12345 imei >/dev/null && [ "$(FAKE_PROP=12345 imei)" = 352099001761481 ] \
  || fail "sts-imei took a malformed property"
cat >"$tmp/agent.conf" <<CONF
state_dir = $tmp/state2
collector = https://stats.example.com
imei = cmd:sh $src/packaging/android/sts-imei
brand = acme-eu
model = K400
sw = K400-V12
CONF
PATH="$tmp/fake:$PATH" "$bin/sts-agent" preview --config "$tmp/agent.conf" >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/err" >&2; fail "preview with the IMEI helper failed"; }
grep -q '"imei":"352099001761481"' "$tmp/out" || fail "the agent did not take the helper's IMEI"
echo "agent_docs: ok ($blocks configuration blocks)"
