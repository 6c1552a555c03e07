#!/usr/bin/env python3
"""Segment questions side by side: Cohort and DuckDB on the same generated data.

Usage: compare_queries.py COHORT_BIN DATA_DIR [--now 2026-07-01] [--reps 7] [--rounds 2]

Runs the questions of Benchmarks/queries.tsv in rounds, alternating engines (A B A B):
Cohort through `cohort run --timing` (the data loaded once per round, each question
repeated --reps times, in-process times from --timing), DuckDB in-process on tables
loaded from the same CSV files. Checks that both return the same count for every
question (a mismatch is printed and makes the exit status 1), then prints the median
times, the ratio, their geometric mean and each engine's memory for the data.
"""
import argparse
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
args = parser.parse_args()

queries = []
with open(os.path.join(here, "queries.tsv")) as f:
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        name, expr, sql = line.rstrip("\n").split("\t")
        queries.append((name, expr, sql))

def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

def run_cohort():
    lines = []
    for name, expr, _ in queries:
        lines += [f"SEGMENT.COUNT {quote(expr)}"] * args.reps
    lines.append("INFO")
    proc = subprocess.run(
        [args.cohort, "run", "--demo", args.data, "--now", args.now, "--timing"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    out = proc.stdout.split("\n")
    times = [float(l.split()[1]) / 1000 for l in proc.stderr.split("\n") if l.startswith("time_us")]
    counts, ms = {}, {}
    for i, (name, _, _) in enumerate(queries):
        counts[name] = int(out[i * args.reps])
        ms[name] = times[i * args.reps:(i + 1) * args.reps]
    memory = next(int(l.split(":")[1]) for l in out if l.startswith("used_memory:"))
    return counts, ms, memory

con = duckdb.connect(":memory:")
con.execute("SET TimeZone = 'UTC'")
start = time.perf_counter()
con.execute(f"CREATE TABLE users AS SELECT * FROM read_csv('{args.data}/users.csv', header = true)")
con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{args.data}/events.csv', header = true)")
duck_load = time.perf_counter() - start
duck_memory = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
now_sql = f"TIMESTAMPTZ '{args.now} 00:00:00+00'" if con.execute(
    "SELECT typeof(\"time\") FROM events LIMIT 1").fetchone()[0].startswith("TIMESTAMP WITH") else f"TIMESTAMP '{args.now} 00:00:00'"

def run_duck():
    counts, ms = {}, {}
    for name, _, sql in queries:
        q = sql.replace("{now}", now_sql)
        samples = []
        for _ in range(args.reps):
            t = time.perf_counter()
            counts[name] = con.execute(q).fetchone()[0]
            samples.append((time.perf_counter() - t) * 1000)
        ms[name] = samples
    return counts, ms

cohort_ms = {n: [] for n, _, _ in queries}
duck_ms = {n: [] for n, _, _ in queries}
mismatch = False
for r in range(args.rounds):
    c_counts, c_ms, c_memory = run_cohort()
    d_counts, d_ms = run_duck()
    for name, _, _ in queries:
        cohort_ms[name] += c_ms[name]
        duck_ms[name] += d_ms[name]
        if c_counts[name] != d_counts[name]:
            mismatch = True
            print(f"MISMATCH {name}: cohort {c_counts[name]} duckdb {d_counts[name]}")

print(f"{'question':<18}{'users':>9}{'cohort ms':>12}{'duckdb ms':>12}{'speedup':>10}")
ratios = []
for name, _, _ in queries:
    c = statistics.median(cohort_ms[name])
    d = statistics.median(duck_ms[name])
    ratios.append(d / c)
    print(f"{name:<18}{c_counts[name]:>9}{c:>12.2f}{d:>12.2f}{d / c:>9.1f}x")
print(f"geometric mean speedup: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.1f}x "
      f"({args.rounds} rounds x {args.reps} reps, medians; counts {'DIFFER' if mismatch else 'identical'})")
print(f"memory for the data: cohort {c_memory / 1e6:.0f} MB (engine accounting), duckdb {duck_memory / 1e6:.0f} MB (duckdb_memory())")
sys.exit(1 if mismatch else 0)
