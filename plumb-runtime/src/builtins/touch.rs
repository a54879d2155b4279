//! `touch [-acm] file...`: creates each file that is missing (not with `-c`) and sets its
//! access and modification times (`-a`, `-m`: only that one) to now.

use std::fs::{FileTimes, OpenOptions};
use std::time::SystemTime;

use super::opts::{parse, Spec};
use super::{reason, shown, Call};
use crate::output::ExitStatus;

const SPEC: Spec = Spec {
    flags: "acm",
    with_value: "",
    long: &[("no-create", 'c')],
};

pub(super) fn main(call: &mut Call) -> ExitStatus {
    let p = match parse(call.args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    if p.operands.is_empty() {
        return call.usage("missing file operand");
    }
    let now = SystemTime::now();
    let (access, modify) = match (p.has('a'), p.has('m')) {
        (false, false) => (true, true),
        both => both,
    };
    let mut times = FileTimes::new();
    if access {
        times = times.set_accessed(now);
    }
    if modify {
        times = times.set_modified(now);
    }
    let mut failed = false;
    for f in &p.operands {
        let path = call.resolve(f);
        if p.has('c') && std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path);
        // A directory cannot be opened for writing; it gets its times when opened for
        // reading (on Unix).
        let file = match file {
            Err(_) if path.is_dir() => std::fs::File::open(&path),
            other => other,
        };
        if let Err(e) = file.and_then(|f| f.set_times(times)) {
            call.warn(format!("cannot touch '{}': {}", shown(f), reason(&e)));
            failed = true;
        }
    }
    ExitStatus::from_code(i32::from(failed))
}
