#!/usr/bin/env bash
# --json: every line every verb writes is one JSON object (one library builds
# them), whatever text it carries -- quotes, backslashes, control characters,
# bytes that are not UTF-8, pages of text -- and usage or early errors are JSON
# "error" events too.  Options: getopt_long with the esptool short forms
# (-p -b -c, -o), "--", repeatable options, no abbreviations, and number
# options that refuse nan, inf, negatives and junk.
source "$(dirname "$0")/lib.sh"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
DB=$T/audit.db
unit() { cp "$DUMP" "$T/$1.bin"; chmod u+w "$T/$1.bin"; }
url() { printf 'sim:bk7231n?flash=%s/%s.bin&timescale=0&quiet=1' "$T" "$1"; }

# jl FILE PYTHON [ARGS...]: FILE must be one JSON object per line (at least one,
# UTF-8, newline-terminated); then PYTHON runs with L = the objects, A = ARGS.
jl() {
    python3 - "$@" <<'PY'
import json, sys
text = open(sys.argv[1], "rb").read().decode("utf-8")
lines = text.split("\n")
assert lines[-1] == "", "output does not end with a newline"
L = [json.loads(l) for l in lines[:-1]]
assert L and all(isinstance(o, dict) for o in L), "not one JSON object per line"
A = sys.argv[3:]
exec(sys.argv[2])
PY
}
# jrc CODE FILE PYTHON [ARGS...]: the last run_json exited CODE, and jl FILE PYTHON holds.
jrc() {
    local want=$1; shift
    [ "$rc" -eq "$want" ] && jl "$@"
}
# run_json NAME CMD...: runs CMD with stdout in $T/NAME.json, stderr in $T/NAME.err; sets rc.
run_json() {
    local name=$1; shift
    "$@" >"$T/$name.json" 2>"$T/$name.err"
    rc=$?
}

# --- every verb, against the simulator: nothing but JSON objects on stdout ----------------
unit a
run_json info "$FL" info -p "$(url a)" -c bk7231n --json
check "info --json: exit 0 ($rc), identity then mac" \
    jrc 0 "$T/info.json" 'assert [o["event"] for o in L if o["event"] in ("identity", "mac")] == ["identity", "mac"]'
run_json read "$FL" read -p "$(url a)" -c bk7231n -o "$T/backup.bin" --json
check "read --json: exit 0 ($rc), done names the file" \
    jrc 0 "$T/read.json" 'assert L[-1]["event"] == "done" and L[-1]["file"] == A[0]' "$T/backup.bin"
check "read -o: the file is the unit's flash" cmp -s "$T/backup.bin" "$DUMP"
run_json write "$FL" write "$IMG" -p "$(url a)" -c bk7231n --json
check "write --json: exit 0 ($rc), progress events, done" \
    jrc 0 "$T/write.json" 'assert L[-1]["event"] == "done" and L[-1]["verb"] == "write" and any(o["event"] == "progress" for o in L)'
run_json verify "$FL" verify "$IMG" -p "$(url a)" -c bk7231n --json
check "verify --json: exit 0 ($rc), done with match" \
    jrc 0 "$T/verify.json" 'assert L[-1]["event"] == "done" and L[-1]["match"] is True'
run_json erase "$FL" erase -p "$(url a)" -c bk7231n --offset 0x1F0000 --size 0x1000 --json
check "erase --json: exit 0 ($rc), done with the range" \
    jrc 0 "$T/erase.json" 'assert L[-1]["event"] == "done" and L[-1]["offset"] == 0x1F0000 and L[-1]["size"] == 0x1000'
run_json tuya "$FL" tuya extract "$DUMP" --json
check "tuya extract --json: exit 0 ($rc), one tuya_config object" \
    jrc 0 "$T/tuya.json" 'assert len(L) == 1 and L[0]["event"] == "tuya_config"'
run_json image "$FL" image info "$IMG" --json
check "image info --json: exit 0 ($rc), one image_info object" \
    jrc 0 "$T/image.json" 'assert len(L) == 1 and L[0]["event"] == "image_info"'
run_json crc "$FL" image crc check "$IMG" --json
check "image crc check --json: exit 0 ($rc)" jrc 0 "$T/crc.json" 'assert L[0]["event"] == "image_crc"'

# A Lua step whose progress phase and log lines carry quotes, backslashes, control
# characters and more than 4 KiB: the JSON must hold them byte for byte.
cat >"$T/hostile.lua" <<'LUA'
local log = require "flashline.log"
return {
  run = function(ctx, args)
    log.progress("ph \"q\" \\ \t\n\1 end", 1, 2)
    log.info(string.rep("x\"\\\n", 1500))
    log.info("a=" .. args.a .. " b=" .. args.b)
    return true
  end,
}
LUA
cat >"$T/hostile.yaml" <<YAML
name: hostile
chip: bk7231n
vars:
  a: unset
  b: unset
steps:
  - connect
  - lua: { file: hostile.lua, a: "\${a}", b: "\${b}" }
