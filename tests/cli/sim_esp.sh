#!/usr/bin/env bash
# sim_esp.sh — `flashline sim --chip esp32|esp32c3|esp8266`: the ESP options, the boot
# button on the control channel, and the ROM loader spoken over the pseudo-terminal
# by a small SLIP client (python3), at timescale 0.
source "$(dirname "$0")/lib.sh"

help=$("$FL" sim --help)
for o in --sdm --flash-crypt --secure-boot --mac esp8266 esp32 esp32c3 boot-button \
         power-cycle-download 74880; do
    check "help mentions $o" grep -q -- "$o" <<<"$help"
done

expect_exit 2 "bad --mac" "$FL" sim --chip esp32 --mac 24:0a:c4
expect_exit 2 "no flash encryption on the ESP8266" "$FL" sim --chip esp8266 --flash-crypt
expect_exit 2 "no Secure Download Mode on the ESP32" "$FL" sim --chip esp32 --sdm

start_sim S --chip esp32c3 --timescale 0 --pty --manual-reset --quiet --mac 58:cf:79:00:00:2a
SIM_PID=${_pids[-1]}
PTY=$(grep -m1 '^pty: ' "$(ls -t "$T"/sim.*.out | head -1)" | sed 's/^pty: //')
check "pty path printed ($PTY)" test -c "$PTY"
ctl() { # one command on the control channel, prints the answer line
    local hp=${S_CTL#tcp://}
    exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
    printf '%s\n' "$1" >&3
    local line; IFS= read -r -t 60 line <&3; echo "$line"
    exec 3<&- 3>&-
}
wait_state() { # the chip's state word, asked until it is $1 (bounded)
    local i ans
    for ((i = 0; i < 500; i++)); do
        ans=$(ctl state)
        [[ $ans == "$1 "* ]] && return 0
        sleep 0.01
    done
    echo "state: $ans" >&2
    return 1
}
ans=$(ctl state)
check "manual unit starts in its firmware ($ans)" grep -q '^app .* io0=high button=up' <<<"$ans"
ans=$(ctl power-cycle-download)
check "power-cycle-download answered ($ans)" grep -q '^ok' <<<"$ans"
check "download mode" wait_state download

# SYNC (eight answers) and READ_REG of the magic word and the MAC, over the pty
out=$(timeout 60 python3 - "$PTY" <<'EOF'
import os, struct, sys, termios, tty, select
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
def send(op, data=b"", chk=0):
    pkt = struct.pack("<BBHI", 0, op, len(data), chk) + data
    os.write(fd, b"\xc0" + pkt.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0")
buf = b""
def frame():
    global buf
    while True:
        parts = buf.split(b"\xc0")
        if len(parts) >= 3:
            for i in range(1, len(parts) - 1):
                if parts[i]:
                    buf = b"\xc0".join(parts[i + 1:])
                    return parts[i].replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
        if not select.select([fd], [], [], 20)[0]:
            return None
        buf += os.read(fd, 4096)
send(0x08, b"\x07\x07\x12\x20" + b"\x55" * 32)
n = 0
for _ in range(8):
    f = frame()
    if f and f[0] == 1 and f[1] == 8:
        n += 1
print("sync", n)
def read_reg(addr):
    send(0x0A, struct.pack("<I", addr))
    f = frame()
    return struct.unpack("<I", f[4:8])[0], len(f) - 8
v, st = read_reg(0x40001000)
print("magic %08x status %d" % (v, st))
m0, _ = read_reg(0x60008844)
m1, _ = read_reg(0x60008848)
print("mac " + ":".join("%02x" % b for b in struct.pack(">II", m1, m0)[2:]))
EOF
)
check "eight SYNC answers ($out)" grep -q '^sync 8$' <<<"$out"
check "ESP32-C3 magic, 4 status bytes" grep -q '^magic 1b31506f status 4$' <<<"$out"
check "MAC from eFuse as --mac gave it" grep -q '^mac 58:cf:79:00:00:2a$' <<<"$out"

kill -TERM "$SIM_PID"; wait "$SIM_PID"; rc=$?
check "SIGTERM exits 0" test $rc -eq 0
finish
