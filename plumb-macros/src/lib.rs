//! The `sh!` macro of [plumb](https://docs.rs/plumb). Use it through `plumb`; this crate has
//! no runtime code.
//!
//! The work is split by stage, each a plain function of the previous one's output:
//! `lex.rs` (tokens or a string -> shell tokens with spans), `parse.rs` (-> AST, with the
//! checks that make spanned errors; brace expansion in `braces.rs`, what globs and `~` mean
//! in `words.rs`) and `expand.rs` (AST -> calls into `plumb::__private`). Two checks look beyond the tokens: `source.rs` (comments
//! the compiler removed) and `rustfmt.rs` (what `cargo fmt` may have respaced).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod braces;
mod expand;
mod lex;
mod parse;
mod rustfmt;
mod source;
mod words;

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

use source::Source;

/// Parses shell syntax at compile time into a lazy `plumb::Expr`, reaching the runtime as
/// `::plumb`.
///
/// See the `plumb` crate documentation for the grammar. Users call `plumb::sh!`, which
/// goes through [`sh_in!`] with the path of the crate as the caller names it.
#[proc_macro]
pub fn sh(input: TokenStream) -> TokenStream {
    finish(compile(input.into(), &quote::quote!(::plumb), Source::File))
}

/// `sh_in!(PATH; shell...)`: [`sh!`] reaching the runtime through `PATH`. The facade's
/// `sh!` passes `$crate`, so that a renamed dependency and a re-exported macro both work.
#[doc(hidden)]
#[proc_macro]
pub fn sh_in(input: TokenStream) -> TokenStream {
    let mut tokens = proc_macro2::TokenStream::from(input).into_iter();
    let mut krate = proc_macro2::TokenStream::new();
    for t in tokens.by_ref() {
        match &t {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ';' => break,
            _ => krate.extend([t]),
        }
    }
    finish(compile(tokens.collect(), &krate, Source::File))
}

fn finish(result: lex::Result<proc_macro2::TokenStream>) -> TokenStream {
    match result {
        Ok(tokens) => tokens.into(),
        Err(e) => syn::Error::new(e.span, e.message).to_compile_error().into(),
    }
}

/// The whole pipeline, on proc-macro2 tokens so that tests can run it without a compiler
/// (`source` then gives the text the tokens were parsed from).
fn compile(
    input: proc_macro2::TokenStream,
    krate: &proc_macro2::TokenStream,
    source: Source<'_>,
) -> lex::Result<proc_macro2::TokenStream> {
    let script = lex::lex(input.clone(), source).and_then(parse::parse);
    // What `cargo fmt` may have done comes first: it explains the other errors.
    rustfmt::check(
        &input,
        || {
            let script = script.as_ref().ok()?;
            Some(expand::script(script, &proc_macro2::TokenStream::new()).to_string())
        },
        || {
            let invocation = proc_macro2::Span::call_site().source_text();
            rustfmt::in_braces(&input, invocation.as_deref(), source)
        },
    )?;
    Ok(expand::script(&script?, krate))
}
