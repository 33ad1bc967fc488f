//! Answer spans: when one speaker asks for a card, ID, SSN, CVV or expiry date, what is
//! said next is taken for that item until the answer ends. PCI practice for
//! agent-assisted payments masks by the dialogue, because recognition is least sure
//! exactly there: digits heard as other words on the phone band, a card read in two
//! parts around the agent's "mm-hm, go on", an SSN with a digit dropped. Such an answer
//! is redacted when it holds digits, whether or not they validate (fail closed).
//!
//! An answer is looked for on every channel: the other speaker's (stereo) and the
//! asker's own, after the request (mono recordings, and a caller saying "my card number
//! is …"). It starts at its first digit, at most `answer_wait_s` after a request asked as
//! a question ("What's the card number?"; callers go and fetch their card), or
//! `answer_statement_wait_s` after a phrase said in passing or as a statement ("I need
//! to update the card on my account.", "my card number is …"), and
//! ends at the last digit before any of: a pause longer than `answer_gap_s`, more than
//! `answer_max_words` other words (two, once a code or date is whole: "119. And the
//! billing zip code, 34685"), the asker saying `answer_asker_words` words, another
//! context phrase (a new request, or negative context such as "order number"), or
//! `answer_max_s` after its first digit.
//!
//! An answer heard as words the recogniser doubted, with no digit in them, is taken for
//! the item too ([`unsure`]): on the phone band whole card numbers come out as "time, I
//! may time, for photo booth".
//!
//! Owns where answers start and end; must not decide what validated digits are (that is
//! `classify`), must not look at audio, and never sees or returns a digit's value.

use crate::time::{from_seconds, Span, ASR_RATE};

use super::classify::{self, looks_like_date, Hit};
use super::lexicon::{Category, Lex, LexKind};
use super::normalize::{self, Piece, PieceKind};
use super::rules::Thresholds;
use super::EntityKind;

mod unsure;

/// One channel's lexemes and pieces, as the detector built them.
pub(crate) struct ChannelPieces<'a> {
    pub id: u16,
    pub lexes: &'a [Lex],
    pub pieces: &'a [Piece],
}

/// The digits of an answer: pieces `first..=last` of its channel, both digit-like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub channel: u16,
    pub kind: EntityKind,
    pub first: usize,
    pub last: usize,
    pub span: Span,
    /// Digit-like pieces in it (digits, homophones, a check character).
    pub digits: usize,
    /// Whether it was still open when the words ran out: nothing ended it yet, so a live
    /// caller must treat audio after it as part of it until more is heard.
    pub open: bool,
    /// Found by what the recogniser doubted rather than by its digits.
    pub unsure: bool,
    /// When the request it answers was done being said.
    pub asked_end: u64,
    /// Pieces inside it (first and last, inclusive) that are someone's question, not the
    /// answer: never bleeped as part of it.
    pub questions: Vec<(usize, usize)>,
}

impl Answer {
    /// Pieces `first..=last` of channel `ch` as an answer of `kind` to a request done
    /// being said at `asked_end`: closed, read as digits, no digits counted yet.
    fn over(
        ch: &ChannelPieces,
        kind: &EntityKind,
        first: usize,
        last: usize,
        asked_end: u64,
    ) -> Self {
        Answer {
            channel: ch.id,
            kind: kind.clone(),
            first,
            last,
            span: ch.pieces[first].span.union(&ch.pieces[last].span),
            digits: 0,
            open: false,
            unsure: false,
            asked_end,
            questions: Vec::new(),
        }
    }
}

/// The answer settings, on the 16 kHz clock.
pub(crate) struct AnswerRules {
    wait: u64,
    statement_wait: u64,
    gap: u64,
    max_len: u64,
    max_words: usize,
    asker_words: usize,
    min_primary: usize,
    min_code: usize,
    min_homophones: usize,
    quantity_max_digits: usize,
    unsure: unsure::UnsureRules,
}

