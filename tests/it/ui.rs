//! Compile-fail tests: the text of every error a user sees from `sh!`.

#[test]
fn compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
