# tests/cli/lib.sh — helpers for CLI tests: checks that count, temp dirs,
# a background simulator.  Source it; end the script with `finish`.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
FL=${FLASHLINE_BIN:-$PWD/build/san/flashline}
SHARED=$PWD/../shared
T=$(mktemp -d /tmp/flashline-test.XXXXXX)
# Verbs without --db use the station home's log and backups: never the real
# $HOME's (tests that need another home set FLASHLINE_HOME themselves).
export FLASHLINE_HOME=$T/home
_passed=0; _failed=0; _pids=()
cleanup() { for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

pass() { _passed=$((_passed + 1)); echo "ok   $*"; }
fail() { _failed=$((_failed + 1)); echo "FAIL $*"; }
check() { # description, command...
    local d=$1; shift
    if "$@"; then pass "$d"; else fail "$d"; fi
}
# expect_exit CODE description command...: the command must exit with CODE.
expect_exit() {
    local want=$1 d=$2; shift 2
    "$@"; local rc=$?
    if [ $rc -eq "$want" ]; then pass "$d"; else fail "$d (exit $rc, wanted $want)"; fi
}
# start_sim VAR args...: runs `flashline sim` in the background and stores
# its rfc2217 URL in VAR (and the control URL in VAR_CTL).  The sim's stdout
# is a fifo: its lines are read as they come (the "control:" line is the
# last of its one write), so nothing is polled; they are kept in
# $T/sim.N.out as well.
start_sim() {
    local var=$1; shift
    local out="$T/sim.$RANDOM.out" line fd sim
    mkfifo "$out.fifo"
    "$FL" sim --listen 127.0.0.1:0 "$@" >"$out.fifo" 2>"$out.err" &
    sim=$!
    exec {fd}<"$out.fifo"
    : >"$out"
    # EOF (the sim exited) or 60 s without a line ends the loop too
    while IFS= read -r -t 60 -u "$fd" line; do
        printf '%s\n' "$line" >>"$out"
        [[ $line == control:* ]] && break
    done
    cat <&"$fd" >>"$out" &   # anything later; ends with the sim
    _pids+=($! $sim)         # the sim last: tests take it as ${_pids[-1]}
    exec {fd}<&-
    printf -v "$var" '%s' "$(grep -m1 '^rfc2217://' "$out")"
    printf -v "${var}_CTL" '%s' "$(grep -m1 '^control: ' "$out" | sed 's/^control: //')"
}
# wait_line FD REGEX [SECONDS]: reads lines from FD (e.g. a fifo a command
# writes its log to) until one matches the extended REGEX; the lines are
# appended to $WAIT_LINE_LOG if set.  Fails at EOF or after SECONDS
# (default 120) -- a generous bound, not a timing assumption.
wait_line() {
    local fd=$1 re=$2 limit=${3:-120} line
    local end=$((SECONDS + limit))
    while [ $SECONDS -lt $end ] && IFS= read -r -t $((end - SECONDS)) -u "$fd" line; do
        [ -n "${WAIT_LINE_LOG:-}" ] && printf '%s\n' "$line" >>"$WAIT_LINE_LOG"
        [[ $line =~ $re ]] && return 0
    done
    return 1
}
# Run a Lua test script (`flashline lua SCRIPT ARGS...`) and add the counts of
# its RESULT line to this test's; its output (stderr) is shown and kept in
# $T/out, its stdout in $T/stdout.
lua_test() {
    local script=$1 rc line
    shift
    "$FL" lua "$script" "$@" >"$T/stdout" 2>"$T/out"
    rc=$?
    cat "$T/out"
    line=$(grep '^RESULT' "$T/out")
    _passed=$((_passed + $(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"${line:-passed=0}")))
    _failed=$((_failed + $(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"${line:-failed=1}")))
    [ $rc -eq 0 ] || { fail "$(basename "$script") exited $rc"; tail -5 "$T/out"; }
}
# outside_same ORIG NOW LO HI [LO2 HI2 ...]: every byte of NOW outside the ranges
# [LO, HI) equals ORIG's (the fault tests: nothing changed beyond what was written)
outside_same() {
    python3 - "$@" <<'PY'
import sys
o, n = (open(p, 'rb').read() for p in sys.argv[1:3])
r = [int(x, 0) for x in sys.argv[3:]]
inside = lambda i: any(r[k] <= i < r[k + 1] for k in range(0, len(r), 2))
bad = [i for i in range(len(o)) if o[i] != n[i] and not inside(i)]
if len(o) != len(n) or bad:
    print('changed outside: %d bytes, first at 0x%X' % (len(bad), bad[0] if bad else 0))
    sys.exit(1)
PY
}
finish() { echo "RESULT passed=$_passed failed=$_failed"; [ "$_failed" -eq 0 ]; }
