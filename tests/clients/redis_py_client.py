#!/usr/bin/python3
"""redis-py (Debian's python3-redis, 4.x) against count-server's RESP port, as a user runs it.

Run by tests/e2e/redis_clients_e2e_test.cpp against a server it started on 127.0.0.1. Each mode
checks what the client got back and exits 1 with a message on stderr at the first mismatch;
every wait is bounded (socket timeouts, thread joins, retry counts).

usage: redis_py_client.py MODE --port PORT [--password PW] [--ca CA.pem] [--key NAME]
  MODE: basic | password | tls | pipeline | unique | watch
"""
import argparse
import sys
import threading

import redis

TIMEOUT = 10  # seconds, for connecting and for each reply


def fail(message):
    print(f"redis_py_client: {message}", file=sys.stderr)
    sys.exit(1)


def expect(what, got, want):
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


def connect(args, **extra):
    options = dict(host="127.0.0.1", port=args.port, socket_timeout=TIMEOUT,
                   socket_connect_timeout=TIMEOUT)
    if args.ca:
        options.update(ssl=True, ssl_ca_certs=args.ca, ssl_check_hostname=True)
    options.update(extra)
    return redis.Redis(**options)


def counter_round_trip(client, key):
    """INCR, DECR, INCRBY, DECRBY each answer the value they produced; GET agrees."""
    start = int(client.get(key))
    expect("INCR", client.incr(key), start + 1)
    expect("INCRBY 41", client.incrby(key, 41), start + 42)
    expect("DECR", client.decr(key), start + 41)
    expect("DECRBY 1", client.decrby(key, 1), start + 40)
    expect("GET", client.get(key), str(start + 40).encode())
    return start + 40


def mode_basic(args):
    client = connect(args)
    expect("PING", client.ping(), True)
    expect("GET on a fresh server", client.get(args.key), b"0")
    counter_round_trip(client, args.key)
    expect("EXISTS", client.exists(args.key), 1)
    expect("TYPE", client.type(args.key), b"string")
    # A key the server does not hold is a ResponseError; the connection stays usable.
    try:
        client.incr("other")
        fail("INCR other: no error")
    except redis.ResponseError as error:
        if "no such key" not in str(error):
            fail(f"INCR other: unexpected error {error}")
    try:
        client.set(args.key, 5)  # a command this server does not have
        fail("SET: no error")
    except redis.ResponseError as error:
        if "unknown command" not in str(error):
            fail(f"SET: unexpected error {error}")
    expect("GET after errors", client.get(args.key), b"40")
    client.close()


def mode_password(args):
    # Without the password: every request but AUTH is refused.
    try:
        connect(args).incr(args.key)
        fail("INCR without a password: no error")
    except redis.AuthenticationError:
        pass
    try:
        connect(args, password="wrong").ping()
        fail("a wrong password: no error")
    except redis.ResponseError as error:  # redis-py 4.3 maps WRONGPASS to no subclass
        if not str(error).startswith("WRONGPASS"):
            fail(f"a wrong password: unexpected error {error}")
    client = connect(args, password=args.password)
    expect("PING", client.ping(), True)
    counter_round_trip(client, args.key)
    client.close()


def mode_tls(args):
    client = connect(args, password=args.password)
    expect("PING over TLS", client.ping(), True)
    counter_round_trip(client, args.key)
    client.close()
    # A client that does not trust the server's CA refuses the connection.
    try:
        redis.Redis(host="127.0.0.1", port=args.port, ssl=True, ssl_cert_reqs="required",
                    socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT).ping()
        fail("a TLS client without the CA connected")
    except redis.ConnectionError:
        pass


