#!/usr/bin/env python3
"""Writes a copy of an alert rules file with every `for:` set to 0s, for the end-to-end suite.

The shipped rules wait minutes before firing; an end-to-end run must not. The copy goes to another path,
so the shipped rules are never edited or weakened:

    tests/e2e/fast_rules.py config/alert_rules.yml /tmp/e2e/config/alert_rules.yml [--for 0s]

Everything else (expressions, labels, annotations, comments) is copied unchanged. Exits non-zero if the
source has no `for:` at all (it would mean the file's layout changed and the copy would not be faster).
"""
import argparse
import re
import sys

FOR_LINE = re.compile(r"^(?P<indent>[ \t]*)for:[ \t]*(?P<value>[^\s#]+)(?P<rest>[ \t]*(?:#.*)?)$", re.M)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="alert rules file, e.g. config/alert_rules.yml")
    ap.add_argument("dst", help="where to write the copy")
    ap.add_argument("--for", dest="duration", default="0s", help="the duration to set (default 0s)")
    args = ap.parse_args()
    if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", args.duration):
        ap.error("not a Prometheus duration: %r" % args.duration)
    with open(args.src) as f:
        text = f.read()
    alerts = len(re.findall(r"^[ \t]*-[ \t]*alert:", text, re.M))
    fast, n = FOR_LINE.subn(lambda m: "%sfor: %s%s" % (m["indent"], args.duration, m["rest"]), text)
    if n == 0:
        sys.exit("%s: no `for:` found" % args.src)
    with open(args.dst, "w") as f:
        f.write(fast)
    print("%s: %d `for:` durations of %d alerts set to %s" % (args.dst, n, alerts, args.duration))


if __name__ == "__main__":
    main()
