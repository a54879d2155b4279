//! Fuzzes the `sh!` macro's lexer, parser and expander as plain functions, in both forms,
//! with the checks around them (comments the compiler removed, what rustfmt may have
//! respaced), brace expansion, and what globs, `~`, `$(...)`, groups and subshells become:
//! whatever the input, an error or tokens, never a panic and never a hang.
//!
//! `cargo fuzz run sh_macro -- -dict=fuzz/sh_macro.dict` (it needs the `-Z` flags of a
//! nightly compiler; on a stable one, `RUSTC_BOOTSTRAP=1 cargo fuzz run sh_macro ...`). The
//! dictionary and the seeds in `corpus/sh_macro/seed-*` steer it to the grammar's forms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proc_macro2::TokenStream;

// The macro crate's stages, compiled here as ordinary modules (a proc-macro crate exports
// nothing but its macros).
#[allow(dead_code)]
#[path = "../../plumb-macros/src/braces.rs"]
mod braces;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/expand.rs"]
mod expand;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/lex.rs"]
mod lex;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/parse.rs"]
mod parse;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/rustfmt.rs"]
mod rustfmt;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/source.rs"]
mod source;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/words.rs"]
mod words;

/// What the macro does with `input`, parsed from `text`; the rustfmt check is run both as
/// for `sh!(...)` and as for `sh! {...}`.
fn compile(input: TokenStream, text: &str) {
    let script = lex::lex(input.clone(), source::Source::Text(text)).and_then(parse::parse);
    let written = || {
        let script = script.as_ref().ok()?;
        Some(expand::script(script, &TokenStream::new()).to_string())
    };
    let _ = rustfmt::check(&input, written, || false);
    let _ = rustfmt::in_braces(&input, None, source::Source::Text(text));
    if let Ok(script) = script {
        let _ = expand::script(&script, &quote::quote!(::plumb));
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The token form: whatever Rust's tokenizer accepts.
    if let Ok(tokens) = text.parse::<TokenStream>() {
        compile(tokens, &text);
    }
    // The string form: any text in a string literal.
    let lit = proc_macro2::Literal::string(&text);
    compile(proc_macro2::TokenTree::Literal(lit).into(), &text);
});
