#!/usr/bin/env bash
# Terminal output: progress lines fit the terminal and follow a resize, no bar
# for a phase that moved nothing worth one (info), plain lines when stderr is
# not a terminal, NO_COLOR.  The terminal is a detached tmux session of a fixed
# size on a private socket: its screen is read with capture-pane (-J joins
# wrapped rows, so a line that wrapped shows as too long) and its raw output is
# kept with pipe-pane.  The checks are in tty_screen.py.
source "$(dirname "$0")/lib.sh"
export FLASHLINE_HOME=$T/home
mkdir -p "$FLASHLINE_HOME"
unset COLUMNS TMUX
# Wire time at real speed: a 256 KiB read takes about 3 s however fast the
# machine is, so its bar is drawn; nothing below depends on how long it takes.
# The unit holds a Tuya dump whose first MiB has no erased sector: a read
# proves erased sectors by CRC without moving them, and a blank unit would be
# read in no time.
cp "$SHARED/testdata/tuya-dumps/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin" "$T/unit.bin"
chmod u+w "$T/unit.bin"
SIM="sim:bk7231n?timescale=1&flash=$T/unit.bin"
TSIM='sim:bk7231n?timescale=1&flash=unit.bin' # in a terminal (run in $T): short log lines
scr() { python3 tests/cli/tty_screen.py "$@"; }
printf 'name: t\nchip: bk7231n\nsteps:\n  - connect\n' >"$T/connect.yaml"

# --- not a terminal ---------------------------------------------------------------
start=$SECONDS
"$FL" read --port "$SIM" --chip bk7231n -o "$T/plain.bin" --size 0x40000 2>"$T/plain.err" </dev/null
rc=$?
took=$((SECONDS - start))
check "read, stderr to a file: exit 0 ($rc)" [ $rc -eq 0 ]
check "  no carriage return inside a line, no escape code" scr raw-plain "$T/plain.err"
check "  progress as plain lines, the last at 100 %" \
    [ "$(grep -E '^read: [0-9]+% \(' "$T/plain.err" | tail -1 | cut -d' ' -f2)" = "100%" ]
n=$(grep -cE '^read: [0-9]+%' "$T/plain.err")
check "  a line per quarter or per 10 s, not per block ($n lines in ${took}s)" \
    [ "$n" -ge 2 ] && [ "$n" -le $((6 + took / 10)) ]
check "  no 0.0 KiB/s rate" bash -c "! grep -q ' 0\.0 KiB/s' '$T/plain.err'"
"$FL" info --port "$SIM" --chip bk7231n >"$T/info.out" 2>"$T/info.err"
check "info, stderr to a file: no progress for its 4 KiB read (exit $?)" scr no-progress "$T/info.err"
# A recipe's flash step reads 4 KiB after its backup step read the whole flash
# under the same phase name: that short read is a phase of its own and shows
# nothing (it used to end as "read: 100% (4/4 KiB, 6.7 KiB/s)", and on a
# terminal it redrew the finished bar as 4/4 KiB).  The first read runs on the
# CPU clock for 0.6 s, so it has earned its display however loaded the
# machine is.
cat >"$T/phases.lua" <<'LUA'
local log = require("flashline").log
local t = os.clock()
log.progress("read", 0, 2097152)
while os.clock() - t < 0.6 do end
log.progress("read", 1048576, 2097152)
log.progress("read", 2097152, 2097152)
log.progress("read", 4096, 4096)
log.progress("write", 8192, 8192)
log.info("done")
LUA
"$FL" lua "$T/phases.lua" 2>"$T/phases.err" </dev/null
check "a long read, then a 4 KiB read of the same name (exit $?): lines for the long one only" \
    scr in-order "$T/phases.err" '^read: 100% \(2\.00/2\.00 MiB' '^done'
check "  nothing for the 4 KiB read" bash -c "! grep -q '4/4 KiB' '$T/phases.err'"
"$FL" run "$T/connect.yaml" --port 'sim:bk7231n?timescale=0' --db "$T/plain.db" >"$T/run.out" 2>"$T/run.err"
check "run, stdout to a file: PASS line without colour codes" \
    bash -c "grep -q '^PASS ' '$T/run.out' && ! grep -q $'\033' '$T/run.out' '$T/run.err'"
"$FL" read --json --port 'sim:bk7231n?timescale=0' --chip bk7231n -o "$T/json.bin" --size 0x20000 \
    >"$T/json.out" 2>"$T/json.err"
