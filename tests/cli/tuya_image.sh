#!/usr/bin/env bash
# CLI tests for `flashline tuya extract` and `flashline image ...` on the real
# test files.  Outputs are inspected with grep/python and never printed: the
# dumps hold real people's credentials.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
D=$SHARED/testdata/tuya-dumps
O=$SHARED/testdata/obk-images
N_QIO=$O/OpenBK7231N_QIO_1.18.300.bin

out() { "$@" >"$T/out" 2>"$T/err"; echo $? >"$T/rc"; }
rc() { cat "$T/rc"; }
has() { grep -qF -- "$1" "$T/out"; }
err_has() { grep -qF -- "$1" "$T/err"; }
json() { python3 -c "import json,sys; d=json.load(open('$T/out')); sys.exit(0 if ($1) else 1)"; }

# --- tuya extract ------------------------------------------------------------
out "$FL" tuya extract --help
check "tuya --help exits 0" [ "$(rc)" = 0 ]
check "tuya --help documents the options" bash -c "grep -q -- --show-secrets '$T/out' && grep -q -- --obk '$T/out' && grep -q -- --lv-aware '$T/out'"

out "$FL" tuya extract "$D/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin"
check "extract a full dump" [ "$(rc)" = 0 ]
check "module shown" has "Module:      CB2S"
check "UPK from the KV store" has "user_param_key (from the KV store, 53 keys)"
check "secrets redacted by default" has '"passwd":"<redacted>"'
check "MAC masked by default" has ":xx:xx:xx"

out "$FL" tuya extract --json "$D/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin"
check "--json exits 0" [ "$(rc)" = 0 ]
check "--json: one object, event tuya_config" json "d['event']=='tuya_config' and d['secrets_shown']==False"
check "--json: full scan finds 11 keys in 17 sectors" json "len(d['keys'])==11 and d['storage']['data_sectors']==17"
check "--json: key block at flash 0x1EE000" json "d['storage']['key_block_flash_offset']=='0x1EE000'"
check "--json: typed UPK" json "d['user_param_key']['rl1_pin']==26 and d['user_param_key']['jv']=='1.0.5'"
python3 - "$T/out" >"$T/count1" <<'PY'
import json,sys
d=json.load(open(sys.argv[1])); print(json.dumps(d).count('<redacted>'))
PY
out "$FL" tuya extract --json --show-secrets "$D/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin"
check "--show-secrets: nothing redacted" json "'<redacted>' not in json.dumps(d) and d['secrets_shown']==True"
check "default redacted more than 10 values" [ "$(cat "$T/count1")" -gt 10 ]

out "$FL" tuya extract --obk "$D/12-Kanlux-33643-S-GU10-RGBCCT-Bulb.bin"
check "--obk: pins listed" has "P24  SM2235DAT"
check "--obk: startup commands" has "SM2235_Current 1 2"
check "--obk: console backlog" has "Console:     backlog setPinRole 24 SM2235DAT; setPinChannel 24 0"
out "$FL" tuya extract --lv-aware --json "$D/18-SmartLED-8044-1-Gange-Smart-Switch.bin"
check "--lv-aware: Btn_n" json "d['obk']['mode']=='lv-aware' and d['obk']['pins']['20']=='Btn_n;1'"
out "$FL" tuya extract --obk "$D/16-Mirabella-Genio-I003632-Plug.bin"
check "compat: lv difference reported as a warning" has "P26: --lv-aware would use WifiLED instead of WifiLED_n"
out "$FL" tuya extract "$D/07-Daybetter-FLSL501115WIFITY-RGB-LED-Strip.bin"
check "no UPK in KV: firmware default from the app" has "firmware default compiled into the app"
out "$FL" tuya extract --no-app-search "$D/07-Daybetter-FLSL501115WIFITY-RGB-LED-Strip.bin"
check "--no-app-search: no UPK" has "user_param_key: none"
out "$FL" tuya extract --obk "$D/08-ELEGRP-DPR10-Touch-Dimmer-Switch-TuyaMCU.bin"
check "TuyaMCU: baud and hint" bash -c "grep -q 'Baud:        9600' '$T/out' && grep -q 'no pins found: TuyaMCU' '$T/out'"
out "$FL" tuya extract --json "$D/13-LED-Moon-18W-CCT-Kobi.bin"
check "rotated dump: flash offset after rotation" json "d['file']['rotated'] and d['storage']['key_block_flash_offset']=='0x1EE000'"
tail -c +$((0x11001)) "$D/21-Tuya-Generic-DS-101JL-4-Gang-Smart-Switch.bin" >"$T/from11000.bin"
out "$FL" tuya extract --json --obk "$T/from11000.bin"
check "dump read from 0x11000: flash offsets and pins" json "d['file']['kind']=='app_dump' and d['storage']['key_block_flash_offset']=='0x1EE000' and d['obk']['pins']['1']=='WifiLED_n;0' and d['chip']=='BK7231T'"
out "$FL" tuya extract --json "$D/04-BK7231T-TuyaConfig-PC44HA.bin"
check "config-only dump" json "d['file']['kind']=='tuya_config' and d['chip']=='BK7231T' and len(d['keys'])==11"

