//! The index's on-disk encoding: a small binary format, because the index is read on every
//! build and JSON parsing (mostly hex digests) was a third of a no-op build's time.
//!
//! ```text
//! "dbuild-index\0" u32 format, u32 record format, str workspace
//! u32 n, n × source: str path, fingerprint, [32] blake3
//! u32 n, n × output: str path, fingerprint, [32] blake3, u8 executable
//! u32 n, n × action: [32] key, u32 m, m × (str path, u8 0 = file: blob, u8 exec, diff_id
//!                                                   | u8 1 = tree: u32 k, k × (str, blob, entry kind), [32] tree digest)
//! entry kind = u8 0 | u8 1 (executable) | u8 2, str (symlink target)
//! diff_id = u8 0 | u8 1, [32] sha256
//! [32] blake3 of everything above
//! str = u32 length + UTF-8; fingerprint = u64 size, i64 mtime ns, u64 ino, i64 ctime ns, u32 mode;
//! blob = [32] blake3, [32] sha256, u64 size. Integers little-endian.
//! ```
//!
//! The trailing checksum turns a torn or damaged file into "no index" instead of wrong data.

use foldhash::HashMap;

use dbuild_core::{BlobId, Digest, Sha256};

use crate::index::{OutputEntry, SourceEntry};
use crate::record::{ActionResult, FileRecord, OutputContent, OutputRecord, TreeEntry};
use dbuild_core::fingerprint::Fingerprint;

const MAGIC: &[u8] = b"dbuild-index\0";

#[derive(Default)]
pub struct IndexData {
    pub format: u32,
    pub record_format: u32,
    pub workspace: String,
    pub sources: HashMap<String, SourceEntry>,
    pub outputs: HashMap<String, OutputEntry>,
    pub actions: HashMap<Digest, ActionResult>,
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn fp(&mut self, f: &Fingerprint) {
        self.u64(f.size);
        self.u64(f.mtime_ns as u64);
        self.u64(f.ino);
        self.u64(f.ctime_ns as u64);
        self.u32(f.mode);
    }
    fn blob(&mut self, b: &BlobId) {
        self.0.extend_from_slice(&b.blake3.0);
        self.0.extend_from_slice(&b.sha256.0);
        self.u64(b.size);
    }
}

pub fn encode(d: &IndexData) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(64 + 128 * (d.sources.len() + d.outputs.len() + 2 * d.actions.len())));
    w.0.extend_from_slice(MAGIC);
    w.u32(d.format);
    w.u32(d.record_format);
    w.str(&d.workspace);
    w.u32(d.sources.len() as u32);
    for (path, e) in &d.sources {
        w.str(path);
        w.fp(&e.fp);
        w.0.extend_from_slice(&e.blake3.0);
    }
    w.u32(d.outputs.len() as u32);
    for (path, e) in &d.outputs {
        w.str(path);
        w.fp(&e.fp);
        w.0.extend_from_slice(&e.blake3.0);
        w.u8(u8::from(e.executable));
    }
    w.u32(d.actions.len() as u32);
    for (key, r) in &d.actions {
        w.0.extend_from_slice(&key.0);
        w.u32(r.outputs.len() as u32);
        for o in &r.outputs {
            w.str(&o.path);
            match &o.content {
                OutputContent::File(f) => {
                    w.u8(0);
                    w.blob(&f.blob);
                    w.u8(u8::from(f.executable));
                    match &f.diff_id {
                        None => w.u8(0),
                        Some(d) => {
                            w.u8(1);
                            w.0.extend_from_slice(&d.0);
                        }
                    }
                }
                OutputContent::Tree(entries) => {
                    w.u8(1);
                    w.u32(entries.len() as u32);
                    for e in entries {
                        w.str(&e.path);
                        w.blob(&e.blob);
                        match &e.symlink {
                            None => w.u8(u8::from(e.executable)),
                            Some(target) => {
                                w.u8(2);
                                w.str(target);
                            }
                        }
                    }
                    // Always present here, so a no-op never hashes a listing: computed now for
                    // a record written before trees carried their digest.
                    w.0.extend_from_slice(&o.digest().0);
                }
            }
        }
    }
    let sum = blake3::hash(&w.0);
    w.0.extend_from_slice(sum.as_bytes());
    w.0
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn d32(&mut self) -> Option<[u8; 32]> {
        self.take(32)?.try_into().ok()
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn fp(&mut self) -> Option<Fingerprint> {
        Some(Fingerprint {
            size: self.u64()?,
            mtime_ns: self.u64()? as i64,
            ino: self.u64()?,
            ctime_ns: self.u64()? as i64,
            mode: self.u32()?,
        })
    }
    fn blob(&mut self) -> Option<BlobId> {
        Some(BlobId { blake3: Digest(self.d32()?), sha256: Sha256(self.d32()?), size: self.u64()? })
    }
    /// A count, sanity-checked against the bytes left so a damaged length cannot make us
    /// allocate gigabytes.
    fn count(&mut self, min_item: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.saturating_mul(min_item) <= self.0.len()).then_some(n)
    }
}

