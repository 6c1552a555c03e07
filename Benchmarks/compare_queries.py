#!/usr/bin/env python3
"""Segment questions side by side: Cohort and DuckDB on the same generated data.

Usage: compare_queries.py COHORT_BIN DATA_DIR [--now 2026-07-01] [--reps 7] [--rounds 2]
                          [--sequential] [--json OUT]

Runs the questions of Benchmarks/queries.tsv in rounds, alternating engines (A B A B):
Cohort through `cohort run --timing` (the data loaded once per round, each question
repeated --reps times, in-process times from --timing), DuckDB in-process on tables
loaded from the same CSV files. Checks that both return the same answer for every
question (a count, or every pairwise count of an OVERLAP; a mismatch is printed and
makes the exit status 1), then prints the median times, the ratio, their geometric
mean and each engine's memory for the data, in total and per event.

--sequential runs all Cohort rounds before loading DuckDB (for sizes where both
engines' copies of the data do not fit in memory together); --cohort-only leaves DuckDB
out (sizes where its copy alone does not fit); --json writes the medians.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import duckdb

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("cohort")
parser.add_argument("data")
parser.add_argument("--now", default="2026-07-01")
parser.add_argument("--reps", type=int, default=7)
parser.add_argument("--rounds", type=int, default=2)
parser.add_argument("--sequential", action="store_true")
parser.add_argument("--cohort-only", action="store_true")
parser.add_argument("--json")
args = parser.parse_args()

def table(name):
    rows = []
    with open(os.path.join(here, name)) as f:
        for line in f:
            if not line.startswith("#") and line.strip():
                rows.append(line.rstrip("\n").split("\t"))
    return rows

segment_sql = {name: sql for name, sql in table("segments.tsv")}

def overlap_sql(names):
    """Every pairwise intersection count of the named segments, row-major, in one query."""
    parts = " UNION ALL ".join(f"SELECT user_id, {1 << i} AS bit FROM ({segment_sql[n]})" for i, n in enumerate(names))
    sums = ", ".join(f"sum((bits >> {i}) & (bits >> {j}) & 1)" for i in range(len(names)) for j in range(len(names)))
    return f"SELECT {sums} FROM (SELECT user_id, bit_or(bit) AS bits FROM ({parts}) GROUP BY user_id)"

def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

queries = []  # (name, Cohort command, SQL, answer size)
for name, expr, sql in table("queries.tsv"):
    if expr.startswith("OVERLAP "):
        names = expr.split()[1:]
        queries.append((name, "SEGMENT.OVERLAP " + " ".join(names), overlap_sql(names), len(names) ** 2))
    else:
        for seg, seg_sql in segment_sql.items():
            sql = sql.replace("{seg:" + seg + "}", seg_sql)
        queries.append((name, f"SEGMENT.COUNT {quote(expr)}", sql, 1))

def run_cohort():
    lines = []
    for name, command, _, _ in queries:
        lines += [command] * args.reps
    lines.append("INFO")
    proc = subprocess.run(
        [args.cohort, "run", "--demo", args.data, "--now", args.now, "--timing"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    out = proc.stdout.split("\n")
    times = [float(l.split()[1]) / 1000 for l in proc.stderr.split("\n") if l.startswith("time_us")]
    answers, ms = {}, {}
    line, command_index = 0, 0
    for name, _, _, size in queries:
        answers[name] = [int(x) for x in out[line:line + size]]
        line += size * args.reps
        ms[name] = times[command_index:command_index + args.reps]
        command_index += args.reps
    memory = next(int(l.split(":")[1]) for l in out if l.startswith("used_memory:"))
    events = next(int(l.split(":")[1]) for l in out if l.startswith("events:"))
    return answers, ms, (memory, events)

con = None
now_sql = None

def load_duck():
    global con, now_sql
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE users AS SELECT * FROM read_csv('{args.data}/users.csv', header = true)")
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{args.data}/events.csv', header = true)")
    now_sql = f"TIMESTAMPTZ '{args.now} 00:00:00+00'" if con.execute(
        "SELECT typeof(\"time\") FROM events LIMIT 1").fetchone()[0].startswith("TIMESTAMP WITH") else f"TIMESTAMP '{args.now} 00:00:00'"

def run_duck():
    answers, ms = {}, {}
    for name, _, sql, _ in queries:
        q = sql.replace("{now}", now_sql)
        samples = []
        for _ in range(args.reps):
            t = time.perf_counter()
            answers[name] = [int(x) for x in con.execute(q).fetchone()]
            samples.append((time.perf_counter() - t) * 1000)
        ms[name] = samples
    return answers, ms

cohort_ms = {n: [] for n, _, _, _ in queries}
duck_ms = {n: [] for n, _, _, _ in queries}
cohort_answers, duck_answers = [], []
if args.sequential or args.cohort_only:
    for r in range(args.rounds):
        c_answers, c_ms, (c_memory, events) = run_cohort()
        cohort_answers.append(c_answers)
        for name in cohort_ms: cohort_ms[name] += c_ms[name]
if args.sequential:
    load_duck()
    for r in range(args.rounds):
        d_answers, d_ms = run_duck()
        duck_answers.append(d_answers)
        for name in duck_ms: duck_ms[name] += d_ms[name]
elif not args.cohort_only:
    load_duck()
    for r in range(args.rounds):
        c_answers, c_ms, (c_memory, events) = run_cohort()
        d_answers, d_ms = run_duck()
        cohort_answers.append(c_answers)
        duck_answers.append(d_answers)
        for name in cohort_ms:
            cohort_ms[name] += c_ms[name]
            duck_ms[name] += d_ms[name]
duck_memory = None if args.cohort_only else con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]

mismatch = False
for c_answers, d_answers in zip(cohort_answers, duck_answers):
    for name in cohort_ms:
        if c_answers[name] != d_answers[name]:
            mismatch = True
            print(f"MISMATCH {name}: cohort {c_answers[name]} duckdb {d_answers[name]}")

print(f"{'question':<18}{'users':>9}{'cohort ms':>12}{'duckdb ms':>12}{'speedup':>10}")
ratios = []
results = {}
for name, _, _, size in queries:
    c = statistics.median(cohort_ms[name])
    d = None if args.cohort_only else statistics.median(duck_ms[name])
    answer = c_answers[name][0] if size == 1 else sum(c_answers[name])
    results[name] = {"answer": c_answers[name], "cohort_ms": c, "duckdb_ms": d}
    if d is None:
        print(f"{name:<18}{answer:>9}{c:>12.2f}{'-':>12}{'-':>10}")
    else:
        ratios.append(d / c)
        print(f"{name:<18}{answer:>9}{c:>12.2f}{d:>12.2f}{d / c:>9.1f}x")
geomean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
if geomean is None:
    print("DuckDB left out: its copy of the data does not fit in memory")
else:
    print(f"geometric mean speedup: {geomean:.1f}x "
          f"({args.rounds} rounds x {args.reps} reps, medians, {'sequential' if args.sequential else 'interleaved'}; "
          f"answers {'DIFFER' if mismatch else 'identical'}; overlap_5 shows the sum of its 25 counts)")
duck_line = "" if duck_memory is None else f", duckdb {duck_memory / 1e6:.0f} MB = {duck_memory / events:.1f} B/event (duckdb_memory())"
print(f"memory for the data ({events} events): cohort {c_memory / 1e6:.0f} MB = {c_memory / events:.1f} B/event (engine accounting){duck_line}")
if args.json:
    with open(args.json, "w") as f:
        json.dump({"events": events, "cohort_memory": c_memory, "duckdb_memory": duck_memory, "geomean": geomean,
                   "mismatch": mismatch, "sequential": args.sequential or args.cohort_only, "questions": results}, f, indent=1)
sys.exit(1 if mismatch else 0)