# --- tuya errors -------------------------------------------------------------
expect_exit 2 "no arguments" "$FL" tuya
expect_exit 2 "unknown action" "$FL" tuya dissect x
expect_exit 2 "missing DUMP" "$FL" tuya extract
expect_exit 2 "unknown option" "$FL" tuya extract --bogus "$N_QIO"
expect_exit 2 "bad --key" "$FL" tuya extract --key 12345 "$N_QIO"
out "$FL" tuya extract "$T/does-not-exist.bin"
check "missing file: exit 3 and says why" bash -c "[ $(rc) = 3 ] && grep -q 'cannot open' '$T/err'"
: >"$T/empty.bin"
out "$FL" tuya extract "$T/empty.bin"
check "empty file: exit 3" bash -c "[ $(rc) = 3 ] && grep -q 'empty' '$T/err'"
head -c 65536 /dev/urandom >"$T/garbage.bin"
out "$FL" tuya extract "$T/garbage.bin"
check "garbage: exit 3, says what was searched" bash -c "[ $(rc) = 3 ] && grep -q 'searched 16 sectors' '$T/err'"
out "$FL" tuya extract --json "$T/garbage.bin"
check "garbage --json: error event on stdout" json "d['event']=='error' and d['exit']==3"
out "$FL" tuya extract "$N_QIO"
check "OBK image: exit 3, names the file kind" bash -c "[ $(rc) = 3 ] && grep -q '_QIO_ image' '$T/err' && grep -q 'no Tuya KV store' '$T/err'"
truncate -s 17M "$T/huge.bin"
out "$FL" tuya extract "$T/huge.bin"
check "oversized input: exit 3" bash -c "[ $(rc) = 3 ] && grep -q 'larger than' '$T/err'"
head -c $((0x1EF000)) "$D/09-Feconn-FE-MR16-5W-GU5-3-RGBCT-Bulb.bin" >"$T/cut.bin"
out "$FL" tuya extract "$T/cut.bin"
check "truncated after the key block: explains" bash -c "[ $(rc) = 3 ] && grep -q 'found 1 key block' '$T/err'"

# --- image info ----------------------------------------------------------------
for f in "$O"/*_QIO_*.bin; do
    chip=$(basename "$f" | sed -E 's/^Open(BK[0-9A-Z]+)_QIO_.*/\1/')
    out "$FL" image info --json "$f"
    check "image info $(basename "$f"): qio, $chip, CRCs ok" \
        json "d['kind']=='qio' and d['chip']=='$chip' and all(r['header_crc_ok'] and r['data_crc_ok'] for r in d['rbl'])"
done
out "$FL" image info "$D/14-Lepro-WiFi-Smart-Bulb-GU10-RGBW-902002-eu-2.bin"
check "image info: rotated dump" has "rotated full flash dump"
out "$FL" image info --json "$D/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin"
check "image info: full dump, BK7231T, key copy" json "d['kind']=='full_dump' and d['chip']=='BK7231T' and d['bootloader']['key_copy_offset']=='0x48' and d['mac'].endswith('xx:xx:xx')"
out "$FL" image info --json "$D/04-BK7231T-TuyaConfig-PC44HA.bin"
check "image info: config-only" json "d['kind']=='tuya_config'"
tail -c +$((0x11001)) "$N_QIO" >"$T/ua.bin"
out "$FL" image info --json "$T/ua.bin"
check "image info: _UA_ (app container)" json "d['kind']=='ua' and d['app']['openbeken']=='OpenBK7231N_1.18.300'"
expect_exit 2 "image: no action" "$FL" image
expect_exit 2 "image: unknown action" "$FL" image frobnicate x
expect_exit 3 "image info: missing file" "$FL" image info "$T/nope"

