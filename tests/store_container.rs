//! The encrypted recording container end to end: round trips at awkward sizes, and every
//! kind of damage refused with its own error and no output.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use hushline::store::{decrypt_file, rewrap_file, Keyring, MasterKey, RecordingWriter, StoreError};
use proptest::prelude::*;

const CHUNK: usize = 64 * 1024;
const SEALED: usize = CHUNK + 16;

fn ring(id: &str, byte: u8) -> Keyring {
    Keyring::from_keys(vec![MasterKey::from_bytes(id, [byte; 32]).unwrap()]).unwrap()
}

/// Deterministic PCM values, as the integers they should decrypt back to.
fn pcm(n: usize, bits: u16, seed: u64) -> Vec<i32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let half = 1i64 << (bits - 1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as i64 % (2 * half) - half) as i32
        })
        .collect()
}

fn to_f32(v: &[i32], bits: u16) -> Vec<f32> {
    let scale = (1u32 << (bits - 1)) as f32;
    v.iter().map(|&s| s as f32 / scale).collect()
}

fn encrypt(
    path: &Path,
    key: &MasterKey,
    rate: u32,
    ch: u16,
    bits: u16,
    samples: &[f32],
    piece: usize,
) {
    let mut w = RecordingWriter::create(path, key, rate, ch, bits).unwrap();
    for part in samples.chunks(piece.max(1)) {
        w.write_interleaved(part).unwrap();
    }
    w.finish().unwrap();
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<i32>) {
    let r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let s = r
        .into_samples::<i32>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (spec, s)
}

struct Fixture {
    _dir: tempfile::TempDir,
    enc: PathBuf,
    out: PathBuf,
    bytes: Vec<u8>,
}

/// A three-chunk mono recording under key `k1` = [1; 32], encrypted once per test binary.
fn fixture() -> Fixture {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let dir = tempfile::tempdir().unwrap();
    let enc = dir.path().join("call.wav.enc");
    let bytes = BYTES
        .get_or_init(|| {
            let keys = ring("k1", 1);
            let v = pcm(70_000, 16, 7);
            encrypt(&enc, keys.primary(), 8000, 1, 16, &to_f32(&v, 16), 4096);
            fs::read(&enc).unwrap()
        })
        .clone();
    fs::write(&enc, &bytes).unwrap();
    let out = dir.path().join("call.wav");
    Fixture {
        _dir: dir,
        enc,
        out,
        bytes,
    }
}

fn header_len(id: &str) -> usize {
    25 + id.len() + 40
}

#[test]
fn round_trips_at_chunk_edges_in_both_widths() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ring("edge-key", 9);
    for (bits, wav_header, ch) in [(16u16, 44usize, 1u16), (24, 68, 1), (16, 68, 3)] {
        let width = usize::from(bits / 8) * usize::from(ch);
        // Plaintext = WAV header + PCM + 24-byte trailer; aim around every boundary.
        let mut frames = vec![0usize, 1];
        for target in [CHUNK - 24, CHUNK, 2 * CHUNK - 24, 2 * CHUNK] {
            let f = (target - wav_header) / width;
            frames.extend([f - 1, f, f + 1]);
        }
        for (i, &n) in frames.iter().enumerate() {
            let want = pcm(n * usize::from(ch), bits, i as u64);
            let enc = dir.path().join(format!("r{bits}-{ch}-{n}.wav.enc"));
            let out = dir.path().join(format!("r{bits}-{ch}-{n}.wav"));
            encrypt(
                &enc,
                keys.primary(),
                16_000,
                ch,
                bits,
                &to_f32(&want, bits),
                777,
            );
            let body = fs::metadata(&enc).unwrap().len() as usize - header_len("edge-key");
            assert_eq!(body % SEALED, 0, "every chunk is full size");
            let info = decrypt_file(&enc, &out, &keys).unwrap();
            assert_eq!(
                (info.frames, info.rate, info.channels),
                (n as u64, 16_000, ch)
            );
            assert_eq!(info.bits_per_sample, bits);
            let (spec, got) = read_wav(&out);
            assert_eq!(
                (spec.sample_rate, spec.channels, spec.bits_per_sample),
                (16_000, ch, bits)
            );
            assert_eq!(got, want, "bits {bits} ch {ch} frames {n}");
            // The RIFF sizes are the true ones (hound checks data; check RIFF too).
            let wav = fs::read(&out).unwrap();
            let riff = u32::from_le_bytes(wav[4..8].try_into().unwrap()) as usize;
            assert_eq!(riff + 8, wav.len());
        }
    }
}

