#!/usr/bin/env bash
# The firmware store (flashline firmware add|list|fetch|path) and recipes that
# name firmware from it.  Fetches go to tests/http/release_server.py, a local
# server with a recorded GitHub release listing: no test touches the network.
#   * add checks the image (corrupt, not firmware, chip unknown or contradicted:
#     refused, nothing stored); list shows what was added, --json too;
#   * fetch stores the release's _QIO_ image under its pinned SHA-256; an
#     interrupted transfer resumes with a Range request and ends byte-identical;
#     a wrong digest stores nothing and leaves no partial file; a release
#     without digests needs --sha256; HTTP errors and no network are clear;
#   * a recipe naming OpenBK7231N@1.18.300 runs on sim:bk7231n from a temp
#     home and the audit log records the store identity of the flashed image;
#     a missing entry fails at the recipe line with the fetch hint, before the
#     unit is touched.
source "$(dirname "$0")/lib.sh"
IMGS=$SHARED/testdata/obk-images
N=$IMGS/OpenBK7231N_QIO_1.18.300.bin
N_SHA=$(sha256sum "$N" | cut -d' ' -f1)
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
export FLASHLINE_HOME=$T/home
unset FLASHLINE_RELEASES_URL FLASHLINE_DB
store_files() { find "$FLASHLINE_HOME/firmware" -maxdepth 1 -name '*.bin' | wc -l; }

# start_server VAR args...: the release server in the background; its base URL
# (the first line it prints, read from a fifo: nothing is polled) into VAR.
start_server() {
    local var=$1 fifo="$T/srv.$RANDOM" fd line
    shift
    mkfifo "$fifo"
    python3 tests/http/release_server.py --listing tests/data/obk-releases/releases.json \
        --files "$IMGS" "$@" >"$fifo" 2>"$T/server.err" &
    _pids+=($!)
    exec {fd}<"$fifo"
    IFS= read -r -t 60 -u "$fd" line
    exec {fd}<&-
    printf -v "$var" '%s' "$line"
}

# --- add and list ------------------------------------------------------------------
expect_exit 0 "add an OpenBeken image" "$FL" firmware add "$N" >"$T/out" 2>&1
check "add names it OpenBK7231N@1.18.300 for bk7231n" grep -q "added OpenBK7231N@1.18.300 (bk7231n, qio" "$T/out"
check "the image is in the store under its SHA-256" cmp -s "$N" "$FLASHLINE_HOME/firmware/$N_SHA.bin"

cp "$IMGS/OpenBK7238_QIO_1.18.300.bin" "$T/corrupt.bin"; chmod u+w "$T/corrupt.bin"
printf '\x00\x01\x02\x03' | dd of="$T/corrupt.bin" bs=1 seek=300000 conv=notrunc 2>/dev/null
expect_exit 3 "add refuses a corrupt image (exit 3)" "$FL" firmware add "$T/corrupt.bin" --chip bk7238 2>"$T/err"
check "the refusal says the CRC16 check failed" grep -q "CRC16 block check.*corrupt" "$T/err"
head -c 65536 /dev/zero | tr '\0' '\132' >"$T/data.bin"
expect_exit 3 "add refuses a file that is not firmware" "$FL" firmware add "$T/data.bin" --chip bk7231n 2>"$T/err"
check "  ... saying so" grep -q "is not a firmware image" "$T/err"
cp "$IMGS/OpenBK7231T_QIO_1.18.300.bin" "$T/mystery.bin"
expect_exit 3 "add refuses an image for another chip than --chip" "$FL" firmware add "$T/mystery.bin" --chip bk7231n 2>"$T/err"
check "  ... naming both chips" grep -q "bk7231t image.*the chip is bk7231n" "$T/err"
check "nothing refused entered the store" [ "$(store_files)" -eq 1 ]
expect_exit 0 "add with --chip and --version for a file not named like a release" \
    "$FL" firmware add "$T/mystery.bin" --chip bk7231t --version 9.9.9 >/dev/null 2>&1
