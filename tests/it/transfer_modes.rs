//! Transfers copy modes as `cp` without `-p` does: what they create gets the source's
//! permission bits under the receiving side's umask, never a set-ID or sticky bit nor
//! the source's owner; a file that was there keeps its mode. Files on every machine
//! (BusyBox's host too), trees on every machine.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use plumb::prelude::*;

use crate::common::Ctx;

/// The umask of commands on `m`.
fn umask(m: &std::sync::Arc<dyn Machine>) -> u32 {
    let out = plumb::sh!(sh -c umask).on_dyn(m.clone()).read().unwrap();
    u32::from_str_radix(out.trim(), 8).unwrap()
}

fn local_umask() -> u32 {
    umask(&crate::common::local())
}

fn set_local_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn local_mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn files_lose_set_id_bits_and_get_the_umask(t: &Ctx) {
    let (here, there) = (local_umask(), umask(&t.m));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tool");
    std::fs::write(&src, "#!/bin/sh\n").unwrap();
    set_local_mode(&src, 0o6777);
    let remote = t.path("tool");
    t.m.upload(&src, remote.as_path()).unwrap();
    assert_eq!(remote.metadata().unwrap().mode(), 0o777 & !there);
    // Back, from a file that has them all.
    remote.set_permissions(0o7777).unwrap();
    let back = dir.path().join("back");
    t.m.download(remote.as_path(), &back).unwrap();
    assert_eq!(local_mode(&back), 0o777 & !here);
    assert_eq!(std::fs::read(&back).unwrap(), b"#!/bin/sh\n");
}

/// Over a file that is there, a transfer changes the content, not the mode.
fn a_file_that_was_there_keeps_its_mode(t: &Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, "new").unwrap();
    set_local_mode(&src, 0o755);
    let remote = t.path("old");
    remote.write("old").unwrap();
    remote.set_permissions(0o600).unwrap();
    t.m.upload(&src, remote.as_path()).unwrap();
    assert_eq!(remote.read_to_string().unwrap(), "new");
    assert_eq!(remote.metadata().unwrap().mode(), 0o600);
    let old = dir.path().join("old");
    std::fs::write(&old, "old content").unwrap();
    set_local_mode(&old, 0o640);
    remote.set_permissions(0o755).unwrap();
    t.m.download(remote.as_path(), &old).unwrap();
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "new");
    assert_eq!(local_mode(&old), 0o640);
}

crate::on_every_machine_and_busybox!(
    files_lose_set_id_bits_and_get_the_umask,
    a_file_that_was_there_keeps_its_mode,
);

/// Trees, on every machine but BusyBox's host: BusyBox's `tar` keeps a directory's sticky
/// bit, and as root its set-ID bits too, whatever its options say.
mod trees {
    use super::*;

    /// A tree with a set-ID file, a world-writable one, a sticky set-group-ID directory and
    /// one only readable: each comes out with its permission bits under the umask, owned by
    /// whoever received it.
    fn trees_lose_set_id_bits_and_owners(t: &Ctx) {
        let (here, there) = (local_umask(), umask(&t.m));
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("tree");
        std::fs::create_dir_all(src.join("shared/ro")).unwrap();
        std::fs::write(src.join("suid"), "x").unwrap();
        std::fs::write(src.join("shared/open"), "y").unwrap();
        std::fs::write(src.join("shared/ro/f"), "z").unwrap();
        set_local_mode(&src.join("suid"), 0o6755);
        set_local_mode(&src.join("shared/open"), 0o666);
        set_local_mode(&src.join("shared/ro"), 0o555);
        set_local_mode(&src.join("shared"), 0o3777);
        let remote = t.path("up");
        t.m.upload(&src, remote.as_path()).unwrap();
        let mode = |rel: &str| remote.join(rel).metadata().unwrap().mode();
        assert_eq!(mode("suid"), 0o755 & !there);
        assert_eq!(mode("shared/open"), 0o666 & !there);
        assert_eq!(mode("shared"), 0o777 & !there);
        assert_eq!(mode("shared/ro"), 0o555 & !there);
        let owner = plumb::sh! { id -u }.on_dyn(t.m.clone()).read().unwrap();
        let uid = remote.join("suid").metadata().unwrap().uid();
        assert_eq!(uid.map(|u| u.to_string()), Some(owner.trim().to_string()));
        // And back, from the tree as it was sent.
        let there_src = t.path("src");
        t.m.upload(&src, there_src.as_path()).unwrap();
        for (rel, m) in [("suid", 0o6755), ("shared/open", 0o666), ("shared", 0o3777)] {
            there_src.join(rel).set_permissions(m).unwrap();
        }
        let back = dir.path().join("back");
        t.m.download(there_src.as_path(), &back).unwrap();
        assert_eq!(local_mode(&back.join("suid")), 0o755 & !here);
        assert_eq!(local_mode(&back.join("shared/open")), 0o666 & !here);
        assert_eq!(local_mode(&back.join("shared")), 0o777 & !here);
        assert_eq!(local_mode(&back.join("shared/ro")), 0o555 & !here);
        let me = std::fs::metadata(dir.path()).unwrap().uid();
        assert_eq!(std::fs::metadata(back.join("suid")).unwrap().uid(), me);
        // So that every copy can be removed, by any user.
        set_local_mode(&src.join("shared/ro"), 0o755);
        set_local_mode(&back.join("shared/ro"), 0o755);
        remote.join("shared/ro").set_permissions(0o755).unwrap();
        there_src.join("shared/ro").set_permissions(0o755).unwrap();
    }

    crate::on_every_machine!(trees_lose_set_id_bits_and_owners);
}