#[test]
fn plaintext_never_reaches_the_disk_and_drop_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ring("k1", 1);
    // A loud, recognisable pattern: if any chunk were written unencrypted it would show.
    let pattern: Vec<f32> = (0..200_000)
        .map(|i| if i % 2 == 0 { 0.5 } else { -0.25 })
        .collect();
    let enc = dir.path().join("p.wav.enc");
    encrypt(&enc, keys.primary(), 8000, 1, 16, &pattern, 10_000);
    let bytes = fs::read(&enc).unwrap();
    let needle = [0x00u8, 0x40, 0x00, 0xE0, 0x00, 0x40, 0x00, 0xE0];
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    assert!(!bytes.windows(4).any(|w| w == b"RIFF"));

    let gone = dir.path().join("gone.wav.enc");
    {
        let mut w = RecordingWriter::create(&gone, keys.primary(), 8000, 1, 16).unwrap();
        w.write_interleaved(&pattern).unwrap();
    }
    assert!(!gone.exists());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn clipping_rounding_and_bad_formats() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ring("k1", 1);
    let enc = dir.path().join("c.wav.enc");
    let out = dir.path().join("c.wav");
    let x = [
        2.0,
        -2.0,
        f32::NAN,
        f32::INFINITY,
        0.4999 / 32768.0,
        1.5 / 32768.0,
        -1.0,
    ];
    encrypt(&enc, keys.primary(), 8000, 1, 16, &x, 3);
    decrypt_file(&enc, &out, &keys).unwrap();
    assert_eq!(
        read_wav(&out).1,
        vec![32767, -32768, 0, 32767, 0, 2, -32768]
    );

    for (bits, ch, rate) in [
        (8u16, 1u16, 8000u32),
        (32, 1, 8000),
        (16, 0, 8000),
        (16, 1, 0),
    ] {
        let r = RecordingWriter::create(&dir.path().join("x"), keys.primary(), rate, ch, bits);
        assert!(matches!(r, Err(StoreError::UnsupportedFormat(_))));
    }
    let mut w =
        RecordingWriter::create(&dir.path().join("odd.wav.enc"), keys.primary(), 8000, 2, 16)
            .unwrap();
    w.write_interleaved(&[0.0; 3]).unwrap();
    assert!(matches!(w.finish(), Err(StoreError::PartialFrame { .. })));
    assert!(!dir.path().join("odd.wav.enc").exists());
}

#[test]
fn wrong_key_unknown_id_and_unknown_version_are_distinct() {
    let f = fixture();
    let e = decrypt_file(&f.enc, &f.out, &ring("k1", 2)).unwrap_err();
    assert!(matches!(e, StoreError::WrongKey { .. }), "{e}");
    let e = decrypt_file(&f.enc, &f.out, &ring("other", 1)).unwrap_err();
    assert!(matches!(e, StoreError::UnknownKeyId { .. }), "{e}");
    assert!(e.to_string().contains("`k1`") && e.to_string().contains("other"));

    let mut b = f.bytes.clone();
    b[8] = 2;
    fs::write(&f.enc, &b).unwrap();
    let e = decrypt_file(&f.enc, &f.out, &ring("k1", 1)).unwrap_err();
    assert!(
        matches!(e, StoreError::UnsupportedVersion { found: 2, .. }),
        "{e}"
    );

    fs::write(&f.enc, b"RIFF....WAVEfmt ").unwrap();
    let e = decrypt_file(&f.enc, &f.out, &ring("k1", 1)).unwrap_err();
    assert!(matches!(e, StoreError::NotARecording(_)), "{e}");
    assert!(!f.out.exists());
}

