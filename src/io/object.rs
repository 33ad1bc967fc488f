//! Object storage through the `object_store` crate: `s3://bucket/prefix` (any S3-compatible
//! store; credentials, region and endpoint from the standard AWS variables, e.g.
//! `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP=true`) and `file:///folder`.
//!
//! The pipeline runs on plain threads, so this module offers blocking calls, each driven
//! on one process-wide I/O runtime. Call them from plain threads or `spawn_blocking`,
//! never from inside an async task. Reads land in zeroized memory; writes are buffered
//! and uploaded in parts once large, and become visible only when committed.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use tokio::io::AsyncWriteExt;
use zeroize::Zeroizing;

use super::{InputEntry, Output, StorageError};

/// Outputs up to this size are sent in one request; larger ones as a multipart upload
/// in parts of this size.
pub const UPLOAD_BUFFER: usize = 10 << 20;
/// S3 refuses parts smaller than 5 MiB (except the last).
pub const MIN_PART: usize = 5 << 20;

/// The runtime every object request runs on (its own threads, so callers need none).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hushline-io")
            .enable_all()
            .build()
            .expect("start the object storage runtime")
    })
}

/// A prefix ("folder") in an object store.
#[derive(Clone)]
pub struct StorePrefix {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket` or `file://`, for messages.
    root: String,
    prefix: ObjectPath,
    upload_buffer: usize,
}

impl std::fmt::Debug for StorePrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StorePrefix({})", self.url(""))
    }
}

