//! Fuzzes the `sh!` macro's lexer, parser and expander as plain functions, in both forms:
//! whatever the input, an error or tokens, never a panic.
//!
//! `cargo fuzz run sh_macro` (it needs the `-Z` flags of a nightly compiler; on a stable
//! one, `RUSTC_BOOTSTRAP=1 cargo fuzz run sh_macro`).
#![no_main]

use libfuzzer_sys::fuzz_target;

// The macro crate's stages, compiled here as ordinary modules (a proc-macro crate exports
// nothing but its macros).
#[allow(dead_code)]
#[path = "../../plumb-macros/src/expand.rs"]
mod expand;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/lex.rs"]
mod lex;
#[allow(dead_code)]
#[path = "../../plumb-macros/src/parse.rs"]
mod parse;

fn compile(input: proc_macro2::TokenStream) {
    if let Ok(toks) = lex::lex(input) {
        if let Ok(script) = parse::parse(toks) {
            let _ = expand::script(&script, &quote::quote!(::plumb));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The token form: whatever Rust's tokenizer accepts.
    if let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() {
        compile(tokens);
    }
    // The string form: any text in a string literal.
    let lit = proc_macro2::Literal::string(&text);
    compile(proc_macro2::TokenTree::Literal(lit).into());
});
