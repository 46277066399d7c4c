#!/usr/bin/env python3
"""Check `flashline run --json` output against the event table in README.md.

    json_events.py README.md [--elsewhere EVENT]... --one FILE... --several FILE...

The table between <!-- json-events: begin --> and <!-- json-events: end -->
lists, per event and per mode (one port / several ports), the keys that follow
`event` and `port` with their types.  Every line of every FILE must be one JSON
object whose first keys are `event` and `port` (a string), whose event is
documented for that mode, and whose other keys are exactly the documented ones,
with the documented types.  Every documented (event, mode) must be seen at
least once, so the table lists nothing the program no longer prints, except
an event given with --elsewhere (another test prints and checks it: `idle`
needs a fixture whose units come and go, tests/cli/loop.sh).
Prints one line per problem; exit 1 if there is any."""
import json
import re
import sys

TYPES = {
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
}


def read_table(doc):
    text = open(doc, encoding="utf-8").read()
    m = re.search(r"<!-- json-events: begin -->(.*?)<!-- json-events: end -->", text, re.S)
    if not m:
        sys.exit(f"{doc}: no json-events table")
    table = {}
    for line in m.group(1).strip().splitlines()[2:]:  # after the header and |---|
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            sys.exit(f"{doc}: bad table row: {line}")
        event = cells[0].strip("`")
        fields = dict(re.findall(r"`(\w+)` (\w+)", cells[2]))
        for name, typ in fields.items():
            if typ not in TYPES:
                sys.exit(f"{doc}: unknown type '{typ}' for {event}.{name}")
        for mode in (m.strip() for m in cells[1].split(",")):
            if mode not in ("one", "several"):
                sys.exit(f"{doc}: bad mode '{mode}' in row {event}")
            if (event, mode) in table:
                sys.exit(f"{doc}: {event} documented twice for {mode}")
            table[(event, mode)] = fields
    return table


def check_file(path, mode, table, seen, problems):
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        where = f"{path}:{n}"
        try:
            pairs = json.loads(line, object_pairs_hook=lambda p: p)
        except ValueError as e:
            problems.append(f"{where}: not one JSON object: {e}: {line[:120]!r}")
            continue
        if not isinstance(pairs, list) or len(pairs) < 2:
            problems.append(f"{where}: not an object with event and port")
            continue
        keys = [k for k, _ in pairs]
        obj = dict(pairs)
        if len(keys) != len(obj):
            problems.append(f"{where}: a key twice: {keys}")
        if keys[:2] != ["event", "port"] or not isinstance(obj["port"], str):
            problems.append(f"{where}: must start with event and port (a string): {keys}")
            continue
        event = obj["event"]
        want = table.get((event, mode))
        if want is None:
            problems.append(f"{where}: event '{event}' is not documented for {mode} port(s)")
            continue
        seen.add((event, mode))
        got = set(keys[2:])
        if got != set(want):
            problems.append(f"{where}: {event} ({mode}) keys {sorted(got)}, "
                            f"documented {sorted(want)}")
        for k, typ in want.items():
            if k in obj and not TYPES[typ](obj[k]):
                problems.append(f"{where}: {event}.{k} = {obj[k]!r} is not {typ}")


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    table = read_table(args[0])
    mode, problems, seen, lines, elsewhere = None, [], set(), 0, set()
    rest = iter(args[1:])
    for a in rest:
        if a == "--elsewhere":
            elsewhere.add(next(rest, ""))
            continue
        if a in ("--one", "--several"):
            mode = a[2:]
            continue
        if mode is None:
            sys.exit("give --one or --several before the files")
        lines += sum(1 for _ in open(a, encoding="utf-8"))
        check_file(a, mode, table, seen, problems)
    for key in sorted(k for k in set(table) - seen if k[0] not in elsewhere):
        problems.append(f"documented but never printed: {key[0]} ({key[1]} port(s))")
    for p in problems:
        print(p)
    print(f"# {lines} lines checked against {len(table)} documented events")
    sys.exit(1 if problems else 0)


main()
