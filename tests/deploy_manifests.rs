//! deploy/ checked by tools: the Kubernetes manifests against the Kubernetes API schemas
//! (`kubernetes-validate --strict`, installed from the package registry into a virtual
//! environment under ~/.cache/hushline on first use), Kamailio's configuration by
//! `kamailio -c`, and what the schemas cannot know: names that must match the code
//! (stream, consumer, configuration keys), keys mounted read-only from a Secret, a
//! multi-stage image that fetches the model at build time.

mod scale_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_norway::Value;

fn deploy() -> PathBuf {
    scale_common::root().join("deploy")
}

fn manifests() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: not valid YAML: {e}"));
            out.push((name.clone(), value));
        }
    }
    out
}

fn find<'a>(all: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    all.iter()
        .map(|(_, v)| v)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

fn validator() -> Option<PathBuf> {
    let venv = dirs::cache_dir()?.join("hushline/kube-validate-venv");
    let bin = venv.join("bin/kubernetes-validate");
    if !bin.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "kubernetes-validate==1.37.0"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            made,
            "could not install kubernetes-validate into {}",
            venv.display()
        );
    }
    Some(bin)
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let Some(validate) = validator() else {
        panic!("no cache folder for the validator");
    };
    let dir = deploy().join("k8s");
    let files: Vec<String> = [
        "namespace",
        "config",
        "secrets.example",
        "worker",
        "enqueue-job",
        "serve",
        "kamailio",
    ]
    .iter()
    .map(|f| format!("{f}.yaml"))
    .collect();
    let out = Command::new(validate)
        .arg("--strict")
        .args(&files)
        .current_dir(&dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // Every core object was checked against a schema (none skipped as unknown).
    let passed = text.lines().filter(|l| l.contains(" passed ")).count();
    let objects = manifests()
        .iter()
        .filter(|(f, _)| files.contains(f))
        .count();
    assert_eq!(passed, objects, "{text}");
}

#[test]
fn manifests_agree_with_the_code() {
    let all = manifests();
    // KEDA scales the workers on the consumer the workers pull from.
    let scaled = find(&all, "ScaledObject", "hushline-worker");
    assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], "hushline-worker");
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "nats-jetstream");
    assert_eq!(trigger["metadata"]["stream"], hushline::queue::JOBS_STREAM);
    assert_eq!(trigger["metadata"]["consumer"], hushline::queue::CONSUMER);
    assert!(trigger["metadata"]["natsServerMonitoringEndpoint"]
        .as_str()
        .unwrap()
        .ends_with(":8222"));
    find(&all, "Deployment", "hushline-worker");

    // The configuration the pods read is a valid hushline configuration.
    let config = find(&all, "ConfigMap", "hushline-config");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config["data"]["config.toml"].as_str().unwrap()).unwrap();
    let parsed = hushline::config::Config::load(Some(&path)).unwrap();
    assert!(parsed.worker.queue.unwrap().starts_with("nats://"));
    assert!(parsed.worker.out.unwrap().starts_with("s3://"));

    // Workers and recorders: keys from a Secret mounted read-only, metrics and health
    // probes on the port the configuration names, non-root.
    for (kind, name) in [
        ("Deployment", "hushline-worker"),
        ("StatefulSet", "hushline-serve"),
    ] {
        let spec = &find(&all, kind, name)["spec"]["template"]["spec"];
        let secret_volume = spec["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["secret"]["secretName"] == "hushline-key")
            .unwrap_or_else(|| panic!("{name}: no key Secret volume"));
        let volume = secret_volume["name"].as_str().unwrap();
        let mounts: Vec<&Value> = spec["initContainers"]
            .as_sequence()
            .into_iter()
            .chain(spec["containers"].as_sequence())
            .flatten()
            .flat_map(|c| c["volumeMounts"].as_sequence().unwrap())
            .filter(|m| m["name"] == volume)
            .collect();
        assert!(!mounts.is_empty(), "{name}: the key Secret is not mounted");
        assert!(
            mounts.iter().all(|m| m["readOnly"] == true),
            "{name}: key mounted writable"
        );
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{name}");
        let main = &spec["containers"][0];
        assert_eq!(
            main["livenessProbe"]["httpGet"]["path"], "/healthz",
            "{name}"
        );
        assert_eq!(
            main["readinessProbe"]["httpGet"]["path"], "/readyz",
            "{name}"
        );
        assert!(
            parsed.worker.metrics.as_deref().unwrap().ends_with(":9090")
                && main["ports"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|p| p["containerPort"] == 9090),
            "{name}: metrics port"
        );
    }
    // The recorders keep one volume each: a restarted one recovers its own calls.
    let serve = find(&all, "StatefulSet", "hushline-serve");
    assert_eq!(
        serve["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "calls"
    );
    let job = find(&all, "Job", "hushline-enqueue");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "enqueue"
    );
}

#[test]
fn the_image_is_multi_stage_and_fetches_the_model_at_build_time() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(stages.len() >= 3, "{stages:?}");
    let model_stage = text
        .split("\nFROM ")
        .find(|s| s.contains("AS model"))
        .unwrap();
    assert!(model_stage.contains("hushline model fetch tiny.en"));
    let last = text.rsplit("\nFROM ").next().unwrap();
    assert!(
        last.contains("COPY --from=model"),
        "the runtime image lacks the model"
    );
    assert!(
        last.contains("USER 10001"),
        "the runtime image runs as root"
    );
    assert!(
        !last.contains("cargo"),
        "the runtime image carries the toolchain"
    );
}

#[test]
fn kamailio_accepts_the_pool_configuration() {
    let Some(kamailio) = scale_common::tool("kamailio") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("dispatcher.list");
    std::fs::copy(deploy().join("kamailio/dispatcher.list"), &list).unwrap();
    let out = Command::new(kamailio)
        .arg("-c")
        .arg("-f")
        .arg(deploy().join("kamailio/kamailio.cfg"))
        .args(["-A", "LISTEN=udp:127.0.0.1:5060"])
        .args(["-A", &format!("DS_LIST=\"{}\"", list.display())])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("config file ok"),
        "{text}"
    );
    assert!(Path::new(&list).exists());
}
