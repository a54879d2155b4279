//! The private directory of an `SshMachine`: its ControlMaster's socket and the scripts
//! that carry its jump hosts, in a directory only this user can enter.
//!
//! Its path shows in `ps` (the master's `-S`), and it lives in the shared temp directory.
//! Made with a random name by an exclusive `mkdir` (mode 0700), it is ours; but a master
//! started again after a lost connection uses the same path, which someone else may have
//! taken if the directory was removed meanwhile (a temp cleaner). So before each start the
//! directory is checked: ours, a real directory, no access for group or others; a missing
//! one is made again exclusively, and anything else is refused rather than used.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};
use crate::sys::random_token;
use crate::Result;

/// A private directory and the files we keep in it.
#[derive(Debug)]
pub(super) struct ControlDir {
    path: PathBuf,
    /// Written when the directory is made, and again when it is made anew.
    files: Vec<(String, Vec<u8>)>,
}

impl ControlDir {
    /// A new directory with a random name in the temp directory.
    pub(super) fn create(machine: &str) -> Result<ControlDir> {
        let path = new_private_dir().map_err(|e| failed(machine, e))?;
        Ok(ControlDir {
            path,
            files: Vec::new(),
        })
    }

    /// Its path: made only of characters that no shell, ssh config line or `%` token
    /// reads specially, so that it can stand unquoted in a `ProxyCommand`.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` (mode 0600) and keeps it there from now on; its path.
    pub(super) fn add_file(
        &mut self,
        machine: &str,
        name: &str,
        content: Vec<u8>,
    ) -> Result<PathBuf> {
        let path = self.path.join(name);
        write_private(&path, &content).map_err(|e| failed(machine, e))?;
        self.files.push((name.to_string(), content));
        Ok(path)
    }

    /// Checks that the directory is still ours and private, making it again (exclusively,
    /// with its files) if it is gone; refuses it otherwise.
    pub(super) fn ensure(&self, machine: &str) -> Result<()> {
        match std::fs::DirBuilder::new().mode(0o700).create(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(machine, e)),
        }
        // Checked after the mkdir, whether it made the directory or found one: a
        // directory made by someone else between a check and the mkdir is caught too.
        self.check_private(machine)?;
        for (name, content) in &self.files {
            write_private(&self.path.join(name), content).map_err(|e| failed(machine, e))?;
        }
        Ok(())
    }

    fn check_private(&self, machine: &str) -> Result<()> {
        let meta = std::fs::symlink_metadata(&self.path).map_err(|e| failed(machine, e))?;
        // SAFETY: geteuid(2) cannot fail and touches no memory.
        let me = unsafe { libc::geteuid() };
        let why = if !meta.file_type().is_dir() {
            "it is not a directory".to_string()
        } else if meta.uid() != me {
            format!("it belongs to uid {}, not to us (uid {me})", meta.uid())
        } else if meta.mode() & 0o077 != 0 {
            format!("others may enter it (mode {:o})", meta.mode() & 0o7777)
        } else {
            return Ok(());
        };
        Err(Error::new(
            ErrorKind::Io,
            machine,
            format!(
                "refusing the control socket directory {}: {why}",
                self.path.display()
            ),
        ))
    }

    /// Removes the directory and what it holds.
    pub(super) fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn failed(machine: &str, e: io::Error) -> Error {
    Error::io(machine, "cannot create the control socket directory", e)
}

/// Creates `path` or truncates it, readable by us alone.
fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content)
}

/// A new directory only we can enter.
fn new_private_dir() -> io::Result<PathBuf> {
    let base = plain_temp_dir();
    for _ in 0..16 {
        let p = base.join(format!("plumb-ssh-{}", random_token()));
        match std::fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for the socket directory",
    ))
}

/// The temp directory if its path is plain (see [`ControlDir::path`]), else `/tmp`.
fn plain_temp_dir() -> PathBuf {
    let dir = std::env::temp_dir();
    let plain = dir.to_str().is_some_and(|s| {
        s.starts_with('/')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    });
    if plain {
        dir
    } else {
        PathBuf::from("/tmp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_directory_others_may_enter_is_refused() {
        let mut d = ControlDir::create("m").unwrap();
        d.add_file("m", "f", b"x".to_vec()).unwrap();
        assert!(d.path().to_str().unwrap().starts_with('/'));
        d.ensure("m").unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = d.ensure("m").unwrap_err();
        assert!(e.to_string().contains("others may enter it"), "{e}");
        // Gone: made again, with its files.
        d.remove();
        d.ensure("m").unwrap();
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"x");
        let mode = std::fs::metadata(d.path().join("f")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        d.remove();
        // A symlink to a private directory is not the directory.
        let target = ControlDir::create("m").unwrap();
        std::os::unix::fs::symlink(target.path(), d.path()).unwrap();
        let e = d.ensure("m").unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        std::fs::remove_file(d.path()).unwrap();
        target.remove();
    }
}