impl StorePrefix {
    /// Parses `s3://bucket/prefix` or `file:///folder`.
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let url = url::Url::parse(text)
            .map_err(|e| StorageError::BadUrl(format!("{text}: not a URL ({e})")))?;
        let bad = |why: &str| StorageError::BadUrl(format!("{text}: {why}"));
        let object_err = |source| StorageError::Object {
            url: text.to_string(),
            source,
        };
        let (store, root, prefix): (Arc<dyn ObjectStore>, String, String) = match url.scheme() {
            "s3" => {
                let bucket = url.host_str().ok_or_else(|| bad("no bucket"))?;
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(object_err)?;
                (
                    Arc::new(store),
                    format!("s3://{bucket}"),
                    url.path().to_string(),
                )
            }
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| bad("not an absolute local path"))?;
                (
                    Arc::new(LocalFileSystem::new()),
                    "file://".to_string(),
                    path.to_string_lossy().into_owned(),
                )
            }
            other => {
                return Err(bad(&format!(
                    "unsupported scheme {other}: use s3:// or file://"
                )))
            }
        };
        Ok(StorePrefix {
            store,
            root,
            prefix: ObjectPath::from(prefix.trim_matches('/')),
            upload_buffer: UPLOAD_BUFFER,
        })
    }

    /// Uploads of more than `bytes` go in parts of that size (default [`UPLOAD_BUFFER`],
    /// at least [`MIN_PART`]).
    pub fn with_upload_buffer(mut self, bytes: usize) -> Self {
        self.upload_buffer = bytes.max(MIN_PART);
        self
    }

    /// The prefix of a relative folder inside this one.
    pub fn join(&self, relative: &str) -> StorePrefix {
        StorePrefix {
            prefix: self.path(relative),
            ..self.clone()
        }
    }

    /// This prefix's parent and its last segment: `s3://b/calls/a.wav` → (`s3://b/calls`,
    /// `a.wav`), for URLs naming one object.
    pub fn split_name(&self) -> (StorePrefix, String) {
        let text = self.prefix.as_ref();
        let (dir, name) = text.rsplit_once('/').unwrap_or(("", text));
        (
            StorePrefix {
                prefix: ObjectPath::from(dir),
                ..self.clone()
            },
            name.to_string(),
        )
    }

    /// The URL of `name` inside this prefix.
    pub fn url(&self, name: &str) -> String {
        let path = self.path(name);
        if self.root == "file://" {
            format!("file:///{path}")
        } else if path.as_ref().is_empty() {
            self.root.clone()
        } else {
            format!("{}/{path}", self.root)
        }
    }

    fn path(&self, name: &str) -> ObjectPath {
        let name = name.trim_matches('/');
        match (self.prefix.as_ref().is_empty(), name.is_empty()) {
            (_, true) => self.prefix.clone(),
            (true, false) => ObjectPath::from(name),
            (false, false) => ObjectPath::from(format!("{}/{name}", self.prefix)),
        }
    }

    fn object_err(&self, name: &str) -> impl Fn(object_store::Error) -> StorageError + '_ {
        let url = self.url(name);
        move |source| StorageError::Object {
            url: url.clone(),
            source,
        }
    }

    /// Every object under this prefix, keys relative to it, sorted.
    pub fn list(&self) -> Result<Vec<InputEntry>, StorageError> {
        let store = self.store.clone();
        let prefix = self.prefix.clone();
        let listed: Vec<object_store::Result<object_store::ObjectMeta>> =
            runtime().block_on(async move { store.list(Some(&prefix)).collect::<Vec<_>>().await });
        let base = self.prefix.as_ref();
        let mut out = Vec::new();
        for meta in listed {
            let meta = meta.map_err(self.object_err(""))?;
            let full = meta.location.as_ref();
            let key = if base.is_empty() {
                full
            } else {
                full.strip_prefix(base)
                    .and_then(|k| k.strip_prefix('/'))
                    .unwrap_or(full)
            };
            out.push(InputEntry {
                key: key.to_string(),
                size: meta.size,
                version: meta.e_tag.clone(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Reads object `name` into zeroized memory (refused above `limit` bytes).
    pub fn read(&self, name: &str, limit: u64) -> Result<Zeroizing<Vec<u8>>, StorageError> {
        let store = self.store.clone();
        let path = self.path(name);
        let url = self.url(name);
        let err = self.object_err(name);
        runtime().block_on(async move {
            let got = store.get(&path).await.map_err(&err)?;
            let size = got.meta.size;
            if size > limit {
                return Err(StorageError::TooLarge {
                    url,
                    bytes: size,
                    limit,
                });
            }
            // Sized up front: a growing Vec would leave copies of the call in freed memory.
            let mut buf = Zeroizing::new(Vec::with_capacity(size as usize));
            let mut body = got.into_stream();
            while let Some(part) = body.next().await {
                let part = part.map_err(&err)?;
                if buf.len() + part.len() > buf.capacity() {
                    return Err(StorageError::BadUrl(format!(
                        "{url}: the object is longer than its stated {size} bytes"
                    )));
                }
                buf.extend_from_slice(&part);
            }
            Ok(buf)
        })
    }

    /// Starts object `name`; it appears only when the writer is committed.
    pub fn create(&self, name: &str) -> ObjectWriter {
        ObjectWriter {
            inner: Some(BufWriter::with_capacity(
                self.store.clone(),
                self.path(name),
                self.upload_buffer,
            )),
            url: self.url(name),
        }
    }

    /// Deletes object `name`; a missing object is not an error.
    pub fn delete(&self, name: &str) -> Result<(), StorageError> {
        let store = self.store.clone();
        let path = self.path(name);
        match runtime().block_on(async move { store.delete(&path).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.object_err(name)(e)),
        }
    }
}

/// An object being uploaded: small ones in one request at commit, large ones in parts as
/// they fill. Dropped without [`Output::commit`], the upload is aborted and nothing appears.
pub struct ObjectWriter {
    inner: Option<BufWriter>,
    url: String,
}

impl ObjectWriter {
    fn writer(&mut self) -> std::io::Result<&mut BufWriter> {
        self.inner
            .as_mut()
            .ok_or_else(|| std::io::Error::other(format!("{}: upload already ended", self.url)))
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let writer = self.writer()?;
        runtime().block_on(writer.write_all(buf))?;
        Ok(buf.len())
    }

    /// Parts are sent as they fill; the rest waits for commit, which is what makes the
    /// object appear whole.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output for ObjectWriter {
    fn commit(mut self: Box<Self>) -> std::io::Result<()> {
        let mut writer = self.inner.take().expect("committed once");
        let url = self.url.clone();
        runtime()
            .block_on(writer.shutdown())
            .map_err(|e| std::io::Error::new(e.kind(), format!("{url}: {e}")))
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Some(mut writer) = self.inner.take() {
            // Not blocking: drop may run anywhere. An unfinished multipart upload is
            // invisible either way; aborting frees its parts.
            runtime().spawn(async move {
                let _ = writer.abort().await;
            });
        }
    }
}
