//! `hushline worker`: pulls jobs from the durable consumer, redacts each into the output
//! location, then acknowledges it.
//!
//! One job per free slot (`--jobs`), pulled one at a time so no job waits in a worker's
//! buffer while its acknowledgement clock runs. While a job is worked on, progress acks
//! keep it from being redelivered; a worker that dies leaves its job to be redelivered
//! after [`super::ACK_WAIT`]. Outcomes:
//! * done (or already done: outputs complete) → a record on `hushline.done`, then ack;
//! * the input is at fault (not audio, corrupt) → dead letter at once, then ack;
//! * anything else (a store or the machine failed) → handed back for another try, and
//!   dead-lettered once [`super::MAX_DELIVERIES`] deliveries have failed;
//! * drain (SIGTERM) → no new jobs; current ones finish within the drain time or are
//!   handed back at once.
//!
//! Must not hold audio itself (the pipeline does) nor put digits or audio in a reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::message::{AckKind, Acker};
use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::{
    js_err, DeadLetter, Job, Queue, QueueError, CONSUMER, DEAD_SUBJECT, DONE_SUBJECT, JOBS_STREAM,
    MAX_DELIVERIES,
};
use crate::io::{InputEntry, Location};
use crate::metrics;
use crate::pipeline::batch::redact_entry;
use crate::pipeline::choose::EngineChoice;
use crate::pipeline::{FileReport, PipelineError};

/// How long one pull waits for a job before asking again (and noticing a drain).
const PULL_WAIT: Duration = Duration::from_secs(2);
/// A job handed back after a failure that may pass is redelivered after this long.
const RETRY_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs worked on at once.
    pub jobs: usize,
    /// Where outputs go; each keeps its input's key.
    pub out: Location,
    /// After a drain starts, how long current jobs may take before they are handed back.
    pub drain_timeout: Duration,
}

/// What a worker did, for its last words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub done: usize,
    pub skipped: usize,
    pub dead: usize,
    pub handed_back: usize,
}

struct Ctx {
    queue: Queue,
    engine: Arc<dyn EngineChoice>,
    out: Location,
    cancel: Arc<AtomicBool>,
    sources: Mutex<HashMap<String, Location>>,
    summary: Mutex<WorkerSummary>,
}

/// Works until `shutdown` completes, then drains.
pub async fn run(
    queue: Queue,
    engine: Arc<dyn EngineChoice>,
    cfg: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<WorkerSummary, QueueError> {
    let consumer: PullConsumer = queue
        .js
        .get_stream(JOBS_STREAM)
        .await
        .map_err(js_err)?
        .get_consumer(CONSUMER)
        .await
        .map_err(js_err)?;
    let ctx = Arc::new(Ctx {
        queue,
        engine,
        out: cfg.out.clone(),
        cancel: Arc::new(AtomicBool::new(false)),
        sources: Mutex::new(HashMap::new()),
        summary: Mutex::new(WorkerSummary::default()),
    });
    let draining = Arc::new(AtomicBool::new(false));
    let drain_started = Arc::new(Notify::new());
    let slots = Arc::new(Semaphore::new(cfg.jobs.max(1)));
    let mut tasks = JoinSet::new();
    metrics::set_ready(true);

    let watcher = {
        let (draining, drain_started) = (draining.clone(), drain_started.clone());
        async move {
            shutdown.await;
            tracing::info!("draining: no new jobs; finishing or handing back the current ones");
            draining.store(true, Ordering::SeqCst);
            metrics::set_ready(false);
            drain_started.notify_waiters();
        }
    };
    let pulling = async {
        while !draining.load(Ordering::SeqCst) {
            let permit = tokio::select! {
                _ = drain_started.notified() => break,
                p = slots.clone().acquire_owned() => p.expect("slots stay open"),
            };
            let mut batch = match consumer
                .batch()
                .max_messages(1)
                .expires(PULL_WAIT)
                .messages()
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot pull from the queue; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            while let Some(message) = batch.next().await {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(error = %e, "pull ended");
                        continue;
                    }
                };
                if draining.load(Ordering::SeqCst) {
                    // Arrived as the drain began: hand it straight back.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    continue;
                }
                let ctx = ctx.clone();
                let permit = permit;
                tasks.spawn(async move {
                    handle(&ctx, message).await;
                    drop(permit);
                });
                break;
            }
            while tasks.try_join_next().is_some() {}
        }
    };
    tokio::join!(watcher, pulling);

    // Drain: let current jobs finish for a while, then hand them back.
    let finished = tokio::time::timeout(cfg.drain_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::info!("drain time is up: handing the current jobs back");
        ctx.cancel.store(true, Ordering::SeqCst);
        while tasks.join_next().await.is_some() {}
    }
    let _ = ctx.queue.client.flush().await;
    let summary = ctx.summary.lock().expect("summary lock").clone();
    Ok(summary)
}

