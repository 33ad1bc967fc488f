//! Encrypted recording throughput against a plain file copy of the same size.
//! Every variant ends with the file fsynced, so the comparison is like for like.

use std::fs::{self, File};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hushline::store::{decrypt_file, Keyring, MasterKey, RecordingWriter};

/// 16 MiB of 16-bit PCM when benchmarking; 1 MiB when `cargo test` runs the benches
/// once as a smoke test (no `--bench` argument), where the crate is unoptimised.
fn sample_count() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        8 * 1024 * 1024
    } else {
        512 * 1024
    }
}

fn samples(n: usize) -> Vec<f32> {
    let mut x: u32 = 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f32::from((x >> 16) as i16) / 32768.0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keyring::from_keys(vec![MasterKey::from_bytes("bench", [7; 32]).unwrap()]).unwrap();
    let n = sample_count();
    let audio = samples(n);
    let enc = dir.path().join("b.wav.enc");
    let out = dir.path().join("b.wav");
    let copy = dir.path().join("copy.wav");

    let encrypt = |path: &std::path::Path| {
        let mut w = RecordingWriter::create(path, keys.primary(), 8000, 1, 16).unwrap();
        for block in audio.chunks(4000) {
            w.write_interleaved(block).unwrap();
        }
        w.finish().unwrap();
    };
    encrypt(&enc);
    decrypt_file(&enc, &out, &keys).unwrap();

    let mut g = c.benchmark_group(format!("recording_{}MiB", (2 * n) >> 20));
    g.sample_size(10);
    g.throughput(Throughput::Bytes(2 * n as u64));
    g.bench_function("encrypt (f32 -> PCM -> AES-GCM STREAM, fsync)", |b| {
        b.iter(|| encrypt(black_box(&enc)))
    });
    g.bench_function("decrypt (verify, write WAV, fsync)", |b| {
        b.iter(|| decrypt_file(black_box(&enc), &out, &keys).unwrap())
    });
    g.bench_function("plain file copy (fsync)", |b| {
        b.iter(|| {
            fs::copy(black_box(&out), &copy).unwrap();
            File::open(&copy).unwrap().sync_all().unwrap();
        })
    });
    g.bench_function("AES-256-GCM STREAM alone, in memory (64 KiB chunks)", |b| {
        use aes_gcm::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
        use aes_gcm::{Aes256Gcm, KeyInit};
        let stream =
            StreamBE32::<Aes256Gcm>::from_aead(Aes256Gcm::new(&[9u8; 32].into()), &[1u8; 7].into());
        let mut buf = Vec::with_capacity(65536 + 16);
        b.iter(|| {
            for i in 0..(2 * n / 65536) as u32 {
                buf.clear();
                buf.resize(65536, 0x5A);
                stream.encrypt_in_place(i, false, b"aad", &mut buf).unwrap();
                black_box(&buf);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
