//! Log hygiene for one input: a dependency's warnings about the input being processed
//! (a junk MP3 makes the demuxer warn once per bad frame, for every pass) are folded into
//! that input's one result line instead of flooding the log.
//!
//! How: the pipeline runs each input inside an [`input_span`]; the audio reader re-enters
//! the span on whatever thread decodes. [`FoldLayer`] records warnings (and lesser
//! events) from other crates' targets inside such a span, and [`not_folded`] keeps them
//! out of the printed log. [`take_folded`] hands the pipeline what was folded, to append
//! to the input's error (or to log once). Must not fold hushline's own events or errors.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::Id;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

const SPAN_NAME: &str = "input";

/// Warnings folded for one input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Folded {
    pub count: usize,
    pub first: String,
}

impl std::fmt::Display for Folded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} decoder warning(s), the first: {}",
            self.count, self.first
        )
    }
}

fn folds() -> &'static Mutex<HashMap<Id, Folded>> {
    static FOLDS: OnceLock<Mutex<HashMap<Id, Folded>>> = OnceLock::new();
    FOLDS.get_or_init(Default::default)
}

/// The span one input is processed in; enter it (or hand it to the threads that work
/// on the input) so dependency warnings about it are folded.
pub fn input_span(name: &std::path::Path) -> tracing::Span {
    tracing::info_span!(SPAN_NAME, input = %name.display())
}

/// What was folded in `span` so far, removed from the record.
pub fn take_folded(span: &tracing::Span) -> Option<Folded> {
    let id = span.id()?;
    folds().lock().ok()?.remove(&id)
}

fn foldable(meta: &Metadata<'_>) -> bool {
    *meta.level() >= Level::WARN && !meta.target().starts_with("hushline")
}

/// The input span `ctx`'s current span is in, if any.
fn input_span_of<S>(ctx: &Context<'_, S>) -> Option<Id>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let current = ctx.lookup_current()?;
    current
        .scope()
        .find(|s| s.name() == SPAN_NAME)
        .map(|s| s.id())
}

/// Records dependency warnings inside input spans (see the module doc).
pub struct FoldLayer;

impl<S> Layer<S> for FoldLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !foldable(event.metadata()) {
            return;
        }
        let Some(id) = input_span_of(&ctx) else {
            return;
        };
        let mut message = Message::default();
        event.record(&mut message);
        if let Ok(mut folds) = folds().lock() {
            let entry = folds.entry(id).or_default();
            if entry.count == 0 {
                let target = message
                    .log_target
                    .as_deref()
                    .unwrap_or(event.metadata().target());
                entry.first = format!("{target}: {}", message.text);
            }
            entry.count += 1;
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Ok(mut folds) = folds().lock() {
            folds.remove(&id);
        }
    }
}

/// A per-layer filter for the printed log: false for events [`FoldLayer`] folds.
pub fn not_folded<S>() -> tracing_subscriber::filter::DynFilterFn<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::filter::DynFilterFn::new(
        printed::<S> as fn(&Metadata<'_>, &Context<'_, S>) -> bool,
    )
}

fn printed<S>(meta: &Metadata<'_>, ctx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    !(meta.is_event() && foldable(meta) && input_span_of(ctx).is_some())
}

#[derive(Default)]
struct Message {
    text: String,
    /// The crate's own target, for events bridged from the `log` crate.
    log_target: Option<String>,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.log_target = Some(value.to_string());
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else if !field.name().starts_with("log.") {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn dependency_warnings_inside_an_input_are_folded() {
        let printed = std::sync::Arc::new(Mutex::new(0usize));
        let count = printed.clone();
        let subscriber = tracing_subscriber::registry().with(FoldLayer).with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || {
                    *count.lock().unwrap() += 1;
                    std::io::sink()
                })
                .with_filter(not_folded()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = input_span(std::path::Path::new("junk.mp3"));
            {
                let _in = span.enter();
                for _ in 0..20 {
                    tracing::warn!(target: "symphonia_bundle_mp3::demuxer", "invalid main_data_begin");
                }
                tracing::warn!(target: "hushline::pipeline", "our own warning stays");
            }
            tracing::warn!(target: "symphonia_core", "outside any input: printed");
            let folded = take_folded(&span).unwrap();
            assert_eq!(folded.count, 20);
            assert!(folded.first.contains("invalid main_data_begin"), "{folded}");
        });
        assert_eq!(*printed.lock().unwrap(), 2);
    }
}
