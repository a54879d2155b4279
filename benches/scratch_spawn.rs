use std::process::Command;
use std::time::Instant;
fn t(name: &str, mut f: impl FnMut()) {
    f();
    let mut v = vec![];
    for _ in 0..7 {
        let s = Instant::now();
        for _ in 0..100 {
            f()
        }
        v.push(s.elapsed() / 100);
    }
    v.sort();
    println!("{name}: {:?}", v[3]);
}
fn main() {
    for _ in 0..2 {
        t("std status", || {
            Command::new("true").status().unwrap();
        });
        t("std env_clear+envs", || {
            Command::new("true")
                .env_clear()
                .envs(std::env::vars_os())
                .status()
                .unwrap();
        });
        t("std stdout pipe", || {
            let (r, w) = os_pipe::pipe().unwrap();
            let mut c = Command::new("true");
            c.stdout(w);
            c.status().unwrap();
            drop(r);
        });
        t("std /usr/bin/true", || {
            Command::new("/usr/bin/true").status().unwrap();
        });
        t("duct run", || {
            duct::cmd!("true").run().unwrap();
        });
        t("duct unchecked start wait", || {
            duct::cmd!("true")
                .unchecked()
                .start()
                .unwrap()
                .wait()
                .unwrap();
        });
        t("thread spawn+join", || {
            std::thread::spawn(|| ()).join().unwrap();
        });
    }
}
