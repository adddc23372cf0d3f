//! The program the container starts (`Entrypoint[0]`, else `Cmd[0]`) must exist and be
//! executable, found the way the runtime finds it: an absolute path as is, a relative one
//! with a `/` from `WorkingDir`, a bare name on the config's `PATH`.

use dbuild_core::fs_tree::{FsEntry, FsKind, ImageFs};
use serde_json::Value;

use crate::report::Finding;

/// The PATH runtimes use when the config sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn first_arg(list: &Value) -> Option<&str> {
    list.as_array()?.first()?.as_str()
}

fn executable(e: &FsEntry) -> bool {
    matches!(e.kind, FsKind::File { .. }) && e.mode & 0o111 != 0
}

/// Appends the findings about the config's entrypoint; `config` is the `config` object of
/// the image config and `path_var` the `PATH` of its `Env`, if set.
pub fn check_entrypoint(fs: &ImageFs, config: &Value, path_var: Option<&str>, findings: &mut Vec<Finding>) {
    let (what, program) = match (first_arg(&config["Entrypoint"]), first_arg(&config["Cmd"])) {
        (Some(p), _) => ("entrypoint", p),
        (None, Some(p)) => ("command", p),
        (None, None) => return,
    };
    if program.is_empty() {
        findings.push(Finding::error(None, format!("the {what} is an empty string")));
        return;
    }
    let candidates: Vec<String> = if program.starts_with('/') {
        vec![program.to_string()]
    } else if program.contains('/') {
        let workdir = config["WorkingDir"].as_str().unwrap_or("/");
        vec![format!("{}/{program}", workdir.trim_end_matches('/'))]
    } else {
        let path_var = path_var.unwrap_or(DEFAULT_PATH);
        let on_path: Vec<String> = path_var
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
            .collect();
        // Like execvp, the first executable on PATH wins; a non-executable match is only
        // reported when there is nothing better.
        if on_path.iter().any(|p| fs.resolve(p).is_some_and(|(_, e)| executable(e))) {
            return;
        }
        match on_path.iter().find(|p| fs.resolve(p).is_some()) {
            Some(p) => vec![p.clone()],
            None => {
                findings.push(Finding::error(
                    None,
                    format!("the {what} {program} is not in any directory of PATH ({path_var})"),
                ));
                return;
            }
        }
    };
    for shown in candidates {
        let problem = match fs.resolve(&shown) {
            None => "does not exist".to_string(),
            Some((_, e)) if e.kind == FsKind::Dir => "is a directory".to_string(),
            Some((_, e)) if !matches!(e.kind, FsKind::File { .. }) => "is not a regular file".to_string(),
            Some((_, e)) if !executable(e) => format!("is not executable (mode {:04o})", e.mode & 0o7777),
            Some(_) => continue,
        };
        findings.push(Finding::error(Some(shown.clone()), format!("the {what} {shown} {problem}")));
    }
}
