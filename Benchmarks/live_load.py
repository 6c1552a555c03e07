#!/usr/bin/env python3
"""Live workload against a running `cohort serve`: reads measured while events stream in.

Usage: live_load.py PORT USERS [--seconds 12] [--now 2026-07-01] [--json OUT]

Every load generator is its own process (multiprocessing, one RESP connection each,
plain sockets), separate from the server:
  - point reader: one request at a time, alternating SEGMENT.CHECK premium_eligible <user>
    and AGG.GET <user> "count(ride, last 30d)"; each latency recorded;
  - scan reader: SEGMENT.COUNT "count(ride, last 30d) >= 3" in a loop;
  - writers: EVENT.ADD <user> ride <time> cost 9.5 car zoe, either paced (batches every
    10 ms to hold a fixed rate) or as fast as they can, pipelined in batches of 2,000.
Phases, in one run: quiet, 1,000/s, 10,000/s, max (two pipelined writers), then a
SNAPSHOT taken while 1,000/s stream, with the point reader's longest request during it
(requests overlapping the SNAPSHOT), next to its longest outside it and in the 1,000/s
phase: this shared VM stalls a request for tens of ms now and then with no snapshot at all.

Exactness: before the phases, `count(ride)` of a sample of users is read; the writers
send a share of their events to those users and count every acknowledged one; at the
end every sampled user must have exactly before + written (exit status 1 otherwise).
Written times lie in the 30 days before --now, so they count in every window above.
"""
import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from datetime import datetime, timezone

from resp import Connection, encode

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("users", type=int)
parser.add_argument("--seconds", type=float, default=12)
parser.add_argument("--now", default="2026-07-01")
parser.add_argument("--json")
args = parser.parse_args()
NOW = int(datetime.fromisoformat(args.now).replace(tzinfo=timezone.utc).timestamp())
SAMPLE = 2000


def uid(i):
    return "u%07d" % i


def point_reader(port, stop, out):
    c = Connection(port)
    rng = random.Random(1)
    check, agg, spans = [], [], []
    while not stop.is_set():
        u = uid(rng.randrange(args.users))
        t = time.perf_counter()
        c.call("SEGMENT.CHECK", "premium_eligible", u)
        e = time.perf_counter()
        check.append(e - t)
        spans.append((t, e))
        u = uid(rng.randrange(args.users))
        t = time.perf_counter()
        c.call("AGG.GET", u, "count(ride, last 30d)")
        e = time.perf_counter()
        agg.append(e - t)
        spans.append((t, e))
    out.put(("point", check, agg, spans))


def scan_reader(port, stop, out):
    c = Connection(port)
    times = []
    while not stop.is_set():
        t = time.perf_counter()
        c.call("SEGMENT.COUNT", "count(ride, last 30d) >= 3")
        times.append(time.perf_counter() - t)
    out.put(("scan", times))


