#!/usr/bin/env bash
# `make install` into a temporary DESTDIR/PREFIX, then the installed copy used
# the way a station uses it: from a directory outside the tree, without
# FLASHLINE_LUA, through a symlink too.  It must find its Lua steps and its
# stock recipes by itself, run a stock recipe on a simulated unit to PASS, and
# ship a man page that names every verb and every option of every --help.
# The release binary is the one `make test` has built already (make install
# builds it only when it is missing or stale).
source "$(dirname "$0")/lib.sh"
TREE=$PWD
IMG=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
DEST=$T/dest PREFIX=/opt/flashline
P=$DEST$PREFIX

# a make started from `make test` must not join the outer make's job server
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install DESTDIR="$DEST" PREFIX="$PREFIX" \
    >"$T/install.out" 2>&1
rc=$?
check "make install DESTDIR=... PREFIX=... exits 0 (got $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail -20 "$T/install.out"

# --- what is installed where ----------------------------------------------------
check "the binary: PREFIX/bin/flashline, executable" [ -x "$P/bin/flashline" ]
check "  the release build, not the sanitizer one" bash -c '! grep -qa __asan_init "$1"' _ "$P/bin/flashline"
missing=""
for f in lua/API.md lua/steps/*.lua lua/examples/*; do
    cmp -s "$f" "$P/share/flashline/$f" || missing="$missing $f"
done
check "the Lua steps, API.md and examples in PREFIX/share/flashline/lua (missing:${missing:- none})" [ -z "$missing" ]
missing=""
for f in recipes/*.yaml; do cmp -s "$f" "$P/share/flashline/$f" || missing="$missing $f"; done
check "the recipes in PREFIX/share/flashline/recipes (missing:${missing:- none})" [ -z "$missing" ]
check "the OBK pin rules in PREFIX/share/flashline/db" cmp -s db/obk-pin-rules.jsonl "$P/share/flashline/db/obk-pin-rules.jsonl"
MAN=$P/share/man/man1/flashline.1
check "the man page: PREFIX/share/man/man1/flashline.1" [ -s "$MAN" ]
COMP=$P/share/bash-completion/completions/flashline
check "bash completion: PREFIX/share/bash-completion/completions/flashline" [ -s "$COMP" ]
check "the udev rule: PREFIX/lib/udev/rules.d/60-flashline-ch341a.rules" \
    cmp -s src/link/udev/60-flashline-ch341a.rules "$P/lib/udev/rules.d/60-flashline-ch341a.rules"
check "make install tells how to load the udev rule" grep -q "udevadm control --reload" "$T/install.out"
check "nothing is installed outside DESTDIR/PREFIX" \
    bash -c '[ -z "$(find "$1" -mindepth 1 -maxdepth 2 ! -path "$1/opt" ! -path "$1/opt/flashline")" ]' _ "$DEST"

# --- the installed copy, run from elsewhere -------------------------------------------
mkdir -p "$T/work" "$T/home" "$T/links"
ln -s "$P/bin/flashline" "$T/links/flashline"
cd "$T/work" || exit 1
unset FLASHLINE_LUA FLASHLINE_DB
export FLASHLINE_HOME=$T/home
FLI=$P/bin/flashline

out=$("$FLI" --version); rc=$?
check "--version exits 0 (got $rc)" [ $rc -eq 0 ]
check "--version: the version and the git revision ($out)" \
    grep -Eq '^flashline [0-9]+\.[0-9]+\.[0-9]+ \(git ([0-9a-f]{12}(-dirty)?|unknown)\)$' <<<"$out"

printf 'print("PATH=" .. package.path)\n' >"$T/path.lua"
"$T/links/flashline" lua "$T/path.lua" >"$T/path.out" 2>&1
check "through a symlink, Lua modules come from PREFIX/share/flashline/lua" \
    grep -q "^PATH=$P/bin/../share/flashline/lua/?.lua;" "$T/path.out"

# stock recipes by name, the installed ones
"$FLI" run bk7231n-obk --check --set firmware="$IMG" >"$T/out" 2>&1; rc=$?
check "run NAME --check finds the stock recipe (exit $rc)" [ $rc -eq 0 ]
check "  in PREFIX/share/flashline/recipes" grep -q "^$P/share/flashline/recipes/bk7231n-obk.yaml: recipe is valid" "$T/out"
"$T/links/flashline" run bk7231n-obk.yaml --check --set firmware="$IMG" >"$T/out" 2>&1; rc=$?
check "run NAME.yaml through the symlink finds it too, steps and all (exit $rc)" [ $rc -eq 0 ]
printf 'name: local\nchip: bk7231n\nsteps:\n  - connect\n' >"$T/work/bk7231n-obk.yaml"
"$FLI" run bk7231n-obk.yaml --check >"$T/out" 2>&1
check "a file of that name in the working directory wins" grep -q "^bk7231n-obk.yaml: recipe is valid" "$T/out"
rm "$T/work/bk7231n-obk.yaml"
expect_exit 3 "an unknown recipe name exits 3" "$FLI" run no-such-recipe --check 2>"$T/err"
check "  and the error lists the stock recipes" \
    grep -q "no stock recipe of that name in $P/share/flashline/recipes (stock recipes: .*bk7231n-obk" "$T/err"
expect_exit 3 "... without --check or --port too: the recipe is what is wrong" "$FLI" run no-such-recipe 2>"$T/err"
check "  and the error lists the stock recipes" grep -q "no stock recipe of that name.*(stock recipes: .*bk7231n-obk" "$T/err"
check "run --help says where stock recipes come from" \
    bash -c '"$1" run --help | grep -q "share/flashline/recipes"' _ "$FLI"

# a stock recipe on a simulated unit, its firmware (OpenBK7231N@1.18.300) from
# the store, as an operator runs it
cp "$DUMP" "$T/unit.bin"; chmod u+w "$T/unit.bin"
"$FLI" firmware add "$IMG" >"$T/add.out" 2>&1; rc=$?
check "the installed copy adds the image to the store (exit $rc)" [ $rc -eq 0 ]
"$FLI" run bk7231n-obk --port "sim:bk7231n?flash=$T/unit.bin&timescale=0&quiet=1" \
    >"$T/run.out" 2>"$T/run.err"
rc=$?
check "the stock recipe runs from the installed copy, firmware from the store (exit $rc)" [ $rc -eq 0 ]
check "  the firmware flashed is the store's" grep -q "firmware OpenBK7231N@1.18.300: .* from the store" "$T/run.err"
check "  and the unit PASSes" grep -q "^PASS" "$T/run.out"
[ $rc -eq 0 ] || tail -5 "$T/run.err"
check "  and the unit now holds OpenBeken" \
    cmp -s <(tail -c +$((0x11001)) "$IMG") <(tail -c +$((0x11001)) "$T/unit.bin" | head -c $(($(stat -c %s "$IMG") - 0x11000)))

# --- the man page: a section per verb, every option of every --help ------------------
# (NO_MAN=1 checks the page the way it is checked where man is missing)
if [ -z "${NO_MAN:-}" ] && command -v man >/dev/null; then
    # overstrike bold/underline, if man keeps it, undone
    MANWIDTH=120 man -l "$MAN" 2>"$T/man.err" | sed 's/.\x08//g' >"$T/man.txt"
    check "man -l renders the page without warnings" [ ! -s "$T/man.err" ]
else # no man: the roff text with its escapes undone
    awk '/^\.SH/ { sub(/^\.SH "?/, ""); sub(/"$/, ""); print; next } /^\./ { next } { print "       " $0 }' "$MAN" |
        sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\&//' >"$T/man.txt"
fi
check "the page names the installed paths" grep -q "$PREFIX/share/flashline/recipes" "$T/man.txt"
help_options() { # as tests/cli/completion.sh reads them
    sed '/^Exit codes:/,$d' | awk 'NR == 1, /^$/ { print; next } /^ ? ? ? ?-/' |
        grep -oE -- '(^|[][ (|,])--?[a-zA-Z][a-zA-Z0-9-]*' | sed -E 's/^[][ (|,]//' | sort -u
}
section() { # the rendered section "FLASHLINE VERB" of the page
    awk -v h="FLASHLINE $(tr '[:lower:]' '[:upper:]' <<<"$1")" \
        '$0 == h { on = 1; next } on && /^[A-Z]/ { exit } on' "$T/man.txt"
}
verbs=$("$FLI" --help | awk '/^Verbs:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
nosection=""; missing=""; total=0
for v in $verbs; do
    sec=$(section "$v")
    [ -n "$sec" ] || nosection="$nosection $v"
    for o in $("$FLI" "$v" --help | help_options); do
        total=$((total + 1))
        grep -qF -- "$o" <<<"$sec" || missing="$missing $v:$o"
    done
done
check "a section for every verb ($(wc -w <<<"$verbs") verbs; missing:${nosection:- none})" [ -z "$nosection" ]
check "every option of every verb's --help is in its section ($total; missing:${missing:- none})" \
    [ -z "$missing" ]
check "the top-level options are described (--home, --version)" \
    bash -c 'grep -q -- "--home DIR" "$1" && grep -q -- "--version" "$1"' _ "$T/man.txt"
check "the exit codes are there once" [ "$(grep -c '^EXIT STATUS' "$T/man.txt")" -eq 1 ]
# every environment variable the program reads (but HOME and TERM) is documented
vars=$(cd "$TREE" && grep -rhoE 'getenv\("[A-Z_]+"\)' src | sed -E 's/.*"(.*)".*/\1/' | sort -u |
       grep -vxE 'HOME|TERM')
