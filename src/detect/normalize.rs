//! Spoken-number normalisation: turns a channel's lexemes into pieces, a stream of
//! single digits (each with the time of the lexeme it came from), separators, fillers,
//! the ID check character and everything else. Handles numerals, digit words, homophones
//! (marked weak), "double"/"triple", teens, tens ("forty one eleven" → 4111), "hundred",
//! "thousand", month names, Chinese digits and 十, and unknown words between digits that
//! sound like digit words (weak). Must not decide what a run means.

use crate::time::Span;

use super::lexicon::{Lex, LexKind, Lexicon, Multi};
use super::phonetic::Phonetic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceKind {
    /// `d` is an ASCII digit. Weak digits are homophones ("for", "腰"): they count only
    /// between or next to real digits. Month digits come from a month name.
    Digit {
        d: u8,
        weak: bool,
        month: bool,
    },
    /// The GB 11643 check character spoken as "X" / 叉 / 艾克斯.
    CheckX,
    /// An unknown word between two digits that sounds like a digit word: it keeps the
    /// run together and is redacted with it, but its value is a guess, so it is not one
    /// of the run's digits (checksums never see it).
    SoundAlike,
    Sep,
    Filler,
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub kind: PieceKind,
    /// First and last lexeme (inclusive) this piece was read from.
    pub lex: (usize, usize),
    pub span: Span,
    /// Written numeral group of a digit (0 for spoken digits).
    pub num_group: u32,
}

impl Piece {
    pub fn is_digit(&self) -> bool {
        matches!(self.kind, PieceKind::Digit { .. })
    }

    /// A digit that is no homophone, or the ID check character: what a number's
    /// edges are made of ("thanks for 4539…" starts at the 4).
    pub fn is_strong_digit(&self) -> bool {
        matches!(
            self.kind,
            PieceKind::Digit { weak: false, .. } | PieceKind::CheckX
        )
    }

    /// A digit, the ID check character, or a word taken for a misheard digit.
    pub fn is_digit_like(&self) -> bool {
        matches!(
            self.kind,
            PieceKind::Digit { .. } | PieceKind::CheckX | PieceKind::SoundAlike
        )
    }
}

/// Runs of pieces `first..=last` outside `skip`, each holding a digit-like piece or an
/// unknown word (a digit misheard), trimmed of fillers and separators: what is left of a
/// number once the items already found in it are taken out.
pub(crate) fn content_runs(
    pieces: &[Piece],
    first: usize,
    last: usize,
    skip: impl Fn(usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for (i, p) in pieces.iter().enumerate().take(last + 1).skip(first) {
        if skip(i) {
            runs.extend(cur.take());
            continue;
        }
        if p.is_digit_like() || p.kind == PieceKind::Other {
            cur = Some(cur.map_or((i, i), |(s, _)| (s, i)));
        }
    }
    runs.extend(cur);
    runs
}

/// The `k`-th of `n` equal parts of `span`, widened outward.
fn part(span: Span, k: u64, n: u64) -> Span {
    let len = span.len() as u128;
    let s = span.start + (k as u128 * len / n as u128) as u64;
    let e = span.start + ((k + 1) as u128 * len).div_ceil(n as u128) as u64;
    Span::new(s, e.max(s))
}

struct Out<'a> {
    lexes: &'a [Lex],
    pieces: Vec<Piece>,
}

impl Out<'_> {
    fn push(&mut self, kind: PieceKind, lex: (usize, usize), span: Span) {
        let num_group = self.lexes[lex.0].num_group;
        self.pieces.push(Piece {
            kind,
            lex,
            span,
            num_group,
        });
    }

    fn digit(&mut self, d: u8, weak: bool, lex: usize, span: Span) {
        self.push(
            PieceKind::Digit {
                d,
                weak,
                month: false,
            },
            (lex, lex),
            span,
        );
    }

    /// Digits `ds` all read from lexeme `lex`, sharing its span.
    fn digits_from(&mut self, ds: &[u8], lex: usize) {
        let span = self.lexes[lex].span;
        for (k, d) in ds.iter().enumerate() {
            self.digit(*d, false, lex, part(span, k as u64, ds.len() as u64));
        }
    }

    /// At a "hundred"/"thousand" lexeme `i`: the value 0..=99 spoken after it as
    /// `width` digits (zero-padded), or all zeros; returns the next lexeme.
    fn below_hundred_or_zeros(&mut self, lx: &Lexicon, i: usize, width: usize) -> usize {
        match below_hundred(lx, self.lexes, i + 1) {
            Some(v) => {
                if width == 3 {
                    self.digit(b'0', false, i, self.lexes[i].span);
                }
                if let Some(a) = v.and_at {
                    self.push(PieceKind::Filler, (a, a), self.lexes[a].span);
                }
                for (d, from) in v.digits {
                    self.digit(d, false, from, self.lexes[from].span);
                }
                v.next
            }
            None => {
                self.digits_from(&b"000"[..width], i);
                i + 1
            }
        }
    }

    fn last_real(&self) -> Option<&Piece> {
        self.pieces
            .iter()
            .rev()
            .find(|p| !matches!(p.kind, PieceKind::Sep | PieceKind::Filler))
    }
}

