use plumb::sh;

fn main() {
    // `$(...)` works; what is still refused around it:
    let _ = sh!("echo `date`");
    let _ = sh!(echo $((1 + 2)));
    let _ = sh!(echo $());
    let _ = sh!(ls $(cat prefix)*.txt);
    let _ = sh!(date > $(cat name));
    let _ = sh!(cat <<< "$(date)");
    let _ = sh!("echo $(date");
}
