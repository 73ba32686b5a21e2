#!/usr/bin/env python3
"""Checks Grafana dashboards against a real Prometheus: every panel query must parse and return data.

Grafana cannot run here, so this does what Grafana would do with each dashboard JSON file in a directory:
fill in the template variables and Grafana's macros, then run every panel target's PromQL through
Prometheus's HTTP API (/api/v1/query, and /api/v1/query_range for targets Grafana runs as range queries).

A target passes when it evaluates without error for every variable set and returns at least one finite
sample (NaN and infinities do not count: Grafana draws nothing for them) for at least one variable set.
Several variable sets let task-specific panels be checked at once: classification panels show data for a
classifier, regression panels for a regression model.

Variables: `model` and `window` may come from the command line (first set positional, further sets with
--also MODEL:WINDOW); each given value must be among the values the dashboard's variable query offers, and
any other query variable is resolved from its own query like Grafana does (first value, or every value for
multi-value/"All" variables). Without MODEL and WINDOW, every value each single-value variable offers is
tried in turn (every model, and every window of each model). Macros: $__rate_interval (default 1m),
$__interval, $__interval_ms, $__range, $__range_s, $__range_ms.

Also checks each file's structure: uid, title, schemaVersion, unique panel ids, grid positions, and (with
--datasource-uid) that every panel, target and variable uses that datasource.

Usage:
  check_dashboards.py DASHBOARD_DIR PROMETHEUS_URL [MODEL WINDOW] [--also MODEL:WINDOW ...]
                      [--allow-empty REGEX ...] [--datasource-uid prometheus] [--rate-interval 1m]
                      [--interval 15s] [--range 1h] [--verbose]

Exit status 0 when everything passes; the last line is "N passed, N failed".

From Python: check(dashboard_dir, prometheus_url, var_sets=None, ...) returns the list of failures.
"""
import argparse
import glob
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")
LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.*)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def duration_seconds(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text):
        total += float(number) * units[unit]
    if total == 0:
        raise ValueError("not a duration: %r" % text)
    return total


class Prometheus:
    def __init__(self, url, timeout=30):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path, params):
        query = urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(self.url + path + "?" + query)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as e:
            try:
                body = json.load(e)
            except ValueError:
                return None, "HTTP %d" % e.code
        except (urllib.error.URLError, OSError) as e:
            return None, "cannot reach Prometheus: %s" % e
        if body.get("status") != "success":
            return None, "%s: %s" % (body.get("errorType", "error"), body.get("error", body))
        return body["data"], None

    def query(self, expr, at):
        return self.get("/api/v1/query", {"query": expr, "time": "%.3f" % at})

    def query_range(self, expr, start, end, step):
        return self.get("/api/v1/query_range", {"query": expr, "start": "%.3f" % start, "end": "%.3f" % end,
                                                "step": "%g" % step})

    def label_values(self, label, match, start, end):
        params = {"start": "%.3f" % start, "end": "%.3f" % end}
        if match:
            params["match[]"] = match
            data, err = self.get("/api/v1/series", params)
            if err:
                return None, err
            return sorted({s[label] for s in data if label in s}), None
        return self.get("/api/v1/label/%s/values" % label, params)


