use plumb::sh;

fn main() {
    let _ = sh!("ls a[bc");
    let _ = sh!(make > *.log);
    let _ = sh!(make > ~/build.log);
    let _ = sh!(cat <<< ~);
    // Globs, `~` and `[` as the test command are fine; `logs/*.txt` needs the string form.
    let _ = sh!(rm -f *.o ~/tmp/[ab]?.o);
    let _ = sh!([ -d ~ ]);
    let _ = sh!("ls logs/*.txt");
}
