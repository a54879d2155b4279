//! What `sh!` expands to: a *plan*, the shape of the command encoded as a string literal by
//! the macro, and the interpolated values; decoded here into an [`Expr`]. The grammar is
//! written down in `plumb-macros/src/expand.rs`; both sides change together.
//!
//! One string and one array per `sh!`, instead of the code to build the tree, is what
//! keeps a file with many `sh!` quick to compile.
//!
//! The grammar, as `plumb-macros/src/expand.rs` writes it:
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

use std::ffi::{OsStr, OsString};
use std::sync::Arc;

use crate::model::expr::{pipe, Cmd, Expr, Node, Redirect, SeqOp};
use crate::model::word::{Expansion, Part, Word};

/// A sequence of items, or the one item when alone; `None` when empty.
fn sequence(mut items: Vec<(SeqOp, Expr)>) -> Option<Expr> {
    match items.len() {
        0 => None,
        1 => items.pop().map(|(_, e)| e),
        _ => Some(Expr::from_node(Node::Seq(items))),
    }
}

/// An interpolated value: one argument (`$x`), any number (`$[xs]`), or stdin bytes
/// (`<<< $x`).
#[derive(Debug, Default)]
pub enum Val {
    /// Taken already (each value is used once).
    #[default]
    Used,
    /// One argument.
    One(OsString),
    /// Zero or more arguments.
    Many(Vec<OsString>),
    /// Bytes for stdin.
    Bytes(Vec<u8>),
}

/// The `Expr` of `plan` with `values`. A plan the runtime cannot read (the macro and the
/// runtime from different versions of plumb) becomes a command that fails with a message
/// saying so, never a panic.
pub fn build(plan: &str, values: &mut [Val]) -> Expr {
    let mut r = Reader {
        plan: plan.as_bytes(),
        pos: 0,
        values: values.iter_mut(),
    };
    r.script().unwrap_or_else(|| {
        let why = "plumb: the sh! macro and the runtime come from different plumb versions";
        Expr::from_node(Node::Cmd(Cmd::plain(vec![why.into()])))
    })
}

struct Reader<'a> {
    plan: &'a [u8],
    pos: usize,
    values: std::slice::IterMut<'a, Val>,
}

