//! Logs as operators ingest them: text or JSON lines (`--log-format`) on stderr, colour
//! only on a terminal, and a dependency's warnings about one input folded into that
//! input's line (`hushline::diagnostics`). `HUSHLINE_LOG` sets the filter.

use std::io::IsTerminal;

use hushline::diagnostics::{not_folded, FoldLayer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("HUSHLINE_LOG")
        .unwrap_or_else(|_| "warn,hushline=info,whisper_rs=off".into());
    let printed = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(not_folded())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(not_folded())
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(FoldLayer)
        .with(printed)
        .init();
}
