//! Reading one output pipe on its own thread, keeping at most a cap of it, so that a command
//! writing much to both stdout and stderr never blocks on a full pipe.

use std::io::{self, Read};
use std::thread::{self, JoinHandle};

use crate::SandboxError;

/// A pipe being read to its end.
pub(crate) struct Capture {
    stream: &'static str,
    thread: JoinHandle<io::Result<(Vec<u8>, bool)>>,
}

impl Capture {
    /// Starts reading `pipe` (the command's `stream`, for messages) until end of file.
    pub(crate) fn start(stream: &'static str, mut pipe: impl Read + Send + 'static, cap: usize) -> Capture {
        let thread = thread::spawn(move || {
            let mut kept = Vec::new();
            let mut truncated = false;
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = match pipe.read(&mut buffer) {
                    Ok(0) => return Ok((kept, truncated)),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let room = cap - kept.len();
                kept.extend_from_slice(&buffer[..n.min(room)]);
                truncated |= n > room;
            }
        });
        Capture { stream, thread }
    }

    /// What was kept and whether more was dropped, once the pipe is closed by every process
    /// that held it.
    pub(crate) fn finish(self) -> Result<(Vec<u8>, bool), SandboxError> {
        let stream = self.stream;
        match self.thread.join() {
            Ok(result) => result.map_err(|source| SandboxError::Capture { stream, source }),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
