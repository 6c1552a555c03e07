#!/usr/bin/env python3
"""The change feed under load (issue 15), against a running `cohort serve --now ...`.

Usage: feed_load.py PORT USERS [--seconds 10] [--now 2026-07-01] [--wave 10000] [--json OUT]

Every load generator is its own process (one RESP2 connection each), separate from the
server. Phases, in one run:
  1. no watches: a writer paced at 10,000 EVENT.ADD/s, then two pipelined writers as
     fast as they can (the write throughput without watches);
  2. SEGMENT.WATCH of the five lifecycle segments (each timed);
  3. with watches: the paced writer again, plus a probe writer (100 new users a second,
     each with one purchase that puts it in big_spenders) and an `XREAD BLOCK` reader on
     segment:big_spenders; latency = the entry's arrival at the reader minus the probe
     write's reply (CLOCK_MONOTONIC, shared by processes). Then the two pipelined writers
     again: the throughput with watches;
  4. a time-driven wave: WAVE new users whose `new_users` membership ends in the same
     second (signup_at = E - 14d + 10), then `CLOCK.SET` past it: how long the command
     takes to append the wave, and when the XREAD reader has every entry;
  5. consistency: each segment's recorded size (SEGMENT.WATCHES) against SEGMENT.COUNT
     of its definition at the last applied second.
"""
import argparse
import json
import multiprocessing as mp
import random
import statistics
import time
from datetime import datetime, timezone

from resp import Connection, encode

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("users", type=int)
parser.add_argument("--seconds", type=float, default=10)
parser.add_argument("--now", default="2026-07-01")
parser.add_argument("--wave", type=int, default=10000)
parser.add_argument("--json")
args = parser.parse_args()
NOW = int(datetime.fromisoformat(args.now).replace(tzinfo=timezone.utc).timestamp())
WATCHED = ["big_spenders", "dormant_riders", "expiring_subscription", "new_users", "promoters"]


def uid(i):
    return "u%07d" % i


