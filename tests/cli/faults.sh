#!/usr/bin/env bash
# Faults on the line: dropped and garbled bytes, stalls and a dead link.  The
# result must be correct (or the error clear) — never silently wrong data.
source "$(dirname "$0")/lib.sh"
DUMPS=$SHARED/testdata/tuya-dumps
IMAGES=$SHARED/testdata/obk-images

faulty_roundtrip() { # chip dump image skip(blocks) label sim-args...
    local chip=$1 dump=$2 image=$3 skip=$4 label=$5; shift 5
    cp "$DUMPS/$dump" "$T/$chip.bin"; chmod u+w "$T/$chip.bin"
    start_sim URL --chip "$chip" --flash "$T/$chip.bin" --timescale 0 --quiet "$@"
    "$FL" read --port "$URL" --chip "$chip" -o "$T/$chip-read.bin" --json >"$T/read.json" 2>&1
    check "$chip $label: read exits 0" [ $? -eq 0 ]
    check "$chip $label: read data is exact" cmp -s "$T/$chip-read.bin" "$DUMPS/$dump"
    "$FL" write "$IMAGES/$image" --port "$URL" --chip "$chip" --json >"$T/write.json" 2>&1
    check "$chip $label: write exits 0" [ $? -eq 0 ] || tail -3 "$T/write.json"
    cp "$DUMPS/$dump" "$T/expect.bin"; chmod u+w "$T/expect.bin"
    dd if="$IMAGES/$image" of="$T/expect.bin" bs=4096 skip="$skip" seek="$skip" conv=notrunc status=none
    check "$chip $label: flash holds exactly the image" cmp -s "$T/$chip.bin" "$T/expect.bin"
    cat "$T/read.json" "$T/write.json" >"$T/$chip-$label.json"
    echo "     ($chip $label: ${SECONDS}s so far)"
}

# The issue's rates: a correct result.
faulty_roundtrip bk7231n 01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin OpenBK7231N_QIO_1.18.300.bin 17 \
    drop-corrupt-0.001 --drop-rate 0.001 --corrupt-rate 0.001 --seed 7
faulty_roundtrip bk7231t 05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin OpenBK7231T_QIO_1.18.300.bin 17 \
    drop-corrupt-0.001 --drop-rate 0.001 --corrupt-rate 0.001 --seed 7

# Heavier: recovery must actually have happened, and still be exact.
faulty_roundtrip bk7231n 01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin OpenBK7231N_QIO_1.18.300.bin 17 \
    drop-corrupt-0.01 --drop-rate 0.01 --corrupt-rate 0.01 --seed 11
check "bk7231n 0.01: the host retried" grep -Eq '"retries":[1-9]' "$T/bk7231n-drop-corrupt-0.01.json"
faulty_roundtrip bk7231t 05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin OpenBK7231T_QIO_1.18.300.bin 17 \
    drop-corrupt-0.01 --drop-rate 0.01 --corrupt-rate 0.01 --seed 11
check "bk7231t 0.01: the host retried" grep -Eq '"retries":[1-9]' "$T/bk7231t-drop-corrupt-0.01.json"

# Stalled replies: slower, still exact.
faulty_roundtrip bk7238 15-MOES-WK-US2-TC-In-Wall-Outlet.bin OpenBK7238_QIO_1.18.300.bin 0 \
    stalls --stall-ms 400 --stall-rate 0.01 --seed 5

# A link that dies mid-read: exit 4, a clear message, no half-written backup.
cp "$DUMPS/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/d.bin"; chmod u+w "$T/d.bin"
start_sim DURL --chip bk7231n --flash "$T/d.bin" --timescale 0 --quiet --disconnect-after 3000
"$FL" read --port "$DURL" --chip bk7231n -o "$T/partial.bin" >/dev/null 2>"$T/err"
rc=$?
check "dead link exits 4 (got $rc)" [ $rc -eq 4 ]
check "dead link message says the connection closed" grep -q "closed by the other end" "$T/err"
check "no partial backup file left" [ ! -e "$T/partial.bin" ]
check "no temp file left" [ -z "$(ls "$T" | grep 'partial.bin.tmp')" ]
finish
