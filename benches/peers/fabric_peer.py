"""The Fabric peer of `cargo bench --bench fleet`: Fabric's `ThreadingGroup` (Paramiko, a
thread per host) running `uname -n` on HOSTS logins to one sshd and collecting every
output, as plumb's `Group::connect_all` + `output` does.

Usage: fabric_peer.py PORT USER KEY HOSTS fresh|reuse ITERS. Prints the seconds one
iteration took and the peak RSS of this process in KiB, as pssh_peer.py does."""

import resource
import sys
import time

from fabric import Connection, ThreadingGroup


class Host(Connection):
    """A connection told apart from the others to the same address: a group's results are
    a dict keyed by connection, and all the hosts here are one sshd."""

    def __init__(self, index, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index

    def _identity(self):
        return (self.index,) + tuple(super()._identity())


def group(port, user, key, n):
    kwargs = {"key_filename": key, "look_for_keys": False, "allow_agent": False}
    hosts = [Host(i, "127.0.0.1", port=port, user=user, connect_kwargs=kwargs) for i in range(n)]
    return ThreadingGroup.from_connections(hosts)


def run(g, n):
    results = g.run("uname -n", hide=True)
    answered = sum(1 for r in results.values() if r.stdout)
    assert answered == n, f"{answered} of {n} hosts answered"


def main():
    port, user, key, n, mode, iters = sys.argv[1:]
    port, n, iters = int(port), int(n), int(iters)
    if mode == "reuse":
        g = group(port, user, key, n)
        run(g, n)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        if mode == "fresh":
            g = group(port, user, key, n)
            run(g, n)
            g.close()
        else:
            run(g, n)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = (time.process_time() - cpu) / iters
    print((time.perf_counter() - start) / iters, peak_kib, cpu)


main()