def writer(port, rate, seed, stop, out):
    """rate events/s in 10 ms batches; rate 0 = as fast as possible, 2,000 per batch."""
    c = Connection(port)
    rng = random.Random(seed)
    sample_written = {}
    # Pre-encoded pool, so the generator's own cost stays out of the way.
    pool, targets = [], []
    for _ in range(50_000):
        i = rng.randrange(SAMPLE) if rng.random() < 0.1 else rng.randrange(args.users)
        pool.append(encode("EVENT.ADD", uid(i), "ride", NOW - rng.randrange(30 * 86400), "cost", "9.5", "car", "zoe"))
        targets.append(i)
    k = 0
    sent = 0
    start = time.perf_counter()
    while not stop.is_set():
        if rate:
            batch = max(1, rate // 100)
            due = start + (sent + batch) / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        else:
            batch = 2000
        chunk = []
        for _ in range(batch):
            chunk.append(pool[k])
            i = targets[k]
            if i < SAMPLE:
                sample_written[i] = sample_written.get(i, 0) + 1
            k = (k + 1) % len(pool)
        c.sock.sendall(b"".join(chunk))
        c.expect_ok(batch)
        sent += batch
    out.put(("writer", sent, time.perf_counter() - start, sample_written))


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def phase(name, rates, snapshot=False):
    stop = mp.Event()
    out = mp.Queue()
    procs = [mp.Process(target=point_reader, args=(args.port, stop, out)), mp.Process(target=scan_reader, args=(args.port, stop, out))]
    procs += [mp.Process(target=writer, args=(args.port, r, 100 + j + 10 * len(name), stop, out)) for j, r in enumerate(rates)]
    for p in procs:
        p.start()
    snapshot_window = None
    if snapshot:
        time.sleep(args.seconds / 3)
        c = Connection(args.port)
        t0 = time.perf_counter()
        c.call("SNAPSHOT")
        snapshot_window = (t0, time.perf_counter())
        time.sleep(args.seconds / 3)
    else:
        time.sleep(args.seconds)
    stop.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    row = {"phase": name, "written": 0, "seconds": 0.0}
    for r in results:
        if r[0] == "point":
            row["check"], row["agg"], row["spans"] = r[1], r[2], r[3]
        elif r[0] == "scan":
            row["count"] = r[1]
        else:
            row["written"] += r[1]
            row["seconds"] = max(row["seconds"], r[2])
            for i, n in r[3].items():
                written[i] = written.get(i, 0) + n
    if snapshot_window:
        row["snapshot_seconds"] = snapshot_window[1] - snapshot_window[0]
        # Requests that overlap the SNAPSHOT, and the others of the phase.
        a, b = snapshot_window
        during = [e - t for t, e in row["spans"] if t < b and e > a]
        row["longest_during"] = max(during) * 1000 if during else float("nan")
        others = [(e - t, t) for t, e in row["spans"] if not (t < b and e > a)]
        worst = max(others, default=(float("nan"), a))
        row["longest_outside"] = worst[0] * 1000
        # Where it was: seconds after the SNAPSHOT's end (negative: before its start).
        row["longest_outside_at"] = worst[1] - b if worst[1] >= b else worst[1] - a
    return row


def sample_counts():
    c = Connection(args.port)
    c.sock.sendall(b"".join(encode("AGG.GET", uid(i), "count(ride)") for i in range(SAMPLE)))
    return [(c.reply() or [None])[0] or 0 for _ in range(SAMPLE)]


if __name__ == "__main__":
    mp.set_start_method("fork")
    written = {}
    before = sample_counts()
    rows = [phase("quiet", []), phase("1,000/s", [1000]), phase("10,000/s", [10000]), phase("max, 2 pipelined writers", [0, 0])]
    # The snapshot stall: the point reader's longest request while SNAPSHOT runs, writes streaming.
    snap = phase("SNAPSHOT with 1,000/s", [1000], snapshot=True)
    after = sample_counts()
    wrong = [i for i in range(SAMPLE) if after[i] != before[i] + written.get(i, 0)]

    quiet = rows[0]
    q_count = statistics.median(quiet["count"])
    print("%-28s %12s %9s %9s %9s %9s %10s %8s" % ("phase", "writes/s", "CHECK p50", "CHECK p99", "AGG p50", "AGG p99", "COUNT p50", "x quiet"))
    for r in rows + [snap]:
        rate = r["written"] / r["seconds"] if r["seconds"] else 0
        c50 = statistics.median(r["count"]) * 1000 if r["count"] else float("nan")
        print("%-28s %12.0f %9.3f %9.3f %9.3f %9.3f %10.2f %8.2f" % (
            r["phase"], rate, pct(r["check"], 0.5), pct(r["check"], 0.99), pct(r["agg"], 0.5), pct(r["agg"], 0.99), c50, c50 / (q_count * 1000)))
    longest = snap["longest_during"]
    baseline = max(max(rows[1]["check"]), max(rows[1]["agg"])) * 1000
    print("SNAPSHOT took %.2f s with 1,000 EVENT.ADD/s streaming; longest CHECK/AGG.GET request during it %.1f ms "
          "(in the same phase outside it %.1f ms, %+.2f s from it; in the whole 1,000/s phase, no snapshot, %.1f ms)" % (
              snap["snapshot_seconds"], longest, snap["longest_outside"], snap["longest_outside_at"], baseline))
    print("exactness: %d sampled users, %d events written to them, %d with a wrong count(ride)" % (SAMPLE, sum(written.values()), len(wrong)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": [{k: v for k, v in r.items() if not isinstance(v, list)} | {
                "check_p50": pct(r["check"], 0.5), "check_p99": pct(r["check"], 0.99), "agg_p50": pct(r["agg"], 0.5),
                "agg_p99": pct(r["agg"], 0.99), "count_p50": statistics.median(r["count"]) * 1000} for r in rows + [snap]],
                "longest_during_snapshot_ms": longest, "longest_outside_snapshot_ms": snap["longest_outside"],
                "longest_1000_per_s_ms": baseline, "wrong": len(wrong)}, f, indent=1)
    sys.exit(1 if wrong else 0)
