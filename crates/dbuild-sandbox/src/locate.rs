//! Finding the `bwrap` program on PATH.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::SandboxError;

/// The `bwrap` program on this process's PATH.
pub fn find_bwrap() -> Result<PathBuf, SandboxError> {
    find_bwrap_in(env::var_os("PATH").as_deref())
}

/// The first executable file named `bwrap` in the directories of `path` (a PATH value); an
/// unset PATH has none. Empty entries, which a shell would read as the current directory, are
/// skipped.
pub fn find_bwrap_in(path: Option<&OsStr>) -> Result<PathBuf, SandboxError> {
    let path = path.ok_or(SandboxError::BwrapMissing)?;
    env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| {
            fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .ok_or(SandboxError::BwrapMissing)
}
