#!/usr/bin/env bash
# The stock OBK-config recipe under line faults (drop, corrupt, stall,
# brown-out), several seeds: its backup reads the whole flash, its flash step
# classifies sectors from that read, its obk_config step writes the config
# sector (write_faults.sh runs the same paths outside a recipe).  Every run
# either passes with the flash exactly the clean run's, or fails clearly; in
# both cases every byte outside the written ranges is as before.
source "$(dirname "$0")/lib.sh"

# light rates: the backup reads the whole 2 MiB, and every drop costs a real timeout
RECIPE_FAULTS=("drop=0.003&seed=8" "corrupt=0.01&seed=5"
               "drop=0.003&corrupt=0.005&stall=200&stallrate=0.003&seed=29")

# --- the stock recipe: backup (the whole flash), flash (sectors classified from that
# backup), obk_config (only the config sector); the firmware lands at 0x11000..0x12A000
DUMP=$SHARED/testdata/tuya-dumps/01-Allegro-Berge-MI0014-30-x-5-cm-Milio.bin
FW=$SHARED/testdata/obk-images/OpenBK7231N_QIO_1.18.300.bin
recipe() { # flash-file sim-query db
    "$FL" run recipes/bk7231n-obk-config.yaml --port "sim:bk7231n?flash=$1&timescale=0&quiet=1$2" \
        --db "$3" --set firmware="$FW" --set wifi_ssid=LineNet --set mqtt_host=10.0.0.2 \
        --set mqtt_user=line
}
export FLASHLINE_OBK_WIFI_PASS=wp FLASHLINE_OBK_MQTT_PASS=mp
cp "$DUMP" "$T/r_orig.bin"; chmod u+w "$T/r_orig.bin"
cp "$T/r_orig.bin" "$T/r_want.bin"
recipe "$T/r_want.bin" "" "$T/rw.db" >"$T/r.out" 2>&1
check "recipe: the clean run passes" [ $? -eq 0 ]
n_ok=0 n_fail=0
for q in "${RECIPE_FAULTS[@]}" "brownout=3000&seed=1" "brownout=600000&seed=2"; do
    cp "$T/r_orig.bin" "$T/r.bin"
    recipe "$T/r.bin" "&$q&events=$T/r.ev" "$T/r$n_ok$n_fail.db" >"$T/r.out" 2>&1
    rc=$?
    case $q in brownout*) check "recipe [$q]: the brown-out happened" grep -q "^brownout" "$T/r.ev" ;; esac
    check "recipe [$q] (exit $rc): nothing outside the firmware and the config sector changed" \
        outside_same "$T/r_orig.bin" "$T/r.bin" 0x11000 0x12A000 0x1D1000 0x1D2000
    if [ $rc -eq 0 ]; then
        n_ok=$((n_ok + 1))
        check "recipe [$q]: a PASS means the flash is the clean run's" cmp -s "$T/r.bin" "$T/r_want.bin"
    else
        n_fail=$((n_fail + 1))
        check "recipe [$q]: the failure says so" grep -qE "FAIL|ERROR" "$T/r.out"
    fi
done
echo "     (recipe: $n_ok passed, $n_fail failed clearly; ${SECONDS}s)"
check "recipe: some faulty runs passed" [ $n_ok -ge 1 ]
finish
