//! The image config: what a runtime needs besides the layers (platform, entrypoint, env,
//! user, …), its `rootfs.diff_ids` and its history.
//!
//! A base image's config is handled as a JSON value so that fields neither dbuild nor
//! `oci-spec` model (Docker's Healthcheck, Shell, OnBuild, …) are inherited unchanged rather
//! than dropped. What dbuild adds (`rootfs`, history entries) is built with `oci-spec`'s types,
//! and the finished document must parse as an `oci_spec::image::ImageConfiguration`.

use std::collections::BTreeMap;

use dbuild_core::Sha256;
use oci_spec::image as oci;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::descriptor::Platform;
use crate::json::{canonical_json, rfc3339};

/// What an image sets on top of its base. `None` inherits the base's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSpec {
    pub platform: Platform,
    /// Seconds since the epoch (SOURCE_DATE_EPOCH or 0) for `created` and every new history entry.
    pub created: u64,
    /// Setting an entrypoint without a cmd clears the base's cmd, as Docker's ENTRYPOINT does
    /// (a base's arguments rarely suit another program). `Some(vec![])` removes it.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Merged over the base's `Env` by key: a key the base has keeps its position with the new
    /// value, new keys follow in the given order.
    pub env: Vec<(String, String)>,
    /// `Some("")` removes the base's value.
    pub user: Option<String>,
    /// `Some("")` removes the base's value.
    pub workdir: Option<String>,
    /// Merged over the base's labels by key.
    pub labels: BTreeMap<String, String>,
}

impl ConfigSpec {
    pub fn new(platform: Platform, created: u64) -> ConfigSpec {
        ConfigSpec {
            platform,
            created,
            entrypoint: None,
            cmd: None,
            env: Vec::new(),
            user: None,
            workdir: None,
            labels: BTreeMap::new(),
        }
    }
}

/// One layer this image adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerHistory {
    /// sha256 of the uncompressed tar (`LayerStats::diff_id`).
    pub diff_id: Sha256,
    /// The history entry's `created_by`: the layer's label or path.
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the base image's config is not valid JSON")]
    BaseNotJson(#[source] serde_json::Error),
    #[error("the base image's config is invalid: {0}")]
    BaseInvalid(String),
    #[error("bad environment variable name {0:?}: it must be non-empty and contain no '=' or NUL")]
    BadEnvKey(String),
    #[error("cannot serialize the image config")]
    Serialize(#[source] serde_json::Error),
    #[error("cannot build the image config's {what}")]
    Build { what: &'static str, source: oci_spec::OciSpecError },
    #[error("the image config is not a valid OCI image config")]
    NotOci(#[source] serde_json::Error),
}

/// Builds the config JSON (canonical bytes) of an image made of `base` (its config's bytes, if
/// any) plus `layers`.
pub fn image_config(base: Option<&[u8]>, spec: &ConfigSpec, layers: &[LayerHistory]) -> Result<Vec<u8>, ConfigError> {
    let mut root = match base {
        None => Map::new(),
        Some(bytes) => match serde_json::from_slice::<Value>(bytes).map_err(ConfigError::BaseNotJson)? {
            Value::Object(m) => m,
            _ => return Err(ConfigError::BaseInvalid("not a JSON object".into())),
        },
    };
    let created = rfc3339(spec.created);
    root.insert("created".into(), created.clone().into());
    root.insert("os".into(), spec.platform.os.clone().into());
    root.insert("architecture".into(), spec.platform.architecture.clone().into());
    match &spec.platform.variant {
        Some(v) => root.insert("variant".into(), v.clone().into()),
        // A base built for another variant must not lend us its variant.
        None => root.remove("variant"),
    };

    let mut config = match root.remove("config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ConfigError::BaseInvalid("\"config\" is not an object".into())),
    };
    apply_process(&mut config, spec)?;
    root.insert("config".into(), Value::Object(config));

    let base_ids = match root.remove("rootfs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(mut rootfs)) => match rootfs.remove("diff_ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids,
            Some(_) => return Err(ConfigError::BaseInvalid("\"rootfs.diff_ids\" is not an array".into())),
        },
        Some(_) => return Err(ConfigError::BaseInvalid("\"rootfs\" is not an object".into())),
    };
    let mut diff_ids: Vec<String> = base_ids
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(ConfigError::BaseInvalid("\"rootfs.diff_ids\" holds a non-string".into())),
        })
        .collect::<Result<_, _>>()?;
    diff_ids.extend(layers.iter().map(|l| l.diff_id.oci()));
    let rootfs = oci::RootFsBuilder::default()
        .typ("layers")
        .diff_ids(diff_ids)
        .build()
        .map_err(|source| ConfigError::Build { what: "rootfs", source })?;
    root.insert("rootfs".into(), serde_json::to_value(rootfs).map_err(ConfigError::Serialize)?);

    let mut history = match root.remove("history") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(h)) => h,
        Some(_) => return Err(ConfigError::BaseInvalid("\"history\" is not an array".into())),
    };
    for l in layers {
        let h = oci::HistoryBuilder::default()
            .created(created.clone())
            .created_by(l.created_by.clone())
            .build()
            .map_err(|source| ConfigError::Build { what: "history", source })?;
        history.push(serde_json::to_value(h).map_err(ConfigError::Serialize)?);
    }
    root.insert("history".into(), Value::Array(history));

    let root = Value::Object(root);
    oci::ImageConfiguration::deserialize(&root).map_err(ConfigError::NotOci)?;
    canonical_json(&root).map_err(ConfigError::Serialize)
}

