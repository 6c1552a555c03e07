#!/usr/bin/env python3
"""Analytics side by side (issue 16): Cohort's FUNNEL and SERIES.* and DuckDB computing
the same answers.

Usage: analytics_compare.py COHORT_BIN DATA_DIR [--now 2026-07-01] [--reps 7] [--rounds 2]

DuckDB is set up as its experts would: integer user keys (dense rank of the id), event
types as small integer codes, times as integer epoch seconds, the events table ordered by
(event, time) so that zone maps prune a type and a time range. Funnels are the chain
condition written as joins (for each start, the earliest next step keeps the most room
for the steps after it, so the earliest-follower join is exact for steps of distinct
event types); series are one GROUP BY over the buckets. Cohort runs through `cohort run
--timing` (in-process times, data loaded once per round), next to the same series asked
as separate SEGMENT.COUNTs (the issue's bound: a 30-bucket series costs no more than 30
of them). Rounds alternate engines (A B A B); every answer must be equal or the exit
status is 1. Prints medians and the ratio.
"""
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb

from bench_common import arguments, epoch

args = arguments("Funnels, series and a split report: Cohort and DuckDB side by side.").parse_args()


NOW = epoch(args.now)
DAY = 86_400


def funnel(name, steps, spec, w, a, b):
    """A funnel question: Cohort's command, DuckDB's SQL, and how to read Cohort's reply."""
    cohort = f"FUNNEL {len(steps)} {' '.join(steps)} WITHIN {w} FROM {a} TO {b} AT {NOW}"
    lines = 3 * len(steps)
    return (name, [cohort], lines, lambda out: [int(out[3 * j]) for j in range(len(steps))], lambda codes: funnel_sql(codes, spec, w, a, b),
            lambda rows: list(rows[0]))


def funnel_sql(codes, spec, w, a, b):
    n = len(spec)
    (e1, _) = spec[0]
    ctes = [f"s1 AS (SELECT u, t AS t1, t AS tl FROM ev WHERE e = {codes[e1]} AND t >= {a} AND t < {b} AND t <= {NOW})"]
    for j in range(2, n + 1):
        (ej, cj) = spec[j - 1]
        ctes.append(
            f"s{j} AS (SELECT p.u, p.t1, min(x{j}.t) AS tl FROM s{j - 1} p JOIN ev x{j} ON x{j}.u = p.u AND x{j}.e = {codes[ej]} "
            f"AND x{j}.t >= p.tl AND x{j}.t <= p.t1 + {w} AND x{j}.t <= {NOW} {cj} GROUP BY p.u, p.t1)")
    counts = ", ".join(f"(SELECT count(DISTINCT u) FROM s{j})" for j in range(1, n + 1))
    return "WITH " + ", ".join(ctes) + f" SELECT {counts}"


# The last 30 daily buckets ending with the one containing now; now_b per bucket.
START = NOW - NOW % DAY - 29 * DAY
NOW_B = [min(START + (k + 1) * DAY - 1, NOW) for k in range(30)]
NOW_B_SQL = "(SELECT unnest([" + ", ".join(map(str, NOW_B)) + "]) AS nb, unnest(range(30)) AS k)"


def series(name, cohort, sql, also_separately=None):
    """A 30-bucket daily series: rows of three lines (start, value, complete)."""
    commands = [cohort] + ([also_separately(nb) for nb in NOW_B] if also_separately else [])
    read = lambda out: [int(out[3 * k + 1]) for k in range(30)]
    # DuckDB: (bucket, value) rows; a bucket with no value has no row.
    return (name, commands, 90, read, sql, lambda rows: [dict(rows).get(k, 0) for k in range(30)])


# A 50% split of the trial and business users (180k at 1M), defined a month before now so
# that purchases can convert: Cohort defines it (untimed setup), DuckDB gets the
# assignment table an analyst would export (the same hash, FEATURES §2.3.1).
SPLIT_START = NOW - 30 * DAY
SETUP = [
    'SEGMENT.DEFINE bench_split_base "plan in (\\"trial\\", \\"business\\")"',
    "SPLIT.DEFINE bench_split bench_split_base ARMS control 50 treatment 50",
    f"CLOCK.SET {NOW}",
]


def bucket(seed, user):
    M = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in seed.encode() + b"\0" + user.encode():
        h = ((h ^ b) * 0x100000001b3) & M
    h ^= h >> 33; h = (h * 0xff51afd7ed558ccd) & M
    h ^= h >> 33; h = (h * 0xc4ceb93fe53ec5a3) & M
    h ^= h >> 33
    return h % 10000


def split_question():
    cohort = "SPLIT.REPORT bench_split CONVERT EVENT purchase WITHIN 14d"
    # Cohort: two rows of ten fields (one line each); the answer is (assigned, converted) per arm.
    read = lambda out: [int(out[k]) for k in (1, 2, 11, 12)]
    sql = lambda codes: (
        f"SELECT a.arm, count(*), count(c.u) FROM assign a LEFT JOIN (SELECT DISTINCT u FROM ev WHERE e = {codes['purchase']} "
        f"AND t > {SPLIT_START} AND t <= {min(NOW, SPLIT_START + 14 * DAY)}) c ON c.u = a.u GROUP BY a.arm ORDER BY a.arm")
    return ("split: SPLIT.REPORT, 50% of 180k, 14 days", [cohort], 20, read, sql, lambda rows: [v for r in rows for v in r[1:]])


