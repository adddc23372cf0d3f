//! Shared by both builds of the program (rust_binary's main.rs and the Cargo project's).

use std::fs;

/// The real uid, from the `Uid:` line of /proc/self/status (no libc crate needed).
pub fn uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
