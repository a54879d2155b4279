//! Stage 3: AST -> Rust code that builds an `Expr` through `plumb::__private`, `plumb`
//! being the path the caller names the crate by (`$crate` through the facade's `sh!`).
//!
//! The shape of the command (words, pipes, sequences, redirections) is encoded into one
//! string literal, a *plan*, that the runtime decodes; only the interpolated values are
//! Rust code: `__p::build(PLAN, &mut [values...])`. One call and one array per `sh!`
//! instead of a tree of vectors and blocks keeps compile times near those of a plain
//! function call. Every value is emitted with its own span, so a type error or an
//! undefined name points at the user's `$name`, not at the macro.
//!
//! The plan's grammar (decoded by `plumb_runtime::__private::plan`; both sides change
//! together):
//!
//! ```text
//! script   := item*                       item := ('T' | 'A' | 'O') pipeline   (; && ||)
//! pipeline := count stage*                stage := ('|' | '&') command         (| |&)
//! command  := 'D' word                                                          (cd)
//!           | 'S' count (name word)* count word* count redirect*
//!           | 'B' digit nested count redirect*          ({ } with 0, ( ) with 1)
//! nested   := count item*                                  (a block's body, a $(...))
//! word     := count part*
//! part     := 'L' text                    quoted or plain text, never a pattern
//!           | 'P' text                    unquoted text with *, ? or [ to match names
//!           | 'V' | 'X'                   the next value (one argument; splat alone)
//!           | 'H' | 'U' text              ~ and ~user at the start of a word
//!           | 'C' digit nested            $(...), quoted when the digit is 1
//! name     := text                        text := count bytes
//! redirect := 'o' fd append word | 'a' append word | 'i' word | 'h' word | 'd' fd fd
//! count    := decimal ':'                 fd, append, digit := one digit
//! ```
//!
//! `V` and `X` take the next value of the array, in the order they appear in the plan (a
//! value inside a `$(...)` where its `C` stands), which is the order they are pushed here.
//! A redirection's word and a here-string's are only `L` and `V` parts: the parser refuses
//! the rest there.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use crate::lex::{Part, Word};
use crate::parse::{Block, Command, Pipeline, Redirect, Script, SeqOp, Simple};

pub(crate) fn script(script: &Script, krate: &TokenStream) -> TokenStream {
    let mut plan = Plan::default();
    plan.items(script);
    let text = syn::LitStr::new(&plan.text, Span::call_site());
    let values = plan.values;
    quote!({
        #[allow(unused_imports)]
        use #krate::__private as __p;
        __p::build(#text, &mut [#(#values),*])
    })
}

/// The plan being written, and the values it refers to.
#[derive(Default)]
struct Plan {
    text: String,
    values: Vec<TokenStream>,
}

impl Plan {
    fn raw(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn count(&mut self, n: usize) {
        self.text.push_str(&n.to_string());
        self.text.push(':');
    }

    fn text(&mut self, s: &str) {
        self.count(s.len());
        self.text.push_str(s);
    }

    fn items(&mut self, script: &Script) {
        for (op, pipeline) in &script.items {
            self.raw(match op {
                SeqOp::Then => "T",
                SeqOp::And => "A",
                SeqOp::Or => "O",
            });
            self.pipeline(pipeline);
        }
    }

    /// A block's body or a substitution's script: its items, counted.
    fn nested(&mut self, script: &Script) {
        self.count(script.items.len());
        self.items(script);
    }

    fn pipeline(&mut self, p: &Pipeline) {
        self.count(p.stages.len());
        for (command, all) in &p.stages {
            self.raw(if *all { "&" } else { "|" });
            match command {
                Command::Cd(dir) => {
                    self.raw("D");
                    self.word(dir);
                }
                Command::Simple(s) => self.simple(s),
                Command::Block(b) => self.block(b),
            }
        }
    }

    fn block(&mut self, b: &Block) {
        self.raw(if b.subshell { "B1" } else { "B0" });
        self.nested(&b.body);
        self.redirects(&b.redirects);
    }

    fn simple(&mut self, s: &Simple) {
        self.raw("S");
        self.count(s.env.len());
        for (name, value) in &s.env {
            self.text(name);
            self.word(value);
        }
        self.count(s.words.len());
        for w in &s.words {
            self.word(w);
        }
        self.redirects(&s.redirects);
    }

    fn redirects(&mut self, redirects: &[Redirect]) {
        self.count(redirects.len());
        for r in redirects {
            self.redirect(r);
        }
    }

    fn redirect(&mut self, r: &Redirect) {
        let digit = |b: bool| if b { "1" } else { "0" };
        match r {
            Redirect::Out { fd, append, target } => {
                self.raw(&format!("o{fd}{}", digit(*append)));
                self.word(target);
            }
            Redirect::OutAll { append, target } => {
                self.raw(&format!("a{}", digit(*append)));
                self.word(target);
            }
            Redirect::In(target) => {
                self.raw("i");
                self.word(target);
            }
            Redirect::Here(w) => {
                self.raw("h");
                match w.parts.as_slice() {
                    // A lone value is fed as bytes (`ToStdin`), not as an argument.
                    [Part::Value(e, span)] => {
                        self.raw("1:V");
                        let v = quote_spanned!(*span=> __p::stdin_value(&(#e)));
                        self.values.push(v);
                    }
                    _ => self.word(w),
                }
            }
            Redirect::Dup { from, to } => self.raw(&format!("d{from}{to}")),
        }
    }

    fn word(&mut self, w: &Word) {
        self.count(w.parts.len());
        for part in &w.parts {
            match part {
                Part::Lit(s) => {
                    self.raw("L");
                    self.text(s);
                }
                Part::Value(e, span) => {
                    self.raw("V");
                    self.values.push(quote_spanned!(*span=> __p::value(&(#e))));
                }
                // The parser rejects splats anywhere but as a whole argument.
                Part::Splat(e, span) => {
                    self.raw("X");
                    self.values.push(quote_spanned!(*span=> __p::splat(#e)));
                }
                Part::Pattern(s) => {
                    self.raw("P");
                    self.text(s);
                }
                Part::Home(None) => self.raw("H"),
                Part::Home(Some(user)) => {
                    self.raw("U");
                    self.text(user);
                }
                Part::Subst(script, quoted, _) => {
                    self.raw(if *quoted { "C1" } else { "C0" });
                    self.nested(script);
                }
            }
        }
    }
}