#[test]
fn truncation_appending_and_tampering_are_distinct() {
    let f = fixture();
    let keys = ring("k1", 1);
    let h = header_len("k1");
    assert_eq!(f.bytes.len(), h + 3 * SEALED);
    let check = |bytes: &[u8]| {
        fs::write(&f.enc, bytes).unwrap();
        let e = decrypt_file(&f.enc, &f.out, &keys).unwrap_err();
        assert!(!f.out.exists(), "no output after {e}");
        assert_eq!(
            fs::read_dir(f.out.parent().unwrap()).unwrap().count(),
            1,
            "no temp left"
        );
        e
    };
    for cut in [h + SEALED, h + 2 * SEALED] {
        let e = check(&f.bytes[..cut]);
        assert!(matches!(e, StoreError::Truncated { .. }), "{e}");
    }
    for cut in [h, h + 1, h + SEALED + 5, f.bytes.len() - 1] {
        let e = check(&f.bytes[..cut]);
        assert!(matches!(e, StoreError::Truncated { .. }), "cut {cut}: {e}");
    }
    for extra in [1usize, 100, SEALED, 3 * SEALED + 7] {
        let mut b = f.bytes.clone();
        b.extend(std::iter::repeat_n(0xA5, extra));
        let e = check(&b);
        assert!(
            matches!(e, StoreError::AppendedData { chunk: 2, .. }),
            "{e}"
        );
    }
    for at in [h + 3, h + SEALED + 100, f.bytes.len() - 1] {
        let mut b = f.bytes.clone();
        b[at] ^= 1;
        let e = check(&b);
        assert!(matches!(e, StoreError::Tampered { .. }), "{e}");
    }
    // A header field covered by the associated data: the nonce prefix.
    let mut b = f.bytes.clone();
    b[18] ^= 0x80;
    assert!(matches!(check(&b), StoreError::Tampered { chunk: 0, .. }));
    // Chunks swapped.
    let mut b = f.bytes.clone();
    let (a, c) = (h..h + SEALED, h + SEALED..h + 2 * SEALED);
    let first = b[a.clone()].to_vec();
    b.copy_within(c, h);
    b[h + SEALED..h + 2 * SEALED].copy_from_slice(&first);
    assert!(matches!(check(&b), StoreError::Tampered { chunk: 0, .. }));
    // An existing output file is not replaced by a failed decrypt.
    fs::write(&f.out, b"keep me").unwrap();
    fs::write(&f.enc, &f.bytes[..h + SEALED]).unwrap();
    assert!(decrypt_file(&f.enc, &f.out, &keys).is_err());
    assert_eq!(fs::read(&f.out).unwrap(), b"keep me");
}

#[test]
fn rewrap_moves_to_the_new_key_without_touching_the_audio() {
    let f = fixture();
    let old = ring("k1", 1);
    let new_ring = ring("rotated-2027", 5);
    rewrap_file(&f.enc, &old, new_ring.primary()).unwrap();
    let after = fs::read(&f.enc).unwrap();
    let (h_old, h_new) = (header_len("k1"), header_len("rotated-2027"));
    assert_eq!(after[h_new..], f.bytes[h_old..], "chunks copied verbatim");
    assert!(matches!(
        decrypt_file(&f.enc, &f.out, &old),
        Err(StoreError::UnknownKeyId { .. })
    ));
    let info = decrypt_file(&f.enc, &f.out, &new_ring).unwrap();
    assert_eq!(info.key_id, "rotated-2027");
    assert_eq!(read_wav(&f.out).1, pcm(70_000, 16, 7));

    // Rewrapping with a wrong old key fails and leaves the file as it was.
    let e = rewrap_file(&f.enc, &ring("rotated-2027", 6), old.primary()).unwrap_err();
    assert!(matches!(e, StoreError::WrongKey { .. }));
    assert_eq!(fs::read(&f.enc).unwrap(), after);
}

#[test]
fn decrypting_onto_the_input_is_refused() {
    let f = fixture();
    let e = decrypt_file(&f.enc, &f.enc, &ring("k1", 1)).unwrap_err();
    assert!(matches!(e, StoreError::SameFile(_)));
    assert_eq!(fs::read(&f.enc).unwrap(), f.bytes);
}

