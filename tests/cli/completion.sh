#!/usr/bin/env bash
# Bash completion (generated from the binary's --help by
# src/cli/gen-completion.sh, logic in src/cli/completion.bash), driven the way
# bash drives it: COMP_WORDS/COMP_CWORD set, the function called, COMPREPLY
# read.  It must offer every verb, every option each verb's --help lists (read
# here independently of the generator), the chip names, ports and files.
source "$(dirname "$0")/lib.sh"
sh src/cli/gen-completion.sh "$FL" src/cli/completion.bash >"$T/flashline.bash" 2>"$T/gen.err"
check "the completion is generated (exit $?)" [ -s "$T/flashline.bash" ]
check "it is valid bash" bash -n "$T/flashline.bash"
# shellcheck disable=SC1091
source "$T/flashline.bash"
check "it registers itself for flashline" bash -c 'source "$1"; complete -p flashline | grep -q -- "-F _flashline"' _ "$T/flashline.bash"

# comp WORD...: complete the last word (bash's split: ':' and '=' are words)
comp() {
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _flashline flashline "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort
}
# has WORD LIST...: WORD is among the lines of LIST
has() { grep -qxF -- "$1" <<<"$2"; }
# same A B: the two lists hold the same lines
same() { [ "$(sort <<<"$1")" = "$(sort <<<"$2")" ]; }