expect_exit 0 "adding the same image again is fine" "$FL" firmware add "$N" >"$T/out" 2>&1
check "  ... and says it is already there" grep -q "already in the store" "$T/out"
mkdir -p "$T/rebuilt"
cp "$IMGS/OpenBK7231M_QIO_1.18.300.bin" "$T/rebuilt/OpenBK7231N_QIO_1.18.300.bin"
expect_exit 7 "another image under a name and version the store has is refused (exit 7)" \
    "$FL" firmware add "$T/rebuilt/OpenBK7231N_QIO_1.18.300.bin" 2>"$T/err"
check "  ... naming the one there and the way out, nothing stored" \
    bash -c "grep -q 'OpenBK7231N@1.18.300 (qio) is already in the store as another image (sha256 ${N_SHA:0:12}.*--version' '$T/err' && [ \$(find '$FLASHLINE_HOME/firmware' -maxdepth 1 -name '*.bin' | wc -l) -eq 2 ]"
check "  ... so OpenBK7231N@1.18.300 still names one image" \
    bash -c "[ \"\$('$FL' firmware path OpenBK7231N@1.18.300)\" = '$FLASHLINE_HOME/firmware/$N_SHA.bin' ]"

"$FL" firmware list >"$T/list" 2>&1
check "list shows both images with name, version, chip" \
    bash -c "grep -q '^OpenBK7231N  *1.18.300  *bk7231n  *qio  *${N_SHA:0:12}' '$T/list' && grep -q '^mystery  *9.9.9  *bk7231t' '$T/list'"
"$FL" firmware list --json >"$T/list.json"
check "list --json: one object per image with sha256, size and source" python3 - "$T/list.json" "$N_SHA" "$N" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
r = rows[0]
assert (r["name"], r["chip"], r["version"], r["sha256"]) == ("OpenBK7231N", "bk7231n", "1.18.300", sys.argv[2]), r
assert r["size"] == os.path.getsize(sys.argv[3]) and r["source"] == os.path.realpath(sys.argv[3]), r
PY
check "path resolves NAME@VERSION, chip@latest and a sha256 prefix to the same file" \
    [ "$("$FL" firmware path OpenBK7231N@1.18.300)|$("$FL" firmware path bk7231n@latest)|$("$FL" firmware path "sha256:${N_SHA:0:12}")" = \
      "$FLASHLINE_HOME/firmware/$N_SHA.bin|$FLASHLINE_HOME/firmware/$N_SHA.bin|$FLASHLINE_HOME/firmware/$N_SHA.bin" ]
expect_exit 3 "path of a missing entry fails" "$FL" firmware path OpenBK7238@1.18.300 2>"$T/err"
check "  ... with the fetch hint" grep -q "flashline firmware fetch bk7238 1.18.300" "$T/err"

# --- fetch ---------------------------------------------------------------------------
export FLASHLINE_HOME=$T/home2
start_server URL --log "$T/req.log"
expect_exit 0 "fetch bk7238 1.18.300 from the local release server" \
    "$FL" firmware fetch bk7238 1.18.300 --from "$URL" >"$T/out" 2>"$T/err"
SHA38=$(sha256sum "$IMGS/OpenBK7238_QIO_1.18.300.bin" | cut -d' ' -f1)
check "the fetched file is stored under the release's SHA-256, byte-identical" \
    cmp -s "$IMGS/OpenBK7238_QIO_1.18.300.bin" "$FLASHLINE_HOME/firmware/$SHA38.bin"
check "the store records the release asset as its source" \
    bash -c "'$FL' firmware list --json | grep -q '\"name\":\"OpenBK7238\".*\"version\":\"1.18.300\".*\"source\":\"http://127.0.0.1:[0-9]*/download/1.18.300/OpenBK7238_QIO_1.18.300.bin\"'"
