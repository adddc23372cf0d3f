//! Reading a fixed-size piece of a stream that may end first (a header, an upload chunk).

use std::io::{ErrorKind, Read, Result};

/// Fills `buf` unless the reader ends first; the number of bytes read. Unlike `read_exact`,
/// an end of stream is an answer (0 at a clean end, fewer bytes for a cut one), not an error.
pub fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
