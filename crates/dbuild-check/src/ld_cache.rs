//! `/etc/ld.so.cache` made natively from an image's files, as `ldconfig` would make it inside
//! the image, without running anything of the image (which may be for another architecture).
//!
//! The format is glibc's "new" cache (`glibc-ld.so.cache` version `1.1`, the only one glibc
//! writes since 2.32), as `sysdeps/generic/dl-cache.h` describes it: a 48-byte header (magic,
//! version, entry count, string table size, an endianness byte, an extension offset), then one
//! 24-byte entry per library (flags, key and value string offsets, an unused OS version, the
//! hwcap mask), then the NUL-terminated strings. Offsets count from the start of the file. The
//! file is written in the byte order of the image's architecture, which the loader checks.
//!
//! What goes in follows ldconfig's scan: the directories of `/etc/ld.so.conf` (with its
//! `include`s), then the built-in ones (Debian's: the multiarch `lib` and `usr/lib`, then `lib`
//! and `usr/lib`); a directory reached twice through symlinks counts once, under the name it
//! was first given. In each directory every `lib*`/`ld-*` file or symlink with `.so` in its
//! name that is an ELF shared object is a candidate, keyed by its SONAME (a development link
//! such as `libssl.so -> libssl.so.3` by its own name, as ldconfig does); one entry per key and
//! directory, pointing at `dir/key`. Entries are sorted the way the loader's binary search
//! expects. No glibc-hwcaps subdirectory and no generator extension are written, and the
//! SONAME links ldconfig would create are not: Debian's packages ship them.

use std::cmp::Ordering;

use dbuild_core::fs_tree::{FsKind, ImageFs};
use object::elf;

use crate::arch::Arch;
use crate::elf::parse;
use crate::search_path::{conf_dirs, BUILTIN_DIRS};

/// `glibc-ld.so.cache` followed by the version `1.1`.
const MAGIC: &[u8; 20] = b"glibc-ld.so.cache1.1";
const HEADER_LEN: usize = 48;
const ENTRY_LEN: usize = 24;
/// The header's endianness byte (`cache_file_new_flags_endian_little` / `_big`).
const ENDIAN_LITTLE: u8 = 2;
const ENDIAN_BIG: u8 = 3;

/// An ELF library for glibc (`FLAG_ELF_LIBC6`), the low byte of every entry's flags.
pub const FLAG_ELF_LIBC6: i32 = 0x0003;
/// The ABI bits of the flags (`FLAG_REQUIRED_MASK`): the loader only takes entries whose
/// flags equal its own default, so these must be right for the architecture.
const FLAG_X8664_LIB64: i32 = 0x0300;
const FLAG_S390_LIB64: i32 = 0x0400;
const FLAG_POWERPC_LIB64: i32 = 0x0500;
const FLAG_X8664_LIBX32: i32 = 0x0800;
const FLAG_ARM_LIBHF: i32 = 0x0900;
const FLAG_AARCH64_LIB64: i32 = 0x0a00;
const FLAG_ARM_LIBSF: i32 = 0x0b00;
const FLAG_RISCV_FLOAT_ABI_SOFT: i32 = 0x0f00;
const FLAG_RISCV_FLOAT_ABI_DOUBLE: i32 = 0x1000;

/// One library of the cache: `key` is the name programs ask for, `value` its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub value: String,
    pub hwcap: u64,
}

impl CacheEntry {
    /// The ABI as `ldconfig -p` prints it in parentheses (`libc6,x86-64`).
    pub fn abi(&self) -> String {
        let required = match self.flags & 0xff00 {
            0 => "",
            FLAG_X8664_LIB64 => ",x86-64",
            FLAG_S390_LIB64 | FLAG_POWERPC_LIB64 => ",64bit",
            FLAG_X8664_LIBX32 => ",x32",
            FLAG_ARM_LIBHF => ",hard-float",
            FLAG_AARCH64_LIB64 => ",AArch64",
            FLAG_ARM_LIBSF => ",soft-float",
            FLAG_RISCV_FLOAT_ABI_SOFT => ",soft-float",
            FLAG_RISCV_FLOAT_ABI_DOUBLE => ",double-float",
            _ => ",unknown",
        };
        let kind = if (self.flags & 0xff) == FLAG_ELF_LIBC6 { "libc6" } else { "unknown" };
        format!("{kind}{required}")
    }
}