enum Outcome {
    Done(Box<FileReport>),
    Skipped,
    Failed(PipelineError),
}

async fn handle(ctx: &Arc<Ctx>, message: async_nats::jetstream::Message) {
    let deliveries = message.info().map_or(1, |i| i.delivered);
    let (message, acker) = message.split();
    let acker = Arc::new(acker);
    let Ok(job) = serde_json::from_slice::<Job>(&message.payload) else {
        let job = Job {
            source: String::new(),
            key: String::new(),
            size: 0,
            version: None,
        };
        dead_letter(ctx, &acker, job, "not a hushline job".into(), deliveries).await;
        return;
    };
    let url = format!("{}/{}", job.source.trim_end_matches('/'), job.key);
    if deliveries > MAX_DELIVERIES {
        let reason = "given up: every worker that took it stopped before finishing".to_string();
        dead_letter(ctx, &acker, job, reason, deliveries).await;
        return;
    }
    tracing::info!(job = %url, deliveries, "started");
    metrics::job_started();
    let keepalive = {
        let acker = acker.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(super::ACK_WAIT / 3).await;
                if let Err(e) = acker.ack_with(AckKind::Progress).await {
                    tracing::warn!(error = %e, "progress ack failed");
                }
            }
        })
    };
    let started = Instant::now();
    let outcome = {
        let (ctx, job) = (ctx.clone(), job.clone());
        tokio::task::spawn_blocking(move || work(&ctx, &job)).await
    };
    keepalive.abort();
    metrics::job_finished();
    let outcome = outcome.unwrap_or_else(|panic| {
        Outcome::Failed(PipelineError::Io {
            context: "the job's thread".into(),
            source: std::io::Error::other(if panic.is_panic() {
                "panicked"
            } else {
                "was cancelled"
            }),
        })
    });
    match outcome {
        Outcome::Done(report) => {
            tracing::info!(
                job = %url,
                seconds = started.elapsed().as_secs_f64(),
                audio_s = report.duration_s,
                x_realtime = report.x_realtime(),
                "done"
            );
            metrics::job_done(&report);
            finish(ctx, &acker, &job, false).await;
        }
        Outcome::Skipped => {
            tracing::info!(job = %url, "outputs already complete; done");
            finish(ctx, &acker, &job, true).await;
        }
        Outcome::Failed(e) if matches!(e.root(), PipelineError::Cancelled) => {
            tracing::info!(job = %url, "handed back (drain)");
            let _ = acker.ack_with(AckKind::Nak(None)).await;
            ctx.summary.lock().expect("summary lock").handed_back += 1;
        }
        Outcome::Failed(e) if e.is_input_fault() || deliveries >= MAX_DELIVERIES => {
            metrics::job_failed();
            let reason = dead_reason(&e, &url);
            tracing::warn!(job = %url, reason = %reason, "dead-lettered");
            dead_letter(ctx, &acker, job, reason, deliveries).await;
        }
        Outcome::Failed(e) => {
            metrics::job_failed();
            tracing::warn!(job = %url, error = %dead_reason(&e, &url), deliveries, "failed; handed back for another try");
            let _ = acker.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
            ctx.summary.lock().expect("summary lock").handed_back += 1;
        }
    }
}

