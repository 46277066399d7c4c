#!/usr/bin/env bash
# flashline run --loop: a port serves unit after unit.  One simulated fixture
# (`flashline sim --manual-reset`: units arrive and leave through its control
# channel, `insert FILE` / `remove`):
#   unit A arrives -> PASS; A stays on the fixture -> seen again, not run twice;
#   A removed, unit B arrives -> PASS; B removed, A put back -> refused (it
#   already PASSed this recipe: REPEAT, recorded ABORTED); Ctrl-C ends the loop
#   with the worst unit's exit code (7), one batch event, three runs in the log.
# Every wait is for an event line on the loop's --json output.
source "$(dirname "$0")/lib.sh"
D=$SHARED/testdata/tuya-dumps
cp "$D/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/a.bin"
cp "$D/15-MOES-WK-US2-TC-In-Wall-Outlet.bin" "$T/b.bin"
IMG=$(realpath "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin")
cat >"$T/r.yaml" <<YAML
name: loop-test
chip: bk7231n
steps:
  - connect
  - identify
  - flash:
      image: $IMG
  - verify
YAML
start_sim SIM --chip bk7231n --flash "$T/a.bin" --manual-reset --timescale 0
ctl() { # one control-channel command; its answer in $answer
    local c=${SIM_CTL#tcp://}
    exec 3<>"/dev/tcp/${c%:*}/${c##*:}"
    echo "$1" >&3
    read -r -t 60 answer <&3
    exec 3<&-
}
mkfifo "$T/events"
"$FL" run "$T/r.yaml" --port "$SIM" --loop --json --db "$T/audit.db" >"$T/events" 2>"$T/err" &
LOOP=$!
exec 5<"$T/events"
export WAIT_LINE_LOG=$T/events.log
# A unit is caught by listening when it powers up in download mode: the
# loop says so once it listens ("... in download mode"), and only then is
# the unit powered (as an operator does who watches the station's view).
LISTENING='"idle".*"waiting for a unit \(on the fixture, in download mode\)'
check "the loop waits for a unit" wait_line 5 "$LISTENING"
ctl power-cycle # unit A, as it was on the fixture when the simulator started
check "unit A: PASS" wait_line 5 '"result".*"outcome":"PASS".*"unit":"38:1f:8d:d9:82:4a"'
check "unit A left on the fixture is seen again and not run twice" \
    wait_line 5 '"idle".*still answers: not run twice'
ctl remove
check "after A is removed the loop waits again" wait_line 5 "$LISTENING"
ctl "insert $T/b.bin"
check "unit B: PASS" wait_line 5 '"result".*"outcome":"PASS".*"unit":"1c:90:ff:5b:22:6b"'
ctl remove
check "after B is removed the loop waits again" wait_line 5 "$LISTENING"
ctl "insert $T/a.bin"
check "unit A put back: refused, it already PASSed this recipe" \
    wait_line 5 '"result".*"outcome":"ABORTED".*"unit":"38:1f:8d:d9:82:4a".*"refused_repeat":true'
check "and the loop goes on" wait_line 5 '"idle".*remove the unit'
kill -INT $LOOP
check "Ctrl-C: the batch event closes the output" wait_line 5 '"batch".*"units":3.*"pass":2'
wait $LOOP
rc=$?
exec 5<&-
check "exit 7: the worst unit was a refused repeat (exit $rc)" [ $rc -eq 7 ]
check "unit A was flashed once, unit B once" \
    [ "$(grep -c '"outcome":"PASS"' "$T/events.log")" = 2 ]
check "the log: three runs (two PASS, one ABORTED), none RUNNING" \
    [ "$(sqlite3 "$T/audit.db" "select group_concat(outcome, ',') from (select outcome from runs order by id)")" = "PASS,PASS,ABORTED" ]
check "every event is one the README documents (tests/cli/json_events.py)" \
    python3 tests/cli/json_events.py README.md --elsewhere log --elsewhere progress \
    --elsewhere prompt --elsewhere error --elsewhere check --elsewhere result \
    --several "$T/events.log"
check "nothing but the stop notice on stderr" bash -c "! grep -v -e '^\$' -e 'stopping at the next safe point' '$T/err'"
finish
