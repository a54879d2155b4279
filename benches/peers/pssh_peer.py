"""The peer of `cargo bench --bench fleet`: parallel-ssh (libssh2 plus one gevent loop, one
session per host) running `uname -n` on HOSTS logins to one sshd and collecting every
output, as plumb's `Group::connect_all` + `output` does.

Usage: pssh_peer.py PORT USER KEY HOSTS fresh|reuse|upload ITERS [LOCAL REMOTE]. `upload`
copies LOCAL to REMOTE on every host (`copy_file`, SFTP) over a client connected before
the clock starts. Prints the seconds one iteration
took, the peak RSS of this process in KiB and its CPU seconds (user and system) per
iteration: `fresh` connects anew each iteration (the client is made, run and disconnected),
`reuse` runs over one client connected before the clock starts."""

import resource
import sys
import time

from gevent import joinall
from pssh.clients import ParallelSSHClient


def client(port, user, key, n):
    return ParallelSSHClient(["127.0.0.1"] * n, port=port, user=user, pkey=key, pool_size=n)


def run(c, n):
    output = c.run_command("uname -n", stop_on_errors=True)
    c.join(output)
    answered = sum(1 for o in output if list(o.stdout))
    assert answered == n, f"{answered} of {n} hosts answered"


def close(c):
    # parallel-ssh 2.x: disconnect where it exists, else the sessions end with the client.
    getattr(c, "disconnect", lambda: None)()


def upload(c, local, remote):
    joinall(c.copy_file(local, remote), raise_error=True)


def main():
    port, user, key, n, mode, iters = sys.argv[1:7]
    port, n, iters = int(port), int(n), int(iters)
    if mode in ("reuse", "upload"):
        c = client(port, user, key, n)
        run(c, n)
    if mode == "upload":
        upload(c, *sys.argv[7:9])  # each host's SFTP session, opened before the clock
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        if mode == "fresh":
            c = client(port, user, key, n)
            run(c, n)
            close(c)
        elif mode == "upload":
            upload(c, *sys.argv[7:9])
        else:
            run(c, n)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = (time.process_time() - cpu) / iters
    print((time.perf_counter() - start) / iters, peak_kib, cpu)


main()
