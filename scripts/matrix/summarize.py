#!/usr/bin/env python3
"""Tables of leaks, coverage and over-redaction from `hushline eval --json`, grouped.

Joins each scored call with its truth file (same order of items, decoys and speech) to
learn who said what in which voice, format and scenario, then prints one Markdown table
per grouping with the columns of the telephone-recall issue:

  primary in text   card, cn_id and ssn items with 4 digits in a row in the masked text
  primary <95%      primary items with less than 95 % of their audible samples bleeped
  cvv/exp in text   CVV and expiry items whose digits reached the text
  cvv/exp <95%      the same, under 95 % bleeped
  innocent bleeped  share of innocent speech (seconds) that was bleeped
  decoys bleeped    decoy numbers at least half bleeped

Item-level keys (voice, engine, speaker) are those of whoever spoke the item; call-level
keys (format, layout, codec, scenario, language, seed, call) come from the truth file.

With --reasons OUT (the outputs folder a KEEP run leaves, KEEP/out), the innocent speech
bleeped is also split by the reason of the redaction that covers it most (padding
included), second-hearing reasons without their times: what each rule costs.

Usage: summarize.py REPORT.json --truth DIR [--by voice,engine,format] [--failures]
                    [--reasons OUT]
"""

import argparse
import json
import os
import re
from collections import defaultdict

PRIMARY = {"card", "cn_id", "ssn"}
SECONDARY = {"cvv", "expiry"}
ENTRY_KEYS = {"voice", "engine", "speaker"}
CALL_KEYS = {"format", "layout", "codec", "scenario", "language", "seed", "call"}
# Seconds each redaction is widened by when bleeped (the default `padding_s`).
PADDING_S = 0.3
# Where and on which channel a fail-closed stretch was: dropped to group reasons.
WHERE = re.compile(r",? on channel \d+ at [\d.]+-[\d.]+ s")


class Tally:
    def __init__(self):
        self.files = set()
        self.primary = self.primary_text = self.primary_low = 0
        self.secondary = self.secondary_text = self.secondary_low = 0
        self.speech_s = self.speech_bleeped_s = 0.0
        self.decoys = self.decoys_hit = 0

    def item(self, score):
        low = score["covered"] < 0.95
        if score["kind"] in PRIMARY:
            self.primary += 1
            self.primary_text += score["text_leak"]
            self.primary_low += low
        elif score["kind"] in SECONDARY:
            self.secondary += 1
            self.secondary_text += score["text_leak"]
            self.secondary_low += low

    def speech(self, score):
        length = score["end"] - score["start"]
        self.speech_s += length
        self.speech_bleeped_s += score["bleeped"] * length

    def decoy(self, score):
        self.decoys += 1
        self.decoys_hit += score["bleeped"] >= 0.5

    def row(self):
        share = 100 * self.speech_bleeped_s / self.speech_s if self.speech_s else 0.0
        return [
            str(len(self.files)),
            f"{self.primary_text} of {self.primary}",
            f"{self.primary_low} of {self.primary}",
            f"{self.secondary_text} of {self.secondary}",
            f"{self.secondary_low} of {self.secondary}",
            f"{share:.1f} %",
            f"{self.decoys_hit} of {self.decoys}",
        ]


COLUMNS = ["files", "primary in text", "primary <95%", "cvv/exp in text", "cvv/exp <95%", "innocent bleeped", "decoys bleeped"]


def load(report_path, truth_dir):
    """(truth, scores) per scored call, checked to line up entry by entry."""
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    for scored in report["calls"]:
        stem = os.path.splitext(scored["file"])[0]
        with open(os.path.join(truth_dir, stem + ".truth.json"), encoding="utf-8") as f:
            truth = json.load(f)
        for key in ("items", "decoys", "speech"):
            if len(truth[key]) != len(scored[key]) or any(
                abs(t["start"] - s["start"]) > 1e-6 for t, s in zip(truth[key], scored[key])
            ):
                raise SystemExit(f"{scored['file']}: report and truth disagree on {key}")
        yield truth, scored


def key_of(truth, entry, fields):
    parts = []
    for field in fields:
        if field in ENTRY_KEYS:
            parts.append(str(entry.get(field) or truth.get(field, "?")))
        else:
            parts.append(str(truth.get(field, "?")))
    return " / ".join(parts)