impl AnswerRules {
    pub fn new(th: &Thresholds) -> Self {
        AnswerRules {
            wait: from_seconds(th.answer_wait_s, ASR_RATE),
            statement_wait: from_seconds(th.answer_statement_wait_s, ASR_RATE),
            gap: from_seconds(th.answer_gap_s, ASR_RATE),
            max_len: from_seconds(th.answer_max_s, ASR_RATE),
            max_words: th.answer_max_words,
            asker_words: th.answer_asker_words,
            min_primary: th.answer_min_digits,
            min_code: th.answer_min_code_digits,
            min_homophones: th.answer_min_homophones,
            quantity_max_digits: th.quantity_max_digits,
            unsure: unsure::UnsureRules::new(th),
        }
    }

    /// The longest pause inside an answer, for a live caller deciding whether an open
    /// answer may still go on.
    pub fn gap(&self) -> u64 {
        self.gap
    }

    fn min_digits(&self, kind: &EntityKind) -> usize {
        if is_code(kind) {
            self.min_code
        } else {
            self.min_primary
        }
    }
}

/// What a request for `cat` asks for; `None` for context that asks for nothing.
pub(crate) fn requested(cat: Category) -> Option<EntityKind> {
    match cat {
        Category::Card => Some(EntityKind::Card),
        Category::CnId => Some(EntityKind::CnId),
        Category::Ssn => Some(EntityKind::Ssn),
        Category::Cvv => Some(EntityKind::Cvv),
        Category::Expiry => Some(EntityKind::Expiry),
        Category::Negative | Category::Quantity | Category::Custom(_) | Category::AfterCard => None,
    }
}

/// Whether the question mark `q` after request `h` ends another phrase's question: digits
/// follow `h` in its sentence, then a new context phrase before `q`. Whisper often
/// writes no stop after a number, so in "卡号是 6 2 … 有效期到哪年哪月?" the card was
/// answered and the question is the expiry's ("Is that the card ending in 6467?" stays
/// one question).
fn question_is_later(ch: &ChannelPieces, hits: &[Hit], h: &Hit, q: usize) -> bool {
    let Some(digit) = ch
        .pieces
        .iter()
        .find(|p| is_real_digit(p) && p.lex.0 > h.lex.1 && p.lex.1 < q)
    else {
        return false;
    };
    hits.iter()
        .any(|o| o.channel == h.channel && o.lex.0 > digit.lex.1 && o.lex.1 < q)
}

fn is_real_digit(p: &Piece) -> bool {
    matches!(
        p.kind,
        PieceKind::Digit {
            weak: false,
            month: false,
            ..
        }
    )
}

