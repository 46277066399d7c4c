#!/usr/bin/env bash
# esptool-like conventions of the flash verbs: --before (= --reset) and --after,
# the loader found at the rate an earlier command left it at (no power-cycle
# prompt), a baud fallback that honours --before and --link-timeout, --chip
# optional where the chip ID tells it, and `run --baud/--reset` overrides.
source "$(dirname "$0")/lib.sh"
export FLASHLINE_HOME=$T/home HOME=$T/home
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
IMG_N=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
IMG_T=$SHARED/testdata/obk-images/OpenBK7231T_QIO_1.18.300.bin
NOWHERE=rfc2217://127.0.0.1:1 # never connected to: refusals must come first

# sim_say HOST:PORT COMMAND: one line to the simulator's control channel; the answer in $ANSWER.
sim_say() {
    ANSWER=
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || return 1
    echo "$2" >&3
    read -r -t 10 ANSWER <&3
    exec 3<&-
    [[ $ANSWER != error* && -n $ANSWER ]]
}
no_prompt() { ! grep -q '>>> ' "$1"; }

# --- the options themselves ------------------------------------------------------
for verb in info read write verify erase; do
    "$FL" $verb --help >"$T/help"
    tr -s ' \n' '  ' <"$T/help" >"$T/help.flat" # wrapped text: where a line breaks is not the point
    check "$verb --help: --before, --reset as its alias, --after reboot|stay, --chip optional" \
        bash -c "grep -q -- '--before MODE' '$T/help' && grep -q -- '--reset MODE        the same as --before' '$T/help' &&
                 grep -q -- '--after MODE' '$T/help' && grep -q 'stay (keep' '$T/help' &&
                 grep -q 'Optional over a' '$T/help.flat' && grep -q 'a Beken chip must be named' '$T/help.flat'"
done
expect_exit 2 "--before and --reset disagreeing: usage error" \
    "$FL" info --port "$NOWHERE" --chip bk7231n --before pulse --reset none 2>"$T/err"
check "  ... says they are the same option" grep -q "same option" "$T/err"
expect_exit 2 "--after bogus: usage error" "$FL" info --port "$NOWHERE" --chip bk7231n --after bogus 2>"$T/err"
check "  ... names reboot and stay" grep -q "reboot or stay" "$T/err"
expect_exit 2 "--after stay on a flash loader (bk7231t): refused before the port is opened" \
    "$FL" read --port "$NOWHERE" --chip bk7231t --after stay -o "$T/x.bin" 2>"$T/err"
check "  ... says why (its watchdog reboots it)" grep -q "watchdog" "$T/err"
expect_exit 2 "write --reboot --after stay contradict" \
    "$FL" write "$IMG_N" --port "$NOWHERE" --chip bk7231n --reboot --after stay 2>/dev/null