YAML
unit b
run_json run "$FL" run "$T/hostile.yaml" -p "$(url b)" --db "$DB" --station s-1 --json --set a=1 --set=b=2
check "run --json: exit 0 ($rc), result PASS last" \
    jrc 0 "$T/run.json" 'assert L[-1]["event"] == "result" and L[-1]["outcome"] == "PASS"'
check "a progress phase with quotes, backslash and control characters survives" \
    jl "$T/run.json" 'assert any(o["event"] == "progress" and o["phase"] == "ph \"q\" \\ \t\n\x01 end" for o in L)'
check "a 6000-byte log message with quotes, backslashes and newlines survives whole" \
    jl "$T/run.json" 'assert any(o["event"] == "log" and o["message"] == "x\"\\\n" * 1500 for o in L)'
check "--set repeated (and --set=K=V) gives every value" \
    jl "$T/run.json" 'assert any(o["event"] == "log" and o["message"] == "a=1 b=2" for o in L)'
run_json check "$FL" run "$T/hostile.yaml" --check --json
check "run --check --json: exit 0 ($rc), a check event" \
    jrc 0 "$T/check.json" 'assert L == [{"event": "check", "port": "", "recipe": A[0], "valid": True}]' "$T/hostile.yaml"
unit c
"$FL" run "$T/hostile.yaml" -p "$(url c)" --db "$DB" --station s-2 --set a=3 --set b=4 >/dev/null 2>&1
run_json query "$FL" query recent_runs --param station=s-1 --param=limit=1 --db "$DB" --json
check "query --json with --param twice: exit 0 ($rc), the one run of s-1" \
    jrc 0 "$T/query.json" 'assert len(L) == 1 and L[0]["outcome"] == "PASS"'
run_json list "$FL" query --list --json
check "query --list --json: exit 0 ($rc)" jrc 0 "$T/list.json" 'assert all("name" in o for o in L)'

# A file name with quotes, a backslash and a newline, in a done event and in an error.
WEIRD="$T/we\"ird \\ name
OpenBK7231N_QIO_1.18.300.bin"
cp "$IMG" "$WEIRD"
run_json weird "$FL" write "$WEIRD" -p "$(url a)" -c bk7231n --json
check "write of a file named with quotes and a newline: done names it exactly (exit $rc)" \
    jrc 0 "$T/weird.json" 'assert L[-1]["event"] == "done" and L[-1]["file"] == A[0]' "$WEIRD"
run_json weird2 "$FL" write "$WEIRD.missing" -p "$(url a)" -c bk7231n --json
check "missing file with quotes and a newline in its name: JSON error naming it, exit 3 ($rc)" \
    jrc 3 "$T/weird2.json" 'assert L == [L[0]] and L[0]["event"] == "error" and L[0]["exit"] == 3 and A[0] in L[0]["message"]' "$WEIRD.missing"

# --- usage and early errors under --json: one JSON error event, same exit code --------------
# usage_json DESCRIPTION CODE KIND CMD...: exit CODE, stdout one error event with that kind and
# exit, nothing on stderr.
usage_json() {
    local d=$1 code=$2 kind=$3; shift 3
    run_json usage "$@"
    if [ $rc -eq "$code" ] && [ ! -s "$T/usage.err" ] && jl "$T/usage.json" \
        'assert len(L) == 1 and L[0]["event"] == "error" and L[0]["kind"] == A[0] and L[0]["exit"] == int(A[1]) and L[0]["message"]' \
        "$kind" "$code"; then
        pass "$d"
    else
        fail "$d (exit $rc, wanted $code): $(head -c 300 "$T/usage.json" "$T/usage.err")"
    fi
}
usage_json "unknown option" 2 usage "$FL" info --bogus -p x -c bk7231n --json
usage_json "unknown short option" 2 usage "$FL" info -x -p x -c bk7231n --json
usage_json "missing value" 2 usage "$FL" info -c bk7231n --json --port
usage_json "flag given a value" 2 usage "$FL" info -p x -c bk7231n --json --reprotect=1
usage_json "bad number" 2 usage "$FL" read -p "$(url a)" -c bk7231n -o "$T/x" --offset 12zz --json
usage_json "missing required option (-o)" 2 usage "$FL" read -p "$(url a)" -c bk7231n --json
usage_json "missing --port/--chip" 2 usage "$FL" info --json
usage_json "unknown chip" 2 usage "$FL" info -p x -c bk9999 --json
usage_json "write without FILE" 2 usage "$FL" write -p x -c bk7231n --json
usage_json "run without a recipe" 2 usage "$FL" run --json
usage_json "query: --csv and --json" 2 usage "$FL" query recent_runs --csv --json
usage_json "tuya extract without DUMP" 2 usage "$FL" tuya extract --json
usage_json "image decrypt without -o" 2 usage "$FL" image decrypt "$IMG" --json
usage_json "unknown verb" 2 usage "$FL" frobnicate --json
usage_json "missing port is an early error: exit 4" 4 link "$FL" info -p /dev/ttyNOPE0 -c bk7231n --json
usage_json "missing firmware file: exit 3" 3 file "$FL" write /nonexistent/fw.bin -p x -c bk7231n --json
usage_json "tuya extract of a missing dump: exit 3" 3 file "$FL" tuya extract /nonexistent/d.bin --json
usage_json "image info of a missing file: exit 3" 3 file "$FL" image info /nonexistent/d.bin --json
usage_json "run of a missing recipe: exit 3" 3 file "$FL" run /nonexistent/r.yaml -p x --json

