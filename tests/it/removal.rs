//! Removing a tree never reaches outside it: a symlink inside is removed as a link and
//! what it points to stays, on every machine and over SFTP alone (a host without `rm`,
//! where plumb walks the tree itself).

use std::sync::Arc;

use plumb::prelude::*;
use plumb::ErrorKind;

use crate::common::{self, sshd, Ctx};

/// A tree in `dir` with links to a directory and a file outside it, absolute and
/// relative; removing the tree (or a link at the top) leaves what they point to.
fn removes_links_not_their_targets(dir: &MPath) {
    let outside = dir.join("outside");
    outside.join("deep").create_dir_all().unwrap();
    outside.join("deep/precious").write("keep").unwrap();
    outside.join("file").write("keep").unwrap();
    let tree = dir.join("tree");
    tree.join("sub/inner").create_dir_all().unwrap();
    tree.join("sub/inner/f").write("x").unwrap();
    outside.symlink(tree.join("sub/absolute")).unwrap();
    common::path_on(dir.machine(), "../../outside")
        .symlink(tree.join("sub/relative"))
        .unwrap();
    outside
        .join("file")
        .symlink(tree.join("file-link"))
        .unwrap();
    let top = outside.symlink(dir.join("top-link")).unwrap();
    top.remove().unwrap();
    assert!(!top.exists().unwrap());
    tree.remove().unwrap();
    assert!(!tree.exists().unwrap());
    assert_eq!(
        outside.join("deep/precious").read_to_string().unwrap(),
        "keep"
    );
    assert_eq!(outside.join("file").read_to_string().unwrap(), "keep");
}

fn links_inside_a_tree_are_removed_not_followed(t: &Ctx) {
    removes_links_not_their_targets(&t.dir);
}

on_every_machine_and_busybox!(links_inside_a_tree_are_removed_not_followed);

/// A tree with a directory its (unprivileged) remote user cannot empty: the error says
/// so and names the tree, whichever way it was walked.
fn says_why_a_tree_cannot_go(dir: &MPath) {
    let tree = dir.join("locked-tree");
    tree.join("locked").create_dir_all().unwrap();
    tree.join("locked/f").write("x").unwrap();
    tree.join("locked").set_permissions(0o555).unwrap();
    let e = tree.remove().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("locked-tree"), "{e}");
    tree.join("locked").set_permissions(0o755).unwrap();
    tree.remove().unwrap();
}

#[test]
fn ssh_says_why_a_tree_cannot_go() {
    says_why_a_tree_cannot_go(&Ctx::new(common::ssh()).dir);
}

#[cfg(feature = "ssh2")]
#[test]
fn ssh2_says_why_a_tree_cannot_go() {
    says_why_a_tree_cannot_go(&Ctx::new(common::ssh2()).dir);
}

fn over_sftp_alone(m: Arc<dyn Machine>) {
    let dir = m.temp_dir().unwrap();
    removes_links_not_their_targets(&dir);
    says_why_a_tree_cannot_go(&dir);
}

#[test]
fn ssh_over_sftp_alone() {
    over_sftp_alone(Arc::new(
        common::ssh_builder_for(sshd::no_tools()).connect().unwrap(),
    ));
}

#[cfg(feature = "ssh2")]
#[test]
fn ssh2_over_sftp_alone() {
    over_sftp_alone(Arc::new(
        common::ssh2_builder_for(sshd::no_tools())
            .connect()
            .unwrap(),
    ));
}
