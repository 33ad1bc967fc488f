//! Span padding and merging on one sample clock.

use crate::time::Span;

/// Widens every span by `padding` samples on both sides, clips to `[0, total_len)` when
/// the length is known, then sorts and merges spans that overlap or touch.
///
/// Input and output are on the same clock. Zero-length input spans still mark a place
/// where something sensitive was found, so they are padded like any other (fail closed);
/// a span given backwards (`start > end`) is read as the range between its two ends.
/// Spans that lie wholly at or past `total_len` vanish: there is no audio to bleep there.
pub fn pad_and_merge(spans: &[Span], padding: u64, total_len: Option<u64>) -> Vec<Span> {
    let limit = total_len.unwrap_or(u64::MAX);
    let mut padded: Vec<Span> = spans
        .iter()
        .map(|s| {
            let (lo, hi) = (s.start.min(s.end), s.start.max(s.end));
            Span {
                start: lo.saturating_sub(padding),
                end: hi.saturating_add(padding).min(limit),
            }
        })
        .filter(|s| s.start < s.end)
        .collect();
    padded.sort_unstable();

    let mut merged: Vec<Span> = Vec::with_capacity(padded.len());
    for span in padded {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: u64, b: u64) -> Span {
        Span { start: a, end: b }
    }

    #[test]
    fn overlapping_and_touching_spans_merge() {
        let out = pad_and_merge(&[s(50, 60), s(10, 20), s(20, 30), s(25, 40)], 0, None);
        assert_eq!(out, vec![s(10, 40), s(50, 60)]);
    }

    #[test]
    fn padding_joins_near_spans_and_clips_at_both_ends() {
        let out = pad_and_merge(&[s(3, 10), s(14, 20), s(95, 99)], 2, Some(100));
        assert_eq!(out, vec![s(1, 22), s(93, 100)]);
        let out = pad_and_merge(&[s(3, 10), s(14, 20)], 1, None);
        assert_eq!(out, vec![s(2, 11), s(13, 21)]);
    }

    #[test]
    fn empty_and_backward_spans_are_kept_and_out_of_range_dropped() {
        let out = pad_and_merge(&[s(50, 50), s(200, 300)], 5, Some(100));
        assert_eq!(out, vec![s(45, 55)]);
        let out = pad_and_merge(&[Span { start: 30, end: 20 }], 0, None);
        assert_eq!(out, vec![s(20, 30)]);
        assert!(pad_and_merge(&[s(7, 7)], 0, None).is_empty());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let out = pad_and_merge(&[s(u64::MAX - 1, u64::MAX)], u64::MAX, None);
        assert_eq!(out, vec![s(0, u64::MAX)]);
    }
}