check "it asked for the tag, then the _QIO_ asset" \
    bash -c "grep -q '^GET /releases/tags/1.18.300 ' '$T/req.log' && grep -q '^GET /download/1.18.300/OpenBK7238_QIO_1.18.300.bin range=-' '$T/req.log'"
"$FL" firmware fetch bk7238 --from "$URL" >"$T/out" 2>&1
check "fetch CHIP (latest) of an image already there downloads nothing" \
    bash -c "grep -q 'already in the store' '$T/out' && [ \$(grep -c '^GET /download' '$T/req.log') -eq 1 ] && grep -q '^GET /releases/latest ' '$T/req.log'"
FLASHLINE_RELEASES_URL=$URL "$FL" firmware fetch bk7231t 1.18.300 --json >"$T/out.json" 2>&1
check "\$FLASHLINE_RELEASES_URL is the default base; --json ends with a fetched object" \
    bash -c "tail -n 1 '$T/out.json' | grep -q '\"event\":\"fetched\".*\"chip\":\"bk7231t\"'"
expect_exit 4 "a release that is not there: HTTP 404 (exit 4)" "$FL" firmware fetch bk7231n 0.0.1 --from "$URL" 2>"$T/err"
check "  ... named in the message" grep -q "no release 0.0.1.*HTTP 404" "$T/err"
expect_exit 7 "a release without a digest is refused without --sha256 (exit 7)" \
    "$FL" firmware fetch bk7231n 1.18.299 --from "$URL" 2>"$T/err"
check "  ... saying to pin it with --sha256 (nothing downloaded)" \
    bash -c "grep -q 'no SHA-256 digest.*--sha256' '$T/err' && ! grep -q '/download/1.18.299' '$T/req.log'"
"$FL" firmware --help >"$T/help.out"
check "firmware --help explains these exit codes (4: HTTP, 7: no digest), not the flash verbs' ones" \
    bash -c "grep -q '^  4  .*HTTP' '$T/help.out' && grep -q '^  7  refused: the release gives no SHA-256' '$T/help.out' && ! grep -qi 'bootloader\|port or programmer' '$T/help.out'"
expect_exit 0 "... and accepted with --sha256" "$FL" firmware fetch bk7231n 1.18.299 --from "$URL" --sha256 "$N_SHA" >/dev/null 2>&1
check "  ... stored as 1.18.299" [ "$("$FL" firmware path OpenBK7231N@1.18.299)" = "$FLASHLINE_HOME/firmware/$N_SHA.bin" ]

# an interrupted transfer: resumed with Range, byte-identical
export FLASHLINE_HOME=$T/home3
start_server CUT --log "$T/cut.log" --cut-after 300000
"$FL" firmware fetch bk7231n 1.18.300 --from "$CUT" >"$T/out" 2>"$T/err"
rc=$?
check "an interrupted fetch finishes by resuming (exit $rc)" [ $rc -eq 0 ]
check "the server saw a Range request from byte 300000" grep -q "^GET /download/1.18.300/OpenBK7231N_QIO_1.18.300.bin range=bytes=300000-" "$T/cut.log"
check "the operator was told it resumed" grep -q "resuming OpenBK7231N_QIO_1.18.300.bin at byte 300000" "$T/err"
check "the stored file is byte-identical to the release" cmp -s "$N" "$FLASHLINE_HOME/firmware/$N_SHA.bin"
check "no partial file is left" [ -z "$(ls -A "$FLASHLINE_HOME/firmware/.part")" ]

# a download an earlier fetch left half done (firmware/.part/) is continued, not restarted
export FLASHLINE_HOME=$T/home5
mkdir -p "$FLASHLINE_HOME/firmware/.part"
head -c 500000 "$N" >"$FLASHLINE_HOME/firmware/.part/$N_SHA.part"
expect_exit 0 "a fetch after an interrupted one finishes it" \
    "$FL" firmware fetch bk7231n 1.18.300 --from "$URL" >/dev/null 2>&1
