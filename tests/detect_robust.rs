//! The detector on bad and odd input: arbitrary words never panic, every item gets
//! exactly one tag, input order (interleaved or grouped by channel) does not matter,
//! language selection works, and a detector can be shared between threads.

mod detect_support;

use hushline::asr::{Token, Word};
use hushline::detect::{ChannelWord, Detector, EntityKind, Language, Rules, Source};
use hushline::time::Span;
use proptest::prelude::*;

use detect_support::call;

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,6}",
        prop::sample::select(vec![
            "four",
            "for",
            "oh",
            "double",
            "twenty",
            "hundred",
            "thousand",
            "X",
            "叉",
            "幺",
            "腰",
            "十",
            "card",
            "cvv",
            "expires",
            "order",
            "um",
            "-",
            ",",
            "身份证",
            "艾克斯",
            "forty-one",
            "mm-hm",
            "$",
            "...",
            "４",
            "é",
            "",
        ])
        .prop_map(String::from),
        "\\PC{0,4}",
    ]
}

fn odd_word() -> impl Strategy<Value = (u16, String, u64, u64, bool)> {
    (
        0u16..3,
        prop::collection::vec(piece(), 1..3).prop_map(|v| v.concat()),
        0u64..2_000_000,
        0u64..40_000,
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_words_never_panic_and_each_item_has_one_tag(
        raw in prop::collection::vec(odd_word(), 0..60),
    ) {
        let det = Detector::new(Rules::default()).unwrap();
        let words: Vec<ChannelWord> = raw
            .into_iter()
            .map(|(channel, text, start, len, odd_tokens)| {
                let span = Span::new(start, start + len);
                // Tokens that do not spell the word, or that do, with zero-length spans.
                let tokens = if odd_tokens {
                    vec![Token { text: format!(" {text}x"), span: Span::new(start, start), probability: 0.1 }]
                } else {
                    detect_support::tokens_for(&text, span)
                };
                ChannelWord { channel, word: Word { text, span, confidence: 0.5, tokens }, source: Source::Speech }
            })
            .collect();
        let d = det.detect(&words);
        let masked: String = d.masked.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
        let mut tags: Vec<String> = d.items.iter().map(|x| x.kind.tag()).collect();
        tags.sort();
        tags.dedup();
        let tag_count: usize = tags.iter().map(|t| masked.matches(t.as_str()).count()).sum();
        prop_assert_eq!(tag_count, d.items.len(), "{:?} → {:?}", words, masked);
        for x in &d.items {
            prop_assert!(x.span.start <= x.span.end);
            prop_assert!(!x.reason.chars().any(|c| c.is_ascii_digit()));
        }
        prop_assert!(d.masked.len() <= words.len());
    }
}

#[test]
fn input_order_does_not_matter() {
    let det = Detector::new(Rules::default()).unwrap();
    let words = call(
        "A: card number? B: 4539 1488 A: mm-hm B: 0343 6467 A: and the CVV? B: 123 \
         A: expiry? B: 08/27",
    );
    let a = det.detect(&words);
    let mut grouped = words.clone();
    grouped.sort_by_key(|w| std::cmp::Reverse(w.channel));
    let b = det.detect(&grouped);
    let mut reversed = words.clone();
    reversed.reverse();
    let c = det.detect(&reversed);
    assert_eq!(a.items, b.items);
    assert_eq!(a.items, c.items);
    let kinds: Vec<&str> = a.items.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(kinds, ["card", "cvv", "expiry"]);
    // Masked words follow the input order.
    assert_eq!(b.masked.first().map(|w| w.channel), Some(1));
}

#[test]
fn language_selection_limits_word_tables() {
    let zh = call("B: 身份证 幺幺零幺零五幺九四九幺二三幺零零二叉");
    let en = call(
        "B: four five three nine one four eight eight zero three four three six four six seven",
    );
    let both = Detector::new(Rules::default()).unwrap();
    assert_eq!(both.detect(&zh).items[0].kind, EntityKind::CnId);
    assert_eq!(both.detect(&en).items[0].kind, EntityKind::Card);
    let en_only = Detector::new(Rules::default().with_languages(&[Language::En])).unwrap();
    assert!(en_only.detect(&zh).items.is_empty());
    assert_eq!(en_only.detect(&en).items[0].kind, EntityKind::Card);
    let zh_only = Detector::new(Rules::default().with_languages(&["zh".parse().unwrap()])).unwrap();
    assert!(zh_only.detect(&en).items.is_empty());
    // Numerals are recognised whatever the language.
    let numerals = call("B: 4539 1488 0343 6467");
    assert_eq!(zh_only.detect(&numerals).items[0].kind, EntityKind::Card);
}

#[test]
fn detector_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Detector>();
    let det = std::sync::Arc::new(Detector::new(Rules::default()).unwrap());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let det = det.clone();
            std::thread::spawn(move || det.detect(&call("B: 4539 1488 0343 6467")).items.len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1);
    }
}

