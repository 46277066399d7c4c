#!/usr/bin/env bash
# Options before the verb work as after it (flashline --port X info), the
# global --home DIR is accepted before or after the verb, "--" still ends the
# options, and main.c's list of options that take a value agrees with every
# verb's --help (else "--output info read" would run info).
source "$(dirname "$0")/lib.sh"
export FLASHLINE_HOME=$T/home
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
port() { printf 'sim:bk7231n?flash=%s&timescale=0&quiet=1' "$1"; }
cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"
# the identity event without the port (the one field that differs by design)
identity() { grep '"event":"identity"' | sed 's/"port":"[^"]*",//; s/"programmer":"[^"]*",//'; }

# --- the same result whichever side of the verb the options are --------------
"$FL" info --port "$(port "$T/unit.bin")" --chip bk7231n --json >"$T/after.json" 2>/dev/null
rc_after=$?
"$FL" --port "$(port "$T/unit.bin")" --chip bk7231n --json info >"$T/before.json" 2>/dev/null
rc_before=$?
check "info: options after the verb work (exit $rc_after)" [ $rc_after -eq 0 ]
check "info: options before the verb work (exit $rc_before)" [ $rc_before -eq 0 ]
a=$(identity <"$T/after.json"); b=$(identity <"$T/before.json")
same() { [ -n "$1" ] && [ "$1" = "$2" ]; }
check "info: the same identity either way" same "$a" "$b"

"$FL" --json read --port "$(port "$T/unit.bin")" -c bk7231n --size 0x2000 --offset 0x11000 -o "$T/r1.bin" >"$T/read.json" 2>/dev/null
rc=$?
check "--json read --port X ... (options split around the verb) exits 0 (got $rc)" [ $rc -eq 0 ]
check "  and its output is JSON (the pre-scan saw --json before the verb)" grep -q '^{"event":' "$T/read.json"
check "  and it read the range asked for" \
    cmp -s "$T/r1.bin" <(tail -c +$((0x11000 + 1)) "$DUMP" | head -c $((0x2000)))
"$FL" -p "$(port "$T/unit.bin")" -c bk7231n read --size=0x1000 -o "$T/r2.bin" 2>/dev/null
check "short options and --opt=value before the verb" cmp -s "$T/r2.bin" <(head -c 4096 "$DUMP")

# verbs that read a sub-command first take leading options too
"$FL" --json tuya extract "$DUMP" >"$T/tuya.json" 2>/dev/null
rc=$?
check "--json tuya extract DUMP exits 0 (got $rc)" [ $rc -eq 0 ]
check "  and prints the JSON config" grep -q '"event":"tuya_config"' "$T/tuya.json"
"$FL" --json image info "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin" >"$T/image.json" 2>/dev/null
check "--json image info FILE prints JSON" python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/image.json"

# --- errors keep their verb ----------------------------------------------------
expect_exit 2 "a leading unknown option is the verb's usage error (exit 2)" \
    "$FL" --bogus info --port sim:bk7231n --chip bk7231n 2>"$T/err"
check "  naming the verb and the option" grep -q "flashline info: unknown option '--bogus'" "$T/err"
"$FL" --json --bogus info >"$T/err.json" 2>/dev/null
check "--json before the verb makes a usage error a JSON event" \
    grep -q '"event":"error".*"verb":"info".*"kind":"usage"' "$T/err.json"
expect_exit 2 "an unknown verb after options is still reported" "$FL" --port X frob 2>"$T/err"
check "  as an unknown verb" grep -q "unknown verb 'frob'" "$T/err"
expect_exit 2 "options and no verb: a usage error" "$FL" --port X --chip bk7231n 2>"$T/err"
check "  that asks for the verb" grep -q "which verb" "$T/err"
expect_exit 2 "'--' ends the options: a verb after it is not one" "$FL" -- info 2>/dev/null
expect_exit 2 "lua takes no options before its script" "$FL" --json lua x.lua 2>"$T/err"
check "  and says so for lua" grep -q "flashline lua: unknown option '--json'" "$T/err"

"$FL" --json write --port "$(port "$T/unit.bin")" --chip bk7231n -- --home >"$T/dash.json" 2>/dev/null
rc=$?
check "after '--' a file named like an option is a file, leading options still apply (exit $rc)" \
    bash -c '[ $1 -eq 3 ] && grep -q "\"kind\":\"file\".*cannot open --home" "$2"' _ $rc "$T/dash.json"