check "read --json: every stdout line an event, progress events, nothing on stderr" python3 -c '
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
assert any(o["event"] == "progress" for o in L) and L[-1]["event"] == "done"
assert open(sys.argv[2]).read() == ""' "$T/json.out" "$T/json.err"

# --- a terminal ---------------------------------------------------------------------
if ! command -v tmux >/dev/null; then
    echo "skip terminal checks (80 and 50 columns, resize, NO_COLOR): tmux is not installed (make deps installs it)"
    finish
    exit
fi
TM=(tmux -L "flashline-test-$$" -f /dev/null)
trap '"${TM[@]}" kill-server 2>/dev/null; cleanup' EXIT
# The pane waits for the test to start recording its output, runs the command,
# prints its exit code and stays open until the test kills it.
cat >"$T/pane.sh" <<'SH'
read -r _ <"$1"
shift
"$@"
echo "flashline-exit=$?"
read -r _
SH
screen() { "${TM[@]}" capture-pane -p -J -S - | sed 's/[[:space:]]*$//'; }
# pane_wait REGEX: polls the screen until a line matches (a bound of 120 s, not
# a timing assumption)
pane_wait() {
    local end=$((SECONDS + 120))
    while [ $SECONDS -lt $end ]; do
        screen | grep -Eq "$1" && return 0
        sleep 0.1
    done
    return 1
}
# tty_start NAME WIDTH COMMAND...: the command in a fresh WIDTHx24 terminal, its
# raw output in $T/NAME.raw
tty_start() {
    local name=$1 width=$2
    shift 2
    "${TM[@]}" kill-server 2>/dev/null
    rm -f "$T/go"
    mkfifo "$T/go"
    "${TM[@]}" new-session -d -x "$width" -y 24 -c "$T" sh "$T/pane.sh" "$T/go" "$@" &&
        "${TM[@]}" pipe-pane "cat >'$T/$name.raw'" &&
        timeout 60 sh -c 'echo go >"$1"' _ "$T/go" ||
        echo "  $name: could not start the command in a tmux terminal"
}
# tty_end NAME: waits for the command's exit line, keeps the screen in
# $T/NAME.screen; true if it exited 0
tty_end() {
    pane_wait '^flashline-exit=' || echo "  no exit line from $1 within 120 s"
    screen >"$T/$1.screen"
    local end=$((SECONDS + 30)) # the raw copy trails the screen: wait for the end there too
    while [ $SECONDS -lt $end ] && ! grep -q 'flashline-exit=' "$T/$1.raw" 2>/dev/null; do
        sleep 0.1
    done
    "${TM[@]}" kill-server 2>/dev/null
    grep -q "^flashline-exit=0$" "$T/$1.screen" || { grep -v "^$" "$T/$1.screen" | sed "s/^/    | /"; false; }
}

# 80 columns, NO_COLOR=1: one read line redrawn in place, ending at 100 %
tty_start read80 80 env NO_COLOR=1 "$FL" read --port "$TSIM" --chip bk7231n -o r.bin --size 0x40000
check "80 columns: read exits 0" tty_end read80
check "  the bar was drawn and redrawn in place" scr raw-redraws "$T/read80.raw" 3
check "  no line longer than 80 columns" scr screen-fits "$T/read80.screen" 80 all
check "  one read line, at 100 %" scr one-line "$T/read80.screen" read
check "  no wrapped bar fragments" scr no-fragments "$T/read80.screen"
check "  no 0.0 KiB/s rate" bash -c "! grep -q ' 0\.0 KiB/s' '$T/read80.screen'"
check "  NO_COLOR=1: no escape codes but cursor/line control" scr raw-escapes "$T/read80.raw"

# 50 columns: a write (a read of the sectors around it, then the write)
head -c 262144 /dev/urandom >"$T/data.bin"
tty_start write50 50 "$FL" write --port "$TSIM" --chip bk7231n --offset 0x100000 --raw data.bin
check "50 columns: write exits 0" tty_end write50
check "  progress lines fit 50 columns" scr screen-fits "$T/write50.screen" 50
check "  one write line, at 100 %" scr one-line "$T/write50.screen" write
check "  no wrapped bar fragments" scr no-fragments "$T/write50.screen"
check "  no escape codes but cursor/line control" scr raw-escapes "$T/write50.raw"

