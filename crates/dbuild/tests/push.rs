//! SBOMs and pushes of the real `//images:static` (Debian 13, every architecture it has), built once from
//! the archive in a copy of this workspace. The SBOMs are validated by pyspdxtools and compared
//! with the images' status.d; pushes go to Debian's docker-registry (distribution 2.8) started
//! on loopback by the tests, plain and with htpasswd basic auth, and are read back with skopeo.
//!
//! Needs the network (the mirror from the host's apt sources), docker-registry, htpasswd,
//! skopeo and pyspdxtools: `tools/install-test-deps` installs them. Nothing here skips.

mod common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{copy_dir, stderr, validate_spdx, TestWorkspace};
use serde_json::Value;

/// A copy of this repository's image workspace, with an empty cache of its own.
fn image_workspace() -> TestWorkspace {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = TestWorkspace::new(&[]);
    std::fs::copy(repo.join("WORKSPACE.star"), ws.root().join("WORKSPACE.star")).unwrap();
    for sub in ["rules", "images", "debian"] {
        copy_dir(&repo.join(sub), &ws.root().join(sub));
    }
    ws
}

/// The workspace copy with //images:static and its SBOMs built.
fn workspace() -> &'static TestWorkspace {
    static WS: OnceLock<TestWorkspace> = OnceLock::new();
    WS.get_or_init(|| {
        let ws = image_workspace();
        let out = ws.dbuild().args(["sbom", "//images:static"]).output().unwrap();
        assert!(out.status.success(), "dbuild sbom //images:static failed:\n{}", common::build_failure(&out));
        ws
    })
}

/// The architectures of `//images:static`, in its index's order, as the target names spell
/// them (`static-arm64`, `static-arm`): read from the built index, so the tests follow
/// images/BUILD.star.
fn static_archs() -> Vec<String> {
    let index = workspace().root().join("dbuild-out/images/static.index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    let archs: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    assert!(archs.len() >= 2 && archs[..2] == ["amd64", "arm64"], "//images:static has {archs:?}");
    archs
}

/// Debian's name for an OCI architecture, as the lock files key packages.
fn debian_arch(oci: &str) -> &str {
    match oci {
        "arm" => "armhf",
        "ppc64le" => "ppc64el",
        other => other,
    }
}

fn sbom(label: &str) -> (Vec<u8>, Value) {
    let out = workspace().dbuild().args(["sbom", label]).output().unwrap();
    assert!(out.status.success(), "dbuild sbom {label} failed:\n{}", common::build_failure(&out));
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{label}: the SBOM is not JSON: {e}"));
    (out.stdout, v)
}

/// The package names of the image's `var/lib/dpkg/status.d` entries.
fn status_d(layout: &Path) -> BTreeSet<String> {
    let image = dbuild_oci::read_image(layout, dbuild_oci::LAYOUT_TAG, None).unwrap();
    common::status_d_packages(&dbuild_oci::image_fs(&image.layers, &|_, _| false).unwrap())
}

#[test]
fn image_sboms_validate_and_list_exactly_the_status_d_packages() {
    let ws = workspace();
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.root().join("debian/debian13.lock.json")).unwrap()).unwrap();
    for arch in static_archs() {
        let label = format!("//images:static-{arch}");
        let (bytes, doc) = sbom(&label);
        validate_spdx(&format!("static-{arch}"), &bytes);
        let packages: Vec<&Value> =
            doc["packages"].as_array().unwrap().iter().filter(|p| p["SPDXID"] != "SPDXRef-Image").collect();
        let names: BTreeSet<String> = packages.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        let expected = status_d(&ws.root().join(format!("dbuild-out/images/static-{arch}")));
        assert_eq!(names, expected, "{label}: the SBOM's packages are not the image's status.d entries");
        for p in &packages {
            let name = p["name"].as_str().unwrap();
            let pinned = &lock["packages"][format!("{name}:{}", debian_arch(&arch))];
            assert_eq!(p["checksums"][0]["checksumValue"], pinned["sha256"], "{label}: {name}'s .deb sha256");
            let purl = p["externalRefs"][0]["referenceLocator"].as_str().unwrap();
            assert!(
                purl.starts_with(&format!("pkg:deb/debian/{name}@")) && purl.ends_with("&distro=debian-13"),
                "{purl}"
            );
        }
        let base_files = packages.iter().find(|p| p["name"] == "base-files").unwrap();
        assert!(base_files["licenseDeclared"].as_str().unwrap().contains("GPL-2.0-or-later"), "{base_files}");
        let files: BTreeSet<&str> =
            doc["files"].as_array().unwrap().iter().map(|f| f["fileName"].as_str().unwrap()).collect();
        for f in ["./etc/passwd", "./etc/group", "./usr/lib/os-release", "./etc/ssl/certs/ca-certificates.crt"] {
            assert!(files.contains(f), "{label}: {f} is missing from the SBOM's files: {files:?}");
        }
        let generated = doc["relationships"].as_array().unwrap().iter().any(|r| {
            r["relationshipType"] == "GENERATED_FROM"
                && r["relatedSpdxElement"] == "SPDXRef-Package-deb-ca-certificates-all"
        });
        assert!(generated, "{label}: the CA bundle is not GENERATED_FROM ca-certificates");
        let manifest = std::fs::read(ws.root().join(format!("dbuild-out/images/static-{arch}.manifest.json"))).unwrap();
        let digest = dbuild_core::Sha256::of_bytes(&manifest).to_hex();
        assert!(doc["documentNamespace"].as_str().unwrap().ends_with(&digest), "the namespace comes from the digest");
        assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    }
}