#[test]
fn masked_tag_word_spans_the_item_and_keeps_surrounding_text() {
    let det = Detector::new(Rules::default()).unwrap();
    let words = call("B: 号码是11010519491231002X。 谢谢");
    let d = det.detect(&words);
    assert_eq!(d.items.len(), 1, "{:?}", d.items);
    let tag = d.masked.iter().find(|w| w.redacted.is_some()).unwrap();
    assert_eq!(tag.text, "号码是[CN_ID]。");
    assert!(tag.span.start <= d.items[0].span.start && tag.span.end >= d.items[0].span.end);
    // The digits take the later share of the word's time, not the context characters'.
    assert!(d.items[0].span.start > words[0].word.span.start);
}

#[test]
fn digits_beside_unheard_speech_are_redacted() {
    let det = Detector::new(Rules::default()).unwrap();
    // Whisper heard the first five digits of a card, then stopped transcribing while the
    // caller went on reading it out.
    let words = call("A: Go ahead with the new number whenever you're ready. B: 5289 6");
    let last_end = words.iter().map(|w| w.word.span.end).max().unwrap();
    let unheard = (1u16, Span::new(last_end + 8_000, last_end + 120_000));
    let heard_alone = det.detect(&words);
    assert!(
        heard_alone.items.is_empty(),
        "five digits alone are no item"
    );
    let found = det.detect_around(&words, &[unheard], &[]);
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].kind, EntityKind::LongDigitRun);
    assert!(found.masked.iter().all(|w| !w.text.contains("5289")));
    // Unheard speech on the other channel, or far away, changes nothing.
    let other = (0u16, unheard.1);
    assert!(det.detect_around(&words, &[other], &[]).items.is_empty());
    let far = (1u16, Span::new(last_end + 160_000, last_end + 200_000));
    assert!(det.detect_around(&words, &[far], &[]).items.is_empty());
    // Speech heard only on a second hearing that is not trusted counts for its own
    // channel's digits as unheard speech does.
    assert_eq!(det.detect_around(&words, &[], &[unheard]).items.len(), 1);
}

#[test]
fn digits_answering_an_unheard_speaker_are_redacted() {
    let det = Detector::new(Rules::default()).unwrap();
    // The agent's channel looped from before the customer's code to the end of the call:
    // whatever was asked, nobody heard it.
    let words = call(
        "A: Hello, thank you for calling, how can I help you today? B: I would like to pay my bill please, thanks. B: Yes, it's 584. No, that's everything.",
    );
    let digits_start = words
        .iter()
        .find(|w| w.word.text.contains("584"))
        .unwrap()
        .word
        .span
        .start;
    assert!(
        det.detect(&words).items.is_empty(),
        "three digits alone are no item"
    );
    let agent_unheard = (
        0u16,
        Span::new(digits_start.saturating_sub(64_000), digits_start + 400_000),
    );
    let found = det.detect_around(&words, &[agent_unheard], &[]);
    assert_eq!(found.items.len(), 1, "{:?}", found.items);
    assert!(found.masked.iter().all(|w| !w.text.contains("584")));
    // Heard, but only on a distrusted second hearing: its words were read, so a request
    // in them would have been seen, and the other speaker's code answers nothing unheard.
    assert!(det
        .detect_around(&words, &[], &[agent_unheard])
        .items
        .is_empty());
    // The agent heard until well before the code: the request is in the words.
    let heard_before = (0u16, Span::new(0, digits_start.saturating_sub(64_000)));
    assert!(det
        .detect_around(&words, &[heard_before], &[])
        .items
        .is_empty());
}
