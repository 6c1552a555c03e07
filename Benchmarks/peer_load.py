#!/usr/bin/env python3
"""Loads users.csv and events.csv into an in-memory DuckDB and prints timings.

Used by Benchmarks/compare-load next to `cohort load` on the same files. Prints one
line per file: `duckdb <file> rows <n> seconds <s>` and the process's peak RSS.
"""
import resource
import sys
import time

import duckdb

data = sys.argv[1]
con = duckdb.connect(":memory:")
con.execute("SET preserve_insertion_order = true")
total = 0.0
for name, table in (("users.csv", "users"), ("events.csv", "events")):
    start = time.perf_counter()
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{data}/{name}', header = true)")
    elapsed = time.perf_counter() - start
    total += elapsed
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    print(f"duckdb {name} rows {rows} seconds {elapsed:.3f}")
mem = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
print(f"duckdb total_seconds {total:.3f} memory_bytes {mem} peak_rss_bytes {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}")