# --- --after stay, then the next command finds the loader at its rate ----------------
# A manual-reset unit (RTS and `reboot` text do nothing): only a power-cycle resets it,
# so a command that did not find the loader at its rate would prompt for one.
cp "$DUMP" "$T/n.bin"; chmod u+w "$T/n.bin"
start_sim SIM --chip bk7231n --flash "$T/n.bin" --timescale 0 --quiet --manual-reset
CTL=${SIM_CTL#tcp://}
check "power-cycle the manual-reset unit into its boot window" sim_say "$CTL" power-cycle
"$FL" read --port "$SIM" --chip bk7231n --after stay --offset 0x1D0000 --size 0x1000 \
    -o "$T/rf.bin" --link-timeout 10 >/dev/null 2>"$T/err"
rc=$?
check "read --after stay exits 0 (got $rc)" [ $rc -eq 0 ]
check "read --after stay says it leaves the loader at 921600" grep -q "in its loader at 921600 baud" "$T/err"
sim_say "$CTL" state
check "the simulated loader is still in download mode at 921600 ($ANSWER)" \
    bash -c "[[ '$ANSWER' == download*baud=921600* ]]"

"$FL" info --port "$SIM" --link-timeout 10 >"$T/out" 2>"$T/err"
rc=$?
check "the next command (info, no --chip) exits 0 (got $rc)" [ $rc -eq 0 ]
check "  ... without a power-cycle prompt" no_prompt "$T/err"
check "  ... found the loader still listening at 921600" grep -q "still listening at 921600" "$T/err"
check "  ... told the chip from its chip ID" grep -q "chip:          BK7231N" "$T/out"
check "  ... and rebooted it at the end (--after reboot, the default)" grep -q "rebooted: the chip runs its firmware" "$T/err"
sim_say "$CTL" state
check "the simulated chip left download mode ($ANSWER)" bash -c "[[ '$ANSWER' != download* ]]"

# The same over a pty (no modem lines at all), --before none: only the probe can find it.
cp "$DUMP" "$T/p.bin"; chmod u+w "$T/p.bin"
mkfifo "$T/pty.fifo"
"$FL" sim --listen 127.0.0.1:0 --pty --chip bk7231n --flash "$T/p.bin" --timescale 0 --quiet \
    >"$T/pty.fifo" 2>"$T/pty.err" &
_pids+=($!)
exec {pfd}<"$T/pty.fifo"
PTY= PCTL=
while IFS= read -r -t 60 -u "$pfd" line; do
    [[ $line == pty:* ]] && PTY=${line#pty: }
    [[ $line == control:* ]] && { PCTL=${line#control: tcp://}; break; }
done
check "pty simulator up ($PTY)" test -c "$PTY"
check "power-cycle the pty unit" sim_say "$PCTL" power-cycle
"$FL" erase --port "$PTY" --chip bk7231n --offset 0x1F0000 --size 0x1000 --baud 1500000 \
    --after stay --link-timeout 10 >/dev/null 2>"$T/err"
rc=$?
check "erase at 1500000 --after stay over the pty exits 0 (got $rc)" [ $rc -eq 0 ]
"$FL" read --port "$PTY" --before none --offset 0x1F0000 --size 0x1000 -o "$T/blank.bin" \
    --link-timeout 10 >/dev/null 2>"$T/err"
rc=$?
check "read --before none (no --chip) over the pty exits 0 (got $rc)" [ $rc -eq 0 ]
check "  ... reads the sector the erase left blank" cmp -s "$T/blank.bin" <(head -c 4096 /dev/zero | tr '\0' '\377')
check "  ... without a prompt" no_prompt "$T/err"
check "  ... at the rate the erase left" grep -q "still listening at 1500000" "$T/err"

# --- the baud fallback honours --before and --link-timeout ----------------------------
# Above 1 Mbaud the line garbles everything: the switch to 2000000 fails and the chip is
# left there; with --before none nothing may reset it, so it fails within --link-timeout.
FAST="sim:bk7231n?timescale=0&quiet=1&maxbaud=1000000"
"$FL" info --port "$FAST" --chip bk7231n --baud 2000000 --before none --link-timeout 1 \
    >/dev/null 2>"$T/err"
rc=$?
check "failed switch with --before none: no bus, exit 5 (got $rc)" [ $rc -eq 5 ]
check "  ... the fallback took the bus as told (--reset none)" grep -q "taking the bus again at 115200 (--reset none, within 1 s)" "$T/err"
check "  ... and gave up after --link-timeout 1 s" grep -q "within 1 s" "$T/err"
"$FL" info --port "$FAST" --chip bk7231n --baud 2000000 --before pulse --link-timeout 5 \
    >"$T/out" 2>"$T/err"
rc=$?
check "failed switch with --before pulse: the fallback pulses, exit 0 (got $rc)" [ $rc -eq 0 ]
check "  ... at 115200" grep -q "baud:          115200" "$T/out"

# --- --chip optional where the chip ID tells it -----------------------------------------
"$FL" info --port "sim:bk7238?timescale=0&quiet=1" >"$T/out" 2>"$T/err"
rc=$?
check "info without --chip on a BK7238: exit 0 (got $rc)" [ $rc -eq 0 ]
check "  ... identified as BK7238" grep -q "chip:          BK7238" "$T/out"
expect_exit 2 "a flash loader without --chip: usage error" \
    "$FL" info --port "sim:bk7231t?timescale=0&quiet=1" 2>"$T/err"
check "  ... names the candidates and --chip" \
    bash -c "grep -q 'bk7231t, bk7231u or bk7252' '$T/err' && grep -q -- '--chip' '$T/err'"
expect_exit 2 "a SPI programmer without --chip: usage error" \
    "$FL" info --port "ch341a:sim?target=bk7231t" 2>"$T/err"
check "  ... says to name a Beken chip or spi-nor" grep -q -- "--chip spi-nor" "$T/err"
"$FL" info --port "ch341a:sim?target=spi-nor&jedec=EF4017" >"$T/out" 2>"$T/err"
rc=$?
check "a plain SPI NOR flash without --chip: exit 0 (got $rc)" [ $rc -eq 0 ]
check "  ... taken as spi-nor from its JEDEC ID" \
    bash -c "grep -q 'chip:          SPI NOR' '$T/out' && grep -q 'flash ID:      EF 40 17' '$T/out'"
cp "$DUMP" "$T/w.bin"; chmod u+w "$T/w.bin"
"$FL" write "$IMG_T" --port "sim:bk7231n?flash=$T/w.bin&timescale=0&quiet=1" >/dev/null 2>"$T/err"
rc=$?
check "write of a BK7231T image onto an identified BK7231N (no --chip): refused (got $rc)" [ $rc -eq 3 ]
cmp -s "$DUMP" "$T/w.bin"
check "  ... and the flash is untouched" [ $? -eq 0 ]

# --- over SPI mode: --after stay leaves the chip halted, reboot pulses CEN ---------------
"$FL" info --port "ch341a:sim?target=bk7231t" --chip bk7231t --after stay >/dev/null 2>"$T/err"
rc=$?
check "SPI info --after stay exits 0 (got $rc)" [ $rc -eq 0 ]
check "  ... leaves the chip in SPI mode (no CEN pulse)" \
    bash -c "grep -q 'leaving the chip in SPI mode' '$T/err' && ! grep -q 'CEN pulsed without sync' '$T/err'"
"$FL" info --port "ch341a:sim?target=bk7231t" --chip bk7231t >/dev/null 2>"$T/err"
check "SPI info (--after reboot) lets the chip boot" grep -q "CEN pulsed without sync" "$T/err"

# --- run --baud / --reset override the recipe's link: ---------------------------------
cat >"$T/link.yaml" <<'EOF'
name: link-override
chip: bk7231n
link:
  baud: 921600
  reset: manual
  link_timeout: 3
steps:
  - connect:
      baud: 921600
EOF
"$FL" run "$T/link.yaml" --port "sim:bk7231n?timescale=0&quiet=1&manual=1" --db "$T/a.db" \
    >"$T/out" 2>"$T/err"
check "control: the recipe's reset: manual prompts for a power-cycle" grep -q '>>> Power-cycle' "$T/err"
"$FL" run "$T/link.yaml" --port "sim:bk7231n?timescale=0&quiet=1&manual=1" --db "$T/a.db" \
    --reset none >"$T/out" 2>"$T/err"
rc=$?
check "run --reset none overrides link: reset: manual (no prompt; ERROR, exit 10: got $rc)" \
    bash -c "[ $rc -eq 10 ] && ! grep -q '>>> ' '$T/err'"
cp "$DUMP" "$T/r.bin"; chmod u+w "$T/r.bin"
"$FL" run "$T/link.yaml" --port "sim:bk7231n?flash=$T/r.bin&timescale=0&quiet=1" --db "$T/a.db" \
    -b 460800 --before pulse >"$T/out" 2>"$T/err"
rc=$?
check "run -b 460800 --before pulse: PASS (got $rc)" [ $rc -eq 0 ]
check "  ... at 460800, over the connect step's own baud" grep -q "switched to 460800 baud" "$T/err"
expect_exit 2 "run --baud 12 is refused" "$FL" run "$T/link.yaml" --port "$NOWHERE" --baud 12 2>/dev/null
expect_exit 2 "run --reset sometimes is refused" "$FL" run "$T/link.yaml" --port "$NOWHERE" --reset sometimes 2>/dev/null
finish
