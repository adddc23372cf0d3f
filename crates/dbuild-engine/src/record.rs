//! What the cache remembers about one action: for each declared output, the blobs that hold it.
//!
//! The same value is stored in `ac/` files and in the workspace index. A file output is one
//! blob plus its executable bit (the only mode bit an output has). A directory output is a tree:
//! a sorted list of (relative path, blob, executable); an OCI layout is one, a toolchain root
//! another. A tree entry may also be a symbolic link (roots are full of them: `bin -> usr/bin`,
//! alternatives): it records the link's target, and its blob holds the target's bytes, so every
//! entry still names a blob that is stored, verified and shared like any other. A tree entry may
//! name a blob the action did not write itself (a layer it placed "by reference", see
//! `execute.rs`): the record cannot tell, and need not.
//!
//! A file output that is a tar layer also records its `diff_id` (sha256 of the uncompressed
//! tar), computed while the layer was written, so image actions never decompress a layer to
//! learn it. Version 1 records had no diff_id, version 2 entries no checksum; older records are
//! ignored rather than upgraded.

use dbuild_action::Action;
use dbuild_core::{BlobId, Digest, Sha256};
use serde::{Deserialize, Serialize};

/// Bump when the meaning of a stored record changes; older `ac/` entries are then ignored.
pub const RECORD_VERSION: u32 = 3;

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FileRecord {
    pub blob: BlobId,
    pub executable: bool,
    /// For a layer: the sha256 of its uncompressed tar. Not part of any action key (it is a
    /// function of the blob's bytes), only a saved computation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Sha256>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TreeEntry {
    /// Relative to the directory output, `/`-separated, sorted.
    pub path: String,
    pub blob: BlobId,
    pub executable: bool,
    /// For a symbolic link: its target, exactly as written (never followed). `blob` then holds
    /// the target's bytes and `executable` is false. Absent for a regular file, so the listing
    /// (and the digest) of a tree without links is what it was before links existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputContent {
    File(FileRecord),
    Tree(Vec<TreeEntry>),
}

/// Two records are equal when they say the same about the output: the digest is a function
/// of the entries, present or not (a rerun's record has it, one written before it existed does
/// not, and a rerun that reproduced the bytes must compare equal to it).
#[derive(Clone, Eq, Debug, Serialize, Deserialize)]
pub struct OutputRecord {
    /// The artifact path (relative to `dbuild-out/`).
    pub path: String,
    pub content: OutputContent,
    /// For a tree: [`tree_digest`] of its entries, computed once when the tree was recorded.
    /// A toolchain root lists tens of thousands of files, and hashing that listing again in
    /// every build was most of a no-op's time. It lives inside the record, so the record's own
    /// checksum (`ac/`) or the index's covers it. Records written before it existed lack it;
    /// the store fills it in when it reads them ([`ActionResult::with_tree_digests`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_digest: Option<Digest>,
}

impl PartialEq for OutputRecord {
    fn eq(&self, other: &OutputRecord) -> bool {
        self.path == other.path && self.content == other.content
    }
}

/// The digest of a tree output: the hash of its canonical listing (the entries as JSON).
pub fn tree_digest(entries: &[TreeEntry]) -> Digest {
    // Streamed into the hash: a toolchain root's listing is megabytes of JSON.
    let mut hasher = blake3::Hasher::new();
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        // Writing into a hasher cannot fail, nor can serializing these plain types.
        let _ = serde_json::to_writer(&mut w, entries);
        let _ = std::io::Write::flush(&mut w);
    }
    Digest(*hasher.finalize().as_bytes())
}

impl OutputRecord {
    pub fn file(path: String, file: FileRecord) -> OutputRecord {
        OutputRecord { path, content: OutputContent::File(file), tree_digest: None }
    }

    /// A tree output, with its digest computed now so no later build computes it again.
    pub fn tree(path: String, entries: Vec<TreeEntry>) -> OutputRecord {
        let digest = tree_digest(&entries);
        OutputRecord { path, content: OutputContent::Tree(entries), tree_digest: Some(digest) }
    }