/// Every answer to every request in `hits`, each with at least one real digit (or, for a
/// card or ID, enough Chinese digit homophones) and the digit count its kind needs (a lone "one" in "one moment" is not an answer).
pub(crate) fn answers(
    rules: &AnswerRules,
    channels: &[ChannelPieces],
    hits: &[Hit],
) -> Vec<Answer> {
    let mut out = Vec::new();
    for h in hits {
        let Some(kind) = requested(h.cat) else {
            continue;
        };
        // Where the request's sentence ends, when it is a question, and when that is.
        let asked_on = channels.iter().find(|c| c.id == h.channel);
        let question = asked_on.and_then(|c| {
            classify::question_end(c.lexes, h.lex.1).filter(|&q| !question_is_later(c, hits, h, q))
        });
        let asked = unsure::Asked {
            hit: h,
            question,
            until: question
                .and_then(|q| asked_on?.lexes.get(q))
                .map_or(h.span.end, |l| l.span.end.max(h.span.end)),
        };
        // An unsure answer holds no digit to go on. After a request only guessed from a
        // sound-alike ("gone through" for "good through") it would be two guesses; after
        // a card named in passing, no request at all.
        let unsure_wanted =
            !h.guessed && !asked_on.is_some_and(|a| unsure::said_in_passing(rules, a, &asked));
        let mut found_here = Vec::new();
        for ch in channels {
            // The next context phrase after this one, on any channel, ends its answers.
            // A quantity word right after the request is part of it ("valid through date").
            let later = || {
                hits.iter().filter(|o| {
                    o.span.start > h.span.start
                        && !within_answer(ch, o)
                        && !(o.cat == Category::Quantity
                            && o.channel == h.channel
                            && o.lex.0 == h.lex.1 + 1)
                })
            };
            let mut blocks: Vec<&Hit> = later().collect();
            blocks.sort_by_key(|o| o.span.start);
            let asker = channels.iter().find(|c| c.id == h.channel && c.id != ch.id);
            let answer_before = |b: usize| {
                let at = blocks.get(b).map_or(u64::MAX, |o| o.span.start);
                answer_on(rules, ch, asker, h, question, at, &kind)
                    .and_then(|a| without_quantity(ch, a, hits))
            };
            // A quantity word before the first digit of a card, ID or SSN answer ("so it's
            // time, 1 0 2 …") labels no number longer than a quantity: past it, the answer
            // goes on. A code or date is as short as a quantity: for those it still ends.
            let mut b = 0;
            let mut found = answer_before(b);
            let primary = !is_code(&kind);
            while primary && blocks.get(b).is_some_and(|o| o.cat == Category::Quantity) {
                match answer_before(b + 1) {
                    Some(a)
                        if a.span.start >= blocks[b].span.end
                            && a.digits > rules.quantity_max_digits =>
                    {
                        found = Some(a);
                        b += 1;
                    }
                    _ => break,
                }
            }
            if let Some(a) = found {
                let real = a_real_digits(ch, &a) >= 1
                    || (primary && chinese_homophones(ch, &a) >= rules.min_homophones);
                if real && a.digits >= rules.min_digits(&kind) && !written_date(ch, &a) {
                    found_here.push(a);
                }
            }
            // With speakers on their own channels, a question is answered by another one:
            // the asker's own doubted words after it are not the answer.
            if channels.len() > 1 && ch.id == h.channel && question.is_some() {
                continue;
            }
            if !unsure_wanted {
                continue;
            }
            // A context phrase heard as doubted words ("time" for "nine") is no new topic.
            let sure_block_at = later()
                .filter(|o| !unsure::doubted_hit(rules, channels, o))
                .map(|o| o.span.start)
                .min()
                .unwrap_or(u64::MAX);
            found_here.extend(unsure::answer_on(
                rules,
                ch,
                asker,
                &asked,
                sure_block_at,
                &kind,
            ));
        }
        // With speakers on their own channels, a request answered in digits on another
        // channel is not also answered by the asker's own doubted words (the agent's next
        // question, heard badly).
        if channels.len() > 1
            && found_here
                .iter()
                .any(|a: &Answer| a.channel != h.channel && !a.unsure)
        {
            found_here.retain(|a| !(a.unsure && a.channel == h.channel));
        }
        out.extend(found_here);
    }
    out.sort_by_key(|a| (a.channel, a.span.start));
    out.dedup_by(|b, a| a.channel == b.channel && a.first == b.first && a.last == b.last);
    out
}

/// The answer without a quantity at its end: when the word right after its last digit is
/// negative context of its channel ("12 days", "45 dollars", "October 25th"), the digits
/// read together before that word are the quantity, not the number asked for.
fn without_quantity(ch: &ChannelPieces, mut a: Answer, hits: &[Hit]) -> Option<Answer> {
    let unit = ch.pieces.get(a.last + 1).is_some_and(|next| {
        hits.iter()
            .any(|o| o.channel == ch.id && o.cat.is_negative() && o.lex.0 == next.lex.0)
    });
    if !unit {
        return Some(a);
    }
    // Back over the quantity's digits (separators between them), then to the digit
    // before it.
    let mut i = a.last;
    while i > a.first
        && (ch.pieces[i - 1].kind == PieceKind::Sep || ch.pieces[i - 1].is_digit_like())
    {
        i -= 1;
    }
    let last = (a.first..i).rev().find(|&k| ch.pieces[k].is_digit_like())?;
    a.last = last;
    a.open = false;
    a.digits = (a.first..=last)
        .filter(|&k| ch.pieces[k].is_digit_like())
        .count();
    a.span = ch.pieces[a.first].span.union(&ch.pieces[last].span);
    Some(a)
}

