//! A minimal deterministic tar writer (ustar, with a PAX extended header only where ustar
//! cannot express a field: long names or link targets, large sizes or ids).
//!
//! Conventions shared with dbuild-oci's layer writer: numeric owners with empty user/group
//! names, one fixed mtime, directories named with a trailing `/`, two zero blocks at the end.

use std::io::{self, Read, Write};

/// What a tar entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TarKind {
    File { size: u64 },
    Dir,
    Symlink(String),
    Hardlink(String),
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarHeader {
    /// Root-relative, normalized, without a trailing `/` (added here for directories).
    pub path: String,
    pub kind: TarKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

pub struct TarWriter<W: Write> {
    w: W,
}

fn octal(field: &mut [u8], value: u64) -> bool {
    // width-1 digits plus a NUL terminator.
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    if s.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    true
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    // The length prefix counts itself, so find the fixed point.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

/// Splits a long name into ustar (prefix, name), if possible.
fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((&[], name));
    }
    for (i, &b) in name.iter().enumerate() {
        if b == b'/' && i <= 155 && name.len() - i - 1 <= 100 && name.len() - i - 1 > 0 {
            return Some((&name[..i], &name[i + 1..]));
        }
    }
    None
}

impl<W: Write> TarWriter<W> {
    pub fn new(w: W) -> Self {
        TarWriter { w }
    }

    fn raw_header(
        &mut self,
        name: &[u8],
        typeflag: u8,
        h: &TarHeader,
        size: u64,
        link: &[u8],
        pax: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut b = [0u8; 512];
        match split_ustar(name) {
            Some((prefix, n)) => {
                b[..n.len()].copy_from_slice(n);
                b[345..345 + prefix.len()].copy_from_slice(prefix);
            }
            None => {
                pax_record(pax, "path", &String::from_utf8_lossy(name));
                let n = &name[..100.min(name.len())];
                b[..n.len()].copy_from_slice(n);
            }
        }
        octal(&mut b[100..108], (h.mode & 0o7777) as u64);
        if !octal(&mut b[108..116], h.uid as u64) {
            pax_record(pax, "uid", &h.uid.to_string());
            octal(&mut b[108..116], 0);
        }
        if !octal(&mut b[116..124], h.gid as u64) {
            pax_record(pax, "gid", &h.gid.to_string());
            octal(&mut b[116..124], 0);
        }
        if !octal(&mut b[124..136], size) {
            pax_record(pax, "size", &size.to_string());
            octal(&mut b[124..136], 0);
        }
        if !octal(&mut b[136..148], h.mtime) {
            pax_record(pax, "mtime", &h.mtime.to_string());
            octal(&mut b[136..148], 0);
        }
        b[156] = typeflag;
        if link.len() > 100 {
            pax_record(pax, "linkpath", &String::from_utf8_lossy(link));
            b[157..257].copy_from_slice(&link[..100]);
        } else {
            b[157..157 + link.len()].copy_from_slice(link);
        }
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        if let TarKind::Char { major, minor } | TarKind::Block { major, minor } = h.kind {
            octal(&mut b[329..337], major as u64);
            octal(&mut b[337..345], minor as u64);
        }
        if !pax.is_empty() {
            // The extended header precedes the entry it describes.
            let records = std::mem::take(pax);
            let mut x = [0u8; 512];
            x[..14].copy_from_slice(b"././@PaxHeader");
            octal(&mut x[100..108], 0o644);
            octal(&mut x[108..116], 0);
            octal(&mut x[116..124], 0);
            octal(&mut x[124..136], records.len() as u64);
            octal(&mut x[136..148], 0);
            x[156] = b'x';
            x[257..263].copy_from_slice(b"ustar\0");
            x[263..265].copy_from_slice(b"00");
            checksum(&mut x);
            self.w.write_all(&x)?;
            self.w.write_all(&records)?;
            self.pad(records.len() as u64)?;
        }
        checksum(&mut b);
        self.w.write_all(&b)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.w.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    /// Writes one entry; `data` must yield exactly `size` bytes for files.
    pub fn append(&mut self, h: &TarHeader, data: Option<&mut dyn Read>) -> io::Result<()> {
        let mut pax = Vec::new();
        let (typeflag, size, link, name) = match &h.kind {
            TarKind::File { size } => (b'0', *size, &b""[..], h.path.clone()),
            TarKind::Dir => (b'5', 0, &b""[..], format!("{}/", h.path)),
            TarKind::Symlink(t) => (b'2', 0, t.as_bytes(), h.path.clone()),
            TarKind::Hardlink(t) => (b'1', 0, t.as_bytes(), h.path.clone()),
            TarKind::Char { .. } => (b'3', 0, &b""[..], h.path.clone()),
            TarKind::Block { .. } => (b'4', 0, &b""[..], h.path.clone()),
            TarKind::Fifo => (b'6', 0, &b""[..], h.path.clone()),
        };
        self.raw_header(name.as_bytes(), typeflag, h, size, link, &mut pax)?;
        if size > 0 {
            let data = data.ok_or_else(|| io::Error::other(format!("{}: no data for a {size}-byte file", h.path)))?;
            let copied = io::copy(&mut data.take(size), &mut self.w)?;
            if copied != size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{}: expected {size} bytes, got {copied}", h.path),
                ));
            }
            self.pad(size)?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.w.write_all(&[0u8; 1024])?;
        Ok(self.w)
    }
}

fn checksum(b: &mut [u8; 512]) {
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| x as u32).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_round_trip_through_the_tar_crate() {
        let long = format!("usr/share/{}/file", "d".repeat(150));
        let longer = "x".repeat(300);
        let mut w = TarWriter::new(Vec::new());
        let h = |path: &str, kind| TarHeader { path: path.into(), kind, mode: 0o755, uid: 0, gid: 0, mtime: 0 };
        w.append(&h("usr", TarKind::Dir), None).unwrap();
        w.append(&h(&long, TarKind::File { size: 3 }), Some(&mut &b"abc"[..])).unwrap();
        w.append(&h(&longer, TarKind::Symlink(longer.clone())), None).unwrap();
        let bytes = w.finish().unwrap();
        let mut a = tar::Archive::new(&bytes[..]);
        let names: Vec<(String, Option<String>)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    e.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap()),
                )
            })
            .collect();
        assert_eq!(names, vec![("usr/".into(), None), (long, None), (longer.clone(), Some(longer))]);
    }
}