# --- --help and --version keep working -------------------------------------------
check "--version" bash -c '"$1" --version | grep -q "^flashline [0-9]"' _ "$FL"
check "--help is the top-level help" bash -c '"$1" --help | head -1 | grep -q "^usage: flashline \[--home DIR\] VERB"' _ "$FL"
check "--help before a verb is the verb's help" bash -c '"$1" --help read | head -1 | grep -q "^usage: flashline read"' _ "$FL"
check "--help after options and before a verb is the verb's help" \
    bash -c '"$1" --port X -h info | head -1 | grep -q "^usage: flashline info"' _ "$FL"
check "the top-level help documents --home" bash -c '"$1" --help | grep -q -- "--home DIR"' _ "$FL"

# --- --home DIR, before or after the verb, sets the station home ------------------
printf 'print("HOME=" .. tostring(os.getenv("FLASHLINE_HOME")))\nprint("ARGS=" .. table.concat({...}, " "))\n' >"$T/env.lua"
"$FL" --home "$T/h1" lua "$T/env.lua" >"$T/out" 2>&1
check "--home before the verb sets FLASHLINE_HOME" grep -qx "HOME=$T/h1" "$T/out"
"$FL" lua --home "$T/h2" "$T/env.lua" >"$T/out" 2>&1
check "--home after the verb sets FLASHLINE_HOME" grep -qx "HOME=$T/h2" "$T/out"
"$FL" lua --home="$T/h3" "$T/env.lua" a --home b >"$T/out" 2>&1
check "--home=DIR works; a script's own --home argument is left to the script" \
    bash -c 'grep -qx "HOME=$1/h3" "$2" && grep -qx "ARGS=a --home b" "$2"' _ "$T" "$T/out"
"$FL" --port "$(port "$T/unit.bin")" --home "$T/h4" info --chip bk7231n >/dev/null 2>&1
check "--home between other options before a flash verb is accepted (exit $?)" [ $? -eq 0 ]
expect_exit 2 "--home without a value" "$FL" info --home 2>"$T/err"
check "  says it needs a value" grep -q "'--home' needs a value" "$T/err"
expect_exit 2 "--home given twice with different values" "$FL" --home a info --home b 2>/dev/null
"$FL" --home "$T/h5" --home "$T/h5" lua "$T/env.lua" >"$T/out" 2>&1
check "--home twice with the same value is fine" grep -qx "HOME=$T/h5" "$T/out"

# --- every option that takes a value is known to main.c ----------------------------
# For each verb and each "--opt VALUE" its --help lists, give the option before
# the verb with another verb's name as its value: the verb that runs must be
# the right one ("--output info read --help" is read's help, not info's).
values() { # the options a help text shows with a value: "--port URL", "[-o FILE]"
    sed '/^Exit codes:/,$d' | grep -oE -- '(^|[][ (|])--?[a-zA-Z][a-zA-Z0-9-]* [A-Z]' |
        sed -E 's/^[][ (|]//; s/ [A-Z]$//' | sort -u
}
verbs=$("$FL" --help | awk '/^Verbs:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
n=0; bad=""
for v in $verbs; do
    other=info; [ "$v" = info ] && other=read
    for opt in $("$FL" "$v" --help | values); do
        # "flashline --version ..." is the program's version whatever follows (as
        # esptool's): a verb's own --version (firmware add) goes after the verb
        [ "$opt" = --version ] && continue
        n=$((n + 1))
        # the verb's help, or an error that names it (a verb may read the
        # value before --help: query --file info)
        first=$("$FL" "$opt" "$other" "$v" --help 2>&1 | head -1)
        [[ $first == "usage: flashline $v"* || $first == "flashline $v:"* ]] || bad="$bad $v:$opt"
    done
done
for opt in $("$FL" --help | values); do
    n=$((n + 1))
    [[ $("$FL" "$opt" info read --help 2>&1 | head -1) == "usage: flashline read"* ]] || bad="$bad global:$opt"
done
check "the --help texts list options with values ($n found)" [ "$n" -ge 20 ]
check "main.c knows every option that takes a value (wrong:${bad:- none})" [ -z "$bad" ]

finish
