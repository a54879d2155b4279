#!/usr/bin/env python3
"""A hostile SFTP server, run by a real sshd as its `sftp` subsystem in the tests of
tests/it/hostile_sftp.rs. It answers INIT correctly, then misbehaves in the one way its
first argument names:

  endless-readdir     READDIR never says EOF: the same 100 names, round after round
  dots-forever        READDIR never says EOF: only `.` and `..`, round after round
  huge-packet         the first reply declares a packet of almost 4 GiB, then streams zeros
  name-count          READDIR answers a NAME that claims 2^31 entries
  string-past-packet  OPENDIR answers a handle whose length runs past the packet
  long-handle         OPENDIR answers a handle of 100 000 bytes
  read-too-long       READ answers 4 KiB more than was asked
  attrs-extensions    STAT and LSTAT answer attributes that claim 2^31 extensions
  slash-name          READDIR answers the name `../../escape`
  readlink-count      READLINK answers a NAME of three names
  lying-readdir       a proxy to OpenSSH's sftp-server (its path is the second argument)
                      whose READDIR says every symlink is a directory, as a server that
                      follows links when listing does

Everything it does not misbehave on gets a plausible answer: a directory for a stat, a
handle for an open, OK for a close.
"""

import os
import struct
import subprocess
import sys
import threading

INIT, VERSION, OPEN, CLOSE, READ = 1, 2, 3, 4, 5
LSTAT, STAT, OPENDIR, READDIR, READLINK = 7, 17, 11, 12, 19
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
FX_OK, FX_EOF, FX_OP_UNSUPPORTED = 0, 1, 8
ATTR_PERMISSIONS, ATTR_EXTENDED = 0x04, 0x80000000
S_IFDIR, S_IFLNK = 0o040000, 0o120000

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
# The requests answered once already, where a mode answers only once.
SENT = []
IN = sys.stdin.buffer
OUT = sys.stdout.buffer


def read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def read_packet(stream):
    (length,) = struct.unpack(">I", read_exact(stream, 4))
    return read_exact(stream, length)


def send(kind, body):
    OUT.write(struct.pack(">IB", len(body) + 1, kind) + body)
    OUT.flush()


def u32(v):
    return struct.pack(">I", v)


def string(b):
    return u32(len(b)) + b


def dir_attrs():
    return u32(ATTR_PERMISSIONS) + u32(S_IFDIR | 0o755)


def status(rid, code, message=b""):
    send(STATUS, u32(rid) + u32(code) + string(message) + string(b""))


def name_entries(names):
    return u32(len(names)) + b"".join(
        string(n) + string(n) + dir_attrs() for n in names
    )


def readdir(rid):
    if MODE == "endless-readdir":
        send(NAME, u32(rid) + name_entries([b"f%d" % i for i in range(100)]))
    elif MODE == "dots-forever":
        send(NAME, u32(rid) + name_entries([b".", b".."]))
    elif MODE == "name-count":
        send(NAME, u32(rid) + u32(1 << 31) + string(b"a") + string(b"a") + dir_attrs())
    elif MODE == "slash-name" and not SENT:
        SENT.append(rid)
        send(NAME, u32(rid) + name_entries([b"../../escape"]))
    else:
        status(rid, FX_EOF)


def handle(rid, h):
    if MODE == "string-past-packet":
        send(HANDLE, u32(rid) + u32(1000) + b"h")
    elif MODE == "long-handle":
        send(HANDLE, u32(rid) + string(b"h" * 100000))
    else:
        send(HANDLE, u32(rid) + string(h))


def stat(rid):
    if MODE == "attrs-extensions":
        send(ATTRS, u32(rid) + u32(ATTR_EXTENDED) + u32(1 << 31) + string(b"x") + string(b"y"))
    else:
        send(ATTRS, u32(rid) + dir_attrs())


