//! RTP packets (RFC 3550 §5.1) and the jitter buffer that turns what the network
//! delivers (late, duplicated, reordered, lost, with SSRC changes and timestamp jumps)
//! into frames in order, each placed on one continuous 8 kHz sample timeline.
//!
//! Must not decode payloads: it only needs a frame's length, which for G.711 is its
//! byte count (one byte per sample).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub pt: u8,
    pub marker: bool,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet shorter than its header")]
    Short,
    #[error("RTP version is not 2")]
    Version,
    #[error("RTP padding or extension runs past the packet")]
    Length,
    #[error("packet is RTCP, not RTP")]
    Rtcp,
}

impl RtpPacket {
    pub fn parse(b: &[u8]) -> Result<RtpPacket, RtpError> {
        if b.len() < 12 {
            return Err(RtpError::Short);
        }
        if b[0] >> 6 != 2 {
            return Err(RtpError::Version);
        }
        let pt = b[1] & 0x7F;
        if (72..=76).contains(&pt) {
            return Err(RtpError::Rtcp);
        }
        let mut start = 12 + 4 * (b[0] & 0x0F) as usize;
        if b[0] & 0x10 != 0 {
            let ext = b.get(start + 2..start + 4).ok_or(RtpError::Length)?;
            start += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
        }
        let mut end = b.len();
        if b[0] & 0x20 != 0 {
            let pad = b[end - 1] as usize;
            if pad == 0 || pad > end {
                return Err(RtpError::Length);
            }
            end -= pad;
        }
        if start > end {
            return Err(RtpError::Length);
        }
        Ok(RtpPacket {
            seq: u16::from_be_bytes([b[2], b[3]]),
            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            pt,
            marker: b[1] & 0x80 != 0,
            payload: b[start..end].to_vec(),
        })
    }

    /// The packet's wire form (no CSRC, extension or padding); used by tests and tools.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12 + self.payload.len());
        v.push(0x80);
        v.push(self.pt | if self.marker { 0x80 } else { 0 });
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.ts.to_be_bytes());
        v.extend_from_slice(&self.ssrc.to_be_bytes());
        v.extend_from_slice(&self.payload);
        v
    }
}

/// A packet released in order, placed on the stream's output timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sample index (8 kHz, from the stream's first packet) where the frame starts;
    /// for a telephone-event packet, where the event started.
    pub pos: u64,
    pub pt: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// Packets held waiting for a missing one before it is declared lost.
    pub max_packets: usize,
    /// How long the oldest held packet may wait for a missing one.
    pub max_delay: Duration,
    /// Longest timestamp gap (samples) filled as a real pause; a larger one, or any
    /// step backwards, is a timestamp jump and the timeline is re-anchored.
    pub max_gap: u64,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            max_packets: 8,
            max_delay: Duration::from_millis(120),
            max_gap: 10 * 8000,
        }
    }
}

/// RFC 3550 A.1: a jump this far ahead is a restart, not loss.
const MAX_DROPOUT: u64 = 3000;
/// Packets this far behind the release point are stale duplicates or a restart.
const MAX_MISORDER: u64 = 100;
/// A new source's first packets are held until this many arrived (or `max_delay`
/// passed), so that its first packet is known even when the first few are reordered.
const START_HOLD: usize = 3;

pub struct JitterBuffer {
    cfg: JitterConfig,
    event_pt: Option<u8>,
    ssrc: Option<u32>,
    retired_ssrc: Option<u32>,
    /// A new SSRC on probation: it must send two sequential packets to take over.
    candidate: Option<(u32, u16, RtpPacket, Instant)>,
    /// A lone packet far behind; a second sequential one means the sender restarted.
    restart: Option<u16>,
    highest: Option<u64>,
    next: Option<u64>,
    held: BTreeMap<u64, (RtpPacket, Instant)>,
    /// `(rtp ts, pos)` anchoring RTP timestamps to output positions.
    anchor: Option<(u32, u64)>,
    audio_end: u64,
    last_len: u64,
}

impl JitterBuffer {
    pub fn new(cfg: JitterConfig, event_pt: Option<u8>) -> Self {
        JitterBuffer {
            cfg,
            event_pt,
            ssrc: None,
            retired_ssrc: None,
            candidate: None,
            restart: None,
            highest: None,
            next: None,
            held: BTreeMap::new(),
            anchor: None,
            audio_end: 0,
            last_len: 160,
        }
    }

