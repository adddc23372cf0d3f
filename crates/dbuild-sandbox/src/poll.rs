//! Waiting for one file descriptor to become readable, with an optional deadline.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

/// Whether `fd` became readable (data, end of file or, for a pidfd, the process's exit) before
/// `deadline`; without a deadline, waits until it does.
pub(crate) fn readable_by(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let millis = match deadline {
            // Round up, so the deadline has passed when poll says it timed out.
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
            None => -1,
        };
        let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, and its count.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            1.. => return Ok(true),
            0 if deadline.is_some_and(|deadline| Instant::now() >= deadline) => return Ok(false),
            0 => continue,
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}
