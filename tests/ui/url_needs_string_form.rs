use plumb::sh;

fn main() {
    let _ = sh!(curl https://example.com/index.html
    );
}
