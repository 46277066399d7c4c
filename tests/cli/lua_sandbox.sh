#!/usr/bin/env bash
# The Lua host as a sandbox for recipe steps: os.exit raises instead of ending
# the station, print goes to the event log (JSON under --json), a looping or
# blocked step is stopped by SIGTERM/SIGINT and recorded ABORTED, memory is
# capped, errors raised with tables are described, io/os are limited for steps
# (not for `flashline lua` scripts), and no binding touches a collected
# coroutine (valgrind).
source "$(dirname "$0")/lib.sh"
DB=$T/audit.db
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"
PORT="sim:bk7231n?flash=$T/unit.bin&timescale=0&quiet=1"
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$DB" "$1"; }
# step NAME LUA-SOURCE: a one-step recipe $T/NAME.yaml running $T/NAME.lua
step() {
    printf '%s\n' "$2" >"$T/$1.lua"
    printf 'name: %s\nchip: bk7231n\nsteps:\n  - lua: { file: %s.lua }\n' "$1" "$1" >"$T/$1.yaml"
}
# to OUT ERR command...: run with stdout/stderr into files (the ok/FAIL lines stay visible)
to() {
    local o=$1 e=$2; shift 2
    if [ "$o" = "$e" ]; then "$@" >"$o" 2>&1; else "$@" >"$o" 2>"$e"; fi
}
# the last run of a recipe: outcome|step outcome|step message
last_run() { sql "select r.outcome || '|' || s.outcome || '|' || coalesce(s.message, '') from runs r join steps s on s.run_id = r.id where r.recipe_name = '$1' order by r.id desc limit 1"; }

# --- os.exit in a step raises: the run is recorded, the station does not exit 0 ---------
step exit 'return { run = function() os.exit(0) end }'
expect_exit 10 "a step calling os.exit(0) is an ERROR (exit 10), not a PASS" \
    to "$T/out" "$T/out" "$FL" run "$T/exit.yaml" --port "$PORT" --db "$DB"
check "the run is recorded ERROR, the step's message names os.exit" \
    grep -q '^ERROR|ERROR|.*os\.exit is not available in a recipe step' <<<"$(last_run exit)"
check "no run is left RUNNING" [ "$(sql "select count(*) from runs where outcome = 'RUNNING'")" = 0 ]
step exit_at_load 'os.exit(3)
return { run = function() return true end }'
expect_exit 3 "os.exit while a custom step loads: recipe error, nothing run" \
    to "$T/out" "$T/out" "$FL" run "$T/exit_at_load.yaml" --port "$PORT" --db "$DB"
check "... and the message names os.exit" grep -q "os.exit is not available" "$T/out"

# --- print goes to the event log: JSON under --json -------------------------------------
step hello 'return { run = function() print("hello from a step", 42, nil, "\"quoted\"") return true end }'
expect_exit 0 "a printing step PASSes" \
    to "$T/json" "$T/err" "$FL" run "$T/hello.yaml" --port "$PORT" --db "$DB" --json
check "every stdout line is a JSON object, print's line among them as a log event" python3 - "$T/json" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
want = 'hello from a step\t42\tnil\t"quoted"'
sys.exit(0 if any(e.get("event") == "log" and e.get("message") == want for e in events) else 1)
PY
"$FL" run "$T/hello.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>"$T/err"
check "without --json, print's line is on stderr, not stdout" \
    bash -c "grep -q 'hello from a step' '$T/err' && ! grep -q 'hello from a step' '$T/out'"

# --- error raised with a table or another non-string --------------------------------------
step table_error 'return { run = function() error({ code = 1 }) end }'
expect_exit 10 "error({code = 1}) is an ERROR" to "$T/out" "$T/out" "$FL" run "$T/table_error.yaml" --port "$PORT" --db "$DB"
check "its message describes the table, not 'stack traceback:'" \
    grep -q '^ERROR|ERROR|error object is a table {code = 1}$' <<<"$(last_run table_error)"
step tostring_error 'return { run = function() error(setmetatable({}, { __tostring = function() return "custom failure 7" end })) end }'
"$FL" run "$T/tostring_error.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>&1
check "an error object with __tostring is recorded through it" \
    grep -q '^ERROR|ERROR|custom failure 7$' <<<"$(last_run tostring_error)"
