//! plumb used the ways crates use it, each a real crate in `tests/crates` built by cargo:
//! a renamed dependency, a re-exported `sh!`, and a build script (whose failing command
//! must fail the build with plumb's error in cargo's output). All without default
//! features, as a `[build-dependencies]` user takes plumb.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cargo(args: &[&str], fail: bool) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args)
        .current_dir(root.join("tests/crates"))
        .env("CARGO_TARGET_DIR", target())
        .env_remove("PLUMB_BUILD_FAIL");
    if fail {
        c.env("PLUMB_BUILD_FAIL", "1");
    }
    c.output().expect("run cargo")
}

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-crates")
}

fn run(bin: &str) -> String {
    let out = Command::new(target().join("debug").join(bin))
        .output()
        .expect("run the built program");
    assert!(out.status.success(), "{bin}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// One test: the crates share a build, and the failing build must come after the good one.
#[test]
fn renamed_reexported_and_in_a_build_script() {
    let out = cargo(&["build", "--quiet"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(run("renamed"), "RENAMED\n");
    assert_eq!(run("uses-reexport"), "reexported\n");
    assert_eq!(run("build-script"), "built by plumb\n");

    let out = cargo(&["build", "--quiet", "-p", "build-script"], true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a failing command must fail the build"
    );
    assert!(
        stderr.contains("Error: command `cat /plumb-no-such-dir` on local exited with code 1"),
        "cargo shows plumb's error: {stderr}"
    );
}

/// Without default features the crate has no libssh2 and no OpenSSL in its tree.
#[test]
fn without_default_features_there_is_no_libssh2_or_openssl() {
    let out = cargo(&["tree", "-e", "normal", "-p", "renamed"], false);
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tree.contains("plumb-sh-runtime"), "{tree}");
    assert!(
        !tree.contains("ssh2") && !tree.contains("openssl"),
        "{tree}"
    );
}
