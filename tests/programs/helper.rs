//! A small program for the tests, the same on every OS (Windows has no `sh`, `tr` or
//! `sleep` to lean on): `cargo build --example test_helper` builds it, and
//! `tests/it/common/helper.rs` finds it.
//!
//! - `args A B...`: each argument on a line of its own, as the program received it;
//! - `upper`: stdin to stdout in upper case;
//! - `exit N`: exits with code N;
//! - `stderr TEXT`: TEXT and a newline on stderr;
//! - `env NAME`: the variable's value, or exit code 1;
//! - `pwd`: the directory it runs in;
//! - `sleep SECONDS`;
//! - `tree DIR DEPTH`: starts `tree DIR DEPTH-1` (down to 0), then writes the time into
//!   `DIR/beat-<pid>` every 20 ms for ever: a process tree whose every process shows it
//!   lives, so that a test can prove a kill ended all of it.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = &args[1.min(args.len())..];
    match args.first().map(String::as_str) {
        Some("args") => {
            for a in rest {
                println!("{a}");
            }
        }
        Some("upper") => {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .expect("read stdin");
            std::io::stdout()
                .write_all(&input.to_ascii_uppercase())
                .expect("write stdout");
        }
        Some("exit") => std::process::exit(number(rest) as i32),
        Some("stderr") => eprintln!("{}", rest.join(" ")),
        Some("env") => match std::env::var(rest.first().map_or("", String::as_str)) {
            Ok(v) => println!("{v}"),
            Err(_) => std::process::exit(1),
        },
        Some("pwd") => println!("{}", std::env::current_dir().expect("cwd").display()),
        Some("sleep") => std::thread::sleep(Duration::from_secs_f64(number(rest))),
        Some("tree") => tree(rest),
        _ => {
            eprintln!("test_helper: unknown command {args:?}");
            std::process::exit(2);
        }
    }
}

fn number(rest: &[String]) -> f64 {
    rest.first()
        .and_then(|n| n.parse().ok())
        .expect("a number argument")
}

fn tree(rest: &[String]) {
    let dir = std::path::PathBuf::from(&rest[0]);
    let depth: u32 = rest[1].parse().expect("a depth");
    let _child = (depth > 0).then(|| {
        std::process::Command::new(std::env::current_exe().expect("own path"))
            .args(["tree", &rest[0], &(depth - 1).to_string()])
            .spawn()
            .expect("start a child")
    });
    let beat = dir.join(format!("beat-{}", std::process::id()));
    loop {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let _ = std::fs::write(&beat, now.to_string());
        std::thread::sleep(Duration::from_millis(20));
    }
}
