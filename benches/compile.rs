//! Compile time of a file with 100 `sh!` invocations against the same commands written
//! with `duct::cmd!`: `cargo bench --bench compile`. Both are rebuilt (debug) in a scratch
//! crate whose dependencies are already built, so only the file itself is measured.

mod harness;

use std::path::Path;
use std::process::Command;

use harness::{quick, Table};

fn write_crate(dir: &Path) {
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::create_dir_all(dir.join("src/bin")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"compile-bench\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nplumb-sh = {{ path = {root:?} }}\nduct = \"1\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    // The same dependency versions as plumb itself, and no index lookups.
    std::fs::copy(Path::new(root).join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let mut sh = String::from(
        "use plumb::prelude::*;\n\nfn main() {\n    let dir = \"src\";\n    let pat = \"fn\";\n",
    );
    let mut duct = String::from("fn main() {\n    let dir = \"src\";\n    let pat = \"fn\";\n");
    for i in 0..100 {
        sh.push_str(&format!(
            "    let _e{i} = sh!(ls -la $dir | grep -c $pat > out{i}.txt 2>&1 && echo done{i});\n"
        ));
        duct.push_str(&format!(
            "    let _e{i} = duct::cmd!(\"ls\", \"-la\", dir).pipe(duct::cmd!(\"grep\", \"-c\", pat)).stdout_path(\"out{i}.txt\").stderr_to_stdout();\n"
        ));
    }
    sh.push_str("}\n");
    duct.push_str("}\n");
    std::fs::write(dir.join("src/bin/sh100.rs"), sh).unwrap();
    std::fs::write(dir.join("src/bin/duct100.rs"), duct).unwrap();
}

fn build(dir: &Path, bin: &str) {
    // Touch the file so that only it is rebuilt.
    let file = dir.join(format!("src/bin/{bin}.rs"));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text).unwrap();
    let ok = Command::new(env!("CARGO"))
        .args(["build", "-q", "--bin", bin])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(ok.success(), "building {bin}");
}

fn main() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    write_crate(dir);
    build(dir, "sh100");
    build(dir, "duct100");
    let t = Table::new();
    t.compare(
        "compile 100 `sh!` invocations (debug)",
        "the same with `duct::cmd!`",
        (if quick() { 2 } else { 5 }, 1),
        || build(dir, "duct100"),
        || build(dir, "sh100"),
    );
}
