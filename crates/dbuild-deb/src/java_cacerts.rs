//! The Java trust store that ca-certificates-java would have built, made without running a
//! JVM: a JKS keystore at [`CACERTS_PATH`] holding every certificate of the ca-certificates
//! package as a trusted-certificate entry. [`java_cacerts_layer`] wraps it as a layer.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;

use base64::Engine;
use dbuild_core::Compression;
use sha1::{Digest, Sha1};

use crate::deb::DebError;
use crate::layer::{tree_to_layer, LayerOutput};
use crate::tree::{PackageTree, TreeKind, TreeOptions};

/// Where the JVM looks for its default trust store on Debian.
pub const CACERTS_PATH: &str = "etc/ssl/certs/java/cacerts";
/// The password every JDK assumes for `cacerts`; it only protects integrity, not secrecy.
pub const DEFAULT_PASSWORD: &str = "changeit";

/// Same selection as the CA bundle: `*.crt` files under this prefix.
const PREFIX: &str = "usr/share/ca-certificates/";
/// A certificate is a few KiB; refuse absurd members.
const CERT_LIMIT: u64 = 1 << 20;

const JKS_MAGIC: u32 = 0xFEED_FEED;
const JKS_VERSION: u32 = 2;
const TAG_TRUSTED_CERT: u32 = 2;
/// Mixed into the integrity digest by Sun's JKS implementation, so ours must match.
const JKS_WHITENER: &[u8] = b"Mighty Aphrodite";
const PEM_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_END: &[u8] = b"-----END CERTIFICATE-----";

/// A JKS keystore of trusted certificates `(alias, DER)`, in the given order, each created at
/// `created_ms` (milliseconds since the epoch), sealed with `password`'s SHA-1 integrity digest.
/// Aliases are written as given: JKS looks them up lowercased, so callers pass lowercase ones.
/// An alias is cut to the 65535 bytes `DataOutputStream.writeUTF` can hold; a DER blob must be
/// under 4 GiB.
pub fn java_keystore(certs: &[(String, Vec<u8>)], password: &str, created_ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&JKS_MAGIC.to_be_bytes());
    out.extend_from_slice(&JKS_VERSION.to_be_bytes());
    out.extend_from_slice(&(certs.len() as u32).to_be_bytes());
    for (alias, der) in certs {
        out.extend_from_slice(&TAG_TRUSTED_CERT.to_be_bytes());
        write_utf(&mut out, alias);
        out.extend_from_slice(&created_ms.to_be_bytes());
        write_utf(&mut out, "X.509");
        out.extend_from_slice(&(der.len() as u32).to_be_bytes());
        out.extend_from_slice(der);
    }
    let mut digest = Sha1::new();
    // Java hashes the password's `char`s big-endian, i.e. UTF-16BE.
    for unit in password.encode_utf16() {
        digest.update(unit.to_be_bytes());
    }
    digest.update(JKS_WHITENER);
    digest.update(&out);
    out.extend_from_slice(&digest.finalize());
    out
}

/// Java's `DataOutputStream.writeUTF`: a u16 byte length, then "modified UTF-8" (UTF-16 units
/// encoded one by one, NUL as two bytes).
fn write_utf(out: &mut Vec<u8>, s: &str) {
    let mut bytes = Vec::new();
    for unit in s.encode_utf16() {
        let c = u32::from(unit);
        let enc: Vec<u8> = match c {
            0x01..=0x7F => vec![c as u8],
            0x00 | 0x80..=0x7FF => vec![0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8],
            _ => vec![0xE0 | (c >> 12) as u8, 0x80 | ((c >> 6) & 0x3F) as u8, 0x80 | (c & 0x3F) as u8],
        };
        if bytes.len() + enc.len() > usize::from(u16::MAX) {
            break;
        }
        bytes.extend_from_slice(&enc);
    }
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(&bytes);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The DER certificates of a PEM file, in file order; text outside the blocks is ignored.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut certs = Vec::new();
    let mut rest = pem;
    while let Some(start) = find(rest, PEM_BEGIN) {
        let n = certs.len() + 1;
        let body = &rest[start + PEM_BEGIN.len()..];
        let end = find(body, PEM_END).ok_or_else(|| format!("certificate {n}: no END CERTIFICATE line"))?;
        let b64: Vec<u8> = body[..end].iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .map_err(|e| format!("certificate {n}: bad base64: {e}"))?;
        // The JVM refuses the whole store if one entry does not parse, so catch garbage here.
        if !is_one_der_sequence(&der) {
            return Err(format!("certificate {n}: not a DER SEQUENCE"));
        }
        certs.push(der);
        rest = &body[end + PEM_END.len()..];
    }
    if certs.is_empty() {
        return Err("no BEGIN CERTIFICATE block".into());
    }
    Ok(certs)
}

