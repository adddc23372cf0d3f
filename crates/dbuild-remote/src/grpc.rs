//! The cache services of the Remote Execution API v2 over gRPC: Capabilities (checked once, on
//! first use: a server without SHA-256 is refused), FindMissingBlobs, BatchUpdateBlobs and
//! BatchReadBlobs for small blobs, ByteStream Write and Read in chunks for large ones, and
//! GetActionResult/UpdateActionResult, all under the instance name.
//!
//! The engine calls from its worker threads; the calls run on one small tokio runtime of our
//! own. A blob streams through a bounded channel, one chunk at a time, in both directions.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream::byte_stream_client::ByteStreamClient;
use bazel_remote_apis::google::bytestream::{ReadRequest, WriteRequest};
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use re::content_addressable_storage_client::ContentAddressableStorageClient;
use tonic::transport::{Channel, Endpoint};

use crate::options::redact_url;
use crate::proto::{from_proto, result_from_proto, result_to_proto, to_proto};
use crate::{BlobDigest, NativeAction, RemoteCache, RemoteError, RemoteOptions, RemoteResult};

/// Blobs up to this size go in batch requests; larger ones through ByteStream.
const BATCH_LIMIT: u64 = 1 << 20;
/// The size of one ByteStream chunk.
const CHUNK: usize = 1 << 20;
/// Room for a batch of `BATCH_LIMIT` and the message around it.
const MAX_MESSAGE: usize = 4 << 20;

const SHA256: i32 = re::digest_function::Value::Sha256 as i32;

pub struct GrpcCache {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    instance: String,
    shown: String,
    headers: Vec<(tonic::metadata::AsciiMetadataKey, tonic::metadata::AsciiMetadataValue)>,
    /// The outcome of the Capabilities check, made once; an error remembers whether the
    /// server could not be reached (a transport failure) or answered something unusable.
    capable: OnceLock<Result<u64, (bool, String)>>,
}

