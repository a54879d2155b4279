//! The tests' helper program (`tests/programs/helper.rs`, built as the example
//! `test_helper`), which behaves the same on every OS.

use std::path::PathBuf;

/// Its path: beside this test binary's directory, in `examples/`. Built by scripts/test
/// (`cargo build --example test_helper`, with `--target` for Windows); a test that needs
/// it fails with that advice when it is missing.
pub fn helper() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/.../deps");
    let path = profile
        .join("examples")
        .join(format!("test_helper{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --example test_helper` (with the tests' --target)",
        path.display()
    );
    path
}

/// [`helper`] as text, for `sh!` arguments and messages.
pub fn helper_str() -> String {
    helper().to_str().expect("a UTF-8 target path").to_string()
}
