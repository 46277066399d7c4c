#!/usr/bin/env bash
# Bad input gets a one-line error that says what to do, and the documented
# exit code — before any unit is touched.
source "$(dirname "$0")/lib.sh"

expect_exit 4 "missing serial port exits 4" "$FL" info --port /dev/ttyNOPE0 --chip bk7231n 2>"$T/err"
check "missing port: says it does not exist and how to list ports" \
    grep -q "does not exist.*flashline ports" "$T/err"
check "missing port: one line" [ "$(wc -l <"$T/err")" -eq 1 ]

expect_exit 4 "refused TCP connection exits 4" "$FL" info --port rfc2217://127.0.0.1:1 --chip bk7231n 2>"$T/err"
check "refused connection: names the URL" grep -q "cannot connect to rfc2217://127.0.0.1:1" "$T/err"

expect_exit 2 "unknown chip exits 2" "$FL" info --port sim:bk7231n --chip bk9999 2>"$T/err"
check "unknown chip: lists the known ones" grep -q "known: .*bk7231n" "$T/err"
# the port says how the chip is reached: a UART port cannot reach a plain SPI NOR chip
for verb in info read write erase verify; do
    case $verb in
        read) extra=(-o "$T/never.bin") ;; erase) extra=(--all) ;;
        write|verify) extra=("$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin") ;; *) extra=() ;;
    esac
    expect_exit 2 "$verb --chip spi-nor over a UART port exits 2" \
        "$FL" $verb --port sim:bk7231n --chip spi-nor "${extra[@]}" 2>"$T/err"
    check "$verb spi-nor over UART: names a SPI programmer port, one line" \
        bash -c "grep -q 'needs a SPI programmer (--port ch341a' '$T/err' && [ \$(wc -l <'$T/err') -eq 1 ]"
done
check "nothing was read" [ ! -e "$T/never.bin" ]
expect_exit 2 "unknown verb exits 2" "$FL" frobnicate 2>/dev/null
expect_exit 2 "unknown option exits 2" "$FL" read --port sim:bk7231n --chip bk7231n --bogus 2>/dev/null
expect_exit 2 "read without -o exits 2" "$FL" read --port sim:bk7231n --chip bk7231n 2>/dev/null
expect_exit 2 "bad number exits 2" "$FL" read --port sim:bk7231n --chip bk7231n -o x --offset 12zz 2>/dev/null
expect_exit 2 "erase needs a range or --all" "$FL" erase --port sim:bk7231n --chip bk7231n 2>/dev/null
expect_exit 2 "unknown --reset mode" "$FL" info --port sim:bk7231n --chip bk7231n --reset sometimes 2>/dev/null
expect_exit 2 "unknown port scheme" "$FL" info --port ftp://x:1 --chip bk7231n 2>/dev/null
expect_exit 3 "missing firmware file exits 3 before connecting" \
    "$FL" write /nonexistent/fw.bin --port rfc2217://127.0.0.1:1 --chip bk7231n 2>"$T/err"
check "missing firmware: names the file" grep -q "/nonexistent/fw.bin" "$T/err"
: >"$T/empty.bin"
expect_exit 3 "empty firmware file exits 3" "$FL" write "$T/empty.bin" --port rfc2217://127.0.0.1:1 --chip bk7231n 2>/dev/null

"$FL" ports >"$T/ports" 2>"$T/ports.err"
check "ports exits 0" [ $? -eq 0 ]
check "ports lists ports or says how to find the adapter" \
    bash -c "[ -s '$T/ports' ] || grep -q 'no serial ports found' '$T/ports.err'"
"$FL" ports --json >"$T/ports.json" 2>/dev/null
check "ports --json prints only JSON lines" \
    python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]" "$T/ports.json"

for verb in info read write erase verify ports sim run lua query tuya image; do
    "$FL" $verb --help >"$T/help" 2>&1
    check "$verb --help exits 0 and shows usage" grep -q "usage: flashline $verb" "$T/help"
    case $verb in info|read|write|erase|verify)
        check "$verb --help lists the drivers' port forms and spi-nor" \
            bash -c "grep -q 'beken-uart' '$T/help' && grep -q 'rfc2217://HOST:PORT' '$T/help' && grep -q 'spi-nor' '$T/help'" ;;
    esac
done
"$FL" --help >"$T/help"
check "--help documents exit codes" grep -q "Exit codes" "$T/help"

# --- read -o: the durable write replaces a file whole, so only files qualify --
cp "$SHARED/testdata/tuya-dumps/02-"*.bin "$T/ro-unit.bin"; chmod u+w "$T/ro-unit.bin"
RO_PORT="sim:bk7231n?flash=$T/ro-unit.bin&timescale=0"
mkfifo "$T/out.fifo"
expect_exit 3 "read -o FIFO is refused" "$FL" read -p "$RO_PORT" -c bk7231n --size 0x1000 -o "$T/out.fifo" 2>"$T/err"
check "read -o FIFO: says what it is" grep -q "it is a FIFO, not a regular file" "$T/err"
check "read -o FIFO: the FIFO is still a FIFO" [ -p "$T/out.fifo" ]
if mknod "$T/out.null" c 1 3 2>/dev/null; then
    expect_exit 3 "read -o character device is refused" "$FL" read -p "$RO_PORT" -c bk7231n --size 0x1000 -o "$T/out.null" 2>"$T/err"
    check "read -o device: still a device" [ -c "$T/out.null" ]
fi
echo stale >"$T/target.bin"; ln -s "$T/target.bin" "$T/link.bin"
"$FL" read -p "$RO_PORT" -c bk7231n --size 0x1000 -o "$T/link.bin" 2>"$T/err"
check "read -o symlink: exit 0" [ $? -eq 0 ]
check "read -o symlink: the link is kept" [ -L "$T/link.bin" ]
check "read -o symlink: its target holds the read" cmp -s "$T/target.bin" <(head -c 4096 "$T/ro-unit.bin")
finish
