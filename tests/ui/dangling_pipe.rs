use plumb::sh;

fn main() {
    let _ = sh!(ls -la |);
}
