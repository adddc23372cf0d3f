//! The `ar` container of a .deb, read as a stream of members.
//!
//! Not the `ar` crate: fuzzing found that its reader panics on a GNU long-name reference past
//! its name table and allocates whatever size a GNU name-table header claims. A .deb uses
//! only the common format (deb(5): short names, optionally ending in `/`), so this reader
//! knows that format alone and refuses the GNU and BSD extensions by name.

use std::io::{self, Read};

use dbuild_core::read_full::read_full;

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: usize = 60;

/// Why an archive is not one a .deb can be.
#[derive(Debug, thiserror::Error)]
pub enum ArError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Malformed(String),
}

/// Members of an `ar` archive, in order. Each member must be read (or dropped) before the
/// next is asked for; what a caller leaves unread is skipped.
pub struct ArReader<R> {
    inner: R,
    /// Bytes of the current member not yet read, then its padding byte if its size is odd.
    remaining: u64,
    pad: bool,
    started: bool,
}

/// One member: its name (without a trailing `/`) and its bytes, as a reader.
pub struct ArMember<'a, R> {
    pub name: String,
    archive: &'a mut ArReader<R>,
}

impl<R: Read> ArReader<R> {
    pub fn new(inner: R) -> ArReader<R> {
        ArReader { inner, remaining: 0, pad: false, started: false }
    }

    /// The next member, or `None` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<ArMember<'_, R>>, ArError> {
        if !self.started {
            let mut magic = [0u8; 8];
            if read_full(&mut self.inner, &mut magic)? < magic.len() || &magic != MAGIC {
                return Err(malformed("it does not start with an ar signature"));
            }
            self.started = true;
        }
        self.skip_rest()?;
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut self.inner, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            return Err(malformed("the archive ends inside a member header"));
        }
        if &header[58..60] != b"`\n" {
            return Err(malformed("a member header lacks its end marker"));
        }
        let raw_name = String::from_utf8_lossy(&header[..16]).trim_end_matches(' ').to_string();
        if raw_name.starts_with('/') || raw_name.starts_with("#1/") {
            return Err(malformed(&format!(
                "member {raw_name:?} uses an ar extension (GNU or BSD long names) that .deb files never use"
            )));
        }
        let name = raw_name.strip_suffix('/').unwrap_or(&raw_name).to_string();
        let size_field = std::str::from_utf8(&header[48..58]).unwrap_or("").trim_end_matches(' ');
        let size: u64 = match size_field.parse() {
            Ok(n) if !size_field.is_empty() && size_field.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(malformed(&format!("member {name:?} has a size that is not a decimal number"))),
        };
        self.remaining = size;
        self.pad = size % 2 == 1;
        Ok(Some(ArMember { name, archive: self }))
    }

    /// Skips what the previous member left unread, and its padding.
    fn skip_rest(&mut self) -> Result<(), ArError> {
        let rest = self.remaining;
        let skipped = io::copy(&mut (&mut self.inner).take(rest), &mut io::sink())?;
        self.remaining = 0;
        if skipped < rest {
            return Err(malformed("the archive ends inside a member"));
        }
        if std::mem::take(&mut self.pad) {
            // The padding byte of the last member may be missing; dpkg accepts that too.
            let mut pad = [0u8; 1];
            read_full(&mut self.inner, &mut pad)?;
        }
        Ok(())
    }
}

impl<R: Read> Read for ArMember<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let a = &mut *self.archive;
        if a.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(a.remaining).unwrap_or(usize::MAX));
        let n = a.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside a member"));
        }
        a.remaining -= n as u64;
        Ok(n)
    }
}

fn malformed(reason: &str) -> ArError {
    ArError::Malformed(reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 100644, data.len()).into_bytes();
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
        out
    }

    fn names(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArError> {
        let mut ar = ArReader::new(bytes);
        let mut out = Vec::new();
        while let Some(mut m) = ar.next_member()? {
            let mut data = Vec::new();
            m.read_to_end(&mut data)?;
            out.push((m.name.clone(), data));
        }
        Ok(out)
    }

    #[test]
    fn reads_members_with_odd_sizes_and_gnu_style_trailing_slashes() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(member("debian-binary", b"2.0\n"));
        bytes.extend(member("control.tar.gz/", b"abc"));
        bytes.extend(member("data.tar.xz", b"xy"));
        let got = names(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                ("debian-binary".to_string(), b"2.0\n".to_vec()),
                ("control.tar.gz".to_string(), b"abc".to_vec()),
                ("data.tar.xz".to_string(), b"xy".to_vec()),
            ]
        );
    }

    #[test]
    fn unread_members_are_skipped() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(member("a", b"12345"));
        bytes.extend(member("b", b"6"));
        let mut ar = ArReader::new(&bytes[..]);
        assert_eq!(ar.next_member().unwrap().unwrap().name, "a");
        let mut b = ar.next_member().unwrap().unwrap();
        let mut data = String::new();
        b.read_to_string(&mut data).unwrap();
        assert_eq!((b.name.as_str(), data.as_str()), ("b", "6"));
        assert!(ar.next_member().unwrap().is_none());
    }

    #[test]
    fn damage_and_extensions_are_errors_not_panics() {
        let mut good = MAGIC.to_vec();
        good.extend(member("debian-binary", b"2.0\n"));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"!<arch]\n".to_vec(), "ar signature"),
            ([&MAGIC[..], b"short"].concat(), "inside a member header"),
            ([&MAGIC[..], &member("//", b"x")[..]].concat(), "GNU or BSD long names"),
            ([&MAGIC[..], &member("/0", b"x")[..]].concat(), "GNU or BSD long names"),
            ([&MAGIC[..], &member("#1/20", b"x")[..]].concat(), "GNU or BSD long names"),
            (good[..good.len() - 2].to_vec(), "ends inside a member"),
            (
                {
                    let mut b = good.clone();
                    b[8 + 48] = b'x';
                    b
                },
                "not a decimal number",
            ),
            (
                {
                    let mut b = good.clone();
                    b[8 + 58] = b'!';
                    b
                },
                "end marker",
            ),
        ];
        for (bytes, want) in cases {
            let err = names(&bytes).unwrap_err().to_string();
            assert!(err.contains(want), "expected {want:?} in {err:?}");
        }
    }
}