/// A value 0..=99 spoken after "hundred" or "thousand".
struct BelowHundred {
    /// The two digits, each with the lexeme it came from.
    digits: [(u8, usize); 2],
    /// The lexeme after the value.
    next: usize,
    /// Where an "and" before the value was.
    and_at: Option<usize>,
}

/// Reads a value 0..=99 spoken at `i`, an optional "and" first.
fn below_hundred(lx: &Lexicon, lexes: &[Lex], mut i: usize) -> Option<BelowHundred> {
    let mut and_at = None;
    if lexes.get(i).is_some_and(|l| l.text == "and") {
        and_at = Some(i);
        i += 1;
    }
    let l = lexes.get(i)?;
    let (digits, next) = if let Some(t) = lx.teens.get(&l.text) {
        ([(t[0], i), (t[1], i)], i + 1)
    } else if let Some(&t) = lx.tens.get(&l.text) {
        match unit_word(lx, lexes.get(i + 1)) {
            Some(u) => ([(t, i), (u, i + 1)], i + 2),
            None => ([(t, i), (b'0', i)], i + 1),
        }
    } else {
        let u = unit_word(lx, Some(l))?;
        ([(b'0', i), (u, i)], i + 1)
    };
    Some(BelowHundred {
        digits,
        next,
        and_at,
    })
}

/// A non-zero digit spoken as an alphabetic word and not a homophone ("one".."nine").
fn unit_word(lx: &Lexicon, l: Option<&Lex>) -> Option<u8> {
    let l = l?;
    if l.kind != LexKind::Alpha {
        return None;
    }
    match lx.digit.get(&l.text) {
        Some(&(d, false)) if d != b'0' => Some(d),
        _ => None,
    }
}

fn multi_at(lx: &Lexicon, lexes: &[Lex], i: usize) -> Option<(Multi, usize)> {
    lx.multi.iter().find_map(|(toks, kind)| {
        let window = lexes.get(i..i + toks.len())?;
        window
            .iter()
            .zip(toks)
            .all(|(l, t)| &l.text == t)
            .then_some((*kind, toks.len()))
    })
}

const HYPHENS: &str = "-–—";
const SEPARATOR_PUNCT: &str = "-–—/.,:;、，。·'\"()?!？！：；“”‘’";