/// 100 MB of PCM streamed through in small writes, checked by hash, never held whole.
/// One pseudo-random block is written over and over (offset by one sample each time,
/// so chunks never repeat) to keep the test's own work small.
#[test]
fn a_hundred_megabytes_stream_through_in_constant_memory() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let keys = ring("k1", 1);
    let enc = dir.path().join("big.wav.enc");
    let out = dir.path().join("big.wav");
    let megabytes = 100;
    let total_samples = megabytes * 500_000usize; // 16-bit stereo: 2 bytes a sample
    let values = pcm((1 << 16) + 1024, 16, 3);
    let floats = to_f32(&values, 16);
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|&v| (v as i16).to_le_bytes())
        .collect();
    let started = std::time::Instant::now();
    let mut w = RecordingWriter::create(&enc, keys.primary(), 48_000, 2, 16).unwrap();
    let mut want = Sha256::new();
    let (mut done, mut shift) = (0, 0);
    while done < total_samples {
        let n = (1 << 16).min(total_samples - done);
        w.write_interleaved(&floats[shift..shift + n]).unwrap();
        want.update(&bytes[2 * shift..2 * (shift + n)]);
        done += n;
        shift = (shift + 1) % 1024;
    }
    w.finish().unwrap();
    let written = started.elapsed();
    let info = decrypt_file(&enc, &out, &keys).unwrap();
    eprintln!(
        "{megabytes} MB: encrypt {written:?}, decrypt {:?}",
        started.elapsed() - written
    );
    assert_eq!(info.frames, total_samples as u64 / 2);
    let wav = fs::File::open(&out).unwrap();
    assert_eq!(wav.metadata().unwrap().len(), 44 + 2 * total_samples as u64);
    let mut reader = std::io::BufReader::new(wav);
    std::io::copy(&mut reader.by_ref().take(44), &mut std::io::sink()).unwrap();
    let mut got = Sha256::new();
    std::io::copy(&mut reader, &mut got).unwrap();
    assert_eq!(got.finalize(), want.finalize());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_flipped_bit_is_refused(bit in 0usize..(header_len("k1") + 3 * SEALED) * 8) {
        let f = fixture();
        let mut b = f.bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        fs::write(&f.enc, &b).unwrap();
        prop_assert!(decrypt_file(&f.enc, &f.out, &ring("k1", 1)).is_err());
        prop_assert!(!f.out.exists());
    }

    #[test]
    fn any_truncation_is_refused(len in 0usize..(header_len("k1") + 3 * SEALED)) {
        let f = fixture();
        fs::write(&f.enc, &f.bytes[..len]).unwrap();
        prop_assert!(decrypt_file(&f.enc, &f.out, &ring("k1", 1)).is_err());
        prop_assert!(!f.out.exists());
    }

    #[test]
    fn any_appended_bytes_are_refused(extra in proptest::collection::vec(any::<u8>(), 1..300)) {
        let f = fixture();
        let mut b = f.bytes.clone();
        b.extend_from_slice(&extra);
        fs::write(&f.enc, &b).unwrap();
        let e = decrypt_file(&f.enc, &f.out, &ring("k1", 1));
        let appended = matches!(e, Err(StoreError::AppendedData { .. }));
        prop_assert!(appended);
        prop_assert!(!f.out.exists());
    }
}

/// The writer's temporary file while it is still writing (what a crash leaves behind).
fn unfinished_copy(dir: &Path, into: &Path) {
    let tmp = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tmp"))
        .expect("the writer's temporary file");
    fs::copy(tmp, into).unwrap();
}

#[test]
fn salvage_keeps_every_authenticated_chunk_of_a_cut_off_recording() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_bytes("k1", [7; 32]).unwrap();
    let keys = ring("k1", 7);
    let live = dir.path().join("live");
    fs::create_dir(&live).unwrap();
    let chunk = 1024u32;
    let values = pcm(5000, 16, 3);
    let mut w =
        RecordingWriter::create_with_chunk(&live.join("call.wav.enc"), &key, 8000, 2, 16, chunk)
            .unwrap();
    w.write_interleaved(&to_f32(&values, 16)).unwrap();
    let partial = dir.path().join("partial");
    unfinished_copy(&live, &partial);
    drop(w);
    // The torn end of a crash: half a chunk more.
    let mut bytes = fs::read(&partial).unwrap();
    bytes.extend_from_slice(&vec![0x5a; 600]);
    fs::write(&partial, &bytes).unwrap();

    let out = dir.path().join("saved.wav.enc");
    let frames = hushline::store::salvage(&partial, &keys, &key, &out).unwrap();
    // 44 header bytes, then 4-byte frames, in whole 1 KiB chunks.
    let sealed_chunks = (10_000 + 44) / chunk as usize;
    let expect = (sealed_chunks * chunk as usize - 44) / 4;
    assert_eq!(frames as usize, expect);
    let wav = dir.path().join("saved.wav");
    decrypt_file(&out, &wav, &keys).unwrap();
    let (spec, got) = read_wav(&wav);
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    assert_eq!(got, values[..expect * 2]);

    // A finished recording is not salvaged, and neither is an altered chunk.
    let finished = dir.path().join("done.wav.enc");
    encrypt(&finished, &key, 8000, 1, 16, &to_f32(&values, 16), 999);
    let again = dir.path().join("again.wav.enc");
    assert!(hushline::store::salvage(&finished, &keys, &key, &again).is_err());
    bytes[200] ^= 1;
    fs::write(&partial, &bytes).unwrap();
    assert!(matches!(
        hushline::store::salvage(&partial, &keys, &key, &again),
        Err(StoreError::Tampered { .. })
    ));
    assert!(!again.exists());
}
