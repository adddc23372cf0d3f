//! Encoding of tar headers: ustar, plus a PAX extended header only for what ustar cannot hold.
//!
//! Written by hand rather than through `tar::Builder` because the builder picks GNU long-name
//! records for long paths and fills in fields from the host; here every byte is decided by
//! the arguments alone.

use std::io::{self, Write};

pub(crate) const BLOCK: usize = 512;

pub(crate) const TYPE_FILE: u8 = b'0';
pub(crate) const TYPE_HARDLINK: u8 = b'1';
pub(crate) const TYPE_SYMLINK: u8 = b'2';
pub(crate) const TYPE_DIR: u8 = b'5';
const TYPE_PAX: u8 = b'x';

/// The largest values that fit the octal fields (7 digits for ids, 11 for size and mtime).
const MAX_ID: u64 = 0o7777777;
const MAX_BIG: u64 = 0o77777777777;

/// One member's header as dbuild writes it. Owners are numeric only: user and group names
/// stay empty, and there are no atime/ctime records.
pub(crate) struct Header<'a> {
    /// The member name as stored: directories end in `/`.
    pub name: &'a str,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    pub linkname: &'a str,
}

/// Writes the PAX header (if needed) and the ustar header; returns the bytes written.
pub(crate) fn write_header(w: &mut dyn Write, h: &Header) -> io::Result<u64> {
    let mut pax: Vec<(&str, String)> = Vec::new();
    // PAX records are written in key order so the bytes never depend on code order.
    let name_split = split_ustar_name(h.name);
    if name_split.is_none() {
        pax.push(("path", h.name.to_string()));
    }
    let link_fits = h.linkname.len() <= 100 && h.linkname.is_ascii();
    if !link_fits {
        pax.push(("linkpath", h.linkname.to_string()));
    }
    if h.uid > MAX_ID {
        pax.push(("uid", h.uid.to_string()));
    }
    if h.gid > MAX_ID {
        pax.push(("gid", h.gid.to_string()));
    }
    if h.size > MAX_BIG {
        pax.push(("size", h.size.to_string()));
    }
    if h.mtime > MAX_BIG {
        pax.push(("mtime", h.mtime.to_string()));
    }
    pax.sort();

    let mut written = 0;
    if !pax.is_empty() {
        let mut records = Vec::new();
        for (k, v) in &pax {
            records.extend_from_slice(&pax_record(k, v));
        }
        let base = h.name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let pax_name = format!("PaxHeaders.0/{base}");
        let block = ustar_block(&UstarFields {
            name: truncate(pax_name.as_bytes(), 100),
            prefix: b"",
            typeflag: TYPE_PAX,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: records.len() as u64,
            mtime: h.mtime.min(MAX_BIG),
            linkname: b"",
        });
        w.write_all(&block)?;
        written += BLOCK as u64;
        written += write_padded(w, &records)?;
    }
    // Fields carried by PAX get a stand-in in the ustar header: truncated strings, zero numbers.
    let (prefix, name) = name_split.unwrap_or((b"", truncate(h.name.as_bytes(), 100)));
    let block = ustar_block(&UstarFields {
        name,
        prefix,
        typeflag: h.typeflag,
        mode: h.mode,
        uid: if h.uid > MAX_ID { 0 } else { h.uid },
        gid: if h.gid > MAX_ID { 0 } else { h.gid },
        size: if h.size > MAX_BIG { 0 } else { h.size },
        mtime: if h.mtime > MAX_BIG { 0 } else { h.mtime },
        linkname: truncate(h.linkname.as_bytes(), 100),
    });
    w.write_all(&block)?;
    Ok(written + BLOCK as u64)
}

/// Writes `data` followed by zeros up to the next block boundary.
fn write_padded(w: &mut dyn Write, data: &[u8]) -> io::Result<u64> {
    w.write_all(data)?;
    let pad = padding(data.len() as u64);
    w.write_all(&[0u8; BLOCK][..pad])?;
    Ok(data.len() as u64 + pad as u64)
}

