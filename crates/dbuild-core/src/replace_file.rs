//! Replacing a file a person reads (a lock file in the workspace, a profile) so that neither a
//! reader nor a killed writer ever leaves a half-written file or a stray temp file beside it.
//!
//! The bytes are written to an unnamed file in the target's directory (`O_TMPFILE`), which the
//! kernel discards if the process dies before it is named. Only when it is complete is it linked
//! as `.<name>.tmp.<pid>` and renamed over the target — a window of two system calls in which a
//! SIGKILL can leave that name behind. The next replacement of the same file removes such a
//! leftover once its writer's pid is gone. Where `O_TMPFILE` is not supported (some file
//! systems), the named temp file is written directly, with the same clean-up.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically (see the module docs).
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

/// [`replace_file`] without waiting for the bytes to reach the disk: for a file whose loss
/// or damage in a crash costs only time (a cache entry that carries its own checksum, and is
/// ignored when it fails it), written where a build waits for it.
pub fn replace_file_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| io::Error::other("it names no file"))?.to_string_lossy();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    remove_leftovers_in(dir, &name);
    let tmp = temp_name(dir, &name, std::process::id());
    let result = match unnamed_file_in(dir) {
        Ok(mut f) => write_all(&mut f, bytes, sync).and_then(|()| link_unnamed(&f, &tmp)),
        // EOPNOTSUPP / EISDIR (kernels or file systems without O_TMPFILE): a named temp file.
        Err(_) => File::create(&tmp).and_then(|mut f| write_all(&mut f, bytes, sync)),
    };
    result.and_then(|()| fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// A new, nameless file in `dir` (`O_TMPFILE`): the kernel removes it if the process dies
/// before [`link_unnamed`] names it. Fails where the file system does not support that.
pub fn unnamed_file_in(dir: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).custom_flags(libc::O_TMPFILE).open(dir)
}

fn temp_name(dir: &Path, name: &str, pid: u32) -> PathBuf {
    dir.join(format!(".{name}.tmp.{pid}"))
}

fn write_all(f: &mut File, bytes: &[u8], sync: bool) -> io::Result<()> {
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    Ok(())
}

/// Gives the file `f` from [`unnamed_file_in`] the name `to`. `linkat` through `/proc/self/fd` with
/// `AT_SYMLINK_FOLLOW` is the unprivileged way (`AT_EMPTY_PATH` needs CAP_DAC_READ_SEARCH).
pub fn link_unnamed(f: &File, to: &Path) -> io::Result<()> {
    let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).map_err(io::Error::other)?;
    let to = CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both arguments are NUL-terminated strings that outlive the call.
    let rc =
        unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Removes temp files a killed [`replace_file`] of `path` left beside it, for a command that
/// may not rewrite the file this time (an unchanged lock).
pub fn remove_leftovers(path: &Path) {
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        remove_leftovers_in(dir, &name.to_string_lossy());
    }
}

/// Removes `.<name>.tmp.<pid>` files in `dir` whose writer is no longer running. A live
/// writer's file is left alone: it is about to be renamed.
fn remove_leftovers_in(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dbuild-replace-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_the_file_and_leaves_nothing_beside_it() {
        let d = scratch("plain");
        let p = d.join("a.json");
        replace_file(&p, b"one").unwrap();
        replace_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(&d), ["a.json"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_dead_writers_leftover_goes_and_a_live_ones_stays() {
        let d = scratch("leftover");
        // A child that has exited and been reaped: its pid is free (and, on a busy machine,
        // could be reused — then the file merely stays until the next run).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mut live = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        fs::write(temp_name(&d, "a.json", dead), b"half").unwrap();
        fs::write(temp_name(&d, "a.json", live.id()), b"being written").unwrap();
        // Another file's temp name is not this file's to judge.
        fs::write(temp_name(&d, "b.json", dead), b"other").unwrap();
        replace_file(&d.join("a.json"), b"whole").unwrap();
        let left = names(&d);
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(left, [format!(".a.json.tmp.{}", live.id()), format!(".b.json.tmp.{dead}"), "a.json".to_string()]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_and_creates_nothing() {
        let d = scratch("missing");
        let err = replace_file(&d.join("no/such/a.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(names(&d).is_empty());
        fs::remove_dir_all(&d).unwrap();
    }
}
