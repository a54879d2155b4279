use plumb::sh;

fn main() {
    let _ = sh!(ls 2>&7);
}
