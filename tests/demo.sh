#!/usr/bin/env bash
# The main job on the built-in simulator (`make demo`): recipes/demo.yaml runs
# on a simulated BK7231N unit holding a real Tuya dump — connect, identify,
# back up, flash OpenBeken, verify — and the audit log shows what happened.
# DEMO_TIMESCALE=1 gives real wire timing (slower); the default runs 5x faster.
set -eu
cd "$(dirname "$0")/.."
FL=./flashline
WORK=${DEMO_DIR:-/tmp/flashline-demo}
# the demo's station home (audit log, backups): not the operator's real one
export FLASHLINE_HOME=${FLASHLINE_HOME:-$WORK/home}
mkdir -p "$WORK"
DUMP=../shared/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
cp "$DUMP" "$WORK/unit-flash.bin"; chmod u+w "$WORK/unit-flash.bin"
PORT="sim:bk7231n?flash=$WORK/unit-flash.bin&timescale=${DEMO_TIMESCALE:-0.2}"
# demo.yaml names OpenBK7231N@1.18.300 from the firmware store: a demo home holds it
export FLASHLINE_HOME=$WORK/home
"$FL" firmware add ../shared/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin >/dev/null

echo "== recipes/demo.yaml on a simulated BK7231N unit (real Tuya dump: $(basename "$DUMP"))"
set +e
"$FL" run recipes/demo.yaml --port "$PORT" --db "$WORK/audit.db" --station demo-station \
    --operator "${USER:-operator}" --again   # the demo unit has the same MAC every time
rc=$?
set -e
echo
echo "== audit log ($WORK/audit.db): flashline query recent_runs"
"$FL" query recent_runs --db "$WORK/audit.db"
run=$("$FL" query recent_runs --db "$WORK/audit.db" --csv | sed -n 2p | cut -d, -f1)
echo
echo "== flashline query run_steps --param run=$run"
"$FL" query run_steps --db "$WORK/audit.db" --param run="$run"
exit $rc
