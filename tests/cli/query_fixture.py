#!/usr/bin/env python3
"""tests/cli/query_fixture.py DB EXPECT.json — build an audit log for the
`flashline query` CLI tests straight from db/migrations/*.sql (independent of
the C recording API, which test_auditdb.c covers), and write what the
queries must return, computed here from the same data, to EXPECT.json."""
import glob, json, sqlite3, sys

db_path, expect_path = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db_path)
migrations = sorted(glob.glob("db/migrations/[0-9][0-9][0-9][0-9]_*.sql"))
for n, path in enumerate(migrations, 1):
    con.executescript(open(path).read())
    con.execute(f"PRAGMA user_version = {n}")
con.execute("PRAGMA journal_mode = WAL")

SHA_FW = "ab" * 32
SHA_RECIPE = "cd" * 32
con.execute("INSERT INTO stations VALUES (1, 'line-1', 'h1', '2026-11-18', '2026-11-20')")
con.execute("INSERT INTO stations VALUES (2, 'line-2', 'h2', '2026-11-18', '2026-11-20')")
units = {1: "c8:47:8c:00:00:01", 2: "c8:47:8c:00:00:02", 3: "c8:47:8c:00:00:03"}
for uid, mac in units.items():
    con.execute("INSERT INTO units (id, mac, chip, first_seen, last_seen) VALUES (?, ?, 'bk7231n', 'x', 'x')",
                (uid, mac))
# (station, unit, day, hour, outcome, message, operator)
runs = [
    (1, 1, 18, 9, "PASS", "ok", "Zoë"),
    (1, 2, 18, 10, "FAIL", 'verify: CRC mismatch, "block 3"\nsecond line', "bob"),
    (2, 3, 19, 9, "ERROR", "no answer from the chip", "bob"),
    (2, 2, 19, 11, "PASS", "ok", "Zoë"),
    (1, 1, 20, 8, "ABORTED", "operator pressed Ctrl-C", "bob"),
]
for rid, (station, unit, day, hour, outcome, msg, op) in enumerate(runs, 1):
    start = f"2026-11-{day:02d}T{hour:02d}:00:00.000Z"
    end = f"2026-11-{day:02d}T{hour:02d}:01:30.500Z"
    con.execute("INSERT INTO runs (id, station_id, operator, recipe_name, recipe_sha256, port, unit_id,"
                " started_utc, ended_utc, outcome, message, pid, host, heartbeat_utc)"
                " VALUES (?, ?, ?, 'bk7231n-obk', ?, 'sim:bk7231n', ?, ?, ?, 'RUNNING', NULL, 1, 'h', ?)",
                (rid, station, op, SHA_RECIPE, unit, start, None, start))
    con.execute("INSERT INTO steps (run_id, idx, name, started_utc, ended_utc, outcome, message)"
                " VALUES (?, 1, 'flash', ?, ?, ?, ?)",
                (rid, start, end, outcome, None if outcome == "PASS" else msg))
    con.execute("INSERT INTO measurements (run_id, step_id, name, value, unit)"
                " VALUES (?, (SELECT id FROM steps WHERE run_id = ?), 'seconds', 90.5, 's')", (rid, rid))
    con.execute("INSERT INTO artifacts (run_id, step_id, kind, path, sha256, size, created_utc)"
                " VALUES (?, (SELECT id FROM steps WHERE run_id = ?), 'firmware', '/fw/obk.bin', ?, 1000, ?)",
                (rid, rid, SHA_FW, start))
    con.execute("UPDATE runs SET outcome = ?, message = ?, ended_utc = ? WHERE id = ?", (outcome, msg, end, rid))
con.commit()
con.close()

expect = {
    "runs": len(runs),
    "history": {units[u]: [rid for rid, r in enumerate(runs, 1) if r[1] == u] for u in units},
    "line2_runs": sum(1 for r in runs if r[0] == 2),
    "days": sorted({(r[2], r[0]) for r in runs}),
}
json.dump(expect, open(expect_path, "w"))