/// Why bytes are not a cache this module can read.
#[derive(Debug, thiserror::Error)]
pub enum LdCacheError {
    #[error("not a glibc ld.so.cache: it does not start with \"glibc-ld.so.cache1.1\"")]
    Magic,
    #[error("the ld.so.cache is truncated: {0}")]
    Truncated(&'static str),
    #[error("ld.so.cache entry {index}: its {field} string offset {offset} is outside the file")]
    String { index: usize, field: &'static str, offset: u32 },
}

/// glibc's library-name order (`_dl_cache_libcmp`): runs of digits compare as numbers and sort
/// before any other character, so `libfoo.so.10` comes after `libfoo.so.9`.
pub fn libcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let number = |s: &[u8], k: &mut usize| {
                    let mut n: u128 = 0;
                    while let Some(d) = s.get(*k).filter(|d| d.is_ascii_digit()) {
                        n = n.saturating_mul(10).saturating_add(u128::from(d - b'0'));
                        *k += 1;
                    }
                    n
                };
                let (n, m) = (number(a, &mut i), number(b, &mut j));
                if n != m {
                    return n.cmp(&m);
                }
            }
            (Some(x), Some(_)) if x.is_ascii_digit() => return Ordering::Greater,
            (Some(_), Some(y)) if y.is_ascii_digit() => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {
                i += 1;
                j += 1;
            }
        }
    }
}

/// The cache flags ldconfig gives an ELF shared object, or `None` for one the loader of
/// that ABI would refuse (a RISC-V float ABI glibc does not support).
fn library_flags(machine: u16, class: u8, e_flags: u32) -> Option<i32> {
    let is64 = class == elf::ELFCLASS64;
    let abi = match machine {
        elf::EM_X86_64 if is64 => FLAG_X8664_LIB64,
        elf::EM_X86_64 => FLAG_X8664_LIBX32,
        elf::EM_AARCH64 if is64 => FLAG_AARCH64_LIB64,
        elf::EM_S390 if is64 => FLAG_S390_LIB64,
        elf::EM_PPC64 if is64 => FLAG_POWERPC_LIB64,
        elf::EM_ARM if (e_flags & elf::EF_ARM_ABI_FLOAT_HARD) != 0 => FLAG_ARM_LIBHF,
        elf::EM_ARM if (e_flags & elf::EF_ARM_ABI_FLOAT_SOFT) != 0 => FLAG_ARM_LIBSF,
        elf::EM_RISCV => match e_flags & elf::EF_RISCV_FLOAT_ABI {
            elf::EF_RISCV_FLOAT_ABI_SOFT => FLAG_RISCV_FLOAT_ABI_SOFT,
            elf::EF_RISCV_FLOAT_ABI_DOUBLE => FLAG_RISCV_FLOAT_ABI_DOUBLE,
            _ => return None,
        },
        _ => 0,
    };
    Some(abi | FLAG_ELF_LIBC6)
}

/// Whether ldconfig looks at a directory entry of this name at all.
fn looks_like_library(name: &str) -> bool {
    (name.starts_with("lib") || name.starts_with("ld-")) && name.contains(".so")
}

/// One candidate of a directory, before the per-key choice.
struct Candidate {
    name: String,
    key: String,
    flags: i32,
    is_link: bool,
}

