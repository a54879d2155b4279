use plumb::sh;

fn main() {
    // What `cargo fmt` makes of `sh!(wc -l)`: it may have been `wc -l`, `wc-l` or
    // `wc - l`, so it is refused without a guess.
    let _ = sh!(wc - l);
    // What it makes of `a |& b`: the one valid spacing is suggested.
    let _ = sh!(a | &b);
    // As written by a person, and in braces, both fine.
    let _ = sh!(wc -l);
    let _ = sh! { wc - l };
    let _ = sh!(cd .. && ls -la);
}
