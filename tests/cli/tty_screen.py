#!/usr/bin/env python3
"""tty_screen.py -- checks for tty_progress.sh on what a terminal showed.

A "screen" file is `tmux capture-pane -p -J -S -` (wrapped rows joined back,
so a line that wrapped is one line longer than the width); a "raw" file is
the pane's output as the program wrote it (`tmux pipe-pane`), escape codes
and all.  Each check prints what is wrong and exits 1, or exits 0 silently.

  screen-fits FILE WIDTH [all]     progress lines (or all lines) fit WIDTH columns
  one-line FILE PHASE              exactly one progress line for PHASE, at 100 %
  no-fragments FILE                nothing that looks like a piece of a bar
  no-progress FILE                 no progress line at all (sub-second phases)
  in-order FILE RE...              one line matches each regex, in this order
  raw-escapes FILE                 only cursor/line control: ESC[K, ESC[J, ESC[nA
  raw-plain FILE                   no escape code and no carriage return that
                                   does not end a line
  raw-redraws FILE MIN             at least MIN in-place redraws (a bar was drawn)
  raw-has-color FILE               an SGR (colour) sequence is present
  raw-resized FILE OLD NEW         the draws fit OLD columns, then (after the
                                   resize) a draw before 100 % fits NEW and every
                                   later draw does too
"""
import re
import sys

PROGRESS = re.compile(r"^(\S+) +(\[[#.]+\] +)?(\d+)%")
FRAGMENT = re.compile(r"\[[#.]{2,}|[#.]{2,}\]|\b\d+%|ETA \d|ETA --")
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[^\[]")
ALLOWED = re.compile(r"\x1b\[(K|J|\d+A)$")


def lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [l.rstrip() for l in f.read().split("\n")]


def raw(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def progress(ls):
    return [l for l in ls if PROGRESS.match(l)]


def fail(msg, shown=()):
    print("  " + msg)
    for l in shown:
        print("    | " + repr(l))
    sys.exit(1)


def draws(text):
    """Every progress text drawn in place: what follows a lone \\r up to the
    line-control code (or the end of the line) that finishes it."""
    out = []
    for chunk in re.split(r"\r(?!\n)", text)[1:]:
        chunk = re.sub(r"^(\x1b\[\d+A)+", "", chunk)
        body = re.split(r"\x1b\[[KJ]|\r?\n", chunk, maxsplit=1)[0]
        if PROGRESS.match(body):
            out.append(body)
    return out


def main(cmd, path, *args):
    if cmd == "screen-fits":
        width = int(args[0])
        ls = lines(path) if args[1:] == ("all",) else progress(lines(path))
        long = [l for l in ls if len(l) > width]
        if long:
            fail(f"{len(long)} line(s) longer than {width} columns", long)
        if not ls:
            fail("no line to check")
    elif cmd == "one-line":
        ph = [l for l in progress(lines(path)) if l.split()[0] == args[0]]
        if len(ph) != 1:
            fail(f"{len(ph)} progress lines for '{args[0]}', wanted 1", ph)
        if PROGRESS.match(ph[0]).group(3) != "100":
            fail("the line does not end at 100 %", ph)
    elif cmd == "no-fragments":
        bad = [l for l in lines(path) if FRAGMENT.search(l) and not PROGRESS.match(l)]
        if bad:
            fail("pieces of progress lines", bad)
    elif cmd == "no-progress":
        bad = [l for l in lines(path) if PROGRESS.match(l) or FRAGMENT.search(l)]
        if bad:
            fail("progress shown", bad)
    elif cmd == "in-order":
        ls = lines(path)
        at = []
        for r in args:
            hits = [i for i, l in enumerate(ls) if re.search(r, l)]
            if len(hits) != 1:
                fail(f"{len(hits)} lines match {r!r}, wanted 1", [ls[i] for i in hits])
            at.append(hits[0])
        if at != sorted(at):
            fail("lines out of order", [ls[i] for i in at])
    elif cmd == "raw-escapes":
        bad = sorted({e for e in ESCAPE.findall(raw(path)) if not ALLOWED.match(e)})
        if bad:
            fail("escape codes other than cursor/line control", bad)
    elif cmd == "raw-plain":
        text = raw(path)
        esc = sorted(set(ESCAPE.findall(text)))
        if esc or "\x1b" in text:
            fail("escape codes", esc)
        if re.search(r"\r(?!\n)", text):
            fail("a carriage return inside a line")
    elif cmd == "raw-redraws":
        d = draws(raw(path))
        if len(d) < int(args[0]):
            fail(f"{len(d)} in-place draws, wanted at least {args[0]}", d[:5])
    elif cmd == "raw-has-color":
        if not re.search(r"\x1b\[[0-9;]*m", raw(path)):
            fail("no colour code")
    elif cmd == "raw-resized":
        old, new = int(args[0]), int(args[1])
        d = draws(raw(path))
        first = next((i for i, l in enumerate(d) if len(l) <= new - 1 and len(l) < len(d[0])),
                     None) if d else None
        if first is None:
            fail(f"no draw fits {new} columns", d[-3:])
        if first == 0:
            fail("no draw before the resize", d[:3])
        before, after = d[:first], d[first:]
        if any(len(l) > old for l in before):
            fail(f"draws before the resize wider than {old}", before)
        if not any(PROGRESS.match(l).group(3) != "100" for l in after):
            fail("the resize was followed by no draw before 100 %", after[:3])
        wide = [l for l in after if len(l) > new - 1]
        if wide:
            fail(f"draws after the resize wider than {new - 1}", wide)
    else:
        fail(f"unknown check {cmd}")


if __name__ == "__main__":
    main(*sys.argv[1:])
