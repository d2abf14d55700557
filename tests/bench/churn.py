#!/usr/bin/env python3
"""Registry churn for tests/bench/bench.sh: PATCHes instances' "state" between
"enabled" and "draining" through rotor's HTTP API at a fixed rate, while
dnsperf measures the DNS side. Every change is a registry write (committed to
the database, then published in the next snapshot), so this is the cost of a
busy control plane on the query path.

A share of the changes (--bench-share) goes to the benchmarked array's
--bench-addresses (flipped between --bench-states), the rest to every
instance of the --arrays (enabled <-> draining). Each connection
owns its own targets, so one instance is never patched by two connections at
once and every PATCH really flips its state.

Prints one line: "churn: requested R/s sent N ok M errors E in T s: achieved X/s"
(and the first error, if any, on stderr). Exit status 0 unless nothing could
be set up.
"""

import argparse
import http.client
import json
import socket
import sys
import threading
import time


class Connection(http.client.HTTPConnection):
    """A keep-alive connection that does not wait on delayed ACKs. Both sides
    may write a message in two parts (headers, then body): with Nagle's
    algorithm on, the second part waits for the ACK of the first, which the
    peer delays by up to 40 ms once the connection is past its first
    exchanges. rotor's API sets TCP_NODELAY on its connections
    (api/guarded_server.cc); the client turns Nagle off on its own side and
    still ACKs at once (TCP_QUICKACK, which the kernel clears again, hence
    before every response), which costs nothing and keeps the driver right
    against a rotor that left Nagle on."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def getresponse(self):
        if self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return super().getresponse()


def get_json(conn, path, token):
    headers = {"Authorization": "Bearer " + token} if token else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
    return json.loads(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", required=True, help="HOST:PORT of rotor's API")
    parser.add_argument("--token", default="", help="bearer token, if the API has one")
    parser.add_argument("--rate", type=float, default=1000.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--arrays", required=True, help="comma-separated arrays to churn")
    parser.add_argument("--bench-array", default="", help="the array dnsperf queries")
    parser.add_argument("--bench-addresses", default="",
                        help="comma-separated addresses of --bench-array to churn")
    parser.add_argument("--bench-share", type=float, default=0.1,
                        help="share of the changes that go to --bench-array")
    parser.add_argument("--bench-states", default="enabled,draining",
                        help="the two states --bench-addresses flip between")
    args = parser.parse_args()

    host, port = args.api.rsplit(":", 1)
    setup = Connection(host, int(port), timeout=10)
    others = []
    for name in filter(None, args.arrays.split(",")):
        for instance in get_json(setup, f"/v1/arrays/{name}/instances", args.token):
            others.append((name, instance["id"], instance["state"]))
    bench = []
    if args.bench_array:
        wanted = set(filter(None, args.bench_addresses.split(",")))
        for instance in get_json(setup, f"/v1/arrays/{args.bench_array}/instances", args.token):
            if not wanted or instance["address"] in wanted:
                bench.append((args.bench_array, instance["id"], instance["state"]))
    setup.close()
    if not others and not bench:
        print("churn: no instances to change", file=sys.stderr)
        return 1

    bench_states = tuple(args.bench_states.split(","))
    if len(bench_states) != 2:
        print("churn: --bench-states takes two states, e.g. draining,disabled", file=sys.stderr)
        return 1
    connections = max(1, args.connections)
    # Changes are numbered; change k is due at start + k / rate, goes to the
    # benchmarked array when it falls in its share, and is sent by connection
    # k % connections. Targets are split between connections the same way.
    bench_every = round(1 / args.bench_share) if bench and args.bench_share > 0 else 0
    total = int(args.rate * args.seconds)
    counts = [[0, 0, 0] for _ in range(connections)]  # sent, ok, errors
    first_error = []
    start = time.monotonic() + 0.05

    def worker(index):
        conn = Connection(host, int(port), timeout=10)
        headers = {"Content-Type": "application/json"}
        if args.token:
            headers["Authorization"] = "Bearer " + args.token
        mine_bench = [t for i, t in enumerate(bench) if i % connections == index] or bench
        mine_other = [t for i, t in enumerate(others) if i % connections == index] or others
        states = {}
        next_bench = next_other = 0
        for k in range(index, total, connections):
            due = start + k / args.rate
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now > start + args.seconds:
                break  # behind schedule at the end: stop on time, report the rate achieved
            if bench_every and k % bench_every == 0:
                name, iid, state = mine_bench[next_bench % len(mine_bench)]
                next_bench += 1
            else:
                name, iid, state = mine_other[next_other % len(mine_other)]
                next_other += 1
            current = states.get((name, iid), state)
            first, second = bench_states if name == args.bench_array else ("enabled", "draining")
            new = second if current == first else first
            body = json.dumps({"state": new})
            counts[index][0] += 1
            try:
                conn.request("PATCH", f"/v1/arrays/{name}/instances/{iid}", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status == 200:
                    counts[index][1] += 1
                    states[(name, iid)] = new
                else:
                    counts[index][2] += 1
                    if not first_error:
                        first_error.append(f"PATCH {name}/{iid}: {response.status} {payload[:200]!r}")
            except (OSError, http.client.HTTPException) as error:
                counts[index][2] += 1
                if not first_error:
                    first_error.append(f"PATCH {name}/{iid}: {error}")
                conn.close()
                conn = Connection(host, int(port), timeout=10)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(time.monotonic() - start, 1e-9)
    sent = sum(c[0] for c in counts)
    ok = sum(c[1] for c in counts)
    errors = sum(c[2] for c in counts)
    if first_error:
        print("churn: first error: " + first_error[0], file=sys.stderr)
    print(f"churn: requested {args.rate:.0f}/s sent {sent} ok {ok} errors {errors} "
          f"in {elapsed:.2f} s: achieved {ok / elapsed:.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
