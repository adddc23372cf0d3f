//! The files actions read and write ([`Artifact`]), how layers are compressed, and the settings
//! the CLI fixes once per build. What an action *is* lives in dbuild-action; what each kind of
//! action means lives in its domain crate.

use serde::{Deserialize, Serialize};

/// Whether an artifact is a file of the workspace or an output of an action.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactRoot {
    Source,
    Derived,
}

/// A file that actions read or write.
///
/// `path` is workspace-relative (`pkg/sub/file.txt`). A derived artifact is materialized at
/// `dbuild-out/<path>`; its path starts with the declaring target's package, as Bazel's
/// `declare_file` does. A `directory` artifact is a tree of files produced as one output.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Artifact {
    pub root: ArtifactRoot,
    pub path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub directory: bool,
}

impl Artifact {
    pub fn source(path: impl Into<String>) -> Artifact {
        Artifact { root: ArtifactRoot::Source, path: path.into(), directory: false }
    }

    pub fn derived(path: impl Into<String>) -> Artifact {
        Artifact { root: ArtifactRoot::Derived, path: path.into(), directory: false }
    }

    pub fn derived_dir(path: impl Into<String>) -> Artifact {
        Artifact { root: ArtifactRoot::Derived, path: path.into(), directory: true }
    }

    /// Where the artifact lives relative to the workspace root.
    pub fn workspace_path(&self) -> String {
        match self.root {
            ArtifactRoot::Source => self.path.clone(),
            ArtifactRoot::Derived => format!("dbuild-out/{}", self.path),
        }
    }

    /// The last path component.
    pub fn basename(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// How a layer is compressed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// The compression a rule names (`compression = "zstd"`); the error is the sentence to show.
    pub fn from_name(name: &str) -> Result<Compression, String> {
        match name {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            other => Err(format!("compression must be \"gzip\", \"zstd\" or \"none\", got {other:?}")),
        }
    }

    /// The OCI layer media type for this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// Settings fixed once per invocation by the CLI and passed into analysis, so they become
/// arguments (and so key material) of the actions that use them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildSettings {
    /// SOURCE_DATE_EPOCH, or 0.
    pub source_date_epoch: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths() {
        assert_eq!(Artifact::derived("a/b.tar").workspace_path(), "dbuild-out/a/b.tar");
        assert_eq!(Artifact::source("a/b.txt").workspace_path(), "a/b.txt");
        assert_eq!(Artifact::source("a/b.txt").basename(), "b.txt");
    }

    #[test]
    fn compression_names() {
        assert_eq!(Compression::from_name("zstd"), Ok(Compression::Zstd));
        assert_eq!(
            Compression::from_name("lz4").unwrap_err(),
            r#"compression must be "gzip", "zstd" or "none", got "lz4""#
        );
    }
}
