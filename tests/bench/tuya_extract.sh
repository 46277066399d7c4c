#!/usr/bin/env bash
# tests/bench/tuya_extract.sh — issue 3 point 7: extracting one 2 MiB dump
# takes under 20 ms.  Runs the release-build bench program over every real
# 2 MiB dump and prints the median and the slowest dump.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
bin="$BUILD/rel/bench/bench_tuya_extract"
[ -x "$bin" ] || make -s BUILD="$BUILD" "$bin"
echo "== Tuya config extraction (target < 20 ms per 2 MiB dump) =="
"$bin" "$@"