step nil_error 'return { run = function() error() end }'
"$FL" run "$T/nil_error.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>&1
check "error() without a value is recorded as such" \
    grep -q '^ERROR|ERROR|error object is a nil value$' <<<"$(last_run nil_error)"
step table_return 'return { run = function() return nil, { why = "bad" }, "fail" end }'
"$FL" run "$T/table_return.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>&1
check "a step returning nil, {table}, 'fail' is a FAIL with the table described" \
    grep -q '^FAIL|FAIL|error object is a table {why = "bad"}$' <<<"$(last_run table_return)"

# --- what a step may use of io/os/debug/load -----------------------------------------------
step probe '
return { run = function()
  local problems = {}
  local function refused(f, pattern)
    local ok, e = pcall(f)
    if ok or not tostring(e):find(pattern, 1, true) then problems[#problems + 1] = pattern .. " -> " .. tostring(e) end
  end
  refused(function() return io.open("/etc/hostname") end, "io.open is not available in a recipe step")
  refused(function() return io.write("x") end, "io.write is not available")
  refused(function() return os.execute("true") end, "os.execute is not available")
  refused(function() return os.remove("nothing") end, "os.remove is not available")
  refused(function() return os.rename("a", "b") end, "os.rename is not available")
  refused(function() return require("io").popen("true") end, "io.popen is not available")
  refused(function() return require("os").exit end, "os.exit is not available")
  refused(function() debug.sethook() end, "debug.sethook is not available")
  refused(function() return package.loadlib("libc.so.6", "puts") end, "loadlib")
  local f, e = load(string.dump(function() end))
  if f or not tostring(e):find("binary", 1, true) then problems[#problems + 1] = "bytecode loaded" end
  if type(os.time()) ~= "number" or type(os.clock()) ~= "number" or #os.date("!%Y") ~= 4
     or os.getenv("HOME") == nil or type(debug.traceback()) ~= "string" then
    problems[#problems + 1] = "an allowed function is missing"
  end
  if #problems > 0 then return nil, table.concat(problems, "; "), "fail" end
  return true
end }'
"$FL" run "$T/probe.yaml" --port "$PORT" --db "$DB" >"$T/out" 2>&1
r=$(last_run probe)
check "steps get os.time/clock/date/getenv and debug.traceback; io, os.execute/remove/rename/exit, debug.sethook, loadlib and bytecode are refused by name" \
    [ "$r" = "PASS|PASS|" ]
[ "$r" = "PASS|PASS|" ] || echo "    $r"
cat >"$T/script_access.lua" <<'LUA'
assert(type(io.open) == "function" and type(os.execute) == "function" and type(os.remove) == "function",
       "scripts keep io and os")
local f = assert(io.open(arg[0])); f:close()
LUA
expect_exit 0 "flashline lua scripts keep io and os" "$FL" lua "$T/script_access.lua"

# --- memory cap -----------------------------------------------------------------------------
step hog 'return { run = function()
  local t = {}
  for i = 1, math.huge do t[i] = ("x"):rep(4096) .. i end
end }'
FLASHLINE_LUA_MEMORY=48M expect_exit 10 "a step eating memory stops at the cap: ERROR, no crash" \
    to "$T/out" "$T/out" "$FL" run "$T/hog.yaml" --port "$PORT" --db "$DB"
check "the step is recorded ERROR 'not enough memory'" \
    grep -q '^ERROR|ERROR|not enough memory$' <<<"$(last_run hog)"
# The station's own glue between steps (expanding ${unit.*}, naming the unit) runs Lua on
# values a step left in ctx; an error there (here a __tostring that raises; out of memory is
# the same path) must be the step's ERROR, never a Lua panic that kills the station.
cat >"$T/badmac.lua" <<'LUA'
return { run = function(ctx)
  ctx.unit.mac = setmetatable({}, { __tostring = function() error("no mac for you") end })
  return true
end }
LUA
printf 'name: badmac\nchip: bk7231n\nsteps:\n  - lua: { file: badmac.lua }\n  - lua: { file: hello.lua, greeting: "${unit.mac}" }\n' >"$T/badmac.yaml"
expect_exit 10 "a step's value that raises when the station reads it: ERROR, no crash" \
    to "$T/out" "$T/out" "$FL" run "$T/badmac.yaml" --port "$PORT" --db "$DB"
check "... recorded: the first step PASS, the second ERROR naming the variable and the error" \
    grep -q '^ERROR PASS: ERROR:.*cannot read \${unit.mac}: .*no mac for you$' <<<"$(sql "select r.outcome || ' ' || group_concat(s.outcome || ':' || coalesce(s.message, ''), ' ') from runs r join (select * from steps order by idx) s on s.run_id = r.id where r.recipe_name = 'badmac'")"
printf 'local s = ("x"):rep(1 << 30)\n' >"$T/big.lua"
expect_exit 2 "a 1 GiB string in a script is refused by the default 256 MiB cap (exit 2)" \
    to /dev/null "$T/err" "$FL" lua "$T/big.lua"
check "... with 'not enough memory'" grep -q "not enough memory" "$T/err"
FLASHLINE_LUA_MEMORY=lots "$FL" lua "$T/big.lua" 2>"$T/err"
check "a malformed FLASHLINE_LUA_MEMORY is refused by name" grep -q "FLASHLINE_LUA_MEMORY='lots'" "$T/err"

# --- a looping or blocked step is stopped by SIGTERM / SIGINT and recorded ABORTED ----------
# stop_when_printed SIGNAL NAME ARGS...: runs `flashline ARGS` with stdout and stderr into a
# fifo, waits for the line "looping now" (the step printed it right before looping), sends
# SIGNAL; leaves the exit code in $stop_rc and the output in $T/NAME.log.
stop_when_printed() {
    local sig=$1 name=$2; shift 2
    rm -f "$T/$name.fifo"; mkfifo "$T/$name.fifo"
    "$FL" "$@" >"$T/$name.fifo" 2>&1 &
    local pid=$!
    exec 3<"$T/$name.fifo"
    local line seen=0
    : >"$T/$name.log"
    while IFS= read -r -t 300 line <&3; do
        printf '%s\n' "$line" >>"$T/$name.log"
        if [[ $line == *"looping now"* ]]; then seen=1; break; fi
    done
    [ $seen = 1 ] && kill "-$sig" "$pid"
    # AGAIN=1: once the process says it is stopping, interrupt it a second time
    if [ $seen = 1 ] && [ "${AGAIN:-0}" = 1 ]; then
        while IFS= read -r -t 300 line <&3; do
            printf '%s\n' "$line" >>"$T/$name.log"
            [[ $line == *"stopping at the next safe point"* ]] && break
        done
        kill "-$sig" "$pid"
    fi
    # a guard, not a timing assumption: a process that ignores the signal fails the
    # test (exit 137) instead of hanging it
    ( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep 300 & s=$!; wait $s; kill -9 "$pid" 2>/dev/null ) &
    local guard=$!
    cat <&3 >>"$T/$name.log"   # until the process closes its output
    exec 3<&-
    wait "$pid"; stop_rc=$?
    kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
    [ $seen = 1 ] || echo "never saw the step start: $(tail -3 "$T/$name.log")"
}
step spin 'return { run = function() print("looping now") while true do end end }'
stop_when_printed TERM spin_term run "$T/spin.yaml" --port "$PORT" --db "$DB"
check "SIGTERM stops 'while true do end': exit 130 (got $stop_rc)" [ "$stop_rc" = 130 ]
check "the run and the step are recorded ABORTED" \
    grep -q '^ABORTED|ABORTED|.*stopped by the operator' <<<"$(last_run spin)"
stop_when_printed INT spin_int run "$T/spin.yaml" --port "$PORT" --db "$DB" --json
check "SIGINT stops it too under --json: exit 130 (got $stop_rc)" [ "$stop_rc" = 130 ]
check "... recorded ABORTED" grep -q '^ABORTED|ABORTED|' <<<"$(last_run spin)"
check "... and the result event says ABORTED" grep -q '"outcome":"ABORTED"' "$T/spin_int.log"
step stubborn 'return { run = function()
  print("looping now")
  while true do pcall(function() while true do end end) end
end }'
stop_when_printed TERM stubborn run "$T/stubborn.yaml" --port "$PORT" --db "$DB"
check "a step that catches the stop with pcall in a loop is still stopped (exit $stop_rc)" [ "$stop_rc" = 130 ]
check "... recorded ABORTED" grep -q '^ABORTED|ABORTED|' <<<"$(last_run stubborn)"
step blocked 'local link = require "flashline.link"
return { run = function(ctx)
  local l <close> = assert(link.open(ctx.port))
  print("looping now")
  local data, msg, kind = l:read(1, 3600)   -- the simulated unit says nothing: an hour
  return nil, msg or "read returned", kind
end }'
stop_when_printed TERM blocked run "$T/blocked.yaml" --port "$PORT" --db "$DB"
check "a step blocked in link:read for an hour is stopped by SIGTERM (exit $stop_rc)" [ "$stop_rc" = 130 ]
check "... recorded ABORTED" grep -q '^ABORTED|ABORTED|' <<<"$(last_run blocked)"
check "no run is left RUNNING after all that" [ "$(sql "select count(*) from runs where outcome = 'RUNNING'")" = 0 ]
# A step stuck inside one C call (a runaway pattern match) never reaches the
# stop hook: the second signal ends the process at once, and the next start
# records the run ABORTED, as after kill -9.
step stuck 'return { run = function()
  local s = string.rep("a", 200000)
  print("looping now")
  while true do s:find(".-b") end
end }'
AGAIN=1 stop_when_printed TERM stuck run "$T/stuck.yaml" --port "$PORT" --db "$DB"
check "a step stuck in C: the second SIGTERM stops at once with exit 130 (got $stop_rc)" [ "$stop_rc" = 130 ]
check "... and says the run is recorded at the next start" grep -q "second interrupt" "$T/stuck.log"
"$FL" run "$T/hello.yaml" --port "$PORT" --db "$DB" >/dev/null 2>&1
check "... the next start records the stuck run ABORTED" \
    [ "$(sql "select outcome from runs where recipe_name = 'stuck'")" = ABORTED ]