def read(rid, body):
    (length,) = struct.unpack(">I", body[-4:])
    if MODE == "read-too-long":
        send(DATA, u32(rid) + string(b"x" * (length + 4096)))
    else:
        status(rid, FX_EOF)


def readlink(rid):
    if MODE == "readlink-count":
        send(NAME, u32(rid) + name_entries([b"/a", b"/b", b"/c"]))
    else:
        send(NAME, u32(rid) + name_entries([b"/target"]))


def serve():
    while True:
        packet = read_packet(IN)
        kind, body = packet[0], packet[1:]
        if kind == INIT:
            send(VERSION, u32(3))
            continue
        (rid,) = struct.unpack(">I", body[:4])
        if MODE == "huge-packet":
            OUT.write(u32(0xFFFFFFF0))
            while True:
                OUT.write(b"\0" * 65536)
                OUT.flush()
        if kind == READDIR:
            readdir(rid)
        elif kind == OPENDIR:
            handle(rid, b"d")
        elif kind == OPEN:
            handle(rid, b"f")
        elif kind in (STAT, LSTAT):
            stat(rid)
        elif kind == READ:
            read(rid, body)
        elif kind == READLINK:
            readlink(rid)
        elif kind == CLOSE:
            status(rid, FX_OK)
        else:
            status(rid, FX_OP_UNSUPPORTED)


def lying_readdir(server_path):
    """Forwards both ways; READDIR replies have their symlinks turned into directories."""
    server = subprocess.Popen([server_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    readdirs = set()
    lock = threading.Lock()

    def to_server():
        while True:
            try:
                packet = read_packet(IN)
            except SystemExit:
                # The client left: so does the server, whose end ends the main loop.
                server.stdin.close()
                return
            if packet[0] == READDIR:
                with lock:
                    readdirs.add(packet[1:5])
            server.stdin.write(u32(len(packet)) + packet)
            server.stdin.flush()

    threading.Thread(target=to_server, daemon=True).start()
    while True:
        packet = read_packet(server.stdout)
        with lock:
            is_listing = packet[0] == NAME and packet[1:5] in readdirs
            readdirs.discard(packet[1:5])
        if is_listing:
            packet = packet[:5] + rewrite_links(packet[5:])
        OUT.write(u32(len(packet)) + packet)
        OUT.flush()


def rewrite_links(body):
    """A NAME body with every symlink's mode made a directory's."""
    (count,) = struct.unpack(">I", body[:4])
    out, pos = [body[:4]], 4
    for _ in range(count):
        start = pos
        for _ in range(2):  # the name and the long name
            (n,) = struct.unpack(">I", body[pos : pos + 4])
            pos += 4 + n
        out.append(body[start:pos])
        (flags,) = struct.unpack(">I", body[pos : pos + 4])
        fields = [(0x01, 8), (0x02, 8), (0x04, 4), (0x08, 8)]
        attrs = bytearray(body[pos : pos + 4])
        pos += 4
        for bit, size in fields:
            if flags & bit:
                value = bytearray(body[pos : pos + size])
                if bit == ATTR_PERMISSIONS:
                    (mode,) = struct.unpack(">I", value)
                    if mode & 0o170000 == S_IFLNK:
                        value = bytearray(u32(S_IFDIR | (mode & 0o7777)))
                attrs += value
                pos += size
        if flags & ATTR_EXTENDED:
            (n,) = struct.unpack(">I", body[pos : pos + 4])
            start = pos
            pos += 4
            for _ in range(2 * n):
                (m,) = struct.unpack(">I", body[pos : pos + 4])
                pos += 4 + m
            attrs += body[start:pos]
        out.append(bytes(attrs))
    return b"".join(out) + body[pos:]


if __name__ == "__main__":
    try:
        if MODE == "lying-readdir":
            lying_readdir(sys.argv[2])
        else:
            serve()
    except (BrokenPipeError, ConnectionResetError):
        os._exit(0)
