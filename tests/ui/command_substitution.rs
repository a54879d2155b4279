use plumb::sh;

fn main() {
    let _ = sh!(tar czf backup.tgz $(ls));
    let _ = sh!("echo \"today: $(date +%F)\"");
    let _ = sh!("echo `date`");
    let _ = sh!(echo $((1 + 2)));
}
