//! bubblewrap's `--info-fd`: how [`run`](crate::run) learns the host pid of the sandbox's first
//! process (its pid 1), so that it can kill the sandbox itself rather than only bubblewrap.
//!
//! Killing bubblewrap alone is not enough: bwrap 0.8 ties the sandbox to its own life
//! (`--die-with-parent`) only once the sandbox is set up, so a sandbox whose bubblewrap is killed
//! during its first milliseconds runs its command to the end, orphaned.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::Instant;

use std::os::unix::process::CommandExt;

use crate::exit_watch::ExitWatch;
use crate::poll::readable_by;

/// A pipe whose write end bubblewrap inherits, and nothing else does.
pub(crate) struct InfoPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl InfoPipe {
    pub(crate) fn new() -> io::Result<InfoPipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Above stdin, stdout and stderr, which the child's set-up overwrites.
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
        let write = match unsafe { libc::fcntl(write.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) } {
            -1 => return Err(io::Error::last_os_error()),
            // SAFETY: the new descriptor is owned by nothing else.
            fd => unsafe { OwnedFd::from_raw_fd(fd) },
        };
        Ok(InfoPipe { read, write })
    }

    /// Adds `--info-fd N` to `command` and lets its child, and only it, inherit the write end.
    pub(crate) fn pass_to(&self, command: &mut Command) {
        let fd = self.write.as_raw_fd();
        command.arg("--info-fd").arg(fd.to_string());
        // SAFETY: the closure only calls fcntl, which is async-signal-safe, on a descriptor the
        // child inherited.
        unsafe {
            command.pre_exec(move || match libc::fcntl(fd, libc::F_SETFD, 0) {
                -1 => Err(io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
    }

    /// Closes the write end (the child has its own) and reads what bubblewrap reports.
    pub(crate) fn into_reader(self) -> File {
        File::from(self.read)
    }
}

/// The sandbox's pid 1 as bubblewrap reports it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SandboxInfo {
    pub(crate) pid: u32,
    pub(crate) pid_namespace: u64,
}

/// Reads bubblewrap's report until it closes the pipe, or until `deadline`. `None` when it
/// reported nothing usable: it failed before creating the sandbox, or took too long.
pub(crate) fn read(mut reader: File, deadline: Instant) -> io::Result<Option<SandboxInfo>> {
    let mut text = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        if !readable_by(reader.as_fd(), Some(deadline))? {
            return Ok(None);
        }
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(parse(&String::from_utf8_lossy(&text))),
            Ok(n) => text.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `"child-pid"` and `"pid-namespace"` from bubblewrap's JSON object, one member a line.
fn parse(text: &str) -> Option<SandboxInfo> {
    let number = |key: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.trim().trim_end_matches(',').split_once(':')?;
            (name.trim() == key).then(|| value.trim().parse::<u64>().ok()).flatten()
        })
    };
    let pid = u32::try_from(number("\"child-pid\"")?).ok()?;
    Some(SandboxInfo { pid, pid_namespace: number("\"pid-namespace\"")? })
}

/// A pidfd of the sandbox's pid 1, if it still exists: the process behind the reported pid is
/// checked to be in the reported pid namespace, so a reused pid is never taken for it.
pub(crate) fn watch_sandbox(info: &SandboxInfo) -> Option<ExitWatch> {
    let watch = ExitWatch::open(info.pid).ok()?;
    let namespace = fs::read_link(format!("/proc/{}/ns/pid", info.pid)).ok()?;
    (namespace.to_str()? == format!("pid:[{}]", info.pid_namespace)).then_some(watch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bubblewraps_report() {
        let report = "{\n    \"child-pid\": 22727,\n    \"cgroup-namespace\": 4026532182,\n    \
                      \"pid-namespace\": 4026532181,\n    \"uts-namespace\": 4026532179\n}\n";
        assert_eq!(parse(report), Some(SandboxInfo { pid: 22727, pid_namespace: 4026532181 }));
        assert_eq!(parse(""), None);
        assert_eq!(parse("{\n    \"child-pid\": 22727\n}\n"), None);
    }
}
