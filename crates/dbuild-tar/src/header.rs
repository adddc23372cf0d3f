//! [`TarWriter`]: the one encoder of tar members. ustar headers, plus a PAX extended header
//! only for what ustar cannot hold. Every byte is decided by the arguments alone; the rules:
//!
//! - **Member names.** The root is `./`; a directory's name ends in `/`; other names are the
//!   path as given. A name that is ASCII and at most 100 bytes goes in ustar `name`. A longer
//!   ASCII name is split at a `/` into `prefix` (at most 155 bytes) and `name` (at most 100,
//!   not empty), taking the **longest** prefix that fits. Anything else (longer, or not ASCII)
//!   goes in a PAX `path` record, with the first 100 bytes in ustar `name` as a stand-in.
//! - **Link targets.** ASCII and at most 100 bytes: ustar `linkname`; else a PAX `linkpath`
//!   record and the first 100 bytes as a stand-in.
//! - **Names that are not UTF-8** keep their raw bytes: PAX `path`/`linkpath` are defined as
//!   UTF-8, so such a header also carries `hdrcharset=BINARY` (POSIX's marker for raw bytes).
//! - **Numbers.** Zero-padded octal, NUL-terminated. A uid or gid above 0o7777777, or a size or
//!   mtime above 0o77777777777, goes in a PAX record (`uid`, `gid`, `size`, `mtime`) and the
//!   ustar field holds 0. The mode must fit 0o7777; device numbers must fit their field.
//! - **Owners** are numeric: `uname`/`gname` stay empty; no atime/ctime records.
//! - **PAX headers**: records in byte order of their keys; the header member is named
//!   `PaxHeaders.0/<last component of the name>` (cut to 100 bytes), mode 0644, owner 0:0, the
//!   entry's mtime. (That is the convention dbuild's OCI layers always had, kept so their
//!   bytes did not change when the Debian writer was folded in.)
//! - **End of archive**: two zero blocks, no padding to a 10 KiB record.

use std::io::{self, Read, Write};

/// The tar block size.
pub const BLOCK: usize = 512;

const TYPE_FILE: u8 = b'0';
const TYPE_HARDLINK: u8 = b'1';
const TYPE_SYMLINK: u8 = b'2';
const TYPE_CHAR: u8 = b'3';
const TYPE_BLOCK: u8 = b'4';
const TYPE_DIR: u8 = b'5';
const TYPE_FIFO: u8 = b'6';
const TYPE_PAX: u8 = b'x';

/// The largest values that fit the octal fields (7 digits for ids and device numbers, 11 for
/// size and mtime).
const MAX_ID: u64 = 0o7777777;
const MAX_BIG: u64 = 0o77777777777;

