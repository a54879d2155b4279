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
    let roomy = group_of(t, Duration::MAX);
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

/// A connection of the test's own: the tests below leave its SFTP session stuck for a
/// while, which the machines the other tests share must not see.
fn own<M: Machine + 'static>(m: plumb::Result<M>) -> std::sync::Arc<dyn Machine> {
    std::sync::Arc::new(m.unwrap())
}

/// A FIFO on this host (every test machine's files are here), which a writer opened on
/// drop lets go of whoever waits to read it: a stuck `sftp-server` never outlives the test,
/// even one that fails.
struct Fifo(std::path::PathBuf);

impl Fifo {
    fn make(t: &Ctx, name: &str) -> Fifo {
        t.on(sh! { mkfifo $name }).run().unwrap();
        Fifo(t.path(name).as_path().to_path_buf())
    }

    /// Opens it for writing without waiting: `None` while nobody reads it.
    fn writer(&self) -> Option<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).custom_flags(libc::O_NONBLOCK);
        opts.open(&self.0).ok()
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        drop(self.writer());
    }
}

/// A download whose server never answers (`sftp-server` blocks opening a FIFO; on the
/// BusyBox host `cat` does) ends within the time and a second, and the machine's next
/// file calls work: through the shell while the server holds the stuck session (one
/// such session at most), over SFTP again once it lets go.
fn a_server_that_stops_answering_is_let_go_of(m: std::sync::Arc<dyn Machine>) {
    let t = Ctx::new(m);
    let fifo = Fifo::make(&t, "fifo");
    let here = tempfile::tempdir().unwrap();
    let group = group_of(&t, LIMIT);
    for round in 0..3 {
        timed_out(&format!("download of a FIFO, {round}"), || {
            group.download(t.path("fifo").as_path(), here.path().join("fifo"))
        });
    }
    let after = t.path("after");
    after.write("still here").unwrap();
    assert_eq!(after.read_to_string().unwrap(), "still here");
    drop(fifo);
    after.write("and after").unwrap();
    assert_eq!(after.read_to_string().unwrap(), "and after");
}

/// Another thread's call on the same machine, with no deadline, is not cut when a
/// transfer runs out of time behind it: it gets its answer once the server gives it.
fn a_timeout_spares_other_threads(m: std::sync::Arc<dyn Machine>) {
    let t = Ctx::new(m);
    let slow = Fifo::make(&t, "slow");
    t.path("small").write("small").unwrap();
    let reader = {
        let path = t.path("slow");
        // An open alone: `sftp-server` cannot read a FIFO's contents (it reads at offsets).
        std::thread::spawn(move || path.open().map(drop))
    };
    // The reader's open holds `sftp-server`: the group's download waits behind it.
    std::thread::sleep(Duration::from_millis(300));
    let here = tempfile::tempdir().unwrap();
    timed_out("a download behind a stuck read", || {
        group_of(&t, LIMIT).download(t.path("small").as_path(), here.path().join("d"))
    });
    drop(slow.writer().expect("the reader waits on the FIFO"));
    reader.join().unwrap().unwrap();
}

#[test]
fn ssh_timeout_spares_other_threads() {
    a_timeout_spares_other_threads(own(crate::common::ssh_builder().connect()));
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_timeout_spares_other_threads() {
    a_timeout_spares_other_threads(own(crate::common::ssh2_builder().connect()));
}

#[test]
fn ssh_server_that_stops_answering_is_let_go_of() {
    a_server_that_stops_answering_is_let_go_of(own(crate::common::ssh_builder().connect()));
}

#[test]
#[cfg(feature = "ssh2")]
fn ssh2_server_that_stops_answering_is_let_go_of() {
    a_server_that_stops_answering_is_let_go_of(own(crate::common::ssh2_builder().connect()));
}

#[test]
fn busybox_server_that_stops_answering_is_let_go_of() {
    a_server_that_stops_answering_is_let_go_of(crate::common::busybox_ssh());
}
