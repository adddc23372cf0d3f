//! dbuild's actions and results as REAPI v2 messages.

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use dbuild_core::Sha256;
use prost::Message;

use crate::{BlobDigest, NativeAction, RemoteFile, RemoteResult, RemoteSymlink};

/// The first argument of every dbuild `Command`: no worker can run it; it only names the action.
const NATIVE: &str = "dbuild-native-action";

/// The action-cache key of a dbuild action: the SHA-256 digest of an `Action` whose `Command`
/// names the native action (mnemonic, version), its blake3 action key (which covers the
/// canonical arguments and the digest of every input) and its output paths. The input root is
/// the empty directory: the key already stands for the inputs.
pub fn action_digest(action: &NativeAction<'_>) -> BlobDigest {
    let command = re::Command {
        arguments: vec![
            NATIVE.to_string(),
            format!("--mnemonic={}", action.mnemonic),
            format!("--version={}", action.version),
            format!("--key=blake3:{}", action.key.to_hex()),
        ],
        output_paths: action.outputs.iter().map(|o| o.path.clone()).collect(),
        // Which outputs are directories: the key already says, but a reader of the cache
        // should not have to know dbuild's actions to tell.
        environment_variables: action
            .outputs
            .iter()
            .filter(|o| o.directory)
            .map(|o| re::command::EnvironmentVariable { name: "DBUILD_OUTPUT_DIRECTORY".into(), value: o.path.clone() })
            .collect(),
        ..Default::default()
    };
    let action = re::Action {
        command_digest: Some(to_proto(&BlobDigest::of_bytes(&command.encode_to_vec()))),
        input_root_digest: Some(to_proto(&BlobDigest::of_bytes(&re::Directory::default().encode_to_vec()))),
        ..Default::default()
    };
    BlobDigest::of_bytes(&action.encode_to_vec())
}

/// A digest as REAPI messages carry it.
pub fn to_proto(d: &BlobDigest) -> re::Digest {
    re::Digest { hash: d.sha256.to_hex(), size_bytes: d.size as i64 }
}

/// A digest from a REAPI message, checked to be SHA-256 with a size.
pub fn from_proto(d: Option<&re::Digest>) -> Result<BlobDigest, String> {
    let d = d.ok_or("a digest is missing")?;
    if d.hash.len() != 64 || !d.hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("{:?} is not a SHA-256 digest", d.hash));
    }
    let sha256: Sha256 = d.hash.parse().map_err(|_| format!("{:?} is not a SHA-256 digest", d.hash))?;
    let size = u64::try_from(d.size_bytes).map_err(|_| format!("the size {} is negative", d.size_bytes))?;
    Ok(BlobDigest { sha256, size })
}

pub(crate) fn result_to_proto(r: &RemoteResult) -> re::ActionResult {
    re::ActionResult {
        output_files: r
            .files
            .iter()
            .map(|f| re::OutputFile {
                path: f.path.clone(),
                digest: Some(to_proto(&f.digest)),
                is_executable: f.executable,
                ..Default::default()
            })
            .collect(),
        output_symlinks: r
            .symlinks
            .iter()
            .map(|s| re::OutputSymlink { path: s.path.clone(), target: s.target.clone(), ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

/// Reads an `ActionResult` message into files and links. What dbuild never records (a failed
/// exit code, directory trees) is refused rather than half understood; paths are checked by
/// the caller, who knows the action's outputs. Links are read from the v2.0 fields too, which
/// other clients still write.
#[allow(deprecated)]
pub(crate) fn result_from_proto(r: &re::ActionResult) -> Result<RemoteResult, String> {
    if r.exit_code != 0 {
        return Err(format!("the recorded exit code is {}", r.exit_code));
    }
    if !r.output_directories.is_empty() {
        return Err("it lists output directories as trees, which dbuild never records".into());
    }
    let mut files = Vec::with_capacity(r.output_files.len());
    for f in &r.output_files {
        let digest = from_proto(f.digest.as_ref()).map_err(|e| format!("output {:?}: {e}", f.path))?;
        files.push(RemoteFile { path: f.path.clone(), digest, executable: f.is_executable });
    }
    let links = r.output_symlinks.iter().chain(&r.output_file_symlinks).chain(&r.output_directory_symlinks);
    let symlinks = links.map(|s| RemoteSymlink { path: s.path.clone(), target: s.target.clone() }).collect();
    Ok(RemoteResult { files, symlinks })
}

/// The bytes of an `ActionResult` message (what Bazel's HTTP protocol stores under `ac/`).
pub fn encode_action_result(r: &RemoteResult) -> Vec<u8> {
    result_to_proto(r).encode_to_vec()
}

/// Parses the bytes of an `ActionResult` message.
pub fn decode_action_result(bytes: &[u8]) -> Result<RemoteResult, String> {
    let proto = re::ActionResult::decode(bytes).map_err(|e| format!("not an ActionResult message: {e}"))?;
    result_from_proto(&proto)
}

#[cfg(test)]
mod tests {
    use dbuild_core::{Artifact, Digest};

    use super::*;

    fn result() -> RemoteResult {
        RemoteResult {
            files: vec![RemoteFile { path: "p/a".into(), digest: BlobDigest::of_bytes(b"a"), executable: true }],
            symlinks: vec![RemoteSymlink { path: "p/t/bin".into(), target: "usr/bin".into() }],
        }
    }

    #[test]
    fn results_round_trip_and_bad_ones_are_refused() {
        assert_eq!(decode_action_result(&encode_action_result(&result())).unwrap(), result());
        assert!(decode_action_result(b"\xff\xff\xff").is_err());
        let mut p = result_to_proto(&result());
        p.output_files[0].digest.as_mut().unwrap().hash = "ABC".into();
        assert!(result_from_proto(&p).unwrap_err().contains("not a SHA-256"));
        let mut p = result_to_proto(&result());
        p.output_files[0].digest.as_mut().unwrap().size_bytes = -1;
        assert!(result_from_proto(&p).unwrap_err().contains("negative"));
        let mut p = result_to_proto(&result());
        p.exit_code = 1;
        assert!(result_from_proto(&p).is_err());
    }

    #[test]
    fn action_digests_follow_every_part() {
        let (k, j) = (Digest::of_bytes(b"k"), Digest::of_bytes(b"j"));
        let (file, dir) = ([Artifact::derived("p/x")], [Artifact::derived_dir("p/x")]);
        let a = NativeAction { mnemonic: "Layer", version: 1, key: &k, outputs: &file };
        assert_eq!(action_digest(&a), action_digest(&NativeAction { ..a }));
        assert_ne!(action_digest(&a), action_digest(&NativeAction { version: 2, ..a }));
        assert_ne!(action_digest(&a), action_digest(&NativeAction { mnemonic: "Image", ..a }));
        assert_ne!(action_digest(&a), action_digest(&NativeAction { key: &j, ..a }));
        assert_ne!(action_digest(&a), action_digest(&NativeAction { outputs: &dir, ..a }));
    }
}
