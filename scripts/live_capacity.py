#!/usr/bin/env python3
"""Live capacity benchmark: how many concurrent SIP calls `hushline serve` redacts on this
machine without recognition falling behind, the latency from the end of a spoken number to
the release of its bleeped audio, and CPU and memory per call.

Usage (root, for SIPp's play_pcap_audio): scripts/live_capacity.py [N ...]   (default 1 2 3 4)

For each N it starts a fresh release-build server, places N simultaneous calls with SIPp,
each a 42 s call reading a card number twice (samples/card_digits.wav, twice, as PCMU),
and reads every call's `call_ended` line from the feed. "unchecked" is speech recognition
had not heard by the time it was released (bleeped whole: the fail-closed fallback); a
load is sustained when it stays zero. Standard library only.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "hushline")
SIPP_DIR = os.path.join(ROOT, "tests", "sipp")


def make_call(work):
    wav = os.path.join(work, "call.wav")
    src = os.path.join(ROOT, "samples", "card_digits.wav")
    subprocess.run(["sox", src, src, "-r", "8000", "-c", "1", "-b", "16", wav], check=True)
    subprocess.run([sys.executable, os.path.join(SIPP_DIR, "make_pcaps.py"), "--call", "long", wav, work],
                   check=True)
    with open(os.path.join(SIPP_DIR, "uac_card_pcmu.xml")) as f:
        xml = f.read()
    xml = xml.replace("card_pcmu.pcap", os.path.join(work, "long_pcmu.pcap"))
    xml = xml.replace('<pause milliseconds="22000"/>', '<pause milliseconds="43000"/>')
    scenario = os.path.join(work, "long.xml")
    with open(scenario, "w") as f:
        f.write(xml)
    return scenario


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def run(n, scenario, work, port):
    out = os.path.join(work, f"out{n}")
    key = os.path.join(work, "master.key")
    if not os.path.exists(key):
        subprocess.run([BIN, "keygen", "--out", key], check=True, capture_output=True)
    server = subprocess.Popen(
        [BIN, "serve", "--sip", f"127.0.0.1:{port}", "--out", out, "--rtp-ports",
         f"{port + 100}-{port + 399}", "--key-file", key],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(3)
    _, idle_rss = proc_stats(server.pid)
    cpu0, _ = proc_stats(server.pid)
    peak = [idle_rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proc_stats(server.pid)[1])
            except OSError:
                return
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", scenario, "-m", str(n), "-l", str(n), "-r", "50",
         "-i", "127.0.0.1", "-p", str(port + 10), "-cp", str(port + 11), "-mp", str(port + 12),
         "-nostdin", "-timeout", "200s", "-timeout_error"],
        cwd=SIPP_DIR, check=True, capture_output=True)
    ended = []
    for line in server.stdout:
        event = json.loads(line)
        if event["event"] == "call_ended":
            ended.append(event)
            if len(ended) == n:
                break
    cpu1, _ = proc_stats(server.pid)
    done.set()
    server.terminate()
    server.wait(timeout=60)
    stats = [e["stats"] for e in ended]
    p50 = [s["latency_p50_s"] for s in stats if s["latency_p50_s"] is not None]
    p95 = [s["latency_p95_s"] for s in stats if s["latency_p95_s"] is not None]
    audio = sum(s["duration_s"] for s in stats)
    return {
        "calls": n,
        "unchecked_s_per_call": sum(s["unchecked_s"] for s in stats) / n,
        "latency_p50_s": statistics.median(p50) if p50 else None,
        "latency_p95_s": max(p95) if p95 else None,
        "cpu_per_call_audio": (cpu1 - cpu0) / audio if audio else None,
        "rss_mb_idle": idle_rss,
        "rss_mb_per_call": (peak[0] - idle_rss) / n,
        "failed": sum(1 for e in ended if e.get("error")),
    }


def main():
    loads = [int(a) for a in sys.argv[1:]] or [1, 2, 3, 4]
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as work:
        scenario = make_call(work)
        rows = [run(n, scenario, work, 36000 + 500 * i) for i, n in enumerate(loads)]
    print("calls  unchecked s/call  latency p50  latency p95  CPU s per s of call  RSS idle MB  RSS MB/call  failed")
    for r in rows:
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"
        print(f"{r['calls']:5d}  {r['unchecked_s_per_call']:16.2f}  {fmt(r['latency_p50_s'], '10.2f')} s"
              f"  {fmt(r['latency_p95_s'], '10.2f')} s  {fmt(r['cpu_per_call_audio'], '19.2f')}"
              f"  {r['rss_mb_idle']:11.0f}  {r['rss_mb_per_call']:11.1f}  {r['failed']:6d}")


if __name__ == "__main__":
    main()