def tabulate(calls, fields):
    groups = defaultdict(Tally)
    total = Tally()
    for truth, scored in calls:
        for kind, add in (("items", Tally.item), ("decoys", Tally.decoy), ("speech", Tally.speech)):
            for entry, score in zip(truth[kind], scored[kind]):
                for tally in (groups[key_of(truth, entry, fields)], total):
                    tally.files.add(truth["file"])
                    add(tally, score)
    return groups, total


def markdown(title, groups, total):
    lines = [f"| {title} | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name in sorted(groups):
        lines.append(f"| {name} | " + " | ".join(groups[name].row()) + " |")
    lines.append("| **all** | " + " | ".join(f"**{c}**" for c in total.row()) + " |")
    return "\n".join(lines)


def failures(calls):
    lines = []
    for truth, scored in calls:
        for entry, score in zip(truth["items"], scored["items"]):
            if score["covered"] < 0.95 or score["text_leak"]:
                lines.append(f"{truth['file']:56} {score['kind']:7} ch{score['channel']} {score['start']:7.2f}-{score['end']:<7.2f} "
                             f"{100 * score['covered']:5.1f}% {'TEXT' if score['text_leak'] else '    '} "
                             f"{entry.get('voice', '?'):32} {entry.get('text', '')}")
        for entry, score in zip(truth["decoys"], scored["decoys"]):
            if score["bleeped"] >= 0.5:
                lines.append(f"{truth['file']:56} {score['kind']:7} ch{score['channel']} {score['start']:7.2f}-{score['end']:<7.2f} "
                             f"{100 * score['bleeped']:5.1f}% DECOY BLEEPED {entry.get('voice', '?'):32} {entry.get('text', '')}")
    return lines


def innocent_by_reason(calls, out_dir):
    """Seconds of innocent speech bleeped per redaction reason, and all speech seconds."""
    seconds = defaultdict(float)
    speech_s = 0.0
    for truth, scored in calls:
        stem = os.path.splitext(truth["file"])[0]
        path = os.path.join(out_dir, stem + ".transcript.json")
        redactions = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                redactions = json.load(f)["redactions"]
        mono = truth["channels"] == 1
        for score in scored["speech"]:
            length = score["end"] - score["start"]
            speech_s += length
            if score["bleeped"] <= 0:
                continue
            best, reason = 0.0, "(no redaction on it)"
            for r in redactions:
                if not mono and r["channel"] != score["channel"]:
                    continue
                overlap = min(score["end"], r["end"] + PADDING_S) - max(score["start"], r["start"] - PADDING_S)
                if overlap > best:
                    best, reason = overlap, f"{WHERE.sub('', r['reason'])} ({r['type']})"
            seconds[reason] += score["bleeped"] * length
    return seconds, speech_s


def reasons_markdown(seconds, speech_s):
    lines = ["| reason (type) | innocent speech bleeped | share of all speech |", "|---|---|---|"]
    for reason, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {reason} | {s:.1f} s | {100 * s / max(speech_s, 1e-9):.2f} % |")
    total = sum(seconds.values())
    lines.append(f"| **all** | **{total:.1f} s** | **{100 * total / max(speech_s, 1e-9):.2f} %** |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", help="the file `hushline eval --json` wrote")
    ap.add_argument("--truth", required=True, help="folder of the calls' truth files")
    ap.add_argument("--by", default="voice;engine;format;scenario",
                    help="groupings separated by ';', each a comma-separated list of keys "
                         f"({', '.join(sorted(ENTRY_KEYS | CALL_KEYS))}); default: %(default)s")
    ap.add_argument("--failures", action="store_true", help="also list every leaked or under-bleeped item and bleeped decoy")
    ap.add_argument("--reasons", metavar="OUT", help="split innocent speech bleeped by redaction reason, "
                    "from the masked transcripts in OUT")
    args = ap.parse_args()
    calls = list(load(args.report, args.truth))
    for grouping in [g for g in args.by.split(";") if g]:
        fields = [f.strip() for f in grouping.split(",") if f.strip()]
        unknown = [f for f in fields if f not in ENTRY_KEYS | CALL_KEYS]
        if unknown:
            ap.error(f"unknown key(s) {', '.join(unknown)}")
        groups, total = tabulate(calls, fields)
        print(markdown(" / ".join(fields), groups, total))
        print()
    if args.reasons:
        print(reasons_markdown(*innocent_by_reason(calls, args.reasons)))
        print()
    if args.failures:
        print("\n".join(failures(calls)) or "no leaked or under-bleeped item, no bleeped decoy")


if __name__ == "__main__":
    main()