/// Zero bytes needed after `len` bytes of content to reach a block boundary.
pub(crate) fn padding(len: u64) -> usize {
    (BLOCK - (len % BLOCK as u64) as usize) % BLOCK
}

/// The end of an archive: two zero blocks, without padding to a 10 KiB record as GNU tar
/// does (readers do not need it, and it only adds bytes).
pub(crate) const END_OF_ARCHIVE: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

fn truncate(b: &[u8], n: usize) -> &[u8] {
    &b[..b.len().min(n)]
}

/// Splits a name into ustar's `prefix` (155 bytes) and `name` (100 bytes) at a `/`, or
/// `None` when it cannot be stored there: too long, or not ASCII (PAX `path` is defined as
/// UTF-8, ustar's fields are not).
fn split_ustar_name(name: &str) -> Option<(&[u8], &[u8])> {
    let b = name.as_bytes();
    if !name.is_ascii() {
        return None;
    }
    if b.len() <= 100 {
        return Some((b"", b));
    }
    // The longest prefix that fits, as long as what follows fits too and is not empty
    // (a directory's trailing '/' must stay with its name).
    let limit = b.len().min(156);
    let search = if limit == b.len() { &b[..limit - 1] } else { &b[..limit] };
    let i = search.iter().rposition(|&c| c == b'/')?;
    let rest = &b[i + 1..];
    if i == 0 || i > 155 || rest.is_empty() || rest.len() > 100 {
        return None;
    }
    Some((&b[..i], rest))
}

/// `"<len> <key>=<value>\n"`, where `<len>` counts the whole record including itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
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
}

/// Lays out one 512-byte ustar header. Numbers are zero-padded octal followed by NUL, as
/// POSIX describes; uname, gname and the device numbers stay empty.
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
    b[345..345 + f.prefix.len()].copy_from_slice(f.prefix);
    // The checksum is computed with its own field read as spaces, then stored as six octal
    // digits, NUL and space.
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&x| x as u64).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
    b
}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    debug_assert!(s.len() == digits, "caller checks ranges");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record("path", "abc"), b"12 path=abc\n");
        // 9 + 90 bytes of value = 99 + "100" would be 102... the length must be self-consistent.
        let r = pax_record("path", &"x".repeat(90));
        let s = String::from_utf8(r.clone()).unwrap();
        let n: usize = s.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, r.len());
    }

    #[test]
    fn ustar_split() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let (p, n) = split_ustar_name(&long).unwrap();
        assert_eq!((p.len(), n.len()), (120, 90));
        assert!(split_ustar_name(&"x".repeat(101)).is_none());
        let dir = format!("{}/{}/", "d".repeat(60), "e".repeat(60));
        let (p, n) = split_ustar_name(&dir).unwrap();
        assert_eq!((p.len(), n), (60, format!("{}/", "e".repeat(60)).as_bytes()));
        assert!(split_ustar_name("caf\u{e9}").is_none());
    }

    #[test]
    fn header_checksum_and_fields() {
        let mut out = Vec::new();
        let h =
            Header { name: "a/b", typeflag: TYPE_FILE, mode: 0o4755, uid: 7, gid: 8, size: 3, mtime: 9, linkname: "" };
        assert_eq!(write_header(&mut out, &h).unwrap(), 512);
        assert_eq!(&out[100..108], b"0004755\0");
        assert_eq!(&out[124..136], b"00000000003\0");
        let hdr = tar::Header::from_byte_slice(&out);
        let sum: u32 = out.iter().enumerate().map(|(i, &x)| if (148..156).contains(&i) { 32 } else { x as u32 }).sum();
        assert_eq!(hdr.cksum().unwrap(), sum);
        assert_eq!(hdr.username_bytes().unwrap(), b"");
    }
}
