#!/usr/bin/env bash
# flashline run with several --port: one worker per port, one writer.
#   --json: every stdout line is one whole JSON object (no two events ever
#     interleave), each names its port; one result per port with the right
#     outcome; a closing "batch" event; the exit code is the worst outcome's.
#   no terminal: every stderr line is prefixed with its port's label.
#   a terminal (tmux, 80 then 50 columns mid-run): the live view redraws in
#     place, one line per port and a footer, no line wider than the pane and
#     no leftover fragments after a resize.
# The units: a good one (PASS), one whose link dies mid-write (ERROR), and a
# BK7231T on a BK7231N recipe.
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMG=$(realpath "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin")
export FLASHLINE_HOME=$T/home
cat >"$T/r.yaml" <<YAML
name: ports-test
chip: bk7231n
steps:
  - connect
  - identify
  - flash:
      image: $IMG
  - verify
YAML
units() { # SCALE: fresh unit files, the three ports in P1..P3
    for i in 1 2; do cp "$DUMP" "$T/u$i.bin"; done
    P1="sim:bk7231n?flash=$T/u1.bin&timescale=$1"
    P2="sim:bk7231n?flash=$T/u2.bin&timescale=$1&disconnect=300000"
    P3="sim:bk7231t?timescale=$1"
}

# --- JSON ----------------------------------------------------------------------
units 0
"$FL" run "$T/r.yaml" --db "$T/j.db" --json --port "$P1" --port "$P2" --port "$P3" \
    >"$T/j.out" 2>"$T/j.err"
rc=$?
check "json: exit 10 (an ERROR is the worst outcome)" [ $rc -eq 10 ]
check "json: nothing on stderr" [ ! -s "$T/j.err" ]
check "json: every line one whole event naming one of the ports" python3 - "$T/j.out" "$P1" "$P2" "$P3" <<'PY'
import json, sys
ports = set(sys.argv[2:])
ev = [json.loads(l) for l in open(sys.argv[1])]
assert len(ev) > 20, len(ev)
assert all(e["port"] in ports for e in ev if e["event"] != "batch"), "foreign port"
res = {e["port"]: e for e in ev if e["event"] == "result"}
assert len(res) == 3, res
p1, p2, p3 = sys.argv[2:]
assert res[p1]["outcome"] == "PASS", res[p1]
assert res[p2]["outcome"] == "ERROR" and res[p2]["failed_step"] == "flash", res[p2]
assert res[p3]["outcome"] in ("ERROR", "FAIL") and res[p3]["failed_step"] == "connect", res[p3]
assert ev[-1]["event"] == "batch" and ev[-1]["ports"] == 3 and ev[-1]["pass"] == 1, ev[-1]
PY
check "json: three runs recorded, none left RUNNING" \
    [ "$(sqlite3 "$T/j.db" "select count(*) || ',' || sum(outcome='RUNNING') from runs")" = "3,0" ]
# a _QIO_ image keeps the unit's bootloader: from 0x11000 on, the unit holds the file
check "json: the good unit holds the image" \
    cmp -s -i 69632:69632 -n $(($(stat -c %s "$IMG") - 69632)) "$IMG" "$T/u1.bin"
check "json: the dead-link unit does not" \
    bash -c "! cmp -s -i 69632:69632 -n \$((\$(stat -c %s '$IMG') - 69632)) '$IMG' '$T/u2.bin'"

"$FL" query batch_summary --db "$T/j.db" --param by=port --json >"$T/bs.json"
check "batch_summary by=port: one row per port, with its outcome" python3 - "$T/bs.json" "$P1" "$P2" "$P3" <<'PY'
import json, sys
rows = {r["port"]: r for r in map(json.loads, open(sys.argv[1]))}
p1, p2, p3 = sys.argv[2:]
assert set(rows) == {p1, p2, p3}, rows
assert rows[p1]["pass"] == 1 and rows[p2]["error"] == 1 and rows[p2]["pass_pct"] == 0, rows
PY
"$FL" query batch_summary --db "$T/j.db" --json >"$T/bs1.json"
check "batch_summary: one row per station by default" python3 -c "
import json; rows=[json.loads(l) for l in open('$T/bs1.json')]
assert len(rows) == 1 and rows[0]['runs'] == 3 and rows[0]['pass'] == 1, rows"

# --- plain lines -----------------------------------------------------------------
units 0
"$FL" run "$T/r.yaml" --db "$T/p.db" --port "$P1" --port "$P2" --port "$P3" >"$T/p.out" 2>"$T/p.err"
check "plain: every stderr line starts with its port's label" \
    bash -c "! grep -v -E '^\[[123] sim:bk7231[nt]\] ' '$T/p.err'"