/// Decodes an index; `None` for anything damaged, truncated or not an index.
pub fn decode(bytes: &[u8]) -> Option<IndexData> {
    let body_len = bytes.len().checked_sub(32)?;
    let (body, sum) = bytes.split_at(body_len);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut r = R(body);
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let mut d = IndexData { format: r.u32()?, record_format: r.u32()?, workspace: r.str()?, ..Default::default() };
    let n = r.count(4 + 36 + 32)?;
    d.sources.reserve(n);
    for _ in 0..n {
        d.sources.insert(r.str()?, SourceEntry { fp: r.fp()?, blake3: Digest(r.d32()?) });
    }
    let n = r.count(4 + 36 + 33)?;
    d.outputs.reserve(n);
    for _ in 0..n {
        d.outputs.insert(r.str()?, OutputEntry { fp: r.fp()?, blake3: Digest(r.d32()?), executable: r.bool()? });
    }
    let n = r.count(36)?;
    d.actions.reserve(n);
    for _ in 0..n {
        let key = Digest(r.d32()?);
        let m = r.count(5)?;
        let mut outputs = Vec::with_capacity(m);
        for _ in 0..m {
            let path = r.str()?;
            let record = match r.u8()? {
                0 => {
                    let (blob, executable) = (r.blob()?, r.bool()?);
                    let diff_id = if r.bool()? { Some(Sha256(r.d32()?)) } else { None };
                    OutputRecord::file(path, FileRecord { blob, executable, diff_id })
                }
                1 => {
                    let k = r.count(4 + 72 + 1)?;
                    let mut entries = Vec::with_capacity(k);
                    for _ in 0..k {
                        let (path, blob) = (r.str()?, r.blob()?);
                        let (executable, symlink) = match r.u8()? {
                            0 => (false, None),
                            1 => (true, None),
                            2 => (false, Some(r.str()?)),
                            _ => return None,
                        };
                        entries.push(TreeEntry { path, blob, executable, symlink });
                    }
                    let digest = Digest(r.d32()?);
                    OutputRecord { path, content: OutputContent::Tree(entries), tree_digest: Some(digest) }
                }
                _ => return None,
            };
            outputs.push(record);
        }
        d.actions.insert(key, ActionResult { outputs });
    }
    r.0.is_empty().then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbuild_core::DualHasher;

    #[test]
    fn round_trip_and_damage_is_rejected() {
        let fp = Fingerprint { size: 3, mtime_ns: -5, ino: 7, ctime_ns: 9, mode: 0o100644 };
        let blob = DualHasher::of_reader(&b"abc"[..]).unwrap();
        let mut d =
            IndexData { format: 2, record_format: 1, workspace: "/ws\0dbuild-out".into(), ..Default::default() };
        d.sources.insert("a/b".into(), SourceEntry { fp, blake3: blob.blake3 });
        d.outputs.insert("dbuild-out/x".into(), OutputEntry { fp, blake3: blob.blake3, executable: true });
        let result = ActionResult {
            outputs: vec![
                OutputRecord::file("x".into(), FileRecord { blob, executable: false, diff_id: None }),
                OutputRecord::file("l".into(), FileRecord { blob, executable: false, diff_id: Some(Sha256([7; 32])) }),
                OutputRecord::tree(
                    "t".into(),
                    vec![
                        TreeEntry { path: "f".into(), blob, executable: true, symlink: None },
                        TreeEntry { path: "l".into(), blob, executable: false, symlink: Some("../f".into()) },
                    ],
                ),
            ],
        };
        d.actions.insert(Digest::of_bytes(b"key"), result.clone());
        // A record from before trees carried their digest gets it on the way into the index.
        let mut old = result.clone();
        old.outputs[2].tree_digest = None;
        d.actions.insert(Digest::of_bytes(b"old"), old);
        let bytes = encode(&d);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.actions[&Digest::of_bytes(b"old")].outputs[2].tree_digest, result.outputs[2].tree_digest);
        assert_eq!((back.format, back.record_format, back.workspace.as_str()), (2, 1, "/ws\0dbuild-out"));
        assert_eq!(back.sources, d.sources);
        assert_eq!(back.outputs, d.outputs);
        assert_eq!(back.actions[&Digest::of_bytes(b"key")], result);
        assert_eq!(back.actions[&Digest::of_bytes(b"old")], result);

        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_none());
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(decode(&flipped).is_none());
        assert!(decode(b"{ not an index").is_none());
    }
}