def mode_pipeline(args):
    client = connect(args)
    start = int(client.get(args.key))
    # pipeline(): MULTI, the commands, EXEC in one write; the replies are EXEC's array.
    with client.pipeline() as pipe:
        for _ in range(10):
            pipe.incr(args.key)
        pipe.incrby(args.key, 5)
        pipe.get(args.key)
        results = pipe.execute()
    expect("MULTI/EXEC replies", results,
           [start + i for i in range(1, 11)] + [start + 15, str(start + 15).encode()])
    start += 15
    # pipeline(transaction=False): the commands alone, pipelined; each reply its own.
    with client.pipeline(transaction=False) as pipe:
        for _ in range(100):
            pipe.incr(args.key)
        pipe.decr(args.key)
        results = pipe.execute()
    expect("pipelined replies", results, [start + i for i in range(1, 101)] + [start + 99])
    start += 99
    # A transaction with an error inside: the others still run, the error is in its place.
    with client.pipeline() as pipe:
        pipe.incr(args.key)
        pipe.incr("other")
        pipe.incr(args.key)
        results = pipe.execute(raise_on_error=False)
    expect("EXEC array length", len(results), 3)
    expect("EXEC [0]", results[0], start + 1)
    if not isinstance(results[1], redis.ResponseError):
        fail(f"EXEC [1]: want an error, got {results[1]!r}")
    expect("EXEC [2]", results[2], start + 2)
    expect("GET", client.get(args.key), str(start + 2).encode())
    client.close()


def run_threads(count, target):
    errors = []

    def guarded(index):
        try:
            target(index)
        except Exception as error:  # reported by the main thread, which exits non-zero
            errors.append(f"thread {index}: {error!r}")

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        if thread.is_alive():
            fail("a thread did not finish within 60 s")
    if errors:
        fail("; ".join(errors))


def mode_unique(args):
    """N threads, each with its own connection, each taking M numbers with INCR."""
    threads, per_thread = 8, 500
    start = int(connect(args).get(args.key))
    taken = [[] for _ in range(threads)]

    def take(index):
        client = connect(args)
        for _ in range(per_thread):
            taken[index].append(client.incr(args.key))
        client.close()

    run_threads(threads, take)
    numbers = sorted(n for mine in taken for n in mine)
    want = list(range(start + 1, start + threads * per_thread + 1))
    if numbers != want:
        duplicates = len(numbers) - len(set(numbers))
        fail(f"{len(numbers)} numbers, {duplicates} duplicated; want exactly "
             f"{start + 1}..{start + threads * per_thread}")
    for index, mine in enumerate(taken):  # each thread saw its own numbers rise
        if mine != sorted(mine):
            fail(f"thread {index}: its numbers went down: {mine[:10]}...")
    expect("GET", int(connect(args).get(args.key)), start + threads * per_thread)


def mode_watch(args):
    """Optimistic locking: read, compute, write under WATCH, retry when someone else wrote."""
    threads, per_thread = 4, 50
    start = int(connect(args).get(args.key))
    retries = [0] * threads

    def add_twice(index):
        client = connect(args)
        for _ in range(per_thread):
            for attempt in range(1000):  # bounded: 4 writers make a handful of retries
                with client.pipeline() as pipe:
                    try:
                        pipe.watch(args.key)
                        value = int(pipe.get(args.key))
                        pipe.multi()
                        pipe.incrby(args.key, 2)
                        results = pipe.execute()
                        if results[0] % 2 != value % 2:
                            raise AssertionError(f"INCRBY 2 gave {results[0]} after {value}")
                        break
                    except redis.WatchError:
                        retries[index] += 1
            else:
                raise AssertionError("1000 retries in a row")
        client.close()

    run_threads(threads, add_twice)
    expect("GET after every transaction", int(connect(args).get(args.key)),
           start + 2 * threads * per_thread)

    # The transaction helper does the same loop; a write in between forces a retry.
    client = connect(args)
    other = connect(args)
    calls = []

    def bump(pipe):
        value = int(pipe.get(args.key))
        if not calls:
            other.incr(args.key)  # another client moves the counter after WATCH
        calls.append(value)
        pipe.multi()
        pipe.incrby(args.key, 10)

    results = client.transaction(bump, args.key)
    expect("transaction() attempts", len(calls), 2)
    expect("transaction() result", results, [calls[1] + 10])
    print(f"watch: {sum(retries)} retries over {threads * per_thread} transactions")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["basic", "password", "tls", "pipeline", "unique",
                                         "watch"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--password")
    parser.add_argument("--ca", help="speak TLS, trusting this CA")
    parser.add_argument("--key", default="count")
    args = parser.parse_args()
    print(f"redis-py {redis.__version__}")
    globals()["mode_" + args.mode](args)
    print(f"{args.mode}: ok")


if __name__ == "__main__":
    main()
