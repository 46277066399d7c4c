#!/usr/bin/env python3
"""tests/soak/soak.py — fault soak: many simulated units, each flashed through a
line with a seeded mix of injected faults, each unit's final flash judged
independently of flashline's own verify.

Per unit (all choices drawn from Random("SEED:INDEX"), so one unit replays alone
with --seed SEED --only INDEX):
  * a chip (flash-loader T/U/7252 and ROM N/M/7238/7252N), a real 2 MiB dump from
    ../shared/testdata/tuya-dumps as its flash (bk7252 sometimes a 4 MiB flash:
    the dump plus seeded random bytes), the OpenBeken _QIO_ image for the chip;
  * faults through the sim: URL: drop, corrupt, stall/stallrate, disconnect,
    brownout, and `events=FILE`, where the simulator records each brown-out,
    watchdog reset, hang, reboot command and disconnect that really happened;
  * `flashline write IMAGE --chip CHIP`, or (chips with a stock recipe)
    `flashline run recipes/CHIP-obk.yaml`, which backs the unit up first.

Then, from the flash file alone:
  * exit 0 (PASS): the whole flash must be exactly the original with the image
    in the written range; anything else is a SILENT CORRUPTION;
  * any exit: nothing outside the written range may change, unless the final
    message names the changed sector (the run FAILed on it); the bootloader area
    (0..0x11000 on chips whose QIO placement keeps it) must never change;
  * the verdict must match what happened: "the unit reset / brown-out" only
    where the simulator recorded a brown-out or watchdog reset (and a failure
    after such a reset not blamed on the line); "link lost" only where it
    recorded a disconnect; a unit FAIL only where the unit was
    damaged (a changed sector named in the output); no other exit codes, no
    sanitizer report, no hang past the per-unit timeout;
  * recipe runs: a backup file that exists equals the unit's original flash;
  * a failed unit is recoverable: a clean rerun of `flashline write` exits 0
    and leaves the image in place.

--cases FILE adds fixed units (tests/soak/cases.txt: the issue's reports).
The must-be-zero counts are printed in a table; the exit status is non-zero
if any of them is not zero.  Every unit prints "ok ..." or "FAIL ...", and the
last line is "RESULT passed=N failed=M" (tests/run's convention).  Dump
contents are never printed (some hold Wi-Fi credentials)."""

import argparse
import collections
import concurrent.futures
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BOOTLOADER = 0x11000
SECTOR = 0x1000

# chip -> (weight, QIO placement keeps the bootloader, stock recipe)
CHIPS = {
    "bk7231n": (30, True, "recipes/bk7231n-obk.yaml"),
    "bk7231t": (30, True, "recipes/bk7231t-obk.yaml"),
    "bk7238": (10, False, "recipes/bk7238-obk.yaml"),
    "bk7252n": (10, False, "recipes/bk7252n-obk.yaml"),
    "bk7252": (10, True, None),
    "bk7231u": (5, True, None),
    "bk7231m": (5, True, None),
}

# exit codes of `flashline write` (src/cli/cli.h) -> what the host claims
WRITE_CLAIMS = {0: "pass", 1: "unit", 4: "link", 5: "no-answer", 6: "line", 8: "reset"}
HEX = re.compile(r"0x([0-9A-Fa-f]+)")


def loguniform(rng, lo, hi):
    return lo * (hi / lo) ** rng.random()


