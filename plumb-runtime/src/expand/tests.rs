use super::pattern::{is_pattern, matches};
use super::*;

/// A pattern written unquoted: every byte active.
fn p(s: &str) -> Vec<(u8, bool)> {
    s.bytes().map(|b| (b, true)).collect()
}

#[test]
fn wildcards_match_as_in_sh() {
    let yes = [
        ("*.txt", "a.txt"),
        ("*", "x"),
        ("a?c", "abc"),
        ("[ab]c", "bc"),
        ("[!a]c", "bc"),
        ("[^a]c", "bc"),
        ("[a-c]x", "bx"),
        ("[]]", "]"),
        ("[!]]", "a"),
        ("*a*b*c", "xxaxxbxxc"),
        ("**", "anything"),
        (".*", ".hidden"),
        ("[", "["),
        ("a[", "a["),
    ];
    for (pat, name) in yes {
        assert!(
            matches(&p(pat), name.as_bytes()),
            "{pat} should match {name}"
        );
    }
    let no = [
        ("*.txt", "a.txt.bak"),
        ("a?c", "ac"),
        ("[!a]c", "ac"),
        ("[a-c]x", "dx"),
        ("*", ".hidden"),
        ("?hidden", ".hidden"),
        ("[.]x", ".x"),
        ("*a*b*c", "xxaxxbxx"),
    ];
    for (pat, name) in no {
        assert!(
            !matches(&p(pat), name.as_bytes()),
            "{pat} should not match {name}"
        );
    }
}

#[test]
fn only_written_wildcards_are_wildcards() {
    let quoted: Vec<(u8, bool)> = b"*.txt".iter().map(|&b| (b, false)).collect();
    assert!(!is_pattern(&quoted));
    assert!(!matches(&quoted, b"a.txt"));
    assert!(matches(&quoted, b"*.txt"));
    assert!(!is_pattern(&p("[unclosed")));
    assert!(is_pattern(&p("x[ab]")));
}

#[test]
fn a_long_name_against_many_stars_is_quick() {
    let name = "a".repeat(10_000);
    let pat = p(&"*a".repeat(50));
    let began = std::time::Instant::now();
    assert!(matches(&pat, name.as_bytes()));
    assert!(!matches(
        &p(&format!("{}b", "*a".repeat(50))),
        name.as_bytes()
    ));
    assert!(began.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn unquoted_substitutions_split_and_join_their_neighbours() {
    let f = |pieces: &[Piece]| -> Vec<String> {
        fields(pieces, Path::new("/"), &|_, _| {})
            .into_iter()
            .map(|f| f.into_string().unwrap())
            .collect()
    };
    let t = |s: &str| Piece::Text(s.into());
    let s = |s: &str| Piece::Split(s.into());
    assert_eq!(f(&[s("a b\n c")]), ["a", "b", "c"]);
    assert_eq!(f(&[t("x"), s("a b"), t("y")]), ["xa", "by"]);
    assert_eq!(f(&[t("x"), s(" a "), t("y")]), ["x", "a", "y"]);
    assert_eq!(f(&[s("")]), Vec::<String>::new());
    assert_eq!(f(&[s("*")]), ["*"]);
}

#[test]
fn patterns_expand_sorted_and_unmatched_stay_as_written() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.txt", "a.txt", ".h.txt", "c.log", "sub"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    std::fs::remove_file(dir.path().join("sub")).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/x.txt"), "").unwrap();
    let list = |d: &Path, f: &mut dyn FnMut(&[u8])| {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            f(e.file_name().as_encoded_bytes());
        }
    };
    let f = |pieces: &[Piece]| -> Vec<String> {
        fields(pieces, dir.path(), &list)
            .into_iter()
            .map(|f| f.into_string().unwrap())
            .collect()
    };
    let pat = |s: &str| Piece::Pattern(s.into());
    assert_eq!(f(&[pat("*.txt")]), ["a.txt", "b.txt"]);
    assert_eq!(f(&[pat("*/*.txt")]), ["sub/x.txt"]);
    assert_eq!(f(&[pat("*.none")]), ["*.none"]);
    assert_eq!(f(&[pat(".*.txt")]), [".h.txt"]);
    assert_eq!(f(&[Piece::Text("sub/".into()), pat("*")]), ["sub/x.txt"]);
    assert_eq!(f(&[pat("*/")]), ["sub/"]);
    let abs = format!("{}/", dir.path().display());
    assert_eq!(
        f(&[Piece::Text(abs.clone().into_bytes()), pat("c.*")]),
        [format!("{abs}c.log")]
    );
}