/// Pieces of one channel's lexemes, in order.
pub(crate) fn pieces(lx: &Lexicon, lexes: &[Lex]) -> Vec<Piece> {
    let mut out = Out {
        lexes,
        pieces: Vec::with_capacity(lexes.len()),
    };
    let mut i = 0;
    while i < lexes.len() {
        let l = &lexes[i];
        if let Some((kind, n)) = multi_at(lx, lexes, i) {
            let span = lexes[i].span.union(&lexes[i + n - 1].span);
            let kind = match kind {
                Multi::Filler => PieceKind::Filler,
                Multi::Separator => PieceKind::Sep,
                Multi::CheckX if out.last_real().is_some_and(Piece::is_digit) => PieceKind::CheckX,
                Multi::CheckX => PieceKind::Other,
            };
            out.push(kind, (i, i + n - 1), span);
            i += n;
            continue;
        }
        if l.kind == LexKind::Num {
            out.digit(l.text.as_bytes()[0], false, i, l.span);
            i += 1;
            continue;
        }
        // "hundred" / "thousand" right after a spoken number: "forty five hundred",
        // "four thousand five hundred thirty nine", "two thousand twenty seven".
        let after_number = i > 0
            && out.pieces.last().is_some_and(|p| {
                matches!(
                    p.kind,
                    PieceKind::Digit {
                        weak: false,
                        month: false,
                        ..
                    }
                ) && p.lex.1 == i - 1
                    && lexes[i - 1].kind == LexKind::Alpha
            });
        if after_number && lx.hundred.contains(&l.text) {
            i = out.below_hundred_or_zeros(lx, i, 2);
            continue;
        }
        if after_number && lx.thousand.contains(&l.text) {
            let hundreds = unit_word(lx, lexes.get(i + 1)).filter(|_| {
                lexes
                    .get(i + 2)
                    .is_some_and(|n| lx.hundred.contains(&n.text))
            });
            if let Some(h) = hundreds {
                out.push(PieceKind::Sep, (i, i), l.span);
                out.digit(h, false, i + 1, lexes[i + 1].span);
                i += 2;
            } else {
                i = out.below_hundred_or_zeros(lx, i, 3);
            }
            continue;
        }
        if let Some(&(d, weak)) = lx.digit.get(&l.text) {
            out.digit(d, weak, i, l.span);
            i += 1;
            continue;
        }
        if lx.ten_zh.contains(&l.text) {
            // 十 is "1 0" alone, "1" before a digit (十五), "0" after one (二十), nothing
            // between two (二十五).
            let prev_digit = i > 0
                && out
                    .pieces
                    .last()
                    .is_some_and(|p| p.is_digit() && p.lex.1 == i - 1);
            let next_digit = lexes
                .get(i + 1)
                .is_some_and(|n| n.kind == LexKind::Cjk && lx.digit.contains_key(&n.text));
            let ds: &[u8] = match (prev_digit, next_digit) {
                (false, false) => b"10",
                (false, true) => b"1",
                (true, false) => b"0",
                (true, true) => b"",
            };
            if ds.is_empty() {
                out.push(PieceKind::Sep, (i, i), l.span);
            } else {
                out.digits_from(ds, i);
            }
            i += 1;
            continue;
        }
        if let Some(t) = lx.teens.get(&l.text) {
            out.digits_from(&[t[0], t[1]], i);
            i += 1;
            continue;
        }
        if let Some(&t) = lx.tens.get(&l.text) {
            if let Some(u) = unit_word(lx, lexes.get(i + 1)) {
                out.digit(t, false, i, l.span);
                out.digit(u, false, i + 1, lexes[i + 1].span);
                i += 2;
            } else {
                out.digits_from(&[t, b'0'], i);
                i += 1;
            }
            continue;
        }
        if let Some(&n) = lx.repeats.get(&l.text) {
            // Whisper hyphenates the pair: "double-9", "04-double-9", "Triple-86".
            let at = match lexes.get(i + 1) {
                Some(h) if h.kind == LexKind::Punct && HYPHENS.contains(h.text.as_str()) => i + 2,
                _ => i + 1,
            };
            let next = lexes.get(at);
            let heard = next.and_then(|nl| match nl.kind {
                LexKind::Num => Some((nl.text.as_bytes()[0], false)),
                _ => lx.digit.get(&nl.text).map(|x| (x.0, false)),
            });
            // "double oh" heard as "double low": inside a number being read out, the
            // word after a repeat word is a digit Whisper misheard. Its value is lost;
            // it stands as weak zeros ("oh", the likeliest) so that the run, and the
            // bleep, reach it. The guess can only widen what is redacted.
            let misheard = || {
                next.filter(|nl| nl.kind == LexKind::Alpha)
                    .filter(|_| out.last_real().is_some_and(Piece::is_digit))
                    .map(|_| (b'0', true))
            };
            if let Some((d, weak)) = heard.or_else(misheard) {
                for k in 0..n - 1 {
                    out.digit(d, weak, i, part(l.span, k as u64, (n - 1) as u64));
                }
                out.digit(d, weak, at, lexes[at].span);
                i = at + 1;
                continue;
            }
            // "double oh" with the "oh" lost ("Double. 6-0…"): the word still sits
            // inside a number being read out, so it must not end the run.
            out.push(PieceKind::Filler, (i, i), l.span);
            i += 1;
            continue;
        }
        if let Some(m) = lx.months.get(&l.text) {
            for (k, d) in m.iter().enumerate() {
                out.push(
                    PieceKind::Digit {
                        d: *d,
                        weak: false,
                        month: true,
                    },
                    (i, i),
                    part(l.span, k as u64, 2),
                );
            }
            i += 1;
            continue;
        }
        let kind = if lx.check_x.contains(&l.text) {
            if out.last_real().is_some_and(Piece::is_digit) {
                PieceKind::CheckX
            } else {
                PieceKind::Other
            }
        } else if lx.separators.contains(&l.text)
            || (l.kind == LexKind::Punct && SEPARATOR_PUNCT.contains(l.text.as_str()))
        {
            PieceKind::Sep
        } else if lx.fillers.contains(&l.text) {
            PieceKind::Filler
        } else {
            PieceKind::Other
        };
        out.push(kind, (i, i), l.span);
        i += 1;
    }
    let mut pieces = out.pieces;
    if let Some(p) = &lx.phonetic {
        sound_alike_digits(lx, p, lexes, &mut pieces);
    }
    pieces
}