class Unit:
    """Everything chosen for one unit; a pure function of (seed, index)."""

    def __init__(self, seed, index, dumps, quick):
        rng = random.Random("%d:%d" % (seed, index))
        self.index = index
        names = list(CHIPS)
        self.chip = rng.choices(names, weights=[CHIPS[c][0] for c in names])[0]
        _, self.keeps_bootloader, recipe = CHIPS[self.chip]
        self.dump = rng.choice(dumps)
        self.big_flash = self.chip == "bk7252" and rng.random() < 0.5
        self.filler_seed = rng.getrandbits(32)
        self.image = "OpenBK%s_QIO_1.18.300.bin" % self.chip[2:].upper()
        self.recipe = recipe if recipe and rng.random() < 0.25 else None
        # Every lost or garbled reply costs the host a real-time timeout (stalls are not
        # scaled by timescale either): the quick set keeps them milder to stay fast.
        top = 0.01 if quick else 0.02
        f = {}
        if rng.random() < 0.4:
            f["drop"] = "%.5f" % loguniform(rng, 0.0005, top)
        if rng.random() < 0.5:
            f["corrupt"] = "%.5f" % loguniform(rng, 0.0005, top)
        if rng.random() < 0.25:
            f["stall"] = str(rng.randint(50, 200 if quick else 1200))
            f["stallrate"] = "%.4f" % rng.uniform(0.002, 0.02)
        if rng.random() < 0.12:
            f["disconnect"] = str(rng.randint(0, 1400000))
        if rng.random() < 0.25:
            f["brownout"] = str(rng.randint(0, 1400000))
        f["quiet"] = "1" if rng.random() < 0.5 else "0"
        f["seed"] = str(rng.randint(1, 0xFFFFFFFF))
        self.faults = f
        self.timescale = rng.choice(["0.005", "0.01"] if quick else ["0.005", "0.01", "0.02", "0.05"])

    @classmethod
    def from_case(cls, line, number, dumps):
        """A fixed unit: 'NAME chip=C verb=write|run dump=NN [timescale=T] [fault=V ...]'."""
        words = line.split()
        kv = dict(w.split("=", 1) for w in words[1:])
        u = cls.__new__(cls)
        u.index, u.name = number, words[0]
        u.chip = kv.pop("chip")
        _, u.keeps_bootloader, recipe = CHIPS[u.chip]
        prefix = kv.pop("dump") + "-"
        u.dump = next(d for d in dumps if d.startswith(prefix))
        u.big_flash, u.filler_seed = kv.pop("big", "0") == "1", number
        u.image = "OpenBK%s_QIO_1.18.300.bin" % u.chip[2:].upper()
        u.recipe = recipe if kv.pop("verb", "write") == "run" else None
        u.timescale = kv.pop("timescale", "0.01")
        u.faults = kv
        return u

    def label(self):
        shown = ",".join("%s=%s" % kv for kv in self.faults.items() if kv[0] not in ("seed", "quiet"))
        return "%s %s %s dump %s%s [%s]" % (
            getattr(self, "name", None) or "unit %d" % self.index, self.chip, "run" if self.recipe else "write", self.dump[:2],
            " 4MiB" if self.big_flash else "", shown or "no faults")

    def url(self, flash, events):
        q = ["flash=" + flash, "timescale=" + self.timescale, "events=" + events]
        q += ["%s=%s" % kv for kv in self.faults.items()]
        return "sim:%s?%s" % (self.chip, "&".join(q))


def flash_for(unit, dumps_dir):
    data = open(os.path.join(dumps_dir, unit.dump), "rb").read()
    if unit.big_flash:
        data += random.Random(unit.filler_seed).randbytes(len(data))
    return data


def written_range(unit, image_len):
    start = BOOTLOADER if unit.keeps_bootloader else 0
    return start, image_len


def changed_sectors(a, b, lo, hi):
    """4 KiB sectors in [lo, hi) where a and b differ."""
    out = []
    for s in range(lo - lo % SECTOR, hi, SECTOR):
        x, y = max(s, lo), min(s + SECTOR, hi)
        if a[x:y] != b[x:y]:
            out.append(s)
    return out


def named(sector, text):
    """The verdict names an address of the erase unit (4/32/64 KiB) holding sector."""
    for m in HEX.finditer(text):
        a = int(m.group(1), 16)
        if a % SECTOR == 0 and a <= sector < a + 0x10000:
            return True
    return False


def last_message(text, verb):
    lines = [l for l in text.splitlines() if l.strip()]
    if verb == "write":
        errs = [l for l in lines if l.startswith("flashline write: error:")]
        return errs[-1][len("flashline write: error:"):].strip() if errs else ""
    res = [l for l in lines if re.match(r"^(PASS|FAIL|ERROR|ABORTED)\s", l)]
    if not res:
        return ""
    line = res[-1]
    return line.split("): ", 1)[1] if "): " in line else line.split()[0]


def normalise(msg):
    """Group messages: the diagnosis without the advice, addresses, numbers and paths replaced."""
    msg = msg.split(" - ")[0]
    msg = HEX.sub("0x#", msg)
    msg = re.sub(r"\b\d+(\.\d+)?\b", "N", msg)
    msg = re.sub(r"sim:\S+", "sim:…", msg)
    return msg[:160]


