#!/usr/bin/env python3
"""Queue worker throughput: how much call audio 1, 2, 3 ... `hushline worker` processes
redact per hour on this machine, and the CPU time they spend per hour of audio.

Usage: scripts/worker_throughput.py [--copies K] [--bin PATH] [N ...]   (default 1 2 3)

Starts nats-server (JetStream) and the S3-compatible s3s-fs on loopback (both installed
by scripts/install-deps.sh), puts K copies of the English sample calls (samples/*.wav
except Chinese; 4 x 5 calls = 555 s of audio by default) into a bucket, and for each N:
a fresh queue, `hushline enqueue`, N workers (each `--jobs 1` and pinned to one core, as a
one-CPU pod would be, so whisper runs one thread per worker),
wall time until `queue status` says all are done, and the workers' CPU time (user+sys,
from /proc before they exit). Prints a table and what it means for 10,000 audio hours a
day. Standard library and sox's soxi; uses the debug build's binary unless --bin says otherwise.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY, SECRET = "bench", "bench-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def tool(name):
    path = shutil.which(name) or os.path.expanduser(f"~/.cargo/bin/{name}")
    if not os.path.exists(path):
        raise SystemExit(f"{name} missing: run scripts/install-deps.sh")
    return path


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def corpus(bucket_dir, copies):
    """Copies of the English samples as objects (s3s-fs serves files in a bucket folder)."""
    total = 0.0
    names = [n for n in sorted(os.listdir(os.path.join(ROOT, "samples")))
             if n.endswith(".wav") and not n.startswith("cn_")]
    for k in range(copies):
        os.makedirs(os.path.join(bucket_dir, f"copy{k}"), exist_ok=True)
        for n in names:
            src = os.path.join(ROOT, "samples", n)
            shutil.copy(src, os.path.join(bucket_dir, f"copy{k}", n))
            total += float(subprocess.run(["soxi", "-D", src], capture_output=True, text=True,
                                          check=True).stdout)
    return copies * len(names), total


def status(bin_, url, env):
    out = subprocess.run([bin_, "queue", "status", "--json", "--queue", url], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def run(bin_, n, calls, env, work):
    nats_dir = tempfile.mkdtemp(dir=work)
    port = free_port()
    nats = subprocess.Popen([tool("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port),
                             "-sd", nats_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        url = f"nats://127.0.0.1:{port}"
        subprocess.run([bin_, "enqueue", "s3://archive", "--queue", url], env=env, check=True,
                       capture_output=True)
        key = os.path.join(work, "bench.key")
        # Worker i on core i mod cores, as one-CPU pods are (whisper threads = 1 each).
        cores = os.cpu_count()
        workers = [subprocess.Popen(
            ["taskset", "-c", str(i % cores), bin_, "worker", "--queue", url, "--out",
             f"s3://redacted/run{n}", "--jobs", "1", "--key-file", key],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(n)]
        started = time.monotonic()
        cpu = {w.pid: 0.0 for w in workers}
        while True:
            for w in workers:
                cpu[w.pid] = cpu_seconds(w.pid)
            s = status(bin_, url, env)
            if s["done"] + s["dead"] >= calls:
                break
            time.sleep(0.5)
        wall = time.monotonic() - started
        for w in workers:
            cpu[w.pid] = cpu_seconds(w.pid)
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait()
        if s["dead"]:
            raise SystemExit(f"{s['dead']} jobs failed")
        return wall, sum(cpu.values())
    finally:
        nats.kill()
        nats.wait()


def main():
    args = sys.argv[1:]
    copies, bin_ = 4, os.path.join(ROOT, "target", "debug", "hushline")
    if "--copies" in args:
        i = args.index("--copies")
        copies = int(args[i + 1])
        del args[i:i + 2]
    if "--bin" in args:
        i = args.index("--bin")
        bin_ = args[i + 1]
        del args[i:i + 2]
    counts = [int(a) for a in args] or [1, 2, 3]
    work = tempfile.mkdtemp(prefix="hushline-throughput-")
    s3_root = os.path.join(work, "s3")
    os.makedirs(os.path.join(s3_root, "redacted"))
    calls, audio_s = corpus(os.path.join(s3_root, "archive"), copies)
    s3_port = free_port()
    s3 = subprocess.Popen([tool("s3s-fs"), "--host", "127.0.0.1", "--port", str(s3_port),
                           "--access-key", KEY, "--secret-key", SECRET, s3_root],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}", AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1", AWS_ALLOW_HTTP="true",
               HUSHLINE_LOG="warn")
    try:
        wait_port(s3_port)
        subprocess.run([bin_, "keygen", "--out", os.path.join(work, "bench.key")], check=True,
                       capture_output=True)
        print(f"{calls} calls, {audio_s:.0f} s of audio, {os.cpu_count()} cores")
        print("workers   wall s   audio h per wall h   CPU s per audio h")
        rows = []
        for n in counts:
            wall, cpu = run(bin_, n, calls, env, work)
            rows.append((n, wall, cpu))
            print(f"{n:7d} {wall:8.1f} {audio_s / wall:20.1f} {cpu / audio_s * 3600:19.0f}")
        best = max(rows, key=lambda r: audio_s / r[1])
        per_core_hour = audio_s / best[2] if best[2] else 0
        print(f"fleet for 10,000 audio h/day: {10000 / 24 / (audio_s / best[1]):.1f} machines like "
              f"this one ({best[0]} workers each), i.e. {10000 * 3600 / (audio_s / best[2]) / 86400:.0f} "
              f"busy cores (CPU s per audio h x 10,000 / 86,400 s); per core {per_core_hour:.1f}x realtime")
    finally:
        s3.kill()
        s3.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