    /// The digest a consumer's action key uses for this output: the blob for a file, a hash of
    /// the canonical tree listing for a directory.
    pub fn digest(&self) -> Digest {
        match &self.content {
            OutputContent::File(f) => f.blob.blake3,
            OutputContent::Tree(entries) => self.tree_digest.unwrap_or_else(|| tree_digest(entries)),
        }
    }

    pub fn executable(&self) -> bool {
        matches!(&self.content, OutputContent::File(f) if f.executable)
    }

    pub fn as_file(&self) -> Option<&FileRecord> {
        match &self.content {
            OutputContent::File(f) => Some(f),
            OutputContent::Tree(_) => None,
        }
    }
}

/// The recorded result of one successful action.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ActionResult {
    pub outputs: Vec<OutputRecord>,
}

impl ActionResult {
    /// This result with every tree's digest at hand, computed once for a record written
    /// before trees carried it, so no later use hashes the listing again.
    pub fn with_tree_digests(mut self) -> ActionResult {
        for o in &mut self.outputs {
            if let (OutputContent::Tree(entries), None) = (&o.content, o.tree_digest) {
                o.tree_digest = Some(tree_digest(entries));
            }
        }
        self
    }

    /// Every blob the result names, tree entries included.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.outputs.iter().flat_map(|o| -> Box<dyn Iterator<Item = &BlobId> + '_> {
            match &o.content {
                OutputContent::File(f) => Box::new(std::iter::once(&f.blob)),
                OutputContent::Tree(entries) => Box::new(entries.iter().map(|e| &e.blob)),
            }
        })
    }

    /// Whether this record can stand for `action`'s outputs: the same paths, in order, with the
    /// same file/directory shape. Guards against damaged or foreign records.
    pub fn matches(&self, action: &Action) -> bool {
        self.outputs.len() == action.outputs.len()
            && self.outputs.iter().zip(&action.outputs).all(|(r, a)| {
                r.path == a.path
                    && matches!(
                        (&r.content, a.directory),
                        (OutputContent::File(_), false) | (OutputContent::Tree(_), true)
                    )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of every cached action that used a tree rest on this: streaming the listing into
    /// the hash must give exactly the digest of the listing's bytes.
    #[test]
    fn a_tree_digest_is_the_hash_of_its_canonical_listing() {
        let blob = |b: &[u8]| BlobId { blake3: Digest::of_bytes(b), sha256: Sha256::of_bytes(b), size: b.len() as u64 };
        let entries: Vec<TreeEntry> = (0..5000)
            .map(|i| TreeEntry {
                path: format!("usr/lib/x{i:05}"),
                blob: blob(format!("{i}").as_bytes()),
                executable: i % 3 == 0,
                symlink: (i % 7 == 0).then(|| format!("../t{i}")),
            })
            .collect();
        let rec = OutputRecord::tree("p/root".into(), entries.clone());
        assert_eq!(rec.digest(), Digest::of_bytes(&serde_json::to_vec(&entries).unwrap()));
        let mut other = entries;
        other[4999].executable = !other[4999].executable;
        let changed = OutputRecord::tree("p/root".into(), other);
        assert_ne!(rec.digest(), changed.digest());
        // A record written before trees carried their digest is hashed when used, to the same.
        let old = OutputRecord { tree_digest: None, ..rec.clone() };
        assert_eq!(old.digest(), rec.digest());
        // ...and a rerun that reproduced its bytes is the same result (regenerate compares).
        assert_eq!(old, rec);
        assert_ne!(OutputRecord { tree_digest: None, ..changed.clone() }, rec);
        // The digest travels with the record through `ac/`.
        let json = serde_json::to_vec(&rec).unwrap();
        assert_eq!(serde_json::from_slice::<OutputRecord>(&json).unwrap(), rec);
    }
}