check "  ... asking the server only for the rest (Range: bytes=500000-)" \
    bash -c "[ \"\$(grep '^GET /download/1.18.300/OpenBK7231N_QIO' '$T/req.log')\" = 'GET /download/1.18.300/OpenBK7231N_QIO_1.18.300.bin range=bytes=500000-' ]"
check "  ... and the stored file is byte-identical" cmp -s "$N" "$FLASHLINE_HOME/firmware/$N_SHA.bin"

# a wrong digest: nothing enters the store
export FLASHLINE_HOME=$T/home4
start_server BAD --log "$T/bad.log" --wrong-digest
expect_exit 3 "a download whose digest does not match fails (exit 3)" \
    "$FL" firmware fetch bk7231n 1.18.300 --from "$BAD" 2>"$T/err"
check "  ... saying digest mismatch, deleted, nothing stored" grep -q "digest mismatch.*deleted and nothing entered the store" "$T/err"
check "  ... and the store is empty, no partial file" \
    bash -c "[ \$(find '$FLASHLINE_HOME/firmware' -type f \( -name '*.bin' -o -name '*.part' \) | wc -l) -eq 0 ] && ! grep -q OpenBK '$FLASHLINE_HOME/firmware/index.json' 2>/dev/null"

# HTTP errors and no network
start_server DENY --log "$T/deny.log" --status 403
expect_exit 4 "HTTP 403 from the API is a clear error (exit 4)" "$FL" firmware fetch bk7231n --from "$DENY" 2>"$T/err"
check "  ... naming the status" grep -q "HTTP 403" "$T/err"
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$T/port"
expect_exit 4 "no server listening: cannot reach (exit 4)" \
    "$FL" firmware fetch bk7231n --from "http://127.0.0.1:$(cat "$T/port")/releases" 2>"$T/err"
check "  ... says it cannot reach it" grep -q "cannot reach http://127.0.0.1" "$T/err"
expect_exit 2 "fetch of a chip OpenBeken has no image for (spi-nor) is a usage error" \
    "$FL" firmware fetch spi-nor --from "$URL" 2>/dev/null

# --- recipes naming firmware from the store --------------------------------------
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('|'.join('' if v is None else str(v) for v in r)) for r in c.execute(sys.argv[2])]" "$1" "$2"; }
R=recipes/bk7231n-obk.yaml
check "the stock recipe names OpenBK7231N@1.18.300, not a path" grep -q "^  firmware: OpenBK7231N@1.18.300$" "$R"
IMAGE_LINE=$(grep -n 'image: ${firmware}' "$R" | cut -d: -f1)

# a store without the image: refused at the recipe line, before the unit is touched
export FLASHLINE_HOME=$T/empty-home
cp "$DUMP" "$T/u0.bin"; chmod u+w "$T/u0.bin"
expect_exit 3 "a recipe naming a missing store entry is refused (exit 3)" \
    "$FL" run "$R" --port "sim:bk7231n?flash=$T/u0.bin&timescale=0&quiet=1" 2>"$T/err"
check "  ... at the recipe line that names it" grep -q "bk7231n-obk.yaml:$IMAGE_LINE:[0-9]*: firmware OpenBK7231N@1.18.300 is not in the store" "$T/err"
check "  ... with the fetch hint and --set firmware=PATH" \
    bash -c "grep -q 'flashline firmware fetch bk7231n 1.18.300' '$T/err' && grep -q -- '--set firmware=PATH' '$T/err'"
check "  ... before the unit was touched: its flash is unchanged" cmp -s "$DUMP" "$T/u0.bin"
check "  ... and no run was recorded" \
    bash -c "[ ! -e '$FLASHLINE_HOME/flashline.db' ] || [ \"\$(python3 -c \"import sqlite3; print(sqlite3.connect('$FLASHLINE_HOME/flashline.db').execute('select count(*) from runs').fetchone()[0])\")\" = 0 ]"