/// The candidates of one directory (`real` is its resolved path), one per key.
fn scan_dir(fs: &ImageFs, real: &str) -> Vec<Candidate> {
    let prefix = format!("{real}/");
    let mut chosen: Vec<Candidate> = Vec::new();
    let names: Vec<&str> = fs
        .entries()
        .filter_map(|(p, _)| p.strip_prefix(prefix.as_str()))
        .filter(|rest| !rest.contains('/') && looks_like_library(rest))
        .collect();
    for name in names {
        let path = format!("{prefix}{name}");
        let mut is_link = matches!(fs.get(&path).map(|e| &e.kind), Some(FsKind::Symlink(_)));
        let Some((target, entry)) = fs.resolve(&path) else { continue };
        let FsKind::File { data: Some(data), .. } = &entry.kind else { continue };
        let Ok(info) = parse(data) else { continue };
        if info.e_type != elf::ET_DYN {
            continue;
        }
        let Some(flags) = library_flags(info.machine, info.class, info.flags) else { continue };
        let mut key = info.soname.clone().unwrap_or_else(|| name.to_string());
        if is_link {
            // A link is taken under its own name only when it points at its SONAME, or is
            // the `.so` link the linker uses (`libfoo.so -> libfoo.so.1`); any other link is
            // treated as a file with that SONAME.
            let base = target.rsplit('/').next().unwrap_or(&target);
            if base != key && !(base.ends_with(".so") && key.starts_with(base)) {
                is_link = false;
            }
        }
        if is_link {
            key = name.to_string();
        }
        match chosen.iter_mut().find(|c| c.key == key) {
            Some(c) => {
                // A file beats a link; otherwise the newer-looking name wins.
                if (!is_link && c.is_link) || (is_link == c.is_link && libcmp(&c.name, name) == Ordering::Less) {
                    c.name = name.to_string();
                    c.flags = flags;
                    c.is_link = is_link;
                }
            }
            None => chosen.push(Candidate { name: name.to_string(), key, flags, is_link }),
        }
    }
    chosen
}

/// The directories ldconfig scans in `fs`, as (name given, resolved path), first name wins.
fn directories(fs: &ImageFs, arch: &Arch) -> Vec<(String, String)> {
    let mut dirs = conf_dirs(fs);
    if let Some(t) = arch.triplet {
        dirs.push(format!("lib/{t}"));
        dirs.push(format!("usr/lib/{t}"));
    }
    dirs.extend(BUILTIN_DIRS.iter().map(|d| d.to_string()));
    let mut out: Vec<(String, String)> = Vec::new();
    for d in dirs {
        let Some((real, entry)) = fs.resolve(&d) else { continue };
        if entry.kind != FsKind::Dir || out.iter().any(|(_, r)| *r == real) {
            continue;
        }
        out.push((d, real));
    }
    out
}

/// The entries of the cache ldconfig would write for the image `fs` of architecture `arch`,
/// in cache order. Only files whose bytes `fs` kept can be read: build it with
/// [`crate::keep_for_check`].
pub fn cache_entries(fs: &ImageFs, arch: &Arch) -> Vec<CacheEntry> {
    let mut entries = Vec::new();
    for (dir, real) in directories(fs, arch) {
        for c in scan_dir(fs, &real) {
            entries.push(CacheEntry { flags: c.flags, value: format!("/{dir}/{}", c.key), key: c.key, hwcap: 0 });
        }
    }
    // Descending names, then descending flags; equal entries keep scan order (a stable sort),
    // as ldconfig's sorted insertion does.
    entries.sort_by(|a, b| libcmp(&b.key, &a.key).then(b.flags.cmp(&a.flags)).then(b.hwcap.cmp(&a.hwcap)));
    entries
}

