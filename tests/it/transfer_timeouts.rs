//! A group's `timeout_per_host` bounds its transfers: a copy that takes longer ends as
//! that host's `Timeout` (a file each way through SFTP, `cat` on the BusyBox host, or
//! here; a tree through `tar`), and the machine goes on working after it. A server that
//! stops answering (an SFTP `open` of a FIFO blocks `sftp-server` for good) is let go of
//! a second after the time is up.

use std::path::Path;
use std::time::{Duration, Instant};

use plumb::prelude::*;
use plumb::{ErrorKind, Group};

use crate::common::Ctx;

/// Longer than any loopback copy of 8 GiB takes: the copies below stop at it.
const LIMIT: Duration = Duration::from_millis(300);

/// Time to give up past `LIMIT`: the grace for a late SFTP reply, and a loaded machine.
const SLACK: Duration = Duration::from_secs(5);

/// A sparse file of 8 GiB at `path` here: nothing on disk, read as fast as memory.
fn sparse_here(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(8 << 30).unwrap();
}

fn group_of(t: &Ctx, limit: Duration) -> Group {
    Group::new()
        .quiet()
        .machine_named("h", t.m.clone())
        .timeout_per_host(limit)
}

/// The one host's result of `call`, which must have taken about `LIMIT`.
fn timed_out(what: &str, call: impl FnOnce() -> plumb::GroupResults<()>) {
    let start = Instant::now();
    let results = call();
    let took = start.elapsed();
    let err = results.get("h").unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
    assert!(err.to_string().contains("cannot "), "{what}: {err}");
    assert!(took >= LIMIT && took < LIMIT + SLACK, "{what}: {took:?}");
}

fn transfers_end_at_the_timeout_per_host(t: &Ctx) {
    let here = tempfile::tempdir().unwrap();
    let (big, tree) = (here.path().join("big"), here.path().join("tree"));
    sparse_here(&big);
    std::fs::create_dir(&tree).unwrap();
    sparse_here(&tree.join("big"));
    t.on(sh! { truncate -s 8G there }).run().unwrap();
    let group = group_of(t, LIMIT);
    let there = t.path("there");
    timed_out("upload", || group.upload(&big, t.path("up").as_path()));
    timed_out("tree upload", || {
        group.upload(&tree, t.path("uptree").as_path())
    });
    timed_out("download", || {
        group.download(there.as_path(), here.path().join("down"))
    });
    #[cfg(feature = "tokio")]
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        timed_out("upload_async", || {
            rt.block_on(group.upload_async(&big, t.path("up2").as_path()))
        });
        timed_out("download_async", || {
            rt.block_on(group.download_async(there.as_path(), here.path().join("down2")))
        });
    }
    // The machine's files still work, and a copy within the time completes.
    let small = here.path().join("small");
    std::fs::write(&small, "small").unwrap();
    let roomy = group_of(t, Duration::from_secs(60));
    assert!(roomy.upload(&small, t.path("small").as_path()).all_ok());
    assert_eq!(t.path("small").read_to_string().unwrap(), "small");
}

/// A reader of a big file dropped after a few bytes returns at once (over libssh2 the
/// BusyBox host's `cat` reader waited for an end that sat behind output nobody read).
fn a_reader_dropped_midway_lets_go(t: &Ctx) {
    use std::io::Read;
    t.on(sh! { truncate -s 1G there }).run().unwrap();
    let mut reader = t.path("there").open().unwrap();
    let mut head = [1u8; 16];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(head, [0; 16]);
    let start = Instant::now();
    drop(reader);
    assert!(start.elapsed() < SLACK, "{:?}", start.elapsed());
}

crate::on_every_machine_and_busybox!(
    transfers_end_at_the_timeout_per_host,
    a_reader_dropped_midway_lets_go
);

/// A download whose server never answers (`sftp-server` blocks opening a FIFO; on the
/// BusyBox host `cat` does) ends within the time and a second, and the machine's next
/// file call works: it opens another SFTP session instead of queueing behind the stuck
/// one.
fn a_server_that_stops_answering_is_let_go_of(m: std::sync::Arc<dyn Machine>) {
    let t = Ctx::new(m);
    t.on(sh! { mkfifo fifo }).run().unwrap();
    let here = tempfile::tempdir().unwrap();
    let group = group_of(&t, LIMIT);
    timed_out("download of a FIFO", || {
        group.download(t.path("fifo").as_path(), here.path().join("fifo"))
    });
    let after = t.path("after");
    after.write("still here").unwrap();
    assert_eq!(after.read_to_string().unwrap(), "still here");
    // A writer lets the stuck `sftp-server` (or `cat`) go.
    let unblock = sh!("sh -c ': > fifo'").timeout(Duration::from_secs(5));
    let _ = t.on(unblock).run();
}

#[test]
fn ssh_server_that_stops_answering_is_let_go_of() {
    a_server_that_stops_answering_is_let_go_of(crate::common::ssh());
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_server_that_stops_answering_is_let_go_of() {
    a_server_that_stops_answering_is_let_go_of(crate::common::ssh2());
}

#[test]
fn busybox_server_that_stops_answering_is_let_go_of() {
    a_server_that_stops_answering_is_let_go_of(crate::common::busybox_ssh());
}