# the long read and the 4 KiB read of the same name (see the plain case above):
# the finished bar stays as it was, the short read draws nothing
tty_start phases 80 "$FL" lua "$T/phases.lua"
check "a long read, then a 4 KiB read of the same name, on a terminal: exits 0" tty_end phases
check "  one read line, at 100 %" scr one-line "$T/phases.screen" read
check "  of the 2 MiB read" grep -q '2\.00/2\.00 MiB' "$T/phases.screen"
check "  nothing for the 4 KiB read" bash -c "! grep -q '4/4 KiB' '$T/phases.screen'"

# a terminal that reports no size (a serial console): $COLUMNS says how wide
tty_start cols 80 sh -c 'stty cols 0 rows 0 && exec env COLUMNS=40 "$@"' _ \
    "$FL" read --port "$TSIM" --chip bk7231n -o r.bin --size 0x40000
check "a terminal of unknown size, COLUMNS=40: read exits 0" tty_end cols
check "  the bar was drawn in place" scr raw-redraws "$T/cols.raw" 2
check "  progress lines fit 40 columns" scr screen-fits "$T/cols.screen" 40
check "  one read line, at 100 %" scr one-line "$T/cols.screen" read

# info: its phases are one 4 KiB block each, no bar
tty_start info80 80 "$FL" info --port "$TSIM" --chip bk7231n
check "info on a terminal exits 0" tty_end info80
check "  no progress bar" scr no-progress "$T/info80.screen"
check "  nothing drawn in place, no escape codes" scr raw-plain "$T/info80.raw"

# a resize from 80 to 50 columns while the bar is on the screen (1 MiB: ~12 s)
tty_start resize 80 "$FL" read --port "$TSIM" --chip bk7231n -o r.bin --size 0x100000
if pane_wait '^read +\['; then
    pass "resize: the bar is on the screen at 80 columns"
    "${TM[@]}" resize-window -x 50
else
    fail "resize: no bar on the screen within 120 s"
fi
check "  read exits 0" tty_end resize
check "  draws fit 80, then after the resize 50 columns (before and at 100 %)" \
    scr raw-resized "$T/resize.raw" 80 50
check "  one read line, at 100 %, within 50 columns" \
    bash -c "python3 tests/cli/tty_screen.py one-line '$T/resize.screen' read &&
             python3 tests/cli/tty_screen.py screen-fits '$T/resize.screen' 50"
check "  no leftover of the 80-column line" scr no-fragments "$T/resize.screen"

# a log line while a bar is on the screen: the message takes the bar's place,
# the bar comes back below it, and the finished bar stays when the next one comes
cat >"$T/half.lua" <<'LUA'
local log = require "flashline.log"
return {
  run = function(ctx, args)
    local said = false
    local data, err, kind = ctx.session:read(0, 0x40000, function(phase, done, total)
      log.progress("copy", done, total)
      if done >= 0x20000 and not said then said = true; log.info("halfway through") end
    end)
    if not data then return nil, err, kind end
    log.info("copied " .. #data .. " bytes")
    return true
  end,
}
LUA
printf 'name: half\nchip: bk7231n\nsteps:\n  - connect\n  - lua: { file: half.lua }\n' >"$T/half.yaml"
tty_start logs 80 "$FL" run "$T/half.yaml" --port "$TSIM" --db "$T/half.db"
check "log lines during a bar: run exits 0" tty_end logs
check "  the message above, the bar (at 100 %) below it, then the next message" \
    scr in-order "$T/logs.screen" '^halfway through$' '^copy +\[#+\] 100%' '^copied 262144 bytes$'
check "  no leftover pieces of the bar" scr no-fragments "$T/logs.screen"

# the PASS/FAIL line: coloured on a terminal unless NO_COLOR is set and not empty
RUN=("$FL" run "$T/connect.yaml" --port 'sim:bk7231n?timescale=0')
tty_start color 80 env -u NO_COLOR "${RUN[@]}" --db "$T/c1.db"
check "run on a terminal exits 0" tty_end color
check "  PASS line coloured" scr raw-has-color "$T/color.raw"
tty_start nocolor 80 env NO_COLOR=1 "${RUN[@]}" --db "$T/c2.db"
check "run with NO_COLOR=1 exits 0" tty_end nocolor
check "  PASS line present" grep -q '^PASS ' "$T/nocolor.screen"
check "  no colour: no escape codes but cursor/line control" scr raw-escapes "$T/nocolor.raw"
tty_start emptycolor 80 env NO_COLOR= "${RUN[@]}" --db "$T/c3.db"
check "run with NO_COLOR empty exits 0" tty_end emptycolor
check "  an empty NO_COLOR does not count: PASS line coloured" scr raw-has-color "$T/emptycolor.raw"
finish