verbs=$("$FL" --help | awk '/^Verbs:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
check "the verbs are read from --help ($(wc -w <<<"$verbs") of them)" [ "$(wc -w <<<"$verbs")" -ge 10 ]
check "flashline <TAB> offers exactly the verbs" same "$(comp flashline "")" "$verbs"
check "flashline i<TAB> offers info and image" same "$(comp flashline i)" "$(printf 'image\ninfo')"

# The options a --help text lists: every -x / --name in its usage lines (the
# first paragraph) and in lines that start with an option, before the exit codes.
help_options() {
    sed '/^Exit codes:/,$d' | awk 'NR == 1, /^$/ { print; next } /^ ? ? ? ?-/' |
        grep -oE -- '(^|[][ (|,])--?[a-zA-Z][a-zA-Z0-9-]*' | sed -E 's/^[][ (|,]//' | sort -u
}
missing=""; total=0
for v in $verbs; do
    offered=$(comp flashline "$v" -)
    for o in $("$FL" "$v" --help | help_options) --home --help; do
        total=$((total + 1))
        has "$o" "$offered" || missing="$missing $v:$o"
    done
done
all_offered() { [ -z "$missing" ] && [ "$total" -ge 100 ]; }
check "every verb's options are offered after it ($total checked; missing:${missing:- none})" all_offered
check "before the verb: the global options" \
    same "$(comp flashline --h)" "$(printf -- '--help\n--home')"
check "options before the verb: the verb is found after them" \
    same "$(comp flashline --port /dev/ttyUSB0 --chip bk7231n "")" "$verbs"
check "options before the verb: the verb's own options after it" \
    same "$(comp flashline --json read --o)" "$(printf -- '--offset\n--output')"
check "after an option's value that names a verb, verbs are still offered" \
    same "$(comp flashline -o info "")" "$verbs"

# --chip values: the chip names flashline knows (--help names them too)
chips=$("$FL" --list-chips)
check "--list-chips names bk7231n and spi-nor" bash -c 'grep -qx bk7231n <<<"$1" && grep -qx spi-nor <<<"$1"' _ "$chips"
check "--chip <TAB> offers every chip" same "$(comp flashline info --chip "")" "$chips"
for c in $("$FL" --help | sed -n '/^Chips (--chip):/,/^$/p' | grep -oE 'bk7[0-9a-z]+|spi-nor'); do
    has "$c" "$chips" || fail "chip $c of --help is not completed"
done
check "-c bk7231<TAB> offers only the bk7231 chips" \
    same "$(comp flashline write -c bk7231)" "$(grep '^bk7231' <<<"$chips")"
check "--chip=<TAB> (bash splits at '=') offers the chips" \
    same "$(comp flashline info --chip = bk7252)" "$(grep '^bk7252' <<<"$chips")"
check "--chip before the verb offers the chips" same "$(comp flashline --chip "")" "$chips"

# --port values: ch341a, sim:CHIP and the serial devices that exist
ports=$(comp flashline info --port "")
check "--port offers ch341a" has ch341a "$ports"
check "--port offers the simulator (sim:bk7231n)" has sim:bk7231n "$ports"
ttys=$(compgen -G '/dev/tty*')
bad=""; for t in $ttys; do has "$t" "$ports" || bad="$bad $t"; done
check "--port offers every /dev/tty* ($(wc -w <<<"$ttys"); missing:${bad:- none})" [ -z "$bad" ]
check "--port /dev/tt<TAB> offers only devices" \
    bash -c '[ -n "$1" ] && ! grep -qv "^/dev/tty" <<<"$1"' _ "$(comp flashline run --port /dev/tt)"
check "--port sim:bk7231<TAB> (bash splits at ':') completes the chip after the colon" \
    same "$(comp flashline info --port sim : bk7231)" "$(grep '^bk7231' <<<"$chips")"

# --before/--reset/--after modes: every one offered is one flashline accepts (a
# bad mode is a usage error, exit 2; a good one gets as far as the port, exit 4)
modes_ok() { # OPTION, the modes offered
    local m
    [ -n "$2" ] || return 1
    for m in $2; do
        "$FL" info "$1" "$m" --port "$T/no-such-port" 2>/dev/null
        [ $? -eq 4 ] || { echo "  $1 $m refused"; return 1; }
    done
}
check "--after <TAB> offers reboot and stay" same "$(comp flashline info --after "")" "$(printf 'reboot\nstay')"
check "  flashline accepts them" modes_ok --after "$(comp flashline info --after "")"
check "--before <TAB> offers the five ways to get the bus" \
    same "$(comp flashline read --before "")" "$(printf 'auto\nmanual\nnone\npulse\nreboot')"
check "  flashline accepts them" modes_ok --before "$(comp flashline read --before "")"
check "run --reset=p<TAB> offers pulse" same "$(comp flashline run --reset = p)" pulse

# run NAME: the stock recipes where the flashline completed finds them
mkdir -p "$T/inst/bin" "$T/inst/share/flashline/recipes"
: >"$T/inst/share/flashline/recipes/line-recipe.yaml"
printf '#!/bin/sh\n' >"$T/inst/bin/flashline"; chmod +x "$T/inst/bin/flashline"
check "run <TAB> offers an installed copy's stock recipes by name" \
    has line-recipe "$(PATH="$T/inst/bin:$PATH" comp flashline run "")"
check "firmware fetch <TAB> offers the chips OpenBeken builds for" \
    bash -c 'grep -qx bk7231n <<<"$1" && ! grep -qx spi-nor <<<"$1"' _ "$(comp flashline firmware fetch "")"

# files: file options, positional arguments; directories for --home
mkdir -p "$T/cwd/sub"; : >"$T/cwd/unit.bin"; : >"$T/cwd/recipe.yaml"
cd "$T/cwd" || exit 1
check "-o <TAB> offers files" same "$(comp flashline read -o u)" unit.bin
check "--output=<TAB> offers files" same "$(comp flashline read --output = u)" unit.bin
check "write FILE: files" same "$(comp flashline write --chip bk7231n "")" "$(printf 'recipe.yaml\nsub\nunit.bin')"
check "run RECIPE: files" same "$(comp flashline run r)" recipe.yaml
check "--home <TAB> offers directories" same "$(comp flashline --home "")" sub
check "after --, files even for a dash" bash -c '[ -z "$1" ]' _ "$(comp flashline write -- --)"
cd - >/dev/null || exit 1

# sub-commands, from the usage lines (image info|decrypt|..., tuya extract)
check "image <TAB> offers its sub-commands" \
    same "$(comp flashline image "")" "$("$FL" image --help | grep -oE 'flashline image [a-z]+' | awk '{ print $3 }' | sort -u)"
check "tuya <TAB> offers extract" same "$(comp flashline tuya --json "")" extract
check "query <TAB> offers the canned queries (query --list)" \
    same "$(comp flashline query --csv "")" "$("$FL" query --list | awk 'NF { print $1 }')"
check "image info <TAB> offers files" bash -c '[ -n "$1" ]' _ "$(cd "$T/cwd" && comp flashline image info "")"

finish
