#!/usr/bin/env python3
"""Funnels side by side (issue 16): Cohort's FUNNEL and DuckDB computing the same levels.

Usage: funnel_compare.py COHORT_BIN DATA_DIR [--now 2026-07-01] [--reps 7] [--rounds 2]

DuckDB is set up as its experts would: integer user keys (dense rank of the id), event
types as small integer codes, times as integer epoch seconds, the events table ordered by
(event, time) so that zone maps prune a type and a time range; the SQL is the chain
condition written as joins (for each start, the earliest next step keeps the most room
for the steps after it, so the earliest-follower join is exact for steps of distinct
event types). Cohort runs through `cohort run --timing` (in-process times, data loaded
once per round). Rounds alternate engines (A B A B); every answer (users per step) must
be equal or the exit status is 1. Prints medians, the ratio and the machine.
"""
import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import duckdb

parser = argparse.ArgumentParser()
parser.add_argument("cohort")
parser.add_argument("data")
parser.add_argument("--now", default="2026-07-01")
parser.add_argument("--reps", type=int, default=7)
parser.add_argument("--rounds", type=int, default=2)
args = parser.parse_args()


def epoch(text):
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


NOW = epoch(args.now)
DAY = 86_400
# (name, steps as Cohort words, per step: (event, extra SQL condition on that step's row), W, A, B)
FUNNELS = [
    ("3 steps, 30 days", ["registration_started", "registration_completed", "ride"],
     [("registration_started", ""), ("registration_completed", ""), ("ride", "")], 30 * DAY, NOW - 30 * DAY, NOW),
    ("3 steps, filtered ride", ["registration_started", "registration_completed", '"ride where distance_km > 10"'],
     [("registration_started", ""), ("registration_completed", ""), ("ride", "AND x3.distance_km > 10")], 30 * DAY, NOW - 30 * DAY, NOW),
    ("2 steps, 7 days, 90-day entry", ["app_open", "purchase"],
     [("app_open", ""), ("purchase", "")], 7 * DAY, NOW - 90 * DAY, NOW),
]


def cohort_command(steps, w, a, b):
    return f"FUNNEL {len(steps)} {' '.join(steps)} WITHIN {w} FROM {a} TO {b} AT {NOW}"


def run_cohort():
    lines = []
    for _, steps, _, w, a, b in FUNNELS:
        lines += [cohort_command(steps, w, a, b)] * args.reps
    proc = subprocess.run([args.cohort, "run", "--demo", args.data, "--now", args.now, "--timing"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    out = proc.stdout.split("\n")
    times = [float(l.split()[1]) / 1000 for l in proc.stderr.split("\n") if l.startswith("time_us")]
    answers, medians, k = [], [], 0
    for _, steps, _, _, _, _ in FUNNELS:
        n = len(steps)
        # Each reply: n rows of (users, rate, rate), one line each.
        answers.append([int(out[k + 3 * j]) for j in range(n)])
        k += 3 * n * args.reps
        medians.append(statistics.median(times[:args.reps]))
        times = times[args.reps:]
    return answers, medians


def duckdb_sql(codes, spec, w, a, b):
    n = len(spec)
    ctes = []
    (e1, c1) = spec[0]
    ctes.append(f"s1 AS (SELECT u, t AS t1, t AS tl FROM ev x1 WHERE e = {codes[e1]} AND t >= {a} AND t < {b} AND t <= {NOW} {c1.replace('x1.', 'x1.')})")
    for j in range(2, n + 1):
        (ej, cj) = spec[j - 1]
        ctes.append(
            f"s{j} AS (SELECT p.u, p.t1, min(x{j}.t) AS tl FROM s{j - 1} p JOIN ev x{j} ON x{j}.u = p.u AND x{j}.e = {codes[ej]} "
            f"AND x{j}.t >= p.tl AND x{j}.t <= p.t1 + {w} AND x{j}.t <= {NOW} {cj} GROUP BY p.u, p.t1)")
    counts = ", ".join(f"(SELECT count(DISTINCT u) FROM s{j})" for j in range(1, n + 1))
    return "WITH " + ", ".join(ctes) + f" SELECT {counts}"


def run_duckdb(con, codes):
    answers, medians = [], []
    for _, _, spec, w, a, b in FUNNELS:
        sql = duckdb_sql(codes, spec, w, a, b)
        ts, answer = [], None
        for _ in range(args.reps):
            start = time.perf_counter()
            answer = list(con.execute(sql).fetchone())
            ts.append((time.perf_counter() - start) * 1000)
        answers.append(answer)
        medians.append(statistics.median(ts))
    return answers, medians


con = duckdb.connect(":memory:")
start = time.perf_counter()
con.execute(f"CREATE TEMP TABLE raw AS SELECT user_id, event, epoch(time)::BIGINT AS t, distance_km FROM read_csv('{args.data}/events.csv', header = true)")
con.execute("CREATE TEMP TABLE kinds AS SELECT event, (row_number() OVER (ORDER BY event))::UTINYINT AS e FROM (SELECT DISTINCT event FROM raw)")
con.execute("CREATE TEMP TABLE keys AS SELECT user_id, (dense_rank() OVER (ORDER BY user_id))::UINTEGER AS u FROM (SELECT DISTINCT user_id FROM raw)")
con.execute("CREATE TABLE ev AS SELECT k.u, c.e, r.t, r.distance_km FROM raw r JOIN keys k USING (user_id) JOIN kinds c USING (event) ORDER BY c.e, r.t")
con.execute("DROP TABLE raw")
codes = dict(con.execute("SELECT event, e FROM kinds").fetchall())
print(f"duckdb set up in {time.perf_counter() - start:.1f} s ({duckdb.__version__}; {con.execute('SELECT count(*) FROM ev').fetchone()[0]} events)")

results = {name: ([], []) for name, *_ in FUNNELS}
status = 0
for r in range(args.rounds):
    for engine in ("cohort", "duckdb") if r % 2 == 0 else ("duckdb", "cohort"):
        answers, medians = run_cohort() if engine == "cohort" else run_duckdb(con, codes)
        for (name, *_), answer, median in zip(FUNNELS, answers, medians):
            results[name][0 if engine == "cohort" else 1].append((answer, median))

print(f"{'funnel':<32}{'users per step':>28}{'cohort ms':>12}{'duckdb ms':>12}{'duckdb/cohort':>15}")
for name, (cohort, duck) in results.items():
    answers = {tuple(a) for a, _ in cohort} | {tuple(a) for a, _ in duck}
    if len(answers) != 1:
        print(f"MISMATCH {name}: cohort {[a for a, _ in cohort]} duckdb {[a for a, _ in duck]}")
        status = 1
    c = statistics.median(m for _, m in cohort)
    d = statistics.median(m for _, m in duck)
    print(f"{name:<32}{str(cohort[0][0]):>28}{c:>12.1f}{d:>12.1f}{d / c:>14.1f}x")
sys.exit(status)
