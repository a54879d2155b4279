//! `head [-n N | -N | -c N] [-q|-v] [file...]`: the first N lines (10 by default) or
//! bytes of each file (`-` or none: stdin), with `==> name <==` headers for several.
//! Counts from the end (`-n -N`) are GNU's only and refused.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};

use super::opts::{parse, Spec};
use super::{reason, shown, Call};
use crate::output::ExitStatus;

const SPEC: Spec = Spec {
    flags: "qv",
    with_value: "nc",
    long: &[
        ("lines", 'n'),
        ("bytes", 'c'),
        ("quiet", 'q'),
        ("silent", 'q'),
        ("verbose", 'v'),
    ],
};

/// What to keep of each file.
#[derive(Clone, Copy)]
enum Count {
    Lines(u64),
    Bytes(u64),
}

pub(super) fn main(call: &mut Call) -> ExitStatus {
    // `head -5`: the old form of `-n 5`, still common in scripts.
    let args: Vec<OsString> = call
        .args
        .iter()
        .map(|a| match a.to_str().and_then(|t| t.strip_prefix('-')) {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                format!("-n{n}").into()
            }
            _ => a.clone(),
        })
        .collect();
    let p = match parse(&args, &SPEC) {
        Ok(p) => p,
        Err(e) => return call.usage(e),
    };
    let count = match count(&p) {
        Ok(c) => c,
        Err(e) => return call.usage(e),
    };
    let files = if p.operands.is_empty() {
        vec![OsString::from("-")]
    } else {
        p.operands.clone()
    };
    let headers = (files.len() > 1 && !p.has('q')) || p.has('v');
    let mut failed = false;
    for (i, f) in files.iter().enumerate() {
        if call.cancel.is_cancelled() {
            return call.killed();
        }
        if headers {
            let sep = if i > 0 { "\n" } else { "" };
            let name = if f == "-" {
                "standard input".into()
            } else {
                shown(f).to_string()
            };
            if let Err(e) = writeln!(call.stdout, "{sep}==> {name} <==") {
                return call.write_failed(e);
            }
        }
        let result = if f == "-" {
            let mut stdin = std::mem::replace(&mut call.stdin, Box::new(io::empty()));
            let r = take(&mut stdin, &mut call.stdout, count);
            call.stdin = stdin;
            r
        } else {
            match File::open(call.resolve(f)) {
                Ok(mut file) => take(&mut file, &mut call.stdout, count),
                Err(e) => Err(Failure::Read(e)),
            }
        };
        match result {
            Ok(()) => {}
            Err(Failure::Write(e)) => return call.write_failed(e),
            Err(Failure::Read(e)) => {
                call.warn(format!(
                    "cannot open '{}' for reading: {}",
                    shown(f),
                    reason(&e)
                ));
                failed = true;
            }
        }
    }
    ExitStatus::from_code(i32::from(failed))
}

fn count(p: &super::opts::Parsed) -> Result<Count, String> {
    let last = p.values.last();
    let Some((which, value)) = last else {
        return Ok(Count::Lines(10));
    };
    let text = value.to_string_lossy();
    if text.starts_with('-') {
        return Err(format!("`{text}`: counts from the end are not supported"));
    }
    let n: u64 = text
        .strip_prefix('+')
        .unwrap_or(&text)
        .parse()
        .map_err(|_| format!("invalid number `{text}`"))?;
    Ok(if *which == 'c' {
        Count::Bytes(n)
    } else {
        Count::Lines(n)
    })
}

enum Failure {
    Read(io::Error),
    Write(io::Error),
}

/// Copies what `count` keeps of `from` to `to`.
fn take(from: &mut dyn Read, to: &mut dyn Write, count: Count) -> Result<(), Failure> {
    let mut left = match count {
        Count::Lines(n) | Count::Bytes(n) => n,
    };
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Read(e)),
        };
        let chunk = &buf[..n];
        let keep = match count {
            Count::Bytes(_) => chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            Count::Lines(_) => lines_end(chunk, &mut left),
        };
        if let Count::Bytes(_) = count {
            left -= keep as u64;
        }
        to.write_all(&chunk[..keep]).map_err(Failure::Write)?;
    }
    Ok(())
}

/// How much of `chunk` holds the next `left` lines at most; counts down `left`.
fn lines_end(chunk: &[u8], left: &mut u64) -> usize {
    for (i, &b) in chunk.iter().enumerate() {
        if b == b'\n' {
            *left -= 1;
            if *left == 0 {
                return i + 1;
            }
        }
    }
    chunk.len()
}
