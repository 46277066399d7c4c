#!/usr/bin/env bash
# Round trips against `flashline sim` over loopback rfc2217:// for both loader
# personalities: read a real dump back, write an OpenBeken image, verify it,
# compare the simulator's flash file with what must be there, and rewrite the
# same image (every sector must be skipped).
source "$(dirname "$0")/lib.sh"
DUMPS=$SHARED/testdata/tuya-dumps
IMAGES=$SHARED/testdata/obk-images

roundtrip() { # chip dump image skip_bootloader(yes/no)
    local chip=$1 dump=$2 image=$3 skip=$4
    local unit="$T/$chip-unit.bin"
    cp "$DUMPS/$dump" "$unit"; chmod u+w "$unit"
    start_sim URL --chip "$chip" --flash "$unit" --timescale 0 --quiet
    [ -n "$URL" ] || { fail "$chip: simulator did not start"; return; }

    "$FL" read --port "$URL" --chip "$chip" -o "$T/$chip-backup.bin" >"$T/out" 2>&1
    check "$chip: read exits 0" [ $? -eq 0 ]
    check "$chip: backup equals the unit's original flash" cmp -s "$T/$chip-backup.bin" "$DUMPS/$dump"

    "$FL" write "$IMAGES/$image" --port "$URL" --chip "$chip" >"$T/out" 2>&1
    check "$chip: write exits 0" [ $? -eq 0 ] || cat "$T/out"

    local expect="$T/$chip-expect.bin"
    cp "$DUMPS/$dump" "$expect"; chmod u+w "$expect"
    if [ "$skip" = yes ]; then
        dd if="$IMAGES/$image" of="$expect" bs=4096 skip=17 seek=17 conv=notrunc status=none
    else
        dd if="$IMAGES/$image" of="$expect" bs=4096 conv=notrunc status=none
    fi
    check "$chip: simulator flash holds the image (bootloader kept: $skip)" cmp -s "$unit" "$expect"
    if [ "$skip" = yes ]; then
        check "$chip: bootloader area untouched" cmp -s -n $((0x11000)) "$unit" "$DUMPS/$dump"
    fi

    "$FL" verify "$IMAGES/$image" --port "$URL" --chip "$chip" >"$T/out" 2>&1
    check "$chip: verify passes" [ $? -eq 0 ]

    "$FL" write "$IMAGES/$image" --port "$URL" --chip "$chip" --json >"$T/rewrite.json" 2>&1
    check "$chip: identical rewrite writes no sector" grep -q '"blocks_written":0,' "$T/rewrite.json"

    # a different file must fail verification with exit 1, naming the sector
    # (--force: the simulated bk7238/bk7252 units hold a BK7231N/T dump)
    "$FL" verify "$DUMPS/$dump" --offset 0 --force --port "$URL" --chip "$chip" >"$T/out" 2>&1
    local rc=$?
    check "$chip: verify against other data exits 1 (got $rc)" [ $rc -eq 1 ]
    check "$chip: mismatch names a sector" grep -q 'differs from the file in the sector at 0x' "$T/out"
}

roundtrip bk7231t 05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin OpenBK7231T_QIO_1.18.300.bin yes
roundtrip bk7231n 01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin OpenBK7231N_QIO_1.18.300.bin yes
roundtrip bk7238 15-MOES-WK-US2-TC-In-Wall-Outlet.bin OpenBK7238_QIO_1.18.300.bin no
roundtrip bk7252 06-Brilo-8464455-Ceiling-Light.bin OpenBK7252_QIO_1.18.300.bin yes
finish
