#!/usr/bin/env bash
# What an operator reads on the SPI path is true for it: summaries say how the
# driver verified (read-back, not "CRC"), `info` shows SR1/SR2/SR3 apart, no
# UART-only advice (baud, power-cycle, TX/RX), --help says what the UART
# options do over SPI; the UART summaries still say CRC.
source "$(dirname "$0")/lib.sh"
IMG=$SHARED/testdata/obk-images/OpenBK7231T_QIO_1.18.300.bin
BK="ch341a:sim?target=bk7231t&flash=$T/bk.bin&timescale=0"
NOR="ch341a:sim?target=spi-nor&jedec=EF4016&flash=$T/nor.bin&timescale=0"
UART_WORDS='baud|power-cycle|TX/RX|bootloader answered|verified by CRC|by CRC'
head -c 5000 /dev/urandom >"$T/data.bin"
# fl OUT ERR ARGS...: flashline with its stdout and stderr in files (a
# redirection after expect_exit would swallow its ok/FAIL line too)
fl() { local out=$1 err=$2; shift 2; "$FL" "$@" >"$out" 2>"$err"; }

# info: SR1/SR2/SR3 each, "not supported" for the registers a part lacks
expect_exit 0 "info over Beken SPI mode" fl "$T/out" "$T/err" info -p "$BK" -c bk7231t
check "info: SR1 shown alone, SR2/SR3 not supported (EN25QH16B has one register)" \
    grep -q '^status regs:   SR1 0x7C, SR2 not supported, SR3 not supported (write-protected)$' "$T/out"
check "info: no UART wording" bash -c "! grep -Eq '$UART_WORDS' '$T/out' '$T/err'"
expect_exit 0 "info on a spi-nor part" fl "$T/out" "$T/err" info -p "$NOR" -c spi-nor
check "info spi-nor: three registers, not write-protected" \
    grep -q '^status regs:   SR1 0x00, SR2 0x00, SR3 0x00$' "$T/out"
check "info spi-nor: the MAC line says why there is none, once" \
    bash -c "grep -q '^MAC:           unknown (SPI NOR has no RF calibration sector)$' '$T/out'"
expect_exit 0 "info --json" fl "$T/json" /dev/null info --json -p "$BK" -c bk7231t
check "info --json: sr1/sr2/sr3 (null = none) and verified_by" python3 - "$T/json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
i = [e for e in ev if e["event"] == "identity"][0]
assert (i["sr1"], i["sr2"], i["sr3"]) == (0x7C, None, None), i
assert i["verified_by"] == "reading back every byte", i
PY

# write / verify / erase: summaries and --json say read-back
expect_exit 0 "write the _QIO_ whole over SPI mode" \
    fl "$T/out" "$T/err" write "$IMG" -p "$BK" -c bk7231t --allow-bootloader
check "write: 'verified by reading back every byte'" \
    grep -q '; verified by reading back every byte$' "$T/err"
check "write: no UART wording" bash -c "! grep -Eq '$UART_WORDS' '$T/out' '$T/err'"
expect_exit 0 "verify it" fl "$T/out" "$T/err" verify "$IMG" -p "$BK" -c bk7231t
check "verify: says how" grep -q 'matches .*(verified by reading back every byte)$' "$T/err"
expect_exit 0 "erase a range on spi-nor" \
    fl "$T/out" "$T/err" erase -p "$NOR" -c spi-nor --offset 0x1000 --size 0x2000
check "erase: blank proven by read-back" \
    grep -q '^erased 0x001000..0x003000 (8 KiB), verified blank by reading back every byte$' "$T/err"
expect_exit 0 "write --json plain data on spi-nor" \
    fl "$T/json" /dev/null write --json "$T/data.bin" --raw --offset 0x3000 -p "$NOR" -c spi-nor
expect_exit 0 "verify --json" \
    fl "$T/json2" /dev/null verify --json "$T/data.bin" --raw --offset 0x3000 -p "$NOR" -c spi-nor
expect_exit 0 "erase --json" \
    fl "$T/json3" /dev/null erase --json -p "$NOR" -c spi-nor --offset 0x3000 --size 0x2000
check "done events carry verified_by" python3 - "$T/json" "$T/json2" "$T/json3" <<'PY'
import json, sys
for f in sys.argv[1:]:
      done = [json.loads(l) for l in open(f) if '"done"' in l][-1]
      assert done["verified_by"] == "reading back every byte", (f, done)
PY
expect_exit 3 "spi-nor write of plain data without --raw is refused (exit 3)" \
    fl /dev/null "$T/err" write "$T/data.bin" -p "$NOR" -c spi-nor
check "the refusal says --offset and --raw" grep -q 'give both --offset and --raw' "$T/err"

# failures: no UART advice either
expect_exit 5 "CEN not wired (no sync)" fl /dev/null "$T/err" info -p "$BK&no_sync=1" -c bk7231t
check "no-sync diagnosis: no UART wording" bash -c "! grep -Eq '$UART_WORDS' '$T/err'"

# --help: what the UART options do over SPI, and the SPI meanings
for verb in info read write erase verify; do
      "$FL" $verb --help >"$T/help"
      check "$verb --help: --baud/--before/--link-timeout do nothing on a SPI programmer" \
          bash -c "grep -q 'UART only: rate' '$T/help' &&
                   grep -q 'On a SPI programmer port --baud, --before and' '$T/help'"
done
"$FL" write --help >"$T/help"
check "write --help: spi-nor needs --raw --offset; --allow-bootloader over SPI" \
    bash -c "grep -q 'spi-nor has no firmware images' '$T/help' &&
             grep -q 'write a _QIO_ image whole from 0x0' '$T/help'"

# the UART summaries keep saying CRC
cp "$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin" "$T/n.bin"
expect_exit 0 "UART write" \
    fl /dev/null "$T/err" write "$T/n.bin" -p "sim:bk7231n?flash=$T/uart.bin&timescale=0&quiet=1" -c bk7231n
check "UART write: verified by the chip's CRC" grep -q "; verified by the chip's CRC$" "$T/err"
finish
