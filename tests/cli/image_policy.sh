#!/usr/bin/env bash
# One image policy for every front end (issue 7.3): a corpus of bad images,
# made here from the real OpenBeken images, goes through `flashline write`,
# `flashline verify` and a recipe's flash step (`run --check` and a real run)
# against sim: ports.  Each front end must refuse with the same message, and
# the simulated unit's flash must be byte-identical afterwards.  Then the
# accepted cases: a raw file with --offset and --raw lands exactly there, and
# an image with a neutral name is placed by its content.
source "$(dirname "$0")/lib.sh"
IMAGES=$SHARED/testdata/obk-images
DUMPS=$SHARED/testdata/tuya-dumps
C=$T/corpus
mkdir -p "$C"

# --- the corpus ------------------------------------------------------------------
NIMG=$IMAGES/OpenBK7231N_QIO_1.18.300.bin
TIMG=$IMAGES/OpenBK7231T_QIO_1.18.300.bin
pyw() { python3 -c "$1" "${@:2}"; }
head -c $((1 << 20)) /dev/urandom >"$C/OpenBK7231N_QIO_x.bin"
head -c $((2 << 20)) /dev/urandom >"$C/random.bin"
head -c $((0x80000 + 7)) "$NIMG" >"$C/OpenBK7231N_QIO_truncated.bin"
head -c $((0x129000)) "$NIMG" >"$C/OpenBK7231N_QIO_cut_at_end.bin"  # only the RBL header tail is missing
pyw "import sys; d=bytearray(open(sys.argv[1],'rb').read()); d[0x40000]^=0x10; open(sys.argv[2],'wb').write(d)" \
    "$NIMG" "$C/OpenBK7231N_QIO_flipped.bin"
# a valid image with junk after the app's RBL header, up to the Tuya config and RF calibration
pyw "import os,sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d+os.urandom(0x1F0000-len(d)))" \
    "$NIMG" "$C/OpenBK7231N_QIO_trailing.bin"
pyw "import sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d+b'\xff'*0x1000)" \
    "$NIMG" "$C/OpenBK7231N_QIO_padded.bin"  # 0xFF after the app programs nothing: accepted
cp "$TIMG" "$C/OpenBK7231N_QIO_1.18.300.bin"   # a T image renamed to an N name
cp "$NIMG" "$C/firmware.bin"                   # an N image with a neutral name
head -c 8192 /dev/urandom >"$C/blob.bin"       # plain data
cp "$DUMPS/13-LED-Moon-18W-CCT-Kobi.bin" "$C/rotated.bin"
tail -c +$((0x11001)) "$NIMG" >"$C/app.bin"     # an N _UA_ image under a neutral name
tail -c +$((0x11001)) "$DUMPS/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin" >"$C/appdump.bin"

# --- the front ends ---------------------------------------------------------------
unit() { # chip: a fresh unit holding a real dump of the same family
    case $1 in
        bk7231t) cp "$DUMPS/05-Biltema-24264-A15-E27-CCT-Mini-Globe-Bulb.bin" "$T/unit.bin" ;;
        *) cp "$DUMPS/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin" "$T/unit.bin" ;;
    esac
    chmod u+w "$T/unit.bin"; cp "$T/unit.bin" "$T/unit-before.bin"
}
port() { echo "sim:$1?flash=$T/unit.bin&timescale=0&quiet=1"; }

# recipe CHIP FILE [--offset A] [--raw]: a recipe whose flash step has the same arguments
recipe() {
    local chip=$1 file=$2 args="image: \"$2\""; shift 2
    while [ $# -gt 0 ]; do
        case $1 in
            --offset) args="$args, offset: \"$2\""; shift ;;
            --raw) args="$args, raw: \"true\"" ;;
            --force) args="$args, force: \"true\"" ;;
        esac
        shift
    done
    printf 'name: policy\nchip: %s\nsteps:\n  - connect\n  - flash: { %s }\n' "$chip" "$args" >"$T/policy.yaml"
}

