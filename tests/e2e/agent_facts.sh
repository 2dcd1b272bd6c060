#!/usr/bin/env bash
# End to end, the fact providers without a collector: file:PATH#KEY,
# os-release, dmi (which reads sys_vendor and product_name and nothing else of
# the DMI table), getprop:KEY and mmcli (fake commands first in PATH: only the
# equipment identifier is taken from mmcli's output), cmd: with no shell and
# a timeout. A fact that fails is shown in status and nothing is sent.
# Then the guard: no source file (comments stripped) and no string in the
# binary names a forbidden datum (serial numbers, subscriber ids, phone
# numbers, location, installed apps).
set -euo pipefail
# The owner's messages in English (messages.h picks French from the locale).
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
src=${STS_SRC:?STS_SRC must point at the source tree}
agent="$bin/sts-agent"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "agent_facts: FAIL: $*" >&2; exit 1; }

mkdir -p "$tmp/fake" "$tmp/dmi"
cat >"$tmp/fake/getprop" <<'EOF2'
#!/bin/sh
case "$1" in
  ro.product.model) echo "K400" ;;
  ro.build.display.id) echo "" ;;
  *) exit 1 ;;
esac
EOF2
cat >"$tmp/fake/mmcli" <<'EOF2'
#!/bin/sh
[ "$*" = "-m any --output-keyvalue" ] || exit 2
cat <<EOF3
modem.dbus-path                                 : /org/freedesktop/ModemManager1/Modem/0
modem.generic.manufacturer                      : QUALCOMM INCORPORATED
modem.generic.own-numbers.value[1]              : +33612345678
modem.generic.equipment-identifier              : 352099001761481
modem.3gpp.operator-code                        : 20801
modem.generic.sim                               : /org/freedesktop/ModemManager1/SIM/0
EOF3
EOF2
chmod +x "$tmp/fake/getprop" "$tmp/fake/mmcli"
export PATH="$tmp/fake:$PATH"
printf 'Acme Computers\n' >"$tmp/dmi/sys_vendor"
printf 'K400\n' >"$tmp/dmi/product_name"
printf 'SERIAL-DO-NOT-READ\n' >"$tmp/dmi/product_serial"
printf 'NAME="Acme OS"\nVERSION_ID="12.4"\nBUILD_ID=rolling\n' >"$tmp/os-release"
printf '# device facts\nCOUNTRY = FR\nbrand=acme-eu\n' >"$tmp/device.conf"

conf="$tmp/agent.conf"
write_conf() { # the lines for the facts
  { printf 'state_dir = %s/state\ncollector = http://127.0.0.1:9\nconsent_country = on\n' "$tmp"
    printf 'timeout_ms = 300\nfact_timeout_ms = 500\nretry_base_ms = 60000\n'
    cat; } >"$conf"
}

# Every provider that works.
write_conf <<EOF2
imei = mmcli
brand = file:$tmp/device.conf
model = dmi:$tmp/dmi
sw = os-release:$tmp/os-release
country = file:$tmp/device.conf#COUNTRY
EOF2
"$agent" preview --config "$conf" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "preview failed"; }
grep -q '"imei":"352099001761481","brand":"acme-eu","model":"K400","sw":"12.4","country":"FR"' "$tmp/out" \
  || fail "preview: $(cat "$tmp/out")"
grep -q -e '+33612345678' -e 'SERIAL-DO-NOT-READ' -e '20801' "$tmp/out" && fail "a forbidden value was read"

write_conf <<EOF2
imei = mmcli
brand = dmi:$tmp/dmi
model = getprop:ro.product.model
sw = cmd:/bin/echo K400-V12
EOF2
"$agent" preview --config "$conf" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "preview failed"; }
grep -q '"brand":"Acme Computers","model":"K400","sw":"K400-V12"' "$tmp/out" || fail "preview: $(cat "$tmp/out")"

# No shell: the ';' and what follows are arguments of echo, never run.
write_conf <<EOF2
imei = mmcli
brand = acme-eu
model = K400
sw = cmd:/bin/echo V12;touch $tmp/pwned
EOF2
"$agent" preview --config "$conf" >"$tmp/out" 2>"$tmp/err" || true
[ ! -e "$tmp/pwned" ] || fail "cmd: ran a shell"

# Failing facts: a command that hangs (killed after fact_timeout_ms), an
# unset property. Shown in status; no activation made; run exits 1.
write_conf <<EOF2
imei = mmcli
brand = acme-eu
model = getprop:ro.build.display.id
sw = cmd:/bin/sleep 10
EOF2
t0=$SECONDS
rc=0; "$agent" run --once --config "$conf" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] || fail "run --once with failing facts exited $rc"
[ $((SECONDS - t0)) -le 3 ] || fail "the hanging command was not killed in time"
"$agent" status --config "$conf" >"$tmp/out"
grep -q '^Problem: .*model: getprop ro.build.display.id: property not set' "$tmp/out" || fail "status: $(cat "$tmp/out")"
grep -q 'sw: /bin/sleep: no answer within 500 ms' "$tmp/out" || fail "status does not show the timeout: $(cat "$tmp/out")"
grep -q '^  Not made yet' "$tmp/out" || fail "an activation was made from failing facts"

# The guard: nothing in the agent names a forbidden datum.
forbidden='product_serial|board_serial|chassis_serial|serialno|product_uuid|own-numbers|own_numbers|msisdn|imsi|iccid|latitude|longitude|gps|cell_?id|location|installed|packages\.list|pm list'
for f in "$src"/agent/*.c "$src"/agent/*.h; do
  # Comments may explain what is never read; code may not read it.
  if gcc -fpreprocessed -dD -E -P "$f" 2>/dev/null | grep -v "^#" | grep -v FOLLOWLOCATION | grep -iEn "$forbidden"; then
    fail "$f names a forbidden datum"
  fi
done
strip -o "$tmp/sts-agent.stripped" "$agent"
if strings "$tmp/sts-agent.stripped" | grep -iE "$forbidden" | grep -vE '__errno_location|FOLLOWLOCATION'; then
  fail "the sts-agent binary holds a forbidden key"
fi
echo "agent_facts: ok"
