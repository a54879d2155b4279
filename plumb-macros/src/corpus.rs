//! Corpus tests of the macro's stages as plain functions: real rustfmt over common commands
//! (`tests/corpus/rustfmt.txt`), and shell lines from real use with the structure each must
//! give (`tests/corpus/grammar.txt`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use proc_macro2::TokenStream;

use crate::lex::{self, Part, Word};
use crate::parse::{self, Command as Cmd, Redirect, Script, SeqOp};
use crate::source::Source;
use crate::{expand, rustfmt};

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tokens(src: &str) -> Option<TokenStream> {
    src.parse().ok()
}

/// What `src`, the content of a token-form `sh!(...)`, means as written: the code it
/// expands to, or the error.
fn written(src: &str) -> Result<String, String> {
    let tokens = tokens(src).ok_or("not Rust tokens")?;
    lex::lex(tokens, Source::Text(src))
        .and_then(parse::parse)
        .map(|s| expand::script(&s, &TokenStream::new()).to_string())
        .map_err(|e| e.message)
}

/// The rustfmt check's verdict on `src`, called with parentheses.
fn rustfmt_check(src: &str) -> Result<(), String> {
    let tokens = tokens(src).ok_or("not Rust tokens")?;
    rustfmt::check(&tokens, || written(src).ok(), || false).map_err(|e| e.message)
}

/// Real rustfmt's text for each macro content, all formatted in one file.
fn rustfmt_all(contents: &[&str]) -> Vec<String> {
    let mut src = String::from("fn f() {\n");
    for c in contents {
        src.push_str(&format!("    sh!({c});\n"));
    }
    src.push_str("}\n");
    // A directory of its own with an empty config: rustfmt's defaults, as in a new project.
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("plumb-rustfmt-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rustfmt.toml"), "").unwrap();
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "this test runs rustfmt, which is part of the toolchain: \
             `rustup component add rustfmt`",
        );
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, src.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "rustfmt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let body = text
        .strip_prefix("fn f() {\n")
        .and_then(|t| t.strip_suffix("}\n"))
        .expect("rustfmt's output has the shape of its input");
    let mut calls: Vec<String> = Vec::new();
    for line in body.lines() {
        match line.strip_prefix("    sh!(") {
            Some(start) => calls.push(start.to_string()),
            None => {
                let last = calls.last_mut().expect("a call starts the output");
                last.push('\n');
                last.push_str(line);
            }
        }
    }
    let calls: Vec<String> = calls
        .into_iter()
        .map(|c| {
            c.strip_suffix(");")
                .expect("a call ends with `);`")
                .to_string()
        })
        .collect();
    assert_eq!(calls.len(), contents.len(), "one call out for each in");
    calls
}

fn lines(corpus: &str) -> Vec<&str> {
    corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

/// Every command of the corpus, as written and as rustfmt leaves it:
/// - as written it is accepted (refused only when rustfmt makes the very same text out of
///   another command, which real rustfmt must then show);
/// - when rustfmt changed it, plumb either refuses with a suggestion that means the same as
///   the original, or refuses without a guess, or it still means the same command.
#[test]
fn rustfmt_damage_is_refused_or_harmless() {
    let text = corpus("rustfmt.txt");
    let originals = lines(&text);
    let report = check_rustfmt_corpus(&originals, false);
    eprintln!("rustfmt corpus: {}", report.summary);
    assert!(report.failures.is_empty(), "{}", report.failures.join("\n"));
}

struct Report {
    failures: Vec<String>,
    summary: String,
}

/// `random`: the input is random token strings, where a file name cut at its dot
/// (`ls > a .b`) may happen; plumb takes `a.b` as written there (see `rustfmt.rs`).
fn check_rustfmt_corpus(originals: &[&str], random: bool) -> Report {
    let formatted = rustfmt_all(originals);
    let mut failures = Vec::new();
    let mut ambiguous: Vec<(&str, String)> = Vec::new();
    let (mut damaged, mut suggested, mut no_guess, mut same) = (0, 0, 0, 0);
    let (mut relexed_count, mut dots) = (0, 0);
    for (&original, formatted) in originals.iter().zip(&formatted) {
        let meaning = match written(original) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("`{original}` is not a valid command: {e}"));
                continue;
            }
        };
        if let Err(e) = rustfmt_check(original) {
            if original == formatted {
                ambiguous.push((original, e));
            } else {
                failures.push(format!("`{original}` is refused as formatted: {e}"));
            }
            continue;
        }
        if original == formatted {
            continue;
        }
        damaged += 1;
        match rustfmt_check(formatted) {
            Err(e) if e.contains("plumb cannot tell") => no_guess += 1,
            Err(e) => {
                let suggestion = e
                    .split_once("out of `")
                    .and_then(|(_, rest)| rest.split_once("`, the only spacing"))
                    .map(|(s, _)| s.to_string());
                match suggestion.map(|s| (written(&s), s)) {
                    Some((Ok(m), _)) if m == meaning => suggested += 1,
                    other => failures.push(format!(
                        "`{original}` -> `{formatted}`: wrong suggestion {other:?}: {e}"
                    )),
                }
            }
            Ok(()) => match written(formatted) {
                Ok(m) if m == meaning => same += 1,
                _ if relexed(original, formatted) => relexed_count += 1,
                _ if random && dot_respaced(original, formatted) => dots += 1,
                other => failures.push(format!(
                    "`{original}` -> `{formatted}` passes the rustfmt check and gives {:?}",
                    other.map(|_| "another command")
                )),
            },
        }
    }
    failures.extend(unproven_refusals(&ambiguous));
    if std::env::var_os("PLUMB_CORPUS_VERBOSE").is_some() {
        for (&o, f) in originals.iter().zip(&formatted) {
            if o != f {
                eprintln!("{o:40} -> {f}");
            }
        }
        for (a, _) in &ambiguous {
            eprintln!("refused as written: {a}");
        }
    }
    let summary = format!(
        "{} commands, {damaged} changed by rustfmt: {suggested} refused with the original, \
         {no_guess} refused without a guess, {same} harmless; {} refused as written because \
         rustfmt makes the same text out of another command; {relexed_count} whose tokens \
         rustfmt changed; {dots} file names cut at a dot",
        originals.len(),
        ambiguous.len()
    );
    Report { failures, summary }
}