/// Whether the answer is one written calendar date ("2024-05-12"): dates are negative
/// context in themselves, whoever asked what.
fn written_date(ch: &ChannelPieces, a: &Answer) -> bool {
    let idx: Vec<usize> = (a.first..=a.last)
        .filter(|&i| ch.pieces[i].is_digit_like())
        .collect();
    let digits: Vec<u8> = idx
        .iter()
        .map(|&i| match ch.pieces[i].kind {
            PieceKind::Digit { d, .. } => d,
            _ => b'X',
        })
        .collect();
    looks_like_date(&digits, &classify::groups(ch.pieces, &idx))
}

/// Whether context hit `o`, said after the request, is no new topic for an answer on
/// channel `ch`: a currency or percent sign Whisper wrote before digits ("it's $65.91.
/// 5135 …"), or one negative word among digits ("4 time 2 1", "45 seconds in 1732",
/// "3. It's time for 8": digit words heard as other words on the phone band), digits
/// within a word before it and a few words after it.
fn within_answer(ch: &ChannelPieces, o: &Hit) -> bool {
    if o.channel != ch.id || !o.cat.is_negative() || o.lex.0 != o.lex.1 {
        return false;
    }
    if ch
        .lexes
        .get(o.lex.0)
        .is_some_and(|l| l.kind == LexKind::Punct)
    {
        return true;
    }
    let Some(at) = ch.pieces.iter().position(|p| p.lex.0 == o.lex.0) else {
        return false;
    };
    let not_sep = |p: &&Piece| p.kind != PieceKind::Sep;
    let mut before = ch.pieces[..at]
        .iter()
        .rev()
        .filter(not_sep)
        .take(WORDS_FROM_LAST_DIGIT + 1);
    let mut after = ch.pieces[at + 1..]
        .iter()
        .filter(not_sep)
        .take(WORDS_TO_NEXT_DIGIT + 1);
    before.any(Piece::is_digit_like) && after.any(Piece::is_digit_like)
}

/// Words before and after a negative word within which digits must be for it to count
/// as a misheard digit: "3. It's time for 8", but not "213, and your confirmation
/// reference is 548…".
const WORDS_FROM_LAST_DIGIT: usize = 1;
const WORDS_TO_NEXT_DIGIT: usize = 2;

fn a_real_digits(ch: &ChannelPieces, a: &Answer) -> usize {
    ch.pieces[a.first..=a.last]
        .iter()
        .filter(|p| is_real_digit(p))
        .count()
}

/// Digits of answer `a` heard as Chinese characters that only sound like digits (妖 for
/// 幺): Whisper writes a Mandarin number it cannot place as same-sounding characters, so
/// an ID read as 幺幺五 can come out with no digit character at all.
fn chinese_homophones(ch: &ChannelPieces, a: &Answer) -> usize {
    ch.pieces[a.first..=a.last]
        .iter()
        .filter(|p| {
            matches!(p.kind, PieceKind::Digit { weak: true, .. })
                && ch.lexes[p.lex.0].kind == LexKind::Cjk
        })
        .count()
}

/// The first piece of channel `ch` that may answer request `h`. On the asker's own
/// channel that is after the request's sentence when it is a question ("Is that the card
/// ending in 6467?" asks, it does not answer), else after the phrase; on another channel
/// anything from the request's start (word times smear over the turn change).
fn first_answer_piece(ch: &ChannelPieces, h: &Hit, question: Option<usize>) -> Option<usize> {
    let own_from = question.unwrap_or(h.lex.1);
    ch.pieces.iter().position(|p| {
        if ch.id == h.channel {
            p.lex.0 > own_from
        } else {
            p.span.start >= h.span.start
        }
    })
}