# refused LABEL CHIP WRITE_EXIT FILE [options]: every front end refuses FILE with
# the same message, and the unit is untouched.
refused() {
    local label=$1 chip=$2 want=$3 file=$4; shift 4
    unit "$chip"
    "$FL" write "$file" --port "$(port "$chip")" --chip "$chip" "$@" >/dev/null 2>"$T/write.err"
    local rc=$?
    check "$label: write exits $want (got $rc)" [ $rc -eq "$want" ]
    local msg
    msg=$(sed -n 's/^flashline write: error: //p' "$T/write.err" | head -n1)
    check "$label: write gives a reason" [ -n "$msg" ]
    echo "     reason: $msg"

    "$FL" verify "$file" --port "$(port "$chip")" --chip "$chip" "$@" >/dev/null 2>"$T/verify.err"
    rc=$?
    check "$label: verify exits $want (got $rc)" [ $rc -eq "$want" ]
    check "$label: verify gives the same reason" grep -qF -- "flashline verify: error: $msg" "$T/verify.err"

    recipe "$chip" "$file" "$@"
    "$FL" run "$T/policy.yaml" --check >/dev/null 2>"$T/check.err"
    rc=$?
    check "$label: recipe --check exits 3 (got $rc)" [ $rc -eq 3 ]
    check "$label: recipe --check gives the same reason" grep -qF -- "step 'flash': $msg" "$T/check.err"
    "$FL" run "$T/policy.yaml" --port "$(port "$chip")" --db "$T/audit.db" >/dev/null 2>"$T/run.err"
    rc=$?
    check "$label: recipe run exits 3 (got $rc)" [ $rc -eq 3 ]
    check "$label: recipe run gives the same reason" grep -qF -- "step 'flash': $msg" "$T/run.err"
    check "$label: the unit's flash is byte-identical" cmp -s "$T/unit.bin" "$T/unit-before.bin"
}

refused "random 1 MiB named _QIO_" bk7231n 3 "$C/OpenBK7231N_QIO_x.bin"
grep -q "not a flash image" "$T/write.err" && grep -q "name says _QIO_" "$T/write.err"
check "random _QIO_: says it is not an image and that the name lies" [ $? -eq 0 ]
refused "random 2 MiB" bk7231t 3 "$C/random.bin"
check "random 2 MiB: tells how to write plain data" grep -q -- "--offset and --raw" "$T/write.err"
refused "truncated image" bk7231n 3 "$C/OpenBK7231N_QIO_truncated.bin"
check "truncated: says so" grep -q "truncated" "$T/write.err"
refused "image without its closing RBL header" bk7231n 3 "$C/OpenBK7231N_QIO_cut_at_end.bin"
refused "junk after the app (over the config and RF sectors)" bk7231n 3 "$C/OpenBK7231N_QIO_trailing.bin"
check "trailing junk: says so" grep -q "trailing data after the app's RBL header" "$T/write.err"
refused "one flipped byte" bk7231n 3 "$C/OpenBK7231N_QIO_flipped.bin"
check "flipped byte: names the CRC16 check" grep -q "fails its CRC16 block check" "$T/write.err"
refused "T image renamed to an N name" bk7231n 3 "$C/OpenBK7231N_QIO_1.18.300.bin"
check "renamed: names the content's chip" grep -q "is a bk7231t image .*but the chip is bk7231n" "$T/write.err"
refused "N image with a neutral name on a T chip" bk7231t 3 "$C/firmware.bin"
check "neutral name: names the content's chip" grep -q "is a bk7231n image .*but the chip is bk7231t" "$T/write.err"
refused "rotated dump" bk7231t 3 "$C/rotated.bin"
refused "plain data without --raw and --offset" bk7231n 3 "$C/blob.bin"
refused "plain data with --offset but without --raw" bk7231n 3 "$C/blob.bin" --offset 0x100000
refused "an offset that contradicts the content" bk7231n 3 "$NIMG" --offset 0x20000
refused "plain data past the end of the flash" bk7231t 7 "$C/blob.bin" --offset 0x1FF000 --raw
check "past the end: says so" grep -q "past the end of the 2048 KiB flash" "$T/write.err"

# --raw without --offset is a usage error (exit 2) for the CLI, refused by the recipe check too
unit bk7231n
expect_exit 2 "--raw without --offset: write exits 2" \
    "$FL" write "$C/blob.bin" --raw --port "$(port bk7231n)" --chip bk7231n 2>"$T/err"
check "--raw without --offset: says --offset is needed" grep -q -- "--raw needs --offset" "$T/err"
recipe bk7231n "$C/blob.bin" --raw
expect_exit 3 "raw without offset: recipe --check refuses" "$FL" run "$T/policy.yaml" --check 2>"$T/err"
check "raw without offset: same reason in the recipe" grep -q -- "--raw needs --offset" "$T/err"
check "unit untouched" cmp -s "$T/unit.bin" "$T/unit-before.bin"