impl Reader<'_> {
    /// A whole plan: items until the end.
    fn script(&mut self) -> Option<Expr> {
        let mut items = Vec::new();
        while self.pos < self.plan.len() {
            items.push(self.item()?);
        }
        sequence(items)
    }

    /// A nested script (a block's body, a substitution): `count ':'` items.
    fn nested(&mut self) -> Option<Expr> {
        let n = self.count()?;
        let mut items = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            items.push(self.item()?);
        }
        sequence(items)
    }

    /// `op pipeline`, the operator saying when it runs.
    fn item(&mut self) -> Option<(SeqOp, Expr)> {
        let op = match self.next_byte()? {
            b'T' => SeqOp::Then,
            b'A' => SeqOp::And,
            b'O' => SeqOp::Or,
            _ => return None,
        };
        Some((op, self.pipeline()?))
    }

    fn pipeline(&mut self) -> Option<Expr> {
        let n = self.count()?;
        let mut stages = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let all = match self.next_byte()? {
                b'|' => false,
                b'&' => true,
                _ => return None,
            };
            stages.push((self.command()?, all));
        }
        match stages.as_slice() {
            [(_, false)] => stages.pop().map(|(e, _)| e),
            _ => Some(pipe(stages)),
        }
    }

    fn command(&mut self) -> Option<Expr> {
        match self.next_byte()? {
            b'D' => {
                let dir = self.word_parts()?;
                Some(Expr::from_node(Node::Cd(dir)))
            }
            b'S' => self.simple(),
            b'B' => self.block(),
            _ => None,
        }
    }

    /// `{ ...; }` (`B0`) or `( ... )` (`B1`): a nested script and its redirections.
    fn block(&mut self) -> Option<Expr> {
        let subshell = self.digit()? == 1;
        let body = self.nested()?;
        let redirects = self.redirects()?;
        Some(Expr::from_node(Node::Block {
            body,
            subshell,
            redirects,
        }))
    }

    fn simple(&mut self) -> Option<Expr> {
        let mut env = Vec::new();
        for _ in 0..self.count()? {
            let name = OsString::from(self.text()?);
            env.push((name, self.word_parts()?));
        }
        let mut argv = Vec::new();
        for _ in 0..self.count()? {
            self.arg(&mut argv)?;
        }
        let redirects = self.redirects()?;
        let plain = argv
            .iter()
            .chain(env.iter().map(|(_, w)| w))
            .all(|w| w.as_plain().is_some());
        let cmd = if plain {
            let text = |w: Word| w.as_plain().map(OsStr::to_os_string).unwrap_or_default();
            Cmd {
                argv: argv.into_iter().map(text).collect(),
                env: env.into_iter().map(|(k, w)| (k, text(w))).collect(),
                redirects,
                expand: None,
            }
        } else {
            Cmd {
                argv: Vec::new(),
                env: Vec::new(),
                redirects,
                expand: Some(Arc::new(Expansion { argv, env })),
            }
        };
        Some(Expr::from_node(Node::Cmd(cmd)))
    }

    fn redirects(&mut self) -> Option<Vec<Redirect>> {
        let n = self.count()?;
        let mut redirects = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            redirects.push(self.redirect()?);
        }
        Some(redirects)
    }

    /// One word of a command line: a splat adds any number of arguments.
    fn arg(&mut self, argv: &mut Vec<Word>) -> Option<()> {
        if self.plan[self.pos..].starts_with(b"1:X") {
            self.pos += 3;
            match self.take() {
                Val::Many(args) => argv.extend(args.into_iter().map(Word::plain)),
                Val::One(arg) => argv.push(Word::plain(arg)),
                _ => return None,
            }
        } else {
            argv.push(self.word_parts()?);
        }
        Some(())
    }

    fn redirect(&mut self) -> Option<Redirect> {
        Some(match self.next_byte()? {
            b'o' => {
                let fd = self.digit()?;
                let append = self.digit()? == 1;
                Redirect::Out {
                    fd,
                    append,
                    path: self.word()?,
                }
            }
            b'a' => {
                let append = self.digit()? == 1;
                Redirect::OutAll {
                    append,
                    path: self.word()?,
                }
            }
            b'i' => Redirect::In(self.word()?),
            b'h' if self.plan[self.pos..].starts_with(b"1:V") => {
                self.pos += 3;
                match self.take() {
                    Val::Bytes(b) => Redirect::Here(b),
                    Val::One(s) => Redirect::Here(crate::sys::into_bytes(s)),
                    _ => return None,
                }
            }
            b'h' => Redirect::Here(crate::sys::into_bytes(self.word()?)),
            b'd' => Redirect::Dup {
                from: self.digit()?,
                to: self.digit()?,
            },
            _ => return None,
        })
    }

    /// A word that cannot expand (a redirection's target): its parts, concatenated.
    fn word(&mut self) -> Option<OsString> {
        self.word_parts()?.as_plain().map(OsStr::to_os_string)
    }

    /// A word: its parts. `L` text, `V`/`X` a value, `P` a pattern, `H` `~`, `U` `~user`,
    /// `C` a substitution (its digit 1 when quoted) and its nested script.
    fn word_parts(&mut self) -> Option<Word> {
        let mut parts: Vec<Part> = Vec::new();
        for _ in 0..self.count()? {
            let part = match self.next_byte()? {
                b'L' => Part::Text(self.text()?.into()),
                b'V' | b'X' => match self.take() {
                    Val::One(s) => Part::Text(s),
                    _ => return None,
                },
                b'P' => Part::Pattern(self.text()?.into()),
                b'H' => Part::Home(None),
                b'U' => Part::Home(Some(self.text()?.into())),
                b'C' => {
                    let quoted = self.digit()? == 1;
                    let expr = self.nested()?;
                    Part::Subst { expr, quoted }
                }
                _ => return None,
            };
            // Adjacent texts are one text: a word of plain bytes stays a plain word.
            match (parts.last_mut(), part) {
                (Some(Part::Text(t)), Part::Text(more)) => t.push(more),
                (_, part) => parts.push(part),
            }
        }
        Some(Word(parts))
    }

    fn take(&mut self) -> Val {
        self.values.next().map(std::mem::take).unwrap_or_default()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = *self.plan.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn digit(&mut self) -> Option<u8> {
        let b = self.next_byte()?;
        b.is_ascii_digit().then(|| b - b'0')
    }

    /// `decimal ':'`
    fn count(&mut self) -> Option<usize> {
        let len = self.plan[self.pos..].iter().position(|&b| b == b':')?;
        let digits = std::str::from_utf8(&self.plan[self.pos..self.pos + len]).ok()?;
        let n = digits.parse().ok()?;
        self.pos += len + 1;
        Some(n)
    }

    /// `count text`: the plan is a `str`, and counts are byte lengths of whole strings.
    fn text(&mut self) -> Option<&str> {
        let n = self.count()?;
        let bytes = self.plan.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        std::str::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_decodes_into_the_expression() {
        let mut values = [
            Val::One("src".into()),
            Val::Many(vec!["a".into(), "b c".into()]),
            Val::One(".txt".into()),
        ];
        let e = build(
            "T2:|S0:3:1:L2:ls1:V1:X1:o102:L3:outV|S0:1:1:L2:wc0:",
            &mut values,
        );
        assert_eq!(e.to_string(), "ls src a 'b c' > out.txt | wc");
    }

    /// Whatever the string, `build` gives an `Expr`, never a panic: random plans from the
    /// plan's own alphabet, with and without values.
    #[test]
    fn any_plan_decodes_without_panicking() {
        const ALPHABET: &[u8] = b"TAOSDLVXoaihd|&0123456789:;x\xff";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let plan: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
                .collect();
            let mut values = [
                Val::One("v".into()),
                Val::Many(vec!["m".into()]),
                Val::Bytes(b"b".to_vec()),
            ];
            let _ = build(&plan, &mut values).to_string();
            let _ = build(&plan, &mut []).to_string();
        }
        let huge = format!("T1:|S0:1:1:L{}:x0:", usize::MAX);
        assert!(build(&huge, &mut [])
            .to_string()
            .contains("different plumb versions"));
    }

    #[test]
    fn a_plan_from_another_version_is_a_failing_command() {
        let e = build("Q", &mut []);
        assert!(e.to_string().contains("different plumb versions"), "{e}");
    }
}
