//! No detected value may leave the detector except as a tag: not in a log line at any
//! level, not in a reason, not in masked text, not in an error message.

mod detect_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use hushline::detect::{Detector, Rules};

use detect_support::call;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every run of four digits of every value, and each value whole.
fn fragments(values: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let d: Vec<char> = v.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        out.push(d.iter().collect());
        for w in d.windows(4) {
            out.push(w.iter().collect());
        }
    }
    out
}

#[test]
fn values_never_reach_logs_reasons_or_masked_text() {
    let text = "A: Card number please? B: 4539 1488 0343 6467 A: And the expiry? B: 08/27 \
                A: Security code? B: 713 A: Your social? B: 219-09-9999 \
                A: 身份证号 B: 11010519491231002X A: card? B: 5182 1993 5181 9097";
    let values = [
        "4539148803436467",
        "0827",
        "219099999",
        "11010519491231002X",
        "5182199351819097",
    ];
    let words = call(text);
    let buf = Buffer::default();
    let writer = buf.clone();
    // No timestamps: their digits (today's date, the clock) would match value fragments
    // by chance and make the check flaky.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let detections = tracing::subscriber::with_default(subscriber, || {
        tracing::info!("capture check");
        let det = Detector::new(Rules::default()).unwrap();
        det.detect(&words)
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("capture check"), "the log capture works");
    assert!(
        log.contains("redacting item"),
        "the detector logs its decisions: {log}"
    );
    assert!(detections.items.len() >= 5, "{:?}", detections.items);

    let masked: String = detections
        .masked
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let reasons: String = detections
        .items
        .iter()
        .map(|d| d.reason.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for f in fragments(&values) {
        assert!(
            !log.contains(&f),
            "a log line holds part of a value:\n{log}"
        );
        assert!(
            !masked.contains(&f),
            "masked text holds part of a value: {masked}"
        );
        assert!(
            !reasons.contains(&f),
            "a reason holds part of a value: {reasons}"
        );
    }
    assert!(!reasons.chars().any(|c| c.is_ascii_digit()), "{reasons}");
    // The 3-digit code and the spoken expiry are shorter than the fragments: check whole.
    for short in ["713", "08/27"] {
        assert!(!masked.contains(short), "{masked}");
        assert!(!log.contains(short), "{log}");
    }
}

#[test]
fn error_messages_name_the_rule_not_the_input() {
    // Rules never contain call values, but errors must stay specific and useful.
    let cases = [
        ("[thresholds]\nmax_gap_s = -1", "max_gap_s"),
        ("[[custom]]\nname = \"acct\"\ndigits_regex = \"(\"", "acct"),
        ("languages = [\"fr\"]", "fr"),
        ("[lang.en]\ndigits = { one = \"12\" }", "one"),
        (
            "[thresholds]\nlong_run_min_digits = 2",
            "long_run_min_digits",
        ),
    ];
    for (toml, names) in cases {
        let err = Rules::from_toml_str(toml).and_then(Detector::new).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains(names),
            "error for {toml:?} should name {names}: {msg:?}"
        );
    }
}
