//! `hushline serve` and `hushline listen`: argument parsing and printing for live calls.
//! The feed goes to stdout as JSON lines; logs go to stderr. No logic beyond defaults.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use hushline::live::tls::TlsListen;
use hushline::live::{parse_port_range, Policy, ServerConfig};
use hushline::pipeline::live::{self, FeedLine, LiveConfig};

use super::{build_engine_with, load_keyring, Common};

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Where to receive SIP, over UDP and TCP [default: 0.0.0.0:5060, or `[serve] sip`].
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// Where each call's `ID.wav.enc` and `ID.transcript.json` go (or `[serve] out`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Local ports for RTP, LO-HI [default: 20000-20999, or `[serve] rtp_ports`].
    #[arg(long, value_parser = port_range)]
    rtp_ports: Option<(u16, u16)>,
    /// Serve Prometheus metrics and /healthz, /readyz on this address.
    #[arg(long, env = "HUSHLINE_METRICS")]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    security: SecurityArgs,
    #[command(flatten)]
    live: LiveArgs,
    #[command(flatten)]
    common: Common,
}

/// SIP over TLS and what a call must use (DESIGN.md §4 "Transport security").
#[derive(Args, Clone)]
pub struct SecurityArgs {
    /// Also receive SIP over TLS here (e.g. 0.0.0.0:5061); needs --tls-cert and --tls-key.
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    sip_tls: Option<SocketAddr>,
    /// The server's certificate chain (PEM).
    #[arg(long, requires = "sip_tls")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM; mode 0600).
    #[arg(long, requires = "sip_tls")]
    tls_key: Option<PathBuf>,
    /// Require TLS clients to present a certificate signed by a CA in this PEM bundle.
    #[arg(long, requires = "sip_tls")]
    tls_client_ca: Option<PathBuf>,
    /// Refuse calls (488) whose INVITE did not come over TLS.
    #[arg(long, requires = "sip_tls")]
    require_tls: bool,
    /// Refuse plain RTP (488): every recorded stream must be SRTP.
    #[arg(long)]
    require_srtp: bool,
    /// Accept SDES SRTP keys over UDP/TCP, where anyone on the path can read them.
    #[arg(long)]
    allow_sdes_over_udp: bool,
}

impl SecurityArgs {
    fn apply(&self, server: &mut ServerConfig) -> Result<()> {
        if let (Some(addr), Some(cert), Some(key)) = (self.sip_tls, &self.tls_cert, &self.tls_key) {
            server.tls = Some(TlsListen::new(
                addr,
                cert,
                key,
                self.tls_client_ca.as_deref(),
            )?);
        }
        server.policy = Policy {
            require_tls: self.require_tls,
            require_srtp: self.require_srtp,
            allow_sdes_over_udp: self.allow_sdes_over_udp,
        };
        Ok(())
    }
}

#[derive(Args, Clone)]
pub struct LiveArgs {
    /// Seconds between the newest audio and the release of redacted audio [default: 5,
    /// or `[serve] lookahead`].
    #[arg(long)]
    lookahead: Option<f64>,
    /// A call whose streams stay silent this many seconds is ended [default: 30, or
    /// `[serve] inactivity`].
    #[arg(long)]
    inactivity: Option<f64>,
}

impl LiveArgs {
    fn lookahead(&self) -> f64 {
        self.lookahead
            .or(hushline::config::get().serve.lookahead)
            .unwrap_or(5.0)
    }
    fn inactivity(&self) -> f64 {
        self.inactivity
            .or(hushline::config::get().serve.inactivity)
            .unwrap_or(30.0)
    }
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    parse_port_range(s).map_err(|e| e.to_string())
}

fn live_config(out: PathBuf, args: &LiveArgs) -> Result<LiveConfig> {
    let mut cfg = LiveConfig::new(out);
    let lookahead = args.lookahead();
    if !(lookahead.is_finite() && (1.0..=60.0).contains(&lookahead)) {
        anyhow::bail!("--lookahead must be between 1 and 60 seconds");
    }
    cfg.lookahead = Duration::from_secs_f64(lookahead);
    Ok(cfg)
}