/// The answer to request `h` on channel `ch`, if digits follow it there in time.
/// `asker` is the requester's channel when it is another one (stereo).
fn answer_on(
    rules: &AnswerRules,
    ch: &ChannelPieces,
    asker: Option<&ChannelPieces>,
    h: &Hit,
    question: Option<usize>,
    block_at: u64,
    kind: &EntityKind,
) -> Option<Answer> {
    let wait = if question.is_some() {
        rules.wait
    } else {
        rules.statement_wait
    };
    let begin = first_answer_piece(ch, h, question)?;
    let mut first: Option<usize> = None;
    let mut last = 0usize;
    let mut digits = 0usize;
    let mut words = 0usize;
    let mut open = true;
    let mut questions: Vec<(usize, usize)> = Vec::new();
    let mut skip_to: Option<usize> = None;
    for (i, p) in ch.pieces.iter().enumerate().skip(begin) {
        if skip_to.is_some_and(|end| i <= end) {
            continue;
        }
        if p.span.start >= block_at {
            open = false;
            break;
        }
        let Some(f) = first else {
            if p.is_digit_like() {
                if p.span.start.saturating_sub(h.span.end) > wait {
                    open = false;
                    break;
                }
                first = Some(i);
                last = i;
                digits = 1;
            } else if p.span.start.saturating_sub(h.span.end) > wait {
                return None;
            }
            continue;
        };
        match p.kind {
            PieceKind::Digit { .. } | PieceKind::CheckX | PieceKind::SoundAlike => {
                let prev = ch.pieces[last].span.end;
                let ends = p.span.start.saturating_sub(prev) > rules.gap
                    || p.span.end.saturating_sub(ch.pieces[f].span.start) > rules.max_len
                    || asker.is_some_and(|a| {
                        spoken_words(a, Span::new(prev, p.span.start.max(prev)))
                            >= rules.asker_words
                    });
                if ends {
                    open = false;
                    break;
                }
                last = i;
                digits += 1;
                words = 0;
            }
            PieceKind::Other => {
                if words == 0 {
                    if let Some((end, heard)) = digitless_question_from(ch, i, rules) {
                        if heard {
                            questions.push((i, end));
                        }
                        skip_to = Some(end);
                        continue;
                    }
                }
                words += 1;
                // A number already whole ("… 1, 1, 9." for a code, nine digits for an
                // SSN) is answered: words said next are about something else ("And the
                // billing zip code, 34685", "Thank you, that matches"), even when their
                // label was misheard. A question is skipped above all the same: it most
                // likely asks for the next number, its label misheard too.
                let whole = whole_digits(kind).is_some_and(|n| digits >= n);
                let limit = if whole {
                    WHOLE_MAX_WORDS
                } else {
                    rules.max_words
                };
                if words > limit {
                    open = false;
                    break;
                }
            }
            PieceKind::Sep | PieceKind::Filler => {}
        }
    }
    questions.retain(|&(start, _)| start < last);
    Some(Answer {
        digits,
        open,
        questions,
        ..Answer::over(ch, kind, first?, last, h.span.end)
    })
}

fn is_code(kind: &EntityKind) -> bool {
    matches!(kind, EntityKind::Cvv | EntityKind::Expiry)
}

/// Digits that make a security code or an expiry date whole (three: "6 28", "895"); a
/// lone "3" heard of "three four seven" may be followed by the rest of it.
pub(crate) const CODE_WHOLE_DIGITS: usize = 3;