/// Whether `der` is exactly one DER SEQUENCE (what every X.509 certificate is).
fn is_one_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else { return false };
    let (len, header) = if *first < 0x80 {
        (usize::from(*first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return false;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
    };
    header.checked_add(len) == Some(der.len())
}

/// `alias`, or if taken, `alias~2`, `alias~3`, …: two files of the same name in different
/// directories must not shadow each other.
fn unique_alias(used: &mut BTreeSet<String>, alias: String) -> String {
    let mut candidate = alias.clone();
    let mut n = 2;
    while used.contains(&candidate) {
        candidate = format!("{alias}~{n}");
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// The Java trust store layer from the ca-certificates .deb: only [`CACERTS_PATH`] (0644,
/// root) and its parent directories. Aliases are `debian:<file name>` lowercased, as
/// ca-certificates-java names them, with `-1`, `-2`, … when a file holds several
/// certificates. The entries' creation time is `mtime`, so the store is deterministic.
pub fn java_cacerts_layer(
    package: &str,
    deb: impl Read,
    scratch_dir: Option<PathBuf>,
    mtime: u64,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<LayerOutput, DebError> {
    let io = |source| DebError::Io { package: package.to_string(), source };
    let bad =
        |path: &str, reason: String| DebError::BadEntry { package: package.to_string(), path: path.into(), reason };
    let opts = TreeOptions { usr_merge: false, status_d: false, scratch_dir };
    let mut tree = PackageTree::read(package, deb, &opts)?;
    let mut certs = Vec::new();
    let mut used = BTreeSet::new();
    // Entries are sorted by path, which is the store's order.
    for e in &tree.entries {
        if !(matches!(e.kind, TreeKind::File { .. }) && e.path.starts_with(PREFIX) && e.path.ends_with(".crt")) {
            continue;
        }
        let mut pem = Vec::new();
        tree.open(e).take(CERT_LIMIT + 1).read_to_end(&mut pem).map_err(io)?;
        if pem.len() as u64 > CERT_LIMIT {
            return Err(bad(&e.path, "certificate larger than 1 MiB".into()));
        }
        let ders = pem_certificates(&pem).map_err(|reason| bad(&e.path, format!("malformed PEM: {reason}")))?;
        let base = e.path.rsplit('/').next().unwrap_or(&e.path);
        let several = ders.len() > 1;
        for (i, der) in ders.into_iter().enumerate() {
            let alias = if several { format!("debian:{base}-{}", i + 1) } else { format!("debian:{base}") };
            certs.push((unique_alias(&mut used, alias.to_lowercase()), der));
        }
    }
    if certs.is_empty() {
        return Err(bad(PREFIX, "no *.crt files: is this the ca-certificates package?".into()));
    }
    let store = java_keystore(&certs, DEFAULT_PASSWORD, mtime.saturating_mul(1000));
    tree.retain_and_add(&[], &[(CACERTS_PATH.to_string(), store)])?;
    tree_to_layer(package, &tree, mtime, compression, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_utf_matches_java_modified_utf8() {
        let mut out = Vec::new();
        write_utf(&mut out, "a\0é€😀");
        // 'a'; NUL as C0 80; é (2 bytes); € (3 bytes); 😀 as two 3-byte surrogates.
        let want: &[u8] = &[0, 14, b'a', 0xC0, 0x80, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80];
        assert_eq!(out, want);
    }

    #[test]
    fn pem_errors_are_reasons_not_panics() {
        assert!(pem_certificates(b"hello").is_err());
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nMAA=\n").is_err());
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").is_err());
        // Valid base64 of bytes that are not one DER SEQUENCE.
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nMAIA\n-----END CERTIFICATE-----\n").is_err());
        let ok = pem_certificates(b"x\n-----BEGIN CERTIFICATE-----\nMA\nA=\n-----END CERTIFICATE-----\n").unwrap();
        assert_eq!(ok, vec![vec![0x30, 0x00]]);
    }
}
