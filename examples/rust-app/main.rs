//! A Rust program for the cc-nonroot distroless image. rustc links the C runtime dynamically
//! (glibc, libgcc_s for unwinding), which is exactly what `cc` adds to `base`.

use std::fs;

/// The real uid, from the `Uid:` line of /proc/self/status (no libc crate needed).
fn uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    match uid() {
        Some(uid) => println!("hello from rust on cc-nonroot, uid {uid}"),
        None => {
            eprintln!("cannot read the uid from /proc/self/status");
            std::process::exit(1);
        }
    }
}
