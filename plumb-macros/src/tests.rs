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
                format!("<{}>", word_text(w))
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
    assert!(err(r#""echo (a)""#).contains("`(` in the middle of a command"));
    assert!(err("echo (a)").contains("`(` in the middle of a command"));
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
    script_text(&parse::parse(toks(src)).expect("parses"))
}

/// A word's text: values as `{..}` and `[..]`, patterns and homes as written, a
/// substitution as `$(...)` around its commands.
fn word_text(w: &lex::Word) -> String {
    w.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) | Part::Pattern(s) => s.clone(),
            Part::Value(e, _) => format!("{{{e}}}"),
            Part::Splat(e, _) => format!("[{e}]"),
            Part::Home(user) => format!("~{}", user.as_deref().unwrap_or_default()),
            Part::Subst(script, _, _) => format!("$({})", script_text(script).join("; ")),
        })
        .collect()
}

fn script_text(script: &parse::Script) -> Vec<String> {
    let mut out = Vec::new();
    for (_, pipeline) in &script.items {
        let stages: Vec<String> = pipeline
            .stages
            .iter()
            .map(|(c, _)| command_text(c))
            .collect();
        out.push(stages.join(" | "));
    }
    out
}

fn command_text(command: &Command) -> String {
    match command {
        Command::Cd(dir) => format!("cd {}", word_text(dir)),
        Command::Simple(s) => s.words.iter().map(word_text).collect::<Vec<_>>().join(" "),
        Command::Block(b) if b.subshell => format!("( {} )", script_text(&b.body).join("; ")),
        Command::Block(b) => format!("{{ {}; }}", script_text(&b.body).join("; ")),
    }
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
    assert!(err("function f").contains("Rust function"));
    // As arguments, or quoted, they are ordinary words.
    assert_eq!(argv(r#"echo if while "for""#), ["echo if while for"]);
    assert_eq!(argv(r#""echo { }""#), ["echo { }"]);
    assert_eq!(argv(r#""'if' x""#), ["if x"]);
}

#[test]
fn arithmetic_and_backticks_say_what_to_write() {
    assert!(err("echo $((1 + 2))").contains("arithmetic"));
    assert!(err(r#""echo $((1 + 2))""#).contains("arithmetic"));
    for src in [r#""echo `date`""#, r#""echo \"`date`\"""#] {
        assert!(err(src).contains("write `$(...)` instead"), "{src}");
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
                "~", "~/", "~root", "*.txt", "[ab]", "[!a]", "[]", "**/", "$(ls)", "\"$(", "$( (",
                "{ ", " }", "; }", "( ", " )", "<(", ">(", "`x`", "$()", "x=", "$(echo $(a))",
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

/// The plan `src` (the content of `sh!(...)`) compiles to: the string `__p::build` decodes.
fn plan(src: &str) -> String {
    fn find(tokens: proc_macro2::TokenStream) -> Option<String> {
        tokens.into_iter().find_map(|t| match t {
            proc_macro2::TokenTree::Group(g) => find(g.stream()),
            proc_macro2::TokenTree::Literal(l) => syn::parse_str::<syn::LitStr>(&l.to_string())
                .ok()
                .map(|s| s.value()),
            _ => None,
        })
    }
    let out = compile(src).unwrap_or_else(|e| panic!("{src:?}: {}", e.message));
    find(out).expect("a plan")
}

/// `src` as the string form: `sh!("src")`.
fn string(src: &str) -> String {
    format!("{src:?}")
}

/// The plan of one command: `T1:|` and `S0:` around the words, no redirections.
fn words_plan(words: &str) -> String {
    format!("T1:|S0:{words}0:")
}

#[test]
fn globs_are_pattern_parts_where_written_unquoted() {
    let want = words_plan("3:1:L2:rm1:L2:-f1:P3:*.o");
    assert_eq!(plan("rm -f *.o"), want);
    assert_eq!(plan(&string("rm -f *.o")), want);
    // Only the written `*` globs: values and quotes stay literal, even in the same word.
    assert_eq!(plan("ls ${stem}*.txt"), words_plan("2:1:L2:ls2:VP5:*.txt"));
    assert_eq!(
        plan(&string(r#"ls "a*"*.txt '?'"#)),
        words_plan("3:1:L2:ls2:L2:a*P5:*.txt1:L1:?")
    );
    assert_eq!(plan(r#"ls "*.txt""#), words_plan("2:1:L2:ls1:L5:*.txt"));
    assert_eq!(
        plan(&string(r"ls \*.txt [ab]? x[!0-9] y[^a]")),
        words_plan("5:1:L2:ls1:L5:*.txt1:P5:[ab]?1:P7:x[!0-9]1:P5:y[^a]")
    );
    assert_eq!(
        plan(&string("ls logs/*.txt src/**/*.js")),
        words_plan("3:1:L2:ls1:P10:logs/*.txt1:P11:src/**/*.js")
    );
    // `[` alone (test) and `[]` (jq) are literal, as in sh.
    assert_eq!(argv("[ -f x ] && jq .items[]"), ["[ -f x ]", "jq .items[]"]);
    assert!(plan("[ -f x ]").starts_with("T1:|S0:4:1:L1:[1:L2:-f"));
    assert!(!plan("jq .items[]").contains('P'));
    // Brace expansion comes first: each word it makes is a pattern of its own.
    assert_eq!(
        plan("ls {a,b}*.txt"),
        words_plan("3:1:L2:ls1:P6:a*.txt1:P6:b*.txt")
    );
    // No patterns in an assignment or a here-string, as in sh.
    assert_eq!(plan("A=*.txt env"), "T1:|S1:1:A1:L5:*.txt1:1:L3:env0:");
    assert_eq!(plan("cat <<< *"), "T1:|S0:1:1:L3:cat1:h1:L1:*");
    // `cd` into a pattern.
    assert_eq!(plan("cd sub-*"), "T1:|D1:P5:sub-*");
}

#[test]
fn a_tilde_is_a_home_at_the_start_of_an_unquoted_word() {
    assert_eq!(plan("ls ~"), words_plan("2:1:L2:ls1:H"));
    assert_eq!(
        plan("cp ~/.config/x ."),
        words_plan("3:1:L2:cp2:HL10:/.config/x1:L1:.")
    );
    assert_eq!(
        plan(&string("cat ~user/notes")),
        words_plan("2:1:L3:cat2:U4:userL6:/notes")
    );
    // A pattern after it keeps its `/` literal, so a remote shell sees `~/` bare.
    assert_eq!(
        plan(&string("ls ~/*.txt")),
        words_plan("2:1:L2:ls3:HL1:/P5:*.txt")
    );
    assert_eq!(plan("A=~/bin env"), "T1:|S1:1:A2:HL4:/bin1:1:L3:env0:");
    // Quoted, inside a word, after a value or with no user name: literal, as in sh.
    assert_eq!(
        plan(&string(r#"echo "~" '~' \~ a~ --prefix=~/x ~+ ~"u""#)),
        words_plan("8:1:L4:echo1:L1:~1:L1:~1:L1:~1:L2:a~1:L12:--prefix=~/x1:L2:~+1:L2:~u")
    );
    assert_eq!(plan("echo $x~"), words_plan("2:1:L4:echo2:VL1:~"));
}

#[test]
fn command_substitution_is_a_nested_script() {
    let date = "1:T1:|S0:2:1:L4:date1:L3:+%F0:";
    assert_eq!(
        plan("echo $(date +%F)"),
        words_plan(&format!("2:1:L4:echo1:C0{date}"))
    );
    // In double quotes it is one word with the text around it, in both forms.
    let quoted = words_plan(&format!(
        "4:1:L3:tar1:L3:czf3:L7:backup-C1{date}L4:.tgz1:L4:data"
    ));
    assert_eq!(plan(r#"tar czf "backup-$(date +%F).tgz" data"#), quoted);
    assert_eq!(
        plan(&string(r#"tar czf "backup-$(date +%F).tgz" data"#)),
        quoted
    );
    // Its own grammar inside: pipes, sequences, redirections, quotes, nesting.
    assert_eq!(
        argv(&string(
            r#"echo $(ls | wc -l; cat < f) "$(echo "$(echo deep)")""#
        )),
        ["echo $(ls | wc -l; cat) $(echo $(echo deep))"]
    );
    assert_eq!(
        argv("echo $(ls | wc -l; cat < f) $(echo $(echo deep))"),
        ["echo $(ls | wc -l; cat) $(echo $(echo deep))"]
    );
    assert_eq!(
        argv(&string(r#"echo $(echo ')' "(" \)) "a $(echo "b c") d""#)),
        ["echo $(echo ) ( )) a $(echo b c) d"]
    );
    // Values are numbered in plan order, also inside a substitution.
    let code = compile("echo $a $(printf $b) ${c}").unwrap().to_string();
    let at = |v: &str| code.find(&format!("(& ({v}))")).unwrap();
    assert!(at("a") < at("b") && at("b") < at("c"), "{code}");
    assert!(plan("echo $a $(printf $b) ${c}").contains("1:V1:C01:T1:|S0:2:1:L6:printf1:V0:1:V"));
    // In an assignment, in `cd`, as the program.
    assert!(plan("V=$(date) env").starts_with("T1:|S1:1:V1:C01:"));
    assert!(plan("cd $(dirname x)").starts_with("T1:|D1:C0"));
    assert!(plan("$(which ls) -l").starts_with("T1:|S0:2:1:C0"));
    // A quoted substitution beside a pattern is fine.
    assert!(plan(&string(r#"ls "$(cat prefix)"*.txt"#)).contains("C1"));
}

#[test]
fn groups_and_subshells_are_blocks_with_their_redirections() {
    let echo = |w: &str| format!("T1:|S0:2:1:L4:echo1:L{}:{w}0:", w.len());
    let want = format!(
        "T1:|B02:{}{}2:o101:L9:build.logd21",
        "T1:|S0:1:1:L4:date0:",
        echo("b")
    );
    assert_eq!(plan("{ date; echo b; } > build.log 2>&1"), want);
    assert_eq!(plan(&string("{ date; echo b; } > build.log 2>&1")), want);
    // sh wants a `;` before `}`; plumb takes it without, and across lines.
    assert_eq!(plan("{ date; echo b } > build.log 2>&1"), want);
    assert_eq!(plan("{\n date\n echo b\n} > build.log 2>&1"), want);
    let want = "T2:|B12:T1:|D1:L3:subA1:|S0:1:1:L3:pwd0:0:|S0:3:1:L4:tail1:L2:-n1:L1:10:";
    assert_eq!(plan("(cd sub && pwd) | tail -n 1"), want);
    assert_eq!(plan(&string("(cd sub && pwd) | tail -n 1")), want);
    assert_eq!(plan(&string("( cd sub && pwd )|tail -n 1")), want);
    // Anywhere a command stands: after `&&`, in a pipeline, nested, in a substitution.
    assert_eq!(
        argv("a && { b; c; } | (d; (e)) ; echo $( (f) )"),
        ["a", "{ b; c; } | ( d; ( e ) )", "echo $(( f ))"]
    );
    // A `}` quoted, or not where a command starts outside a group, is a word.
    assert_eq!(
        argv(&string(r#"{ echo "}"; echo a}; }"#)),
        ["{ echo }; echo a}; }"]
    );
    assert_eq!(argv(&string("echo } {")), ["echo } {"]);
    // Brace expansion is still brace expansion.
    assert_eq!(argv("echo {a,b} && {c,d}"), ["echo a b", "c d"]);
}

#[test]
fn what_the_new_grammar_refuses() {
    for (src, want) in [
        (
            "echo x > *.log",
            "a pattern cannot name a redirection's file",
        ),
        (
            "echo x > a[0-9]",
            "a pattern cannot name a redirection's file",
        ),
        ("echo x > ~/f", "`~` in a redirection's file"),
        ("cat <<< ~", "`~` in a here-string"),
        ("echo x > $(f)", "`$(...)` in a redirection's file name"),
        ("cat <<< \"$(f)\"", "`$(...)` in a here-string"),
        (
            "echo $(ls)*.txt",
            "an unquoted `$(...)` and a pattern in the same word",
        ),
        ("echo $()", "`$()` is empty"),
        ("( )", "an empty subshell"),
        ("{ }", "an empty group"),
        ("{ a; } b", "a word after a group"),
        ("(a) b", "a word after a subshell"),
        ("{echo a; }", "a group's `{` is a word of its own"),
        ("A=1 { a; }", "takes no `NAME=value`"),
        ("sleep 1 &", "`.spawn_detached()`"),
    ] {
        let got = err(src);
        assert!(got.contains(want), "{src}: {got}");
        let got = err(&string(src));
        assert!(got.contains(want), "{src} (string form): {got}");
    }
    for (src, want) in [
        ("echo a[bc", "this `[` is never closed"),
        ("(a", "this `(` is never closed"),
        ("{ a", "this `{` is never closed"),
        ("{ echo a}", "this `{` is never closed"),
        ("a )", "`)` without a `(`"),
        ("}", "no group `{ ...; }` is open"),
        ("echo a(b)", "`(` in the middle of a command"),
        ("comm <(sort a) f", "process substitution"),
        ("echo $(ls", "unbalanced `$(`"),
        ("echo \"$(ls\"", "never closed"),
        ("echo $(if x; then y; fi)", "`if` is a reserved word"),
        ("echo $(ls |)", "`|` at the end"),
    ] {
        let got = err(&string(src));
        assert!(got.contains(want), "{src}: {got}");
    }
}

/// Deep nesting is an error, never a stack overflow; reasonable nesting works. (The token
/// form is nested only a little deeper than the limit: Rust's own parsers recurse there.)
#[test]
fn deep_nesting_is_refused() {
    let deep =
        |open: &str, close: &str, n: usize| format!("{}echo x{}", open.repeat(n), close.repeat(n));
    assert!(compile(&string(&deep("$(echo ", ")", 10))).is_ok());
    assert!(compile(&deep("(", ")", 10)).is_ok());
    assert!(compile(&deep("{ ", "; }", 10)).is_ok());
    for src in [
        string(&deep("$(echo ", ")", 5000)),
        string(&deep("\"$(echo ", ")\"", 5000)),
        string(&deep("(", ")", 5000)),
        string(&deep("{ ", "; }", 5000)),
        string(&deep("( $(echo ", ") )", 2000)),
        deep("(", ")", 70),
        deep("$(echo ", ")", 70),
    ] {
        assert!(
            err(&src).contains("nest more than 64 deep"),
            "{}",
            &src[..20]
        );
    }
}