LONG=$(python3 -c 'print("q\"\\\t" * 1500)')
run_json long "$FL" read -p x -c bk7231n -o "$T/x" --offset "$LONG" --json
check "a 6000-byte usage message with quotes and tabs is whole (exit $rc)" \
    jrc 2 "$T/long.json" 'assert "--offset '"'"'" + A[0] + "'"'"' is not a number" in L[0]["message"]' "$LONG"
run_json latin1 "$FL" read -p x -c bk7231n -o "$T/x" --offset $'caf\xe9\xff' --json
check "bytes that are not UTF-8 become U+FFFD, the line stays JSON (exit $rc)" \
    jrc 2 "$T/latin1.json" 'assert "caf\ufffd\ufffd" in L[0]["message"]'
"$FL" info --bogus -p x -c bk7231n >"$T/plain.out" 2>"$T/plain.err"
check "without --json a usage error is one line on stderr, nothing on stdout" \
    bash -c "[ ! -s '$T/plain.out' ] && [ \$(wc -l <'$T/plain.err') -eq 1 ] && grep -q \"flashline info: unknown option '--bogus'\" '$T/plain.err'"

# --- short forms, "--", abbreviations, duplicates ---------------------------------------------
run_json short "$FL" info -p "$(url a)" -b 115200 -c bk7231n --json
check "-p -b -c: exit 0 ($rc), identity at 115200 baud" \
    jrc 0 "$T/short.json" 'assert [o["baud"] for o in L if o["event"] == "identity"] == [115200]'
run_json attached "$FL" info -p"$(url a)" -b230400 -cbk7231n --json
check "-pURL -bN -cCHIP attached: exit 0 ($rc), 230400 baud" \
    jrc 0 "$T/attached.json" 'assert [o["baud"] for o in L if o["event"] == "identity"] == [230400]'
cp "$IMG" "$T/-OpenBK7231N_QIO_1.18.300.bin"
(cd "$T" && "$FL" write -p "$(url a)" -c bk7231n --json -- -OpenBK7231N_QIO_1.18.300.bin) >"$T/dash.json" 2>"$T/dash.err"
rc=$?
check "'--' lets a FILE start with '-' (exit $rc)" \
    jrc 0 "$T/dash.json" 'assert L[-1]["event"] == "done" and L[-1]["file"] == "-OpenBK7231N_QIO_1.18.300.bin"'
(cd "$T" && expect_exit 2 "without '--' the same FILE is an unknown option" \
    "$FL" write -p "$(url a)" -c bk7231n -OpenBK7231N_QIO_1.18.300.bin 2>/dev/null)
"$FL" write -p rfc2217://127.0.0.1:1 -c bk7231n -- --json >"$T/after.out" 2>"$T/after.err"
rc=$?
check "--json after '--' is a FILE, not the option: plain error, exit 3 ($rc)" \
    bash -c "[ $rc -eq 3 ] && [ ! -s '$T/after.out' ] && grep -q 'cannot open --json' '$T/after.err'"
expect_exit 2 "an abbreviated option (--po) is refused" "$FL" info --po x -c bk7231n 2>/dev/null
expect_exit 2 "an option given twice with different values is refused" \
    "$FL" info -p "$(url a)" --port sim:bk7231t -c bk7231n 2>/dev/null
expect_exit 2 "-o on a verb without --output is refused" "$FL" info -o x -p x -c bk7231n 2>/dev/null
for verb in info read write verify erase; do
    "$FL" $verb --help >"$T/help" 2>&1
    check "$verb --help shows -p, -b and -c" \
        bash -c "grep -q -- '-p, --port' '$T/help' && grep -q -- '-b, --baud' '$T/help' && grep -q -- '-c, --chip' '$T/help'"
done

# --- number options: nan, inf, negatives, junk and absurd values exit 2 -----------------------
for v in nan inf -inf -1 0 1e999 3601 5s ' 5' 0x10 ''; do
    expect_exit 2 "--link-timeout '$v' is refused" "$FL" info -p "$(url a)" -c bk7231n --link-timeout "$v" 2>/dev/null
done
expect_exit 0 "--link-timeout 2.5 is accepted" "$FL" info -p "$(url a)" -c bk7231n --link-timeout 2.5 >/dev/null 2>&1
for v in -5 ' 921600' 921600x nan; do
    expect_exit 2 "--baud '$v' is refused" "$FL" info -p "$(url a)" -c bk7231n --baud "$v" 2>/dev/null
done
for v in -1 ' 12' +4096 1e3; do
    expect_exit 2 "--size '$v' is refused" "$FL" read -p "$(url a)" -c bk7231n -o "$T/x" --size "$v" 2>/dev/null
done
for v in -1 ' 5' nan; do
    expect_exit 2 "sim --seed '$v' is refused" timeout 20 "$FL" sim --chip bk7231n --seed "$v" 2>/dev/null
done
finish
