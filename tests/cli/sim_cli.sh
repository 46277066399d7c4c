#!/usr/bin/env bash
# sim_cli.sh — `flashline sim`: options, errors, URLs, control channel, signals, file.
source "$(dirname "$0")/lib.sh"

# --help tells about every option
help=$("$FL" sim --help); rc=$?
check "sim --help exits 0" test $rc -eq 0
for o in --chip --listen --control-port --flash --size --jedec --timescale --drop-rate \
         --corrupt-rate --stall-ms --stall-rate --disconnect-after --brownout-at \
         --manual-reset --pty --quiet --seed; do
    check "help mentions $o" grep -q -- "$o" <<<"$help"
done
check "help names the control commands" grep -q "power-cycle" <<<"$help"

# bad command lines: one line, the right exit code
expect_exit 2 "no --chip" "$FL" sim --timescale 0
expect_exit 2 "unknown chip" "$FL" sim --chip bk9999
err=$("$FL" sim --chip bk9999 2>&1)
check "unknown chip lists the chips" grep -q "bk7231n" <<<"$err"
check "error is one line" test "$(wc -l <<<"$err")" -eq 1
expect_exit 2 "size not a power of two" "$FL" sim --chip bk7231n --size 3M
expect_exit 2 "bad probability" "$FL" sim --chip bk7231n --drop-rate 1.5
expect_exit 2 "bad listen" "$FL" sim --chip bk7231n --listen nowhere
expect_exit 3 "flash file in a missing directory" "$FL" sim --chip bk7231n --flash "$T/no/such/dir/f.bin"
head -c 3000 /dev/zero >"$T/odd.bin"
expect_exit 3 "flash file not a power of two" "$FL" sim --chip bk7231n --flash "$T/odd.bin"

# a running simulator: URLs, control channel, file
start_sim S --chip bk7231n --timescale 0 --flash "$T/unit.bin" --size 2M --manual-reset --quiet
SIM_PID=${_pids[-1]}
check "rfc2217 URL printed" grep -Eq '^rfc2217://127\.0\.0\.1:[0-9]+$' <<<"$S"
check "control URL printed" grep -Eq '^tcp://127\.0\.0\.1:[0-9]+$' <<<"$S_CTL"
check "flash file created at 2M" test "$(stat -c %s "$T/unit.bin")" -eq 2097152
ctl() { # one command on the control channel, prints the answer line
    local hp=${S_CTL#tcp://}
    exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
    printf '%s\n' "$1" >&3
    local line; IFS= read -r -t 60 line <&3; echo "$line" # generous: only a dead channel waits it out
    exec 3<&- 3>&-
}
ans=$(ctl state)
check "control: state ($ans)" grep -Eq '^(app|boot) baud=115200 power=on cen=high' <<<"$ans"
ans=$(ctl power-cycle)
check "control: power-cycle ($ans)" grep -q '^ok boot' <<<"$ans"
ans=$(ctl frobnicate)
check "control: unknown command ($ans)" grep -q '^error:' <<<"$ans"

# the port is taken now
port=${S##*:}
expect_exit 4 "port in use" "$FL" sim --chip bk7231n --listen "127.0.0.1:$port"

# SIGTERM: stops, saves, exits 0
kill -TERM "$SIM_PID"; wait "$SIM_PID"; rc=$?
check "SIGTERM exits 0" test $rc -eq 0
check "flash file kept" test "$(stat -c %s "$T/unit.bin")" -eq 2097152

# --pty prints its path between the two URLs
start_sim P --chip bk7231t --timescale 0 --pty --quiet
out=$(ls -t "$T"/sim.*.out | head -1)
check "pty line printed" grep -Eq '^pty: /dev/pts/[0-9]+$' "$out"
check "control line after the pty line" test "$(sed -n 3p "$out" | cut -c1-8)" = "control:"

finish