    pub fn set_event_pt(&mut self, event_pt: Option<u8>) {
        self.event_pt = event_pt;
    }

    /// End of the released audio on the output timeline.
    pub fn audio_end(&self) -> u64 {
        self.audio_end
    }

    /// When `poll` should next be called, if anything is held.
    pub fn deadline(&self) -> Option<Instant> {
        self.held
            .values()
            .map(|(_, t)| *t)
            .min()
            .map(|t| t + self.cfg.max_delay)
    }

    pub fn push(&mut self, pkt: RtpPacket, now: Instant) -> Vec<Frame> {
        let mut out = Vec::new();
        match self.ssrc {
            None => self.ssrc = Some(pkt.ssrc),
            Some(s) if s == pkt.ssrc => {}
            Some(_) if self.retired_ssrc == Some(pkt.ssrc) => return out,
            Some(old) => {
                let sequential = matches!(&self.candidate,
                    Some((c, seq, _, _)) if *c == pkt.ssrc && seq.wrapping_add(1) == pkt.seq);
                if !sequential {
                    self.candidate = Some((pkt.ssrc, pkt.seq, pkt, now));
                    return out;
                }
                // The new source is real: finish the old one and continue after it.
                out = self.flush();
                self.retired_ssrc = Some(old);
                self.ssrc = Some(pkt.ssrc);
                self.highest = None;
                self.next = None;
                self.anchor = None;
                self.restart = None;
                if let Some((_, _, first, at)) = self.candidate.take() {
                    out.extend(self.accept(first, at));
                }
                out.extend(self.accept(pkt, now));
                return out;
            }
        }
        self.accept(pkt, now)
    }