impl GrpcCache {
    pub fn new(opts: &RemoteOptions) -> Result<GrpcCache, RemoteError> {
        let shown = redact_url(&opts.url);
        let config_err = |reason: String| RemoteError::Config { url: shown.clone(), reason };
        let (scheme, rest) = opts.url.split_once("://").ok_or_else(|| config_err("the URL has no scheme".into()))?;
        if rest.contains('@') && rest.find('@') < rest.find('/').or(Some(rest.len())) {
            return Err(config_err("a gRPC URL takes no user or password; use --remote_header".into()));
        }
        let tls = scheme.eq_ignore_ascii_case("grpcs");
        let target = format!("{}://{}", if tls { "https" } else { "http" }, rest.trim_end_matches('/'));
        let mut endpoint = Endpoint::from_shared(target)
            .map_err(|e| config_err(format!("not a usable address: {e}")))?
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)));
        if tls {
            let mut config = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            if let Some(ca) = &opts.ca_cert {
                let pem = std::fs::read(ca)
                    .map_err(|e| config_err(format!("cannot read the CA file {}: {e}", ca.display())))?;
                config = config.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(config).map_err(|e| config_err(format!("TLS: {e}")))?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dbuild-remote")
            .enable_all()
            .build()
            .map_err(|e| config_err(format!("cannot start the gRPC client: {e}")))?;
        // Connected on first use, so a server that is down costs a warning, not the build.
        let channel = {
            let _guard = runtime.enter();
            endpoint.connect_lazy()
        };
        let mut headers = Vec::new();
        for (n, v) in &opts.headers {
            let name = n.to_ascii_lowercase().parse().map_err(|_| config_err("a header name is not valid".into()))?;
            let value = v.parse().map_err(|_| config_err(format!("the value of header {n} is not valid")))?;
            headers.push((name, value));
        }
        Ok(GrpcCache {
            runtime,
            channel,
            instance: opts.instance_name.clone(),
            shown,
            headers,
            capable: OnceLock::new(),
        })
    }

    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    pub(crate) fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        for (n, v) in &self.headers {
            req.metadata_mut().insert(n.clone(), v.clone());
        }
        req
    }

    pub(crate) fn status(&self, op: &str, s: tonic::Status) -> RemoteError {
        match s.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => RemoteError::Transport {
                url: self.shown.clone(),
                op: op.to_string(),
                reason: format!("{:?}: {}", s.code(), s.message()),
            },
            code => RemoteError::Protocol {
                url: self.shown.clone(),
                op: op.to_string(),
                reason: format!("{code:?}: {}", s.message()),
            },
        }
    }

    fn cas(&self) -> ContentAddressableStorageClient<Channel> {
        ContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    /// Checks once that the server caches with SHA-256; the largest batch it takes.
    fn capable(&self) -> Result<u64, RemoteError> {
        let outcome = self.capable.get_or_init(|| {
            let req = self.request(re::GetCapabilitiesRequest { instance_name: self.instance.clone() });
            let caps = self
                .runtime
                .block_on(CapabilitiesClient::new(self.channel.clone()).get_capabilities(req))
                .map_err(|s| match self.status("GetCapabilities", s) {
                    RemoteError::Transport { reason, .. } => (true, reason),
                    other => (false, other.to_string()),
                })?
                .into_inner();
            let cache = caps.cache_capabilities.unwrap_or_default();
            if !cache.digest_functions.contains(&SHA256) {
                let names: Vec<String> = cache
                    .digest_functions
                    .iter()
                    .map(|f| re::digest_function::Value::try_from(*f).map_or(f.to_string(), |v| v.as_str_name().into()))
                    .collect();
                return Err((
                    false,
                    format!(
                        "remote server {}: it does not offer SHA-256 digests (it offers {}); dbuild needs SHA-256",
                        self.shown,
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                ));
            }
            let max = u64::try_from(cache.max_batch_total_size_bytes).unwrap_or(0);
            Ok(if max == 0 { BATCH_LIMIT } else { max.min(BATCH_LIMIT) })
        });
        outcome.clone().map_err(|(transport, reason)| match transport {
            true => RemoteError::Transport { url: self.shown.clone(), op: "GetCapabilities".into(), reason },
            false => RemoteError::Config { url: self.shown.clone(), reason: strip(&reason) },
        })
    }

    /// The largest total of blobs one batch request may carry.
    pub fn batch_limit(&self) -> Result<u64, RemoteError> {
        self.capable()
    }

    /// Downloads small blobs in one BatchReadBlobs request (their total within
    /// [`GrpcCache::batch_limit`]); those the server lacks are left out. Unchecked: the caller
    /// hashes what it receives.
    pub fn get_batch(&self, digests: &[BlobDigest]) -> Result<Vec<(BlobDigest, Vec<u8>)>, RemoteError> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let req = self.request(re::BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: digests.iter().map(to_proto).collect(),
            digest_function: SHA256,
            ..Default::default()
        });
        let resp =
            self.runtime.block_on(self.cas().batch_read_blobs(req)).map_err(|s| self.status("BatchReadBlobs", s))?;
        let mut out = Vec::new();
        for r in resp.into_inner().responses {
            if r.status.as_ref().is_none_or(|s| s.code == 0) {
                let d = from_proto(r.digest.as_ref()).map_err(|reason| RemoteError::Protocol {
                    url: self.shown.clone(),
                    op: "BatchReadBlobs".into(),
                    reason,
                })?;
                out.push((d, r.data));
            }
        }
        Ok(out)
    }

    /// Uploads small blobs in one BatchUpdateBlobs request (their total within
    /// [`GrpcCache::batch_limit`]): a toolchain root's thousands of small files cost a few
    /// round trips, not one each.
    pub(crate) fn put_batch(&self, blobs: Vec<(BlobDigest, Vec<u8>)>) -> Result<(), RemoteError> {
        if blobs.is_empty() {
            return Ok(());
        }
        let req = self.request(re::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests: blobs
                .into_iter()
                .map(|(d, data)| re::batch_update_blobs_request::Request {
                    digest: Some(to_proto(&d)),
                    data,
                    compressor: 0,
                })
                .collect(),
            digest_function: SHA256,
        });
        let resp = self
            .runtime
            .block_on(self.cas().batch_update_blobs(req))
            .map_err(|s| self.status("BatchUpdateBlobs", s))?;
        for r in resp.into_inner().responses {
            if let Some(s) = r.status.filter(|s| s.code != 0) {
                return Err(RemoteError::Protocol {
                    url: self.shown.clone(),
                    op: "BatchUpdateBlobs".into(),
                    reason: format!("status {}: {}", s.code, s.message),
                });
            }
        }
        Ok(())
    }

    fn resource(&self, what: &str, d: &BlobDigest) -> String {
        let prefix = if self.instance.is_empty() { String::new() } else { format!("{}/", self.instance) };
        format!("{prefix}{what}blobs/{}/{}", d.sha256.to_hex(), d.size)
    }
}

