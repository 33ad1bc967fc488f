//! The fuzz corpus on stable: every file of `fuzz/replay/TARGET/` (the smallest inputs
//! of the corpus `make fuzz` minimised) and of `fuzz/regressions/TARGET/` (inputs that
//! once crashed a target, one per fixed bug) is fed to the same entry points the fuzz
//! targets call, as are the seeds built here from the test fixtures. `make fuzz` writes
//! the seeds into its working corpus first (`write_seed_corpus`, ignored otherwise).

use std::path::{Path, PathBuf};

use hushline::fuzz::TARGETS;
use hushline::live::srtp::{self, MasterKey, Suite};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The SIP messages of the SIPp scenarios, placeholders filled as SIPp would.
fn scenario_messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for xml in files(&root().join("tests/sipp")) {
        if xml.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let text = std::fs::read_to_string(&xml).unwrap();
        for block in text.split("<![CDATA[").skip(1) {
            let raw = block.split("]]>").next().unwrap();
            let mut msg = String::new();
            for line in raw.trim().lines() {
                msg.push_str(line.trim());
                msg.push_str("\r\n");
            }
            for (from, to) in [
                ("[remote_ip]", "127.0.0.1"),
                ("[remote_port]", "5060"),
                ("[local_ip]", "127.0.0.1"),
                ("[local_port]", "5070"),
                ("[media_ip]", "127.0.0.1"),
                ("[media_port]", "6000"),
                ("[local_ip_type]", "4"),
                ("[media_ip_type]", "4"),
                ("[transport]", "UDP"),
                ("[branch]", "z9hG4bK-seed"),
                ("[pid]", "1"),
                ("[call_number]", "1"),
                ("[call_id]", "seed@127.0.0.1"),
                ("[peer_tag_param]", ";tag=seed"),
                ("[service]", "rec"),
            ] {
                msg = msg.replace(from, to);
            }
            let (head, body) = msg.split_once("\r\n\r\n").unwrap_or((&msg, ""));
            let msg = format!("{head}\r\n\r\n{body}").replace("[len]", &body.len().to_string());
            out.push(msg.into_bytes());
        }
    }
    assert!(out.len() >= 20, "scenario messages: {}", out.len());
    out
}

/// A key for seeds: fixed bytes, so the seeds are the same on every run.
fn seed_key(suite: Suite) -> MasterKey {
    MasterKey::from_bytes(suite, &vec![0x42; suite.inline_len()]).unwrap()
}

fn srtp_offers() -> Vec<Vec<u8>> {
    Suite::ALL
        .iter()
        .map(|&s| {
            let key = seed_key(s);
            format!(
                "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 40000 RTP/SAVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
                 a=crypto:1 {} inline:{}|2^31\r\na=crypto:2 F8_128_HMAC_SHA1_80 inline:AAAA\r\n\
                 a=label:1\r\na=sendonly\r\n",
                s.name(),
                key.inline().as_str()
            )
            .into_bytes()
        })
        .collect()
}

/// RTP packets of a fixture pcap (fixed 42-byte link/IP/UDP headers, make_pcaps.py).
fn pcap_packets(name: &str, n: usize) -> Vec<Vec<u8>> {
    let data = std::fs::read(root().join("tests/sipp").join(name)).unwrap();
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() && out.len() < n {
        let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(data[at + 16 + 42..at + 16 + len].to_vec());
        at += 16 + len;
    }
    out
}

fn length_prefixed(packets: &[Vec<u8>], prefix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for p in packets {
        v.push(p.len().min(255) as u8);
        v.extend_from_slice(&p[..p.len().min(255)]);
    }
    v
}

/// Seeds per target, built from the fixtures the other tests use.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    let messages = scenario_messages();
    for m in &messages {
        v.push(("sip", m.clone()));
        let text = String::from_utf8_lossy(m);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let ct = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Type: "))
                .unwrap_or("application/sdp");
            if ct.starts_with("multipart") {
                v.push(("siprec", format!("{ct}\n{body}").into_bytes()));
            } else if !body.is_empty() {
                v.push(("sdp", body.as_bytes().to_vec()));
            }
        }
    }
    for offer in srtp_offers() {
        v.push(("sdp", offer));
    }
    for pcap in ["pcmu.pcap", "pcma.pcap", "dtmf.pcap"] {
        let mut packets = pcap_packets(pcap, 40);
        packets.swap(3, 5);
        packets.push(packets[7].clone());
        v.push(("rtp", length_prefixed(&packets, &[])));
    }
    let plain = pcap_packets("pcmu.pcap", 6);
    for (i, &suite) in Suite::ALL.iter().enumerate() {
        let flipped: Vec<Vec<u8>> = plain
            .iter()
            .enumerate()
            .map(|(k, p)| [&[k as u8 * 37][..], p].concat())
            .collect();
        v.push(("srtp", length_prefixed(&flipped, &[1, i as u8])));
        let wire = srtp::Sender::new(&seed_key(suite))
            .protect(&plain[0])
            .unwrap();
        v.push(("srtp", [&[0, i as u8][..], &wire].concat()));
    }
    for c in hushline::fuzz::container_seeds() {
        v.push(("container", c));
    }
    v
}

fn target(name: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn seeds_cover_every_target_and_pass() {
    let seeds = seeds();
    for (name, f) in TARGETS {
        let mine: Vec<&Vec<u8>> = seeds
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, s)| s)
            .collect();
        assert!(!mine.is_empty(), "no seed for {name}");
        for s in mine {
            f(s);
        }
    }
}

#[test]
fn committed_corpus_and_regressions_replay_cleanly() {
    let fuzz = root().join("fuzz");
    for (name, _) in TARGETS {
        let corpus = files(&fuzz.join("replay").join(name));
        assert!(
            corpus.len() >= 5,
            "fuzz/replay/{name} holds {} inputs; `make fuzz` writes it",
            corpus.len()
        );
        for path in corpus
            .iter()
            .chain(&files(&fuzz.join("regressions").join(name)))
        {
            let data = std::fs::read(path).unwrap();
            let run = std::panic::catch_unwind(|| target(name)(&data));
            assert!(run.is_ok(), "{} fails", path.display());
        }
    }
}

/// Writes the seeds into `fuzz/corpus/TARGET/` (run by `make fuzz`).
#[test]
#[ignore]
fn write_seed_corpus() {
    for (i, (name, data)) in seeds().into_iter().enumerate() {
        let dir = root().join("fuzz/corpus").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{i:03}")), data).unwrap();
    }
}
