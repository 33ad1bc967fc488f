//! Cost of the live receive path per call: jitter buffer + G.711 decode per second of
//! audio, and parsing a SIPREC INVITE. Run with `cargo bench --bench live_rtp`.

use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use hushline::live::rtp::{JitterConfig, RtpPacket};
use hushline::live::sdp::{self, Codec, Selected};
use hushline::live::sip;
use hushline::live::stream::StreamDecoder;

/// One second of 20 ms packets with every fourth pair swapped and every 25th lost.
fn second_of_packets(offset: u16) -> Vec<RtpPacket> {
    let mut v: Vec<RtpPacket> = (0..50u16)
        .filter(|s| s % 25 != 7)
        .map(|s| RtpPacket {
            seq: offset.wrapping_add(s),
            ts: 160 * (offset as u32 + s as u32),
            ssrc: 1,
            pt: 0,
            marker: false,
            payload: (0..160).map(|i| (i * 7 + s as usize) as u8).collect(),
        })
        .collect();
    for pair in v.chunks_mut(2).step_by(4) {
        pair.reverse();
    }
    v
}

fn stream(c: &mut Criterion) {
    let sel = Selected {
        codec: Codec::Pcmu,
        audio_pt: 0,
        event_pt: Some(101),
        srtp: None,
    };
    let mut g = c.benchmark_group("live_stream");
    g.throughput(Throughput::Elements(8000));
    g.bench_function("one_second_pcmu_reordered", |b| {
        let mut dec = StreamDecoder::new(sel, JitterConfig::default());
        let mut offset = 0u16;
        b.iter(|| {
            let now = Instant::now();
            let mut n = 0;
            for p in second_of_packets(offset) {
                n += dec.push(p, now).len();
            }
            offset = offset.wrapping_add(50);
            black_box(n)
        })
    });
    g.finish();
}

const SIPREC_INVITE: &str = "INVITE sip:rec@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
    From: <sip:src@10.0.0.1>;tag=1\r\nTo: <sip:rec@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
    Require: siprec\r\nContent-Type: multipart/mixed;boundary=b\r\n\r\n--b\r\nContent-Type: application/sdp\r\n\r\n\
    v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=label:1\r\n\
    m=audio 4002 RTP/AVP 8\r\na=label:2\r\n\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n\
    <recording xmlns='urn:ietf:params:xml:ns:recording:1'><participant participant_id='a'><nameID aor='sip:a@x'/></participant>\
    <stream stream_id='s1'><label>1</label></stream><participantstreamassoc participant_id='a'><send>s1</send>\
    </participantstreamassoc></recording>\r\n--b--\r\n";

fn invite(c: &mut Criterion) {
    c.bench_function("live_parse_siprec_invite", |b| {
        b.iter(|| {
            let Ok(sip::Message::Request(r)) =
                sip::parse_datagram(black_box(SIPREC_INVITE.as_bytes()))
            else {
                panic!("bench input must parse");
            };
            let body = hushline::live::siprec::split_body(r.content_type(), &r.body).unwrap();
            black_box(sdp::parse_offer(&body.sdp).unwrap().len())
        })
    });
}

criterion_group!(benches, stream, invite);
criterion_main!(benches);
