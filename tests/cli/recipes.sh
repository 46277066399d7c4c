#!/usr/bin/env bash
# Every bad recipe in tests/recipes/bad/ fails with the error text its first
# line expects, exit 3, before any unit is touched and without a record.
# Optional comment lines after it: "# args: ..." (extra command-line
# arguments, e.g. --set) and "# exit: N" (another exit code, e.g. 2 for a
# command-line error).
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin

for recipe in tests/recipes/bad/*.yaml; do
    want=$(sed -n '1s/^# expect: //p' "$recipe")
    read -r -a args <<<"$(sed -n '2,3s/^# args: //p' "$recipe")"
    code=$(sed -n '2,3s/^# exit: //p' "$recipe"); code=${code:-3}
    name=$(basename "$recipe")
    "$FL" run "$recipe" --check "${args[@]}" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq "$code" ] && grep -qF -- "$want" "$T/err"; then
        pass "$name: --check exits $code with the expected error"
    else
        fail "$name: exit $rc, stderr: $(head -c 300 "$T/err") | wanted: exit $code, $want"
    fi
    # the same recipe on a (simulated) unit: refused before connecting, nothing logged
    cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"
    "$FL" run "$recipe" --port "sim:bk7231n?flash=$T/unit.bin&timescale=0" --db "$T/audit.db" \
        "${args[@]}" >/dev/null 2>"$T/err"
    rc=$?
    check "$name: run exits $code" [ $rc -eq "$code" ]
    check "$name: unit untouched" cmp -s "$T/unit.bin" "$DUMP"
done
check "no run was recorded for any bad recipe" \
    python3 -c "import sqlite3,sys,os; p='$T/audit.db'; sys.exit(0 if not os.path.exists(p) or sqlite3.connect(p).execute('select count(*) from runs').fetchone()[0]==0 else 1)"

# images checked against the chip before the unit is touched: another chip's
# image under a neutral name, and an image with a damaged CRC16 block
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
cp "$IMG" "$T/renamed_QIO_1.bin"
python3 -c "import sys; d=bytearray(open(sys.argv[1],'rb').read()); d[0x20000]^=0x55; open(sys.argv[2],'wb').write(d)" \
    "$IMG" "$T/corrupt_QIO_1.bin"
image_recipe() { printf 'name: t\nchip: %s\nsteps:\n  - connect\n  - flash: { image: %s }\n' "$1" "$2" >"$T/img.yaml"; }
image_recipe bk7231t "$T/renamed_QIO_1.bin"
"$FL" run "$T/img.yaml" --port "sim:bk7231t?flash=$T/unit.bin&timescale=0" --db "$T/audit.db" >/dev/null 2>"$T/err"
check "image for another chip refused before connecting (exit 3)" [ $? -eq 3 ]
check "refusal names the image's chip and the unit's" grep -q "is a bk7231n image .*but the chip is bk7231t" "$T/err"
image_recipe bk7231n "$T/corrupt_QIO_1.bin"
"$FL" run "$T/img.yaml" --check >/dev/null 2>"$T/err"
check "corrupt image refused (exit 3)" [ $? -eq 3 ]
check "refusal says the CRC16 check failed" grep -q "fails its CRC16 block check" "$T/err"
check "unit untouched by refused images" cmp -s "$T/unit.bin" "$DUMP"

# names only a run can fill (unit.*, run.*) are accepted anywhere; --set of a
# declared variable, or of one a step uses without declaring it, is accepted
echo 'return { run = function() return true end }' >"$T/step.lua"
cat >"$T/late.yaml" <<'EOF'
name: t
chip: bk7231n
vars: { backups: b }
steps:
  - connect
  - backup: { dir: "${backups}/${unit.mac}-${run.id}" }
  - lua: { file: step.lua, note: "${unit.flash_size} ${undeclared} $${literal}" }
EOF
"$FL" run "$T/late.yaml" --check --set undeclared=x 2>"$T/err"
check "unit.*/run.* refs and a --set of a used variable pass --check" [ $? -eq 0 ]
"$FL" run "$T/late.yaml" --check --set backups=elsewhere --set undeclared=x 2>"$T/err"
check "--set of a declared variable passes --check" [ $? -eq 0 ]
"$FL" run "$T/late.yaml" --check 2>"$T/err"
check "a used but undeclared variable without --set is refused (exit 3)" [ $? -eq 3 ]
check "... naming it and where" grep -q "late.yaml:7:34: unknown variable \${undeclared}" "$T/err"