# --- decrypt / encrypt -----------------------------------------------------------
out "$FL" image decrypt "$N_QIO" -o "$T/n.dec"
check "decrypt QIO" bash -c "[ $(rc) = 0 ] && grep -q 'decrypted app at 0x10000' '$T/out'"
out "$FL" image info --json "$T/n.dec"
check "decrypted image: logical, code in clear" json "d['kind']=='logical' and d['chip']=='BK7231N'"
out "$FL" image encrypt "$T/n.dec" -o "$T/n.enc"
check "encrypt: package CRCs match the headers" bash -c "[ $(rc) = 0 ] && [ \$(grep -c 'matches its RBL header' '$T/out') = 2 ]"
check "decrypt + encrypt = original QIO" cmp -s "$T/n.enc" "$N_QIO"
DUMP=$D/02-BK7231N-LSPA9-Clone-First-ByDarkMan-topic3887748.bin
"$FL" image decrypt "$DUMP" -o "$T/d.dec" >/dev/null && "$FL" image encrypt "$T/d.dec" -o "$T/d.enc" >/dev/null
check "decrypt + encrypt = code region of a dump" cmp -s "$T/d.enc" <(head -c "$(stat -c %s "$T/d.enc")" "$DUMP")
head -c 1000 /dev/urandom >"$T/raw.bin"
"$FL" image encrypt --addr 0x10000 --no-crc --key uascent "$T/raw.bin" -o "$T/raw.enc" >/dev/null
"$FL" image decrypt --addr 0x10000 --key uascent "$T/raw.enc" -o "$T/raw.dec" >/dev/null
check "raw encrypt/decrypt at an address" cmp -s "$T/raw.dec" "$T/raw.bin"
check "raw encrypt changed the bytes" bash -c "! cmp -s '$T/raw.enc' '$T/raw.bin'"
expect_exit 2 "decrypt without -o" "$FL" image decrypt "$N_QIO"
expect_exit 2 "decrypt bad --addr" "$FL" image decrypt --addr zz "$N_QIO" -o "$T/x"
out "$FL" image decrypt "$T/garbage.bin" -o "$T/g.dec"
check "decrypt garbage: exit 3, suggests --addr" bash -c "[ $(rc) = 3 ] && grep -q -- '--addr' '$T/err'"
check "no temporary files left" bash -c "! ls '$T' | grep -q '\\.tmp\\.'"

# --- CRC16 ------------------------------------------------------------------------
expect_exit 0 "crc check of a QIO" "$FL" image crc check "$N_QIO"
out "$FL" image crc strip "$N_QIO" -o "$T/n.strip"
check "crc strip" [ "$(rc)" = 0 ]
"$FL" image crc add --keep-erased "$T/n.strip" -o "$T/n.add" >/dev/null
check "strip + add --keep-erased = original" cmp -s "$T/n.add" "$N_QIO"
cp "$N_QIO" "$T/bad.bin"; chmod u+w "$T/bad.bin"
printf '\x00' | dd of="$T/bad.bin" bs=1 seek=$((0x20000)) conv=notrunc 2>/dev/null
out "$FL" image crc check --json "$T/bad.bin"
check "crc check finds the damaged block (exit 3)" bash -c "[ $(rc) = 3 ]"
check "crc check --json reports it" json "not d['ok'] and any(p['bad']==1 for p in d['parts'])"
expect_exit 3 "crc strip refuses bad blocks" "$FL" image crc strip "$T/garbage.bin" -o "$T/x"
expect_exit 0 "crc strip --force" "$FL" image crc strip --force "$T/garbage.bin" -o "$T/x"
expect_exit 2 "crc without action" "$FL" image crc
expect_exit 2 "crc unknown action" "$FL" image crc frob "$N_QIO"
expect_exit 2 "crc add without -o" "$FL" image crc add "$N_QIO"

finish
