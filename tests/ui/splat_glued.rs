use plumb::sh;

fn main() {
    let v = vec!["a"];
    let _ = sh!(echo x$[v]);
}
