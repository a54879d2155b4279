//! Prints what its build script made.
fn main() {
    print!("{}", include_str!(concat!(env!("OUT_DIR"), "/stamp.txt")));
}
