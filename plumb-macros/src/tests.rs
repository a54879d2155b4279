//! The lexer and parser as plain functions, on token streams parsed from strings (proc-macro2's
//! fallback keeps real positions with `span-locations`).

use crate::lex::{self, Op, Part, Tok};
use crate::parse::{self, Command, Redirect, SeqOp};
use crate::source::Source;

fn toks(src: &str) -> Vec<Tok> {
    let tokens = src.parse().unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
    lex::lex(tokens, Source::Text(src)).expect("lexes")
}

/// Renders tokens compactly: words in brackets, operators bare, interpolations as `{..}`.
fn show(src: &str) -> String {
    toks(src)
        .iter()
        .map(|t| match t {
            Tok::Word(w) => {
                let inner: String = w
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(s) => s.clone(),
                        Part::Value(e, _) => format!("{{{e}}}"),
                        Part::Splat(e, _) => format!("[{e}]"),
                    })
                    .collect();
                format!("<{inner}>")
            }
            Tok::Op(op, _) => op.text(),
            Tok::Newline(_) => "NL".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole pipeline on `src` as the content of `sh!(...)`.
fn compile(src: &str) -> lex::Result<proc_macro2::TokenStream> {
    let tokens = src.parse().expect("rust tokens");
    crate::compile(tokens, &quote::quote!(::plumb), Source::Text(src))
}

fn err(src: &str) -> String {
    match compile(src) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(e) => {
            let first_line = e.message.lines().next().unwrap_or_default();
            assert!(
                !first_line.contains("  "),
                "a broken line in {:?}",
                e.message
            );
            e.message
        }
    }
}

#[test]
fn token_form_rebuilds_words_from_positions() {
    assert_eq!(show("ls -la ./src/main.rs"), "<ls> <-la> <./src/main.rs>");
    assert_eq!(show("ls --color=auto a.txt"), "<ls> <--color=auto> <a.txt>");
    assert_eq!(show("curl 127.0.0.1:8080"), "<curl> <127.0.0.1:8080>");
    assert_eq!(show("cat ~/x"), "<cat> <~/x>");
    assert_eq!(show("a 2>&1 | b"), "<a> 2>&1 | <b>");
    assert_eq!(show("a >&2"), "<a> 1>&2");
    assert_eq!(show("echo x{a,b}[c]"), "<echo> <x{a,b}[c]>");
}

#[test]
fn operators() {
    assert_eq!(show("a|b|&c"), "<a> | <b> |& <c>");
    assert_eq!(show("a && b || c ; d"), "<a> && <b> || <c> ; <d>");
    assert_eq!(
        show("a > f >> g 2> h 2>> i &> j &>> k < l"),
        "<a> > <f> >> <g> 2> <h> 2>> <i> &> <j> &>> <k> < <l>"
    );
    assert_eq!(show("a <<< $v"), "<a> <<< <{v}>");
    assert_eq!(show("echo 10|cat"), "<echo> <10> | <cat>");
    assert_eq!(show("echo a>b"), "<echo> <a> > <b>");
}

