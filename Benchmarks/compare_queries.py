#!/usr/bin/env python3
"""Segment questions side by side: Cohort and DuckDB on the same generated data.

Usage: compare_queries.py COHORT_BIN DATA_DIR [--now 2026-07-01] [--reps 7] [--rounds 2]
                          [--setup expert|old] [--sequential | --cohort-only] [--json OUT]

Runs the questions of Benchmarks/queries.tsv in rounds, alternating engines (A B A B):
Cohort through `cohort run --timing` (the data loaded once per round, each question
repeated --reps times, in-process times from --timing), DuckDB in-process. Checks that
both return the same answer for every question (counts exactly, AGG.STATS floats to
1e-9 relative; a mismatch is printed and makes the exit status 1), then prints the
median times, the ratio, their geometric mean and each engine's memory for the data.
With --bandwidth (GB/s, Benchmarks/tools/membw.c), also each question's floor: the bytes
its floor model in queries.tsv says any engine must read (counted in DuckDB's tables),
and the time that takes at that bandwidth.

DuckDB setups (--setup):
  expert  (default) what a DuckDB expert builds: integer surrogate user keys, event
          types as small integer codes, times as integer epoch seconds, low-cardinality
          strings as ENUMs, the events table ordered by (event, time) so that zone maps
          prune a type and a window to the rows inside it, and an arrival sequence
          number for the `last`/`first` tie rule.
  old     the setup this benchmark used before issue 14: the CSV files loaded as they
          are (string user ids, TIMESTAMPs, arrival order); kept to report once how
          much it flattered Cohort.
The SQL of queries.tsv is written once, with tokens each setup fills in.

Answers: float properties are IEEE doubles in both engines, and a sum of doubles depends
on the order of its terms. Cohort adds a user's values in storage order (time, then
arrival), DuckDB in whatever order its threads meet them, so a user whose sum lands
exactly on a threshold (a cost total of exactly 150.00 against `> 150`) can fall on
either side, and DuckDB's side can change from run to run. So the reference answer of
each question is DuckDB's SQL with every float sum and average taken in storage order
(`sum(cost ORDER BY t, seq)`), run once, untimed: Cohort must equal it exactly. The timed
query is the plain SQL; where its answer differs from the reference (only ever at such
boundaries) the run says so, without failing.

--sequential runs all Cohort rounds before loading DuckDB (for sizes where both
engines' copies of the data do not fit in memory together); --cohort-only leaves DuckDB
out (sizes where its copy alone does not fit); --json writes the medians.
"""
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

import duckdb

from bench_common import arguments, epoch

here = os.path.dirname(os.path.abspath(__file__))
parser = arguments("Segment questions: Cohort and DuckDB side by side.")
parser.add_argument("--setup", choices=["expert", "old"], default="expert")
parser.add_argument("--sequential", action="store_true")
parser.add_argument("--cohort-only", action="store_true")
parser.add_argument("--bandwidth", type=float, help="the machine's read bandwidth in GB/s, for the floor column")
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
    parts = " UNION ALL ".join(f"SELECT u, {1 << i} AS bit FROM ({segment_sql[n]})" for i, n in enumerate(names))
    sums = ", ".join(f"sum((bits >> {i}) & (bits >> {j}) & 1)" for i in range(len(names)) for j in range(len(names)))
    return f"SELECT {sums} FROM (SELECT u, bit_or(bit) AS bits FROM ({parts}) GROUP BY u)"


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


queries = []  # (name, Cohort command, SQL template, answer size)
floor_models = {}
for name, question, sql, model in table("queries.tsv"):
    floor_models[name] = model
    if question.startswith("OVERLAP "):
        names = question.split()[1:]
        queries.append((name, "SEGMENT.OVERLAP " + " ".join(names), overlap_sql(names), len(names) ** 2))
        continue
    if question.startswith("STATS "):
        value, target = question[len("STATS "):].split(" IN ")
        queries.append((name, f"AGG.STATS {quote(value)} IN {target}", sql, 6))
        continue
    queries.append((name, f"SEGMENT.COUNT {quote(question)}", sql, 1))
for seg, seg_sql in segment_sql.items():
    queries = [(n, c, s.replace("{seg:" + seg + "}", seg_sql), k) for n, c, s, k in queries]


def number(text):
    return float(text) if re.search(r"[.eE]|nan|inf", text) else int(text)


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
        answers[name] = [number(x) for x in out[line:line + size]]
        line += size * args.reps
        ms[name] = times[command_index:command_index + args.reps]
        command_index += args.reps
    memory = next(int(l.split(":")[1]) for l in out if l.startswith("used_memory_dataset:"))
    events = next(int(l.split(":")[1]) for l in out if l.startswith("events:"))
    return answers, ms, (memory, events)


con = None
tokens = {}


