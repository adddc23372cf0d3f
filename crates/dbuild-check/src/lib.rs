//! Checks a built image for problems that would make it fail at run time, before anyone
//! runs it: programs whose program interpreter, shared libraries or glibc symbol versions
//! the image lacks, a `User` that is not defined, a broken `/tmp`, an entrypoint that does
//! not exist or is not executable; and, as warnings, setuid, setgid and world-writable files
//! with the package that ships each.
//!
//! The image is read as its merged filesystem ([`ImageFs`], built with [`keep_for_check`]
//! so the files inspected here keep their bytes) and its OCI image config JSON. Nothing is
//! executed and nothing is unpacked to disk; each problem becomes one [`Finding`] with one
//! sentence saying what is wrong and, for well-known libraries, what to add.
//!
//! [`ld_cache`] builds the `/etc/ld.so.cache` ldconfig would write for an image from the same
//! filesystem model, and [`action`] is the engine action that does it over an image's layers.

pub mod action;
mod arch;
mod elf;
mod entrypoint;
mod hints;
pub mod ld_cache;
mod linking;
mod modes;
mod report;
mod search_path;
mod tmp;
mod users;

use dbuild_core::fs_tree::ImageFs;
use serde_json::Value;

pub use arch::Arch;
pub use elf::{parse as parse_elf, ElfError, ElfInfo};
pub use hints::{hint_for, Hint};
pub use report::{Finding, Report, Severity};

/// The `keep` callback for [`ImageFs`]: keeps the bytes of ELF files and of the files the
/// user, library-path and file-mode checks read, and nothing else, so even large images stay small in
/// memory. Debug symbol files are ELF but never loaded, so they are dropped.
pub fn keep_for_check(path: &str, bytes: &[u8]) -> bool {
    if path.starts_with("usr/lib/debug/") {
        return false;
    }
    elf::is_elf(bytes)
        || matches!(path, "etc/passwd" | "etc/group" | "etc/ld.so.conf")
        || path.starts_with("etc/ld.so.conf.d/")
        || modes::is_file_list(path)
}

/// The value of `name` in the config's `Env` list (`["PATH=/usr/bin", ...]`).
fn env_var<'a>(config: &'a Value, name: &str) -> Option<&'a str> {
    config["Env"].as_array()?.iter().filter_map(Value::as_str).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Checks the image whose merged filesystem is `fs` and whose OCI image config JSON is
/// `config`. Missing or malformed config fields are treated as absent.
pub fn check_image(fs: &ImageFs, config: &Value) -> Report {
    let arch = Arch::from_config(config["architecture"].as_str().unwrap_or(""));
    // Indexing a missing key yields `Null`, so an image config without `config` is fine.
    let run = &config["config"];
    let mut findings = Vec::new();
    entrypoint::check_entrypoint(fs, run, env_var(run, "PATH"), &mut findings);
    users::check_user(fs, run["User"].as_str().unwrap_or(""), &mut findings);
    tmp::check_tmp(fs, &mut findings);
    modes::check_modes(fs, &mut findings);
    let search = search_path::SearchPath::new(fs, &arch, env_var(run, "LD_LIBRARY_PATH"));
    linking::check_linking(fs, &arch, &search, &mut findings);
    Report { findings }
}
