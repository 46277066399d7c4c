#!/usr/bin/env bash
# Brown-outs, manual power-cycles and the bootloader guard, against
# `flashline sim` over loopback rfc2217://.
source "$(dirname "$0")/lib.sh"
DUMPS=$SHARED/testdata/tuya-dumps
IMAGES=$SHARED/testdata/obk-images

# --- the bootloader of a flash-loader chip is never written by accident -------
cp "$DUMPS/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin" "$T/t.bin"; chmod u+w "$T/t.bin"
cp "$T/t.bin" "$T/t-orig.bin"
start_sim URL --chip bk7231t --flash "$T/t.bin" --timescale 0 --quiet
head -c 8192 /dev/urandom >"$T/blob.bin"
expect_exit 7 "bk7231t: write at 0x0 refused (exit 7)" \
    "$FL" write "$T/blob.bin" --offset 0 --port "$URL" --chip bk7231t 2>"$T/err"
check "refusal explains the brick risk and the opt-in" grep -q "allow-bootloader" "$T/err"
expect_exit 7 "bk7231t: erase of the bootloader refused" \
    "$FL" erase --offset 0x10000 --size 0x2000 --port "$URL" --chip bk7231t 2>/dev/null
expect_exit 7 "write past the end of flash refused" \
    "$FL" write "$T/blob.bin" --offset 0x1FF000 --port "$URL" --chip bk7231t 2>/dev/null
check "flash unchanged after the refusals" cmp -s "$T/t.bin" "$T/t-orig.bin"

# --- a brown-out in the middle of a write is reported, a rerun completes ------
cp "$DUMPS/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/n.bin"; chmod u+w "$T/n.bin"
IMG=$IMAGES/OpenBK7231N_QIO_1.18.300.bin
start_sim BURL --chip bk7231n --flash "$T/n.bin" --timescale 0 --brownout-at 300000
"$FL" write "$IMG" --port "$BURL" --chip bk7231n >"$T/out" 2>&1
rc=$?
check "brown-out mid-write exits 8 (got $rc)" [ $rc -eq 8 ]
check "brown-out is reported as a reset with advice" grep -qi "reset during .*brown-out" "$T/out"
"$FL" write "$IMG" --port "$BURL" --chip bk7231n --json >"$T/out2" 2>&1
rc=$?
check "rerun after the brown-out completes (got $rc)" [ $rc -eq 0 ]
check "rerun skipped the sectors written before the brown-out" \
    grep -Eq '"blocks_skipped":[1-9]' "$T/out2"
"$FL" verify "$IMG" --port "$BURL" --chip bk7231n >/dev/null 2>&1
check "image verifies after the rerun" [ $? -eq 0 ]

# --- manual reset: only a power-cycle opens the boot window -------------------
start_sim MURL --chip bk7231n --timescale 0 --manual-reset
"$FL" info --port "$MURL" --chip bk7231n --reset pulse --link-timeout 2 >/dev/null 2>"$T/err"
check "--manual-reset ignores RTS pulses (no bus, exit 5)" [ $? -eq 5 ]
check "no-bus error tells what to check" grep -q "check TX/RX wiring" "$T/err"
# stderr goes through a fifo: the test reads the prompt line the moment it is
# printed (no polling, no sleep), then a drain keeps the rest flowing to a file.
mkfifo "$T/prompt.fifo"
"$FL" info --port "$MURL" --chip bk7231n --reset manual --link-timeout 60 >"$T/info" 2>"$T/prompt.fifo" &
INFO=$!
exec 4<"$T/prompt.fifo"
prompted=false
while IFS= read -r -t 120 line <&4; do
    printf '%s\n' "$line" >>"$T/prompt"
    case $line in *"Power-cycle the unit now"*) prompted=true; break ;; esac
done
cat <&4 >>"$T/prompt" &
DRAIN=$!
exec 4<&-
check "operator is prompted to power-cycle" $prompted
ctl=${MURL_CTL#tcp://}
exec 3<>"/dev/tcp/${ctl%:*}/${ctl##*:}"
echo power-cycle >&3
read -r -t 60 answer <&3
exec 3<&-
check "control channel power-cycles the unit ($answer)" grep -q '^ok boot' <<<"$answer"
wait $INFO
check "info succeeds after the power-cycle" [ $? -eq 0 ]
wait $DRAIN
check "info names the chip" grep -q "BK7231N" "$T/info"
finish
