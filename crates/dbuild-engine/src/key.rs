//! Action keys: the blake3 digest that names an action's result in the cache.
//!
//! Key material, each item framed with its length so no two different actions can produce the
//! same byte stream: a domain tag, the mnemonic, the implementation version, the canonical
//! arguments (`serde_json` of the [`ActionKind`](dbuild_core::ActionKind), whose field order is
//! fixed by the type), every input sorted by (root, path) with its content digest and
//! executable bit, and every output path with its file/directory shape in declared order (the
//! first output is the main one, so order is meaningful).
//!
//! A Debian fetch is the exception: its result is fully determined by the pinned sha256 (and
//! size), so its key is the mnemonic, the version, those two and the output path only. The
//! archive name, suite, version string and Release time only say *where* to look, and a
//! changed mirror or a re-locked suite that pins the same file must not refetch it.

use dbuild_core::{Action, ActionKind, Artifact, ArtifactRoot, Digest};

/// What an input contributes to a key.
#[derive(Clone, Debug)]
pub struct InputDigest<'a> {
    pub artifact: &'a Artifact,
    pub digest: Digest,
    pub executable: bool,
}

struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    fn bytes(&mut self, b: &[u8]) {
        self.0.update(&(b.len() as u64).to_le_bytes());
        self.0.update(b);
    }
    fn u64(&mut self, v: u64) {
        self.0.update(&v.to_le_bytes());
    }
}

pub fn action_key(action: &Action, inputs: &[InputDigest<'_>]) -> Digest {
    if let ActionKind::DebFetch(spec) = &action.kind {
        let mut h = KeyHasher(blake3::Hasher::new());
        h.bytes(b"dbuild deb fetch key v1");
        h.bytes(action.kind.mnemonic().as_bytes());
        h.u64(u64::from(action.kind.version()));
        h.0.update(&spec.pin.sha256.0);
        h.u64(spec.pin.size);
        h.u64(action.outputs.len() as u64);
        for o in &action.outputs {
            h.bytes(o.path.as_bytes());
            h.u64(u64::from(o.directory));
        }
        return Digest(*h.0.finalize().as_bytes());
    }
    let mut h = KeyHasher(blake3::Hasher::new());
    h.bytes(b"dbuild action key v1");
    h.bytes(action.kind.mnemonic().as_bytes());
    h.u64(u64::from(action.kind.version()));
    // Serializing plain data to a Vec cannot fail; an empty fallback would still be keyed by
    // everything else, and identical failures give identical keys.
    h.bytes(&serde_json::to_vec(&action.kind).unwrap_or_default());

    let mut sorted: Vec<&InputDigest<'_>> = inputs.iter().collect();
    sorted.sort_by(|a, b| (a.artifact.root, &a.artifact.path).cmp(&(b.artifact.root, &b.artifact.path)));
    h.u64(sorted.len() as u64);
    for i in sorted {
        h.u64(match i.artifact.root {
            ArtifactRoot::Source => 0,
            ArtifactRoot::Derived => 1,
        });
        h.bytes(i.artifact.path.as_bytes());
        h.u64(u64::from(i.artifact.directory));
        h.0.update(&i.digest.0);
        h.u64(u64::from(i.executable));
    }

    h.u64(action.outputs.len() as u64);
    for o in &action.outputs {
        h.bytes(o.path.as_bytes());
        h.u64(u64::from(o.directory));
    }
    Digest(*h.0.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbuild_core::Label;

    fn write(content: &str, out: &str) -> Action {
        Action {
            owner: Label::parse_absolute("//p:t").unwrap(),
            kind: ActionKind::Write { content: content.into(), executable: false },
            inputs: vec![],
            outputs: vec![Artifact::derived(out)],
        }
    }

    #[test]
    fn keys_depend_on_args_outputs_and_inputs() {
        let a = write("x", "p/a");
        assert_eq!(action_key(&a, &[]), action_key(&a.clone(), &[]));
        assert_ne!(action_key(&a, &[]), action_key(&write("y", "p/a"), &[]));
        assert_ne!(action_key(&a, &[]), action_key(&write("x", "p/b"), &[]));
        let src = Artifact::source("p/s");
        let i1 = InputDigest { artifact: &src, digest: Digest::of_bytes(b"1"), executable: false };
        let i2 = InputDigest { artifact: &src, digest: Digest::of_bytes(b"2"), executable: false };
        assert_ne!(action_key(&a, std::slice::from_ref(&i1)), action_key(&a, &[i2]));
        let i3 = InputDigest { executable: true, ..i1.clone() };
        assert_ne!(action_key(&a, &[i1]), action_key(&a, &[i3]));
    }
}

#[cfg(test)]
mod deb_tests {
    use super::*;
    use dbuild_core::{DebFetchSpec, DebPin, Label, Sha256};

    fn fetch(pin: DebPin, out: &str) -> Action {
        Action {
            owner: Label::parse_absolute("//p:t").unwrap(),
            kind: ActionKind::DebFetch(DebFetchSpec { pin, output: Artifact::derived(out) }),
            inputs: vec![],
            outputs: vec![Artifact::derived(out)],
        }
    }

    fn pin() -> DebPin {
        DebPin {
            archive: "debian13".into(),
            name: "libc6".into(),
            arch: "amd64".into(),
            version: "2.41-7".into(),
            filename: "pool/main/g/glibc/libc6_2.41-7_amd64.deb".into(),
            size: 3,
            sha256: Sha256::of_bytes(b"abc"),
            suite: "trixie".into(),
            release_time: 1,
        }
    }

    #[test]
    fn fetch_keys_are_the_pinned_digest_and_path_alone() {
        let k = action_key(&fetch(pin(), "x/libc6.deb"), &[]);
        let moved = DebPin {
            archive: "other".into(),
            suite: "trixie-updates".into(),
            version: "9".into(),
            release_time: 99,
            filename: "pool/x.deb".into(),
            ..pin()
        };
        assert_eq!(k, action_key(&fetch(moved, "x/libc6.deb"), &[]));
        assert_ne!(k, action_key(&fetch(DebPin { sha256: Sha256::of_bytes(b"abd"), ..pin() }, "x/libc6.deb"), &[]));
        assert_ne!(k, action_key(&fetch(DebPin { size: 4, ..pin() }, "x/libc6.deb"), &[]));
        assert_ne!(k, action_key(&fetch(pin(), "y/libc6.deb"), &[]));
    }
}