def writer(stop, out, port, rate, seed):
    """EVENT.ADD rides at `rate`/s in 10 ms batches; rate 0 = pipelined batches of 2,000."""
    c = Connection(port)
    rng = random.Random(seed)
    pool = [encode("EVENT.ADD", uid(rng.randrange(args.users)), "ride", NOW - rng.randrange(30 * 86400), "cost", "9.5", "car", "zoe")
            for _ in range(50_000)]
    k = sent = 0
    start = time.perf_counter()
    while not stop.is_set():
        if rate:
            batch = max(1, rate // 100)
            pause = start + (sent + batch) / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        else:
            batch = 2000
        c.sock.sendall(b"".join(pool[(k + j) % len(pool)] for j in range(batch)))
        k = (k + batch) % len(pool)
        c.expect_ok(batch)
        sent += batch
    out.put(("writer", sent, time.perf_counter() - start))


def prober(stop, out, port, tag):
    """100 new users a second, each entering big_spenders by one purchase; reply times."""
    c = Connection(port)
    replies = {}
    n = 0
    time.sleep(0.5)  # the reader is blocked on the stream's end by then
    start = time.monotonic()
    while not stop.is_set():
        pause = start + n / 100 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        user = "probe-%s-%d" % (tag, n)
        c.call("EVENT.ADD", user, "purchase", NOW - 86400, "amount", "300")
        replies[user] = time.monotonic()
        n += 1
    out.put(("probe", replies))


def reader(stop, out, port, key, want_prefix):
    """XREAD BLOCK on `key` from its current end; the arrival time of each entry's user.
    Reads on for a second after `stop`, for entries of the last writes."""
    c = Connection(port)
    last = "$"
    arrivals = {}
    drain = None
    while drain is None or time.monotonic() < drain:
        if drain is None and stop.is_set():
            drain = time.monotonic() + 1
        reply = c.call("XREAD", "COUNT", "100000", "BLOCK", "200", "STREAMS", key, last)
        now = time.monotonic()
        if not reply:
            continue
        for entry_id, fields in reply[0][1]:
            last = entry_id
            user = fields[1]
            if user.startswith(want_prefix) and user not in arrivals:
                arrivals[user] = now
    out.put(("reader", arrivals))


def run(procs, seconds, before_stop=None):
    stop = mp.Event()
    out = mp.Queue()
    ps = [mp.Process(target=f, args=(stop, out) + a) for f, a in procs]
    for p in ps:
        p.start()
    time.sleep(seconds)
    if before_stop:
        before_stop()
    stop.set()
    results = [out.get() for _ in ps]
    for p in ps:
        p.join()
    return results


def rate(results):
    ws = [r for r in results if r[0] == "writer"]
    return sum(r[1] for r in ws) / max(r[2] for r in ws)


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


if __name__ == "__main__":
    mp.set_start_method("fork")
    c = Connection(args.port)
    report = {}
    report["paced_no_watch"] = rate(run([(writer, (args.port, 10000, 1))], args.seconds))
    report["max_no_watch"] = rate(run([(writer, (args.port, 0, 2)), (writer, (args.port, 0, 3))], args.seconds))
    report["watch_seconds"] = {}
    for name in WATCHED:
        t = time.perf_counter()
        members, _ = c.call("SEGMENT.WATCH", name)
        report["watch_seconds"][name] = (time.perf_counter() - t, members)
    results = run([(writer, (args.port, 10000, 4)), (prober, (args.port, "a")),
                   (reader, (args.port, "segment:big_spenders", "probe-a-"))], args.seconds)
    report["paced_watch"] = rate(results)
    probes = next(r[1] for r in results if r[0] == "probe")
    arrivals = next(r[1] for r in results if r[0] == "reader")
    lat = [(arrivals[u] - t) * 1000 for u, t in probes.items() if u in arrivals]
    report["probes"], report["probes_seen"] = len(probes), len(lat)
    report["latency_ms_p50"], report["latency_ms_p99"] = pct(lat, 0.5), pct(lat, 0.99)
    report["max_watch"] = rate(run([(writer, (args.port, 0, 5)), (writer, (args.port, 0, 6))], args.seconds))

    # The wave: WAVE users leave new_users in one second.
    e = int(datetime.fromisoformat(c.call("CLOCK.GET").replace("Z", "+00:00")).timestamp())
    signup = e - 14 * 86400 + 10
    c.sock.sendall(b"".join(encode("USER.SET", "wave-%d" % i, "signup_at", signup) for i in range(args.wave)))
    c.expect_ok(args.wave)
    c.call("CLOCK.SET", e + 11)  # everything before the wave's second
    stop = mp.Event()
    out = mp.Queue()
    rp = mp.Process(target=reader, args=(stop, out, args.port, "segment:new_users", "wave-"))
    rp.start()
    time.sleep(0.5)
    sent = time.monotonic()
    appended = c.call("CLOCK.SET", e + 12)
    report["wave_clock_set_ms"] = (time.monotonic() - sent) * 1000
    report["wave_appended"] = appended
    time.sleep(1.5)
    stop.set()
    arrivals = out.get()[1]
    rp.join()
    report["wave_received"] = len(arrivals)
    report["wave_last_arrival_ms"] = (max(arrivals.values()) - sent) * 1000 if arrivals else float("nan")

    # Consistency: recorded sizes against the recomputation at the last applied second.
    watches = {row[0]: row[1] for row in c.call("SEGMENT.WATCHES")}
    report["consistency"] = {name: (watches[name], c.call("SEGMENT.COUNT", name, "AT", e + 11)) for name in WATCHED}

    print("writes/s paced at 10,000: %.0f without watches, %.0f with 5 watches" % (report["paced_no_watch"], report["paced_watch"]))
    print("writes/s pipelined (2 writers): %.0f without watches, %.0f with 5 watches (%.0f%% of it)" % (
        report["max_no_watch"], report["max_watch"], 100 * report["max_watch"] / report["max_no_watch"]))
    print("SEGMENT.WATCH: " + ", ".join("%s %.2f s (%d members)" % (n, s, m) for n, (s, m) in report["watch_seconds"].items()))
    print("entry latency (write reply -> XREAD BLOCK reader), %d probes, %d seen: p50 %.2f ms, p99 %.2f ms" % (
        report["probes"], report["probes_seen"], report["latency_ms_p50"], report["latency_ms_p99"]))
    print("time-driven wave of %d users: CLOCK.SET appended %d entries in %.0f ms; reader had %d of them %.0f ms after the command was sent" % (
        args.wave, report["wave_appended"], report["wave_clock_set_ms"], report["wave_received"], report["wave_last_arrival_ms"]))
    bad = {n: v for n, v in report["consistency"].items() if v[0] != v[1]}
    print("recorded membership = recomputed at the last applied second: %s" % ("yes, all 5" if not bad else "NO: %s" % bad))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    raise SystemExit(1 if bad or report["wave_received"] != args.wave else 0)
