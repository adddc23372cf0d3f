//! End-to-end tests of `oci_image`, `oci_image_index` and `dbuild load` with real tools:
//! skopeo and umoci read the layouts, podman runs the images. These fail, never skip, when a
//! tool is missing: `tools/test` installs them.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const GREETING_STAR: &str = r#"
def _greeting_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = "Hello from %s!\n" % ctx.attr.who)
    return [DefaultInfo(files = [out])]

greeting = rule(
    implementation = _greeting_impl,
    attrs = {"who": attr.string(mandatory = True)},
)
"#;

const IMG_BUILD: &str = r#"
load("@dbuild//rules:oci.star", "oci_image", "oci_image_index")
load("@dbuild//rules:pkg.star", "pkg_tar")
load(":greeting.star", "greeting")

greeting(name = "greeting", who = "a user rule")

pkg_tar(
    name = "busybox_layer",
    files = {"busybox": "bin/busybox"},
    mode = "0755",
    symlinks = {"bin/sh": "/bin/busybox"},
    empty_dirs = ["tmp"],
    modes = {"tmp": "1777"},
)

pkg_tar(
    name = "greeting_layer",
    files = {":greeting": "greeting.txt"},
)

oci_image(
    name = "base",
    tars = [":busybox_layer"],
    architecture = "amd64",
    env = {"PATH": "/bin", "STAGE": "base"},
    user = "65532",
    workdir = "/tmp",
    entrypoint = ["/bin/busybox", "cat"],
)

oci_image(
    name = "app",
    base = ":base",
    tars = [":greeting_layer"],
    cmd = ["/greeting.txt"],
    env = {"STAGE": "app"},
)

oci_image(
    name = "app_arm64",
    tars = [":busybox_layer", ":greeting_layer"],
    architecture = "arm64",
)

oci_image_index(
    name = "multi",
    images = [":app", ":app_arm64"],
)
"#;

fn fixture() -> TestWorkspace {
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", ""),
        ("img/BUILD.star", IMG_BUILD),
        ("img/greeting.star", GREETING_STAR),
    ]);
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static) is needed: run tools/test");
    fs::write(ws.root().join("img/busybox"), busybox).unwrap();
    ws
}

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} must be installed (tools/test installs it): {e}"));
    assert!(out.status.success(), "{name} {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn target<'a>(summary: &'a Value, label: &str) -> &'a Value {
    summary["targets"].as_array().unwrap().iter().find(|t| t["label"] == label).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Value {
    read_json(&layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")))
}

#[test]
fn image_layout_is_standard_and_inherits_from_its_base() {
    let ws = fixture();
    let summary = ws.build_ok(&["//img:app"]);
    let app = target(&summary, "//img:app");
    assert_eq!(app["kind"], "oci_image");
    assert!(app["outputs"].as_array().unwrap().iter().any(|o| o == "dbuild-out/img/app"), "{app}");
    let layout = ws.root().join("dbuild-out/img/app");
    assert_eq!(read_json(&layout.join("oci-layout"))["imageLayoutVersion"], "1.0.0");
    let index = read_json(&layout.join("index.json"));
    let descriptors = index["manifests"].as_array().unwrap();
    assert_eq!(descriptors.len(), 1);
    let top = &descriptors[0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(top["annotations"]["org.opencontainers.image.ref.name"], "latest");
    assert_eq!(app["digest"], top["digest"], "--json digest is the manifest digest");

    let manifest = blob(&layout, top["digest"].as_str().unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "base layer first, then the app's, never squashed");
    assert!(layers.iter().all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"));
    // The base's layer is the very blob pkg_tar wrote.
    let layer_summary = ws.build_ok(&["//img:busybox_layer"]);
    assert_eq!(layers[0]["digest"], target(&layer_summary, "//img:busybox_layer")["digest"]);

    let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["config"]["User"], "65532", "inherited from base");
    assert_eq!(config["config"]["WorkingDir"], "/tmp", "inherited from base");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/bin/busybox", "cat"]), "inherited");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/greeting.txt"]));
    assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/bin", "STAGE=app"]), "merged by name");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"].as_array().unwrap().len(), 2, "one history entry per layer");

    let inspect: Value =
        serde_json::from_str(&tool("skopeo", &["inspect", &format!("oci:{}:latest", layout.display())])).unwrap();
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);

    let bundle = ws.dir.path().join("bundle");
    tool(
        "umoci",
        &["unpack", "--rootless", "--image", &format!("{}:latest", layout.display()), bundle.to_str().unwrap()],
    );
    assert_eq!(fs::read_to_string(bundle.join("rootfs/greeting.txt")).unwrap(), "Hello from a user rule!\n");
    assert_eq!(fs::read(bundle.join("rootfs/bin/busybox")).unwrap(), fs::read("/bin/busybox").unwrap());
}

#[test]
fn index_carries_both_platforms() {
    let ws = fixture();
    let summary = ws.build_ok(&["//img:multi"]);
    let multi = target(&summary, "//img:multi");
    assert_eq!(multi["kind"], "oci_image_index");
    let layout = ws.root().join("dbuild-out/img/multi");
    let top = &read_json(&layout.join("index.json"))["manifests"][0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(multi["digest"], top["digest"]);
    let nested = blob(&layout, top["digest"].as_str().unwrap());
    let platforms: Vec<(String, String)> = nested["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            (p["architecture"].as_str().unwrap().to_string(), p["variant"].as_str().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(platforms, [("amd64".to_string(), String::new()), ("arm64".to_string(), "v8".to_string())]);
    let raw: Value =
        serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &format!("oci:{}:latest", layout.display())]))
            .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    for arch in ["amd64", "arm64"] {
        let one: Value = serde_json::from_str(&tool(
            "skopeo",
            &["--override-arch", arch, "inspect", &format!("oci:{}:latest", layout.display())],
        ))
        .unwrap();
        assert_eq!(one["Architecture"], arch);
    }
}

#[test]
fn digests_are_identical_across_fresh_caches() {
    let a = fixture();
    let b = fixture();
    let first = a.build_ok(&["-j", "1", "//img:all"]);
    let second = b.build_ok(&["-j", "2", "//img:all"]);
    assert_eq!(digests(&first), digests(&second));
    let again = a.build_ok(&["//img:all"]);
    assert_eq!(executed(&again), 0);
}

#[test]
fn loaded_image_runs_in_podman_as_nonroot_and_prints_the_rule_output() {
    let ws = fixture();
    let tag = format!("localhost/dbuild-test/app:{}", std::process::id());
    let out = ws.dbuild().args(["load", "//img:app", "--tag", &tag]).output().unwrap();
    assert!(out.status.success(), "dbuild load failed:\n{}", common::build_failure(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tag);
    let run = Command::new("podman")
        .args(["run", "--rm", "--network=none", &tag])
        .output()
        .expect("podman must be installed");
    let id = Command::new("podman")
        .args(["run", "--rm", "--network=none", "--entrypoint", "/bin/busybox", &tag, "id", "-u"])
        .output()
        .unwrap();
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "podman run failed:\n{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "Hello from a user rule!\n");
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "65532", "{}", String::from_utf8_lossy(&id.stderr));
}

#[test]
fn load_refuses_a_target_that_is_not_an_image() {
    let ws = fixture();
    let out = ws.dbuild().args(["load", "//img:greeting_layer"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("//img:greeting_layer") && err.contains("pkg_tar"), "{err}");
}