# a real flash size smaller than what the chip could have: refused after identify, before any write
unit bk7231n
expect_exit 7 "N unit (2 MiB): past the real end refused after identify" \
    "$FL" write "$C/blob.bin" --offset 0x200000 --raw --port "$(port bk7231n)" --chip bk7231n 2>"$T/err"
check "past the real end: says so" grep -q "past the end of the 2048 KiB flash" "$T/err"
check "past the real end: unit untouched" cmp -s "$T/unit.bin" "$T/unit-before.bin"

# --- accepted ---------------------------------------------------------------------------
expect_dd() { # expected-file: the unit before, with FILE at OFFSET (bytes skipped: SKIP)
    cp "$T/unit-before.bin" "$T/expect.bin"
    dd if="$1" of="$T/expect.bin" bs=4096 skip="$3" seek="$(($2 / 4096))" conv=notrunc status=none
}
unit bk7231n
"$FL" write "$C/blob.bin" --offset 0x100000 --raw --port "$(port bk7231n)" --chip bk7231n >/dev/null 2>"$T/err"
check "plain data with --offset and --raw: write exits 0" [ $? -eq 0 ] || cat "$T/err"
expect_dd "$C/blob.bin" $((0x100000)) 0
check "plain data landed at 0x100000 and nothing else changed" cmp -s "$T/unit.bin" "$T/expect.bin"
"$FL" verify "$C/blob.bin" --offset 0x100000 --raw --port "$(port bk7231n)" --chip bk7231n >/dev/null 2>&1
check "plain data verifies with --offset and --raw" [ $? -eq 0 ]

unit bk7231n
recipe bk7231n "$C/blob.bin" --offset 0x100000 --raw
"$FL" run "$T/policy.yaml" --check >/dev/null 2>"$T/err"
check "recipe with offset and raw checks clean" [ $? -eq 0 ] || cat "$T/err"
"$FL" run "$T/policy.yaml" --port "$(port bk7231n)" --db "$T/audit.db" >/dev/null 2>"$T/err"
check "recipe with offset and raw passes" [ $? -eq 0 ] || cat "$T/err"
check "recipe wrote the plain data at the same place as write" cmp -s "$T/unit.bin" "$T/expect.bin"

unit bk7231n
"$FL" write "$C/firmware.bin" --port "$(port bk7231n)" --chip bk7231n >/dev/null 2>"$T/err"
check "N image with a neutral name: written on an N unit" [ $? -eq 0 ] || cat "$T/err"
expect_dd "$C/firmware.bin" $((0x11000)) 17
check "neutral name placed as a _QIO_ image (bootloader kept)" cmp -s "$T/unit.bin" "$T/expect.bin"

unit bk7231n
"$FL" write "$C/OpenBK7231N_QIO_padded.bin" --port "$(port bk7231n)" --chip bk7231n >/dev/null 2>"$T/err"
check "image followed by 0xFF padding: written" [ $? -eq 0 ] || cat "$T/err"
expect_dd "$NIMG" $((0x11000)) 17
check "the 0xFF padding is not written: the flash beyond the app is unchanged" \
    cmp -s "$T/unit.bin" "$T/expect.bin"

unit bk7231m
"$FL" verify "$NIMG" --port "$(port bk7231m)" --chip bk7231m >/dev/null 2>"$T/err"
rc=$?
check "an N image is not refused on an M chip (same family; verify says mismatch, exit 1, got $rc)" [ $rc -eq 1 ]