#[test]
fn the_index_sbom_names_each_platform_and_its_sbom() {
    let (bytes, doc) = sbom("//images:static");
    validate_spdx("static", &bytes);
    let refs = doc["externalDocumentRefs"].as_array().unwrap();
    let archs = static_archs();
    assert_eq!(refs.len(), archs.len());
    for (arch, r) in archs.iter().zip(refs) {
        let image =
            std::fs::read(workspace().root().join(format!("dbuild-out/images/static-{arch}.spdx.json"))).unwrap();
        let v: Value = serde_json::from_slice(&image).unwrap();
        assert_eq!(r["spdxDocument"], v["documentNamespace"]);
        use sha1::Digest as _;
        assert_eq!(r["checksum"]["checksumValue"], hex::encode(sha1::Sha1::digest(&image)));
    }
    // The artifact manifest attaches the SBOM to the index.
    let root = workspace().root();
    let artifact: Value =
        serde_json::from_slice(&std::fs::read(root.join("dbuild-out/images/static.sbom.manifest.json")).unwrap())
            .unwrap();
    let index = std::fs::read(root.join("dbuild-out/images/static.index.json")).unwrap();
    assert_eq!(artifact["subject"]["digest"], dbuild_core::Sha256::of_bytes(&index).oci());
    assert_eq!(artifact["layers"][0]["digest"], dbuild_core::Sha256::of_bytes(&bytes).oci());
    assert_eq!(artifact["artifactType"], "application/spdx+json");
    // The layout still has exactly one entry.
    let top: Value =
        serde_json::from_slice(&std::fs::read(root.join("dbuild-out/images/static/index.json")).unwrap()).unwrap();
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
}

/// The referrers (artifact manifest digests) a layout's one `index.json` entry lists.
fn layout_referrers(layout: &Path) -> Vec<String> {
    let top: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entries = top["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}: index.json must keep exactly one entry: {top}", layout.display());
    let listed = entries[0]["annotations"]["invalid.dbuild.referrers"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: the index.json entry does not list its referrers: {top}", layout.display()));
    listed.split(',').map(str::to_string).collect()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    std::fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("{}: blob {digest} is missing: {e}", layout.display()))
}

