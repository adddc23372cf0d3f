//! Action keys: the blake3 digest that names an action's result in the cache.
//!
//! Key material, each item framed with its length so no two different actions can produce the
//! same byte stream: a domain tag, the mnemonic, the implementation version, the canonical
//! arguments (the action's JSON `args`, whose field order is fixed by its spec type, or the
//! narrower bytes its executor names instead: a Debian fetch is keyed by its pinned sha256 and
//! size alone), every input sorted by (root, path) with its content digest and executable bit,
//! and every output path with its file/directory shape in declared order (the first output is
//! the main one, so order is meaningful).

use dbuild_action::Action;
use dbuild_core::{Artifact, ArtifactRoot, Digest};

/// What an input contributes to a key.
#[derive(Clone, Debug)]
pub struct InputDigest<'a> {
    pub artifact: &'a Artifact,
    pub digest: Digest,
    pub executable: bool,
}

/// The key material, gathered into one buffer and hashed once: blake3 pays a fixed cost per
/// `update`, and an action's key is dozens of small items (a no-op over 20,000 actions spent
/// most of its key time there). The bytes, and so the keys, are the same as hashing each item.
struct KeyHasher(Vec<u8>);

impl KeyHasher {
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.0.extend_from_slice(b);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// `key_args`: what the executor says stands for the arguments, or `None` for `action.args`.
pub fn action_key(action: &Action, key_args: Option<&[u8]>, inputs: &[InputDigest<'_>]) -> Digest {
    let mut h = KeyHasher(Vec::with_capacity(256 + action.args.len() + 96 * inputs.len()));
    h.bytes(b"dbuild action key v2");
    h.bytes(action.mnemonic.as_bytes());
    h.u64(u64::from(action.version));
    match key_args {
        Some(k) => {
            h.u64(1);
            h.bytes(k);
        }
        None => {
            h.u64(0);
            h.bytes(action.args.as_bytes());
        }
    }

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
        h.0.extend_from_slice(&i.digest.0);
        h.u64(u64::from(i.executable));
    }

    h.u64(action.outputs.len() as u64);
    for o in &action.outputs {
        h.bytes(o.path.as_bytes());
        h.u64(u64::from(o.directory));
    }
    Digest(*blake3::hash(&h.0).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbuild_action::WriteSpec;
    use dbuild_core::Label;

    fn write(content: &str, out: &str) -> Action {
        let spec = WriteSpec { content: content.into(), executable: false };
        Action::new(Label::parse_absolute("//p:t").unwrap(), &spec, vec![], vec![Artifact::derived(out)])
    }

    #[test]
    fn keys_depend_on_args_outputs_and_inputs() {
        let a = write("x", "p/a");
        assert_eq!(action_key(&a, None, &[]), action_key(&a.clone(), None, &[]));
        assert_ne!(action_key(&a, None, &[]), action_key(&write("y", "p/a"), None, &[]));
        assert_ne!(action_key(&a, None, &[]), action_key(&write("x", "p/b"), None, &[]));
        let mut v2 = a.clone();
        v2.version = 2;
        assert_ne!(action_key(&a, None, &[]), action_key(&v2, None, &[]));
        let src = Artifact::source("p/s");
        let i1 = InputDigest { artifact: &src, digest: Digest::of_bytes(b"1"), executable: false };
        let i2 = InputDigest { artifact: &src, digest: Digest::of_bytes(b"2"), executable: false };
        assert_ne!(action_key(&a, None, std::slice::from_ref(&i1)), action_key(&a, None, &[i2]));
        let i3 = InputDigest { executable: true, ..i1.clone() };
        assert_ne!(action_key(&a, None, &[i1]), action_key(&a, None, &[i3]));
    }

    #[test]
    fn executor_key_args_replace_the_arguments() {
        let (a, b) = (write("x", "p/a"), write("y", "p/a"));
        // Different arguments, same narrower key material: the same key.
        assert_eq!(action_key(&a, Some(b"pin"), &[]), action_key(&b, Some(b"pin"), &[]));
        assert_ne!(action_key(&a, Some(b"pin"), &[]), action_key(&a, Some(b"other"), &[]));
        // Key material can never collide with arguments of the same bytes.
        let args = a.args.clone();
        assert_ne!(action_key(&a, Some(args.as_bytes()), &[]), action_key(&a, None, &[]));
        // The outputs still count.
        assert_ne!(action_key(&a, Some(b"pin"), &[]), action_key(&write("x", "p/b"), Some(b"pin"), &[]));
    }
}
