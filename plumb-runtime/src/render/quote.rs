//! POSIX `sh` quoting: the one place that turns arguments into shell text.
//!
//! Every byte but NUL survives: a word is left bare only when it is made of characters no
//! shell treats specially; otherwise it is single-quoted, with each `'` written as `'\''`.

use crate::sys::OsBytes;
use std::ffi::OsStr;
use std::fmt;

use crate::model::expr::{Cmd, Expr, Node, Redirect, SeqOp};
use crate::model::word::{Part, Word};

/// Characters that never need quoting anywhere in a word.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-./:@%+,^=".contains(&b)
}

/// Appends `arg`, quoted for a POSIX shell, to `out`.
pub(crate) fn quote_into(arg: &[u8], out: &mut Vec<u8>) {
    // `=` is safe in an argument (a command's first word goes through
    // `quote_program_into`); `~` and `#` only matter at the start, and we simply quote them
    // everywhere.
    if !arg.is_empty() && arg.iter().all(|&b| is_safe(b)) {
        out.extend_from_slice(arg);
    } else {
        single_quote_into(arg, out);
    }
}

/// `arg` in single quotes, each `'` written as `'\''`.
fn single_quote_into(arg: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for &b in arg {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// Appends a command's first word: like [`quote_into`], but a word with `=` is always
/// quoted, since a bare `NAME=value` there is an assignment, and the next word would run
/// as the program (`FOO=1 id`), with the variable set.
pub(crate) fn quote_program_into(program: &[u8], out: &mut Vec<u8>) {
    if program.contains(&b'=') {
        single_quote_into(program, out);
    } else {
        quote_into(program, out);
    }
}

/// `arg` quoted for a POSIX shell.
pub fn quote(arg: impl AsRef<OsStr>) -> Vec<u8> {
    let mut out = Vec::new();
    quote_into(arg.as_ref().as_bytes(), &mut out);
    out
}

/// The command line of `expr` as a shell user would read it (lossy for non-UTF-8 bytes).
pub(crate) fn render(expr: &Expr) -> String {
    let mut out = Vec::new();
    render_into(expr, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn render_into(expr: &Expr, out: &mut Vec<u8>) {
    let Some(sudo) = &expr.opts().sudo else {
        return render_node(expr, out);
    };
    // Shown as it reads in a shell; a compound node in parentheses, as it is all sudo'd.
    out.extend_from_slice(b"sudo ");
    if let Some(user) = &sudo.user {
        out.extend_from_slice(b"-u ");
        quote_into(user.as_bytes(), out);
        out.push(b' ');
    }
    let compound = !matches!(expr.node(), Node::Cmd(_));
    if compound {
        out.push(b'(');
    }
    render_node(expr, out);
    if compound {
        out.push(b')');
    }
}

fn render_node(expr: &Expr, out: &mut Vec<u8>) {
    match expr.node() {
        Node::Cmd(cmd) => render_command(cmd, out),
        Node::Pipe(stages) => {
            for (i, (stage, _)) in stages.iter().enumerate() {
                if i > 0 {
                    // The flag of the stage before says which pipe joins them.
                    out.extend_from_slice(if stages[i - 1].1 { b" |& " } else { b" | " });
                }
                render_into(stage, out);
            }
        }
        Node::Seq(items) => {
            for (i, (op, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(match op {
                        SeqOp::Then => b"; ",
                        SeqOp::And => b" && ",
                        SeqOp::Or => b" || ",
                    });
                }
                render_into(item, out);
            }
        }
        Node::Cd(dir) => {
            out.extend_from_slice(b"cd ");
            render_word(dir, out);
        }
        Node::Block {
            body,
            subshell,
            redirects,
        } => {
            out.extend_from_slice(if *subshell { b"( " } else { b"{ " });
            render_into(body, out);
            out.extend_from_slice(if *subshell { b" )" } else { b"; }" });
            for r in redirects {
                out.push(b' ');
                redirect(r, out);
            }
        }
    }
    if expr.opts().stderr_to_stdout {
        out.extend_from_slice(b" 2>&1");
    }
}

fn render_command(cmd: &Cmd, out: &mut Vec<u8>) {
    let mut first = true;
    let mut space = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    if let Some(x) = &cmd.expand {
        for (k, w) in &x.env {
            space(out);
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            render_word(w, out);
        }
        for w in &x.argv {
            space(out);
            render_word(w, out);
        }
    }
    for (k, v) in &cmd.env {
        space(out);
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        quote_into(v.as_bytes(), out);
    }
    for (i, a) in cmd.argv.iter().enumerate() {
        space(out);
        if i == 0 {
            quote_program_into(a.as_bytes(), out);
        } else {
            quote_into(a.as_bytes(), out);
        }
    }
    for r in &cmd.redirects {
        space(out);
        redirect(r, out);
    }
}

/// A word as it was written: its text quoted, its patterns, `~` and `$(...)` bare; in a
/// word with a quoted substitution, the substitution and the text around it in double
/// quotes (`"backup-$(date +%F).tgz"`). The `/` right after `~` stays bare, as sh needs it.
fn render_word(word: &Word, out: &mut Vec<u8>) {
    let double = word
        .0
        .iter()
        .any(|p| matches!(p, Part::Subst { quoted: true, .. }));
    let mut open = false;
    let mut after_home = false;
    for part in &word.0 {
        let mut part_text = None;
        if let Part::Text(t) = part {
            let mut t = t.as_bytes();
            if after_home && t.starts_with(b"/") {
                close_quote(&mut open, out);
                out.push(b'/');
                t = &t[1..];
            }
            part_text = Some(t);
        }
        let inside = double && matches!(part, Part::Text(_) | Part::Subst { quoted: true, .. });
        if inside != open && part_text.is_none_or(|t| !t.is_empty()) {
            out.push(b'"');
            open = inside;
        }
        match part {
            Part::Text(_) if open => {
                for &b in part_text.unwrap_or_default() {
                    if matches!(b, b'"' | b'\\' | b'$' | b'`') {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
            }
            Part::Text(_) => {
                if let Some(t) = part_text.filter(|t| !t.is_empty()) {
                    quote_into(t, out);
                }
            }
            Part::Pattern(p) => out.extend_from_slice(p.as_bytes()),
            Part::Home(user) => {
                out.push(b'~');
                out.extend_from_slice(user.as_deref().unwrap_or_default().as_bytes());
            }
            Part::Subst { expr, .. } => {
                out.extend_from_slice(b"$(");
                render_into(expr, out);
                out.push(b')');
            }
        }
        after_home = matches!(part, Part::Home(_));
    }
    close_quote(&mut open, out);
}

fn close_quote(open: &mut bool, out: &mut Vec<u8>) {
    if *open {
        out.push(b'"');
        *open = false;
    }
}

fn redirect(r: &Redirect, out: &mut Vec<u8>) {
    let (op, target): (String, &[u8]) = match r {
        Redirect::Out { fd, append, path } => {
            let fd = if *fd == 1 {
                String::new()
            } else {
                fd.to_string()
            };
            let op = if *append { ">>" } else { ">" };
            (format!("{fd}{op} "), path.as_bytes())
        }
        Redirect::OutAll { append, path } => {
            let op = if *append { "&>> " } else { "&> " };
            (op.to_string(), path.as_bytes())
        }
        Redirect::In(path) => ("< ".to_string(), path.as_bytes()),
        Redirect::Here(bytes) if bytes.len() <= 40 => ("<<< ".to_string(), bytes.as_slice()),
        Redirect::Here(bytes) => {
            out.extend_from_slice(format!("<<< <{} bytes>", bytes.len()).as_bytes());
            return;
        }
        Redirect::Dup { from, to } => {
            let from = if *from == 1 {
                String::new()
            } else {
                from.to_string()
            };
            out.extend_from_slice(format!("{from}>&{to}").as_bytes());
            return;
        }
    };
    out.extend_from_slice(op.as_bytes());
    quote_into(target, out);
}

impl fmt::Display for Expr {
    /// The command line, quoted for a POSIX shell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({})", render(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        String::from_utf8(quote(s)).unwrap()
    }

    #[test]
    fn quoting() {
        assert_eq!(q("ls"), "ls");
        assert_eq!(q("--color=auto"), "--color=auto");
        assert_eq!(q(""), "''");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("it's"), "'it'\\''s'");
        assert_eq!(q("$HOME"), "'$HOME'");
        assert_eq!(q("~"), "'~'");
        assert_eq!(q("*"), "'*'");
    }

    /// Words with patterns, `~` and substitutions read as they were written.
    #[test]
    fn expanding_words_read_as_written() {
        use crate::model::plan::{build, Val};
        let show = |plan: &str, values: &mut [Val]| build(plan, values).to_string();
        let date = "1:T1:|S0:2:1:L4:date1:L3:+%F0:";
        for (plan, values, want) in [
            (
                "T1:|S0:2:1:L2:ls2:VP5:*.txt0:",
                vec![Val::One("a b".into())],
                "ls 'a b'*.txt",
            ),
            (
                "T1:|S0:3:1:L2:cp2:HL10:/.config/x1:L1:.0:",
                vec![],
                "cp ~/.config/x .",
            ),
            ("T1:|S0:2:1:L2:ls2:HL7:/my dir0:", vec![], "ls ~/'my dir'"),
            ("T1:|S0:2:1:L2:ls3:HL1:/P5:*.txt0:", vec![], "ls ~/*.txt"),
            (
                "T1:|S0:2:1:L3:cat2:U4:userL6:/notes0:",
                vec![],
                "cat ~user/notes",
            ),
            ("T1:|S1:1:A2:HL4:/bin1:1:L3:env0:", vec![], "A=~/bin env"),
            (
                &format!("T1:|S0:3:1:L3:tar3:L7:backup-C1{date}L4:.tgz1:L4:data0:"),
                vec![],
                "tar \"backup-$(date +%F).tgz\" data",
            ),
            (
                &format!("T1:|S0:2:1:L2:ls2:C1{date}P5:*.txt0:"),
                vec![],
                "ls \"$(date +%F)\"*.txt",
            ),
            (
                &format!("T1:|S0:2:1:L4:echo1:C0{date}0:"),
                vec![],
                "echo $(date +%F)",
            ),
            (
                "T1:|B02:T1:|S0:1:1:L4:date0:T1:|S0:2:1:L4:echo1:L1:b0:2:o101:L9:build.logd21",
                vec![],
                "{ date; echo b; } > build.log 2>&1",
            ),
            (
                "T2:|B12:T1:|D1:L3:subA1:|S0:1:1:L3:pwd0:0:|S0:1:1:L4:tail0:",
                vec![],
                "( cd sub && pwd ) | tail",
            ),
        ] {
            let mut values = values;
            assert_eq!(show(plan, &mut values), want, "{plan}");
        }
    }

    /// Every byte string but NUL survives a round trip through a real `sh`.
    #[test]
    #[cfg(unix)]
    fn round_trip_through_sh() {
        use std::os::unix::ffi::OsStrExt;
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"'".to_vec(),
            b"''\\'".to_vec(),
            b"a\nb".to_vec(),
            b"$(id)`id`;|&<>*?[]{}~#!\"".to_vec(),
            vec![0xff, 0xfe, b'\'', 0x80],
            b"-n".to_vec(),
        ];
        cases.push((1u8..=255).collect());
        for case in cases {
            let mut script = b"printf %s ".to_vec();
            quote_into(&case, &mut script);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(OsStr::from_bytes(&script))
                .output()
                .unwrap();
            assert_eq!(
                out.stdout,
                case,
                "script {:?}",
                String::from_utf8_lossy(&script)
            );
        }
    }
}