def load_duck():
    """Loads the CSV files into DuckDB as --setup says; fills `tokens` for its SQL."""
    global con
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    users_csv, events_csv = f"read_csv('{args.data}/users.csv', header = true)", f"read_csv('{args.data}/events.csv', header = true)"
    start = time.perf_counter()
    if args.setup == "old":
        con.execute(f"CREATE TABLE users AS SELECT user_id AS u, * EXCLUDE (user_id) FROM {users_csv}")
        con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM {events_csv}")
        con.execute('CREATE TABLE events AS SELECT user_id AS u, event AS e, "time" AS t, rowid AS seq, * EXCLUDE (user_id, event, "time") FROM raw')
        con.execute("DROP TABLE raw")
        zone = "+00" if con.execute("SELECT typeof(t) FROM events LIMIT 1").fetchone()[0].startswith("TIMESTAMP WITH") else ""
        kind = "TIMESTAMPTZ" if zone else "TIMESTAMP"
        tokens.update(now=f"{kind} '{args.now} 00:00:00{zone}'", day=lambda n: f"INTERVAL {n} DAY",
                      at=lambda d: f"{kind} '{d} 00:00:00{zone}'", event=lambda e: f"'{e}'", sec=lambda x: f"epoch({x})")
    else:
        con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM {events_csv}")
        con.execute(f"CREATE TEMP TABLE rawu AS SELECT * FROM {users_csv}")
        con.execute("CREATE TEMP TABLE keys AS SELECT user_id, (row_number() OVER (ORDER BY user_id))::UINTEGER AS u "
                    "FROM (SELECT user_id FROM rawu UNION SELECT user_id FROM raw)")
        con.execute("CREATE TEMP TABLE kinds AS SELECT event, (row_number() OVER (ORDER BY event))::UTINYINT AS e FROM (SELECT DISTINCT event FROM raw)")
        for column, source in (("car", "raw"), ("plan", "rawu"), ("country", "rawu"), ("language", "rawu")):
            con.execute(f"CREATE TYPE {column}_t AS ENUM (SELECT DISTINCT {column} FROM {source} WHERE {column} IS NOT NULL ORDER BY 1)")
        con.execute("CREATE TABLE events AS SELECT k.u, c.e, epoch(r.time)::BIGINT AS t, r.rowid AS seq, r.distance_km, r.duration_min, "
                    "r.cost, r.car::car_t AS car, r.amount, r.score FROM raw r JOIN keys k USING (user_id) JOIN kinds c USING (event) ORDER BY c.e, t")
        # Every existing user, with or without a users.csv row (DESIGN: a user exists from the first write naming it).
        con.execute("CREATE TABLE users AS SELECT k.u, r.plan::plan_t AS plan, r.country::country_t AS country, r.language::language_t AS language, "
                    "r.verified, epoch(r.signup_at)::BIGINT AS signup_at, epoch(r.subscription_ends_at)::BIGINT AS subscription_ends_at, "
                    "r.operators, r.score, r.tags FROM keys k LEFT JOIN rawu r USING (user_id) ORDER BY k.u")
        codes = dict(con.execute("SELECT event, e FROM kinds").fetchall())
        for temporary in ("raw", "rawu", "keys", "kinds"):
            con.execute(f"DROP TABLE {temporary}")
        tokens.update(now=str(epoch(args.now)), day=lambda n: str(int(n) * 86_400), at=lambda d: str(epoch(d)),
                      event=lambda e: str(codes[e]), sec=lambda x: x)
    print(f"duckdb {duckdb.__version__}, {args.setup} setup, loaded in {time.perf_counter() - start:.1f} s")


def instantiate(sql, ordered=False):
    """The SQL of queries.tsv with the current setup's tokens filled in; `ordered` takes
    every float sum and average in storage order (the reference answer)."""
    if ordered:
        sql = re.sub(r"\b(sum|avg)\((cost|amount|distance_km)\)", r"\1(\2 ORDER BY t, seq)", sql)
    sql = re.sub(r"\{last:(\d+)\}", lambda m: f"t BETWEEN {{now}} - {{d:{m.group(1)}}} AND {{now}}", sql)
    sql = re.sub(r"\{d:(\d+)\}", lambda m: tokens["day"](m.group(1)), sql)
    sql = re.sub(r"\{at:([0-9-]+)\}", lambda m: tokens["at"](m.group(1)), sql)
    sql = re.sub(r"\{e:(\w+)\}", lambda m: tokens["event"](m.group(1)), sql)
    sql = re.sub(r"\{sec:([^{}]+?\))\}", lambda m: tokens["sec"](m.group(1)), sql)
    return sql.replace("{now}", tokens["now"])