/// Whether rustfmt changed the tokens themselves, not only the spaces between them, by
/// writing a number next to a dot (`2 .2` becomes the float `2.2`): no check on tokens can
/// see that, and no command written by a person looks like it. The checked-in corpus has
/// none; the random one does.
fn relexed(original: &str, formatted: &str) -> bool {
    let texts = |s: &str| -> Vec<String> {
        tokens(s)
            .map(|t| t.into_iter().map(|t| t.to_string()).collect())
            .unwrap_or_default()
    };
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    squeeze(original) == squeeze(formatted) && texts(original) != texts(formatted)
}

/// Whether rustfmt only removed spaces around dots.
fn dot_respaced(original: &str, formatted: &str) -> bool {
    let squeeze = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if c == '.' {
                out.truncate(out.trim_end().len());
            }
            if !(c == ' ' && out.ends_with('.')) {
                out.push(c);
            }
        }
        out
    };
    squeeze(original) == squeeze(formatted)
}

/// Commands refused as written: each must be what real rustfmt makes of another spelling
/// of the same tokens, with another meaning.
fn unproven_refusals(refused: &[(&str, String)]) -> Vec<String> {
    let mut witnesses: Vec<(usize, String)> = Vec::new();
    for (k, (src, _)) in refused.iter().enumerate() {
        let mine = written(src).ok();
        let others = rustfmt::spellings(&tokens(src).unwrap());
        for (meaning, text) in others {
            if Some(&meaning) != mine.as_ref() && witnesses.iter().filter(|w| w.0 == k).count() < 4
            {
                witnesses.push((k, text));
            }
        }
    }
    let texts: Vec<&str> = witnesses.iter().map(|w| w.1.as_str()).collect();
    let formatted = if texts.is_empty() {
        Vec::new()
    } else {
        rustfmt_all(&texts)
    };
    refused
        .iter()
        .enumerate()
        .filter(|(k, (src, _))| {
            !witnesses
                .iter()
                .zip(&formatted)
                .any(|(w, f)| w.0 == *k && f == src)
        })
        .map(|(_, (src, e))| format!("`{src}` is refused with no spelling to show for it: {e}"))
        .collect()
}