#[test]
fn interpolation() {
    assert_eq!(
        show("echo $x ${a.b()} $[v] $$"),
        "<echo> <{x}> <{a . b ()}> <[v]> <$>"
    );
    assert_eq!(show("echo pre$x.txt"), "<echo> <pre{x}.txt>");
    assert_eq!(show(r#"echo "a $x b" "$$""#), "<echo> <a {x} b> <$>");
    assert_eq!(show(r#"echo r"$x""#), "<echo> <$x>");
    assert_eq!(show(r#"echo "a\tb""#), r"<echo> <a\tb>");
    assert_eq!(show(r#"echo """#), "<echo> <>");
}

#[test]
fn string_form() {
    assert_eq!(show(r#""ls -la | grep x""#), "<ls> <-la> | <grep> <x>");
    assert_eq!(
        show(r#""echo 'a $b' \"c $d\" e\\ f""#),
        "<echo> <a $b> <c {d}> <e f>"
    );
    assert_eq!(
        show(r#""curl https://x.org/a//b /* x */""#),
        "<curl> <https://x.org/a//b> </*> <x> <*/>"
    );
    assert_eq!(show(r#""a\nb""#), "<a> NL <b>");
    assert_eq!(show(r#""echo ${x + 1} $[v]""#), "<echo> <{x + 1}> <[v]>");
    assert_eq!(show(r#""echo '' x""#), "<echo> <> <x>");
}

#[test]
fn newlines_in_token_form_separate_commands() {
    assert_eq!(show("a x\nb y"), "<a> <x> NL <b> <y>");
}

#[test]
fn a_line_starting_with_an_operator_continues() {
    assert_eq!(show("a\n | b\n && c\n || d"), "<a> | <b> && <c> || <d>");
    assert_eq!(show(r#""a\n  | b""#), "<a> | <b>");
}

#[test]
fn parse_structure() {
    let script = parse::parse(toks("FOO=1 A=x$y ls -l > f 2>&1; cd d && b | c || e")).unwrap();
    let ops: Vec<_> = script.items.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops, [SeqOp::Then, SeqOp::Then, SeqOp::And, SeqOp::Or]);
    let Command::Simple(s) = &script.items[0].1.stages[0].0 else {
        panic!()
    };
    assert_eq!(
        s.env.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["FOO", "A"]
    );
    assert_eq!(s.words.len(), 2);
    assert!(matches!(
        s.redirects[0],
        Redirect::Out {
            fd: 1,
            append: false,
            ..
        }
    ));
    assert!(matches!(s.redirects[1], Redirect::Dup { from: 2, to: 1 }));
    assert!(matches!(script.items[1].1.stages[0].0, Command::Cd(_)));
    assert_eq!(script.items[2].1.stages.len(), 2);
}

#[test]
fn a_quoted_cd_or_assignment_is_an_ordinary_word() {
    let script = parse::parse(toks(r#""'cd' x; 'A=1' b""#)).unwrap();
    assert!(matches!(script.items[0].1.stages[0].0, Command::Simple(_)));
    let Command::Simple(s) = &script.items[1].1.stages[0].0 else {
        panic!()
    };
    assert!(s.env.is_empty());
}

#[test]
fn errors_a_shell_user_understands() {
    assert!(err("ls |").contains("`|` at the end"));
    assert!(err("ls >").contains("`>` needs a file name"));
    assert!(err("ls 2>&7").contains("file descriptor 7"));
    assert!(err("ls 7> f").contains("file descriptor 7"));
    assert!(err("cat <<<").contains("`<<<` needs a value"));
    assert!(err("a &&").contains("`&&` at the end"));
    assert!(err("a ||").contains("`||` at the end"));
    assert!(err("a & b").contains("background"));
    assert!(err("| a").contains("no command before it"));
    assert!(err("a | | b").contains("right after `|`"));
    assert!(err("cd").contains("needs a directory"));
    assert!(err("cd a b").contains("exactly one"));
    assert!(err("cd a | b").contains("pipeline"));
    assert!(err("A=$x").contains("without a command"));
    assert!(err("A=1").contains("without a command"));
    assert!(err("echo a$[v]").contains("must stand alone"));
    assert!(err("echo $").contains("`$$` for a literal"));
    assert!(err("echo ${}").contains("empty"));
    assert!(err("cat << EOF").contains("here-documents"));
    assert!(err(r#""echo 'abc""#).contains("unterminated quote"));
    assert!(err(r#""echo \"abc""#).contains("unterminated quote"));
    assert!(err(r#""echo ${x""#).contains("unbalanced"));
    assert!(err(r#""echo `id`""#).contains("backticks"));
    assert!(err(r#""echo (a)""#).contains("subshells"));
    assert!(err("echo (a)").contains("subshells"));
    assert!(err(r#""echo \"$[v]\"""#).contains("inside quotes"));
    assert!(err("curl https://example.com/a\n").contains("URLs need the string form"));
    assert!(err("echo 'a").contains("string form"));
}

#[test]
fn empty_input_is_an_error() {
    assert!(lex::lex(proc_macro2::TokenStream::new(), Source::Text("")).is_err());
    assert!(err(r#""""#).contains("empty command"));
    assert!(err(r#""  \n ""#).contains("empty command"));
}

#[test]
fn expansion_compiles_to_tokens() {
    let out = compile("ls -l $dir | grep x > out.txt").unwrap();
    let text = out.to_string();
    // The shape is one plan string; the value is code.
    assert!(text.contains("__p :: build"), "{text}");
    assert!(text.contains("o10"), "{text}");
    assert!(text.contains("L7:out.txt"), "{text}");
    assert!(text.contains("__p :: value (& (dir))"), "{text}");
}

#[test]
fn op_round_trip_text() {
    assert_eq!(Op::Dup(2, 1).text(), "2>&1");
    assert_eq!(Op::Out(2, true).text(), "2>>");
}

/// The words of each command of a script, as text (values as `{..}`), `|` between stages.
fn argv(src: &str) -> Vec<String> {
    let script = parse::parse(toks(src)).expect("parses");
    let mut out = Vec::new();
    for (_, pipeline) in &script.items {
        let stages: Vec<String> = pipeline
            .stages
            .iter()
            .map(|(command, _)| match command {
                Command::Cd(dir) => format!("cd {}", word_text(dir)),
                Command::Simple(s) => s.words.iter().map(word_text).collect::<Vec<_>>().join(" "),
            })
            .collect();
        out.push(stages.join(" | "));
    }
    out
}

fn word_text(w: &lex::Word) -> String {
    w.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Value(e, _) => format!("{{{e}}}"),
            Part::Splat(e, _) => format!("[{e}]"),
        })
        .collect()
}

#[test]
fn a_final_semicolon_ends_the_last_command() {
    assert_eq!(argv("a; b;"), ["a", "b"]);
    assert_eq!(argv(r#""a; b;""#), ["a", "b"]);
    assert_eq!(argv("make;\n"), ["make"]);
    assert!(err(";").contains("no command before it"));
    assert!(err("a;;").contains("`;;`"));
}

#[test]
fn brace_expansion_as_bash_does_it() {
    let one = |src: &str| argv(src).join(" ; ");
    assert_eq!(one("echo {a,b}"), "echo a b");
    assert_eq!(one("echo pre{a,b}post"), "echo preapost prebpost");
    assert_eq!(one("echo {1..3} {3..1}"), "echo 1 2 3 3 2 1");
    assert_eq!(
        one("echo {01..03} {1..10..4} {a..e..2}"),
        "echo 01 02 03 1 5 9 a c e"
    );
    assert_eq!(one("echo {-1..1} {-01..1}"), "echo -1 0 1 -01 000 001");
    assert_eq!(one("echo {a,b{c,d}} x{,y}"), "echo a bc bd x xy");
    assert_eq!(one("echo {x,y}{1,2}"), "echo x1 x2 y1 y2");
    assert_eq!(one("cp f{,.bak}"), "cp f f.bak");
    // Nothing to expand: literal, as in bash.
    assert_eq!(one("echo {} {a}"), "echo {} {a}");
    assert_eq!(one(r#""echo { x {1..a} {a,b""#), "echo { x {1..a} {a,b");
    assert_eq!(one(r#""echo {a}{b,c} {{a,b}""#), "echo {a}b {a}c {a {b");
    assert_eq!(one("echo {,} x"), "echo x");
    // The string form, with quotes and escapes that keep braces literal.
    assert_eq!(
        one(r#""echo {a,b} '{a,b}' \"{1..2}\" {a\\,b,c}""#),
        "echo a b {a,b} {1..2} a,b c"
    );
    // Quoted words and values never expand; braces around a value do.
    assert_eq!(
        one(r#"echo "{a,b}" $x {$x,y} ${x}{1,2}"#),
        "echo {a,b} {x} {x} y {x}1 {x}2"
    );
    assert_eq!(one("echo {$[v],w}"), "echo [v] w");
    // Assignments keep braces, arguments that look like them expand (bash).
    let script = parse::parse(toks("A={a,b} env B={c,d}")).unwrap();
    let Command::Simple(s) = &script.items[0].1.stages[0].0 else {
        panic!()
    };
    assert_eq!(word_text(&s.env[0].1), "{a,b}");
    assert_eq!(
        s.words.iter().map(word_text).collect::<Vec<_>>(),
        ["env", "B=c", "B=d"]
    );
    // A redirection target stays one word.
    assert!(err("echo x > {a,b}").contains("one file"));
    assert_eq!(one("echo x > f{1..1}"), "echo x");
    assert!(err("echo {1..100000}").contains("at most 10000"));
    assert!(err("echo {1..99}{1..99}{1..99}").contains("at most 10000"));
}

#[test]
fn reserved_words_are_refused_with_the_rust_to_write() {
    assert!(err("while true; do break; done").contains("write the loop in Rust"));
    assert!(err("if x; then y; fi").contains("write the `if` in Rust"));
    assert!(err("for f in a b; do echo $f; done").contains("for f in files"));
    assert!(err(r#""case $x in a) ;; esac""#).contains("`match`"));
    assert!(err("a && ! b").contains("`!`"));
    assert!(err("FOO=1 until x").contains("loop"));
    assert!(err("{ echo 1; cat; } | tail").contains("groups `{ ...; }` are not supported yet"));
    assert!(err(r#""{ echo 1; }""#).contains("groups"));
    assert!(err("function f").contains("Rust function"));
    // As arguments, or quoted, they are ordinary words.
    assert_eq!(argv(r#"echo if while "for""#), ["echo if while for"]);
    assert_eq!(argv(r#""echo { }""#), ["echo { }"]);
    assert_eq!(argv(r#""'if' x""#), ["if x"]);
}

#[test]
fn command_substitution_and_backticks_say_what_they_are() {
    for src in ["echo $(date)", r#""echo $(date)""#, r#"echo "a$(date)""#] {
        assert!(err(src).contains("command substitution `$(...)`"), "{src}");
    }
    assert!(err("echo $((1 + 2))").contains("arithmetic"));
    assert!(err(r#""echo $((1 + 2))""#).contains("arithmetic"));
    for src in [r#""echo `date`""#, r#""echo \"`date`\"""#] {
        assert!(err(src).contains("`$(...)`"), "{src}");
    }
    // Escaped, a backtick is a character.
    assert_eq!(argv(r#""echo \\` \"\\`\"""#), ["echo ` `"]);
}

#[test]
fn double_quotes_follow_sh_in_both_forms() {
    // A backslash escapes only `$`, `` ` ``, `"`, `\` and a line break; `\n` stays as written.
    assert_eq!(
        argv(r#"printf "a\nb\t\\ \"q\"""#),
        [r#"printf a\nb\t\ "q""#]
    );
    assert_eq!(
        argv(r#""printf \"a\\nb\\t\\\\ \\\"q\\\"\"""#),
        [r#"printf a\nb\t\ "q""#]
    );
    assert_eq!(argv(r#"echo "a\u{e9}\x41\0""#), [r"echo a\u{e9}\x41\0"]);
    assert_eq!(argv("echo \"a\\\n  b\""), ["echo a  b"]);
    // Raw strings take everything literally.
    assert_eq!(argv(r##"echo r"a\n$x" r#"q"#"##), [r"echo a\n$x q"]);
}

#[test]
fn redirections_read_as_a_shell_user_means_them() {
    assert!(err("ls >>&1").contains("`>>&` is not a redirection"));
    assert!(err("ls 2>>&1").contains("`>>&` is not a redirection"));
    assert!(err(r#""a | & b""#).contains("write `|&`"));
}

#[test]
fn a_removed_comment_is_refused() {
    let e = err("ls src/**/*.js");
    assert!(e.contains("removed a Rust comment here, `/**/`"), "{e}");
    assert!(e.contains("`src/**/*.js`"), "{e}");
    assert!(err("ls a/* b */c").contains("`/* b */`"));
    assert!(err("ls a /* b */ c").contains("`/* b */`"));
    // A `//` glued to a word is lost text; a URL says so.
    assert!(err("curl https://example.com/a\n").contains("URLs need the string form"));
    assert!(err("curl https://example.com/a\nls").contains("URLs need the string form"));
    assert!(err("ls a//b\nls").contains("removed a Rust comment"));
    assert!(err("/// doc\nls").contains("doc comment"));
    // `host:` at the end of a line is only a word.
    assert_eq!(argv("scp f host:\nls"), ["scp f host:", "ls"]);
    assert_eq!(argv("scp f host:"), ["scp f host:"]);
    // A `//` after a blank is a Rust comment by intent.
    assert_eq!(argv("make // build\nls // list"), ["make", "ls"]);
    assert_eq!(argv("make\n    // then\nls"), ["make", "ls"]);
    // Inside `${...}` is Rust code.
    assert_eq!(argv("echo ${x /* n */ + 1}"), ["echo {x + 1}"]);
}

#[test]
fn what_cargo_fmt_may_have_respaced_is_refused_without_a_guess() {
    for src in [
        "wc - l",
        "cd / tmp && ls - la",
        "du - sh / var / log",
        "ansible - doc - -list",
        "mkdir - p / tmp / x / fmt - x",
        "cd..",
        "xhost+",
        "tldr,",
        "cppcheck.2 > cppcheck.log",
        "echo { a, b }",
        "jq.name",
        "ls | grep.txt",
        // Written so by a person, the same text: it cannot be told apart.
        "su - user",
    ] {
        let e = err(src);
        assert!(e.contains("plumb cannot tell"), "{src}: {e}");
        assert!(!e.contains("If you meant"), "{src}: {e}");
    }
    // The one valid spacing of `a | &b` is `a |& b`.
    let e = err("a | &b");
    assert!(e.contains("rustfmt makes `a | &b` out of `a |& b`"), "{e}");
    assert!(e.contains("`sh! { a |& b }`"), "{e}");
}

#[test]
fn what_cargo_fmt_leaves_alone_runs_as_written() {
    for src in [
        "wc -l",
        "rustc --version",
        "cmd -- word",
        "trap -- x",
        "ls -la ./src",
        "cd /tmp && ls -la",
        "du -sh /var/log",
        "cd ..",
        "xhost +",
        "tldr ,",
        "cppcheck . 2> cppcheck.log",
        "a |& b",
        "a | b",
        "a && b || c",
        "cat - ./file",
        "expr 1 + 2",
        "echo {a,b}",
        "ansible-doc --list",
        // A file name's dot is taken as written.
        "cat < missing.txt",
        "make > build.log",
    ] {
        assert!(compile(src).is_ok(), "{src}: {:?}", compile(src).err());
    }
    // In braces rustfmt changes nothing, so nothing is refused.
    let input: proc_macro2::TokenStream = "wc - l".parse().unwrap();
    assert!(crate::rustfmt::check(&input, || None, || true).is_ok());
}

mod never_panics {
    //! The lexer, parser and expander on arbitrary input: an error or tokens, never a panic.
    //! (A cheap, always-on cousin of fuzzing; shell-flavoured characters are overweighted.)

    use proptest::prelude::*;

    fn shellish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => prop::sample::select(vec![
                "ls", "-la", " ", "  ", "\n", "|", "|&", "&&", "||", ";", "&", ">", ">>", "<", "<<<",
                "2>", "2>&1", ">&2", "&>", "2>&7", "$", "$x", "${", "}", "${x}", "$[", "]", "$[v]",
                "$$", "\"", "'", "\\", "(", ")", "{", "[", "cd", "A=1", "=", "#", "`", "//", "/*",
                "r\"x\"", "'a'", "1.5", "::", "-", "--", "+", "*", "/", "!", "?", ".",
                "{a,b}", "{1..3}", "{01..10..2}", "{a..e}", ",", "..", "$(", "$((", "/**/",
                "while", "if", "do", ">>&", "| &", "host:", "\\n", "{", "}", " - ", "///",
            ]).prop_map(str::to_string),
            1 => any::<char>().prop_map(|c| c.to_string()),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn token_form(src in shellish()) {
            if let Ok(tokens) = src.parse::<proc_macro2::TokenStream>() {
                let _ = crate::compile(tokens, &quote::quote!(::plumb), crate::source::Source::Text(&src));
            }
        }

        #[test]
        fn string_form(src in shellish()) {
            let lit = proc_macro2::Literal::string(&src);
            let _ = crate::compile(proc_macro2::TokenTree::Literal(lit).into(), &quote::quote!(::plumb), crate::source::Source::Text(&src));
        }
    }
}
