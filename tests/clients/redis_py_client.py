#!/usr/bin/python3
"""Application code as users write it, with Debian's redis-py, against a
running 3-DC geokv cluster: transactional pipelines and sessions with a TTL.

    redis_py_client.py PORT_DC1 PORT_DC2 PORT_DC3

Exits non-zero (with the failing check) when a reply is not what Redis would
give, or a write does not reach every datacenter in time.
"""
import sys
import time

import redis


def eventually(check, what, seconds=10.0):
    """Polls check() until it is true, bounded; fails with `what` otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    sys.exit(f"FAIL: {what} (after {seconds} s)")


def expect(got, want, what):
    if got != want:
        sys.exit(f"FAIL: {what}: got {got!r}, want {want!r}")


def main():
    ports = [int(p) for p in sys.argv[1:4]]
    dcs = [redis.Redis(host="127.0.0.1", port=p, decode_responses=True) for p in ports]
    dc1, dc2, dc3 = dcs

    # A transactional pipeline (redis-py's default): MULTI ... EXEC.
    with dc1.pipeline() as pipe:
        pipe.set("cart:{u42}:owner", "u42")
        pipe.hincrby("cart:{u42}", "sku-1", 2)
        pipe.hincrby("cart:{u42}", "sku-2", 1)
        pipe.sadd("carts:{u42}", "c1")
        pipe.incr("visits:{u42}")
        pipe.hgetall("cart:{u42}")
        got = pipe.execute()
    expect(got, [True, 2, 1, 1, 1, {"sku-1": "2", "sku-2": "1"}], "transactional pipeline")

    # Optimistic locking with WATCH, as redis-py's transaction() helper does it.
    def reserve(pipe):
        stock = int(pipe.get("stock:{item}") or 0)
        pipe.multi()
        pipe.set("stock:{item}", stock - 1)

    dc1.set("stock:{item}", 10)
    dc1.transaction(reserve, "stock:{item}")
    expect(dc1.get("stock:{item}"), "9", "WATCH/MULTI/EXEC transaction")

    # Every DC sees the transaction's writes.
    for i, dc in enumerate(dcs):
        eventually(lambda dc=dc: dc.hgetall("cart:{u42}") == {"sku-1": "2", "sku-2": "1"},
                   f"cart replicated to dc{i + 1}")

    # Sessions with a TTL: written at dc2, visible everywhere with a TTL, gone
    # everywhere after it.
    expect(dc2.set("session:abc", "user=u42", ex=2), True, "SET EX")
    ttl = dc2.ttl("session:abc")
    if not 0 < ttl <= 2:
        sys.exit(f"FAIL: TTL of a fresh session: {ttl}")
    for i, dc in enumerate(dcs):
        eventually(lambda dc=dc: dc.get("session:abc") == "user=u42",
                   f"session visible at dc{i + 1}")
        eventually(lambda dc=dc: 0 < dc.pttl("session:abc") <= 2000,
                   f"session TTL replicated to dc{i + 1}")
    # A session refreshed with EXPIRE at one DC keeps living everywhere.
    dc1.set("session:keep", "x", ex=1)
    eventually(lambda: dc3.get("session:keep") == "x", "session visible at dc3")
    expect(dc3.expire("session:keep", 100), True, "EXPIRE")
    time.sleep(2.5)
    for i, dc in enumerate(dcs):
        eventually(lambda dc=dc: dc.get("session:abc") is None,
                   f"expired session gone at dc{i + 1}")
        eventually(lambda dc=dc: dc.get("session:keep") == "x",
                   f"refreshed session alive at dc{i + 1}")

    # A pipeline without a transaction, and a lock with SET NX PX.
    with dc3.pipeline(transaction=False) as pipe:
        for i in range(100):
            pipe.incr("counter:{c}")
        got = pipe.execute()
    expect(got[-1], 100, "non-transactional pipeline")
    expect(dc3.set("lock:{r}", "me", nx=True, px=5000), True, "SET NX PX (free lock)")
    expect(dc3.set("lock:{r}", "you", nx=True, px=5000), None, "SET NX PX (held lock)")
    print("redis-py: all checks passed")


if __name__ == "__main__":
    main()