#[test]
fn layouts_hold_their_sbom_artifacts_and_keep_one_index_entry() {
    let out = workspace().root().join("dbuild-out/images");
    let mut every_platform = vec!["static.spdx.json".to_string()];
    every_platform.extend(static_archs().iter().map(|a| format!("static-{a}.spdx.json")));
    for (name, spdx_files) in [("static-amd64", vec!["static-amd64.spdx.json".to_string()]), ("static", every_platform)]
    {
        let layout = out.join(name);
        // Every blob is what its name says.
        for f in walk_files(&layout.join("blobs/sha256")) {
            let bytes = std::fs::read(&f).unwrap();
            let hex = f.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(dbuild_core::Sha256::of_bytes(&bytes).to_hex(), hex, "{name}: blob {hex} has other bytes");
        }
        let referrers = layout_referrers(&layout);
        assert_eq!(referrers.len(), spdx_files.len(), "{name}: {referrers:?}");
        let top = layout_digest(&layout);
        let mut subjects = BTreeSet::new();
        let mut documents = BTreeSet::new();
        for digest in &referrers {
            let artifact: Value = serde_json::from_slice(&blob(&layout, digest)).unwrap();
            assert_eq!(artifact["artifactType"], "application/spdx+json", "{name}: {artifact}");
            assert_eq!(blob(&layout, artifact["config"]["digest"].as_str().unwrap()), b"{}");
            let spdx = blob(&layout, artifact["layers"][0]["digest"].as_str().unwrap());
            documents.insert(spdx);
            subjects.insert(artifact["subject"]["digest"].as_str().unwrap().to_string());
        }
        // The layout holds exactly the SBOMs `dbuild sbom` prints, each attached to the top or
        // one of its images.
        let built: BTreeSet<Vec<u8>> = spdx_files.iter().map(|f| std::fs::read(out.join(f)).unwrap()).collect();
        assert_eq!(documents, built, "{name}: the layout's SBOM blobs are not the built SBOMs");
        assert!(subjects.contains(&top), "{name}: no SBOM has the layout's top {top} as its subject");
        assert_eq!(subjects.len(), referrers.len(), "{name}: two SBOMs share a subject: {subjects:?}");

        // skopeo reads the layout (and so copies an image with its SBOM blobs beside it).
        let copied = tempfile::tempdir().unwrap();
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--preserve-digests"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("oci:{}:latest", copied.path().join("oci").display()))
            .output()
            .expect("skopeo is missing: run tools/install-test-deps");
        assert!(out.status.success(), "{name}: skopeo copy of the layout failed:\n{}", stderr(&out));
        assert_eq!(layout_digest(&copied.path().join("oci")), top);
    }
}

#[test]
fn two_builds_from_empty_caches_give_the_same_sbom_bytes() {
    let first = sbom("//images:static-amd64").0;
    let ws = image_workspace();
    let out = ws.dbuild().args(["sbom", "//images:static-amd64"]).output().unwrap();
    assert!(out.status.success(), "the second build failed:\n{}", common::build_failure(&out));
    assert!(out.stdout == first, "two builds from empty caches gave two SBOMs of //images:static-amd64");
}

/// An image of another workspace on `@dbuild//images:static-amd64`: the packages come from the
/// embedded repository's archive, pinned by the lock compiled into dbuild, and each gets the
/// pinned .deb's sha256.
#[test]
fn an_image_on_an_embedded_base_gets_every_package_checksum() {
    let ws = TestWorkspace::new(&[
        ("WORKSPACE.star", "workspace(name = \"app\")\n"),
        (
            "app/BUILD.star",
            "load(\"@dbuild//rules:oci.star\", \"oci_image\")\n\
             load(\"@dbuild//rules:pkg.star\", \"text_layer\")\n\
             text_layer(name = \"conf\", files = {\"etc/app.conf\": \"x = 1\\n\"})\n\
             oci_image(name = \"app\", base = \"@dbuild//images:static-amd64\", tars = [\":conf\"])\n",
        ),
    ]);
    // The .debs are fetched already (keyed by their sha256) in the first workspace's cache.
    let out = ws.dbuild().env("DBUILD_CACHE_DIR", &workspace().cache).args(["sbom", "//app:app"]).output().unwrap();
    assert!(out.status.success(), "dbuild sbom //app:app failed:\n{}", common::build_failure(&out));
    validate_spdx("app", &out.stdout);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("debian/debian13.lock.json")).unwrap()).unwrap();
    let packages: Vec<&Value> =
        doc["packages"].as_array().unwrap().iter().filter(|p| p["SPDXID"] != "SPDXRef-Image").collect();
    let names: BTreeSet<String> = packages.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, status_d(&ws.root().join("dbuild-out/app/app")), "the SBOM's packages are not status.d's");
    for p in &packages {
        let name = p["name"].as_str().unwrap();
        let pinned = &lock["packages"][format!("{name}:amd64")]["sha256"];
        assert!(pinned.is_string(), "{name} is not in the embedded lock");
        assert_eq!(&p["checksums"][0]["checksumValue"], pinned, "{name}'s .deb sha256 in the SBOM");
    }
    let files: BTreeSet<&str> =
        doc["files"].as_array().unwrap().iter().map(|f| f["fileName"].as_str().unwrap()).collect();
    assert!(files.contains("./etc/app.conf"), "the workspace's own layer is missing: {files:?}");
}

