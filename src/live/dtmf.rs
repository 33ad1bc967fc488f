//! RFC 4733 telephone-event payloads → keyed digits with their time span.
//!
//! An event is sent as several packets sharing one RTP timestamp (its start), with a
//! growing duration, and its end packet is repeated; a digit is reported once, when its
//! end arrives, or when the next event or the end of the stream shows it is over.
//! Must not log or display digits: keyed-in card numbers are as sensitive as spoken ones.

use crate::time::Span;

/// One decoded telephone-event payload block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    event: u8,
    end: bool,
    duration: u16,
}

fn parse(payload: &[u8]) -> Option<Block> {
    let b = payload.get(..4)?;
    Some(Block {
        event: b[0],
        end: b[1] & 0x80 != 0,
        duration: u16::from_be_bytes([b[2], b[3]]),
    })
}

/// DTMF events 0–15 (RFC 4733 §3.2); other events (flash, tones) are not digits.
fn digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

#[derive(Debug, Default)]
pub struct DtmfDecoder {
    /// `(start pos, event, longest duration seen)` of the event in progress.
    current: Option<(u64, u8, u16)>,
    /// The last finished event, so its repeated end packets are not reported again.
    done: Option<(u64, u8)>,
}

impl DtmfDecoder {
    /// Feeds one telephone-event packet starting at `pos`; returns finished digits.
    pub fn push(&mut self, pos: u64, payload: &[u8]) -> Vec<(char, Span)> {
        let mut out = Vec::new();
        let Some(b) = parse(payload) else {
            return out;
        };
        if self.done == Some((pos, b.event)) {
            return out;
        }
        match self.current {
            Some((p, e, d)) if p == pos && e == b.event => {
                self.current = Some((p, e, d.max(b.duration)));
            }
            _ => {
                out.extend(self.finish());
                self.current = Some((pos, b.event, b.duration));
            }
        }
        if b.end {
            out.extend(self.finish());
        }
        out
    }

    /// Reports the event in progress, if any (its end packets were lost, or the stream ended).
    pub fn finish(&mut self) -> Option<(char, Span)> {
        let (pos, event, dur) = self.current.take()?;
        self.done = Some((pos, event));
        let d = digit(event)?;
        Some((d, Span::new(pos, pos + dur.max(1) as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(event: u8, end: bool, duration: u16) -> Vec<u8> {
        let d = duration.to_be_bytes();
        vec![event, if end { 0x8A } else { 0x0A }, d[0], d[1]]
    }

    #[test]
    fn one_digit_from_progress_and_repeated_end_packets() {
        let mut d = DtmfDecoder::default();
        assert!(d.push(800, &block(5, false, 160)).is_empty());
        assert!(d.push(800, &block(5, false, 320)).is_empty());
        assert_eq!(
            d.push(800, &block(5, true, 800)),
            [('5', Span::new(800, 1600))]
        );
        assert!(d.push(800, &block(5, true, 800)).is_empty());
        assert!(d.push(800, &block(5, true, 800)).is_empty());
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn lost_end_packets_are_closed_by_the_next_event_or_the_stream_end() {
        let mut d = DtmfDecoder::default();
        d.push(0, &block(11, false, 400));
        assert_eq!(
            d.push(2000, &block(10, false, 160)),
            [('#', Span::new(0, 400))]
        );
        assert_eq!(d.finish(), Some(('*', Span::new(2000, 2160))));
    }

    #[test]
    fn same_digit_twice_in_a_row_is_two_digits() {
        let mut d = DtmfDecoder::default();
        assert_eq!(d.push(0, &block(1, true, 800)).len(), 1);
        assert_eq!(
            d.push(1600, &block(1, true, 800)),
            [('1', Span::new(1600, 2400))]
        );
    }

    #[test]
    fn non_digit_events_and_short_payloads_are_ignored() {
        let mut d = DtmfDecoder::default();
        assert!(d.push(0, &block(16, true, 800)).is_empty());
        assert!(d.push(0, &[1, 2]).is_empty());
        assert_eq!(d.push(10, &block(15, true, 8)), [('D', Span::new(10, 18))]);
    }
}
