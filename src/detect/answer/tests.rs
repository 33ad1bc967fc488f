//! Unit tests of answer spans: where answers start and end, on one channel and two.

use super::*;
use crate::detect::Rules;

fn piece(kind: PieceKind, lex: usize, t: f64) -> Piece {
    let s = from_seconds(t, ASR_RATE);
    Piece {
        kind,
        lex: (lex, lex),
        span: Span::new(s, s + from_seconds(0.3, ASR_RATE)),
        num_group: 0,
    }
}

/// A real digit, as pieces of a reading are.
const DIGIT: PieceKind = PieceKind::Digit {
    d: b'4',
    weak: false,
    month: false,
};

fn digit(lex: usize, t: f64) -> Piece {
    piece(DIGIT, lex, t)
}

fn hit(channel: u16, cat: Category, lex: usize, t: f64) -> Hit {
    let s = from_seconds(t, ASR_RATE);
    Hit {
        channel,
        cat,
        span: Span::new(s, s + from_seconds(0.5, ASR_RATE)),
        lex: (lex, lex),
        guessed: false,
    }
}

/// Channel 0 asks, channel 1 answers.
fn asker_and_answerer<'a>(asker: &'a [Piece], answerer: &'a [Piece]) -> [ChannelPieces<'a>; 2] {
    [
        ChannelPieces {
            id: 0,
            lexes: &[],
            pieces: asker,
        },
        ChannelPieces {
            id: 1,
            lexes: &[],
            pieces: answerer,
        },
    ]
}

fn rules() -> AnswerRules {
    AnswerRules::new(&Rules::default().thresholds)
}

#[test]
fn an_answer_runs_across_unknown_words_and_ends_at_a_long_pause() {
    // 0.0 "card number?" on channel 0; channel 1: 4 4 "time" 4 … 8 s later 4 4.
    let asker = vec![piece(PieceKind::Other, 0, 0.0)];
    let answerer = vec![
        piece(PieceKind::Other, 0, 1.0),
        digit(1, 1.5),
        digit(2, 1.9),
        piece(PieceKind::Other, 3, 2.3),
        digit(4, 2.7),
        digit(5, 11.0),
        digit(6, 11.4),
    ];
    let channels = asker_and_answerer(&asker, &answerer);
    let hits = [hit(0, Category::Card, 0, 0.0)];
    let found = answers(&rules(), &channels, &hits);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].channel, found[0].first, found[0].last), (1, 1, 4));
    assert_eq!(found[0].digits, 3);
    assert!(!found[0].open);
    assert_eq!(found[0].kind, EntityKind::Card);
}

#[test]
fn the_asker_speaking_again_or_another_request_ends_the_answer() {
    let asker = vec![
        piece(PieceKind::Other, 0, 0.0),
        piece(PieceKind::Other, 1, 2.6),
        piece(PieceKind::Other, 2, 2.8),
        piece(PieceKind::Other, 3, 3.0),
    ];
    let answerer = vec![digit(0, 1.0), digit(1, 1.4), digit(2, 1.8), digit(3, 3.6)];
    let channels = asker_and_answerer(&asker, &answerer);
    let found = answers(&rules(), &channels, &[hit(0, Category::Ssn, 0, 0.0)]);
    assert_eq!((found[0].first, found[0].last), (0, 2));
    // A negative phrase at 1.5 s ends it after two digits: too few for an SSN.
    let hits = [
        hit(0, Category::Ssn, 0, 0.0),
        hit(0, Category::Negative, 1, 1.5),
    ];
    assert!(answers(&rules(), &channels, &hits).is_empty());
}

#[test]
fn no_digit_within_the_wait_is_no_answer_and_words_running_out_leave_it_open() {
    let answerer = vec![piece(PieceKind::Other, 0, 1.0), digit(1, 30.0)];
    let ch = [ChannelPieces {
        id: 0,
        lexes: &[],
        pieces: &answerer,
    }];
    assert!(answers(&rules(), &ch, &[hit(0, Category::Cvv, 0, 0.0)]).is_empty());
    let answerer = vec![digit(1, 1.0), digit(2, 1.3)];
    let ch = [ChannelPieces {
        id: 1,
        lexes: &[],
        pieces: &answerer,
    }];
    let found = answers(&rules(), &ch, &[hit(0, Category::Cvv, 0, 0.0)]);
    assert!(found[0].open);
}

/// Lexemes and pieces of one channel from `(text, kind)` pairs, 0.3 s apart; a
/// separator is punctuation.
fn spoken(words: &[(&str, PieceKind)]) -> (Vec<Lex>, Vec<Piece>) {
    let lexes = words
        .iter()
        .enumerate()
        .map(|(i, (text, kind))| Lex {
            text: text.to_string(),
            kind: match kind {
                PieceKind::Digit { .. } => LexKind::Num,
                PieceKind::Sep => LexKind::Punct,
                _ => LexKind::Alpha,
            },
            word: i,
            bytes: 0..text.len(),
            span: piece(*kind, i, i as f64 * 0.3).span,
            num_group: 0,
            confidence: 1.0,
        })
        .collect();
    let pieces = words
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| piece(*kind, i, i as f64 * 0.3))
        .collect();
    (lexes, pieces)
}

