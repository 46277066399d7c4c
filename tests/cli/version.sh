#!/usr/bin/env bash
# flashline --version / -V: the version and the git revision the binary was built
# from (the Makefile regenerates build/gen/version.h whenever HEAD changes), and the
# top-level --help that mentions it and every way of reaching a chip.
source "$(dirname "$0")/lib.sh"

out=$("$FL" --version); rc=$?
check "--version exits 0 (got $rc)" [ $rc -eq 0 ]
check "--version says 'flashline X.Y.Z (git REV)' (got '$out')" \
    grep -Eq '^flashline [0-9]+\.[0-9]+\.[0-9]+ \(git ([0-9a-f]{12}(-dirty)?|unknown)\)$' <<<"$out"
check "-V is the same as --version" [ "$("$FL" -V)" = "$out" ]
# tests run from the checkout the binary was built in: its revision is HEAD
if head=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    check "the revision is this checkout's HEAD ($head)" grep -q "(git $head" <<<"$out"
fi

"$FL" --help >"$T/help"; rc=$?
check "--help exits 0 (got $rc)" [ $rc -eq 0 ]
check "--help mentions --version" grep -q -- "--version" "$T/help"
check "--help names the CH341A programmer ports" grep -q "ch341a:sim?target=CHIP" "$T/help"
check "--help names spi-nor among the chips" grep -q "spi-nor" "$T/help"
check "--help no longer says every write is verified by CRC" bash -c "! grep -q 'by CRC' '$T/help'"

finish