/// Digits that make an answer of `kind` whole: a code or date's three, an SSN's nine.
/// Not for a card or resident ID: an agent's read-back may follow at once, its first
/// digits heard as words ("Let me [read that back to] you. Portal of do 5826 …"), and
/// the answer going on is what still covers those.
fn whole_digits(kind: &EntityKind) -> Option<usize> {
    match kind {
        EntityKind::Cvv | EntityKind::Expiry => Some(CODE_WHOLE_DIGITS),
        EntityKind::Ssn => Some(SSN_DIGITS),
        _ => None,
    }
}

const SSN_DIGITS: usize = 9;

/// The fewest digits a whole number of `kind` has: a code or date's three, an SSN's
/// nine, a resident ID's fifteen (first generation), a card's thirteen.
pub(crate) fn whole_number_digits(kind: &EntityKind) -> usize {
    match kind {
        EntityKind::CnId => CN_ID_MIN_DIGITS,
        EntityKind::Card | EntityKind::LongDigitRun => CARD_MIN_DIGITS,
        other => whole_digits(other).unwrap_or(CARD_MIN_DIGITS),
    }
}

const CARD_MIN_DIGITS: usize = 13;
const CN_ID_MIN_DIGITS: usize = 15;

/// Other words that end the answer of a number once it is whole: a reader's "no,
/// sorry, 896" goes on; "your appointment is at 945" does not.
const WHOLE_MAX_WORDS: usize = 2;

/// Words a question needs to be taken out of an answer ("Can I have the CVC?"), so that a
/// reader's own "right?" or "sorry?" is not.
const QUESTION_MIN_WORDS: usize = 3;

/// When the words from piece `i` of channel `ch` to their sentence's end are a question
/// with no digit in it, the piece that ends it, and whether it was heard with confidence.
/// Said right after an answer's digits, that is someone asking something ("720-26. Can I
/// have the CVC? 2 1 3" on a mono recording): the answer may go on after it (the question
/// most likely asks for the next sensitive number), and its words are no part of it. A
/// "question" whose words the recogniser mostly doubted ("Can you tell me a little bit?"
/// at 0.1-0.3, inside a card read aloud) may be the number itself misheard: the answer
/// goes on over it and it is bleeped with the answer.
fn digitless_question_from(
    ch: &ChannelPieces,
    i: usize,
    rules: &AnswerRules,
) -> Option<(usize, bool)> {
    let from = ch.pieces[i].lex.0;
    let end = (from..ch.lexes.len()).find(|&k| ch.lexes[k].ends_sentence())?;
    if !ch.lexes[end].is_question_mark() {
        return None;
    }
    let (mut words, mut doubted) = (0, 0);
    let mut last = i;
    for (k, p) in ch.pieces.iter().enumerate().skip(i) {
        if p.lex.0 > end {
            break;
        }
        if p.is_digit_like() {
            return None;
        }
        if p.kind == PieceKind::Other {
            words += 1;
            doubted += usize::from(unsure::doubted(rules, ch, p));
        }
        last = k;
    }
    (words >= QUESTION_MIN_WORDS).then_some((last, 2 * doubted <= words))
}

/// Words (not fillers, separators or digits) of channel `ch` that start inside `gap`.
fn spoken_words(ch: &ChannelPieces, gap: Span) -> usize {
    ch.pieces
        .iter()
        .filter(|p| {
            p.kind == PieceKind::Other && p.span.start >= gap.start && p.span.start < gap.end
        })
        .count()
}

/// The parts of answer `a` that no item already covers: runs of its pieces outside
/// `covered` (piece indices of the channel inside an item) and outside its questions,
/// each holding a digit or an unknown word (a digit Whisper misheard).
pub(crate) fn uncovered_parts(
    pieces: &[Piece],
    a: &Answer,
    covered: impl Fn(usize) -> bool,
) -> Vec<(usize, usize)> {
    normalize::content_runs(pieces, a.first, a.last, |i| {
        covered(i) || a.questions.iter().any(|&(s, e)| (s..=e).contains(&i))
    })
}

#[cfg(test)]
mod tests;
