//! Stage 3: AST -> Rust code that builds an `Expr` through `plumb::__private`, `plumb`
//! being the path the caller names the crate by (`$crate` through the facade's `sh!`).
//!
//! Every interpolated expression is emitted with its own span, so a type error or an
//! undefined name points at the user's `$name`, not at the macro.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use crate::lex::{Part, Word};
use crate::parse::{Command, Pipeline, Redirect, Script, SeqOp, Simple};

pub fn script(script: &Script, krate: &TokenStream) -> TokenStream {
    let body = if let [(_, pipeline)] = script.items.as_slice() {
        pipeline_tokens(pipeline)
    } else {
        let items = script.items.iter().map(|(op, p)| {
            let op = match op {
                SeqOp::Then => quote!(Then),
                SeqOp::And => quote!(And),
                SeqOp::Or => quote!(Or),
            };
            let p = pipeline_tokens(p);
            quote!((__p::SeqOp::#op, #p))
        });
        quote!(__p::seq(::std::vec![#(#items),*]))
    };
    quote!({
        #[allow(unused_imports)]
        use #krate::__private as __p;
        #body
    })
}

fn pipeline_tokens(p: &Pipeline) -> TokenStream {
    if let [(command, _)] = p.stages.as_slice() {
        return command_tokens(command);
    }
    let stages = p.stages.iter().map(|(c, all)| {
        let c = command_tokens(c);
        quote!((#c, #all))
    });
    quote!(__p::pipe(::std::vec![#(#stages),*]))
}

fn command_tokens(c: &Command) -> TokenStream {
    match c {
        Command::Cd(dir) => {
            let dir = word(dir);
            quote!(__p::cd(#dir))
        }
        Command::Simple(s) => simple(s),
    }
}

fn simple(s: &Simple) -> TokenStream {
    let argv = syn::Ident::new("argv", Span::mixed_site());
    // Runs of plain literal words become one slice: less code for the compiler to check.
    let mut pushes = Vec::new();
    let mut literals: Vec<String> = Vec::new();
    let flush = |literals: &mut Vec<String>, pushes: &mut Vec<TokenStream>| {
        if !literals.is_empty() {
            let lits = std::mem::take(literals);
            pushes.push(quote!(__p::lits(&mut #argv, &[#(#lits),*]);));
        }
    };
    for w in &s.words {
        match w.parts.as_slice() {
            [Part::Lit(text)] => literals.push(text.clone()),
            [Part::Splat(e, span)] => {
                flush(&mut literals, &mut pushes);
                pushes.push(quote_spanned!(*span=> #argv.extend(__p::splat(#e));));
            }
            _ => {
                flush(&mut literals, &mut pushes);
                let w = word(w);
                pushes.push(quote!(#argv.push(#w);));
            }
        }
    }
    flush(&mut literals, &mut pushes);
    let env = s.env.iter().map(|(name, value)| {
        let value = word(value);
        quote!((#name, #value))
    });
    let redirects = s.redirects.iter().map(redirect);
    quote!({
        let mut #argv = ::std::vec::Vec::new();
        #(#pushes)*
        __p::command(#argv, ::std::vec![#(#env),*], ::std::vec![#(#redirects),*])
    })
}

fn redirect(r: &Redirect) -> TokenStream {
    match r {
        Redirect::Out { fd, append, target } => {
            let target = word(target);
            quote!(__p::Redirect::Out { fd: #fd, append: #append, path: #target })
        }
        Redirect::OutAll { append, target } => {
            let target = word(target);
            quote!(__p::Redirect::OutAll { append: #append, path: #target })
        }
        Redirect::In(target) => {
            let target = word(target);
            quote!(__p::Redirect::In(#target))
        }
        Redirect::Here(w) => match w.parts.as_slice() {
            [Part::Value(e, span)] => {
                quote_spanned!(*span=> __p::Redirect::Here(__p::stdin_value(&(#e))))
            }
            _ => {
                let w = word(w);
                quote!(__p::Redirect::Here(__p::word_bytes(#w)))
            }
        },
        Redirect::Dup { from, to } => quote!(__p::Redirect::Dup { from: #from, to: #to }),
    }
}

/// A word as an expression of type `OsString`.
fn word(w: &Word) -> TokenStream {
    match w.parts.as_slice() {
        [] => quote!(__p::lit("")),
        [part] => part_tokens(part),
        parts => {
            let parts = parts.iter().map(part_tokens);
            quote!(__p::concat(&[#(#parts),*]))
        }
    }
}

fn part_tokens(part: &Part) -> TokenStream {
    match part {
        Part::Lit(s) => quote!(__p::lit(#s)),
        Part::Value(e, span) => quote_spanned!(*span=> __p::value(&(#e))),
        // The parser rejects splats anywhere but as a whole argument.
        Part::Splat(e, span) => quote_spanned!(*span=> __p::value(&(#e))),
    }
}