/// The Capabilities message already names the server; `Config` will again.
fn strip(reason: &str) -> String {
    reason.split_once(": ").map_or(reason, |(_, r)| r).to_string()
}

/// A fresh upload id in UUID form (the resource name asks for one).
fn upload_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed =
        format!("{}-{}-{:?}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), std::time::SystemTime::now());
    let h = dbuild_core::Digest::of_bytes(seed.as_bytes()).to_hex();
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

impl RemoteCache for GrpcCache {
    fn url(&self) -> &str {
        &self.shown
    }

    fn action_digest(&self, action: &NativeAction<'_>) -> BlobDigest {
        crate::action_digest(action)
    }

    fn get_action_result(&self, action: &BlobDigest) -> Result<Option<RemoteResult>, RemoteError> {
        self.capable()?;
        let req = self.request(re::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(to_proto(action)),
            digest_function: SHA256,
            ..Default::default()
        });
        let op = "GetActionResult";
        match self.runtime.block_on(ActionCacheClient::new(self.channel.clone()).get_action_result(req)) {
            Ok(r) => result_from_proto(&r.into_inner()).map(Some).map_err(|reason| RemoteError::Protocol {
                url: self.shown.clone(),
                op: op.into(),
                reason,
            }),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status(op, s)),
        }
    }

    fn put_action_result(&self, action: &BlobDigest, result: &RemoteResult) -> Result<(), RemoteError> {
        self.capable()?;
        let req = self.request(re::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(to_proto(action)),
            action_result: Some(result_to_proto(result)),
            digest_function: SHA256,
            ..Default::default()
        });
        self.runtime
            .block_on(ActionCacheClient::new(self.channel.clone()).update_action_result(req))
            .map_err(|s| self.status("UpdateActionResult", s))?;
        Ok(())
    }

    fn find_missing_blobs(&self, blobs: &[BlobDigest]) -> Result<Vec<BlobDigest>, RemoteError> {
        self.capable()?;
        let mut missing = Vec::new();
        // A digest is ~80 bytes on the wire: ten thousand stay far below the message limit.
        for chunk in blobs.chunks(10_000) {
            let req = self.request(re::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: chunk.iter().map(to_proto).collect(),
                digest_function: SHA256,
            });
            let resp = self
                .runtime
                .block_on(self.cas().find_missing_blobs(req))
                .map_err(|s| self.status("FindMissingBlobs", s))?;
            for d in &resp.into_inner().missing_blob_digests {
                missing.push(from_proto(Some(d)).map_err(|reason| RemoteError::Protocol {
                    url: self.shown.clone(),
                    op: "FindMissingBlobs".into(),
                    reason,
                })?);
            }
        }
        Ok(missing)
    }

    fn get_blob(&self, blob: &BlobDigest, out: &mut dyn Write) -> Result<bool, RemoteError> {
        let batch = self.capable()?;
        let local = |source| RemoteError::Local { url: self.shown.clone(), op: "download".into(), source };
        if blob.size <= batch {
            let req = self.request(re::BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: vec![to_proto(blob)],
                digest_function: SHA256,
                ..Default::default()
            });
            let resp = self
                .runtime
                .block_on(self.cas().batch_read_blobs(req))
                .map_err(|s| self.status("BatchReadBlobs", s))?;
            let Some(r) = resp.into_inner().responses.into_iter().next() else { return Ok(false) };
            match r.status.map_or(0, |s| s.code) {
                0 => {}
                5 => return Ok(false),
                code => {
                    return Err(RemoteError::Protocol {
                        url: self.shown.clone(),
                        op: "BatchReadBlobs".into(),
                        reason: format!("status {code}"),
                    })
                }
            }
            out.write_all(&r.data).map_err(local)?;
            return Ok(true);
        }
        let req = self.request(ReadRequest { resource_name: self.resource("", blob), read_offset: 0, read_limit: 0 });
        let op = "ByteStream.Read";
        self.runtime.block_on(async {
            let mut stream = match ByteStreamClient::new(self.channel.clone()).read(req).await {
                Ok(s) => s.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(false),
                Err(s) => return Err(self.status(op, s)),
            };
            let mut got = 0u64;
            loop {
                match stream.message().await {
                    Ok(Some(msg)) => {
                        out.write_all(&msg.data).map_err(local)?;
                        got += msg.data.len() as u64;
                        // The caller notices a surplus; no need to take more than one byte of it.
                        if got > blob.size {
                            return Ok(true);
                        }
                    }
                    Ok(None) => return Ok(true),
                    Err(s) if s.code() == tonic::Code::NotFound && got == 0 => return Ok(false),
                    Err(s) => return Err(self.status(op, s)),
                }
            }
        })
    }

    fn put_blob(&self, blob: &BlobDigest, data: &mut dyn Read) -> Result<(), RemoteError> {
        let batch = self.capable()?;
        let local = |source| RemoteError::Local { url: self.shown.clone(), op: "upload".into(), source };
        if blob.size <= batch {
            let mut bytes = Vec::with_capacity(blob.size as usize);
            data.take(blob.size).read_to_end(&mut bytes).map_err(local)?;
            return self.put_batch(vec![(*blob, bytes)]);
        }
        // The chunks are read here, on the caller's thread, and handed to the RPC through a
        // channel of two: at most a few chunks are in memory at once.
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteRequest>(2);
        let req = self.request(tokio_stream::wrappers::ReceiverStream::new(rx));
        let mut client = ByteStreamClient::new(self.channel.clone());
        let rpc = self.runtime.spawn(async move { client.write(req).await });
        let resource = self.resource(&format!("uploads/{}/", upload_id()), blob);
        let mut offset = 0u64;
        let mut buf = vec![0u8; CHUNK];
        let mut sent = Ok(());
        loop {
            let n = match dbuild_core::read_full::read_full(data, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    sent = Err(local(e));
                    break;
                }
            };
            let finish = offset + n as u64 >= blob.size || n < buf.len();
            let msg = WriteRequest {
                resource_name: if offset == 0 { resource.clone() } else { String::new() },
                write_offset: offset as i64,
                finish_write: finish,
                data: buf[..n].to_vec(),
            };
            offset += n as u64;
            // A closed channel means the RPC ended early; its status says why.
            if tx.blocking_send(msg).is_err() || finish {
                break;
            }
        }
        drop(tx);
        let answer = self.runtime.block_on(rpc);
        sent?;
        match answer {
            Ok(Ok(_)) => Ok(()),
            // The server already holds the blob: it may end the stream at once.
            Ok(Err(s)) if s.code() == tonic::Code::AlreadyExists => Ok(()),
            Ok(Err(s)) => Err(self.status("ByteStream.Write", s)),
            Err(e) => Err(RemoteError::Transport {
                url: self.shown.clone(),
                op: "ByteStream.Write".into(),
                reason: e.to_string(),
            }),
        }
    }
}
