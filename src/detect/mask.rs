//! Masked text: each item's words replaced by its tag, with no digit of the item left
//! (not even the last four). Text before an item's first digit and after its last digit
//! in the same word is kept ("是[CN_ID]"). Must not add anything but tags.

use super::items::Item;
use super::{MaskedWord, Source};
use crate::asr::Word;

pub(crate) struct ChannelView<'a> {
    pub id: u16,
    /// Global index of each channel-local word.
    pub order: &'a [usize],
    pub words: &'a [&'a Word],
    /// Which of `words` were keyed.
    pub keyed: &'a [bool],
}

/// One edit of a word's text: bytes to drop, and the index of the item whose tag goes there.
struct Edit {
    start: usize,
    end: usize,
    tag_of: Option<usize>,
}

/// Masked words in input order. `items` carry the index of their channel in `channels`.
pub(crate) fn mask(
    n_words: usize,
    channels: &[ChannelView],
    items: &[(usize, Item)],
) -> Vec<MaskedWord> {
    let mut edits: Vec<Vec<Vec<Edit>>> = channels
        .iter()
        .map(|c| (0..c.words.len()).map(|_| Vec::new()).collect())
        .collect();
    for (k, (ci, it)) in items.iter().enumerate() {
        let words = channels[*ci].words;
        let e = &mut edits[*ci];
        let (wf, bf) = it.first;
        let (wl, bl) = it.last;
        if wf == wl {
            e[wf].push(Edit {
                start: bf,
                end: bl,
                tag_of: Some(k),
            });
            continue;
        }
        e[wf].push(Edit {
            start: bf,
            end: words[wf].text.len(),
            tag_of: Some(k),
        });
        for (w, slot) in e.iter_mut().enumerate().take(wl).skip(wf + 1) {
            slot.push(Edit {
                start: 0,
                end: words[w].text.len(),
                tag_of: None,
            });
        }
        e[wl].push(Edit {
            start: 0,
            end: bl,
            tag_of: None,
        });
    }
    let mut out: Vec<Option<MaskedWord>> = vec![None; n_words];
    for (ci, ch) in channels.iter().enumerate() {
        for (w, word) in ch.words.iter().enumerate() {
            let mut es = std::mem::take(&mut edits[ci][w]);
            es.sort_by_key(|e| (e.start, e.end));
            let mut text = String::new();
            let mut pos = 0;
            let mut span = word.span;
            let mut redacted = None;
            for e in &es {
                let start = e.start.max(pos);
                text.push_str(&word.text[pos..start]);
                if let Some(k) = e.tag_of {
                    let item = &items[k].1;
                    text.push_str(&item.kind.tag());
                    span = span.union(&item.span);
                    redacted.get_or_insert(item.kind.clone());
                }
                pos = pos.max(e.end);
            }
            text.push_str(&word.text[pos.min(word.text.len())..]);
            let text = text.trim().to_string();
            if !text.is_empty() {
                out[ch.order[w]] = Some(MaskedWord {
                    channel: ch.id,
                    text,
                    span,
                    redacted,
                    source: if ch.keyed[w] {
                        Source::Keypad
                    } else {
                        Source::Speech
                    },
                });
            }
        }
    }
    out.into_iter().flatten().collect()
}
