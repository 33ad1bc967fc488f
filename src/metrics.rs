//! Prometheus metrics and health endpoints for the long-running commands (`serve`,
//! `worker`), on `--metrics ADDR`:
//! * `GET /metrics`: the exposition text (Prometheus format);
//! * `GET /healthz`: 200 while the process runs (liveness);
//! * `GET /readyz`: 200 once it takes work, 503 while starting or draining (readiness).
//!
//! The metrics are process-wide (one registry), updated by the pipeline through the small
//! functions below. Counts and times only: never a value, a name or a digit of a call.
//! The endpoint runs on its own thread and runtime, so it answers whatever the rest does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::FileReport;

struct Metrics {
    registry: Registry,
    ready: AtomicBool,
    calls_active: Gauge,
    calls: Counter,
    jobs_active: Gauge,
    jobs_done: Counter,
    jobs_failed: Counter,
    audio_seconds: Counter<f64, AtomicU64>,
    processing_seconds: Counter<f64, AtomicU64>,
    x_realtime: Gauge<f64, AtomicU64>,
    fail_closed_seconds: Counter<f64, AtomicU64>,
    recognition_lag: Histogram,
    release_latency: Histogram,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("hushline");
        let m = Metrics {
            registry: Registry::default(),
            ready: AtomicBool::new(false),
            calls_active: Gauge::default(),
            calls: Counter::default(),
            jobs_active: Gauge::default(),
            jobs_done: Counter::default(),
            jobs_failed: Counter::default(),
            audio_seconds: Counter::default(),
            processing_seconds: Counter::default(),
            x_realtime: Gauge::default(),
            fail_closed_seconds: Counter::default(),
            recognition_lag: Histogram::new([0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0]),
            release_latency: Histogram::new([4.0, 4.5, 5.0, 5.1, 5.25, 5.5, 6.0, 7.0, 10.0]),
        };
        let r = &mut registry;
        r.register(
            "calls_active",
            "Live calls in progress",
            m.calls_active.clone(),
        );
        r.register("calls", "Live calls finalised", m.calls.clone());
        r.register(
            "jobs_active",
            "Queue jobs being redacted",
            m.jobs_active.clone(),
        );
        r.register(
            "jobs_done",
            "Queue jobs redacted and uploaded",
            m.jobs_done.clone(),
        );
        r.register(
            "jobs_failed",
            "Queue job attempts that failed (retried or dead-lettered)",
            m.jobs_failed.clone(),
        );
        r.register(
            "audio_seconds",
            "Seconds of audio redacted by queue jobs",
            m.audio_seconds.clone(),
        );
        r.register(
            "processing_seconds",
            "Wall seconds spent on redacted queue jobs",
            m.processing_seconds.clone(),
        );
        r.register(
            "x_realtime",
            "Speed of the last redacted job: audio seconds per wall second",
            m.x_realtime.clone(),
        );
        r.register(
            "fail_closed_seconds",
            "Audio bleeped whole because recognition could not vouch for it",
            m.fail_closed_seconds.clone(),
        );
        r.register(
            "recognition_lag_seconds",
            "Live: newest audio minus what recognition has heard, at each release",
            m.recognition_lag.clone(),
        );
        r.register(
            "release_latency_seconds",
            "Live: end of a redacted item's audio arriving to its bleeped audio released",
            m.release_latency.clone(),
        );
        Metrics { registry, ..m }
    })
}

/// Readiness: true once the process takes work, false while starting or draining.
pub fn set_ready(ready: bool) {
    metrics().ready.store(ready, Ordering::SeqCst);
}

pub fn call_started() {
    metrics().calls_active.inc();
}

pub fn call_ended(fail_closed_s: f64) {
    let m = metrics();
    m.calls_active.dec();
    m.calls.inc();
    m.fail_closed_seconds.inc_by(fail_closed_s.max(0.0));
}

pub fn observe_recognition_lag(seconds: f64) {
    metrics().recognition_lag.observe(seconds);
}

pub fn observe_release_latency(seconds: f64) {
    metrics().release_latency.observe(seconds);
}

pub fn job_started() {
    metrics().jobs_active.inc();
}

pub fn job_finished() {
    metrics().jobs_active.dec();
}

pub fn job_done(report: &FileReport) {
    let m = metrics();
    m.jobs_done.inc();
    m.audio_seconds.inc_by(report.duration_s);
    m.processing_seconds.inc_by(report.processing_s);
    m.x_realtime.set(report.x_realtime());
    m.fail_closed_seconds.inc_by(report.fail_closed_s);
}

pub fn job_failed() {
    metrics().jobs_failed.inc();
}

/// The exposition text of every metric.
pub fn render() -> String {
    let mut text = String::new();
    encode(&mut text, &metrics().registry).expect("writing to a String cannot fail");
    text
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` from a thread of its own.
/// Returns the bound address (port 0 picks a free one).
pub fn start(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("hushline-metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "metrics endpoint failed");
                        return;
                    }
                };
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let service = hyper::service::service_fn(|req| async move {
                            Ok::<_, std::convert::Infallible>(respond(&req))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            })
        })?;
    Ok(bound)
}

fn respond<B>(req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if metrics().ready.load(Ordering::SeqCst) => {
            (StatusCode::OK, "text/plain", "ready\n".to_string())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
