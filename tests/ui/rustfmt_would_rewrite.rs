use plumb::sh;

fn main() {
    // What `cargo fmt` makes of `sh!(wc -l)`: refused, with the likely original.
    let _ = sh!(wc - l);
    // As written by a person, and in braces, both fine.
    let _ = sh!(wc -l);
    let _ = sh! { wc - l };
}