undocumented=""
for v in $vars; do
    sed -n '/^ENVIRONMENT/,/^[A-Z]/p' "$T/man.txt" | grep -qE "^ +$v " || undocumented="$undocumented $v"
done
check "ENVIRONMENT names every variable flashline reads ($(wc -w <<<"$vars"); missing:${undocumented:- none})" \
    bash -c '[ -n "$1" ] && [ -z "$2" ]' _ "$vars" "$undocumented"
check "FILES names the station home's station.yaml, log, backups and firmware store" \
    bash -c 'f=$(sed -n "/^FILES/,/^SEE ALSO/p" "$1"); for w in station.yaml flashline.db backups/ firmware/; do grep -qF "HOME/$w" <<<"$f" || exit 1; done' _ "$T/man.txt"

# --- the installed completion ---------------------------------------------------
check "the installed completion loads and registers itself" \
    bash -c 'source "$1" && complete -p flashline | grep -q _flashline' _ "$COMP"

# --- uninstall ----------------------------------------------------------------------
cd "$TREE" || exit 1
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s uninstall DESTDIR="$DEST" PREFIX="$PREFIX" >/dev/null 2>&1
check "make uninstall removes every installed file" bash -c '[ -z "$(find "$1" ! -type d)" ]' _ "$DEST"

finish
