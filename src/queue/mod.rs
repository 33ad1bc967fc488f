//! The work queue on NATS JetStream: `enqueue` publishes one job per audio object,
//! `worker` pulls and redacts them, `queue status` counts them.
//!
//! Layout on the server (created on first use, idempotently):
//! * stream `HUSHLINE_JOBS` (subject `hushline.jobs`, work-queue retention: a job leaves
//!   the stream when a worker acknowledges it) with the durable pull consumer `workers`
//!   (explicit ack, [`ACK_WAIT`]); a job's `Nats-Msg-Id` is a hash of its object, so
//!   enqueueing the same archive again within [`DUPLICATE_WINDOW`] adds nothing (and past
//!   it, a worker skips inputs whose outputs are already complete);
//! * stream `HUSHLINE_DONE` (`hushline.done`): one record per finished job, deduplicated
//!   by the same id, so `done` counts jobs, not deliveries;
//! * stream `HUSHLINE_DEAD` (`hushline.dead`): jobs given up on, with a reason that holds
//!   no audio and no digits.
//!
//! Owns the job format, the server layout and counting; the worker loop is in [`worker`].
//! Must not touch audio.

pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::io::{InputEntry, Location};

pub const JOBS_STREAM: &str = "HUSHLINE_JOBS";
pub const JOBS_SUBJECT: &str = "hushline.jobs";
pub const DONE_STREAM: &str = "HUSHLINE_DONE";
pub const DONE_SUBJECT: &str = "hushline.done";
pub const DEAD_STREAM: &str = "HUSHLINE_DEAD";
pub const DEAD_SUBJECT: &str = "hushline.dead";
pub const CONSUMER: &str = "workers";

/// A delivery not acknowledged (nor kept alive with a progress ack) for this long is
/// handed to another worker: what a killed worker costs its job.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// How long a job id is remembered for de-duplication.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Deliveries of one job before it is dead-lettered: a job that failed for a reason
/// that may pass (storage down) is retried, a job that kills its workers is not
/// retried forever.
pub const MAX_DELIVERIES: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{url}: cannot connect to NATS ({detail})")]
    Connect { url: String, detail: String },
    #[error("NATS JetStream: {0}")]
    JetStream(String),
    #[error(transparent)]
    Storage(#[from] crate::io::StorageError),
}

fn js_err(e: impl std::fmt::Display) -> QueueError {
    QueueError::JetStream(e.to_string())
}

/// One unit of work: an audio object, named by the URL of the enqueued prefix and its
/// key below it (outputs keep that key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub source: String,
    pub key: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Job {
    /// The de-duplication id: the same object (and version) always gets the same id.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.source.as_str(),
            self.key.as_str(),
            self.version.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// A job given up on, as published on [`DEAD_SUBJECT`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub job: Job,
    /// Why, in words: no audio content, no digits.
    pub reason: String,
    pub deliveries: i64,
}

/// Counts for `queue status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Waiting for a worker (including jobs handed back for another try).
    pub pending: u64,
    /// Delivered to a worker and not yet acknowledged.
    pub in_flight: u64,
    pub done: u64,
    pub dead: u64,
}

/// A connection to the queue's server, with the streams and the consumer in place.
pub struct Queue {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
}

impl Queue {
    /// Connects to `nats://HOST:PORT` and creates what is missing.
    pub async fn connect(url: &str) -> Result<Queue, QueueError> {
        let client = async_nats::ConnectOptions::new()
            .name("hushline")
            .connect(url)
            .await
            .map_err(|e| QueueError::Connect {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let queue = Queue { client, js };
        queue.ensure_layout().await?;
        Ok(queue)
    }

    async fn ensure_layout(&self) -> Result<(), QueueError> {
        let jobs = self
            .js
            .get_or_create_stream(stream::Config {
                name: JOBS_STREAM.into(),
                subjects: vec![JOBS_SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(js_err)?;
        for (name, subject) in [(DONE_STREAM, DONE_SUBJECT), (DEAD_STREAM, DEAD_SUBJECT)] {
            self.js
                .get_or_create_stream(stream::Config {
                    name: name.into(),
                    subjects: vec![subject.into()],
                    storage: stream::StorageType::File,
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                })
                .await
                .map_err(js_err)?;
        }
        jobs.get_or_create_consumer(
            CONSUMER,
            consumer::pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                // The bound is the worker's (MAX_DELIVERIES): it dead-letters with a reason,
                // where a server-side limit would leave the job stuck in the stream.
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .map_err(js_err)?;
        Ok(())
    }

    /// Publishes one job per audio input under `source` (a URL workers can reach).
    pub async fn enqueue(&self, source: &Location) -> Result<Enqueued, QueueError> {
        let source_url = match source {
            Location::Dir(dir) => {
                let abs = std::path::absolute(dir).map_err(|e| {
                    QueueError::Storage(crate::io::StorageError::Local {
                        context: format!("resolving {}", dir.display()),
                        source: e,
                    })
                })?;
                format!("file://{}", abs.display())
            }
            Location::Store(prefix) => prefix.url(""),
        };
        let listed = {
            let source = source.clone();
            tokio::task::spawn_blocking(move || source.list_audio())
                .await
                .map_err(js_err)??
        };
        let (entries, ignored) = listed;
        let mut acks = Vec::with_capacity(entries.len());
        for InputEntry { key, size, version } in entries {
            let job = Job {
                source: source_url.clone(),
                key,
                size,
                version,
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", job.id().as_str());
            let payload = serde_json::to_vec(&job).expect("jobs are plain data");
            acks.push(
                self.js
                    .publish_with_headers(JOBS_SUBJECT, headers, payload.into())
                    .await
                    .map_err(js_err)?,
            );
        }
        let mut out = Enqueued {
            ignored,
            ..Enqueued::default()
        };
        for ack in acks {
            if ack.await.map_err(js_err)?.duplicate {
                out.duplicates += 1;
            } else {
                out.published += 1;
            }
        }
        Ok(out)
    }

    pub async fn status(&self) -> Result<Status, QueueError> {
        let count = |name: &'static str| async move {
            let mut s = self.js.get_stream(name).await.map_err(js_err)?;
            Ok::<u64, QueueError>(s.info().await.map_err(js_err)?.state.messages)
        };
        let queued = count(JOBS_STREAM).await?;
        let jobs = self.js.get_stream(JOBS_STREAM).await.map_err(js_err)?;
        let consumer = jobs.consumer_info(CONSUMER).await.map_err(js_err)?;
        let in_flight = consumer.num_ack_pending as u64;
        Ok(Status {
            pending: queued.saturating_sub(in_flight),
            in_flight,
            done: count(DONE_STREAM).await?,
            dead: count(DEAD_STREAM).await?,
        })
    }
}

/// What `enqueue` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enqueued {
    pub published: usize,
    /// Jobs the server already had (same object, within the de-duplication window).
    pub duplicates: usize,
    /// Non-audio objects skipped.
    pub ignored: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_object_gets_the_same_id() {
        let job = Job {
            source: "s3://archive/2024".into(),
            key: "a/call.wav".into(),
            size: 10,
            version: Some("\"e1\"".into()),
        };
        assert_eq!(job.id(), job.clone().id());
        let other = Job {
            key: "a/call2.wav".into(),
            ..job.clone()
        };
        assert_ne!(job.id(), other.id());
        let changed = Job {
            version: Some("\"e2\"".into()),
            ..job.clone()
        };
        assert_ne!(job.id(), changed.id());
    }
}