fn print_line(line: FeedLine) {
    match &line {
        FeedLine::CallStarted { .. } => hushline::metrics::call_started(),
        FeedLine::CallEnded { stats, .. } => hushline::metrics::call_ended(stats.unchecked_s),
        FeedLine::Line { .. } => {}
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.to_json());
    let _ = out.flush();
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let settings = &hushline::config::get().serve;
    let out = args
        .out
        .clone()
        .or_else(|| settings.out.clone())
        .context("no output folder: pass --out DIR (or [serve] out in the configuration)")?;
    let sip = match (args.sip, &settings.sip) {
        (Some(addr), _) => addr,
        (None, Some(text)) => text.parse().context("[serve] sip must be ADDR:PORT")?,
        (None, None) => SocketAddr::from(([0, 0, 0, 0], 5060)),
    };
    let rtp_ports = match (args.rtp_ports, &settings.rtp_ports) {
        (Some(range), _) => range,
        (None, Some(text)) => port_range(text).map_err(anyhow::Error::msg)?,
        (None, None) => (20000, 20999),
    };
    let metrics = match (args.metrics, &settings.metrics) {
        (Some(addr), _) => Some(addr),
        (None, Some(text)) => Some(text.parse().context("[serve] metrics must be ADDR:PORT")?),
        (None, None) => None,
    };
    if let Some(addr) = metrics {
        let bound =
            hushline::metrics::start(addr).with_context(|| format!("serving metrics on {addr}"))?;
        tracing::info!("metrics on http://{bound}/metrics, health on /healthz and /readyz");
    }
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the output folder {}", out.display()))?;
    let keyring = load_keyring(args.common.key_file.as_deref())?;
    // Live windows are short and re-heard as they grow: encode only what they hold.
    let engine = Arc::new(build_engine_with(&args.common, &keyring, 1, |t| {
        t.fit_audio_ctx = true;
    })?);
    let cfg = live_config(out.clone(), &args.live)?;
    for r in live::recover(&out, &keyring, keyring.primary()) {
        match r {
            Ok(r) => tracing::info!(
                "recovered an unfinished call: {} ({:.1} s) and {}",
                r.recording.display(),
                r.seconds,
                r.transcript.display()
            ),
            Err((path, e)) => tracing::error!("cannot recover {}: {e}", path.display()),
        }
    }
    let mut server = ServerConfig::new(sip, rtp_ports);
    let inactivity = args.live.inactivity();
    if !(inactivity.is_finite() && inactivity >= 1.0) {
        anyhow::bail!("--inactivity must be at least 1 second");
    }
    server.inactivity = Duration::from_secs_f64(inactivity);
    args.security.apply(&mut server)?;
    let tls = args.security.sip_tls;
    let summary = live::serve(
        engine,
        server,
        cfg,
        shutdown_signal(),
        |addr| {
            hushline::metrics::set_ready(true);
            match tls {
                Some(t) => tracing::info!(
                    "listening for SIP on {addr} (UDP and TCP) and {t} (TLS); Ctrl-C stops"
                ),
                None => tracing::info!("listening for SIP on {addr} (UDP and TCP); Ctrl-C stops"),
            }
        },
        &mut print_line,
    )?;
    tracing::info!(
        "{} call(s) finalised, {} failed",
        summary.calls,
        summary.failed
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[derive(Args, Clone)]
#[cfg_attr(not(feature = "mic"), allow(dead_code))]
pub struct ListenArgs {
    /// Where the session's `ID.wav.enc` and `ID.transcript.json` go.
    #[arg(long, default_value = "out/listen")]
    out: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
    #[command(flatten)]
    common: Common,
}

/// Prints masked lines as they are released, for a person watching.
#[cfg_attr(not(feature = "mic"), allow(dead_code))]
fn print_for_people(line: FeedLine) {
    match line {
        FeedLine::Line {
            start, end, text, ..
        } => println!("{start:7.1}-{end:<7.1} {text}"),
        FeedLine::CallEnded {
            recording,
            transcript,
            error,
            ..
        } => match error {
            Some(e) => eprintln!("hushline: outputs not written: {e}"),
            None => eprintln!(
                "hushline: wrote {} and {}",
                recording.unwrap_or_default(),
                transcript.unwrap_or_default()
            ),
        },
        FeedLine::CallStarted { .. } => {}
    }
}

#[cfg(feature = "mic")]
pub fn listen(args: ListenArgs) -> Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output folder {}", args.out.display()))?;
    let keyring = load_keyring(args.common.key_file.as_deref())?;
    let engine = build_engine_with(&args.common, &keyring, 1, |t| t.fit_audio_ctx = true)?;
    let cfg = live_config(args.out.clone(), &args.live)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let (tx, rx) = crossbeam_channel::bounded(4096);
    let id = format!(
        "mic-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    eprintln!("hushline: listening to the microphone; speak, Ctrl-C ends the session");
    let capture = std::thread::spawn(move || hushline::live::mic::capture(&id, tx, stop));
    let summary = live::run(&engine, &cfg, rx, &mut print_for_people);
    capture
        .join()
        .map_err(|_| anyhow::anyhow!("the microphone thread panicked"))??;
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(not(feature = "mic"))]
pub fn listen(_args: ListenArgs) -> Result<ExitCode> {
    anyhow::bail!(
        "this build has no microphone support: build with `cargo build --release --features mic` \
         (needs the ALSA headers, Debian package libasound2-dev)"
    )
}