/// The cache file of `entries` (already in cache order), in the given byte order.
pub fn encode(entries: &[CacheEntry], big_endian: bool) -> Vec<u8> {
    let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let strings_start = HEADER_LEN + ENTRY_LEN * entries.len();
    // Every key is the tail of its value (`dir/key`), so only values are stored.
    let mut strings: Vec<u8> = Vec::new();
    let mut table: Vec<u8> = Vec::with_capacity(ENTRY_LEN * entries.len());
    for e in entries {
        let value = (strings_start + strings.len()) as u32;
        strings.extend_from_slice(e.value.as_bytes());
        strings.push(0);
        let key = match e.value.strip_suffix(e.key.as_str()) {
            Some(dir) if dir.ends_with('/') => value + dir.len() as u32,
            _ => {
                let at = (strings_start + strings.len()) as u32;
                strings.extend_from_slice(e.key.as_bytes());
                strings.push(0);
                at
            }
        };
        table.extend_from_slice(&u32b(e.flags as u32));
        table.extend_from_slice(&u32b(key));
        table.extend_from_slice(&u32b(value));
        table.extend_from_slice(&u32b(0));
        table.extend_from_slice(&if big_endian { e.hwcap.to_be_bytes() } else { e.hwcap.to_le_bytes() });
    }
    let mut out = Vec::with_capacity(strings_start + strings.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32b(entries.len() as u32));
    out.extend_from_slice(&u32b(strings.len() as u32));
    out.push(if big_endian { ENDIAN_BIG } else { ENDIAN_LITTLE });
    out.extend_from_slice(&[0; 3]);
    // No extension directory; the rest is reserved.
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    out
}

/// Reads a cache written by [`encode`] or by ldconfig (new format only).
pub fn decode(bytes: &[u8]) -> Result<Vec<CacheEntry>, LdCacheError> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(LdCacheError::Magic);
    }
    let big = (bytes[28] & 3) == ENDIAN_BIG;
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap_or_default();
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let n = u32_at(20) as usize;
    if bytes.len() < HEADER_LEN + n.saturating_mul(ENTRY_LEN) {
        return Err(LdCacheError::Truncated("fewer entries than its header says"));
    }
    let string_at = |index: usize, field: &'static str, offset: u32| -> Result<String, LdCacheError> {
        let rest = bytes.get(offset as usize..).ok_or(LdCacheError::String { index, field, offset })?;
        let end = rest.iter().position(|b| *b == 0).ok_or(LdCacheError::String { index, field, offset })?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let mut entries = Vec::with_capacity(n);
    for index in 0..n {
        let at = HEADER_LEN + index * ENTRY_LEN;
        let hw: [u8; 8] = bytes[at + 16..at + 24].try_into().unwrap_or_default();
        entries.push(CacheEntry {
            flags: u32_at(at) as i32,
            key: string_at(index, "key", u32_at(at + 4))?,
            value: string_at(index, "value", u32_at(at + 8))?,
            hwcap: if big { u64::from_be_bytes(hw) } else { u64::from_le_bytes(hw) },
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcmp_compares_numbers_numerically() {
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so.1"), Ordering::Equal);
        assert_eq!(libcmp("libfoo.so", "libfoo.so.1"), Ordering::Less);
        // A digit sorts after a letter, as glibc's _dl_cache_libcmp has it (the family tests
        // compare whole caches with what ldconfig writes).
        assert_eq!(libcmp("lib2", "liba"), Ordering::Greater);
        assert_eq!(libcmp("liba", "lib2"), Ordering::Less);
        assert_eq!(libcmp("libb", "liba"), Ordering::Greater);
    }

    #[test]
    fn encoded_entries_decode_in_both_byte_orders() {
        let entries = vec![
            CacheEntry {
                flags: 0x0303,
                key: "libz.so.1".into(),
                value: "/lib/x86_64-linux-gnu/libz.so.1".into(),
                hwcap: 0,
            },
            CacheEntry { flags: 0x0403, key: "libodd.so".into(), value: "/opt/other-name.so".into(), hwcap: 5 },
        ];
        for big in [false, true] {
            let bytes = encode(&entries, big);
            assert_eq!(decode(&bytes).unwrap(), entries);
        }
        assert_eq!(entries[0].abi(), "libc6,x86-64");
        assert!(matches!(decode(b"ld.so-1.7.0"), Err(LdCacheError::Magic)));
    }
}