def finite_samples(data):
    """Number of finite values in a query answer (vector, matrix or scalar)."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return int(math.isfinite(float(result[1])))
    if kind == "vector":
        return sum(math.isfinite(float(s["value"][1])) for s in result)
    if kind == "matrix":
        return sum(math.isfinite(float(v[1])) for s in result for v in s["values"])
    return 0


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def variable_query(var):
    q = var.get("query", "")
    if isinstance(q, dict):
        q = q.get("query", "")
    return q or var.get("definition", "")


def format_value(values, multi, fmt):
    """Formats a variable's value(s) as Grafana's Prometheus datasource does in PromQL."""
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "raw" or (not multi and fmt is None):
        return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


class Checker:
    def __init__(self, prometheus_url, allow_empty=(), datasource_uid=None, rate_interval="1m", interval="15s",
                 range_="1h", verbose=False, max_values=20):
        self.prom = Prometheus(prometheus_url)
        self.allow_empty = [re.compile(rx) for rx in allow_empty]
        self.datasource_uid = datasource_uid
        self.interval = interval
        self.verbose = verbose
        self.max_values = max_values
        self.now = time.time()
        self.range_s = duration_seconds(range_)
        self.macros = {
            "__rate_interval": rate_interval,
            "__interval": interval,
            "__interval_ms": str(int(duration_seconds(interval) * 1000)),
            "__range": range_,
            "__range_s": str(int(self.range_s)),
            "__range_ms": str(int(self.range_s * 1000)),
        }
        self.passed = 0
        self.failures = []
        self.notes = []

    def fail(self, where, message):
        self.failures.append("%s: %s" % (where, message))
        print("FAIL  %s: %s" % (where, message), flush=True)

    def ok(self, where, message=""):
        self.passed += 1
        if self.verbose:
            print("ok    %s%s" % (where, (": " + message) if message else ""), flush=True)

    def interpolate(self, text, values, multi_vars):
        unknown = []

        def repl(m):
            name = m.group(1) or m.group(3) or m.group(5)
            fmt = m.group(2) or m.group(4)
            if name in self.macros:
                return self.macros[name]
            if name in values:
                return format_value(values[name], name in multi_vars, fmt)
            unknown.append(name)
            return m.group(0)

        return VAR_RE.sub(repl, text), unknown

    # ------------------------------------------------------------------ structure
    def check_structure(self, name, dash):
        problems = []
        for key in ("uid", "title", "panels"):
            if not dash.get(key):
                problems.append("no %s" % key)
        if dash.get("schemaVersion", 0) < 36:
            problems.append("schemaVersion %s is older than Grafana 9" % dash.get("schemaVersion"))
        ids = [p.get("id") for p in walk_panels(dash.get("panels", []))]
        if None in ids or len(ids) != len(set(ids)):
            problems.append("panel ids missing or not unique")
        uid = self.datasource_uid
        for p in walk_panels(dash.get("panels", [])):
            g = p.get("gridPos", {})
            if not all(k in g for k in "xywh") or g["x"] + g["w"] > 24:
                problems.append("panel %r has a bad gridPos %s" % (p.get("title"), g))
            if p.get("type") == "row":
                continue
            if uid:
                if (p.get("datasource") or {}).get("uid") != uid:
                    problems.append("panel %r does not use datasource uid %r" % (p.get("title"), uid))
                for t in p.get("targets", []):
                    if (t.get("datasource") or {}).get("uid") not in (uid, None):
                        problems.append("panel %r target %s uses another datasource" % (p.get("title"), t.get("refId")))
            if not p.get("targets"):
                problems.append("panel %r has no targets" % p.get("title"))
            refs = [t.get("refId") for t in p.get("targets", [])]
            if len(refs) != len(set(refs)) or None in refs:
                problems.append("panel %r has missing or duplicate refIds" % p.get("title"))
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") == "query" and uid and (v.get("datasource") or {}).get("uid") != uid:
                problems.append("variable %r does not use datasource uid %r" % (v.get("name"), uid))
        for pr in problems:
            self.fail(name, pr)
        if not problems:
            self.ok(name, "structure")

    # ------------------------------------------------------------------ variables
    def variable_options(self, where, var, values, multi_vars):
        """The values a variable offers given the variables before it, or None after reporting a failure."""
        vtype = var.get("type")
        if vtype in ("constant", "textbox"):
            return [var.get("query", "")]
        if vtype == "custom":
            return [o.strip() for o in var.get("query", "").split(",") if o.strip()]
        if vtype == "interval":
            return [self.interval]
        query, unknown = self.interpolate(variable_query(var), values, multi_vars)
        if unknown:
            self.fail(where, "query %r uses unknown variables %s" % (query, unknown))
            return None
        m = LABEL_VALUES_RE.match(query)
        if not m:
            self.fail(where, "only label_values(...) variable queries are supported: %r" % query)
            return None
        options, err = self.prom.label_values(m.group(2), (m.group(1) or "").strip(), self.now - self.range_s, self.now)
        if err:
            self.fail(where, "%s (query %r)" % (err, query))
            return None
        if var.get("regex"):
            rx = re.compile(var["regex"])
            options = [o for o in options if rx.search(o)]
        return options

    def variable_sets(self, name, dash, given):
        """Every assignment of the dashboard's variables to try: a list of (description, values, multi_vars).

        Variables in `given` take the given values (which the variable must offer). Multi-value and "All"
        variables take every value they offer. Other variables take their first value, or, when `given`
        is None, each of their values in turn (at most max_values)."""
        variables = [v for v in dash.get("templating", {}).get("list", [])
                     if v.get("type") in ("query", "custom", "constant", "textbox", "interval")]
        multi_vars = {v["name"] for v in variables if v.get("multi") or v.get("includeAll")}
        out = []

        def expand(i, values, desc):
            if i == len(variables):
                out.append((", ".join(desc) or "no variables", dict(values), multi_vars))
                return True
            var = variables[i]
            vname = var.get("name")
            where = "%s variable $%s" % (name, vname)
            options = self.variable_options(where, var, values, multi_vars)
            if options is None:
                return False
            if not options and not (given and vname in given):
                # Grafana would show the panels empty; other variable sets may still cover them.
                self.notes.append("%s offers no value for %s: variable set skipped" % (where, ", ".join(desc) or "-"))
                return True
            if given is not None and vname in given:
                missing = [v for v in given[vname] if v not in options]
                if missing:
                    self.fail(where, "%s not offered (offered: %s)" % (missing, options))
                    return False
                choices = [given[vname]]
            elif vname in multi_vars:
                choices = [options]
            elif given is None:
                choices = [[o] for o in options[:self.max_values]]
            else:
                choices = [options[:1]]
            ok = True
            for choice in choices:
                values[vname] = choice
                shown = desc if vname in multi_vars else desc + ["%s=%s" % (vname, "|".join(choice))]
                ok = expand(i + 1, values, shown) and ok
            del values[vname]
            return ok

        expand(0, {}, [])
        return out

    # ------------------------------------------------------------------ panels
    def check_dashboard(self, path, var_sets=None):
        name = os.path.basename(path)
        with open(path) as f:
            dash = json.load(f)
        self.check_structure(name, dash)
        sets = []
        for given in (var_sets if var_sets else [None]):
            sets += self.variable_sets(name, dash, given)
        for note in self.notes:
            print("note  %s" % note, flush=True)
        self.notes = []
        if not sets:
            self.fail(name, "no variable set could be resolved")
            return
        if self.verbose:
            print("      %s: variable sets: %s" % (name, "; ".join(d for d, _, _ in sets)))
        for panel in walk_panels(dash.get("panels", [])):
            if panel.get("type") == "row":
                continue
            for target in panel.get("targets", []):
                if target.get("hide") or "expr" not in target:
                    continue
                self.check_target(name, panel, target, sets)

    def check_target(self, name, panel, target, sets):
        title = panel.get("title", "?")
        where = "%s / %s / %s" % (name, title, target.get("refId"))
        found, empty_for, errors = [], [], []
        for desc, values, multi_vars in sets:
            expr, unknown = self.interpolate(target["expr"], values, multi_vars)
            if unknown:
                errors.append("unknown variables %s in %r" % (unknown, expr))
                continue
            data, err = self.prom.query(expr, self.now)
            if err:
                errors.append("%s: %s in %r" % (desc, err, expr))
                continue
            n = finite_samples(data)
            if target.get("range", not target.get("instant", False)):
                step = max(duration_seconds(self.interval), 1)
                rdata, rerr = self.prom.query_range(expr, self.now - min(self.range_s, 600), self.now, step)
                if rerr:
                    errors.append("%s: range query: %s in %r" % (desc, rerr, expr))
                    continue
                n = max(n, finite_samples(rdata))
            (found if n else empty_for).append(desc)
        if errors:
            for e in errors:
                self.fail(where, e)
        elif found:
            self.ok(where, "data for " + "; ".join(found))
        elif any(rx.search(title) or rx.search("%s / %s" % (title, target.get("refId"))) for rx in self.allow_empty):
            self.ok(where, "no data, allowed by --allow-empty")
        else:
            self.fail(where, "no finite data for any variable set (%s): %r" % ("; ".join(empty_for), target["expr"]))


def check(dashboard_dir, prometheus_url, var_sets=None, **options):
    """Checks every *.json dashboard in dashboard_dir; returns the list of failures (empty when all pass).

    var_sets: None to try every value of every single-value variable, or a list of dicts such as
    [{"model": ["demo"], "window": ["last_1000"]}]. options: allow_empty, datasource_uid, rate_interval,
    interval, range_, verbose (see Checker)."""
    checker = Checker(prometheus_url, **options)
    files = sorted(glob.glob(os.path.join(dashboard_dir, "*.json")))
    if not files:
        checker.fail(dashboard_dir, "no *.json dashboards")
    for path in files:
        checker.check_dashboard(path, var_sets)
    print("%d passed, %d failed" % (checker.passed, len(checker.failures)), flush=True)
    return checker.failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dashboard_dir")
    ap.add_argument("prometheus_url")
    ap.add_argument("model", nargs="?", help="value of $model (default: try every model)")
    ap.add_argument("window", nargs="?", help="value of $window (default: try every window)")
    ap.add_argument("--also", action="append", default=[], metavar="MODEL:WINDOW",
                    help="another model and window to fill in (repeatable)")
    ap.add_argument("--allow-empty", action="append", default=[], metavar="REGEX",
                    help='panels whose title (or "TITLE / REFID") matches may return no data (repeatable)')
    ap.add_argument("--datasource-uid", default=None, help="require every panel to use this datasource uid")
    ap.add_argument("--rate-interval", default="1m", help="value of $__rate_interval (default 1m)")
    ap.add_argument("--interval", default="15s", help="value of $__interval (default 15s)")
    ap.add_argument("--range", default="1h", help="value of $__range (default 1h)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    if (args.model is None) != (args.window is None):
        ap.error("give both MODEL and WINDOW, or neither")
    var_sets = None
    if args.model is not None:
        var_sets = [{"model": [args.model], "window": [args.window]}]
        for pair in args.also:
            model, sep, window = pair.partition(":")
            if not sep or not model or not window:
                ap.error("--also wants MODEL:WINDOW, got %r" % pair)
            var_sets.append({"model": [model], "window": [window]})
    elif args.also:
        ap.error("--also needs MODEL and WINDOW")
    failures = check(args.dashboard_dir, args.prometheus_url, var_sets, allow_empty=args.allow_empty,
                     datasource_uid=args.datasource_uid, rate_interval=args.rate_interval,
                     interval=args.interval, range_=args.range, verbose=args.verbose)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
