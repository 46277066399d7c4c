#!/usr/bin/env bash
# The main job on the built-in simulator (`make demo`): a simulated BK7231N
# unit holding a real Tuya dump is backed up, flashed with OpenBeken and
# verified, exactly as a real unit on a serial port would be.
# DEMO_TIMESCALE=1 gives real wire timing (slower); the default runs 5x faster.
set -eu
cd "$(dirname "$0")/.."
FL=./flashline
WORK=${DEMO_DIR:-/tmp/flashline-demo}
mkdir -p "$WORK"
DUMP=../shared/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMAGE=../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
cp "$DUMP" "$WORK/unit-flash.bin"; chmod u+w "$WORK/unit-flash.bin"

"$FL" sim --chip bk7231n --flash "$WORK/unit-flash.bin" --listen 127.0.0.1:0 \
    --timescale "${DEMO_TIMESCALE:-0.2}" >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM=$!
trap 'kill $SIM 2>/dev/null; wait $SIM 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q '^rfc2217://' "$WORK/sim.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(grep -m1 '^rfc2217://' "$WORK/sim.out")
echo "== simulated BK7231N unit (real Tuya dump) on $PORT"

set -x
"$FL" info   --port "$PORT" --chip bk7231n
"$FL" read   --port "$PORT" --chip bk7231n -o "$WORK/backup.bin"
"$FL" write  "$IMAGE" --port "$PORT" --chip bk7231n
"$FL" verify "$IMAGE" --port "$PORT" --chip bk7231n
set +x
echo "== PASS: backup in $WORK/backup.bin ($(sha256sum "$WORK/backup.bin" | cut -c1-16)...), OpenBeken written and verified"
