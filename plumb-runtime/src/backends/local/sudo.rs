//! sudo here: the password file of a job, and the command line of a sudo'd command (see
//! [`crate::model::sudo`] for why a file and an askpass helper).

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Ctx;
use crate::model::expr::Cmd;
use crate::model::sudo::{self, Secret, Sudo};
use crate::render::script::nonce;

/// The password of one job, readable by this user only, removed when the job is over.
#[derive(Debug)]
pub(crate) struct AskpassFile {
    path: PathBuf,
}

impl AskpassFile {
    /// Writes `line` to a new file (mode 0600, never an existing one) in `/dev/shm` when
    /// there is one, so that it is never on a disk, else in the temp dir.
    pub(crate) fn write(line: &Secret) -> io::Result<AskpassFile> {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!(".plumb-sudo-{}", nonce()));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        let mut file = crate::sys::create_mode(&mut opts, 0o600).open(&path)?;
        // From here the guard removes the file, also when the write fails.
        let guard = AskpassFile { path };
        file.write_all(line.bytes())?;
        Ok(guard)
    }
}

impl Drop for AskpassFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The program and arguments that run `cmd` under `as_user` in `ctx`: sudo's own, then
/// `env` with the variables plumb set (sudo resets the environment), then the command's.
pub(super) fn command_line(as_user: &Sudo, cmd: &Cmd, ctx: &Ctx) -> Vec<OsString> {
    let askpass = ctx.askpass.as_ref().map(|f| f.path.as_os_str());
    let mut argv = sudo::argv(as_user, askpass);
    // What is set after the changes in order: a later change of a name replaces an earlier.
    let mut set: Vec<(&OsString, &OsString)> = Vec::new();
    let changes = ctx.env.iter().map(|(k, v)| (k, v.as_ref()));
    for (k, v) in changes.chain(cmd.env.iter().map(|(k, v)| (k, Some(v)))) {
        set.retain(|(old, _)| *old != k);
        set.extend(v.map(|v| (k, v)));
    }
    let env: Vec<OsString> = set
        .into_iter()
        .map(|(k, v)| {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    if !env.is_empty() {
        argv.push(sudo::ENV.into());
        argv.extend(env);
    }
    argv.extend(cmd.argv.iter().cloned());
    argv
}