# step order: a custom lua step may set up what a later step uses (ctx.session,
# ctx.backup, ctx.flashed), so it counts for any step the later one needs
cat >"$T/custom_first.yaml" <<'EOF'
name: t
chip: bk7231n
steps:
  - lua: { file: step.lua }
  - extract_tuya
  - verify
  - reboot
EOF
"$FL" run "$T/custom_first.yaml" --check 2>"$T/err"
check "a custom lua step before extract_tuya/verify/reboot passes --check" [ $? -eq 0 ]

# the backup folder is probed, not created, by --check: a missing one that can
# be created passes and is still missing afterwards, and nothing is left behind
mkdir "$T/bk"
printf 'name: t\nchip: bk7231n\nsteps:\n  - connect\n  - backup: { dir: %s }\n' "$T/bk/a/b" >"$T/bk.yaml"
"$FL" run "$T/bk.yaml" --check 2>"$T/err"
check "a backup folder that can be created passes --check" [ $? -eq 0 ]
check "... and --check did not create it or leave a probe" [ -z "$(ls -A "$T/bk")" ]
printf 'name: t\nchip: bk7231n\nsteps:\n  - connect\n  - backup: { dir: %s }\n' "$T/bk" >"$T/bk.yaml"
"$FL" run "$T/bk.yaml" --check 2>"$T/err"
check "an existing writable backup folder passes --check" [ $? -eq 0 ]
check "... and --check left no probe file in it" [ -z "$(ls -A "$T/bk")" ]
"$FL" run --help >"$T/help"
check "run --help says which --set names are accepted" grep -q "declares under 'vars:'" "$T/help"

# hostile sizes end quickly (a 200k-deep file once never finished; libyaml's
# scanner is quadratic in depth); `timeout` only guards against a hang
python3 -c "print('name: t\nchip: bk7231n\nsteps: ' + '[' * 200000 + ']' * 200000)" >"$T/deep_flow.yaml"
python3 -c "print('name: t\nchip: bk7231n\nsteps:\n  ' + '- ' * 200000 + 'x')" >"$T/deep_block.yaml"
python3 -c "print('name: t\nchip: bk7231n\nvars:\n' + ''.join('  v%d: x\n' % i for i in range(60000)) + 'steps: [connect]')" >"$T/wide.yaml"
for f in deep_flow deep_block; do
    timeout 60 "$FL" run "$T/$f.yaml" --check 2>"$T/err"
    check "$f: 200000 levels refused (exit 3)" [ $? -eq 3 ]
    check "$f: ... as nested too deeply" grep -q "$f.yaml:[0-9]*:[0-9]*: nested deeper than 64 levels" "$T/err"
done
timeout 60 "$FL" run "$T/wide.yaml" --check 2>"$T/err"
check "60000 variables refused (exit 3)" [ $? -eq 3 ]
check "... as too many values" grep -q "wide.yaml:[0-9]*:[0-9]*: more than 10000 values" "$T/err"

# a good stock recipe checks clean (its firmware named from the store, seeded here)
"$FL" firmware add "$SHARED"/testdata/obk-images/OpenBK72{31N,31T,38,52N}_QIO_1.18.300.bin >/dev/null ||
    fail "seeding the firmware store"
python3 "$(dirname "$0")/esp_image_gen.py" factory 0 0x1000 4096 "$T/OpenESP32_1.18.300.factory.bin" &&
    "$FL" firmware add "$T/OpenESP32_1.18.300.factory.bin" >/dev/null || fail "seeding the store with OpenESP32"
for r in recipes/*.yaml; do
    check "$(basename "$r") is valid" "$FL" run "$r" --check
done
finish
