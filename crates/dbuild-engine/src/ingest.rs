//! Turning a directory output into a tree record: the files the executor wrote are moved into
//! the store (hashed, they are new), and its by-reference entries (see `execute.rs`) are added
//! with the blob ids the store already has, without reading them. A symbolic link is recorded
//! as a link (its target, never followed), with the target's bytes as its blob.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use dbuild_core::{BlobId, Digest};

use crate::error::{EngineError, Result};
use crate::record::TreeEntry;
use crate::store::Store;

/// The tree entries of the directory output `art_path` written to `dir`, sorted by path.
/// `input_blobs` are the blobs of the action's (verified) inputs, the only ones a by-reference
/// entry may name, so a recorded tree never points at a blob the store lacks.
pub fn ingest_tree(
    store: &Store,
    dir: &Path,
    art_path: &str,
    by_reference: &[(String, BlobId)],
    input_blobs: &HashMap<Digest, BlobId>,
) -> Result<Vec<TreeEntry>> {
    let mut files = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(EngineError::io("read the directory", &d))? {
            let entry = entry.map_err(EngineError::io("read the directory", &d))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let meta = fs::symlink_metadata(entry.path()).map_err(EngineError::io("read", entry.path()))?;
            if meta.is_dir() {
                stack.push((entry.path(), rel));
            } else if meta.is_file() {
                files.push((rel, entry.path(), meta.mode() & 0o111 != 0));
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(entry.path()).map_err(EngineError::io("read the link", entry.path()))?;
                let target = target.into_os_string().into_string().map_err(|_| EngineError::OutputKind {
                    path: format!("{art_path}/{rel}"),
                    reason: "a symbolic link's target must be UTF-8",
                })?;
                if target.is_empty() || target.contains('\0') {
                    return Err(EngineError::OutputKind {
                        path: format!("{art_path}/{rel}"),
                        reason: "a symbolic link's target must not be empty",
                    });
                }
                links.push((rel, target));
            } else {
                return Err(EngineError::OutputKind {
                    path: format!("{art_path}/{rel}"),
                    reason: "directory outputs may hold only files, directories and symbolic links",
                });
            }
        }
    }
    // Check the references before ingesting anything, so a refused tree leaves no blobs.
    let bad = |entry: &str, reason| EngineError::BadReference {
        path: art_path.to_string(),
        entry: entry.to_string(),
        reason,
    };
    for (path, blob) in by_reference {
        if crate::graph::bad_path(path).is_some() {
            return Err(bad(path, "the path is not a normalized relative path"));
        }
        if input_blobs.get(&blob.blake3) != Some(blob) {
            return Err(bad(path, "its blob is not one of the action's inputs"));
        }
    }
    let all = files
        .iter()
        .map(|f| f.0.as_str())
        .chain(links.iter().map(|l| l.0.as_str()))
        .chain(by_reference.iter().map(|r| r.0.as_str()));
    if let Err((p, reason)) = check_tree_paths(all) {
        return Err(bad(p, reason));
    }

    let mut entries = Vec::with_capacity(files.len() + links.len() + by_reference.len());
    for (path, full, executable) in files {
        entries.push(TreeEntry { path, blob: store.ingest(&full, None)?, executable, symlink: None });
    }
    for (path, target) in links {
        let blob = store.ingest_bytes(target.as_bytes())?;
        entries.push(TreeEntry { path, blob, executable: false, symlink: Some(target) });
    }
    entries.extend(by_reference.iter().map(|(path, blob)| TreeEntry {
        path: path.clone(),
        blob: *blob,
        executable: false,
        symlink: None,
    }));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Every path of a tree must be unique and none may sit below another (a file or link cannot
/// be a directory too). The offending path and why, for the first that is not.
pub fn check_tree_paths<'p>(all: impl Iterator<Item = &'p str>) -> std::result::Result<(), (&'p str, &'static str)> {
    let mut paths: HashSet<&str> = HashSet::new();
    for p in all {
        if !paths.insert(p) {
            return Err((p, "another entry of the directory already uses that path"));
        }
    }
    for &p in &paths {
        let mut cur = p;
        while let Some((parent, _)) = cur.rsplit_once('/') {
            if paths.contains(parent) {
                return Err((p, "a parent directory of it is a file or link of the directory"));
            }
            cur = parent;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbuild_core::DualHasher;

    #[test]
    fn references_must_name_inputs_and_not_collide() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("cache")).unwrap();
        let input = DualHasher::of_reader(&b"layer bytes"[..]).unwrap();
        let other = DualHasher::of_reader(&b"something else"[..]).unwrap();
        let inputs = HashMap::from([(input.blake3, input)]);
        let out = tmp.path().join("out");
        fs::create_dir_all(out.join("blobs")).unwrap();
        fs::write(out.join("index.json"), b"{}").unwrap();

        let ok = ingest_tree(&store, &out, "p/l", &[("blobs/x".into(), input)], &inputs).unwrap();
        assert_eq!(ok.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["blobs/x", "index.json"]);
        assert_eq!(ok[0].blob, input);

        fs::write(out.join("index.json"), b"{}").unwrap();
        let err = |refs: &[(String, BlobId)]| ingest_tree(&store, &out, "p/l", refs, &inputs).unwrap_err().to_string();
        assert!(err(&[("blobs/x".into(), other)]).contains("not one of the action's inputs"));
        assert!(err(&[("index.json".into(), input)]).contains("already uses that path"));
        assert!(err(&[("index.json/x".into(), input)]).contains("parent directory"));
        assert!(err(&[("../x".into(), input)]).contains("not a normalized"));
        assert!(out.join("index.json").exists(), "a refused tree ingests nothing");
    }
}
