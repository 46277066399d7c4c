# tests/cli/lib.sh — helpers for CLI tests: checks that count, temp dirs,
# a background simulator.  Source it; end the script with `finish`.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
FL=${FLASHLINE_BIN:-$PWD/build/san/flashline}
SHARED=$PWD/../shared
T=$(mktemp -d /tmp/flashline-test.XXXXXX)
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
# its rfc2217 URL in VAR (and the control URL in VAR_CTL).
start_sim() {
    local var=$1; shift
    local out="$T/sim.$RANDOM.out"
    "$FL" sim --listen 127.0.0.1:0 "$@" >"$out" 2>"$out.err" &
    _pids+=($!)
    local i
    for i in $(seq 1 100); do
        [ -s "$out" ] && grep -q '^rfc2217://' "$out" && break
        sleep 0.05
    done
    printf -v "$var" '%s' "$(grep -m1 '^rfc2217://' "$out")"
    printf -v "${var}_CTL" '%s' "$(grep -m1 '^control: ' "$out" | sed 's/^control: //')"
}
finish() { echo "RESULT passed=$_passed failed=$_failed"; [ "$_failed" -eq 0 ]; }
