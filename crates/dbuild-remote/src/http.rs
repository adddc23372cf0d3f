//! Bazel's HTTP cache protocol: `GET`/`PUT`/`HEAD` on `<prefix>/ac/<action sha256>` (a
//! serialized `ActionResult`) and `<prefix>/cas/<blob sha256>` (the blob's bytes). Any server
//! that stores what is PUT and serves it back works: nginx with WebDAV, bazel-remote, ….

use std::io::{self, Read, Write};
use std::sync::Arc;

use dbuild_core::Sha256;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::options::{redact_url, split_userinfo};
use crate::proto::{decode_action_result, encode_action_result};
use crate::{BlobDigest, NativeAction, RemoteCache, RemoteError, RemoteOptions, RemoteResult};

/// An AC entry is a small message; a larger answer is not one.
const MAX_AC_BYTES: u64 = 64 << 20;

pub struct HttpCache {
    agent: ureq::Agent,
    /// Without credentials and without a trailing `/`.
    base: String,
    shown: String,
    headers: Vec<(String, String)>,
}

impl HttpCache {
    pub fn new(opts: &RemoteOptions) -> Result<HttpCache, RemoteError> {
        let shown = redact_url(&opts.url);
        let config_err = |reason: String| RemoteError::Config { url: shown.clone(), reason };
        let (base, userinfo) = split_userinfo(&opts.url);
        let mut headers = opts.headers.clone();
        if let Some(userinfo) = userinfo {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(userinfo.as_bytes());
            headers.push(("Authorization".into(), format!("Basic {token}")));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .user_agent("dbuild");
        if let Some(ca) = &opts.ca_cert {
            let pem =
                std::fs::read(ca).map_err(|e| config_err(format!("cannot read the CA file {}: {e}", ca.display())))?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_, _>>()
                .map_err(|e| config_err(format!("the CA file {} is not valid PEM: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(config_err(format!("the CA file {} holds no certificate", ca.display())));
            }
            config = config.tls_config(TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(certs))).build());
        }
        Ok(HttpCache {
            agent: ureq::Agent::new_with_config(config.build()),
            base: base.trim_end_matches('/').to_string(),
            shown,
            headers,
        })
    }

    fn url_of(&self, kind: &str, sha256: &Sha256) -> String {
        format!("{}/{kind}/{}", self.base, sha256.to_hex())
    }

    fn transport(&self, op: &str, e: impl std::fmt::Display) -> RemoteError {
        RemoteError::Transport { url: self.shown.clone(), op: op.to_string(), reason: e.to_string() }
    }

    fn status(&self, op: &str, status: u16) -> RemoteError {
        RemoteError::Status { url: self.shown.clone(), op: op.to_string(), status }
    }

    /// GET into `out`, reading at most `limit` bytes; `Ok(false)` on 404.
    fn get(&self, kind: &str, sha256: &Sha256, limit: u64, out: &mut dyn Write) -> Result<bool, RemoteError> {
        let op = format!("GET {kind}/{}", sha256.to_hex());
        let mut req = self.agent.get(self.url_of(kind, sha256));
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        let resp = req.call().map_err(|e| self.transport(&op, e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(false),
            s => return Err(self.status(&op, s)),
        }
        // The bound is ours, not the client's: a longer answer is cut, and the caller sees the
        // surplus byte as a digest mismatch rather than a transport failure.
        let mut body = resp.into_body().into_with_config().limit(u64::MAX).reader().take(limit);
        copy(&mut body, out).map_err(|e| match e {
            CopyError::Read(e) => self.transport(&op, e),
            CopyError::Write(source) => RemoteError::Local { url: self.shown.clone(), op, source },
        })?;
        Ok(true)
    }

    fn put(&self, kind: &str, sha256: &Sha256, size: u64, data: &mut dyn Read) -> Result<(), RemoteError> {
        let op = format!("PUT {kind}/{}", sha256.to_hex());
        let mut req = self.agent.put(self.url_of(kind, sha256)).header("Content-Length", size.to_string());
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        let resp = req.send(ureq::SendBody::from_reader(data)).map_err(|e| self.transport(&op, e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            s => Err(self.status(&op, s)),
        }
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy(from: &mut dyn Read, to: &mut dyn Write) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..got]).map_err(CopyError::Write)?;
        n += got as u64;
    }
}

impl RemoteCache for HttpCache {
    fn url(&self) -> &str {
        &self.shown
    }

    fn action_digest(&self, action: &NativeAction<'_>) -> BlobDigest {
        crate::action_digest(action)
    }

    fn get_action_result(&self, action: &BlobDigest) -> Result<Option<RemoteResult>, RemoteError> {
        let mut bytes = Vec::new();
        if !self.get("ac", &action.sha256, MAX_AC_BYTES, &mut bytes)? {
            return Ok(None);
        }
        decode_action_result(&bytes).map(Some).map_err(|reason| RemoteError::Protocol {
            url: self.shown.clone(),
            op: format!("GET ac/{}", action.sha256.to_hex()),
            reason,
        })
    }

    fn put_action_result(&self, action: &BlobDigest, result: &RemoteResult) -> Result<(), RemoteError> {
        let bytes = encode_action_result(result);
        self.put("ac", &action.sha256, bytes.len() as u64, &mut &bytes[..])
    }

    fn find_missing_blobs(&self, blobs: &[BlobDigest]) -> Result<Vec<BlobDigest>, RemoteError> {
        let mut missing = Vec::new();
        for b in blobs {
            let op = format!("HEAD cas/{}", b.sha256.to_hex());
            let mut req = self.agent.head(self.url_of("cas", &b.sha256));
            for (n, v) in &self.headers {
                req = req.header(n, v);
            }
            let resp = req.call().map_err(|e| self.transport(&op, e))?;
            match resp.status().as_u16() {
                200 => {}
                404 => missing.push(*b),
                s => return Err(self.status(&op, s)),
            }
        }
        Ok(missing)
    }

    fn get_blob(&self, blob: &BlobDigest, out: &mut dyn Write) -> Result<bool, RemoteError> {
        // One byte more than expected is enough for the caller to see the blob is too long.
        self.get("cas", &blob.sha256, blob.size + 1, out)
    }

    fn put_blob(&self, blob: &BlobDigest, data: &mut dyn Read) -> Result<(), RemoteError> {
        self.put("cas", &blob.sha256, blob.size, data)
    }
}
