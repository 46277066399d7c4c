#!/usr/bin/env bash
# Every bad recipe in tests/recipes/bad/ fails with the error text its first
# line expects, exit 3, before any unit is touched and without a record.
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin

for recipe in tests/recipes/bad/*.yaml; do
    want=$(sed -n '1s/^# expect: //p' "$recipe")
    name=$(basename "$recipe")
    "$FL" run "$recipe" --check >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 3 ] && grep -qF -- "$want" "$T/err"; then
        pass "$name: --check exits 3 with the expected error"
    else
        fail "$name: exit $rc, stderr: $(head -c 300 "$T/err") | wanted: $want"
    fi
    # the same recipe on a (simulated) unit: refused before connecting, nothing logged
    cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"
    "$FL" run "$recipe" --port "sim:bk7231n?flash=$T/unit.bin&timescale=0" --db "$T/audit.db" \
        >/dev/null 2>"$T/err"
    rc=$?
    check "$name: run exits 3" [ $rc -eq 3 ]
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

# a good stock recipe checks clean
for r in recipes/*.yaml; do
    check "$(basename "$r") is valid" "$FL" run "$r" --check
done
finish