QUESTIONS = [
    funnel("funnel: 3 steps, 30 days", ["registration_started", "registration_completed", "ride"],
           [("registration_started", ""), ("registration_completed", ""), ("ride", "")], 30 * DAY, NOW - 30 * DAY, NOW),
    funnel("funnel: 3 steps, filtered ride", ["registration_started", "registration_completed", '"ride where distance_km > 10"'],
           [("registration_started", ""), ("registration_completed", ""), ("ride", "AND x3.distance_km > 10")], 30 * DAY, NOW - 30 * DAY, NOW),
    funnel("funnel: 2 steps, 7 days, 90-day entry", ["app_open", "purchase"], [("app_open", ""), ("purchase", "")], 7 * DAY, NOW - 90 * DAY, NOW),
    series("series: count(ride, last 30d) >= 3 BY day",
           'SERIES.COUNT "count(ride, last 30d) >= 3" BY day LAST 30',
           lambda codes: f"SELECT k, count(*) FROM (SELECT b.k, e.u FROM {NOW_B_SQL} b JOIN ev e ON e.e = {codes['ride']} "
                         f"AND e.t >= b.nb - {30 * DAY} AND e.t <= b.nb GROUP BY b.k, e.u HAVING count(*) >= 3) GROUP BY k ORDER BY k",
           also_separately=lambda nb: f'SEGMENT.COUNT "count(ride, last 30d) >= 3" AT {nb}'),
    series("series: users(app_open) BY day (DAU)",
           'SERIES.EVENTS "users(app_open)" BY day LAST 30',
           lambda codes: f"SELECT k, count(DISTINCT u) FROM (SELECT (t - {START}) // {DAY} AS k, u FROM ev WHERE e = {codes['app_open']} "
                         f"AND t >= {START} AND t <= {NOW}) GROUP BY k ORDER BY k"),
    split_question(),
]


def run_cohort():
    lines = list(SETUP)
    for _, commands, *_ in QUESTIONS:
        for command in commands:
            lines += [command] * args.reps
    proc = subprocess.run([args.cohort, "run", "--demo", args.data, "--now", str(SPLIT_START), "--timing"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    out = proc.stdout.split("\n")
    times = [float(l.split()[1]) / 1000 for l in proc.stderr.split("\n") if l.startswith("time_us")][len(SETUP):]
    # Each setup command answers one line (OK, or CLOCK.SET's count).
    answers, medians, separately, k = [], [], [], len(SETUP)
    for _, commands, per_reply, read, *_ in QUESTIONS:
        answers.append(read(out[k:k + per_reply]))
        k += per_reply * args.reps
        medians.append(statistics.median(times[:args.reps]))
        times = times[args.reps:]
        # The same series as separate SEGMENT.COUNTs: one integer line each.
        total, counts = 0.0, []
        for _ in commands[1:]:
            counts.append(int(out[k]))
            k += args.reps
            total += statistics.median(times[:args.reps])
            times = times[args.reps:]
        separately.append((counts, total) if commands[1:] else None)
    return answers, medians, separately


def run_duckdb(con, codes):
    answers, medians = [], []
    for *_, sql, read in QUESTIONS:
        query = sql(codes)
        ts, rows = [], None
        for _ in range(args.reps):
            start = time.perf_counter()
            rows = con.execute(query).fetchall()
            ts.append((time.perf_counter() - start) * 1000)
        answers.append(read(rows))
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
users = con.execute(f"SELECT user_id FROM read_csv('{args.data}/users.csv', header = true) WHERE plan IN ('trial', 'business')").fetchall()
with tempfile.NamedTemporaryFile("w", suffix=".csv") as arms:
    arms.write("user_id,arm\n" + "".join(f"{u},{'control' if bucket('bench_split', u) < 5000 else 'treatment'}\n" for (u,) in users))
    arms.flush()
    con.execute(f"CREATE TABLE assign AS SELECT k.u, a.arm FROM read_csv('{arms.name}', header = true) a JOIN keys k USING (user_id)")
print(f"duckdb set up in {time.perf_counter() - start:.1f} s ({duckdb.__version__}; {con.execute('SELECT count(*) FROM ev').fetchone()[0]} events)")

results = {q[0]: ([], [], []) for q in QUESTIONS}
status = 0
for r in range(args.rounds):
    for engine in ("cohort", "duckdb") if r % 2 == 0 else ("duckdb", "cohort"):
        if engine == "cohort":
            answers, medians, separately = run_cohort()
            for q, answer, median, sep in zip(QUESTIONS, answers, medians, separately):
                results[q[0]][0].append((answer, median))
                if sep:
                    results[q[0]][2].append(sep)
        else:
            answers, medians = run_duckdb(con, codes)
            for q, answer, median in zip(QUESTIONS, answers, medians):
                results[q[0]][1].append((answer, median))

print(f"{'question':<46}{'cohort ms':>11}{'duckdb ms':>11}{'duckdb/cohort':>15}{'30 SEGMENT.COUNT ms':>21}")
for name, (cohort, duck, sep) in results.items():
    answers = {tuple(a) for a, _ in cohort} | {tuple(a) for a, _ in duck} | {tuple(a) for a, _ in sep}
    if len(answers) != 1:
        print(f"MISMATCH {name}: cohort {[a for a, _ in cohort]} duckdb {[a for a, _ in duck]} separately {[a for a, _ in sep]}")
        status = 1
    c = statistics.median(m for _, m in cohort)
    d = statistics.median(m for _, m in duck)
    s30 = f"{statistics.median(t for _, t in sep):>21.1f}" if sep else f"{'':>21}"
    print(f"{name:<46}{c:>11.1f}{d:>11.1f}{d / c:>14.1f}x{s30}")
    first = cohort[0][0]
    print(f"    answer: {first if len(first) <= 4 else str(first[:3])[:-1] + ', ... ' + str(first[-1]) + ']'}")
sys.exit(status)