#[test]
fn a_question_without_digits_is_no_part_of_an_answer_on_mono() {
    use PieceKind::{Filler, Other, Sep};
    let d = DIGIT;
    // "expire? 720. can i have the cdc? please, do one and three": the agent's next
    // request, its context word misheard, said between the expiry and the code.
    let (mut lexes, mut pieces) = spoken(&[
        ("expire", Other),
        ("?", Sep),
        ("7", d),
        ("2", d),
        ("0", d),
        (".", Sep),
        ("can", Other),
        ("i", Other),
        ("have", Other),
        ("the", Other),
        ("cdc", Other),
        ("?", Sep),
        ("please", Filler),
        (",", Sep),
        ("do", Other),
        ("one", d),
        ("and", Filler),
        ("three", d),
    ]);
    let request = [hit(0, Category::Expiry, 0, 0.0)];
    let ch = [ChannelPieces {
        id: 0,
        lexes: &lexes,
        pieces: &pieces,
    }];
    let found = answers(&rules(), &ch, &request);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].first, found[0].last), (2, 17));
    assert_eq!(found[0].questions, vec![(6, 11)]);
    let parts = uncovered_parts(&pieces, &found[0], |i| i <= 4);
    assert_eq!(parts, vec![(14, 17)]);
    // A question with a digit in it is no question skipped: its words follow a whole
    // code, so they end the answer.
    lexes[10].text = "2".into();
    lexes[10].kind = LexKind::Num;
    pieces[10].kind = d;
    let ch = [ChannelPieces {
        id: 0,
        lexes: &lexes,
        pieces: &pieces,
    }];
    let found = answers(&rules(), &ch, &request);
    assert_eq!((found[0].first, found[0].last), (2, 4));
    assert!(found[0].questions.is_empty());
}

#[test]
fn a_whole_code_ends_at_the_words_after_it() {
    use PieceKind::{Filler, Other, Sep};
    let d = DIGIT;
    // "cvv? 1, 1, 9. and the billing list code, 3 4 6 8 5": a zip code, its label
    // misheard, after the code was given whole.
    let words = [
        ("cvv", Other),
        ("?", Sep),
        ("1", d),
        ("1", d),
        ("9", d),
        (".", Sep),
        ("and", Filler),
        ("the", Other),
        ("billing", Other),
        ("list", Other),
        ("code", Other),
        (",", Sep),
        ("3", d),
        ("4", d),
        ("6", d),
        ("8", d),
        ("5", d),
    ];
    let (lexes, pieces) = spoken(&words);
    let ch = [ChannelPieces {
        id: 0,
        lexes: &lexes,
        pieces: &pieces,
    }];
    let found = answers(&rules(), &ch, &[hit(0, Category::Cvv, 0, 0.0)]);
    assert_eq!((found[0].first, found[0].last), (2, 4));
    // A card is longer: the same words may be a reader's aside, and its answer goes on.
    let found = answers(&rules(), &ch, &[hit(0, Category::Card, 0, 0.0)]);
    assert_eq!((found[0].first, found[0].last), (2, 16));
}

#[test]
fn an_answer_in_digits_on_another_channel_leaves_the_askers_doubted_words_alone() {
    use PieceKind::{Other, Sep};
    let d = DIGIT;
    // Channel 0: "the expiry date. <doubted words>" (its next question, heard badly);
    // channel 1 reads the date.
    let (mut asker_lexes, asker_pieces) = spoken(&[
        ("expiry", Other),
        (".", Sep),
        ("x", Other),
        ("y", Other),
        ("z", Other),
        ("w", Other),
    ]);
    for l in &mut asker_lexes[2..] {
        l.confidence = 0.1;
    }
    let (answer_lexes, answer_pieces) = spoken(&[("0", d), ("6", d), ("3", d), ("3", d)]);
    let request = [hit(0, Category::Expiry, 0, 0.0)];
    let both = [
        ChannelPieces {
            id: 0,
            lexes: &asker_lexes,
            pieces: &asker_pieces,
        },
        ChannelPieces {
            id: 1,
            lexes: &answer_lexes,
            pieces: &answer_pieces,
        },
    ];
    let found = answers(&rules(), &both, &request);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].channel, found[0].unsure), (1, false));
    // Alone (mono, or nobody else answered), the doubted words are the answer.
    let found = answers(&rules(), &both[..1], &request);
    assert!(
        found.iter().any(|a| a.channel == 0 && a.unsure),
        "{found:?}"
    );
}

#[test]
fn parts_outside_items_keep_digits_and_unknown_words_only() {
    let pieces = vec![
        digit(0, 0.0),
        digit(1, 0.3),
        piece(PieceKind::Filler, 2, 0.6),
        piece(PieceKind::Other, 3, 0.9),
        piece(PieceKind::Filler, 4, 1.2),
        digit(5, 1.5),
    ];
    let a = Answer {
        channel: 0,
        kind: EntityKind::Card,
        first: 0,
        last: 5,
        span: Span::new(0, 1),
        digits: 3,
        open: false,
        unsure: false,
        asked_end: 0,
        questions: Vec::new(),
    };
    assert_eq!(uncovered_parts(&pieces, &a, |i| i <= 1), vec![(3, 5)]);
    assert_eq!(uncovered_parts(&pieces, &a, |i| i == 5), vec![(0, 3)]);
    // Someone's question inside the answer is no part of it.
    let asked = Answer {
        questions: vec![(3, 3)],
        ..a
    };
    assert_eq!(uncovered_parts(&pieces, &asked, |i| i <= 1), vec![(5, 5)]);
}
