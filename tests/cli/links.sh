#!/usr/bin/env bash
# Local ports that are not USB adapters: pseudo-terminals end to end (`flashline sim
# --pty`, a socat-style symlink, a non-standard baud rate), an accurate message for
# every path that is not a serial port, and stale replies on the line at open.
source "$(dirname "$0")/lib.sh"
DUMPS=$SHARED/testdata/tuya-dumps
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
STALE_PTY="python3 tests/cli/pty_stale.py"

# announced VAR PREFIX FIFO: the value of the first "PREFIX..." line written to FIFO
# (read as it is written: no polling; the writer keeps the FIFO for later lines).
announced() {
    local var=$1 prefix=$2 fd line
    exec {fd}<"$3"
    while read -r -t 30 line <&$fd; do
        if [[ $line == "$prefix"* ]]; then printf -v "$var" '%s' "${line#"$prefix"}"; return 0; fi
    done
    return 1
}
# start_pty_sim: a simulator with a pty; sets PTY (its slave) and CTL (control host:port).
start_pty_sim() {
    mkfifo "$T/ptysim.fifo"
    "$FL" sim --listen 127.0.0.1:0 --pty "$@" >"$T/ptysim.fifo" 2>"$T/ptysim.err" &
    _pids+=($!)
    announced PTY "pty: " "$T/ptysim.fifo"
    announced CTL "control: tcp://" "$T/ptysim.fifo"
}
# power_cycle: restart the simulated unit (a pty has no RTS to pulse), waiting for the answer.
power_cycle() {
    local answer=
    exec 3<>"/dev/tcp/${CTL%:*}/${CTL##*:}"
    echo power-cycle >&3
    read -r -t 10 answer <&3
    exec 3<&-
    [[ $answer == ok* ]]
}
# start_stale VAR MODE [SIM_PTY]: a pty holding stale replies (tests/cli/pty_stale.py).
start_stale() {
    local var=$1 fifo="$T/stale.$RANDOM.fifo"; shift
    mkfifo "$fifo"
    $STALE_PTY "$@" >"$fifo" 2>"$fifo.err" &
    _pids+=($!)
    announced "$var" "pty: " "$fifo"
}

# --- flashline sim --pty end to end: info, read, write + verify over plain termios -------
cp "$DUMPS/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/n.bin"; chmod u+w "$T/n.bin"
start_pty_sim --chip bk7231n --flash "$T/n.bin" --timescale 0 --quiet
check "the simulator serves a pty ($PTY)" test -c "$PTY"

"$FL" info --port "$PTY" --chip bk7231n >"$T/info" 2>"$T/err"
rc=$?
check "info over --port /dev/pts/N exits 0 (got $rc)" [ $rc -eq 0 ]
check "info over the pty reads the chip ID" grep -q "0x7231C" "$T/info"
check "info over the pty switched to 921600 baud" grep -q "switched to 921600" "$T/err"

check "power-cycle through the control channel" power_cycle
"$FL" read -o "$T/r.bin" --offset 0x1D0000 --size 0x30000 --port "serial:$PTY" --chip bk7231n \
    --baud 1500000 >/dev/null 2>"$T/err"
rc=$?
check "read over serial:/dev/pts/N at 1500000 baud exits 0 (got $rc)" [ $rc -eq 0 ]
cmp -s "$T/r.bin" <(tail -c +$((0x1D0000 + 1)) "$T/n.bin" | head -c $((0x30000)))
check "read data is byte-exact against the simulator's flash" [ $? -eq 0 ]

check "power-cycle before the write" power_cycle
# 750000 has no B-constant: the rate goes through termios2/BOTHER, and the simulator
# follows what was set on its pty, so only a rate really set makes the link work.
"$FL" write "$IMG" --port "$PTY" --chip bk7231n --baud 750000 >/dev/null 2>"$T/err"
rc=$?
check "write over the pty at 750000 baud (non-standard) exits 0 (got $rc)" [ $rc -eq 0 ]
check "the write really ran at 750000 baud" grep -q "switched to 750000 baud" "$T/err"
cmp -s <(tail -c +$((0x11000 + 1)) "$IMG") \
    <(tail -c +$((0x11000 + 1)) "$T/n.bin" | head -c $(($(stat -c %s "$IMG") - 0x11000)))
