//! Unit tests of the classifier: date shapes, code splits, and which context names a run.

use super::*;

#[test]
fn date_shapes() {
    assert!(looks_like_date(b"12052024", &[2, 2, 4]));
    assert!(looks_like_date(b"20240512", &[4, 2, 2]));
    assert!(looks_like_date(b"3152024", &[1, 2, 4]));
    assert!(!looks_like_date(b"45391488", &[4, 4]));
    assert!(!looks_like_date(b"45391488", &[2, 2, 4])); // year 1488
    assert!(!looks_like_date(b"13402024", &[2, 2, 4])); // no month 13 / 40
}

#[test]
fn expiry_and_code_split_at_a_group_boundary() {
    let parts = expiry_and_cvv(b"0827123", &[2, 2, 3], "context:expiry+cvv").unwrap();
    assert_eq!(parts[0].0, 0..4);
    assert_eq!(parts[0].1.kind, EntityKind::Expiry);
    assert_eq!(parts[1].0, 4..7);
    assert_eq!(parts[1].1.kind, EntityKind::Cvv);
    assert_eq!(parts[1].1.reason, "context:expiry+cvv");
    assert!(expiry_and_cvv(b"99999", &[5], "context:expiry+cvv").is_none());
}

#[test]
fn a_question_on_the_other_channel_breaks_a_gap() {
    let breaks = [Span::new(100, 120), Span::new(500, 510)];
    assert!(broken_by(&breaks, Span::new(90, 200)));
    assert!(!broken_by(&breaks, Span::new(200, 400)));
    assert!(broken_by(&breaks, Span::new(499, 501)));
}

#[test]
fn a_question_after_a_labels_sentence_is_a_new_request() {
    let lexes = lexes_of(&["my", "order", ".", "22141660", ".", "card", "?", "4829"]);
    assert!(question_between(&lexes, 1, 7));
    // The label's own question ("What's the order number?") still speaks.
    assert!(!question_between(&lexes, 5, 7));
    assert!(!question_between(&lexes, 1, 3));
}

#[test]
fn a_unit_right_after_digits_names_them_even_in_a_question() {
    // "… at 945 PM that's all going through is there anything else?"
    let lexes = lexes_of(&["at", "945", "pm", "that's", "all", "else", "?"]);
    let pm = Hit {
        channel: 0,
        cat: Category::Quantity,
        span: lexes[2].span,
        lex: (2, 2),
        guessed: false,
    };
    let th = crate::detect::Rules::default().thresholds;
    let ctx = |lexes: &[Lex], hit: &Hit| {
        nearby_context(
            std::slice::from_ref(hit),
            0,
            lexes[1].span,
            (1, 1),
            lexes,
            &th,
            0,
        )
    };
    assert_eq!(ctx(&lexes, &pm), vec![Category::Negative]);
    // Not a unit followed by numerals of its own: "… 5.3. 6th, 0, 3, 3".
    let lexes = lexes_of(&["7753", "6", "th", ",", "0", "3", "3", "?"]);
    let ordinal = Hit {
        span: lexes[2].span,
        ..pm
    };
    assert!(ctx(&lexes, &ordinal).is_empty());
}

fn lexes_of(texts: &[&str]) -> Vec<Lex> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Lex {
            text: t.to_string(),
            kind: if t.chars().all(|c| c.is_ascii_punctuation()) {
                LexKind::Punct
            } else if t.chars().all(|c| c.is_ascii_digit()) {
                LexKind::Num
            } else {
                LexKind::Alpha
            },
            word: i,
            bytes: 0..t.len(),
            span: Span::new(i as u64 * 100, i as u64 * 100 + 90),
            num_group: 0,
            confidence: 0.9,
        })
        .collect()
}
