#!/usr/bin/env bash
# The CH341A SPI path end to end on the emulator (timescale=0; the UART
# simulator at timescale=0.01 where it must see a reset pulse):
#   * the recovery story: a BK7231T whose bootloader is erased does not answer
#     on UART; `write` of the _QIO_ image over ch341a is refused without
#     --allow-bootloader, restores the flash with it (image from 0x0, the
#     Tuya config / RF sectors beyond it untouched), and the UART simulator on
#     the same file then links and verifies the image;
#   * `info` over ch341a (Beken SPI mode: JEDEC ID, "spi mode", --json driver);
#   * generic spi-nor round trips on two JEDEC IDs of different sizes, erase of
#     a range, a protected chip that needs the escalating unprotect;
#   * refusals: spi-nor over a UART port, an unknown emulator option, no
#     real programmer;
#   * recipes/bk-spi-recovery.yaml PASSes and the audit log records the run's
#     driver and programmer (and the connect step's d:run_link rules).
source "$(dirname "$0")/lib.sh"
IMG=$SHARED/testdata/obk-images/OpenBK7231T_QIO_1.18.300.bin
# the stock recipes name their firmware from the store: seed this test's home (lib.sh)
"$FL" firmware add "$IMG" >/dev/null || fail "seeding the firmware store"
DUMP=$SHARED/testdata/tuya-dumps/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin
BOOT_END=$((0x11000))
IMG_SIZE=$(stat -c %s "$IMG")
py() { python3 -c "$@"; }

# a BK7231T dump (checked by content, not only by name) with its bootloader erased
"$FL" image info --json "$DUMP" >"$T/dump.json" 2>/dev/null
check "test dump is a BK7231T full dump" py "
import json; d=json.loads(open('$T/dump.json').readline())
assert d['kind']=='full_dump' and d['chip']=='BK7231T' and $(stat -c %s "$DUMP")==2*1024*1024, d"
erase_boot() { cp "$DUMP" "$1"; chmod u+w "$1"
    py "import sys; f=open(sys.argv[1],'r+b'); f.write(b'\xff'*$BOOT_END)" "$1"; }
F=$T/unit.bin
erase_boot "$F"
cp "$F" "$T/before.bin"
SIM="sim:bk7231t?flash=$F&timescale=0.01"
SPI="ch341a:sim?target=bk7231t&flash=$F&timescale=0"

# --- the bricked unit does not answer on UART -------------------------------
expect_exit 5 "erased bootloader: info over the UART simulator exits 5 (no answer)" \
    "$FL" info --port "$SIM" --chip bk7231t --reset pulse --link-timeout 2 2>"$T/err"
check "... saying the bootloader did not answer" grep -q "no answer from the BK7231T bootloader" "$T/err"

# --- recovery write over the CH341A ------------------------------------------
"$FL" write "$IMG" --port "$SPI" --chip bk7231t >"$T/out" 2>"$T/err"
rc=$?
check "write of the _QIO_ image over ch341a without --allow-bootloader is refused (exit $rc)" \
    [ $rc -ne 0 ]
check "... the refusal names --allow-bootloader" grep -q -- "--allow-bootloader" "$T/err"
check "... and the flash file is unchanged" cmp -s "$F" "$T/before.bin"

"$FL" write "$IMG" --port "$SPI" --chip bk7231t --allow-bootloader >"$T/out" 2>"$T/err"
check "write with --allow-bootloader exits 0" [ $? -eq 0 ]
check "... the first $IMG_SIZE bytes are the image, bootloader included" \
    cmp -s -n "$IMG_SIZE" "$IMG" "$F"
check "... everything beyond the image (Tuya config, RF calibration) is the original dump's" \
    cmp -s -i "$IMG_SIZE:$IMG_SIZE" "$F" "$DUMP"
check "... the chip was left to boot (CEN pulse without sync)" grep -q "CEN pulsed without sync" "$T/err"

# --- the same file on the UART simulator: the unit is back -------------------
"$FL" info --port "$SIM" --chip bk7231t --reset pulse --link-timeout 10 >"$T/out" 2>"$T/err"
check "after recovery: info over the UART simulator on the same file exits 0" [ $? -eq 0 ]
check "... the restored bootloader answers (flash loader)" grep -q "BK7231T (flash loader)" "$T/out"
"$FL" verify "$IMG" --port "$SIM" --chip bk7231t --reset pulse --link-timeout 10 >"$T/out" 2>"$T/err"
check "after recovery: verify of the image over the UART simulator exits 0" [ $? -eq 0 ]

