#!/usr/bin/env python3
"""Writes the RTP pcaps the SIPp scenarios play, from a WAV of speech (standard library only).

Usage: make_pcaps.py SPEECH.wav OUTDIR
       make_pcaps.py --call NAME CALL.wav OUTDIR
       make_pcaps.py --call-with-events NAME CALL.wav KEYS OUTDIR


SPEECH.wav must be mono 16-bit PCM at 8 kHz; the committed one was made with
    espeak-ng -v en-us -s 150 -w s.wav "please read me the card number, then the expiry date"
    sox s.wav -r 8000 -c 1 -b 16 speech.wav
Writes pcmu.pcap and pcma.pcap (the speech, 20 ms packets) and dtmf.pcap (silence with
the digits of DTMF_DIGITS as RFC 4733 telephone-events, payload type 101). G.711 is
encoded by formula (audioop is gone from Python 3.13). The RTP timestamps and sequence
numbers start at arbitrary values so receivers cannot assume zero.
"""
import struct
import sys
import wave

DTMF_DIGITS = "4539148803436467"
EVENT_PT = 101
SSRC = 0x2A17C0DE
SEQ0 = 52000  # wraps during the longer pcaps
TS0 = 0xFFFF0000  # wraps too


def ulaw(sample):
    """G.711 mu-law encode of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    mag = min(abs(sample), 32635) + 0x84
    exp = 7
    while exp > 0 and not mag & (0x4000 >> (7 - exp)):
        exp -= 1
    mant = (mag >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


def alaw(sample):
    """G.711 A-law encode of one 16-bit sample."""
    sign = 0x80 if sample >= 0 else 0
    mag = min(abs(sample), 32767) >> 3
    if mag < 32:
        code = mag >> 1
    else:
        exp = 1
        while mag >= 64 and exp < 7:
            mag >>= 1
            exp += 1
        code = (exp << 4) | ((mag >> 1) & 0x0F)
    return (sign | code) ^ 0x55


def rtp(seq, ts, pt, payload, marker=False):
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC) + payload


def ip_checksum(header):
    s = sum(struct.unpack("!10H", header))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(payload):
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip + udp


def write_pcap(path, packets):
    """packets: list of (time in seconds, RTP bytes)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, data in packets:
            fr = frame(data)
            usec = int(round(t * 1e6))
            f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(fr), len(fr)))
            f.write(fr)


def speech_packets(samples, pt, law):
    out = []
    for i in range(len(samples) // 160):
        chunk = samples[i * 160:(i + 1) * 160]
        out.append((i * 0.02, rtp(SEQ0 + i, TS0 + i * 160, pt, bytes(law(s) for s in chunk), i == 0)))
    return out


def dtmf_packets():
    """Half a second of silence, then each digit as 100 ms of events and 100 ms of silence."""
    out, seq, slot = [], SEQ0, 0
    silence = bytes([0xFF]) * 160

    def audio(n):
        nonlocal seq, slot
        for _ in range(n):
            out.append((slot * 0.02, rtp(seq, TS0 + slot * 160, 0, silence)))
            seq += 1
            slot += 1

    audio(25)
    for d in DTMF_DIGITS:
        start = slot
        for k in range(5):
            end = k == 4
            payload = struct.pack("!BBH", int(d), (0x80 if end else 0) | 10, (k + 1) * 160)
            for _ in range(3 if end else 1):  # the end packet is sent three times
                out.append((slot * 0.02, rtp(seq, TS0 + start * 160, EVENT_PT, payload, k == 0)))
                seq += 1
            slot += 1
        audio(5)
    audio(25)
    return out


def with_events(audio, presses, law_pt):
    """The audio packets of a call plus RFC 4733 events for `presses` ((key, start s,
    end s)), sent alongside as a phone that does both would: every 20 ms while a key is
    down, its end three times. Sequence numbers follow sending order."""
    sent = [(t, pkt[4:8], pkt[1] & 0x7F, pkt[12:], bool(pkt[1] & 0x80)) for t, pkt in audio]
    for key, start, end in presses:
        event = "0123456789*#ABCD".index(key)
        ts = struct.pack("!I", (TS0 + int(round(start * 8000))) & 0xFFFFFFFF)
        slots = max(1, int(round((end - start) / 0.02)))
        for k in range(slots):
            last = k == slots - 1
            payload = struct.pack("!BBH", event, (0x80 if last else 0) | 10, (k + 1) * 160)
            for _ in range(3 if last else 1):
                sent.append((start + (k + 1) * 0.02, ts, EVENT_PT, payload, k == 0))
    sent.sort(key=lambda p: p[0])
    out = []
    for seq, (t, ts, pt, payload, marker) in enumerate(sent):
        head = struct.pack("!BBH", 0x80, pt | (0x80 if marker else 0), (SEQ0 + seq) & 0xFFFF)
        out.append((t, head + ts + struct.pack("!I", SSRC) + payload))
    return out


def read_wav(path):
    with wave.open(path, "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 8000):
            sys.exit("need mono 16-bit 8 kHz WAV")
        raw = w.readframes(w.getnframes())
    return struct.unpack("<%dh" % (len(raw) // 2), raw)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--call":
        # A whole sample call (e.g. samples/card_digits.wav made 8 kHz mono with
        # `sox card_digits.wav -r 8000 -c 1 -b 16 call.wav`) for the live redaction tests.
        name, samples, out = sys.argv[2], read_wav(sys.argv[3]), sys.argv[4]
        write_pcap(f"{out}/{name}_pcmu.pcap", speech_packets(samples, 0, ulaw))
        write_pcap(f"{out}/{name}_pcma.pcap", speech_packets(samples, 8, alaw))
        return
    if len(sys.argv) == 6 and sys.argv[1] == "--call-with-events":
        # A call whose keys are in the audio and also sent as RFC 4733 events; KEYS has
        # one press per line: KEY START_S END_S.
        name, samples, keys, out = sys.argv[2], read_wav(sys.argv[3]), sys.argv[4], sys.argv[5]
        with open(keys) as f:
            presses = [(k, float(a), float(b)) for k, a, b in (line.split() for line in f if line.strip())]
        write_pcap(f"{out}/{name}_pcmu.pcap", with_events(speech_packets(samples, 0, ulaw), presses, 0))
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    samples = read_wav(sys.argv[1])
    out = sys.argv[2]
    write_pcap(f"{out}/pcmu.pcap", speech_packets(samples, 0, ulaw))
    write_pcap(f"{out}/pcma.pcap", speech_packets(samples, 8, alaw))
    write_pcap(f"{out}/dtmf.pcap", dtmf_packets())


if __name__ == "__main__":
    main()
