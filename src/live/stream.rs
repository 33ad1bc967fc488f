//! One received RTP stream: jitter buffer → G.711 decode with loss concealment, and
//! telephone-event digits, all on the stream's 8 kHz clock from its first packet.
//!
//! Must not know about SIP or sockets; it is fed packets and says what they mean.

use std::time::Instant;

use super::dtmf::DtmfDecoder;
use super::rtp::{Frame, JitterBuffer, JitterConfig, RtpPacket};
use super::sdp::{Codec, Selected};
use crate::audio::g711::{alaw_to_linear, ulaw_to_linear};
use crate::time::Span;

/// Concealment repeats the last frame, fading, for this long; then silence.
const CONCEAL_FADE: usize = 480;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Samples starting at `start`; consecutive outputs are contiguous.
    Audio {
        start: u64,
        pcm: Vec<i16>,
    },
    Digit {
        digit: char,
        span: Span,
    },
}

pub struct StreamDecoder {
    sel: Selected,
    jitter: JitterBuffer,
    dtmf: DtmfDecoder,
    /// End of the audio handed out so far.
    out_end: u64,
    last: Vec<i16>,
}

impl StreamDecoder {
    pub fn new(sel: Selected, cfg: JitterConfig) -> Self {
        StreamDecoder {
            sel,
            jitter: JitterBuffer::new(cfg, sel.event_pt),
            dtmf: DtmfDecoder::default(),
            out_end: 0,
            last: Vec::new(),
        }
    }

    /// Applies a re-negotiated codec (a re-INVITE); the timeline continues.
    pub fn reselect(&mut self, sel: Selected) {
        self.sel = sel;
        self.jitter.set_event_pt(sel.event_pt);
    }

    /// Whether a packet of this payload type belongs to the negotiated stream.
    pub fn accepts(&self, pt: u8) -> bool {
        pt == self.sel.audio_pt || Some(pt) == self.sel.event_pt
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.jitter.deadline()
    }

    pub fn push(&mut self, pkt: RtpPacket, now: Instant) -> Vec<Output> {
        if !self.accepts(pkt.pt) {
            return Vec::new();
        }
        let frames = self.jitter.push(pkt, now);
        self.decode(frames)
    }

    pub fn poll(&mut self, now: Instant) -> Vec<Output> {
        let frames = self.jitter.poll(now);
        self.decode(frames)
    }

    /// Releases everything: held packets, the digit in progress.
    pub fn finish(&mut self) -> Vec<Output> {
        let frames = self.jitter.flush();
        let mut out = self.decode(frames);
        if let Some((digit, span)) = self.dtmf.finish() {
            out.push(Output::Digit { digit, span });
        }
        out
    }

    fn decode(&mut self, frames: Vec<Frame>) -> Vec<Output> {
        let mut out = Vec::new();
        for f in frames {
            if Some(f.pt) == self.sel.event_pt {
                for (digit, span) in self.dtmf.push(f.pos, &f.payload) {
                    out.push(Output::Digit { digit, span });
                }
                continue;
            }
            if f.pos > self.out_end {
                let gap = (f.pos - self.out_end) as usize;
                out.push(Output::Audio {
                    start: self.out_end,
                    pcm: self.conceal(gap),
                });
                self.out_end = f.pos;
            }
            let skip = (self.out_end - f.pos) as usize;
            let law: fn(u8) -> i16 = match self.sel.codec {
                Codec::Pcmu => ulaw_to_linear,
                Codec::Pcma => alaw_to_linear,
                // SDP never selects it: no RTP stream can carry it.
                Codec::Pcm16 => continue,
            };
            let pcm: Vec<i16> = f.payload.iter().skip(skip).map(|&b| law(b)).collect();
            if pcm.is_empty() {
                continue;
            }
            self.out_end += pcm.len() as u64;
            self.last.clone_from(&pcm);
            out.push(Output::Audio {
                start: self.out_end - pcm.len() as u64,
                pcm,
            });
        }
        out
    }

    /// Fills a gap: the last frame repeated with a linear fade for a short loss, then
    /// silence (the simplest concealment that neither clicks nor invents speech).
    fn conceal(&self, gap: usize) -> Vec<i16> {
        let mut pcm = vec![0i16; gap];
        if !self.last.is_empty() {
            let fade = gap.min(CONCEAL_FADE);
            for (i, s) in pcm.iter_mut().take(fade).enumerate() {
                let src = self.last[i % self.last.len()] as i32;
                *s = (src * (CONCEAL_FADE - i) as i32 / CONCEAL_FADE as i32) as i16;
            }
        }
        pcm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel() -> Selected {
        Selected {
            codec: Codec::Pcmu,
            audio_pt: 0,
            event_pt: Some(101),
            srtp: None,
        }
    }

    fn audio(seq: u16) -> RtpPacket {
        RtpPacket {
            seq,
            ts: 160 * seq as u32,
            ssrc: 5,
            pt: 0,
            marker: false,
            payload: vec![0x80; 160],
        }
    }

    fn total(out: &[Output]) -> (u64, Vec<(char, Span)>) {
        let mut end = 0;
        let mut digits = Vec::new();
        for o in out {
            match o {
                Output::Audio { start, pcm } => {
                    assert_eq!(*start, end, "audio must be contiguous");
                    end = start + pcm.len() as u64;
                }
                Output::Digit { digit, span } => digits.push((*digit, *span)),
            }
        }
        (end, digits)
    }

    #[test]
    fn loss_is_concealed_with_a_fade_and_audio_stays_contiguous() {
        let mut s = StreamDecoder::new(sel(), JitterConfig::default());
        let t = Instant::now();
        let mut out = Vec::new();
        for seq in [0u16, 1, 2, 6, 7] {
            out.extend(s.push(audio(seq), t));
        }
        out.extend(s.finish());
        assert_eq!(total(&out).0, 8 * 160);
        let Output::Audio { pcm, .. } = &out[3] else {
            panic!("{:?}", out[3])
        };
        assert_eq!(pcm.len(), 3 * 160);
        assert_eq!(pcm[0], 32124, "starts as the last frame");
        assert_eq!(pcm[479], 32124 / 480, "fades out");
    }

    #[test]
    fn digits_come_out_with_times_and_other_payload_types_are_ignored() {
        let mut s = StreamDecoder::new(sel(), JitterConfig::default());
        let t = Instant::now();
        let ev = |seq: u16, end: bool, dur: u16| RtpPacket {
            pt: 101,
            ts: 320,
            payload: vec![4, if end { 0x80 } else { 0 }, (dur >> 8) as u8, dur as u8],
            ..audio(seq)
        };
        let mut out = Vec::new();
        for p in [
            audio(0),
            audio(1),
            ev(2, false, 160),
            ev(3, true, 400),
            ev(4, true, 400),
            RtpPacket { pt: 13, ..audio(5) },
            audio(6),
        ] {
            out.extend(s.push(p, t));
        }
        out.extend(s.finish());
        let (end, digits) = total(&out);
        assert_eq!(digits, [('4', Span::new(320, 720))]);
        assert_eq!(end, 7 * 160);
    }
}