/// What a member is. Link targets are raw bytes, stored exactly as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    File { size: u64 },
    Dir,
    Symlink { target: &'a [u8] },
    Hardlink { target: &'a [u8] },
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
}

/// One member. `path` is the name without a trailing `/` (the writer adds it to directories;
/// the empty path is the root, `./`). It is written as given: normalizing is the caller's
/// business ([`ImagePath`](crate::ImagePath)), so test fixtures can write hostile names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub path: &'a [u8],
    pub kind: Kind<'a>,
    /// Permission bits, at most 0o7777.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("tar member {path}: the name or link target contains a NUL byte")]
    Nul { path: String },
    #[error("tar member {path}: mode {mode:o} has bits beyond 07777")]
    Mode { path: String, mode: u32 },
    #[error("tar member {path}: device number {value} does not fit a ustar header")]
    Device { path: String, value: u32 },
    #[error("tar member {path}: no content given for a {size}-byte file")]
    NoContent { path: String, size: u64 },
    #[error("tar member {path}: expected {expected} bytes of content, read {read}")]
    ShortContent { path: String, expected: u64, read: u64 },
    #[error("tar member {path}: cannot read its content")]
    Read { path: String, source: io::Error },
    #[error("cannot write the tar stream")]
    Write(#[source] io::Error),
}

fn shown(path: &[u8]) -> String {
    path.escape_ascii().to_string()
}

/// Writes tar members to `W` under the rules of this module.
pub struct TarWriter<W: Write> {
    w: W,
    buf: Vec<u8>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(w: W) -> TarWriter<W> {
        TarWriter { w, buf: Vec::new() }
    }

    /// Appends one member; `content` must yield `size` bytes for a file (more are ignored).
    /// Returns the number of tar bytes written.
    pub fn append(&mut self, e: &Entry, content: Option<&mut dyn Read>) -> Result<u64, TarError> {
        let mut written = write_header(&mut self.w, e)?;
        if let Kind::File { size } = e.kind {
            if size > 0 {
                let r = content.ok_or_else(|| TarError::NoContent { path: shown(e.path), size })?;
                let read = self.copy(r, size, e.path)?;
                if read != size {
                    return Err(TarError::ShortContent { path: shown(e.path), expected: size, read });
                }
                let pad = padding(size);
                self.w.write_all(&[0u8; BLOCK][..pad]).map_err(TarError::Write)?;
                written += size + pad as u64;
            }
        }
        Ok(written)
    }

    /// Copies at most `len` bytes through a reused buffer; returns how many were copied.
    fn copy(&mut self, r: &mut dyn Read, len: u64, path: &[u8]) -> Result<u64, TarError> {
        if self.buf.is_empty() {
            self.buf = vec![0u8; 256 * 1024];
        }
        let mut r = r.take(len);
        let mut done = 0;
        loop {
            let n = match r.read(&mut self.buf) {
                Ok(0) => return Ok(done),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(TarError::Read { path: shown(path), source }),
            };
            self.w.write_all(&self.buf[..n]).map_err(TarError::Write)?;
            done += n as u64;
        }
    }

    /// Writes the end of the archive and returns the inner writer.
    pub fn finish(mut self) -> Result<W, TarError> {
        self.w.write_all(&[0u8; 2 * BLOCK]).map_err(TarError::Write)?;
        Ok(self.w)
    }
}

/// Zero bytes needed after `len` bytes of content to reach a block boundary.
fn padding(len: u64) -> usize {
    (BLOCK - (len % BLOCK as u64) as usize) % BLOCK
}

/// The member name as stored.
fn member_name(e: &Entry) -> Vec<u8> {
    if e.path.is_empty() {
        return b"./".to_vec();
    }
    let mut name = e.path.to_vec();
    if e.kind == Kind::Dir {
        name.push(b'/');
    }
    name
}

/// Writes the PAX header (if needed) and the ustar header; returns the bytes written.
fn write_header(w: &mut dyn Write, e: &Entry) -> Result<u64, TarError> {
    let name = member_name(e);
    let (typeflag, size, link, dev): (u8, u64, &[u8], Option<(u32, u32)>) = match e.kind {
        Kind::File { size } => (TYPE_FILE, size, b"", None),
        Kind::Dir => (TYPE_DIR, 0, b"", None),
        Kind::Symlink { target } => (TYPE_SYMLINK, 0, target, None),
        Kind::Hardlink { target } => (TYPE_HARDLINK, 0, target, None),
        Kind::Char { major, minor } => (TYPE_CHAR, 0, b"", Some((major, minor))),
        Kind::Block { major, minor } => (TYPE_BLOCK, 0, b"", Some((major, minor))),
        Kind::Fifo => (TYPE_FIFO, 0, b"", None),
    };
    if name.contains(&0) || link.contains(&0) {
        return Err(TarError::Nul { path: shown(e.path) });
    }
    if e.mode > 0o7777 {
        return Err(TarError::Mode { path: shown(e.path), mode: e.mode });
    }
    if let Some((major, minor)) = dev {
        for value in [major, minor] {
            if value as u64 > MAX_ID {
                return Err(TarError::Device { path: shown(e.path), value });
            }
        }
    }

    let mut pax: Vec<(&str, &[u8])> = Vec::new();
    let name_split = split_ustar_name(&name);
    if name_split.is_none() {
        pax.push(("path", &name));
    }
    let link_fits = link.len() <= 100 && link.is_ascii();
    if !link_fits {
        pax.push(("linkpath", link));
    }
    let binary = (name_split.is_none() && std::str::from_utf8(&name).is_err())
        || (!link_fits && std::str::from_utf8(link).is_err());
    if binary {
        pax.push(("hdrcharset", b"BINARY"));
    }
    let (uid, gid, size_s, mtime_s) = (e.uid.to_string(), e.gid.to_string(), size.to_string(), e.mtime.to_string());
    if e.uid > MAX_ID {
        pax.push(("uid", uid.as_bytes()));
    }
    if e.gid > MAX_ID {
        pax.push(("gid", gid.as_bytes()));
    }
    if size > MAX_BIG {
        pax.push(("size", size_s.as_bytes()));
    }
    if e.mtime > MAX_BIG {
        pax.push(("mtime", mtime_s.as_bytes()));
    }
    // Records in key order, so the bytes never depend on the order of the code above.
    pax.sort();

    let mut written = 0;
    if !pax.is_empty() {
        let mut records = Vec::new();
        for (k, v) in &pax {
            pax_record(&mut records, k, v);
        }
        let trimmed = name.strip_suffix(b"/").unwrap_or(&name);
        let base = trimmed.rsplit(|&c| c == b'/').next().unwrap_or(b"");
        let mut pax_name = b"PaxHeaders.0/".to_vec();
        pax_name.extend_from_slice(base);
        let block = ustar_block(&UstarFields {
            name: truncate(&pax_name, 100),
            prefix: b"",
            typeflag: TYPE_PAX,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: records.len() as u64,
            mtime: e.mtime.min(MAX_BIG),
            linkname: b"",
            dev: None,
        });
        w.write_all(&block).map_err(TarError::Write)?;
        w.write_all(&records).map_err(TarError::Write)?;
        let pad = padding(records.len() as u64);
        w.write_all(&[0u8; BLOCK][..pad]).map_err(TarError::Write)?;
        written += (BLOCK + records.len() + pad) as u64;
    }
    // Fields carried by PAX get a stand-in in the ustar header: truncated strings, zero numbers.
    let (prefix, ustar_name) = name_split.unwrap_or((b"", truncate(&name, 100)));
    let block = ustar_block(&UstarFields {
        name: ustar_name,
        prefix,
        typeflag,
        mode: e.mode,
        uid: if e.uid > MAX_ID { 0 } else { e.uid },
        gid: if e.gid > MAX_ID { 0 } else { e.gid },
        size: if size > MAX_BIG { 0 } else { size },
        mtime: if e.mtime > MAX_BIG { 0 } else { e.mtime },
        linkname: truncate(link, 100),
        dev,
    });
    w.write_all(&block).map_err(TarError::Write)?;
    Ok(written + BLOCK as u64)
}

fn truncate(b: &[u8], n: usize) -> &[u8] {
    &b[..b.len().min(n)]
}

/// Splits a stored name into ustar's `prefix` (at most 155 bytes) and `name` (at most 100,
/// not empty) at a `/`, taking the longest prefix that fits; `None` when it cannot be stored
/// there: too long, or not ASCII (ustar fields have no defined character set).
pub(crate) fn split_ustar_name(b: &[u8]) -> Option<(&[u8], &[u8])> {
    if !b.is_ascii() {
        return None;
    }
    if b.len() <= 100 {
        return Some((b"", b));
    }
    // The last '/' among the first 156 bytes (so the prefix is at most 155), never the final
    // byte: a directory's trailing '/' must stay with its name.
    let search = &b[..b.len().min(156).min(b.len() - 1)];
    let i = search.iter().rposition(|&c| c == b'/')?;
    let rest = &b[i + 1..];
    if i == 0 || rest.len() > 100 {
        return None;
    }
    Some((&b[..i], rest))
}

/// Appends `"<len> <key>=<value>\n"`, where `<len>` counts the whole record including itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

struct UstarFields<'a> {
    name: &'a [u8],
    prefix: &'a [u8],
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    linkname: &'a [u8],
    dev: Option<(u32, u32)>,
}