# --- info over ch341a: Beken SPI mode ---------------------------------------
for chip in bk7231t bk7231n bk7252; do
    rm -f "$T/$chip.bin"
    "$FL" info --port "ch341a:sim?target=$chip&flash=$T/$chip.bin&timescale=0" --chip "$chip" \
        >"$T/info" 2>"$T/err"
    check "info over ch341a on $chip exits 0" [ $? -eq 0 ]
    check "... prints the JEDEC ID and 'spi mode'" \
        bash -c "grep -Eq '^flash ID: +[0-9A-F]{2} [0-9A-F]{2} [0-9A-F]{2}' '$T/info' && grep -q '(spi mode)' '$T/info'"
    check "... after a CEN pulse and the 0xD2 sync" grep -q "Beken SPI mode entered: JEDEC ID" "$T/err"
done
"$FL" info --json --port "$SPI" --chip bk7231t >"$T/info.json" 2>"$T/err"
check "info --json over ch341a: identity with driver ch341a-spi, spi mode, the emulator as programmer" py "
import json
ids=[e for e in map(json.loads, open('$T/info.json')) if e['event']=='identity']
assert len(ids)==1, ids
i=ids[0]
assert i['driver']=='ch341a-spi' and i['access']=='spi mode' and i['chip']=='bk7231t', i
assert i['programmer'].startswith('emulator ch341a:sim?target=bk7231t'), i
assert len(i['jedec_id'])==6 and i['flash_size']==2*1024*1024, i"

# --- generic SPI NOR: round trips on two sizes, erase of a range -------------
head -c 200000 /dev/urandom >"$T/random.bin"
for spec in "EF4016 4194304" "C84015 2097152"; do
    read -r jedec size <<<"$spec"
    N=$T/nor-$jedec.bin
    rm -f "$N"
    P="ch341a:sim?target=spi-nor&jedec=$jedec&flash=$N&timescale=0"
    "$FL" write --raw --offset 0x20000 "$T/random.bin" --port "$P" --chip spi-nor >/dev/null 2>"$T/err"
    check "spi-nor $jedec: write --raw at 0x20000 exits 0" [ $? -eq 0 ]
    check "spi-nor $jedec: the flash is $size bytes (from the JEDEC capacity byte)" \
        [ "$(stat -c %s "$N")" -eq "$size" ]
    "$FL" read -o "$T/back.bin" --offset 0x20000 --size 200000 --port "$P" --chip spi-nor \
        >/dev/null 2>"$T/err"
    check "spi-nor $jedec: read back exits 0" [ $? -eq 0 ]
    check "spi-nor $jedec: read back equals what was written" cmp -s "$T/back.bin" "$T/random.bin"
    "$FL" read -o "$T/whole.bin" --port "$P" --chip spi-nor >/dev/null 2>"$T/err"
    check "spi-nor $jedec: whole read is $size bytes, blank outside the data" py "
d=open('$T/whole.bin','rb').read(); r=open('$T/random.bin','rb').read()
assert len(d)==$size and d[0x20000:0x20000+len(r)]==r
assert d[:0x20000]==b'\xff'*0x20000 and d[0x20000+len(r):]==b'\xff'*($size-0x20000-len(r))"
    cp "$N" "$T/pre-erase.bin"
    "$FL" erase --offset 0x21000 --size 0x2000 --port "$P" --chip spi-nor >/dev/null 2>"$T/err"
    check "spi-nor $jedec: erase --offset 0x21000 --size 0x2000 exits 0" [ $? -eq 0 ]
    check "spi-nor $jedec: ... 0xFF there, every other byte as before" py "
a=open('$T/pre-erase.bin','rb').read(); b=open('$N','rb').read()
assert b[0x21000:0x23000]==b'\xff'*0x2000
assert a[:0x21000]==b[:0x21000] and a[0x23000:]==b[0x23000:]
assert a[0x21000:0x23000]!=b'\xff'*0x2000"
done