check "written image is byte-exact in the simulator's flash from 0x11000" [ $? -eq 0 ]

check "power-cycle before the verify" power_cycle
ln -s "$PTY" "$T/ttyVIRT0" # what `socat pty,link=...` makes
"$FL" verify "$IMG" --port "serial:$T/ttyVIRT0" --chip bk7231n >"$T/out" 2>&1
rc=$?
check "verify through a socat-style symlink to the pty exits 0 (got $rc)" [ $rc -eq 0 ]

# A busy machine schedules the simulator late: the host has written SetBaudRate and
# switched its own rate before the simulator reads the frame (reproduced with SIGSTOP).
check "power-cycle before the late-simulator check" power_cycle
python3 tests/cli/pty_late_sim.py "$PTY" "${_pids[-1]}" >"$T/late" 2>&1
rc=$?
check "a late simulator still takes the set-baud frame at the old rate (got $rc: $(cat "$T/late"))" [ $rc -eq 0 ]

# --- paths that are not serial ports: what they are, exit 4 --------------------------
port_error() { # description, port, expected message (regex)
    "$FL" info --port "$2" --chip bk7231n --link-timeout 1 >/dev/null 2>"$T/err"
    local rc=$?
    check "$1: exit 4 (got $rc)" [ $rc -eq 4 ]
    if grep -qE "$3" "$T/err"; then pass "$1: says '$3'"
    else fail "$1: says '$3' (got: $(cat "$T/err"))"; fi
}
mkdir "$T/dir"; echo x >"$T/file"; mkfifo "$T/fifo"
port_error "/dev/null" /dev/null "/dev/null is not a serial port \(a character device that is not a tty\)"
port_error "a directory" "$T/dir" "is a directory, not a serial port"
port_error "a regular file" "$T/file" "is a regular file"
port_error "a FIFO" "$T/fifo" "is a FIFO"
port_error "a missing port" "$T/ttyUSB9" "does not exist.*flashline ports"
port_error "serial: prefix, missing port" "serial:$T/ttyUSB9" "does not exist"
port_error "/dev/ptmx" /dev/ptmx "pseudo-terminal multiplexer"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && getent group dialout >/dev/null; then
    chgrp dialout "$PTY" && chmod 660 "$PTY"
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$FL" info --port "$PTY" --chip bk7231n --link-timeout 1 >/dev/null 2>"$T/err"
    rc=$?
    check "permission denied: exit 4 (got $rc)" [ $rc -eq 4 ]
    check "permission denied names the group to join" grep -q "'dialout' group" "$T/err"
    chmod 600 "$PTY"
else
    echo "skip permission check (needs root, setpriv and a dialout group)"
fi

# --- stale replies on the line are never taken for an answer --------------------------
# The pty's buffer is full of well-formed LinkCheck-OK and chip-ID replies when flashline
# opens it, more keep arriving while it reads, then the line falls silent: nobody is there.
start_stale SILENT silent
check "stale-reply pty is ready ($SILENT)" test -c "$SILENT"
"$FL" info --port "$SILENT" --chip bk7231n --reset none --link-timeout 1 --baud 115200 \
    >"$T/out" 2>"$T/err"
rc=$?
check "stale replies then silence: no bus, exit 5 (got $rc)" [ $rc -eq 5 ]
check "stale replies then silence: the no-answer message" grep -q "no answer from the .* within 1 s" "$T/err"
check "stale replies were never taken for the bootloader" bash -c "! grep -q 'bootloader answered' '$T/err'"
check "no chip was reported from stale replies" bash -c "! grep -qi 'badc0de' '$T/out' '$T/err'"

# The same stale stream, then the simulated unit behind it (relayed at 115200): the
# real chip is found and identified, never the stale chip ID.
check "power-cycle before the stale bridge" power_cycle
start_stale BRIDGE bridge "$PTY"
"$FL" info --port "$BRIDGE" --chip bk7231n --baud 115200 >"$T/out" 2>"$T/err"
rc=$?
check "stale replies then a real unit: info exits 0 (got $rc)" [ $rc -eq 0 ]
check "stale replies then a real unit: the real chip ID" grep -q "0x7231C" "$T/out"
check "stale replies then a real unit: not the stale chip ID" bash -c "! grep -qi 'badc0de' '$T/out'"
finish
