//! Loading an image layout into the local container runtime (`dbuild load`).
//!
//! Docker is used only when its daemon answers (`docker info` succeeds): a `docker` client
//! without a daemon is common. Otherwise the image goes into podman's store. skopeo does the
//! copying for both (`docker-daemon:` / `containers-storage:`); without skopeo, the layout is
//! packed as an OCI archive for `docker load` / `podman load` and then tagged. From an index,
//! skopeo and the runtimes pick the host's platform. Nothing is printed; failures carry the
//! tool's stderr.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::descriptor::ANNOTATION_REF_NAME;
use crate::layout::LAYOUT_TAG;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Podman,
    Docker,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
        })
    }
}

/// Where the image went and under which name (`name:tag`, as given, `:latest` added if absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedInto {
    pub runtime: Runtime,
    pub name: String,
}

/// The programs used, by name or path (tests substitute their own).
#[derive(Clone, Debug)]
pub struct Tools {
    pub docker: OsString,
    pub podman: OsString,
    pub skopeo: OsString,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools { docker: "docker".into(), podman: "podman".into(), skopeo: "skopeo".into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid image name {0:?}: expected NAME or NAME:TAG without spaces or a digest")]
    BadName(String),
    #[error("the layout directory {0} cannot be named in a transport reference (it contains ':')")]
    BadLayoutPath(PathBuf),
    #[error("cannot resolve the layout path {path}")]
    LayoutPath { path: PathBuf, source: io::Error },
    #[error("{0} is not an OCI image layout (no index.json)")]
    NotALayout(PathBuf),
    #[error("neither a docker daemon nor podman is available (podman: {0})")]
    NoRuntime(#[source] io::Error),
    #[error("cannot run {tool}")]
    Spawn { tool: String, source: io::Error },
    #[error("`{command}` failed ({status}): {stderr}")]
    ToolFailed { command: String, status: String, stderr: String },
    #[error("cannot pack the layout for {tool} load")]
    Pack { tool: String, source: io::Error },
    #[error("`{command}` did not say which image it loaded: {stdout}")]
    UnknownLoadedImage { command: String, stdout: String },
}

/// Loads the layout at `layout_dir` (its `latest` tag) into docker or podman as `name_tag`.
pub fn load_into_runtime(layout_dir: &Path, name_tag: &str) -> Result<LoadedInto, LoadError> {
    load_with(&Tools::default(), layout_dir, name_tag)
}

/// [`load_into_runtime`] with explicit tools.
pub fn load_with(tools: &Tools, layout_dir: &Path, name_tag: &str) -> Result<LoadedInto, LoadError> {
    let name = normalize_name(name_tag)?;
    if !layout_dir.join("index.json").is_file() {
        return Err(LoadError::NotALayout(layout_dir.to_path_buf()));
    }
    let dir = std::path::absolute(layout_dir)
        .map_err(|source| LoadError::LayoutPath { path: layout_dir.to_path_buf(), source })?;
    let dir_str = dir.to_str().filter(|s| !s.contains(':')).ok_or_else(|| LoadError::BadLayoutPath(dir.clone()))?;
    let source = format!("oci:{dir_str}:{LAYOUT_TAG}");

    let docker_up = Command::new(&tools.docker)
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (runtime, runtime_tool, dest) = if docker_up {
        (Runtime::Docker, &tools.docker, format!("docker-daemon:{name}"))
    } else {
        (Runtime::Podman, &tools.podman, format!("containers-storage:{name}"))
    };

    let mut copy = Command::new(&tools.skopeo);
    copy.args(["copy", "--quiet", &source, &dest]);
    match run(&mut copy, None) {
        Ok(_) => return Ok(LoadedInto { runtime, name }),
        Err(LoadError::Spawn { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }

    // No skopeo: `<runtime> load` of an OCI archive, then tag what it loaded.
    let archive = pack_layout(&dir, &name).map_err(|source| LoadError::Pack { tool: runtime.to_string(), source })?;
    let mut load = Command::new(runtime_tool);
    load.arg("load");
    let out = match run(&mut load, Some(archive)) {
        Err(LoadError::Spawn { source, .. })
            if runtime == Runtime::Podman && source.kind() == io::ErrorKind::NotFound =>
        {
            return Err(LoadError::NoRuntime(source))
        }
        other => other?,
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let loaded = stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Loaded image ID: ")
                .or_else(|| l.strip_prefix("Loaded image(s): "))
                .or_else(|| l.strip_prefix("Loaded image: "))
        })
        .map(|s| s.split(',').next().unwrap_or(s).trim().to_string())
        .next()
        .ok_or_else(|| LoadError::UnknownLoadedImage { command: describe(&load), stdout: stdout.clone() })?;
    let mut tag = Command::new(runtime_tool);
    tag.args(["tag", &loaded, &name]);
    run(&mut tag, None)?;
    Ok(LoadedInto { runtime, name })
}

/// Adds `:latest` when no tag is given; refuses digests and whitespace.
fn normalize_name(name_tag: &str) -> Result<String, LoadError> {
    let bad = || LoadError::BadName(name_tag.to_string());
    if name_tag.is_empty() || name_tag.contains('@') || name_tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let last = name_tag.rsplit('/').next().unwrap_or(name_tag);
    if last.is_empty() || last.starts_with(':') || last.ends_with(':') {
        return Err(bad());
    }
    Ok(if last.contains(':') { name_tag.to_string() } else { format!("{name_tag}:latest") })
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with `stdin` (or nothing) as its input, and fails with its stderr unless it succeeds.
fn run(cmd: &mut Command, stdin: Option<File>) -> Result<Output, LoadError> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(stdin.map_or_else(Stdio::null, Stdio::from)).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = cmd.output().map_err(|source| LoadError::Spawn { tool, source })?;
    check(cmd, out)
}

fn check(cmd: &Command, out: Output) -> Result<Output, LoadError> {
    if out.status.success() {
        return Ok(out);
    }
    Err(LoadError::ToolFailed {
        command: describe(cmd),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// An uncompressed tar of the layout directory (an OCI archive) in an anonymous temporary
/// file, so that memory does not grow with the image. Its `index.json` names the image `name`
/// (podman and docker name what they load after these annotations; with the layout's plain
/// `latest` podman would call it `localhost/latest`).
fn pack_layout(dir: &Path, name: &str) -> io::Result<File> {
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", index_path.display())))?;
    if let Some(top) = index.get_mut("manifests").and_then(|m| m.get_mut(0)).and_then(|m| m.as_object_mut()) {
        let annotations = top.entry("annotations").or_insert_with(|| serde_json::json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(ANNOTATION_REF_NAME.into(), name.into());
            a.insert("io.containerd.image.name".into(), name.into());
        }
    }
    let index_bytes = serde_json::to_vec(&index).map_err(io::Error::other)?;

    let mut b = tar::Builder::new(tempfile::tempfile()?);
    b.follow_symlinks(true);
    b.append_path_with_name(dir.join("oci-layout"), "oci-layout")?;
    b.append_dir_all("blobs", dir.join("blobs"))?;
    let mut h = tar::Header::new_ustar();
    h.set_size(index_bytes.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "index.json", &index_bytes[..])?;
    let mut f = b.into_inner()?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("dbuild/static").unwrap(), "dbuild/static:latest");
        assert_eq!(normalize_name("localhost:5000/x").unwrap(), "localhost:5000/x:latest");
        assert_eq!(normalize_name("x:v1").unwrap(), "x:v1");
        for bad in ["", "x:", "a b", "x@sha256:00", "x/"] {
            assert!(normalize_name(bad).is_err(), "{bad}");
        }
    }
}