/// Lays out one 512-byte ustar header. uname, gname stay empty; device numbers are written
/// only for device members.
fn ustar_block(f: &UstarFields) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[0..f.name.len()].copy_from_slice(f.name);
    octal(&mut b[100..108], f.mode as u64);
    octal(&mut b[108..116], f.uid);
    octal(&mut b[116..124], f.gid);
    octal(&mut b[124..136], f.size);
    octal(&mut b[136..148], f.mtime);
    b[156] = f.typeflag;
    b[157..157 + f.linkname.len()].copy_from_slice(f.linkname);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if let Some((major, minor)) = f.dev {
        octal(&mut b[329..337], major as u64);
        octal(&mut b[337..345], minor as u64);
    }
    b[345..345 + f.prefix.len()].copy_from_slice(f.prefix);
    // The checksum is computed with its own field read as spaces, then stored as six octal
    // digits, NUL and space.
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&x| x as u64).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

/// Zero-padded octal filling all but the last byte of `field`, then NUL. Callers keep values
/// in range (PAX carries the rest), so the digits always fit.
fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    let s = s.as_bytes();
    field[..digits].copy_from_slice(&s[s.len().saturating_sub(digits)..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut r = Vec::new();
        pax_record(&mut r, "path", b"abc");
        assert_eq!(r, b"12 path=abc\n");
        for n in [90, 91, 92, 93, 994, 995, 996] {
            let mut r = Vec::new();
            pax_record(&mut r, "path", "x".repeat(n).as_bytes());
            let len: usize =
                std::str::from_utf8(&r[..r.iter().position(|&c| c == b' ').unwrap()]).unwrap().parse().unwrap();
            assert_eq!(len, r.len(), "{n}");
        }
    }

    #[test]
    fn ustar_split_takes_the_longest_prefix() {
        let long = format!("{}/{}/{}", "a".repeat(60), "b".repeat(60), "f".repeat(20));
        let (p, n) = split_ustar_name(long.as_bytes()).unwrap();
        assert_eq!((p.len(), n.len()), (121, 20));
        assert!(split_ustar_name("x".repeat(101).as_bytes()).is_none());
        let dir = format!("{}/{}/", "d".repeat(60), "e".repeat(60));
        let (p, n) = split_ustar_name(dir.as_bytes()).unwrap();
        assert_eq!((p.len(), n), (60, format!("{}/", "e".repeat(60)).as_bytes()));
        assert!(split_ustar_name("caf\u{e9}".as_bytes()).is_none());
        let max = format!("{}/{}", "p".repeat(155), "n".repeat(100));
        assert_eq!(split_ustar_name(max.as_bytes()).map(|(p, n)| (p.len(), n.len())), Some((155, 100)));
        let over = format!("{}/{}", "p".repeat(156), "n".repeat(10));
        assert!(split_ustar_name(over.as_bytes()).is_none());
    }

    #[test]
    fn refuses_what_cannot_be_encoded() {
        let mut w = TarWriter::new(Vec::new());
        let e = Entry { path: b"a\0b", kind: Kind::Dir, mode: 0o755, uid: 0, gid: 0, mtime: 0 };
        assert!(matches!(w.append(&e, None), Err(TarError::Nul { .. })));
        let e = Entry { path: b"a", kind: Kind::Dir, mode: 0o10755, uid: 0, gid: 0, mtime: 0 };
        assert!(matches!(w.append(&e, None), Err(TarError::Mode { .. })));
        let e = Entry { path: b"d", kind: Kind::Char { major: u32::MAX, minor: 0 }, mode: 0, uid: 0, gid: 0, mtime: 0 };
        assert!(matches!(w.append(&e, None), Err(TarError::Device { .. })));
        let e = Entry { path: b"f", kind: Kind::File { size: 4 }, mode: 0o644, uid: 0, gid: 0, mtime: 0 };
        assert!(matches!(w.append(&e, None), Err(TarError::NoContent { .. })));
        assert!(matches!(w.append(&e, Some(&mut &b"abc"[..])), Err(TarError::ShortContent { read: 3, .. })));
    }
}