/// A docker-registry serving on a free loopback port until dropped.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    fn start(auth: Option<(&str, &str)>) -> Registry {
        Registry::start_with(auth, false)
    }

    /// With `tls`, a self-signed certificate for 127.0.0.1 is made in the registry's folder
    /// (`cert.pem`).
    fn start_with(auth: Option<(&str, &str)>, tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) is missing: run tools/install-test-deps");
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        if tls {
            let out = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
                .args(["-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
                // A self-signed leaf: webpki refuses a CA certificate as the server's own.
                .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                .arg("-keyout")
                .arg(dir.path().join("key.pem"))
                .arg("-out")
                .arg(dir.path().join("cert.pem"))
                .output()
                .expect("openssl is missing: run tools/install-test-deps");
            assert!(out.status.success(), "openssl req failed:\n{}", stderr(&out));
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry is missing: run tools/install-test-deps");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "docker-registry did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port, dir }
    }

    fn repo(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }

    /// How many blobs the registry stores.
    fn stored_blobs(&self) -> usize {
        let dir = self.dir.path().join("data/docker/registry/v2/blobs/sha256");
        walk_files(&dir).into_iter().filter(|p| p.ends_with("data")).count()
    }
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn push(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = workspace().dbuild();
    c.arg("push").args(args).env_remove("DBUILD_REGISTRY_AUTH").env_remove("REGISTRY_AUTH_FILE");
    // No auth file of the machine may answer for the test registry.
    c.env("HOME", workspace().dir.path()).env_remove("XDG_RUNTIME_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn push_json(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = push(&all, env);
    assert!(out.status.success(), "dbuild push {args:?} failed:\n{}", common::build_failure(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn skopeo_raw(reference: &str, extra: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is missing: run tools/install-test-deps");
    assert!(out.status.success(), "skopeo inspect {reference} failed:\n{}", stderr(&out));
    out.stdout
}

fn layout_digest(layout: &Path) -> String {
    let top: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    top["manifests"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn push_pull_back_identical_then_nothing_to_upload() {
    let registry = Registry::start(None);
    let repo = registry.repo("distroless/static");
    let layout = workspace().root().join("dbuild-out/images/static");
    let want = layout_digest(&layout);

    let first = push_json(&["//images:static", "--repository", &repo, "--tag", "latest", "--tag", "debian13"], &[]);
    assert_eq!(first["digest"], want.as_str());
    assert!(first["blobs_uploaded"].as_u64().unwrap() > 0);
    assert_eq!(first["references"][0], format!("{repo}@{want}"));
    for tag in ["latest", "debian13"] {
        let raw = skopeo_raw(&format!("{repo}:{tag}"), &[]);
        assert_eq!(dbuild_core::Sha256::of_bytes(&raw).oci(), want, "{tag} names another manifest");
    }

    // skopeo pulls every platform back with the same digests.
    let pulled = tempfile::tempdir().unwrap();
    let dest = pulled.path().join("oci");
    let out = Command::new("skopeo")
        .args(["copy", "--all", "--preserve-digests", "--src-tls-verify=false"])
        .arg(format!("docker://{repo}:latest"))
        .arg(format!("oci:{}:latest", dest.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy failed:\n{}", stderr(&out));
    assert_eq!(layout_digest(&dest), want);
    // The layout also holds the SBOM artifacts, which skopeo does not copy.
    let mut sbom_blobs = BTreeSet::new();
    for digest in layout_referrers(&layout) {
        let artifact: Value = serde_json::from_slice(&blob(&layout, &digest)).unwrap();
        for d in
            [&digest, artifact["config"]["digest"].as_str().unwrap(), artifact["layers"][0]["digest"].as_str().unwrap()]
        {
            sbom_blobs.insert(d.trim_start_matches("sha256:").to_string());
        }
    }
    let ours: BTreeSet<String> = walk_files(&layout.join("blobs/sha256"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|h| !sbom_blobs.contains(h))
        .collect();
    let theirs: BTreeSet<String> = walk_files(&dest.join("blobs/sha256"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ours, theirs, "the pulled layout holds other blobs");

    // The SBOM is found through the referrers tag fallback and is the one built.
    let hex = want.trim_start_matches("sha256:");
    let referrers: Value = serde_json::from_slice(&skopeo_raw(&format!("{repo}:sha256-{hex}"), &[])).unwrap();
    let entry = &referrers["manifests"][0];
    assert_eq!(entry["artifactType"], "application/spdx+json");
    let artifact = std::fs::read(workspace().root().join("dbuild-out/images/static.sbom.manifest.json")).unwrap();
    assert_eq!(entry["digest"], dbuild_core::Sha256::of_bytes(&artifact).oci());
    let remote = skopeo_raw(&format!("{repo}@{}", entry["digest"].as_str().unwrap()), &[]);
    assert_eq!(remote, artifact);
    // Each platform's image has its SBOM too.
    for arch in static_archs() {
        // Built on its own, so its manifest is in dbuild-out whatever the other tests did.
        sbom(&format!("//images:static-{arch}"));
        let m =
            std::fs::read(workspace().root().join(format!("dbuild-out/images/static-{arch}.manifest.json"))).unwrap();
        let h = dbuild_core::Sha256::of_bytes(&m).to_hex();
        let r: Value = serde_json::from_slice(&skopeo_raw(&format!("{repo}:sha256-{h}"), &[])).unwrap();
        assert_eq!(r["manifests"].as_array().unwrap().len(), 1, "static-{arch} has no SBOM referrer");
    }

    let blobs = registry.stored_blobs();
    let again = push_json(&["//images:static", "--repository", &repo, "--tag", "latest", "--tag", "debian13"], &[]);
    assert_eq!(again["blobs_uploaded"], 0, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
    assert_eq!(again["digest"], want.as_str());
    assert_eq!(registry.stored_blobs(), blobs);

    // An oci_push target to a second repository of the registry mounts the blobs.
    let ws = workspace();
    ws.write(
        "deploy/BUILD.star",
        &format!(
            "load(\"@dbuild//rules:oci.star\", \"oci_push\")\n\
             oci_push(name = \"push\", image = \"//images:static-amd64\", repository = \"{}\", \
             remote_tags = [\"v1\"], remote_tags_file = \"tags.txt\")\n",
            registry.repo("mirror/static")
        ),
    );
    ws.write("deploy/tags.txt", "stamped\n\n# a comment\n");
    let mounted = push_json(&["//deploy:push", "--mount-from", "distroless/static"], &[]);
    // Every blob, the SBOM's too, was pushed with the index: all are mounted, none uploaded.
    assert!(mounted["blobs_mounted"].as_u64().unwrap() > 0, "{mounted}");
    assert_eq!(mounted["blobs_uploaded"], 0, "{mounted}");
    assert_eq!(mounted["blobs_existing"], 0, "{mounted}");
    assert_eq!(mounted["tags"], serde_json::json!(["v1", "stamped"]));
    let amd64 = layout_digest(&ws.root().join("dbuild-out/images/static-amd64"));
    let raw = skopeo_raw(&format!("{}:stamped", registry.repo("mirror/static")), &[]);
    assert_eq!(dbuild_core::Sha256::of_bytes(&raw).oci(), amd64);
}

#[test]
fn a_pattern_pushes_each_image_to_its_own_repository_mounting_shared_blobs() {
    let registry = Registry::start(None);
    let ws = workspace();
    ws.write(
        "multi/BUILD.star",
        "load(\"@dbuild//rules:oci.star\", \"oci_image\")\n\
         oci_image(name = \"one\", base = \"//images:static-amd64\", env = {\"X\": \"1\"})\n\
         oci_image(name = \"two\", base = \"//images:static-amd64\", env = {\"X\": \"2\"})\n",
    );
    let base = registry.repo("multi");
    // One image at a time, so the second starts after the first has pushed the shared layers.
    let out = push(&["//multi:all", "--repository", &base, "--json", "-j", "1"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 2, "one JSON line per image");
    assert_eq!(reports[0]["repository"], format!("{base}/one"));
    assert_eq!(reports[1]["repository"], format!("{base}/two"));
    // The second image shares every layer with the first: mounted, not uploaded.
    assert!(reports[1]["blobs_mounted"].as_u64().unwrap() >= 6, "{}", reports[1]);
    for (r, name) in reports.iter().zip(["one", "two"]) {
        let layout = ws.root().join(format!("dbuild-out/multi/{name}"));
        assert_eq!(r["digest"], layout_digest(&layout).as_str());
    }
}

#[test]
fn basic_auth_wrong_credentials_push_nothing_right_ones_push() {
    let registry = Registry::start(Some(("alice", "s3cret")));
    let repo = registry.repo("distroless/static");

    let out = push(
        &["//images:static-amd64", "--repository", &repo, "--tag", "latest"],
        &[("DBUILD_REGISTRY_AUTH", "alice:wrong")],
    );
    assert!(!out.status.success(), "a push with a wrong password succeeded");
    let err = stderr(&out);
    assert!(err.contains("refused the credentials of user \"alice\""), "{err}");
    assert!(!err.contains("wrong"), "the password was printed: {err}");
    let out = push(&["//images:static-amd64", "--repository", &repo], &[]);
    assert!(stderr(&out).contains("asks for credentials, and none were found"), "{}", stderr(&out));
    assert_eq!(registry.stored_blobs(), 0, "a refused push stored blobs");

    // From a podman-style auth file.
    let auth = registry.dir.path().join("auth.json");
    let token = base64_encode("alice:s3cret");
    std::fs::write(&auth, format!(r#"{{"auths": {{"127.0.0.1:{}": {{"auth": "{token}"}}}}}}"#, registry.port)).unwrap();
    let auth = auth.display().to_string();
    let pushed = push_json(
        &["//images:static-amd64", "--repository", &repo, "--tag", "latest"],
        &[("REGISTRY_AUTH_FILE", &auth)],
    );
    assert!(pushed["blobs_uploaded"].as_u64().unwrap() > 0);
    let again = push_json(
        &["//images:static-amd64", "--repository", &repo, "--tag", "latest"],
        &[("DBUILD_REGISTRY_AUTH", "alice:s3cret")],
    );
    assert_eq!(again["blobs_uploaded"], 0);
    let raw = skopeo_raw(&format!("{repo}:latest"), &["--creds", "alice:s3cret"]);
    assert_eq!(
        dbuild_core::Sha256::of_bytes(&raw).oci(),
        layout_digest(&workspace().root().join("dbuild-out/images/static-amd64"))
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn podman_pulls_and_runs_a_pushed_image() {
    let registry = Registry::start(None);
    let repo = registry.repo("debug/static");
    let pushed = push_json(&["//images:static-debug-amd64", "--repository", &repo, "--tag", "run"], &[]);
    let digest = pushed["digest"].as_str().unwrap().to_string();
    let reference = format!("{repo}:run");
    let podman = |args: &[&str]| {
        Command::new("podman").args(args).output().expect("podman is missing: run tools/install-test-deps")
    };
    let out = podman(&["pull", "--tls-verify=false", &reference]);
    assert!(out.status.success(), "podman pull failed:\n{}", stderr(&out));
    let out = podman(&["image", "inspect", "--format", "{{.Digest}}", &reference]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest, "podman pulled another manifest");
    // The entrypoint is /busybox/sh.
    let out = podman(&["run", "--rm", "--network=none", &reference, "-c", "echo pushed-and-run"]);
    let _ = podman(&["rmi", "-f", &reference]);
    assert!(out.status.success(), "podman run failed:\n{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pushed-and-run");
}

/// A language image of the family (python3, amd64) makes the same round trip: pushed, pulled
/// back by skopeo with every digest intact, and run by podman.
#[test]
fn a_language_image_round_trips_and_runs() {
    let registry = Registry::start(None);
    let repo = registry.repo("distroless/python3");
    let pushed = push_json(&["//images:python3-amd64", "--repository", &repo, "--tag", "3"], &[]);
    let digest = pushed["digest"].as_str().unwrap().to_string();
    let layout = workspace().root().join("dbuild-out/images/python3-amd64");
    assert_eq!(digest, layout_digest(&layout));

    let pulled = tempfile::tempdir().unwrap();
    let dest = pulled.path().join("oci");
    let out = Command::new("skopeo")
        .args(["copy", "--preserve-digests", "--src-tls-verify=false"])
        .arg(format!("docker://{repo}:3"))
        .arg(format!("oci:{}:3", dest.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy failed:\n{}", stderr(&out));
    assert_eq!(layout_digest(&dest), digest, "skopeo pulled another manifest");

    let reference = format!("{repo}:3");
    let podman = |args: &[&str]| {
        Command::new("podman").args(args).output().expect("podman is missing: run tools/install-test-deps")
    };
    let out = podman(&["pull", "--tls-verify=false", &reference]);
    assert!(out.status.success(), "podman pull failed:\n{}", stderr(&out));
    let out = podman(&["run", "--rm", "--network=none", &reference, "-c", "print(6 * 7)"]);
    let _ = podman(&["rmi", "-f", &reference]);
    assert!(out.status.success(), "podman run failed:\n{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

#[test]
fn tls_with_a_custom_ca() {
    let registry = Registry::start_with(None, true);
    let repo = registry.repo("tls/static");
    let ca = registry.dir.path().join("cert.pem").display().to_string();
    // Loopback without --ca-cert speaks plain HTTP, which a TLS registry refuses.
    let out = push(&["//images:static-amd64", "--repository", &repo], &[]);
    assert!(!out.status.success(), "plain HTTP to a TLS registry succeeded");
    // The system roots alone do not trust the self-signed certificate.
    let out =
        push(&["//images:static-amd64", "--repository", &repo, "--ca-cert", "/etc/ssl/certs/ca-certificates.crt"], &[]);
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    // Small chunks: every layer of more than 64 KiB goes up in PATCHes.
    let args =
        ["//images:static-amd64", "--repository", &repo, "--tag", "t", "--ca-cert", &ca, "--chunk-size", "65536"];
    let pushed = push_json(&args, &[]);
    assert!(pushed["blobs_uploaded"].as_u64().unwrap() > 0);
    let raw = skopeo_raw(&format!("{repo}:t"), &["--cert-dir", registry.dir.path().to_str().unwrap()]);
    assert_eq!(
        dbuild_core::Sha256::of_bytes(&raw).oci(),
        layout_digest(&workspace().root().join("dbuild-out/images/static-amd64"))
    );
}

/// A bearer-token front for a registry, as the distribution token spec describes it: requests
/// without the token get `401` with a `Bearer realm=…,service=…,scope=…` challenge; the realm
/// hands the token out for the right basic credentials. Each forwarded request waits `delay`.
struct TokenProxy {
    port: u16,
}

const TOKEN: &str = "test-token-7f3a";

impl TokenProxy {
    fn start(backend: u16, user: &str, password: &str, delay: Duration) -> TokenProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let basic = format!("Basic {}", base64_encode(&format!("{user}:{password}")));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let basic = basic.clone();
                std::thread::spawn(move || proxy_one(conn, backend, port, &basic, delay));
            }
        });
        TokenProxy { port }
    }
}

fn proxy_one(mut client: TcpStream, backend: u16, port: u16, basic: &str, delay: Duration) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let len: usize = header("Content-Length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let auth = header("Authorization").unwrap_or_default();
    let path = head[0].split(' ').nth(1).unwrap_or("").to_string();
    let reply = |c: &mut TcpStream, status: &str, extra: &str, body: &str| {
        let _ =
            write!(c, "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    };
    if path.starts_with("/token") {
        if auth == basic && path.contains("scope=repository%3A") {
            reply(&mut client, "200 OK", "Content-Type: application/json\r\n", &format!("{{\"token\":\"{TOKEN}\"}}"));
        } else {
            reply(&mut client, "401 Unauthorized", "", "");
        }
        return;
    }
    if auth != format!("Bearer {TOKEN}") {
        let challenge =
            format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\"\r\n");
        reply(&mut client, "401 Unauthorized", &challenge, "");
        return;
    }
    std::thread::sleep(delay);
    let mut upstream = TcpStream::connect(("127.0.0.1", backend)).unwrap();
    let mut out = format!("{}\r\n", head[0]);
    for h in head.iter().skip(1) {
        let name = h.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name != "connection" && name != "authorization" {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes()).unwrap();
    upstream.write_all(&body).unwrap();
    let mut response = Vec::new();
    let _ = upstream.read_to_end(&mut response);
    let _ = client.write_all(&response);
}

#[test]
fn bearer_token_flow() {
    let registry = Registry::start(None);
    let proxy = TokenProxy::start(registry.port, "bob", "t0ken-pass", Duration::ZERO);
    let repo = format!("127.0.0.1:{}/bearer/static", proxy.port);
    let out = push(&["//images:static-amd64", "--repository", &repo], &[("DBUILD_REGISTRY_AUTH", "bob:nope")]);
    assert!(stderr(&out).contains("refused the credentials of user \"bob\""), "{}", stderr(&out));
    assert_eq!(registry.stored_blobs(), 0);
    let env = [("DBUILD_REGISTRY_AUTH", "bob:t0ken-pass")];
    let pushed = push_json(&["//images:static-amd64", "--repository", &repo, "--tag", "latest"], &env);
    assert!(pushed["blobs_uploaded"].as_u64().unwrap() > 0);
    let again = push_json(&["//images:static-amd64", "--repository", &repo, "--tag", "latest"], &env);
    assert_eq!(again["blobs_uploaded"], 0);
    let raw = skopeo_raw(&format!("{}:latest", registry.repo("bearer/static")), &[]);
    assert_eq!(
        dbuild_core::Sha256::of_bytes(&raw).oci(),
        layout_digest(&workspace().root().join("dbuild-out/images/static-amd64"))
    );
}

/// Every tag of `repo` can be copied whole: no tag names a manifest whose blobs are missing.
fn every_tag_is_whole(repo: &str) -> usize {
    let out = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{repo}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return 0; // The repository does not exist yet.
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags: Vec<String> =
        v["Tags"].as_array().map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect()).unwrap_or_default();
    for tag in &tags {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--src-tls-verify=false"])
            .arg(format!("docker://{repo}:{tag}"))
            .arg(format!("oci:{}:x", dir.path().join("o").display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "tag {tag} of {repo} names a broken image:\n{}", stderr(&out));
    }
    tags.len()
}

#[test]
fn a_push_killed_midway_leaves_no_broken_tag_and_completes_when_repeated() {
    let registry = Registry::start(None);
    // Slow every request down so the kill lands in the middle of the push.
    let proxy = TokenProxy::start(registry.port, "carol", "pw", Duration::from_millis(120));
    let repo = format!("127.0.0.1:{}/killed/static", proxy.port);
    let args = ["push", "//images:static", "--repository", &repo, "--tag", "latest", "-j", "1"];
    let mut child = workspace()
        .dbuild()
        .args(args)
        .env("DBUILD_REGISTRY_AUTH", "carol:pw")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while registry.stored_blobs() < 4 {
        assert!(child.try_wait().unwrap().is_none(), "the push ended before it could be killed");
        assert!(start.elapsed() < Duration::from_secs(120), "the push stored no blobs");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "the push ended before it could be killed");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let direct = registry.repo("killed/static");
    assert_eq!(every_tag_is_whole(&direct), 0, "a tag was written before the images were complete");

    let done = push_json(&args[1..], &[("DBUILD_REGISTRY_AUTH", "carol:pw")]);
    assert!(done["blobs_existing"].as_u64().unwrap() >= 4, "the repeated push re-sent blobs: {done}");
    assert_eq!(
        every_tag_is_whole(&direct),
        2 + static_archs().len(),
        "latest and the referrers tags of the index and each of its images"
    );
    let raw = skopeo_raw(&format!("{direct}:latest"), &[]);
    assert_eq!(
        dbuild_core::Sha256::of_bytes(&raw).oci(),
        layout_digest(&workspace().root().join("dbuild-out/images/static"))
    );
}
