#![deny(unused_must_use)]

fn main() {
    // Lazy: as a statement it would do nothing, so the compiler says so.
    plumb::sh!(true);
}