mkfifo "$T/quiet.fifo"
printf 'local d, msg, kind = require("flashline.util").load(arg[1]) print(d, msg, kind)\n' >"$T/fifo.lua"
timeout 120 "$FL" lua "$T/fifo.lua" "$T/quiet.fifo" >/dev/null 2>"$T/err"
check "util.load of a fifo nobody writes returns nil, msg, 'file' instead of blocking" \
    grep -q "nil.*is not a regular file.*file" "$T/err"
printf 'print("looping now") while true do end\n' >"$T/spin_script.lua"
stop_when_printed TERM spin_script lua "$T/spin_script.lua"
check "flashline lua: SIGTERM stops a looping script with exit 130 (got $stop_rc)" [ "$stop_rc" = 130 ]

# --- no lua_State used after its coroutine was collected (valgrind) -------------------------
# The Lua library is not built with ASan, so only valgrind sees a read of a freed
# coroutine inside it; this runs the release binary (make test builds it).
REL=${FLASHLINE_REL_BIN:-$PWD/flashline}
if command -v valgrind >/dev/null && [ -x "$REL" ]; then
    cp "$DUMP" "$T/unit3.bin"; chmod u+w "$T/unit3.bin"
    valgrind -q --error-exitcode=99 "$REL" lua tests/lua/lifetime_test.lua "$T/unit3.bin" \
        >"$T/vg.out" 2>"$T/vg.err"
    rc=$?
    check "session callbacks after the creating coroutine was collected: valgrind clean (exit $rc)" \
        [ $rc -eq 0 ]
    [ $rc -eq 0 ] || grep -m3 -A8 "Invalid" "$T/vg.err"
    check "... and the script ran to its end" grep -q "^lifetime: done" "$T/vg.err"
else
    echo "skip valgrind lifetime test (no valgrind or no release binary at $REL)"
fi
finish
