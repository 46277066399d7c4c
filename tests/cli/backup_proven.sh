#!/usr/bin/env bash
# Proven backups (issue 11 points 1-2): `read` and the backup step prove
# erased sectors by the chip's CRC, a later unit of the same product takes the
# sectors that equal the previous PASSed backup from it (chosen from the audit
# log, or named in the recipe), the file stays byte-exact, and the audit log
# says how many sectors were read, proven erased and taken from which backup.
source "$(dirname "$0")/lib.sh"
A=$SHARED/testdata/tuya-dumps/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
"$FL" firmware add "$IMG" >/dev/null || fail "seeding the firmware store"
DB=$T/audit.db
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$DB" "$1"; }
unit() { cp "$2" "$T/$1.bin"; chmod u+w "$T/$1.bin"; }
port() { echo "sim:bk7231n?flash=$T/$1.bin&timescale=0&quiet=1"; }
# B: another unit of A's product: its own MAC (RF sector) and three other sectors differ
B=$T/B.bin
python3 - "$A" "$B" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[0x1D0000 + 0x29] ^= 0x5A                       # the MAC's last byte
for a in (0x1E1000, 0x1F0000, 0x150000):
    for i in range(0, 4096, 7):
        d[a + i] = (d[a + i] + 1 + i) & 0xFF
open(sys.argv[2], 'wb').write(d)
PY
erased=$(python3 -c "import sys; d=open(sys.argv[1],'rb').read(); print(sum(d[a:a+4096]==b'\xff'*4096 for a in range(0,len(d),4096)))" "$A")

# --- read: erased sectors proven -----------------------------------------------
unit r "$A"
"$FL" read -p "$(port r)" -o "$T/r.out" --json >"$T/out" 2>"$T/err"
rc=$?
check "read exits 0 ($rc)" [ $rc -eq 0 ]
check "read is byte-exact" cmp -s "$T/r.out" "$A"
check "read --json says $erased sectors proven erased, the rest moved" python3 - "$T/out" "$erased" <<'PY'
import json, sys
done = [e for e in map(json.loads, open(sys.argv[1])) if e.get("event") == "done"][0]
n = int(sys.argv[2])
sys.exit(0 if done["proven_erased"] == n and done["sectors_read"] == 512 - n and done["from_reference"] == 0 else 1)
PY
"$FL" read -p "$(port r)" -o "$T/r2.out" --reference "$B" 2>"$T/err"
check "read --reference is byte-exact" cmp -s "$T/r2.out" "$A"
check "read --reference says what it took from the reference" grep -q "taken from the reference" "$T/err"
"$FL" read -p "$(port r)" -o "$T/r3.out" --reference "$T/missing.bin" 2>"$T/err"
rc=$?
check "a missing --reference is a file error before the unit is touched ($rc)" [ $rc -eq 3 ]

# --- the Lua binding -----------------------------------------------------------------
unit l "$A"
lua_test tests/lua/read_proven_test.lua "$T/l.bin"

# --- the first unit of a batch: no reference -------------------------------------
unit a "$A"
"$FL" run recipes/demo.yaml --port "$(port a)" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
check "first unit PASSes ($rc)" [ $rc -eq 0 ]
backup_a=$(sql "select path from artifacts where kind = 'backup'")
check "its backup is byte-exact" cmp -s "$backup_a" "$A"
check "audit log: $erased sectors proven erased, none from a reference" \
    [ "$(sql "select group_concat(name || '=' || value, ' ') from (select * from measurements where name like 'backup_sectors%' order by id)")" = "backup_sectors_read=$((512 - erased)).0 backup_sectors_proven_erased=$erased.0 backup_sectors_from_reference=0.0" ]
check "no reference recorded for the first unit" [ "$(sql "select count(*) from artifacts where kind = 'backup_reference'")" = 0 ]

# --- the next unit of the same product: the previous backup is the reference ------
unit b "$B"
"$FL" run recipes/demo.yaml --port "$(port b)" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
check "second unit PASSes ($rc)" [ $rc -eq 0 ]
backup_b=$(sql "select path from artifacts where kind = 'backup' order by id desc limit 1")
check "its backup is byte-exact" cmp -s "$backup_b" "$B"
check "the reference recorded is the first unit's backup, by path and SHA-256" \
    [ "$(sql "select path || ' ' || sha256 from artifacts where kind = 'backup_reference'")" = "$backup_a $(sha256sum "$A" | cut -d' ' -f1)" ]
read -r moved fromref <<<"$(sql "select max(case when name = 'backup_sectors_read' then value end), max(case when name = 'backup_sectors_from_reference' then value end) from measurements where run_id = (select max(id) from runs)" | tr '|' ' ')"
differ=$(python3 -c "import sys; a=open(sys.argv[1],'rb').read(); b=open(sys.argv[2],'rb').read(); print(sum(a[x:x+4096]!=b[x:x+4096] for x in range(0,len(a),4096)))" "$A" "$B")
erased_b=$(python3 -c "import sys; d=open(sys.argv[1],'rb').read(); print(sum(d[a:a+4096]==b'\xff'*4096 for a in range(0,len(d),4096)))" "$B")
check "only the $differ sectors that differ from the reference moved ($moved), $((512 - erased_b - differ)) came from it ($fromref)" \
    [ "$moved $fromref" = "$differ.0 $((512 - erased_b - differ)).0" ]

# --- a reference that changed on disk is not used -------------------------------------
chmod u+w "$backup_b"; printf 'x' | dd of="$backup_b" bs=1 seek=100 conv=notrunc 2>/dev/null
unit c "$B"
"$FL" run recipes/demo.yaml --port "$(port c)" --db "$DB" --again >"$T/out" 2>"$T/err"
rc=$?
check "a third unit PASSes with the changed backup skipped ($rc)" [ $rc -eq 0 ]
check "it says the changed backup is not used" grep -q "gone or changed; not used" "$T/err"
check "the older intact backup is the reference" \
    [ "$(sql "select path from artifacts where kind = 'backup_reference' order by id desc limit 1")" = "$backup_a" ]

# --- a reference named in the recipe ---------------------------------------------------
cat >"$T/named.yaml" <<YAML
name: named
chip: bk7231n
steps:
  - connect
  - backup:
      dir: $T/named
      reference: $B
      auto_reference: "false"
YAML
unit d "$B"
"$FL" run "$T/named.yaml" --port "$(port d)" --db "$DB" >"$T/out" 2>"$T/err"
rc=$?
check "a recipe naming its reference PASSes ($rc)" [ $rc -eq 0 ]
check "its backup is byte-exact" cmp -s "$(ls "$T"/named/*.bin)" "$B"
check "every non-erased sector came from the named reference" \
    [ "$(sql "select value from measurements where name = 'backup_sectors_read' order by id desc limit 1")" = "0.0" ]
finish
