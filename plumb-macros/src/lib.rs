//! The `sh!` macro of [plumb](https://docs.rs/plumb). Use it through `plumb`; this crate has
//! no runtime code.
//!
//! The work is split by stage, each a plain function of the previous one's output:
//! `lex.rs` (tokens or a string -> shell tokens with spans), `parse.rs` (-> AST, with the
//! checks that make spanned errors) and `expand.rs` (AST -> calls into `plumb::__private`).

mod expand;
mod lex;
mod parse;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Parses shell syntax at compile time into a lazy `plumb::Expr`.
///
/// See the `plumb` crate documentation for the grammar.
#[proc_macro]
pub fn sh(input: TokenStream) -> TokenStream {
    match compile(input.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => syn::Error::new(e.span, e.message).to_compile_error().into(),
    }
}

/// The whole pipeline, on proc-macro2 tokens so that tests can run it without a compiler.
fn compile(input: proc_macro2::TokenStream) -> lex::Result<proc_macro2::TokenStream> {
    let toks = lex::lex(input)?;
    let script = parse::parse(toks)?;
    Ok(expand::script(&script))
}
