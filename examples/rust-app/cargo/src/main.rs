//! The rust-app program again, as a Cargo project with a crates.io dependency. dbuild builds it
//! with `cargo build --offline --locked` in the sandbox; `itoa` comes from Debian's
//! librust-itoa-dev, the vendor directory BUILD.star gives.

use std::fs;

/// The real uid, from the `Uid:` line of /proc/self/status.
fn uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    match uid() {
        Some(uid) => {
            let mut buf = itoa::Buffer::new();
            println!("hello from cargo on cc-nonroot, uid {}", buf.format(uid));
        }
        None => {
            eprintln!("cannot read the uid from /proc/self/status");
            std::process::exit(1);
        }
    }
}