# --- a protected chip: the escalating unprotect runs and is logged -----------
N=$T/nor-protected.bin
rm -f "$N"
P="ch341a:sim?target=spi-nor&jedec=EF4016&flash=$N&timescale=0&sr1=0x7C&sr2=0x40"
"$FL" write --raw --offset 0x20000 "$T/random.bin" --port "$P" --chip spi-nor >/dev/null 2>"$T/err"
check "protected spi-nor (SR1=0x7C, SR2 CMP): write exits 0" [ $? -eq 0 ]
check "... SR1/SR2/SR3 logged before the unprotect" grep -q "status before unprotect: SR1=0x7C SR2(35h)=0x40" "$T/err"
check "... and after it, cleared, naming the escalation (CMP through 31h)" \
    grep -q "status after unprotect: SR1=0x00 SR2(35h)=0x00.*CMP" "$T/err"
check "... the data is on the chip" cmp -s -i 0x20000:0 -n 200000 "$N" "$T/random.bin"

# --- refusals ------------------------------------------------------------------
expect_exit 2 "--chip spi-nor over a UART port exits 2" \
    "$FL" info --port "sim:bk7231t?flash=$T/x.bin&timescale=0" --chip spi-nor 2>"$T/err"
check "... saying it needs a SPI programmer" grep -q "spi-nor needs a SPI programmer" "$T/err"
check "... before the UART port was opened" [ ! -e "$T/x.bin" ]
expect_exit 2 "an unknown emulator option is a usage error (exit 2)" \
    "$FL" info --port "ch341a:sim?target=bk7231t&bogus=1" --chip bk7231t 2>"$T/err"