    fn extend_seq(&self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            return 1 << 32 | seq as u64;
        };
        let base = h & !0xFFFF | seq as u64;
        [base.wrapping_sub(1 << 16), base, base + (1 << 16)]
            .into_iter()
            .min_by_key(|c| c.abs_diff(h))
            .unwrap_or(base)
    }

    fn accept(&mut self, pkt: RtpPacket, now: Instant) -> Vec<Frame> {
        let mut out = Vec::new();
        let ext = self.extend_seq(pkt.seq);
        let next = self.next.unwrap_or(0);
        if ext < next {
            if next - ext > MAX_MISORDER {
                if self.restart == Some(pkt.seq.wrapping_sub(1)) {
                    // Two sequential packets far behind: the sender restarted its sequence.
                    out = self.flush();
                    self.highest = None;
                    let ext = self.extend_seq(pkt.seq);
                    self.next = Some(ext);
                    self.highest = Some(ext);
                    self.restart = None;
                    self.held.insert(ext, (pkt, now));
                    out.extend(self.release_ready());
                    return out;
                }
                self.restart = Some(pkt.seq);
            }
            return out; // late or duplicate
        }
        self.restart = None;
        if self.next.is_some() && ext > next + MAX_DROPOUT && self.held.is_empty() {
            self.next = Some(ext);
        }
        if self.held.contains_key(&ext) {
            return out; // duplicate
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.held.insert(ext, (pkt, now));
        self.release_ready()
    }

    fn release_ready(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some((&first, _)) = self.held.first_key_value() {
            let ready = match self.next {
                Some(next) => first == next || self.held.len() > self.cfg.max_packets,
                None => self.held.len() >= START_HOLD,
            };
            if !ready {
                break;
            }
            out.push(self.release_first());
        }
        out
    }

    fn release_first(&mut self) -> Frame {
        let (ext, (pkt, _)) = self.held.pop_first().expect("caller checked non-empty");
        let lost = ext - self.next.unwrap_or(ext).min(ext);
        self.next = Some(ext + 1);
        self.place(pkt, lost)
    }

    /// Releases packets whose wait for a missing predecessor has run out.
    pub fn poll(&mut self, now: Instant) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some((_, (_, at))) = self.held.first_key_value() {
            if now < *at + self.cfg.max_delay {
                break;
            }
            out.push(self.release_first());
            out.extend(self.release_ready());
        }
        out
    }

    /// Releases everything held (end of call or source change).
    pub fn flush(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while !self.held.is_empty() {
            out.push(self.release_first());
        }
        out
    }

    fn map(&self, ts: u32) -> Option<u64> {
        let (ts0, pos0) = self.anchor?;
        let d = ts.wrapping_sub(ts0) as i32 as i64;
        pos0.checked_add_signed(d)
    }

    /// Places a released packet on the timeline; `lost` packets are missing before it.
    fn place(&mut self, pkt: RtpPacket, lost: u64) -> Frame {
        let expected = self.audio_end + (lost * self.last_len).min(self.cfg.max_gap);
        let is_event = Some(pkt.pt) == self.event_pt;
        let pos = match self.map(pkt.ts) {
            // An event's timestamp is its start, up to ~8 s (u16 duration) back.
            Some(p)
                if is_event && p + 0xFFFF >= self.audio_end && p <= expected + self.cfg.max_gap =>
            {
                p
            }
            Some(p)
                if !is_event && p >= self.audio_end && p <= self.audio_end + self.cfg.max_gap =>
            {
                p
            }
            _ => {
                self.anchor = Some((pkt.ts, expected));
                expected
            }
        };
        if !is_event {
            let len = pkt.payload.len() as u64;
            self.audio_end = pos + len;
            if len > 0 {
                self.last_len = len;
            }
        }
        Frame {
            pos,
            pt: pkt.pt,
            payload: pkt.payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16, ts: u32, ssrc: u32) -> RtpPacket {
        RtpPacket {
            seq,
            ts,
            ssrc,
            pt: 0,
            marker: false,
            payload: vec![0xFF; 160],
        }
    }

    fn jb() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::default(), Some(101))
    }

    fn positions(frames: &[Frame]) -> Vec<u64> {
        frames.iter().map(|f| f.pos).collect()
    }

    fn run(j: &mut JitterBuffer, pkts: Vec<RtpPacket>) -> Vec<Frame> {
        let t = Instant::now();
        let mut out = Vec::new();
        for p in pkts {
            out.extend(j.push(p, t));
        }
        out.extend(j.flush());
        out
    }

    #[test]
    fn header_round_trip_and_rejections() {
        let p = RtpPacket {
            seq: 7,
            ts: 9,
            ssrc: 3,
            pt: 8,
            marker: true,
            payload: vec![1, 2, 3],
        };
        assert_eq!(RtpPacket::parse(&p.to_bytes()), Ok(p.clone()));
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::Short));
        assert_eq!(RtpPacket::parse(&[0x40; 20]), Err(RtpError::Version));
        let mut rtcp = p.to_bytes();
        rtcp[1] = 200;
        assert_eq!(RtpPacket::parse(&rtcp), Err(RtpError::Rtcp));
        let mut padded = p.to_bytes();
        padded[0] |= 0x20;
        *padded.last_mut().unwrap() = 200;
        assert_eq!(RtpPacket::parse(&padded), Err(RtpError::Length));
        let mut ext = p.to_bytes();
        ext[0] |= 0x10;
        assert_eq!(RtpPacket::parse(&ext), Err(RtpError::Length));
    }

    #[test]
    fn reorders_and_drops_duplicates() {
        let mut j = jb();
        let order = [0u16, 2, 1, 1, 3, 5, 4, 0, 6];
        let out = run(
            &mut j,
            order
                .iter()
                .map(|&s| pkt(1000 + s, 160 * s as u32, 1))
                .collect(),
        );
        assert_eq!(positions(&out), (0..7).map(|i| i * 160).collect::<Vec<_>>());
    }

    #[test]
    fn first_packets_may_arrive_reordered() {
        let mut j = jb();
        let pkts = [1u16, 0, 3, 2, 4]
            .iter()
            .map(|&s| pkt(s, 160 * s as u32, 1))
            .collect();
        assert_eq!(positions(&run(&mut j, pkts)), [0, 160, 320, 480, 640]);
    }

    #[test]
    fn loss_leaves_a_gap_of_the_lost_duration() {
        let mut j = jb();
        let out = run(
            &mut j,
            [0u16, 1, 4, 5]
                .iter()
                .map(|&s| pkt(s, 160 * s as u32, 1))
                .collect(),
        );
        assert_eq!(positions(&out), [0, 160, 640, 800]);
        assert_eq!(j.audio_end(), 960);
    }

    #[test]
    fn waits_for_a_missing_packet_only_up_to_the_deadline() {
        let mut j = jb();
        let t0 = Instant::now();
        assert!(
            j.push(pkt(0, 0, 1), t0).is_empty(),
            "a new source is held briefly"
        );
        assert_eq!(positions(&j.poll(t0 + Duration::from_millis(200))), [0]);
        assert!(
            j.push(pkt(2, 320, 1), t0).is_empty(),
            "held for the missing 1"
        );
        assert!(j.poll(t0 + Duration::from_millis(50)).is_empty());
        assert_eq!(positions(&j.poll(t0 + Duration::from_millis(200))), [320]);
        // Too many held packets also forces release.
        let mut j = jb();
        j.push(pkt(0, 0, 1), t0);
        j.poll(t0 + Duration::from_millis(200));
        let mut out = Vec::new();
        for s in 2..12u16 {
            out.extend(j.push(pkt(s, 160 * s as u32, 1), t0));
        }
        assert_eq!(positions(&out)[0], 320);
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let mut j = jb();
        let pkts = (0..6u16)
            .map(|i| {
                pkt(
                    65533u16.wrapping_add(i),
                    (u32::MAX - 320).wrapping_add(160 * i as u32),
                    1,
                )
            })
            .collect();
        let out = run(&mut j, pkts);
        assert_eq!(positions(&out), (0..6).map(|i| i * 160).collect::<Vec<_>>());
    }

    #[test]
    fn ssrc_change_continues_the_timeline_and_ignores_the_old_source() {
        let mut j = jb();
        let mut pkts: Vec<_> = (0..3u16).map(|s| pkt(s, 160 * s as u32, 1)).collect();
        pkts.push(pkt(500, 90_000, 2));
        pkts.push(pkt(3, 480, 1)); // a late packet of the old source, before the switch
        pkts.push(pkt(501, 90_160, 2));
        pkts.push(pkt(4, 640, 1)); // after the switch: ignored
        pkts.push(pkt(502, 90_320, 2));
        let out = run(&mut j, pkts);
        assert_eq!(positions(&out), [0, 160, 320, 480, 640, 800, 960]);
    }

    #[test]
    fn a_stray_packet_with_another_ssrc_does_not_take_over() {
        let mut j = jb();
        let mut pkts: Vec<_> = (0..3u16).map(|s| pkt(s, 160 * s as u32, 1)).collect();
        pkts.insert(1, pkt(9, 9, 77));
        let out = run(&mut j, pkts);
        assert_eq!(positions(&out), [0, 160, 320]);
    }

    #[test]
    fn timestamp_jumps_forward_and_backward_are_re_anchored() {
        let mut j = jb();
        let pkts = vec![
            pkt(0, 0, 1),
            pkt(1, 160, 1),
            pkt(2, 3_000_000, 1), // jump ahead
            pkt(3, 3_000_160, 1),
            pkt(4, 50, 1),  // jump back
            pkt(6, 370, 1), // one lost after the jump
        ];
        let out = run(&mut j, pkts);
        assert_eq!(positions(&out), [0, 160, 320, 480, 640, 960]);
    }

    #[test]
    fn short_pause_in_timestamps_is_kept_as_time() {
        let mut j = jb();
        let out = run(&mut j, vec![pkt(0, 0, 1), pkt(1, 8160, 1)]);
        assert_eq!(positions(&out), [0, 8160], "1 s of silence suppression");
    }

    #[test]
    fn sequence_restart_far_behind_is_followed() {
        let mut j = jb();
        let mut pkts: Vec<_> = (0..3u16)
            .map(|s| pkt(20_000 + s, 160 * s as u32, 1))
            .collect();
        pkts.extend((0..3u16).map(|s| pkt(10 + s, 480 + 160 * s as u32, 1)));
        let out = run(&mut j, pkts);
        // The first packet after the restart is taken as stale; the rest follow.
        assert_eq!(positions(&out), [0, 160, 320, 480 + 160, 480 + 320]);
    }

    #[test]
    fn events_keep_their_start_time() {
        let mut j = jb();
        let ev = |seq: u16, ts: u32| RtpPacket {
            pt: 101,
            payload: vec![1, 0, 0, 160],
            ..pkt(seq, ts, 1)
        };
        let out = run(
            &mut j,
            vec![
                pkt(0, 0, 1),
                ev(1, 160),
                ev(2, 160),
                ev(3, 160),
                pkt(4, 640, 1),
            ],
        );
        assert_eq!(positions(&out), [0, 160, 160, 160, 640]);
    }
}
