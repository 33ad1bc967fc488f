//! Decoding every supported format from committed fixtures (made by
//! `tests/audio_fixtures/make_fixtures.sh` from one reference signal), and the errors bad
//! files must give.

use std::path::{Path, PathBuf};

use hushline::audio::decode::MAX_BLOCK_FRAMES;
use hushline::audio::g711;
use hushline::audio::{AudioError, AudioInfo, AudioReader};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/audio_fixtures")
        .join(name)
}

/// Decodes a whole file, checking the block contract on the way.
fn decode(path: &Path) -> Result<(AudioInfo, Vec<Vec<f32>>), AudioError> {
    let mut r = AudioReader::open(path)?;
    let info = r.info().clone();
    let mut out = vec![Vec::new(); info.channels as usize];
    while let Some(block) = r.next_block()? {
        assert_eq!(block.len(), info.channels as usize);
        let n = block[0].len();
        assert!(n > 0 && n <= MAX_BLOCK_FRAMES, "block of {n} frames");
        for (o, ch) in out.iter_mut().zip(block) {
            assert_eq!(ch.len(), n, "channels of one block differ in length");
            o.extend(ch);
        }
    }
    assert_eq!(r.position(), out[0].len() as u64);
    assert_eq!(r.next_block()?, None, "end of stream is sticky");
    Ok((info, out))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Signal-to-error ratio of `got` against `want` in dB.
fn snr_db(want: &[f32], got: &[f32]) -> f64 {
    let s: f64 = want.iter().map(|&x| f64::from(x).powi(2)).sum();
    let e: f64 = want
        .iter()
        .zip(got)
        .map(|(&x, &y)| f64::from(x - y).powi(2))
        .sum();
    10.0 * (s / e.max(1e-20)).log10()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// The shift of `got` against `want` (positive: `got` is late) that correlates best.
fn best_lag(want: &[f32], got: &[f32], max_lag: i64) -> i64 {
    let corr = |lag: i64| -> f64 {
        (0..want.len() as i64)
            .filter_map(|i| {
                let j = i + lag;
                (j >= 0 && (j as usize) < got.len())
                    .then(|| f64::from(want[i as usize]) * f64::from(got[j as usize]))
            })
            .sum()
    };
    (-max_lag..=max_lag)
        .max_by(|&a, &b| corr(a).total_cmp(&corr(b)))
        .unwrap()
}

fn reference() -> Vec<Vec<f32>> {
    decode(&fixture("pcm_f32.wav")).unwrap().1
}

#[test]
fn pcm_wav_of_every_width_decodes_to_the_reference() {
    let want = reference();
    assert_eq!(want[0].len(), 4000);
    // (file, codec, bits, worst allowed error: half a quantisation step plus rounding)
    let cases = [
        ("pcm_u8.wav", "pcm_u8", 8, 1.0 / 128.0),
        ("pcm_s16.wav", "pcm_s16le", 16, 1.0 / 32768.0),
        ("pcm_s24.wav", "pcm_s24le", 24, 1e-6),
        ("pcm_s32.wav", "pcm_s32le", 32, 1e-6),
        ("pcm_f32.wav", "pcm_f32le", 32, 0.0),
        ("flac_s16.flac", "flac", 16, 1.0 / 32768.0),
    ];
    for (file, codec, bits, tol) in cases {
        let (info, got) = decode(&fixture(file)).unwrap();
        assert_eq!(info.rate, 8000, "{file}");
        assert_eq!(info.channels, 2, "{file}");
        assert_eq!(info.codec, codec, "{file}");
        assert!(!info.lossy, "{file}");
        assert_eq!(info.bits_per_sample, Some(bits), "{file}");
        assert_eq!(info.frames, Some(4000), "{file}");
        for c in 0..2 {
            let d = max_abs_diff(&want[c], &got[c]);
            assert!(d <= tol, "{file} channel {c}: error {d}");
        }
    }
}

#[test]
fn channels_keep_their_order() {
    let (_, x) = decode(&fixture("pcm_s16.wav")).unwrap();
    let ratio = rms(&x[0]) / rms(&x[1]);
    // Left is the half-scale sweep, right the quarter-scale tone.
    assert!((ratio - 2.0).abs() < 0.1, "left/right level ratio {ratio}");
}

#[test]
fn g711_wav_matches_the_reference_and_our_tables() {
    let want = reference();
    for (file, raw, codec, decode_byte) in [
        (
            "g711_ulaw.wav",
            "g711_ulaw.raw",
            "pcm_mulaw",
            g711::ulaw_to_linear as fn(u8) -> i16,
        ),
        (
            "g711_alaw.wav",
            "g711_alaw.raw",
            "pcm_alaw",
            g711::alaw_to_linear,
        ),
    ] {
        let (info, got) = decode(&fixture(file)).unwrap();
        assert_eq!((info.rate, info.channels), (8000, 2), "{file}");
        assert_eq!(info.codec, codec);
        assert!(!info.lossy);
        for c in 0..2 {
            let snr = snr_db(&want[c], &got[c]);
            assert!(snr > 30.0, "{file} channel {c}: SNR {snr:.1} dB");
        }
        // The headerless bytes (interleaved L R) through our tables give the same samples.
        let bytes = std::fs::read(fixture(raw)).unwrap();
        assert_eq!(bytes.len(), 8000);
        for (i, pair) in bytes.chunks(2).enumerate() {
            for c in 0..2 {
                let ours = f32::from(decode_byte(pair[c])) / 32768.0;
                assert!(
                    (ours - got[c][i]).abs() < 1e-6,
                    "{file} frame {i} ch {c}: ours {ours} symphonia {}",
                    got[c][i]
                );
            }
        }
    }
}

#[test]
fn lossy_codecs_decode_aligned_in_time() {
    let (_, want) = decode(&fixture("pcm_s16_16k.wav")).unwrap();
    for (file, codec, min_snr) in [
        ("mp3_16k.mp3", "mp3", 10.0),
        ("vorbis_16k.ogg", "vorbis", 10.0),
    ] {
        let (info, got) = decode(&fixture(file)).unwrap();
        assert_eq!((info.rate, info.channels), (16000, 2), "{file}");
        assert_eq!(info.codec, codec);
        assert!(info.lossy, "{file}");
        // Encoder delay and padding are trimmed: same length, no shift.
        assert!(
            got[0].len().abs_diff(8000) <= 1,
            "{file}: {} frames",
            got[0].len()
        );
        let lag = best_lag(&want[0], &got[0], 800);
        assert!(
            lag.abs() <= 1,
            "{file}: decoded audio is shifted by {lag} samples"
        );
        let n = want[0].len().min(got[0].len());
        let snr = snr_db(&want[0][..n], &got[0][..n]);
        assert!(snr > min_snr, "{file}: SNR {snr:.1} dB");
    }
}

#[test]
fn format_is_probed_by_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("really_flac.wav");
    std::fs::copy(fixture("flac_s16.flac"), &p).unwrap();
    let (info, x) = decode(&p).unwrap();
    assert_eq!(info.codec, "flac");
    assert_eq!(x[0].len(), 4000);
    let p = dir.path().join("no_extension");
    std::fs::copy(fixture("vorbis_16k.ogg"), &p).unwrap();
    assert_eq!(decode(&p).unwrap().0.codec, "vorbis");
}

fn open_err(path: &Path) -> AudioError {
    match decode(path) {
        Ok(_) => panic!("{} decoded but should not", path.display()),
        Err(e) => e,
    }
}

#[test]
fn bad_files_give_specific_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };

    let e = open_err(&dir.path().join("missing.wav"));
    assert!(matches!(e, AudioError::NotFound { .. }), "{e}");

    let e = open_err(&write("empty.wav", b""));
    assert!(matches!(e, AudioError::Empty { .. }), "{e}");

    let e = open_err(dir.path());
    assert!(matches!(e, AudioError::Unreadable { .. }), "{e}");

    let text = write(
        "notes.wav",
        b"Call notes: customer asked about the refund.\nNothing else.\n",
    );
    let e = open_err(&text);
    assert!(matches!(e, AudioError::UnsupportedFormat { .. }), "{e}");

    // Deterministic pseudo-random bytes.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 56) as u8
        })
        .collect();
    let e = open_err(&write("random.wav", &noise));
    assert!(matches!(e, AudioError::UnsupportedFormat { .. }), "{e}");

    let wav = std::fs::read(fixture("pcm_s16.wav")).unwrap();
    // Header cut inside the fmt chunk.
    let e = open_err(&write("cut_header.wav", &wav[..30]));
    assert!(
        matches!(
            e,
            AudioError::Corrupt { .. } | AudioError::UnsupportedFormat { .. }
        ),
        "{e}"
    );
    // Data cut in the middle: the header promises 4000 frames.
    let e = open_err(&write("cut_data.wav", &wav[..wav.len() / 2]));
    match e {
        AudioError::Truncated {
            decoded, expected, ..
        } => {
            assert_eq!(expected, 4000);
            assert!(decoded < 4000);
        }
        other => panic!("expected Truncated, got {other}"),
    }
    // A header with no data at all.
    let e = open_err(&write("header_only.wav", &wav[..44]));
    assert!(
        matches!(e, AudioError::Truncated { .. } | AudioError::Corrupt { .. }),
        "{e}"
    );
    // Zero channels declared in the fmt chunk (bytes 22..24).
    let mut zero = wav.clone();
    zero[22] = 0;
    zero[23] = 0;
    let e = open_err(&write("zero_channels.wav", &zero));
    assert!(
        matches!(
            e,
            AudioError::ZeroChannels { .. }
                | AudioError::Corrupt { .. }
                | AudioError::UnsupportedFormat { .. }
        ),
        "{e}"
    );
    // A FLAC whose audio frames are damaged fails; it never yields wrong audio silently.
    let mut flac = std::fs::read(fixture("flac_s16.flac")).unwrap();
    let mid = flac.len() / 2;
    for b in &mut flac[mid..mid + 64] {
        *b ^= 0x5A;
    }
    let e = open_err(&write("damaged.flac", &flac));
    assert!(
        matches!(e, AudioError::Corrupt { .. } | AudioError::Truncated { .. }),
        "{e}"
    );
    // Error messages name the file.
    assert!(e.to_string().contains("damaged.flac"), "{e}");
}