def floor_bytes(model):
    """The bytes a floor model of queries.tsv names, counted in the loaded tables."""
    total = 0.0
    users = con.execute("SELECT count(*) FROM users").fetchone()[0]
    for item in model.split():
        event, *rest = item.split(":")
        if event == "users":
            total += users * float(rest[0])
            continue
        window, extra = rest
        if window == "all":
            where = "t <= {now}"
        elif window.endswith("d"):
            where = "{last:" + window[:-1] + "}"
        else:
            a, b = window.split("..")
            where = "t >= {at:" + a + "} AND t < {at:" + b + "} AND t <= {now}"
        n = con.execute(instantiate(f"SELECT count(*) FROM events WHERE e = {{e:{event}}} AND {where}")).fetchone()[0]
        total += n * (4 + float(extra))
    return total


def reference_answers():
    """Each question's reference answer (see the module doc), untimed."""
    return {name: [x if isinstance(x, (int, float)) else float(x) for x in con.execute(instantiate(sql, ordered=True)).fetchone()]
            for name, _, sql, _ in queries}


def run_duck():
    answers, ms = {}, {}
    for name, _, sql, _ in queries:
        q = instantiate(sql)
        samples = []
        for _ in range(args.reps):
            t = time.perf_counter()
            answers[name] = [x if isinstance(x, (int, float)) else float(x) for x in con.execute(q).fetchone()]
            samples.append((time.perf_counter() - t) * 1000)
        ms[name] = samples
    return answers, ms


def same(a, b):
    return len(a) == len(b) and all(x == y if isinstance(x, int) and isinstance(y, int) else math.isclose(x, y, rel_tol=1e-9)
                                    for x, y in zip(a, b))


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
        for engine in ("cohort", "duckdb") if r % 2 == 0 else ("duckdb", "cohort"):
            if engine == "cohort":
                c_answers, c_ms, (c_memory, events) = run_cohort()
                cohort_answers.append(c_answers)
                for name in cohort_ms: cohort_ms[name] += c_ms[name]
            else:
                d_answers, d_ms = run_duck()
                duck_answers.append(d_answers)
                for name in duck_ms: duck_ms[name] += d_ms[name]
duck_memory = None if args.cohort_only else con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]

floors = {}
if args.bandwidth and not args.cohort_only:
    floors = {name: floor_bytes(model) for name, model in floor_models.items()}

mismatch = False
if not args.cohort_only:
    reference = reference_answers()
    for c_answers in cohort_answers:
        for name in cohort_ms:
            if not same(c_answers[name], reference[name]):
                mismatch = True
                print(f"MISMATCH {name}: cohort {c_answers[name]} reference {reference[name]}")
    for d_answers in duck_answers:
        for name in cohort_ms:
            if not same(d_answers[name], reference[name]):
                print(f"note: {name}: DuckDB's timed answer {d_answers[name]} differs from the storage-order reference "
                      f"{reference[name]} (float sums at a threshold)")

print(f"{'question':<18}{'answer':>10}{'cohort ms':>12}{'duckdb ms':>12}{'speedup':>10}" + (f"{'floor MB':>10}{'floor ms':>10}" if floors else ""))
ratios = []
results = {}
for name, _, _, size in queries:
    c = statistics.median(cohort_ms[name])
    d = None if args.cohort_only else statistics.median(duck_ms[name])
    answer = c_answers[name][0] if size != 25 else sum(c_answers[name])
    floor = f"{floors[name] / 1e6:>10.1f}{floors[name] / (args.bandwidth * 1e6):>10.2f}" if name in floors else ""
    results[name] = {"answer": c_answers[name], "cohort_ms": c, "duckdb_ms": d, "floor_bytes": floors.get(name)}
    if d is None:
        print(f"{name:<18}{answer:>10}{c:>12.2f}{'-':>12}{'-':>10}")
    else:
        ratios.append(d / c)
        print(f"{name:<18}{answer:>10}{c:>12.2f}{d:>12.2f}{d / c:>9.1f}x{floor}")
geomean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
if geomean is None:
    print("DuckDB left out: its copy of the data does not fit in memory")
else:
    print(f"geometric mean speedup: {geomean:.1f}x, lowest {min(ratios):.2f}x ({args.setup} DuckDB setup, {args.rounds} rounds x {args.reps} reps, "
          f"medians, {'sequential' if args.sequential else 'interleaved'}; answers {'DIFFER' if mismatch else 'identical'}; "
          f"overlap_5 shows the sum of its 25 counts, stats its users)")
duck_line = "" if duck_memory is None else f", duckdb {duck_memory / 1e6:.0f} MB = {duck_memory / events:.1f} B/event (duckdb_memory())"
print(f"memory for the data ({events} events): cohort {c_memory / 1e6:.0f} MB = {c_memory / events:.1f} B/event (engine accounting){duck_line}")
if args.json:
    with open(args.json, "w") as f:
        json.dump({"events": events, "cohort_memory": c_memory, "duckdb_memory": duck_memory, "geomean": geomean, "setup": args.setup,
                   "mismatch": mismatch, "sequential": args.sequential or args.cohort_only, "questions": results}, f, indent=1)
sys.exit(1 if mismatch else 0)
