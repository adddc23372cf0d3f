//! Runtime selection and error reporting of `load_with`, with fake tools (shell scripts) that
//! record their arguments: no daemon or image store is touched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dbuild_oci::{load_with, LoadError, Runtime, Tools};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn layout(dir: &Path) -> PathBuf {
    let l = dir.join("layout");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(l.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::create_dir_all(l.join("blobs/sha256")).unwrap();
    std::fs::write(l.join("blobs/sha256/00"), "x").unwrap();
    std::fs::write(l.join("index.json"), r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:00","size":1,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#).unwrap();
    l
}

#[test]
fn podman_is_chosen_when_no_docker_daemon_answers() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log");
    let tools = Tools {
        docker: script(t.path(), "docker", "exit 1").into(),
        podman: script(t.path(), "podman", "exit 1").into(),
        skopeo: script(t.path(), "skopeo", &format!("echo \"$@\" > {}", log.display())).into(),
    };
    let l = layout(t.path());
    let loaded = load_with(&tools, &l, "dbuild/static").unwrap();
    assert_eq!((loaded.runtime, loaded.name.as_str()), (Runtime::Podman, "dbuild/static:latest"));
    let args = std::fs::read_to_string(&log).unwrap();
    assert_eq!(args.trim(), format!("copy --quiet oci:{}:latest containers-storage:dbuild/static:latest", l.display()));
}

#[test]
fn docker_is_chosen_when_its_daemon_answers_and_errors_carry_stderr() {
    let t = tempfile::tempdir().unwrap();
    let tools = Tools {
        docker: script(t.path(), "docker", "exit 0").into(),
        podman: script(t.path(), "podman", "exit 1").into(),
        skopeo: script(t.path(), "skopeo", "echo \"refused: $4\" >&2; exit 3").into(),
    };
    let err = load_with(&tools, &layout(t.path()), "x:v1").unwrap_err();
    match err {
        LoadError::ToolFailed { stderr, command, .. } => {
            assert_eq!(stderr, "refused: docker-daemon:x:v1");
            assert!(command.contains("skopeo copy"), "{command}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn without_skopeo_the_runtime_loads_an_archive_and_tags_it() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("log");
    let podman = format!(
        "case \"$1\" in load) tar xf - -O index.json >> {log}; echo >> {log}; echo 'Loaded image: sha256:abc';; \
         tag) echo \"tag $2 $3\" >> {log};; *) exit 1;; esac",
        log = log.display()
    );
    let tools = Tools {
        docker: script(t.path(), "docker", "exit 1").into(),
        podman: script(t.path(), "podman", &podman).into(),
        skopeo: t.path().join("no-such-skopeo").into(),
    };
    let loaded = load_with(&tools, &layout(t.path()), "a/b:c").unwrap();
    assert_eq!(loaded.runtime, Runtime::Podman);
    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    // The archive's index names the image, so the runtime files it under that name.
    assert!(lines[0].contains(r#""org.opencontainers.image.ref.name":"a/b:c""#), "{lines:?}");
    assert_eq!(lines[1], "tag sha256:abc a/b:c");
}

#[test]
fn bad_inputs_are_refused_before_running_anything() {
    let t = tempfile::tempdir().unwrap();
    let tools = Tools { docker: "/nonexistent".into(), podman: "/nonexistent".into(), skopeo: "/nonexistent".into() };
    assert!(matches!(load_with(&tools, t.path(), "x"), Err(LoadError::NotALayout(_))));
    assert!(matches!(load_with(&tools, &layout(t.path()), "x y"), Err(LoadError::BadName(_))));
    let colon = t.path().join("a:b");
    std::fs::create_dir(&colon).unwrap();
    std::fs::write(colon.join("index.json"), "{}").unwrap();
    assert!(matches!(load_with(&tools, &colon, "x"), Err(LoadError::BadLayoutPath(_))));
}
