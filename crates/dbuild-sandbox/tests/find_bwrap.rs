//! Finding bwrap on a PATH, and the one line a user sees when it is not there.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use dbuild_sandbox::{find_bwrap, find_bwrap_in, SandboxError};

const MISSING: &str =
    "bubblewrap is missing: no executable `bwrap` on PATH; install it with `apt-get install bubblewrap`";

#[test]
fn a_path_without_bwrap_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}:/nonexistent/bin:", dir.path().display());
    let error = find_bwrap_in(Some(OsStr::new(&path))).unwrap_err();
    assert!(matches!(error, SandboxError::BwrapMissing));
    assert_eq!(error.to_string(), MISSING);
    assert!(!error.to_string().contains('\n'));
    assert_eq!(find_bwrap_in(None).unwrap_err().to_string(), MISSING);
}

#[test]
fn the_first_executable_bwrap_on_the_path_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (not_executable, executable) = (dir.path().join("a"), dir.path().join("b"));
    for (sub, mode) in [(&not_executable, 0o644), (&executable, 0o755)] {
        fs::create_dir(sub).unwrap();
        fs::write(sub.join("bwrap"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(sub.join("bwrap"), fs::Permissions::from_mode(mode)).unwrap();
    }
    fs::create_dir_all(dir.path().join("c/bwrap")).unwrap();
    let path = format!("{}:{}:{}", dir.path().join("c").display(), not_executable.display(), executable.display());
    assert_eq!(find_bwrap_in(Some(OsStr::new(&path))).unwrap(), executable.join("bwrap"));
}

#[test]
fn this_machine_has_bubblewrap() {
    // The other tests run the real one; they fail rather than skip without it.
    let bwrap = find_bwrap().unwrap_or_else(|e| panic!("{e}"));
    assert!(bwrap.ends_with("bwrap"));
}