def run_unit(unit, args, tmp_root):
    d = tempfile.mkdtemp(prefix="u%05d." % unit.index, dir=tmp_root)
    try:
        return judge_unit(unit, args, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


RUNNING = set()          # Popen objects of units in progress (killed on SIGINT/SIGTERM)
RUNNING_LOCK = threading.Lock()
STOPPING = threading.Event()


def run_cmd(cmd, cwd, timeout):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    # the stock recipe steps live in lua/ of this checkout, wherever the binary is
    env.setdefault("FLASHLINE_LUA", os.path.join(ROOT, "lua"))
    # each unit's own station home (its backups/), never the real $HOME's
    env["FLASHLINE_HOME"] = os.path.join(cwd, "home")
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    with RUNNING_LOCK:
        RUNNING.add(p)
        if STOPPING.is_set():
            os.killpg(p.pid, signal.SIGKILL)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = None
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(p)
    return rc, out.decode("utf-8", "replace") + err.decode("utf-8", "replace"), time.monotonic() - start


def judge_unit(unit, args, d):
    images = os.path.join(args.shared, "testdata", "obk-images")
    image_path = os.path.join(images, unit.image)
    image = open(image_path, "rb").read()
    original = flash_for(unit, os.path.join(args.shared, "testdata", "tuya-dumps"))
    flash = os.path.join(d, "F.bin")
    events = os.path.join(d, "events.txt")
    with open(flash, "wb") as fh:
        fh.write(original)
    url = unit.url(flash, events)
    if unit.recipe:
        verb = "run"
        cmd = [args.bin, "run", os.path.join(ROOT, unit.recipe), "--port", url, "--db",
               os.path.join(d, "audit.db"),
               "--set", "firmware=" + image_path]
    else:
        verb = "write"
        cmd = [args.bin, "write", image_path, "--chip", unit.chip, "--port", url]
    rc, text, secs = run_cmd(cmd, d, args.unit_timeout)
    final = open(flash, "rb").read()
    ev = read_events(events)

    start, end = written_range(unit, len(image))
    expected = bytearray(original)
    expected[start:end] = image[start:end]
    msg = last_message(text, verb)
    r = {"unit": unit, "rc": rc, "secs": secs, "msg": msg, "events": ev, "problems": [],
         "verb": verb}

    # --- the host's claim
    if rc is None:
        claim = "timeout"
    elif verb == "write":
        claim = WRITE_CLAIMS.get(rc, "exit %d" % rc)
    else:
        claim = {0: "pass", 1: "unit", 10: "station"}.get(rc, "exit %d" % rc)
        if claim == "station":
            low = msg.lower()
            claim = "reset" if "brown-out" in low else \
                "link" if "closed by the other end" in low or "link" in low and "lost" in low else "line"
    r["claim"] = claim
    really_reset = ev["brownout"] + ev["watchdog-reset"] > 0
    disconnected = ev["disconnect"] > 0
    p = r["problems"]

    # --- the flash, judged alone
    outside = changed_sectors(original, final, 0, start) + \
        changed_sectors(original, final, end, len(original))
    unnamed = [s for s in outside if not named(s, msg)]
    r["outside"], r["unnamed"] = outside, unnamed
    boot_changed = unit.keeps_bootloader and original[:BOOTLOADER] != final[:BOOTLOADER]
    r["boot_changed"] = boot_changed
    r["silent"] = rc == 0 and final != bytes(expected)
    if r["silent"]:
        where = outside or changed_sectors(bytes(expected), final, start, end)
        p.append("SILENT CORRUPTION: exit 0 but sectors differ at %s" % fmt_sectors(where))
    if unnamed:
        p.append("changed outside the written range 0x%06X..0x%06X, not reported: %s"
                 % (start, end, fmt_sectors(unnamed)))
    if boot_changed:
        p.append("bootloader area changed")

    # --- the verdict against what happened
    r["bad_reset_claim"] = claim == "reset" and not really_reset
    if r["bad_reset_claim"]:
        p.append("reported a unit reset (brown-out) but the unit never reset: %s" % msg)
    r["missed_reset"] = really_reset and claim not in ("pass", "reset") and not disconnected \
        and not outside
    if r["missed_reset"]:
        p.append("the unit reset (%s) but the host said %s: %s"
                 % (ev_text(ev), claim, msg))
    r["bad_link_claim"] = claim == "link" and not disconnected
    if r["bad_link_claim"]:
        p.append("reported the link lost but it never was: %s" % msg)
    r["bad_unit_claim"] = claim == "unit" and not outside and not boot_changed
    if r["bad_unit_claim"]:
        p.append("the unit was blamed (FAIL) but nothing on it is damaged: %s" % msg)
    r["unexpected"] = claim == "timeout" or claim.startswith("exit ") or sanitizer_report(text)
    if r["unexpected"]:
        p.append("unexpected end: %s: %s" % (claim, msg or " / ".join(text.strip().splitlines()[-2:])))

    # --- recipe runs: a backup that exists is the whole original flash
    r["bad_backup"] = False
    bk = os.path.join(d, "home", "backups")
    if unit.recipe and os.path.isdir(bk):
        for name in os.listdir(bk):
            if name.endswith(".bin") and open(os.path.join(bk, name), "rb").read() != original:
                r["bad_backup"] = True
                p.append("backup %s differs from the unit's original flash" % name)

    # --- a failed unit can be flashed again on a clean line
    r["unrecoverable"] = False
    if rc != 0 and not args.no_rerun:
        before = open(flash, "rb").read()
        rurl = "sim:%s?flash=%s&timescale=0&quiet=1" % (unit.chip, flash)
        rrc, rtext, _ = run_cmd([args.bin, "write", image_path, "--chip", unit.chip, "--port", rurl],
                                d, args.unit_timeout)
        after = open(flash, "rb").read()
        if sanitizer_report(rtext) and not r["unexpected"]:
            r["unexpected"] = True
            p.append("sanitizer report in the clean rerun")
        ok = rrc == 0 and after[start:end] == image[start:end] and \
            after[:start] == before[:start] and after[end:] == before[end:]
        if not ok:
            r["unrecoverable"] = True
            p.append("a clean rerun did not recover the unit (exit %s): %s"
                     % (rrc, last_message(rtext, "write")))
    return r


def sanitizer_report(text):
    return "AddressSanitizer" in text or "LeakSanitizer" in text or "runtime error:" in text


def read_events(path):
    """Counter of what the simulator recorded: brownout, watchdog-reset, hung,
    reboot-command, disconnect (one line each) and line-bytes (dropped + garbled)."""
    ev = collections.Counter()
    if not os.path.exists(path):
        return ev
    for line in open(path).read().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "line-faults":
            ev["line-bytes"] += sum(int(w.split("=")[1]) for w in words[1:])
        else:
            ev[words[0]] += 1
    return ev


def fmt_sectors(sectors):
    s = " ".join("0x%06X" % x for x in sectors[:6])
    return s + (" (+%d more)" % (len(sectors) - 6) if len(sectors) > 6 else "")


def ev_text(ev):
    return ", ".join("%s %d" % kv for kv in sorted(ev.items()) if kv[1]) or "nothing"


MUST_BE_ZERO = [
    ("silent", "silent corruptions (exit 0, flash not exactly right)"),
    ("unnamed_outside", "changes outside the written range, not reported"),
    ("boot_changed", "bootloaders changed"),
    ("bad_reset_claim", "reset/brown-out reported, unit never reset"),
    ("missed_reset", "unit reset, reported as something else"),
    ("bad_link_claim", "link loss reported, link never lost"),
    ("bad_unit_claim", "unit blamed (FAIL), unit not damaged"),
    ("unexpected", "other exits, timeouts, sanitizer reports"),
    ("bad_backup", "backups that differ from the unit"),
    ("unrecoverable", "failed units a clean rerun cannot recover"),
]


def summarise(results, wall, args):
    n = len(results)
    count = collections.Counter()
    for r in results:
        for key, _ in MUST_BE_ZERO:
            if key == "unnamed_outside":
                count[key] += bool(r["unnamed"])
            else:
                count[key] += bool(r[key])
        count["outside_any"] += bool(r["outside"])
        for k, v in r["events"].items():
            if v:
                count["ev_" + k] += v
                count["evu_" + k] += 1
    ok = sum(1 for r in results if not r["problems"])
    print()
    print("=" * 72)
    print("fault soak: %d units in %.0f s (%d at a time, seed %d)" % (n, wall, args.jobs, args.seed))
    print("  %-54s %6d" % ("units judged correct", ok))
    print("  %-54s %6d" % ("PASS (exit 0, flash checked exact)", sum(r["rc"] == 0 for r in results)))
    by_rc = collections.Counter((r["verb"], r["rc"]) for r in results)
    for (verb, rc), c in sorted(by_rc.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])):
        print("  %-54s %6d" % ("%s exit %s" % (verb, "timeout" if rc is None else rc), c))
    by_claim = collections.Counter(r["claim"] for r in results)
    print("  host verdicts: " + ", ".join("%s %d" % kv for kv in sorted(by_claim.items())))
    print("  faults that happened (units): " + ", ".join(
        "%s %d" % (k[4:], v) for k, v in sorted(count.items()) if k.startswith("evu_")))
    print("  %-54s %6d" % ("units with any change outside the written range", count["outside_any"]))
    line_only = sum(1 for r in results if r["rc"] != 0 and not r["events"]["brownout"]
                    and not r["events"]["watchdog-reset"] and not r["events"]["disconnect"])
    print("  %-54s %6d" % ("units failed from line faults alone (no reset/hang-up)", line_only))
    print("  must be zero:")
    bad = False
    for key, text in MUST_BE_ZERO:
        print("    %-52s %6d%s" % (text, count[key], "   <-- FAIL" if count[key] else ""))
        bad |= count[key] > 0
    msgs = collections.Counter((r["claim"], normalise(r["msg"])) for r in results if r["rc"] != 0)
    if msgs:
        print("  failures by verdict and message:")
        for (claim, m), c in msgs.most_common():
            print("    %4d  %-9s %s" % (c, claim, m))
    secs = sorted(r["secs"] for r in results)
    if secs:
        print("  unit time: median %.1f s, max %.1f s" % (secs[len(secs) // 2], secs[-1]))
    return bad, count


def replay(u, args):
    if u.index < 0:
        return "python3 tests/soak/soak.py --units 0 --cases %s  (case %s)" % (args.cases, u.name)
    return "python3 tests/soak/soak.py --seed %d --only %d%s" % (
        args.seed, u.index, " --quick" if args.quick else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="comma-separated unit indexes to (re)run")
    ap.add_argument("--quick", action="store_true", help="short stalls (for make test)")
    ap.add_argument("--bin", default=os.environ.get("FLASHLINE_BIN", os.path.join(ROOT, "build/san/flashline")))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--unit-timeout", type=float, default=300)
    ap.add_argument("--no-rerun", action="store_true", help="skip the clean rerun of failed units")
    ap.add_argument("--cases", help="also run the fixed units listed in this file (tests/soak/cases.txt)")
    ap.add_argument("--failures", help="write one replay line per failing unit to this file")
    ap.add_argument("--require-faults", action="store_true",
                    help="also fail unless brown-outs, disconnects and line errors really happened")
    args = ap.parse_args()
    args.shared = os.path.abspath(args.shared)
    dumps_dir = os.path.join(args.shared, "testdata", "tuya-dumps")
    # 2 MiB dumps only: the 72 KiB config-only dump is not a whole flash
    dumps = sorted(f for f in os.listdir(dumps_dir) if os.path.getsize(os.path.join(dumps_dir, f)) == 0x200000)
    indexes = [int(x) for x in args.only.split(",")] if args.only else range(args.units)
    units = [Unit(args.seed, i, dumps, args.quick) for i in indexes]
    if args.cases:
        lines = [l.strip() for l in open(args.cases) if l.strip() and not l.startswith("#")]
        units += [Unit.from_case(l, -1 - n, dumps) for n, l in enumerate(lines)]

    if args.failures:
        open(args.failures, "w").close()

    def stop(signum, frame):
        # units run in their own sessions: stop them, then unwind (temp dirs removed)
        with RUNNING_LOCK:
            STOPPING.set()
            for p in RUNNING:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp_root = tempfile.mkdtemp(prefix="flashline-soak.")
    results, lock = [], threading.Lock()
    t0 = time.monotonic()

    def done(r):
        with lock:
            results.append(r)
            u = r["unit"]
            head = "%s (%s %s, %.1f s; happened: %s)" % (
                u.label(), r["verb"], "timeout" if r["rc"] is None else "exit %d" % r["rc"],
                r["secs"], ev_text(r["events"]))
            if r["problems"]:
                print("FAIL %s" % head)
                for prob in r["problems"]:
                    print("       %s" % prob)
                print("       replay: %s" % replay(u, args))
                if args.failures:
                    with open(args.failures, "a") as fh:
                        fh.write("%s  # %s: %s\n" % (replay(u, args), u.label(),
                                                      "; ".join(r["problems"])))
            else:
                print("ok   %s" % head)
            sys.stdout.flush()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
    try:
        futs = [pool.submit(run_unit, u, args, tmp_root) for u in units]
        for f in concurrent.futures.as_completed(futs):
            done(f.result())
    except KeyboardInterrupt:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmp_root, ignore_errors=True)
        print("interrupted after %d units" % len(results))
        return 130
    pool.shutdown()
    shutil.rmtree(tmp_root, ignore_errors=True)
    bad, count = summarise(results, time.monotonic() - t0, args)
    passed = sum(1 for r in results if not r["problems"])
    failed = len(results) - passed
    if args.require_faults:
        # the soak proves nothing unless the faults really hit the units
        for key, what in (("evu_brownout", "brown-outs"), ("evu_disconnect", "disconnects"),
                          ("evu_line-bytes", "dropped or garbled bytes")):
            if count[key]:
                print("ok   %s really happened on %d units" % (what, count[key]))
                passed += 1
            else:
                print("FAIL no unit had %s: the soak did not exercise them" % what)
                failed += 1
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