/// Damages an MP3 at many places. Strict decoding stops with a Corrupt error wherever a
/// packet fails; lenient decoding replaces that packet by silence of its length, so the
/// audio after it keeps its time. Nothing panics.
#[test]
fn damaged_mp3_fails_closed_or_keeps_time_when_lenient() {
    let dir = tempfile::tempdir().unwrap();
    let orig = std::fs::read(fixture("mp3_16k.mp3")).unwrap();
    let p = dir.path().join("damaged.mp3");
    let (mut replaced_in_time, mut strict_failures) = (0, 0);
    for off in (200..orig.len() - 8).step_by(37) {
        let mut b = orig.clone();
        for x in &mut b[off..off + 3] {
            *x ^= 0xA5;
        }
        std::fs::write(&p, &b).unwrap();

        let mut r = match AudioReader::open_lenient(&p) {
            Ok(r) => r,
            Err(e) => {
                assert!(matches!(e, AudioError::Corrupt { .. }), "{e}");
                continue;
            }
        };
        let mut n = 0;
        let mut failed = false;
        loop {
            match r.next_block() {
                Ok(Some(block)) => n += block[0].len(),
                Ok(None) => break,
                Err(e) => {
                    assert!(matches!(e, AudioError::Truncated { .. }), "{e}");
                    failed = true;
                    break;
                }
            }
        }
        if r.corrupt_packets() > 0 {
            if !failed && n == 8000 {
                replaced_in_time += 1;
            }
            // The same damage in strict mode is an error naming where it happened.
            match decode(&p) {
                Err(AudioError::Corrupt { frame, .. }) => {
                    assert!(frame < 8000);
                    strict_failures += 1;
                }
                Err(AudioError::Truncated { .. }) => strict_failures += 1,
                Err(e) => panic!("offset {off}: unexpected {e}"),
                Ok(_) => panic!("offset {off}: a bad packet went unreported"),
            }
        }
        assert!(
            n <= 8000,
            "offset {off}: {n} frames, longer than the original"
        );
    }
    assert!(
        replaced_in_time > 0,
        "no damage exercised the silence replacement"
    );
    assert!(strict_failures >= replaced_in_time);
}
