//! `hushline enqueue`, `hushline worker` and `hushline queue status`: the NATS JetStream
//! work queue. Parsing, defaults from the configuration, and printing; the work is in
//! `hushline::queue`.

#[allow(clippy::wildcard_imports)]
use super::*;

use std::net::SocketAddr;
use std::time::Duration;

use hushline::config;
use hushline::io::Location;
use hushline::queue::worker::{self, WorkerConfig};
use hushline::queue::Queue;

#[derive(Args, Clone)]
pub struct EnqueueArgs {
    /// The archive: `s3://bucket/prefix`, `file:///folder` or a folder workers can reach.
    source: String,
    /// The queue's NATS server, `nats://HOST:PORT`.
    #[arg(long, env = "HUSHLINE_QUEUE")]
    queue: Option<String>,
}

#[derive(Args, Clone)]
pub struct WorkerArgs {
    /// The queue's NATS server, `nats://HOST:PORT`.
    #[arg(long, env = "HUSHLINE_QUEUE")]
    queue: Option<String>,
    /// Where outputs go (`s3://bucket/prefix`, `file:///folder` or a folder); each keeps
    /// its input's key.
    #[arg(long, env = "HUSHLINE_OUT")]
    out: Option<String>,
    /// Jobs worked on at once (whisper threads per job = cores / jobs).
    #[arg(long, env = "HUSHLINE_JOBS")]
    jobs: Option<usize>,
    /// Serve Prometheus metrics and /healthz, /readyz on this address.
    #[arg(long, env = "HUSHLINE_METRICS")]
    metrics: Option<SocketAddr>,
    /// On SIGTERM, how long current jobs may run before they are handed back.
    #[arg(long, default_value_t = 20.0)]
    drain_seconds: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Clone)]
pub enum QueueCommand {
    /// Print pending, in flight, done and dead job counts.
    Status {
        #[arg(long, env = "HUSHLINE_QUEUE")]
        queue: Option<String>,
        /// One JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
    },
}

fn queue_url(cli: Option<String>) -> Result<String> {
    cli.or_else(|| config::get().worker.queue.clone())
        .context("no queue: pass --queue nats://HOST:PORT (or HUSHLINE_QUEUE, or [worker] queue in the configuration)")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn enqueue(args: EnqueueArgs) -> Result<ExitCode> {
    let url = queue_url(args.queue)?;
    let source = Location::parse(&args.source)?;
    let done = runtime()?.block_on(async {
        let queue = Queue::connect(&url).await?;
        queue.enqueue(&source).await
    })?;
    println!(
        "{} job(s) enqueued from {source}, {} already queued, {} non-audio object(s) ignored",
        done.published, done.duplicates, done.ignored
    );
    Ok(ExitCode::SUCCESS)
}

pub fn status(command: QueueCommand) -> Result<ExitCode> {
    let QueueCommand::Status { queue, json } = command;
    let url = queue_url(queue)?;
    let status = runtime()?.block_on(async { Queue::connect(&url).await?.status().await })?;
    if json {
        println!("{}", serde_json::to_string(&status)?);
    } else {
        println!(
            "pending {}  in flight {}  done {}  dead {}",
            status.pending, status.in_flight, status.done, status.dead
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_worker(args: WorkerArgs) -> Result<ExitCode> {
    let settings = &config::get().worker;
    let url = queue_url(args.queue)?;
    let out = args
        .out
        .or_else(|| settings.out.clone())
        .context("no output: pass --out URL (or HUSHLINE_OUT, or [worker] out)")?;
    let jobs = args.jobs.or(settings.jobs).unwrap_or_else(default_jobs);
    let metrics = match args.metrics {
        Some(addr) => Some(addr),
        None => settings
            .metrics
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("[worker] metrics must be ADDR:PORT")?,
    };
    if !(args.drain_seconds.is_finite() && args.drain_seconds >= 0.0) {
        bail!("--drain-seconds must be 0 or more");
    }
    if let Some(addr) = metrics {
        let bound =
            hushline::metrics::start(addr).with_context(|| format!("serving metrics on {addr}"))?;
        tracing::info!("metrics on http://{bound}/metrics, health on /healthz and /readyz");
    }
    let keyring = load_keyring(args.common.key_file.as_deref())?;
    let engine: Arc<dyn EngineChoice> = engine_choice(&args.common, &keyring, jobs)?.into();
    let cfg = WorkerConfig {
        jobs,
        out: Location::parse(&out)?,
        drain_timeout: Duration::from_secs_f64(args.drain_seconds),
    };
    let summary = runtime()?.block_on(async {
        let queue = Queue::connect(&url).await?;
        tracing::info!(
            "worker: {jobs} job(s) at once from {url}, outputs to {}",
            cfg.out
        );
        worker::run(queue, engine, cfg, live_cmd::shutdown_signal()).await
    })?;
    tracing::info!(
        "worker stopped: {} done, {} already done, {} dead-lettered, {} handed back",
        summary.done,
        summary.skipped,
        summary.dead,
        summary.handed_back
    );
    Ok(ExitCode::SUCCESS)
}