check "plain: all three ports speak" \
    bash -c "for i in 1 2 3; do grep -q \"^\[\$i \" '$T/p.err' || exit 1; done"
check "plain: one result line per port on stdout" [ "$(grep -c -E '^(PASS|FAIL|ERROR) ' "$T/p.out")" = 3 ]
check "plain: a phase's 100% line only after an earlier line of it (no lines for a moment's work)" python3 -c "
import re
seen = set()
for l in open('$T/p.err'):
    m = re.match(r'^\[(.*?)\] (\w+) (\d+)%$', l.strip())
    if not m: continue
    key = (m.group(1), m.group(2))
    if m.group(3) == '100': assert key in seen, l
    else: seen.add(key)"
check "plain: no carriage returns or escape codes" bash -c "! grep -q \$'[\r\033]' '$T/p.err' '$T/p.out'"

# --- Ctrl-C in the middle of the writes ----------------------------------------------
# Two units at real wire timing; once a write is under way, SIGINT: each port stops
# at its next safe point, wherever it is, and its run is recorded ABORTED; nothing
# is left RUNNING.
for i in 1 2; do cp "$DUMP" "$T/c$i.bin"; done
C1="sim:bk7231n?flash=$T/c1.bin&timescale=1"
C2="sim:bk7231n?flash=$T/c2.bin&timescale=1"
mkfifo "$T/stop.fifo"
"$FL" run "$T/r.yaml" --db "$T/c.db" --json --port "$C1" --port "$C2" >"$T/stop.fifo" 2>/dev/null &
RUN=$!
exec 7<"$T/stop.fifo"
WAIT_LINE_LOG=$T/stop.log wait_line 7 '"progress".*"phase":"write"'
kill -INT $RUN
cat <&7 >>"$T/stop.log"
wait $RUN
rc=$?
exec 7<&-
check "Ctrl-C mid-write: exit 130" [ $rc -eq 130 ]
check "Ctrl-C mid-write: both runs ABORTED, none RUNNING, no step RUNNING" \
    [ "$(sqlite3 "$T/c.db" "select group_concat(outcome) from runs") $(sqlite3 "$T/c.db" "select count(*) from steps where outcome = 'RUNNING'")" = "ABORTED,ABORTED 0" ]
check "Ctrl-C mid-write: one result per port, then the batch event" python3 -c "
import json; ev=[json.loads(l) for l in open('$T/stop.log')]
res=[e for e in ev if e['event']=='result']
assert len(res)==2 and all(e['outcome']=='ABORTED' for e in res), res
assert ev[-1]['event']=='batch' and ev[-1]['aborted']==2, ev[-1]"

# --- the live view under tmux ------------------------------------------------------
if ! command -v tmux >/dev/null; then
    pass "SKIP live view: tmux is not installed"
else
    units 0.3
    SOCK="flt-$$"
    cat >"$T/go.sh" <<SH
"$FL" run "$T/r.yaml" --db "$T/v.db" --port "$P1" --port "$P2" --port "$P3"
echo "EXIT=\$?"
sleep 600
SH
    tmux -L "$SOCK" new-session -d -x 80 -y 30 "bash $T/go.sh"
    trap 'tmux -L "$SOCK" kill-server 2>/dev/null; cleanup' EXIT
    cap() { tmux -L "$SOCK" capture-pane -p -t 0 >"$T/cap"; }
    # wait for the view (its footer), then shrink the pane mid-run
    for _ in $(seq 1 600); do cap; grep -q '^PASS [0-9]*  FAIL' "$T/cap" && break; sleep 0.1; done
    check "view: the footer is drawn" grep -q '^PASS [0-9]*  FAIL' "$T/cap"
    check "view: no line wider than 80 columns" awk 'length($0) > 80 { exit 1 }' "$T/cap"
    tmux -L "$SOCK" resize-window -x 50
    for _ in $(seq 1 1200); do cap; grep -q '^EXIT=' "$T/cap" && break; sleep 0.1; done
    check "view: the run ends (exit 10)" grep -q '^EXIT=10' "$T/cap"
    check "view: one footer left, with the final counts" \
        [ "$(grep -c '^PASS [0-9]*  FAIL' "$T/cap")" = 1 ] && grep -q '^PASS 1  FAIL' "$T/cap"
    check "view: each port's line once, no bar fragments left" \
        bash -c "for i in 1 2 3; do [ \"\$(grep -c \"^\$i sim:bk \" '$T/cap')\" = 1 ] || exit 1; done; ! grep -q -E '^[.#]+\]' '$T/cap'"
    check "view: no line wider than 50 columns" awk 'length($0) > 50 { exit 1 }' "$T/cap"
    tmux -L "$SOCK" kill-server
fi
finish