/// A homophone ("for", "to", "腰") in a sentence that asks for a number and holds no real
/// digit is a word of the request: "Could you confirm your social security number for
/// me." ends before the number is read. `requests` are the lexeme ranges of phrases
/// asking for a sensitive number. Sentences end at full stops, question and exclamation
/// marks; where Whisper wrote none, nothing changes.
pub(crate) fn request_homophones_are_words(
    lexes: &[Lex],
    pieces: &mut [Piece],
    requests: &[(usize, usize)],
) {
    if requests.is_empty() {
        return;
    }
    let mut sentence_of = Vec::with_capacity(lexes.len());
    let mut n = 0usize;
    for l in lexes {
        sentence_of.push(n);
        n += usize::from(l.ends_sentence());
    }
    let mut asks = vec![false; n + 1];
    for &(first, _) in requests {
        asks[sentence_of[first]] = true;
    }
    for p in pieces.iter() {
        if matches!(
            p.kind,
            PieceKind::Digit { weak: false, .. } | PieceKind::CheckX
        ) {
            asks[sentence_of[p.lex.0]] = false;
        }
    }
    for p in pieces.iter_mut() {
        if matches!(p.kind, PieceKind::Digit { weak: true, .. }) && asks[sentence_of[p.lex.0]] {
            p.kind = PieceKind::Other;
        }
    }
}

/// Most different unknown words in a row taken for digits Whisper misheard.
const MAX_SOUND_ALIKES: usize = 2;

/// Unknown words that sound like digit words become [`PieceKind::SoundAlike`] where
/// they sit right between two digits ("45 time 1", "7 8 4, eat 0"): on the phone band
/// Whisper writes digit words as other words, and the number must not break there. Up
/// to [`MAX_SOUND_ALIKES`] different words in a row (a word repeated counts once:
/// "seven seven" heard as "time time"); separators are neutral, and so is a "double"
/// whose digit was lost ("4-time double-time. 1-2-4-0").
fn sound_alike_digits(lx: &Lexicon, p: &Phonetic, lexes: &[Lex], pieces: &mut [Piece]) {
    let mut i = 0;
    while i < pieces.len() {
        if !pieces[i].is_digit() {
            i += 1;
            continue;
        }
        let (guesses, stop) = sound_alikes(lx, p, lexes, pieces, i + 1);
        if stop.is_some_and(|j| pieces[j].is_digit()) {
            for k in guesses {
                pieces[k].kind = PieceKind::SoundAlike;
            }
        }
        i = stop.unwrap_or(pieces.len()).max(i + 1);
    }
}

/// The unknown words from piece `from` on that sound like digit words, and the piece
/// the walk stopped at.
fn sound_alikes(
    lx: &Lexicon,
    p: &Phonetic,
    lexes: &[Lex],
    pieces: &[Piece],
    from: usize,
) -> (Vec<usize>, Option<usize>) {
    let mut guesses: Vec<usize> = Vec::new();
    let mut repeats = 0;
    for j in from..pieces.len() {
        match pieces[j].kind {
            PieceKind::Sep => {}
            PieceKind::Filler if lx.repeats.contains_key(&lexes[pieces[j].lex.0].text) => {}
            PieceKind::Other => {
                let l = &lexes[pieces[j].lex.0];
                // A word heard again right after itself is one digit said twice ("seven
                // seven" as "time time"), not more words between numbers.
                let repeated = guesses
                    .last()
                    .is_some_and(|&g| lexes[pieces[g].lex.0].text == l.text);
                let distinct = guesses.len() - repeats;
                if l.kind == LexKind::Alpha
                    && (repeated || distinct < MAX_SOUND_ALIKES)
                    && p.sounds_like_digit(&l.text)
                {
                    repeats += usize::from(repeated);
                    guesses.push(j);
                } else {
                    return (guesses, Some(j));
                }
            }
            _ => return (guesses, Some(j)),
        }
    }
    (guesses, None)
}