check "... naming it" grep -q "option 'bogus'" "$T/err"
if grep -qs 1a86 /sys/bus/usb/devices/*/idVendor; then
    echo "skip --port ch341a without a programmer: a CH341A is plugged in here"
else
    expect_exit 4 "--port ch341a without a programmer exits 4 (port missing)" \
        "$FL" info --port ch341a --chip bk7231t 2>"$T/err"
    check "... saying no CH341A programmer was found" grep -q "no CH341A programmer found" "$T/err"
fi

# --- the recovery recipe on the emulator, logged with driver and programmer --
R=$T/recover.bin
erase_boot "$R"
cp "$R" "$T/recover-before.bin"
RPORT="ch341a:sim?target=bk7231t&flash=$R&timescale=0"
"$FL" run recipes/bk-spi-recovery.yaml --port "$RPORT" --db "$T/audit.db" \
    >"$T/out" 2>"$T/err"
check "recipes/bk-spi-recovery.yaml PASSes on the emulator (exit 0)" [ $? -eq 0 ]
check "... the steps ran in order" py "
import re; steps=re.findall(r'^step \d+/\d+: (\w+)', open('$T/err').read(), re.M)
assert steps==['connect','identify','backup','erase','flash','verify','reboot'], steps"
check "... the image is on the unit from 0x0, the rest kept" bash -c \
    "cmp -s -n $IMG_SIZE '$IMG' '$R' && cmp -s -i $IMG_SIZE:$IMG_SIZE '$R' '$DUMP'"
check "... the run row: PASS, driver ch341a-spi, programmer the emulator, the port" py "
import sqlite3; c=sqlite3.connect('$T/audit.db')
rows=c.execute('select outcome, driver, programmer, port from runs').fetchall()
assert len(rows)==1, rows
o,d,p,port=rows[0]
assert o=='PASS' and d=='ch341a-spi' and port=='$RPORT', rows
assert p=='emulator $RPORT', rows
u=c.execute('select chip, loader_kind, jedec_id from units').fetchall()
assert u==[('bk7231t','spi mode','1c7015')], u"
check "... the backup artifact exists and equals the flash before recovery" py "
import sqlite3, hashlib; c=sqlite3.connect('$T/audit.db')
a=c.execute(\"select path, sha256, size from artifacts where kind='backup'\").fetchall()
assert len(a)==1, a
path, sha, size=a[0]
data=open(path,'rb').read()
assert data==open('$T/recover-before.bin','rb').read() and hashlib.sha256(data).hexdigest()==sha and size==len(data)"
check "... the erase step recorded what it erased" py "
import sqlite3; c=sqlite3.connect('$T/audit.db')
m=dict(c.execute(\"select m.name, m.value from measurements m join steps s on s.id=m.step_id where s.name='erase'\").fetchall())
assert m['erase_offset']==0 and m['erase_bytes']==0x11000, m"
"$FL" query recent_runs --db "$T/audit.db" --json >"$T/q.json" 2>/dev/null
check "flashline query recent_runs shows the driver and programmer" py "
import json; r=[json.loads(l) for l in open('$T/q.json')]
assert len(r)==1 and r[0]['driver']=='ch341a-spi' and r[0]['programmer']=='emulator $RPORT', r"
"$FL" run recipes/bk-spi-recovery.yaml --port "sim:bk7231t?flash=$R&timescale=0.01" --db "$T/audit.db" \
    --check >/dev/null 2>"$T/err"
check "the recovery recipe checks clean for a UART port too (exit 0)" [ $? -eq 0 ]

# --- the erase step elsewhere: the guard follows the chip table, and over UART --
erase_recipe() { printf 'name: e\nchip: %s\nsteps:\n  - connect\n  - erase: { offset: "%s", size: "%s"%s }\n' \
    "$1" "$2" "$3" "${4:+, allow_bootloader: \"$4\"}" >"$T/erase.yaml"; }
erase_recipe bk7238 0x0 0x1000
"$FL" run "$T/erase.yaml" --check >/dev/null 2>"$T/err"
check "erase step: 0x0 on a chip without a bootloader guard (bk7238) checks clean" [ $? -eq 0 ]
erase_recipe bk7231t 0x0 0x11000
"$FL" run "$T/erase.yaml" --check >/dev/null 2>"$T/err"
check "erase step: 0x0 on a bk7231t without allow_bootloader is refused by --check (exit 3)" [ $? -eq 3 ]
check "... naming the opt-in" grep -q 'allow_bootloader: "true"' "$T/err"
U=$T/uart-unit.bin
cp "$DUMP" "$U"; chmod u+w "$U"
erase_recipe bk7231t 0x1F0000 0x2000
"$FL" run "$T/erase.yaml" --port "sim:bk7231t?flash=$U&timescale=0" --db "$T/erase.db" >/dev/null 2>"$T/err"
check "erase step over the UART driver PASSes (exit 0)" [ $? -eq 0 ]
check "... 0xFF in the range, every other byte as before" py "
a=open('$DUMP','rb').read(); b=open('$U','rb').read()
assert b[0x1F0000:0x1F2000]==b'\xff'*0x2000 and a[:0x1F0000]==b[:0x1F0000] and a[0x1F2000:]==b[0x1F2000:]
assert a[0x1F0000:0x1F2000]!=b'\xff'*0x2000"
check "... and that run is logged with the UART driver" py "
import sqlite3; c=sqlite3.connect('$T/erase.db')
assert c.execute('select outcome, driver from runs').fetchall()==[('PASS','beken-uart')]"

# --- d:run_link: arguments checked before anything is written ---------------
cat >"$T/link.lua" <<'EOF'
local db = require "flashline.db"
local path = ...
local d <close> = assert(db.open(path))
local run = assert(d:run_begin { station = "s", recipe = "link" })
local function raises(f, want)
  local ok, err = pcall(f)
  assert(not ok and tostring(err):find(want, 1, true), tostring(err))
end
raises(function() d:run_link { drvier = "x", driver = "beken-uart" } end, "unknown field drvier")
raises(function() d:run_link { driver = 7 } end, "field 'driver' must be a string")
raises(function() d:run_link { driver = "" } end, "non-empty")
raises(function() d:run_link { driver = "x", programmer = {} } end, "field 'programmer' must be a string")
raises(function() d:run_link "beken-uart" end, "table expected")
assert(d:run_link { driver = "beken-uart", programmer = "/dev/ttyUSB0" })
assert(d:run_end("PASS"))
local ok, msg, kind = d:run_link { driver = "ch341a-spi" }
assert(ok == nil and kind == "usage" and msg:find("no run"), tostring(msg))
print("link-ok " .. run)
EOF
"$FL" lua "$T/link.lua" "$T/link.db" >"$T/out" 2>"$T/err"
check "d:run_link: misuse raises before a write, after run_end nil,msg,usage" \
    grep -q "link-ok" "$T/err"
check "... only the good call reached the log" py "
import sqlite3; c=sqlite3.connect('$T/link.db')
assert c.execute('select driver, programmer from runs').fetchall()==[('beken-uart','/dev/ttyUSB0')]"
finish
