#!/usr/bin/env python3
"""The change feed through real clients (issue 15): redis-py's pubsub in RESP2 and RESP3,
its xread (plain and blocked), and redis-cli's `--csv SUBSCRIBE` and `XREAD`.

Usage: feed_clients.py PORT REDIS_CLI   (against a server on the demo data at
2026-07-01T00:00:00Z with a fixed clock; exits non-zero on the first mismatch)."""
import atexit
import json
import subprocess
import sys
import threading
import time

import redis

port, cli = int(sys.argv[1]), sys.argv[2]
KEY = "segment:active_riders"
ID = "1782864000000-0"
FIELDS = {"user": "fx1", "change": "entered", "at": "2026-07-01T00:00:00Z", "cause": "write"}
PAYLOAD = {"id": ID, "segment": "active_riders", **FIELDS}


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def next_message(pubsub, kind):
    for _ in range(50):
        m = pubsub.get_message(timeout=0.2)
        if m and m["type"] == kind:
            return m
    sys.exit(f"no {kind} message")


r2 = redis.Redis(port=port, protocol=2, decode_responses=True)
r3 = redis.Redis(port=port, protocol=3, decode_responses=True)
check("define", r2.execute_command("SEGMENT.DEFINE", "active_riders", 'count(ride where car = "fx", last 30d) >= 3'), "OK")
check("watch", r2.execute_command("SEGMENT.WATCH", "active_riders"), [0, "0-0"])

p2 = r2.pubsub()
p2.subscribe(KEY)
check("RESP2 subscribe", next_message(p2, "subscribe")["channel"], KEY)
p3 = r3.pubsub()
p3.psubscribe("segment:*")
check("RESP3 psubscribe", next_message(p3, "psubscribe")["channel"], "segment:*")
csv = subprocess.Popen([cli, "-p", str(port), "--csv", "SUBSCRIBE", KEY], stdout=subprocess.PIPE, text=True)
atexit.register(csv.kill)  # also when a check below exits early


def csv_line():
    """redis-cli's next CSV line, past its "Reading messages..." banner."""
    while (line := csv.stdout.readline()) and not line.startswith('"'):
        pass
    return line.strip()


check("redis-cli --csv SUBSCRIBE", csv_line(), f'"subscribe","{KEY}",1')

# A blocked XREAD (RESP3) on the still empty stream, woken by the writes below. From "0-0"
# rather than "$": should the thread start late, it finds the entry instead of missing it.
blocked = {}
waiter = threading.Thread(target=lambda: blocked.update(r=redis.Redis(port=port, protocol=3, decode_responses=True).xread({KEY: "0-0"}, block=10000)))
waiter.start()
time.sleep(0.2)
for day in ["06-05", "06-20", "06-30"]:
    check("EVENT.ADD", r2.execute_command("EVENT.ADD", "fx1", "ride", f"2026-{day}T08:00:00Z", "car", "fx"), "OK")
waiter.join(timeout=15)

m = next_message(p2, "message")
check("RESP2 message", (m["channel"], json.loads(m["data"])), (KEY, PAYLOAD))
m = next_message(p3, "pmessage")
check("RESP3 pmessage", (m["pattern"], m["channel"], json.loads(m["data"])), ("segment:*", KEY, PAYLOAD))
line = csv_line()
csv.kill()
csv.wait()
prefix = f'"message","{KEY}",'
if not line.startswith(prefix):
    sys.exit(f"redis-cli --csv message line: {line!r}")
check("redis-cli --csv payload", json.loads(json.loads(line[len(prefix):])), PAYLOAD)


def entries(reply):
    """redis-py's xread reply as [(key, [(id, fields)])]: RESP2 gives [[key, entries]],
    RESP3 {key: [entries]}."""
    if isinstance(reply, dict):
        reply = [(k, v[0]) for k, v in reply.items()]
    return [(k, [(i, dict(f)) for i, f in v]) for k, v in reply]


check("blocked RESP3 xread", entries(blocked.get("r", {})), [(KEY, [(ID, FIELDS)])])
check("RESP2 xread", entries(r2.xread({KEY: "0-0"})), [(KEY, [(ID, FIELDS)])])
check("RESP3 xread", entries(r3.xread({KEY: "0-0"})), [(KEY, [(ID, FIELDS)])])
check("xlen", r3.xlen(KEY), 1)
check("xrange", [(i, dict(f)) for i, f in r2.xrange(KEY)], [(ID, FIELDS)])
out = subprocess.run([cli, "-p", str(port), "XREAD", "COUNT", "10", "STREAMS", KEY, "0-0"], capture_output=True, text=True, check=True).stdout
check("redis-cli XREAD", out.split(), [KEY, ID, "user", "fx1", "change", "entered", "at", "2026-07-01T00:00:00Z", "cause", "write"])
print("feed clients: ok")
