"""The soak (issue 11): `cohort serve` for a given time under concurrent writers, readers
and misbehaving clients, with periodic SNAPSHOTs and a SIGKILL + restart every few
minutes; at the end every acknowledged write must be present and every answer must equal
that of a fresh engine loaded from the same data plus the writes that were applied.

Usage (Benchmarks/soak.sh sets it up):
  soak.py BIN DATA WORK --minutes M --kill-every S --snapshot-every S

DATA holds `cohort gen` output; WORK gets the data directories and logs. Writers own
disjoint users and give every event a unique time, so each user's event count says
exactly which writes were applied; a write whose reply was lost to a kill is
"uncertain" and is resolved from that count (it may or may not have been applied, but
it must be all or nothing). Prints RSS over time, latency p50/p99 per window for the
reads, restarts, abuse rounds, and the verification."""
import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from resp import Connection, encode  # noqa: E402

NOW = "2026-07-01"
NOW_EPOCH = 1_782_864_000
WINDOW = 60 * 86_400  # writers' event times: the 60 days before NOW
WRITERS, READERS = 2, 2
USERS_PER_WRITER = 2_000
PHASE_SECONDS = 30


def wait_for_port(port, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = Connection(port)
            if c.call("PING") == "PONG":
                return c
        except (OSError, ConnectionError, RuntimeError):
            time.sleep(0.2)
    raise SystemExit(f"server on {port} did not answer within {timeout} s")


def connect(port, stop):
    while not stop.is_set():
        try:
            return Connection(port)
        except OSError:
            time.sleep(0.1)
    return None


def writer(k, port, users, stop, out):
    """EVENT.ADD (unique times) and USER.SET plan on its own users, one at a time."""
    rng = random.Random(k)
    acked = {u: [] for u in users}  # event times acknowledged, per user
    plan = {}
    uncertain = []  # (user, kind, value) whose reply never came
    counter = 0
    conn = None
    ops = 0
    while not stop.is_set():
        if conn is None:
            conn = connect(port, stop)
            if conn is None:
                break
        user = rng.choice(users)
        counter += 1
        if counter % 5 == 0:
            op = ("plan", f"p{counter}")
            words = ("USER.SET", user, "plan", op[1])
        else:
            # Distinct per writer and op for the first 60 days' worth of seconds, all in the past.
            t = NOW_EPOCH - 1 - (counter * WRITERS + k) % WINDOW
            op = ("event", t)
            words = ("EVENT.ADD", user, "ride", str(t), "cost", "1.5", "car", "zoe")
        try:
            reply = conn.call(*words)
        except (OSError, ConnectionError):
            uncertain.append((user, op[0], op[1]))
            conn = None
            continue
        except RuntimeError as e:
            raise SystemExit(f"writer {k}: {words[0]} refused: {e}")
        if reply != "OK":
            raise SystemExit(f"writer {k}: {words[0]} answered {reply!r}")
        if op[0] == "event":
            acked[user].append(op[1])
        else:
            plan[user] = op[1]
        ops += 1
    json.dump({"acked": acked, "plan": plan, "uncertain": uncertain, "ops": ops}, open(out, "w"))


def reader(k, port, user_count, stop, out):
    """SEGMENT.CHECK / AGG.GET on random users, a windowed SEGMENT.COUNT now and then;
    latencies with their wall time."""
    rng = random.Random(100 + k)
    samples = []  # (wall time, kind, seconds)
    errors = 0
    conn = None
    i = 0
    while not stop.is_set():
        if conn is None:
            conn = connect(port, stop)
            if conn is None:
                break
        i += 1
        user = "u%07d" % rng.randrange(user_count)
        if i % 100 == 0:
            kind, words = "count", ("SEGMENT.COUNT", "count(ride, last 30d) >= 3")
        elif i % 2:
            kind, words = "check", ("SEGMENT.CHECK", "premium_eligible", user)
        else:
            kind, words = "agg", ("AGG.GET", user, "count(ride, last 30d)")
        start = time.perf_counter()
        try:
            conn.call(*words)
        except (OSError, ConnectionError):
            errors += 1
            conn = None
            continue
        samples.append((time.time(), kind, time.perf_counter() - start))
    json.dump({"samples": samples, "errors": errors}, open(out, "w"))


def abuser(port, stop, out):
    """Rounds of what issue 11 tried: pipelining large replies without reading, half-sent
    requests, garbage, deep nesting, a huge definition, a huge overlap."""
    rounds = {"no_read": 0, "half_sent": 0, "garbage": 0, "deep": 0, "huge_define": 0}
    rng = random.Random(7)
    members = encode("SEGMENT.MEMBERS", "verified", "COUNT", "5000") * 200
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(1)
            end = time.time() + 5
            try:
                while time.time() < end and not stop.is_set():
                    s.sendall(members)
            except OSError:
                pass
            s.close()
            rounds["no_read"] += 1
            half = []
            for _ in range(20):
                h = socket.create_connection(("127.0.0.1", port))
                h.sendall(b"*3\r\n$13\r\nSEGMENT.CHECK\r\n$16\r\npremium_eli")
                half.append(h)
            time.sleep(3)
            for h in half:
                h.close()
            rounds["half_sent"] += 1
            g = socket.create_connection(("127.0.0.1", port))
            g.sendall(bytes(rng.randrange(256) for _ in range(4096)))
            g.close()
            rounds["garbage"] += 1
            c = Connection(port)
            for words in (("SEGMENT.COUNT", "(" * 100_000 + "verified" + ")" * 100_000),
                          ("EVENT.DEFINE", "big", *[f"p{i}:int" for i in range(100_000)]),
                          ("SEGMENT.OVERLAP", *[f'plan = "p{i}"' for i in range(1000)])):
                try:
                    c.call(*words)
                    raise SystemExit(f"abuse {words[0]} was accepted")
                except RuntimeError:
                    pass
            c.sock.close()
            rounds["deep"] += 1
            rounds["huge_define"] += 1
        except (OSError, ConnectionError):
            time.sleep(0.5)  # the server is restarting
    json.dump(rounds, open(out, "w"))


class Server:
    def __init__(self, bin, data_dir, port, log):
        self.args = [bin, "serve", "--data-dir", data_dir, "--port", str(port), "--now", NOW, "--appendfsync", "always",
                     "--snapshot-interval", "0", "--client-output-buffer-limit", "64mb", "8mb", "5", "--timeout", "30"]
        self.port, self.log = port, log
        self.proc = None

    def start(self):
        started = time.time()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        wait_for_port(self.port).sock.close()
        return time.time() - started

    def rss(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return 0
        return 0

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        if self.proc.wait(timeout=600) != 0:
            raise SystemExit(f"SIGTERM exit status {self.proc.returncode}")


def print_memory(port, when):
    """The engine's accounting against the allocator's and the kernel's (issue 11: close to RSS?)."""
    c = Connection(port)
    info = dict(l.split(":", 1) for l in c.call("INFO").split("\r\n") if ":" in l)
    c.sock.close()
    mb = {k: int(info[k]) >> 20 for k in ("used_memory_dataset", "used_memory", "used_memory_rss")}
    print("memory %s: dataset (engine's count) %d MB, allocator %d MB, RSS %d MB" % (when, mb["used_memory_dataset"], mb["used_memory"], mb["used_memory_rss"]), flush=True)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def percentiles(values):
    if not values:
        return "-"
    v = sorted(values)
    return "p50 %.2f ms, p99 %.2f ms (n=%d)" % (1000 * v[len(v) // 2], 1000 * v[min(len(v) - 1, int(len(v) * 0.99))], len(v))


def load(bin, data, data_dir):
    subprocess.run([bin, "load", "--data-dir", data_dir, "--schema", f"{data}/schema.cohort", "--users", f"{data}/users.csv",
                    "--events", f"{data}/events.csv"], check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("data")
    ap.add_argument("work")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--kill-every", type=float, default=300)
    ap.add_argument("--snapshot-every", type=float, default=60)
    ap.add_argument("--port", type=int, default=7395)
    args = ap.parse_args()
    user_count = sum(1 for _ in open(f"{args.data}/users.csv")) - 1
    soak_dir = f"{args.work}/soak"
    print(f"loading {user_count} users", flush=True)
    load(args.bin, args.data, soak_dir)
    server = Server(args.bin, soak_dir, args.port, f"{args.work}/soak.log")
    print("start: %.1f s" % server.start(), flush=True)
    print_memory(args.port, "loaded")

    # Writers' users: disjoint, spread over the population; their counts before.
    rng = random.Random(42)
    chosen = rng.sample(range(user_count), WRITERS * USERS_PER_WRITER)
    partitions = [["u%07d" % i for i in chosen[k::WRITERS]] for k in range(WRITERS)]
    c = Connection(args.port)
    baseline = {}
    for users in partitions:
        for u in users:
            baseline[u] = c.call("AGG.GET", u, "count(ride)")[0] or 0
    c.sock.close()

    stop = mp.Event()
    # Phases: readers alone (quiet), readers with the abuser (does one misbehaving client
    # move anyone's latency?), then everything with snapshots and kills.
    readers = [mp.Process(target=reader, args=(k, args.port, user_count, stop, f"{args.work}/reader{k}.json")) for k in range(READERS)]
    abuse = mp.Process(target=abuser, args=(args.port, stop, f"{args.work}/abuser.json"))
    writers = [mp.Process(target=writer, args=(k, args.port, partitions[k], stop, f"{args.work}/writer{k}.json")) for k in range(WRITERS)]
    procs = readers + [abuse] + writers
    phases = [("quiet", time.time())]
    for p in readers:
        p.start()
    time.sleep(PHASE_SECONDS)
    phases.append(("with the abuser", time.time()))
    abuse.start()
    time.sleep(PHASE_SECONDS)
    phases.append(("everything", time.time()))
    for p in writers:
        p.start()

    began = time.time()
    end = began + 60 * args.minutes
    next_snapshot, next_kill, next_rss = began + args.snapshot_every, began + args.kill_every, began
    rss, events = [], []
    while time.time() < end:
        now = time.time()
        if now >= next_rss:
            rss.append((now - began, server.rss()))
            next_rss += 10
        if now >= next_snapshot:
            t = time.time()
            try:
                s = Connection(args.port)
                s.call("SNAPSHOT")
                s.sock.close()
                events.append("%5.0f s  SNAPSHOT %.1f s" % (now - began, time.time() - t))
            except (OSError, ConnectionError, RuntimeError) as e:
                events.append("%5.0f s  SNAPSHOT failed: %s" % (now - began, e))
            next_snapshot += args.snapshot_every
        if now >= next_kill and now + 30 < end:
            server.kill()
            events.append("%5.0f s  SIGKILL, restarted in %.1f s" % (now - began, server.start()))
            next_kill += args.kill_every
        time.sleep(0.2)
    stop.set()
    for p in procs:
        p.join(timeout=120)
        if p.exitcode != 0:
            raise SystemExit(f"a load process failed (exit {p.exitcode})")
    rss.append((time.time() - began, server.rss()))
    print_memory(args.port, "at the end")
    server.stop()
    print("restart after SIGTERM: %.1f s" % server.start(), flush=True)

    print("\nevents:")
    for e in events:
        print("  " + e)
    print("RSS over time (MB): " + ", ".join("%d s %d" % (t, r >> 20) for t, r in rss))
    results = [json.load(open(f"{args.work}/reader{k}.json")) for k in range(READERS)]
    samples = [s for r in results for s in r["samples"]]
    bounds = [t for _, t in phases] + [float("inf")]
    for i, (name, start) in enumerate(phases):
        for kind in ("check", "agg", "count"):
            print(f"phase {name}, {kind}: " + percentiles([d for t, k, d in samples if k == kind and start <= t < bounds[i + 1]]))
    print("read errors (connections lost to kills): %d" % sum(r["errors"] for r in results))
    window = 60
    for kind in ("check", "agg", "count"):
        print(f"{kind}: overall " + percentiles([s[2] for s in samples if s[1] == kind]))
        per = {}
        for t, k, d in samples:
            if k == kind:
                per.setdefault(int((t - began) // window), []).append(d)
        print("  per minute p99 ms: " + ", ".join("%.1f" % (1000 * sorted(v)[min(len(v) - 1, int(len(v) * .99))]) for _, v in sorted(per.items())))
    print("abuse rounds: " + json.dumps(json.load(open(f"{args.work}/abuser.json"))))

    # Every acknowledged write is there; each uncertain one is applied whole or not at all.
    writers = [json.load(open(f"{args.work}/writer{k}.json")) for k in range(WRITERS)]
    print("writes acknowledged: %d, uncertain (reply lost to a kill): %d"
          % (sum(w["ops"] for w in writers), sum(len(w["uncertain"]) for w in writers)))
    c = Connection(args.port)
    failures = 0
    replay = []  # the writes the soak server holds, to load into the fresh engine
    for k, w in enumerate(writers):
        uncertain_plans = {u for u, kind, _ in w["uncertain"] if kind == "plan"}
        resolved = {u: [] for u in partitions[k]}
        for user, kind, t in w["uncertain"]:
            if kind == "event" and c.call("AGG.GET", user, f'count(ride, from "{iso(t)}" to "{iso(t + 1)}")')[0] == 1:
                resolved[user].append(t)
        for user in partitions[k]:
            count = c.call("AGG.GET", user, "count(ride)")[0] or 0
            times = w["acked"][user] + resolved[user]
            if count != baseline[user] + len(times):
                failures += 1
                print(f"  {user}: {count} rides, expected {baseline[user]} + {len(w['acked'][user])} acknowledged + {len(resolved[user])} resolved")
            replay += [("EVENT.ADD", user, "ride", str(t), "cost", "1.5", "car", "zoe") for t in times]
            if user in w["plan"] or user in uncertain_plans:
                fields = c.call("USER.GET", user)
                plan = dict(zip(fields[::2], fields[1::2])).get("plan")
                if user in w["plan"] and plan != w["plan"][user] and user not in uncertain_plans:
                    failures += 1
                    print(f"  {user}: plan {plan!r}, last acknowledged {w['plan'][user]!r}")
                replay.append(("USER.SET", user, "plan", plan))
    print("acknowledged writes present: " + ("yes" if failures == 0 else f"NO, {failures} differ"), flush=True)

    # The same answers as a fresh engine loaded from the same data and the same writes.
    fresh_dir = f"{args.work}/fresh"
    load(args.bin, args.data, fresh_dir)
    fresh = Server(args.bin, fresh_dir, args.port + 1, f"{args.work}/fresh.log")
    fresh.start()
    f = Connection(args.port + 1)
    for i in range(0, len(replay), 1000):
        chunk = replay[i:i + 1000]
        f.sock.sendall(b"".join(encode(*words) for words in chunk))
        f.expect_ok(len(chunk))
    segments = [row[0] for row in c.call("SEGMENT.LIST")]
    differences = 0
    for name in segments:
        a, b = c.call("SEGMENT.COUNT", name), f.call("SEGMENT.COUNT", name)
        if a != b:
            differences += 1
            print(f"  SEGMENT.COUNT {name}: soak {a}, fresh {b}")
    sample = [u for users in partitions for u in users] + ["u%07d" % i for i in random.Random(5).sample(range(user_count), 1000)]
    values = ("count(ride)", "sum(ride.cost, last 30d)", "last(ride)", "first(ride)", "distinct(ride.car)")
    for user in sample:
        a, b = c.call("AGG.GET", user, *values), f.call("AGG.GET", user, *values)
        if a != b:
            differences += 1
            print(f"  AGG.GET {user}: soak {a}, fresh {b}")
    print("answers equal to a fresh engine (%d segments, %d users x %d values): %s"
          % (len(segments), len(sample), len(values), "yes" if differences == 0 else f"NO, {differences} differ"), flush=True)
    f.sock.close()
    c.sock.close()
    fresh.stop()
    server.stop()
    sys.exit(1 if failures or differences else 0)


if __name__ == "__main__":
    main()
