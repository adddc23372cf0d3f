//! Small helpers executors share for writing outputs the way the store expects them.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::action::Action;
use crate::executor::ActionError;

/// Creates (truncates) the output file at `path`.
pub fn create_output(path: &Path) -> Result<File, ActionError> {
    File::create(path).map_err(ActionError::io("create", path))
}

/// Sets an output's mode: 0755 if executable, else 0644, whatever the umask.
pub fn set_mode(path: &Path, executable: bool) -> Result<(), ActionError> {
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(ActionError::io("set permissions of", path))
}

/// Checks that the action's main output is a file; `what` says why it must be one.
pub fn expect_file_output(action: &Action, what: &'static str) -> Result<(), ActionError> {
    match action.outputs.first() {
        Some(o) if o.directory => Err(ActionError::OutputKind { path: o.path.clone(), reason: what }),
        _ => Ok(()),
    }
}
