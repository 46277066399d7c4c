#!/usr/bin/env bash
# Getting the bus and the fastest rate that holds (issue 11 points 3 and 4),
# from the command line: --help tells the order, the station home remembers
# the rate a loader was left at per port (and the next command asks there
# first: the simulator's bus trace shows it), --baud max and a recipe's
# `link: baud: max` choose the fastest rate the line holds and say so (log,
# audit log).  The order of every strategy is tested in tests/test_bus.c.
source "$(dirname "$0")/lib.sh"
mkdir -p "$FLASHLINE_HOME"
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$1" "$2"; }
sim_say() { # HOST:PORT COMMAND: one line to the simulator's control channel
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || return 1
    echo "$2" >&3
    read -r -t 10 ANSWER <&3
    exec 3<&-
    [[ $ANSWER != error* && -n $ANSWER ]]
}

# --- --help: the order and why -----------------------------------------------------
"$FL" read --help >"$T/help"
check "read --help: --baud N|max" grep -q -- "--baud N|max" "$T/help"
check "read --help: auto's order, quick checks first, then the pulse" \
    bash -c "grep -q '(1) one link check' '$T/help' && grep -q '(2) an RTS/DTR pulse' '$T/help' &&
             grep -q '(3) one link check at every other likely' '$T/help' && grep -q '(4) .reboot. text' '$T/help'"
check "read --help: why (a loader keeps its rate until reset)" grep -q "keeps its rate" "$T/help"
expect_exit 2 "--baud fast: usage error" "$FL" info --port "sim:bk7231n?timescale=0" --baud fast 2>/dev/null
expect_exit 2 "run --baud fast: usage error" "$FL" run recipes/bk7231n-obk.yaml --baud fast 2>/dev/null

# --- the rate a loader was left at is remembered per port --------------------------
cp "$DUMP" "$T/n.bin"; chmod u+w "$T/n.bin"
start_sim SIM --chip bk7231n --flash "$T/n.bin" --timescale 0 --quiet --manual-reset \
    --events "$T/ev" --trace-bus
CTL=${SIM_CTL#tcp://}
check "power-cycle the manual-reset unit into its boot window" sim_say "$CTL" power-cycle
"$FL" read --port "$SIM" --chip bk7231n --baud 1500000 --after stay --offset 0x1D0000 \
    --size 0x1000 -o "$T/rf.bin" --link-timeout 10 >/dev/null 2>&1
check "read --baud 1500000 --after stay exits 0" [ $? -eq 0 ]
check "the home remembers 1500000 for the port" grep -qx "1500000 $SIM" "$FLASHLINE_HOME/link-rates"
: >"$T/ev" # the sim appends: what follows is the next command's
"$FL" info --port "$SIM" --chip bk7231n --link-timeout 10 >"$T/out" 2>"$T/err"
check "the next command (info, --baud 921600 by default) exits 0" [ $? -eq 0 ]
check "  ... its first LinkCheck was at the remembered 1500000, and answered" \
    bash -c "[ \"\$(sed -n '1p;2p' '$T/ev' | cut -d' ' -f1,2 | tr '\n' ,)\" = 'link-check baud=1500000,link-answer baud=1500000,' ]"
check "  ... no pulse" bash -c "! grep -q rts-low '$T/ev'"
check "  ... the rebooted chip's port is forgotten" bash -c "! grep -q '$SIM' '$FLASHLINE_HOME/link-rates'"
check "no home is made for it: a missing home stays missing" \
    bash -c "FLASHLINE_HOME='$T/nohome' '$FL' info --port '$SIM' --chip bk7231n --reset none --link-timeout 1 >/dev/null 2>&1; [ ! -e '$T/nohome' ]"

# --- --baud max ------------------------------------------------------------------------
"$FL" info --port "sim:bk7231n?timescale=0&quiet=1&maxbaud=1000000" --baud max >"$T/out" 2>"$T/err"
check "--baud max on a line that garbles above 1 Mbaud: exit 0" [ $? -eq 0 ]
check "  ... keeps 921600" grep -q "baud:          921600" "$T/out"
check "  ... and says 1500000 did not hold" grep -q -- "--baud max: 921600 baud holds (1500000: " "$T/err"
"$FL" info --port "sim:bk7231n?timescale=0&quiet=1&marginal=1000000" --baud max >"$T/out" 2>"$T/err"
check "--baud max on a line that breaks 4 KiB frames above 1 Mbaud: 921600" grep -q "baud:          921600" "$T/out"
check "  ... because the CRC-checked read failed at 1500000" \
    grep -q -- "--baud max: 921600 baud holds (1500000: a CRC-checked 4 KiB read did not come through)" "$T/err"
"$FL" read --port "sim:bk7231n?flash=$T/n.bin&timescale=0&quiet=1&drop=0.005&corrupt=0.005&seed=7" \
    --baud max --offset 0x100000 --size 0x40000 -o "$T/part.bin" >/dev/null 2>"$T/err"
check "--baud max through lost and garbled bytes: the read exits 0" [ $? -eq 0 ]
check "  ... and is byte-exact" cmp -s "$T/part.bin" <(tail -c +$((0x100000 + 1)) "$T/n.bin" | head -c $((0x40000)))
check "  ... the chosen rate is logged" grep -Eq -- "--baud max: [0-9]+ baud holds" "$T/err"

# --- a recipe's link: baud: max, measured in the audit log ---------------------------
cat >"$T/max.yaml" <<'EOF'
name: bus-max
chip: bk7231n
link:
  baud: max
steps:
  - connect
EOF
"$FL" run "$T/max.yaml" --port "sim:bk7231n?timescale=0&quiet=1&maxbaud=1000000" --db "$T/a.db" \
    >"$T/run.out" 2>&1
check "recipe with link: baud: max PASSes (exit $?)" [ $? -eq 0 ]
meas() { sql "$T/a.db" "SELECT m.value FROM measurements m JOIN steps s ON s.id = m.step_id WHERE s.name = 'connect' AND m.name = '$1' ORDER BY m.id DESC LIMIT 1"; }
check "  ... the audit log has baud_max_chosen 921600 ($(meas baud_max_chosen))" [ "$(meas baud_max_chosen)" = 921600.0 ] || [ "$(meas baud_max_chosen)" = 921600 ]
check "  ... and baud_max_failed 1500000 ($(meas baud_max_failed))" bash -c "[[ '$(meas baud_max_failed)' == 1500000* ]]"
"$FL" run "$T/max.yaml" --baud 460800 --port "sim:bk7231n?timescale=0&quiet=1" --db "$T/b.db" >/dev/null 2>&1
count_max() { sql "$1" "SELECT count(*) FROM measurements WHERE name = 'baud_max_chosen'"; }
chosen() { sql "$1" "SELECT value FROM measurements WHERE name = 'baud' ORDER BY id DESC LIMIT 1"; }
check "run --baud 460800 overrides the recipe's max: no max measurement, 460800 used" \
    bash -c "[ '$(count_max "$T/b.db")' = 0 ] && [[ '$(chosen "$T/b.db")' == 460800* ]]"
"$FL" run "$T/max.yaml" --baud max --port "sim:bk7231n?timescale=0&quiet=1&maxbaud=300000" --db "$T/c.db" >/dev/null 2>&1
check "run --baud max: 230400 on a line that holds 300 kbaud ($(chosen "$T/c.db"))" \
    bash -c "[[ '$(chosen "$T/c.db")' == 230400* ]]"
finish
