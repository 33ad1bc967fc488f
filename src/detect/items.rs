//! Items of one channel as the detector assembles them: what an item is (in
//! channel-local word indices) and how a new one joins those already found. Must not
//! decide what digits mean; that is the classifier's.

use crate::time::Span;

use super::EntityKind;

/// Internal form of an item, in channel-local word indices.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: EntityKind,
    pub channel: u16,
    pub span: Span,
    pub reason: String,
    pub confidence: f32,
    /// Decided by a checksum, not by context or a fail-closed rule.
    pub validated: bool,
    /// (word, byte offset) where the item starts and (word, byte offset) where it ends.
    pub first: (usize, usize),
    pub last: (usize, usize),
}

impl Item {
    /// Whether the two items share a word.
    fn touches(&self, other: &Item) -> bool {
        self.first.0 <= other.last.0 && other.first.0 <= self.last.0
    }

    /// Grows to cover `other` too (words and audio), keeping its own type.
    fn cover(&mut self, other: &Item) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.span = self.span.union(&other.span);
    }
}

/// Adds a fail-closed item: items it overlaps grow to cover it (keeping their type),
/// otherwise it stands alone.
pub(super) fn absorb(items: &mut Vec<Item>, it: Item) {
    let mut covered = false;
    for o in items.iter_mut().filter(|o| o.touches(&it)) {
        o.cover(&it);
        covered = true;
    }
    if !covered {
        items.push(it);
    }
}

/// Adds a digit item to a channel's items, of which the first `n_text` are custom text
/// items. One that touches a word of a custom text item is merged into it (both are
/// redacted as one), taking the digit item's kind only if a checksum decided it.
pub(super) fn merge_item(items: &mut Vec<Item>, n_text: usize, it: Item) {
    let Some(o) = items[..n_text].iter_mut().find(|o| o.touches(&it)) else {
        items.push(it);
        return;
    };
    o.cover(&it);
    if it.validated {
        o.kind = it.kind;
        o.reason = it.reason;
        o.confidence = it.confidence;
        o.validated = true;
    }
}
