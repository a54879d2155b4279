"""The peers' side of `cargo bench --bench files`: Plumbum and Paramiko doing what plumb
does, on the same sshd and user. Reads one JSON line of settings, then commands
`PEER OP ITERS` and answers each with the seconds one iteration took, so that the Rust
harness alternates rounds of theirs and ours in one run."""

import json
import os
import sys
import time

import paramiko
from plumbum import SshMachine
from plumbum.machines.paramiko_machine import ParamikoMachine


def machines(cfg):
    opts = [
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "UserKnownHostsFile=" + cfg["known_hosts"],
    ]
    ssh = SshMachine(
        "127.0.0.1", user=cfg["user"], port=cfg["port"], keyfile=cfg["key"],
        ssh_opts=opts, scp_opts=opts,
    )
    paramiko_m = ParamikoMachine(
        "127.0.0.1", user=cfg["user"], port=cfg["port"], keyfile=cfg["key"],
        load_system_host_keys=False, missing_host_policy=paramiko.AutoAddPolicy(),
    )
    return {"plumbum_ssh": ssh, "paramiko": paramiko_m}


def operations(m, cfg, peer):
    small = m.path(cfg["small"])
    out = m.path(cfg["out"])
    data = b"x" * 4096
    many = cfg["many"]
    if peer == "paramiko":
        list_many = lambda: m.sftp.listdir_attr(many)
    else:
        list_many = lambda: m.path(many).list()
    session = m.session()
    return {
        "session_true": lambda: session.run("true"),
        "session_bin_true": lambda: session.run("/bin/true"),
        "exists": lambda: small.exists(),
        "stat": lambda: small.stat(),
        "read4k": lambda: small.read(),
        "write4k": lambda: out.write(data),
        "listdir": list_many,
        "upload": lambda: m.upload(cfg["big_local"], cfg["big_remote"]),
        "download": lambda: m.download(cfg["big_remote"], cfg["big_back"]),
        "true": lambda: m["true"](),
    }


def main():
    cfg = json.loads(sys.stdin.readline())
    ms = machines(cfg)
    ops = {peer: operations(m, cfg, peer) for peer, m in ms.items()}
    print("ready", flush=True)
    for line in sys.stdin:
        peer, op, iters = line.split()
        f = ops[peer][op]
        t = time.perf_counter()
        for _ in range(int(iters)):
            f()
        print((time.perf_counter() - t) / int(iters), flush=True)
    # Skip Paramiko's destructors, which complain at interpreter exit.
    os._exit(0)


main()