expect_exit 3 "run --check refuses it the same way" "$FL" run "$R" --check 2>/dev/null
expect_exit 0 "--set firmware=PATH still works without the store" "$FL" run "$R" --check --set firmware="$N" 2>/dev/null
expect_exit 3 "--set firmware=a file that is not there is refused" \
    "$FL" run "$R" --check --set firmware=OpenBK7231N_QIO_1.18.300.bn 2>"$T/err"
check "  ... saying where paths are looked for and how store images are named" \
    grep -q "OpenBK7231N_QIO_1.18.300.bn' for 'image' does not exist (.*working directory.*NAME@VERSION or sha256:HEX)" "$T/err"

# the store holds it: the run PASSes and the log records the store identity
export FLASHLINE_HOME=$T/run-home
"$FL" firmware add "$N" >/dev/null
expect_exit 0 "--set firmware=sha256:PREFIX names the same image" \
    "$FL" run "$R" --check --set firmware="sha256:${N_SHA:0:12}" 2>/dev/null
cp "$DUMP" "$T/u1.bin"; chmod u+w "$T/u1.bin"
"$FL" run "$R" --port "sim:bk7231n?flash=$T/u1.bin&timescale=0&quiet=1" >"$T/out" 2>"$T/err"
rc=$?
check "the stock recipe with OpenBK7231N@1.18.300 PASSes on sim:bk7231n from a temp home (exit $rc)" [ $rc -eq 0 ]
DB=$FLASHLINE_HOME/flashline.db
check "the log records the flashed image's store identity (name, version, sha256, store file)" \
    [ "$(sql "$DB" "select store_name, store_version, sha256, path from artifacts where kind = 'firmware'")" = \
      "OpenBK7231N|1.18.300|$N_SHA|$FLASHLINE_HOME/firmware/$N_SHA.bin" ]
check "  ... and where the image entered the store from" \
    [ "$(sql "$DB" "select store_source from artifacts where kind = 'firmware'")" = "$(realpath "$N")" ]
check "query units_per_firmware names the image by its store identity" \
    bash -c "'$FL' query units_per_firmware --csv | grep -q '^$N_SHA,.*,OpenBK7231N@1.18.300,bk7231n-obk,'"
check "  ... while the backup carries no store identity" \
    [ "$(sql "$DB" "select count(*) from artifacts where kind = 'backup' and store_name is null")" = 1 ]
S=$(stat -c %s "$N")
check "the unit holds the image after the run (from 0x11000: the bootloader is kept)" \
    cmp -s -n $((S - 0x11000)) "$N" "$T/u1.bin" $((0x11000)) $((0x11000))
expect_exit 1 "the store identity is append-only like the rest of the artifact" \
    python3 -c "import sqlite3,sys; c=sqlite3.connect('$DB'); c.execute(\"update artifacts set store_version='6.6.6' where kind='firmware'\"); c.commit()" 2>/dev/null

# an image changed on disk after it entered the store is not flashed
cp "$DUMP" "$T/u2.bin"; chmod u+w "$T/u2.bin"
chmod u+w "$FLASHLINE_HOME/firmware/$N_SHA.bin"
printf 'X' | dd of="$FLASHLINE_HOME/firmware/$N_SHA.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
"$FL" run "$R" --port "sim:bk7231n?flash=$T/u2.bin&timescale=0&quiet=1" --again >"$T/out" 2>&1
check "a store file that no longer has its SHA-256 is refused at the recipe line" \
    bash -c "grep -q 'bk7231n-obk.yaml:$IMAGE_LINE:[0-9]*: firmware OpenBK7231N@1.18.300: the store.s file .* no longer has SHA-256 $N_SHA' '$T/out' && ! grep -q '^PASS' '$T/out'"
check "  ... before the unit was touched" cmp -s "$DUMP" "$T/u2.bin"

finish
