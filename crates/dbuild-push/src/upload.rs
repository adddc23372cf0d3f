//! One blob into the repository: skipped when the registry has it, mounted from a related
//! repository when it can be, else uploaded: one monolithic PUT up to the chunk size
//! ([`CHUNK`] unless asked otherwise), chunked PATCHes beyond, every byte streamed from the file.

use std::path::Path;

use dbuild_core::Sha256;

use crate::client::{Body, Client, RegistryError};

/// The default chunk size: blobs up to it go in one PUT; larger ones in PATCHes of this size.
pub const CHUNK: u64 = 32 << 20;

/// What happened to a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The registry had it already.
    Existing,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded, this many bytes.
    Uploaded(u64),
}

/// Where a blob's bytes are.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// Whether the repository holds blob `digest`.
pub fn exists(client: &Client, digest: &Sha256) -> Result<bool, RegistryError> {
    let url = client.url(&format!("blobs/{}", digest.oci()));
    let r = client.send("HEAD", &url, &[], Body::Empty)?;
    match r.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(Client::unexpected("HEAD", &url, &r)),
    }
}

fn with_query(url: &str, query: &str) -> String {
    format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' })
}

/// Pushes one blob of `size` bytes; `mount_from` (another repository of the same registry) is
/// asked to lend it first.
pub fn push_blob(
    client: &Client,
    digest: &Sha256,
    size: u64,
    source: Source,
    mount_from: Option<&str>,
    chunk: u64,
) -> Result<Outcome, RegistryError> {
    let chunk = chunk.max(1);
    if exists(client, digest)? {
        return Ok(Outcome::Existing);
    }
    let uploads = client.url("blobs/uploads/");
    let mut location = None;
    // A mount that fails opens an ordinary upload session, so only one source can be tried.
    if let Some(from) = mount_from.filter(|f| *f != client.repo.name) {
        let url = with_query(&uploads, &format!("mount={}&from={from}", digest.oci()));
        let r = client.send("POST", &url, &[], Body::Empty)?;
        match r.status {
            201 => return Ok(Outcome::Mounted),
            202 => location = r.location,
            _ => return Err(Client::unexpected("POST", &url, &r)),
        }
    }
    let location = match location {
        Some(l) => l,
        None => {
            let r = client.send("POST", &uploads, &[], Body::Empty)?;
            if r.status != 202 {
                return Err(Client::unexpected("POST", &uploads, &r));
            }
            r.location.ok_or_else(|| RegistryError::Protocol(format!("POST {uploads}: 202 without a Location")))?
        }
    };
    let mut location = client.absolute(&location);
    let octets = [("Content-Type", "application/octet-stream".to_string())];
    let body_at = |offset: u64, len: u64| match source {
        Source::File(path) => Body::File { path, offset, len },
        Source::Bytes(b) => Body::Bytes(&b[offset as usize..(offset + len) as usize]),
    };
    let final_body = if size <= chunk {
        body_at(0, size)
    } else {
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let headers = [octets[0].clone(), ("Content-Range", format!("{}-{}", offset, offset + len - 1))];
            let r = client.send("PATCH", &location, &headers, body_at(offset, len))?;
            if r.status != 202 {
                return Err(Client::unexpected("PATCH", &location, &r));
            }
            if let Some(l) = r.location {
                location = client.absolute(&l);
            }
            offset += len;
        }
        Body::Empty
    };
    let url = with_query(&location, &format!("digest={}", digest.oci()));
    let r = client.send("PUT", &url, &octets, final_body)?;
    if r.status != 201 {
        return Err(Client::unexpected("PUT", &url, &r));
    }
    Ok(Outcome::Uploaded(size))
}

/// The digest the registry has under `reference` (a tag or digest) for `media_type`, if any.
pub fn manifest_digest(client: &Client, reference: &str, accept: &str) -> Result<Option<String>, RegistryError> {
    let url = client.url(&format!("manifests/{reference}"));
    let r = client.send("HEAD", &url, &[("Accept", accept.to_string())], Body::Empty)?;
    match r.status {
        200 => Ok(Some(r.digest.unwrap_or_default())),
        404 => Ok(None),
        _ => Err(Client::unexpected("HEAD", &url, &r)),
    }
}

/// PUTs a manifest (or index) under `reference`; checks the digest the registry computed.
pub fn put_manifest(
    client: &Client,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<crate::client::Reply, RegistryError> {
    let url = client.url(&format!("manifests/{reference}"));
    let r = client.send("PUT", &url, &[("Content-Type", media_type.to_string())], Body::Bytes(bytes))?;
    if r.status != 201 {
        return Err(Client::unexpected("PUT", &url, &r));
    }
    let expected = Sha256::of_bytes(bytes).oci();
    if let Some(d) = &r.digest {
        if *d != expected {
            return Err(RegistryError::Protocol(format!(
                "PUT {url}: the registry stored the manifest as {d}, but its bytes are {expected}"
            )));
        }
    }
    Ok(r)
}