/// The blocking part of a job: read the object, redact, upload.
fn work(ctx: &Ctx, job: &Job) -> Outcome {
    let source = {
        let mut sources = ctx.sources.lock().expect("sources lock");
        match sources.get(&job.source) {
            Some(s) => s.clone(),
            None => match Location::parse(&job.source) {
                Ok(s) => {
                    sources.insert(job.source.clone(), s.clone());
                    s
                }
                Err(e) => return Outcome::Failed(e.into()),
            },
        }
    };
    let entry = InputEntry {
        key: job.key.clone(),
        size: job.size,
        version: job.version.clone(),
    };
    match redact_entry(ctx.engine.as_ref(), &entry, &source, &ctx.out, &ctx.cancel) {
        Ok(Some(report)) => Outcome::Done(Box::new(report)),
        Ok(None) => Outcome::Skipped,
        Err(e) => Outcome::Failed(e),
    }
}

/// Records the job as done (once, whatever the deliveries), then acknowledges it. If the
/// record cannot be written the job is handed back: its outputs are complete, so the next
/// delivery only records it.
async fn finish(ctx: &Ctx, acker: &Acker, job: &Job, skipped: bool) {
    match publish_once(&ctx.queue, DONE_SUBJECT, job, serde_json::to_vec(job)).await {
        Ok(()) => {
            if let Err(e) = acker.double_ack().await {
                tracing::warn!(error = %e, "ack failed; the job will be delivered again and skipped");
            }
            let mut s = ctx.summary.lock().expect("summary lock");
            if skipped {
                s.skipped += 1;
            } else {
                s.done += 1;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a done job; handing it back");
            let _ = acker.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
        }
    }
}

async fn dead_letter(ctx: &Ctx, acker: &Acker, job: Job, reason: String, deliveries: i64) {
    let letter = DeadLetter {
        job: job.clone(),
        reason,
        deliveries,
    };
    match publish_once(&ctx.queue, DEAD_SUBJECT, &job, serde_json::to_vec(&letter)).await {
        Ok(()) => {
            let _ = acker.double_ack().await;
            ctx.summary.lock().expect("summary lock").dead += 1;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot publish a dead letter; handing the job back");
            let _ = acker.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
        }
    }
}

/// Publishes on `subject` with the job's id, so a repeat (after a crash) is dropped.
async fn publish_once(
    queue: &Queue,
    subject: &'static str,
    job: &Job,
    payload: serde_json::Result<Vec<u8>>,
) -> Result<(), QueueError> {
    let payload = payload.map_err(js_err)?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", job.id().as_str());
    queue
        .js
        .publish_with_headers(subject, headers, payload.into())
        .await
        .map_err(js_err)?
        .await
        .map_err(js_err)?;
    Ok(())
}

/// Why a job failed, for the dead letter and the log: the error without the input's
/// name (the job carries it) and with every digit replaced by `#`, so no number from a
/// name, a message or a dependency can travel in a reason.
pub fn dead_reason(error: &PipelineError, input_url: &str) -> String {
    let text = error.to_string();
    let name = input_url.rsplit('/').next().unwrap_or(input_url);
    let mut text = text.replace(input_url, "the input");
    if !name.is_empty() {
        text = text.replace(name, "the input");
    }
    let text = text
        .strip_prefix("the input: ")
        .map(str::to_string)
        .unwrap_or(text);
    let masked: String = text
        .chars()
        .map(|c| if c.is_numeric() { '#' } else { c })
        .collect();
    // "1234 of 56789 frames (0.15 s)" reads "# of # frames (# s)".
    static NUMBER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    NUMBER
        .get_or_init(|| regex::Regex::new(r"#[#.,]*").expect("a valid pattern"))
        .replace_all(&masked, "#")
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioError;

    #[test]
    fn reasons_hold_no_digits_and_no_name() {
        let e = PipelineError::Audio(AudioError::Corrupt {
            path: "s3://b/calls/4111111111111111.wav".into(),
            frame: 1234,
            seconds: 0.5,
            detail: "bad packet 77".into(),
        });
        let reason = dead_reason(&e, "s3://b/calls/4111111111111111.wav");
        assert!(!reason.chars().any(|c| c.is_ascii_digit()), "{reason}");
        assert!(!reason.contains("calls"), "{reason}");
        assert!(
            reason.starts_with("the stream is corrupt at frame # (~# s)"),
            "{reason}"
        );
        assert!(e.is_input_fault());
    }
}