/// The same rules over random shell-like token strings, for hunting gaps in the model of
/// rustfmt: `cargo test -p plumb-macros --lib random_rustfmt -- --ignored`.
#[test]
#[ignore]
fn random_rustfmt() {
    const PIECES: &[&str] = &[
        "ls", "a", "b", "x1", "foo", "2", "10", "1.5", "-", "--", "/", ".", "..", "+", "*", "=",
        ",", ":", "|", "&", "&&", "||", "|&", ">", ">>", "2>", "<", ";", "?", "!", "%", "^", "~",
        "@", "[x]", "{a,b}", "{}", "\"s\"", "-a", "/tmp", "a.b", "x-y", "&b", "::", "->", "=>",
        "..=", "<-", "<=", ">=", "==", "!=", "+=", "(a)", "f(x)", "if", "true", "$x", "1..3",
        "0.5",
    ];
    let mut seed: u64 = std::env::var("PLUMB_RUSTFMT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut srcs = Vec::new();
    while srcs.len() < 4000 {
        let len = 1 + next(8);
        let mut s = String::new();
        for i in 0..len {
            if i > 0 && next(3) > 0 {
                s.push(' ');
            }
            s.push_str(PIECES[next(PIECES.len())]);
        }
        // What rustc's tokenizer refuses (comments, `x"s"` prefixes) is left out.
        let prefix = s
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_alphanumeric() && w[1] == b'"');
        let comment = s.contains("//") || s.contains("/*");
        if !prefix && !comment && written(&s).is_ok() {
            srcs.push(s);
        }
    }
    let refs: Vec<&str> = srcs.iter().map(String::as_str).collect();
    let report = check_rustfmt_corpus(&refs, true);
    eprintln!("random: {}", report.summary);
    assert!(report.failures.is_empty(), "{}", report.failures.join("\n"));
}

/// How plumb reads one line of shell: its structure, or the error.
#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted(String),
    Refused(String),
    /// Rust's tokenizer does not take the text: no token form.
    NotTokens,
}

/// The string form of `text`.
fn string_outcome(text: &str) -> Outcome {
    let lit = proc_macro2::TokenTree::Literal(proc_macro2::Literal::string(text));
    outcome(lit.into(), text)
}

/// The token form of `text`, in `sh!(...)` (where the rustfmt check applies).
fn token_outcome(text: &str) -> Outcome {
    match tokens(text) {
        None => Outcome::NotTokens,
        Some(tokens) => outcome(tokens, text),
    }
}

fn outcome(input: TokenStream, text: &str) -> Outcome {
    let script = lex::lex(input.clone(), Source::Text(text)).and_then(parse::parse);
    let written = || {
        let s = script.as_ref().ok()?;
        Some(expand::script(s, &TokenStream::new()).to_string())
    };
    if let Err(e) = rustfmt::check(&input, written, || false) {
        return Outcome::Refused(e.message);
    }
    match script {
        Ok(s) => Outcome::Accepted(render(&s)),
        Err(e) => Outcome::Refused(e.message),
    }
}

/// A script's structure in one line: `[word]`s, `NAME=[value]`, redirections glued to their
/// target (`>[f]`), operators between commands; `${e}` and `$[e]` for interpolations.
fn render(script: &Script) -> String {
    let mut out = String::new();
    for (i, (op, pipeline)) in script.items.iter().enumerate() {
        if i > 0 {
            out.push_str(match op {
                SeqOp::Then => " ; ",
                SeqOp::And => " && ",
                SeqOp::Or => " || ",
            });
        }
        for (k, (command, all)) in pipeline.stages.iter().enumerate() {
            if k > 0 {
                out.push_str(if pipeline.stages[k - 1].1 {
                    " |& "
                } else {
                    " | "
                });
            }
            let _ = all;
            out.push_str(&render_command(command));
        }
    }
    out
}

fn render_command(command: &Cmd) -> String {
    let (s, mut parts) = match command {
        Cmd::Cd(dir) => return format!("cd {}", render_word(dir)),
        Cmd::Block(b) => {
            let (open, close) = if b.subshell { ("(", ")") } else { ("{", "}") };
            let mut parts = vec![format!("{open} {} {close}", render(&b.body))];
            parts.extend(b.redirects.iter().map(render_redirect));
            return parts.join(" ");
        }
        Cmd::Simple(s) => (s, Vec::new()),
    };
    for (name, value) in &s.env {
        parts.push(format!("{name}={}", render_word(value)));
    }
    parts.extend(s.words.iter().map(render_word));
    parts.extend(s.redirects.iter().map(render_redirect));
    parts.join(" ")
}

fn render_redirect(r: &Redirect) -> String {
    match r {
        Redirect::Out { fd, append, target } => {
            let fd = if *fd == 1 {
                String::new()
            } else {
                fd.to_string()
            };
            let op = if *append { ">>" } else { ">" };
            format!("{fd}{op}{}", render_word(target))
        }
        Redirect::OutAll { append, target } => {
            let op = if *append { "&>>" } else { "&>" };
            format!("{op}{}", render_word(target))
        }
        Redirect::In(target) => format!("<{}", render_word(target)),
        Redirect::Here(w) => format!("<<<{}", render_word(w)),
        Redirect::Dup { from, to } => format!("{from}>&{to}"),
    }
}