# --- the Lua binding is the same function ------------------------------------------------
cat >"$T/plan.lua" <<'LUA'
local image = require "flashline.image"
local util = require "flashline.util"
local dir = ...
local function load(n) return assert(util.load(dir .. "/" .. n)) end
local p = assert(image.plan(load("firmware.bin"), "firmware.bin", "bk7231n"))
assert(p.offset == 0x11000 and p.skip == 0x11000 and p.kind == "qio" and p.chip == "bk7231n", "placement")
local ok, msg, kind = image.plan(load("firmware.bin"), "firmware.bin", "bk7231t")
assert(ok == nil and kind == "format" and msg:find("is a bk7231n image", 1, true), msg)
ok, msg, kind = image.plan(load("blob.bin"), "blob.bin", "bk7231t", { offset = 0x1FF000, raw = true })
assert(ok == nil and kind == "refused", kind)
p = assert(image.plan(load("blob.bin"), "blob.bin", "bk7231n", { offset = 0x100000, raw = true }))
assert(p.offset == 0x100000 and p.length == 8192)
ok = pcall(image.plan, "x", "x", "bk7231n", { raw = "yes" })
assert(not ok, "a non-boolean option raises")
ok = pcall(image.plan, "x", "x", "bk9999")
assert(not ok, "an unknown chip raises")
p = assert(image.plan(load("app.bin"), "app.bin", "bk7231n"))
assert(p.kind == "ua" and p.offset == 0x11000 and p.skip == 0, "a _UA_ image by content")
p = assert(image.plan(load("appdump.bin"), "appdump.bin", "bk7231t"))
assert(p.kind == "app_dump" and p.offset == 0x11000, "a dump read from 0x11000 by content")
ok, msg = image.plan(load("app.bin"), "app.bin", "bk7231n", { offset = 0 })
assert(ok == nil and msg:find("belongs at 0x011000", 1, true), msg)
ok, msg = image.plan(load("app.bin"), "OpenBK7231N_QIO_app.bin", "bk7231n")
assert(ok == nil and msg:find("the name says _QIO_", 1, true), msg)
p = assert(image.plan(load("firmware.bin"), "firmware.bin", "bk7231n", { offset = 0, read_only = true }))
assert(p.offset == 0 and p.skip == 0, "verify may compare from 0x0 without allow_bootloader")
ok, msg, kind = image.plan(load("firmware.bin"), "firmware.bin", "bk7231n", { offset = 0 })
assert(ok == nil and kind == "refused" and msg:find("allow-bootloader", 1, true), msg)
print("lua plan ok")
LUA
"$FL" lua "$T/plan.lua" "$C" >"$T/out" 2>&1
grep -q "lua plan ok" "$T/out" || cat "$T/out"
check "flashline.image.plan: placement, refusals and misuse" grep -q "lua plan ok" "$T/out"

# --- argument checks before the unit is touched ------------------------------------------
# A port nobody listens on: a check that waits for the connection would fail with exit 4.
DEAD=rfc2217://127.0.0.1:1
expect_exit 3 "read to a missing directory fails before connecting" \
    "$FL" read --port "$DEAD" --chip bk7231n -o "$T/no/such/dir/x.bin" 2>"$T/err"
check "read: names the output" grep -q "$T/no/such/dir/x.bin" "$T/err"
expect_exit 3 "read to a directory fails before connecting" \
    "$FL" read --port "$DEAD" --chip bk7231n -o "$T" 2>/dev/null
expect_exit 7 "read past the end of a T flash fails before connecting" \
    "$FL" read --port "$DEAD" --chip bk7231t -o "$T/x.bin" --offset 0x1FF000 --size 0x2000 2>/dev/null
expect_exit 2 "erase of a partial sector fails before connecting" \
    "$FL" erase --port "$DEAD" --chip bk7231n --offset 0x100800 --size 0x1000 2>/dev/null
expect_exit 7 "erase of the T bootloader fails before connecting" \
    "$FL" erase --port "$DEAD" --chip bk7231t --offset 0x10000 --size 0x2000 2>/dev/null
expect_exit 3 "a bad image fails before connecting" \
    "$FL" write "$C/random.bin" --port "$DEAD" --chip bk7231t 2>/dev/null
expect_exit 7 "write past the end of a T flash fails before connecting" \
    "$FL" write "$C/blob.bin" --offset 0x1FF000 --raw --port "$DEAD" --chip bk7231t 2>/dev/null
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    mkdir "$T/ro"; chmod 555 "$T/ro"; chmod 755 "$T"
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$FL" read --port "$DEAD" --chip bk7231n -o "$T/ro/x.bin" >/dev/null 2>"$T/err"
    rc=$?
    check "read into a read-only directory fails before connecting (exit 3, got $rc)" [ $rc -eq 3 ]
    check "read-only directory: says why" grep -qi "permission denied" "$T/err"
elif [ "$(id -u)" -ne 0 ]; then
    mkdir "$T/ro"; chmod 555 "$T/ro"
    expect_exit 3 "read into a read-only directory fails before connecting" \
        "$FL" read --port "$DEAD" --chip bk7231n -o "$T/ro/x.bin" 2>/dev/null
else
    echo "skip read-only directory check: root without setpriv"
fi
finish