/// Entrypoint, Cmd, Env, User, WorkingDir and Labels of the `config` object.
fn apply_process(config: &mut Map<String, Value>, spec: &ConfigSpec) -> Result<(), ConfigError> {
    let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
    if let Some(ep) = &spec.entrypoint {
        set_or_remove(config, "Entrypoint", (!ep.is_empty()).then(|| strings(ep)));
        if spec.cmd.is_none() {
            config.remove("Cmd");
        }
    }
    if let Some(cmd) = &spec.cmd {
        set_or_remove(config, "Cmd", (!cmd.is_empty()).then(|| strings(cmd)));
    }
    if let Some(user) = &spec.user {
        set_or_remove(config, "User", (!user.is_empty()).then(|| user.clone().into()));
    }
    if let Some(dir) = &spec.workdir {
        set_or_remove(config, "WorkingDir", (!dir.is_empty()).then(|| dir.clone().into()));
    }

    if !spec.env.is_empty() {
        let mut env: Vec<String> = match config.remove("Env") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(ConfigError::BaseInvalid("\"config.Env\" holds a non-string".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ConfigError::BaseInvalid("\"config.Env\" is not an array".into())),
        };
        for (key, value) in &spec.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(ConfigError::BadEnvKey(key.clone()));
            }
            let item = format!("{key}={value}");
            match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
                Some(slot) => *slot = item,
                None => env.push(item),
            }
        }
        config.insert("Env".into(), Value::Array(env.into_iter().map(Value::String).collect()));
    }

    if !spec.labels.is_empty() {
        let mut labels = match config.remove("Labels") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(ConfigError::BaseInvalid("\"config.Labels\" is not an object".into())),
        };
        for (k, v) in &spec.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        config.insert("Labels".into(), Value::Object(labels));
    }
    Ok(())
}

fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => map.insert(key.into(), v),
        None => map.remove(key),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: u8) -> Sha256 {
        Sha256([n; 32])
    }

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn fresh_config_is_canonical_and_complete() {
        let mut spec = ConfigSpec::new(Platform::linux("arm64"), 0);
        spec.env = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("SSL_CERT_FILE".into(), "/etc/ssl/certs/ca-certificates.crt".into()),
        ];
        spec.user = Some("65532".into());
        spec.workdir = Some("/home/nonroot".into());
        let bytes =
            image_config(None, &spec, &[LayerHistory { diff_id: sha(1), created_by: "//images:static_layer".into() }])
                .unwrap();
        let expected = format!(
            concat!(
                r#"{{"architecture":"arm64","config":{{"Env":["PATH=/usr/bin:/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],"#,
                r#""User":"65532","WorkingDir":"/home/nonroot"}},"created":"1970-01-01T00:00:00Z","#,
                r#""history":[{{"created":"1970-01-01T00:00:00Z","created_by":"//images:static_layer"}}],"#,
                r#""os":"linux","rootfs":{{"diff_ids":["{}"],"type":"layers"}},"variant":"v8"}}"#
            ),
            sha(1).oci()
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn inherits_from_base_and_merges() {
        let base = br#"{"architecture":"amd64","os":"linux","variant":"v9","created":"2020-01-01T00:00:00Z",
            "config":{"Env":["PATH=/bin","LANG=C"],"Cmd":["sh"],"User":"0","WorkingDir":"/","ExposedPorts":{"80/tcp":{}},
                      "Labels":{"a":"1","b":"2"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:0101010101010101010101010101010101010101010101010101010101010101"]},
            "history":[{"created":"2020-01-01T00:00:00Z","created_by":"base"}]}"#;
        let mut spec = ConfigSpec::new(Platform::linux("amd64"), 1_700_000_000);
        spec.env = vec![("PATH".into(), "/bin:/busybox".into()), ("X".into(), "y".into())];
        spec.entrypoint = Some(vec!["/busybox/sh".into()]);
        spec.labels.insert("b".into(), "3".into());
        let v = parse(
            &image_config(Some(base), &spec, &[LayerHistory { diff_id: sha(2), created_by: "//x:layer".into() }])
                .unwrap(),
        );
        let c = &v["config"];
        assert_eq!(c["Env"], serde_json::json!(["PATH=/bin:/busybox", "LANG=C", "X=y"]));
        assert_eq!(c["Entrypoint"], serde_json::json!(["/busybox/sh"]));
        assert!(c.get("Cmd").is_none(), "entrypoint without cmd clears the base's cmd");
        assert_eq!((c["User"].as_str(), c["WorkingDir"].as_str()), (Some("0"), Some("/")));
        assert_eq!(c["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(c["Labels"], serde_json::json!({"a": "1", "b": "3"}));
        assert!(v.get("variant").is_none());
        assert_eq!(v["created"], "2023-11-14T22:13:20Z");
        assert_eq!(v["rootfs"]["diff_ids"], serde_json::json!([sha(1).oci(), sha(2).oci()]));
        assert_eq!(v["history"][1], serde_json::json!({"created": "2023-11-14T22:13:20Z", "created_by": "//x:layer"}));
        assert_eq!(v["history"][0]["created_by"], "base");
    }

    #[test]
    fn explicit_empty_values_remove_and_bad_input_is_reported() {
        let base = br#"{"config":{"Entrypoint":["a"],"Cmd":["b"],"User":"1"}}"#;
        let mut spec = ConfigSpec::new(Platform::linux("amd64"), 0);
        spec.entrypoint = Some(vec![]);
        spec.cmd = Some(vec!["c".into()]);
        spec.user = Some(String::new());
        let v = parse(&image_config(Some(base), &spec, &[]).unwrap());
        assert_eq!(v["config"], serde_json::json!({"Cmd": ["c"]}));
        assert!(matches!(image_config(Some(b"[1]"), &spec, &[]), Err(ConfigError::BaseInvalid(_))));
        assert!(matches!(image_config(Some(b"{"), &spec, &[]), Err(ConfigError::BaseNotJson(_))));
        spec.env = vec![("A=B".into(), "c".into())];
        assert!(matches!(image_config(None, &spec, &[]), Err(ConfigError::BadEnvKey(_))));
    }
}
