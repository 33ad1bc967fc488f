//! Time on the audio timeline: an integer sample index at a known rate.
//!
//! Owns the conversions between sample clocks (original rate ↔ the 16 kHz recognition
//! clock) and to seconds. Seconds appear only at the edges (transcript JSON, tables);
//! everything inside the pipeline keeps integer samples so spans never drift by rounding.
//! Must not know anything about audio content.

/// Sample rate Whisper recognises at; word times from `asr` are on this clock.
pub const ASR_RATE: u32 = 16_000;

/// A half-open range `[start, end)` of sample indices on one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn new(start: u64, end: u64) -> Self {
        debug_assert!(start <= end, "span start after end");
        Span { start, end }
    }

    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Smallest span covering both.
    pub fn union(&self, other: &Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// This span moved from the `from` clock to the `to` clock, widened outward so the
    /// converted span never covers less audio than the original.
    pub fn rescale(&self, from: u32, to: u32) -> Span {
        Span::new(
            rescale_floor(self.start, from, to),
            rescale_ceil(self.end, from, to),
        )
    }
}

/// `index * to / from`, rounded down. Uses u128 so a multi-day stream at 192 kHz
/// cannot overflow.
pub fn rescale_floor(index: u64, from: u32, to: u32) -> u64 {
    ((index as u128 * to as u128) / from as u128) as u64
}

/// `index * to / from`, rounded up.
pub fn rescale_ceil(index: u64, from: u32, to: u32) -> u64 {
    ((index as u128 * to as u128).div_ceil(from as u128)) as u64
}

/// Samples at `rate` → seconds; for output only.
pub fn to_seconds(index: u64, rate: u32) -> f64 {
    index as f64 / rate as f64
}

/// Seconds → samples at `rate`, rounded to nearest; for config values (padding, gaps).
pub fn from_seconds(seconds: f64, rate: u32) -> u64 {
    (seconds.max(0.0) * rate as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_widens_outward() {
        let s = Span::new(1, 3).rescale(16_000, 8_000);
        assert_eq!(s, Span::new(0, 2));
        let s = Span::new(3, 5).rescale(44_100, 16_000);
        assert!(s.start as f64 / 16_000.0 <= 3.0 / 44_100.0);
        assert!(s.end as f64 / 16_000.0 >= 5.0 / 44_100.0);
    }

    #[test]
    fn rescale_extremes_do_not_overflow() {
        let big = u64::MAX / 2;
        assert_eq!(rescale_floor(big, 192_000, 192_000), big);
        assert_eq!(rescale_ceil(0, 8_000, 16_000), 0);
        // A week at 192 kHz moved to 16 kHz stays exact.
        let week = 7 * 24 * 3600 * 192_000u64;
        assert_eq!(rescale_floor(week, 192_000, 16_000), 7 * 24 * 3600 * 16_000);
    }

    #[test]
    fn seconds_round_trip() {
        assert_eq!(from_seconds(1.5, 8_000), 12_000);
        assert_eq!(to_seconds(12_000, 8_000), 1.5);
        assert_eq!(from_seconds(-1.0, 8_000), 0);
    }

    #[test]
    fn span_union_and_overlap() {
        let a = Span::new(10, 20);
        let b = Span::new(20, 30);
        assert!(!a.overlaps(&b));
        assert_eq!(a.union(&b), Span::new(10, 30));
        assert!(a.overlaps(&Span::new(19, 21)));
        assert!(Span::new(5, 5).is_empty());
    }
}