/// A word in brackets: literal text as it is, `${e}` and `$[e]` for values, `<*.txt>` for a
/// pattern, `<~>` and `<~user>` for a home, `$(...)` and `"$(...)"` for a substitution.
fn render_word(w: &Word) -> String {
    let inner: String = w
        .parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Value(e, _) => format!("${{{e}}}"),
            Part::Splat(e, _) => format!("$[{e}]"),
            Part::Pattern(s) => format!("<{s}>"),
            Part::Home(user) => format!("<~{}>", user.as_deref().unwrap_or_default()),
            Part::Subst(script, false, _) => format!("$({})", render(script)),
            Part::Subst(script, true, _) => format!("\"$({})\"", render(script)),
        })
        .collect();
    format!("[{inner}]")
}

/// One case of `tests/corpus/grammar.txt`.
struct Case<'a> {
    text: &'a str,
    string: Expect<'a>,
    token: Option<Expect<'a>>,
}

#[derive(Debug, Clone, Copy)]
enum Expect<'a> {
    Structure(&'a str),
    Refused(&'a str),
    NotTokens,
}

impl Expect<'_> {
    fn holds(self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Expect::Structure(s), Outcome::Accepted(got)) => s == got,
            (Expect::Refused(m), Outcome::Refused(got)) => got.contains(m),
            (Expect::NotTokens, Outcome::NotTokens) => true,
            _ => false,
        }
    }
}

fn expectation(line: &str) -> Option<Expect<'_>> {
    if let Some(s) = line.strip_prefix("= ") {
        Some(Expect::Structure(s))
    } else if let Some(m) = line.strip_prefix("! ") {
        Some(Expect::Refused(m))
    } else if line == "-" {
        Some(Expect::NotTokens)
    } else {
        None
    }
}

fn cases(text: &str) -> Vec<Case<'_>> {
    let mut out: Vec<Case<'_>> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(shell) = line.strip_prefix("$ ") {
            out.push(Case {
                text: shell,
                string: Expect::NotTokens,
                token: None,
            });
            continue;
        }
        let case = out.last_mut().expect("a `$ ` line starts each case");
        match line.strip_prefix("token ") {
            Some(rest) => case.token = expectation(rest),
            None => case.string = expectation(line).unwrap_or_else(|| panic!("bad line: {line}")),
        }
    }
    out
}

/// Lines of shell from real use (`tests/corpus/grammar.txt`), each with the structure plumb
/// must give it or the error it must refuse it with, in the string form and the token form.
#[test]
fn grammar_corpus() {
    let text = corpus("grammar.txt");
    let cases = cases(&text);
    let mut failures = Vec::new();
    let (mut string_ok, mut token_ok, mut braces_ok) = (0, 0, 0);
    for case in &cases {
        let string = string_outcome(case.text);
        let token = token_outcome(case.text);
        if !case.string.holds(&string) {
            failures.push(format!("$ {}\n  string form: {string:?}", case.text));
        }
        if !case.token.unwrap_or(case.string).holds(&token) {
            failures.push(format!("$ {}\n  token form: {token:?}", case.text));
        }
        string_ok += matches!(string, Outcome::Accepted(_)) as usize;
        token_ok += matches!(token, Outcome::Accepted(_)) as usize;
        // In braces rustfmt leaves the input alone, so its check does not apply.
        let braces_accepted = tokens(case.text).is_some_and(|t| {
            lex::lex(t, Source::Text(case.text))
                .and_then(parse::parse)
                .is_ok()
        });
        braces_ok += braces_accepted as usize;
    }
    let pct = |n: usize| 100.0 * n as f64 / cases.len() as f64;
    eprintln!(
        "grammar corpus: {} lines; accepted: string form {string_ok} ({:.1} %), token form \
         in braces {braces_ok} ({:.1} %), in parentheses {token_ok} ({:.1} %)",
        cases.len(),
        pct(string_ok),
        pct(braces_ok),
        pct(token_ok)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Prints the corpus with what plumb makes of each line, to write the expectations of new
/// lines (then read each one): `PLUMB_GRAMMAR_INPUT=lines.txt cargo test -p plumb-macros
/// --lib print_grammar -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_grammar() {
    let input = std::fs::read_to_string(std::env::var("PLUMB_GRAMMAR_INPUT").unwrap()).unwrap();
    let show = |o: &Outcome| match o {
        Outcome::Accepted(s) => format!("= {s}"),
        Outcome::Refused(m) => format!("! {}", m.lines().next().unwrap_or_default()),
        Outcome::NotTokens => "-".into(),
    };
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let (string, token) = (string_outcome(line), token_outcome(line));
        println!("$ {line}\n{}", show(&string));
        if token != string {
            println!("token {}", show(&token));
        }
    }
}
