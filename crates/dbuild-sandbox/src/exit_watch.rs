//! Watching and killing a process through a pidfd: no polling loop, no extra thread, and no
//! risk of signalling another process that reused its pid.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use crate::poll::readable_by;

/// A pidfd of a process.
pub(crate) struct ExitWatch(OwnedFd);

impl ExitWatch {
    /// Opens a pidfd for `pid` (Linux 5.3 or newer). The process need not be a child.
    pub(crate) fn open(pid: u32) -> io::Result<ExitWatch> {
        let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new file descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: the kernel just returned this descriptor and nothing else owns it.
        Ok(ExitWatch(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Whether the process exited before `deadline`; without one, waits until it does.
    pub(crate) fn exited_by(&self, deadline: Option<Instant>) -> io::Result<bool> {
        readable_by(self.0.as_fd(), deadline)
    }

    /// Sends SIGKILL. A process that is already gone is not an error.
    pub(crate) fn kill(&self) -> io::Result<()> {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let result = unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, self.0.as_raw_fd(), libc::SIGKILL, std::ptr::null::<()>(), 0)
        };
        if result < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                return Err(error);
            }
        }
        Ok(())
    }
}
