use plumb::sh;

fn main() {
    let _ = sh!(diff <(sort a) b);
}
