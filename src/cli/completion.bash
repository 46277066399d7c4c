# --- the completion logic (src/cli/completion.bash) ----------------------------
# Uses the tables above: _flashline_verbs, _flashline_chips,
# _flashline_options, _flashline_value, _flashline_subcommands.  Plain bash
# (no bash-completion helpers needed): completes the verb, the options of
# the verb (options may come before it, as flashline accepts), the values of
# --chip (chip names), --port (serial devices, ch341a, sim:CHIP), --before,
# --reset and --after (modes), --home (directories) and of file options, and
# files for positional arguments (run: and the stock recipes; firmware fetch:
# the chip).

# Completions for an option's value, by its placeholder in --help.
_flashline_complete_value() { # placeholder, current word, option
    local what=$1 cur=$2 opt=$3
    case $what in
        CHIP)
            mapfile -t COMPREPLY < <(compgen -W "$_flashline_chips" -- "$cur") ;;
        MODE) # --after, else --before and its older name --reset
            if [[ $opt == --after ]]; then
                mapfile -t COMPREPLY < <(compgen -W "reboot stay" -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -W "auto pulse reboot manual none" -- "$cur")
            fi ;;
        URL)
            local ports=(ch341a) c
            for c in $_flashline_chips; do [[ $c == spi-nor ]] || ports+=("sim:$c"); done
            mapfile -t COMPREPLY < <(compgen -W "${ports[*]}" -- "$cur"; compgen -G "${cur:-/dev/tty}*" | grep '^/dev/tty') ;;
        DIR)
            mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        *FILE* | OUT | DUMP | SCRIPT | *.yaml | *.sql)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        *)
            COMPREPLY=() ;;
    esac
}

# The stock recipes' names (`flashline run NAME`), where the flashline being
# completed finds them: share/flashline/recipes of an installed copy, or
# recipes/ beside the binary in a source tree.
_flashline_stock_recipes() { # command as typed -> REPLY
    local bin f names=()
    bin=$(type -P "$1" 2>/dev/null) || { REPLY=; return; }
    bin=$(readlink -f "$bin" 2>/dev/null || printf '%s' "$bin")
    for f in "${bin%/*}"/../share/flashline/recipes/*.yaml "${bin%/*}"/recipes/*.yaml; do
        [[ -f $f ]] && { f=${f##*/}; names+=("${f%.yaml}"); }
    done
    REPLY=${names[*]}
}

_flashline() {
    COMPREPLY=()
    # bash splits words at ':' and '=' (COMP_WORDBREAKS): put "sim:bk7231n"
    # and "--port=X" back together, as flashline sees them.
    local words=(flashline) cword=0 i w p
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]} p=${COMP_WORDS[i - 1]}
        if ((i > 1)) && [[ $w == [:=] || $p == [:=] ]]; then
            words[-1]+=$w
        else
            words+=("$w")
        fi
        ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
    done
    ((cword)) || { words+=(""); cword=$((${#words[@]} - 1)); }
    local cur=${words[cword]} prev=${words[cword - 1]}

    _flashline_pick "$cur" "$prev"

    # bash replaces only the text after the last ':' or '=' it split at:
    # drop what comes before it from every candidate.
    if [[ $cur != "${COMP_WORDS[COMP_CWORD]}" ]]; then
        local before=${cur%"${cur##*[:=]}"}
        for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$before"}; done
    fi
    return 0
}

# Sets COMPREPLY for the whole word cur (uses words/cword of _flashline).
_flashline_pick() { # cur, prev
    local cur=$1 prev=$2 i w

    # The verb: the first word that names one and is not an option's value.
    local verb="" vat=0 value_of="" ended=""
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -n $value_of ]]; then value_of=""; continue; fi
        if [[ $w == -- ]]; then ended=1; continue; fi
        if [[ -z $ended && $w == -?* ]]; then
            [[ $w == *=* ]] || { _flashline_value "$verb" "$w"; [[ -n $REPLY ]] && value_of=$w; }
            continue
        fi
        if [[ -z $verb && -z $ended && " $_flashline_verbs " == *" $w "* ]]; then verb=$w vat=$i; fi
    done

    # An option's value: "--chip <TAB>" or "--chip=<TAB>".
    if [[ -z $ended && $cur == --*=* ]]; then
        _flashline_value "$verb" "${cur%%=*}"
        if [[ -n $REPLY ]]; then
            _flashline_complete_value "$REPLY" "${cur#*=}" "${cur%%=*}"
            for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]="${cur%%=*}=${COMPREPLY[i]}"; done
            return
        fi
    fi
    if [[ -n $value_of ]]; then
        _flashline_value "$verb" "$prev"
        _flashline_complete_value "$REPLY" "$cur" "$prev"
        return
    fi

    if [[ -z $ended && $cur == -* ]]; then
        _flashline_options "$verb"
        mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur")
        return
    fi
    if [[ -z $verb ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$_flashline_verbs" -- "$cur")
        return
    fi
    # A positional argument: the verb's sub-command first, then files (run:
    # the stock recipes' names too; firmware fetch: the chip).
    _flashline_subcommands "$verb"
    local subs=$REPLY n=0 first=""
    for ((i = vat + 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -?* ]]; then
            [[ $w == *=* ]] || { _flashline_value "$verb" "$w"; [[ -n $REPLY ]] && i=$((i + 1)); }
            continue
        fi
        ((n++)) || first=$w
    done
    if [[ -n $subs ]] && ((n == 0)); then
        mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
        return
    fi
    if [[ $verb == run ]] && ((n == 0)); then
        _flashline_stock_recipes "${COMP_WORDS[0]}"
        mapfile -t COMPREPLY < <(compgen -f -- "$cur"; compgen -W "$REPLY" -- "$cur")
        return
    fi
    if [[ $verb == firmware && $first == fetch ]] && ((n == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "${_flashline_chips/spi-nor/}" -- "$cur")
        return
    fi
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

complete -o filenames -F _flashline flashline
