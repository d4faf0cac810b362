"""Narration-stream video splits as VideoLLM-online builds them (docs/design/ego4d-data.md §5 step 1).

    python -m vstream_ros.train.splits --annotations datasets/ego4d/v2/annotations --out datasets/ego4d/dialogues

val = union of video uids over the benchmark `{b}_val.json` files, test = union over `{b}_test_unannotated.json`
minus val, train = every other video of the narration file. Writes narration_{train,val,test,trainval}_uids.txt
(one uid per line, sorted; trainval = what the released v1+ model was trained on). Missing benchmark files are
reported and skipped.

Imports: stdlib, train.ego4d_narration. Never torch, never ROS.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .ego4d_narration import DatasetError, load_json, read_narrations, split_video_uids

BENCHMARKS = ("goalstep", "fho_lta", "nlq", "moments", "av", "fho_oscc-pnr", "fho_sta", "vq")


def compute_splits(annotations: Path, narration_file: str = "all_narrations_redacted.json") -> tuple[dict, list]:
    """→ ({split: sorted uids}, [missing benchmark files])."""
    missing = []

    def union(suffix: str) -> set:
        files = {}
        for b in BENCHMARKS:
            p = annotations / f"{b}_{suffix}.json"
            if p.is_file():
                files[b] = load_json(str(p))
            else:
                missing.append(p.name)
        return split_video_uids(files)

    all_uids = set(read_narrations(load_json(str(annotations / narration_file))))
    val = union("val")
    test = union("test_unannotated") - val
    train = all_uids - val - test
    splits = {"train": sorted(train), "val": sorted(val & all_uids), "test": sorted(test & all_uids)}
    splits["trainval"] = sorted(set(splits["train"]) | set(splits["val"]))
    return splits, missing


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m vstream_ros.train.splits", description=__doc__.split("\n\n")[2])
    p.add_argument("--annotations", required=True, help="folder with the Ego4D v2 annotation JSON files")
    p.add_argument("--narrations", default="all_narrations_redacted.json", help="narration file name in it")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    try:
        splits, missing = compute_splits(Path(args.annotations), args.narrations)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, uids in splits.items():
        tmp = out / f".tmp-narration_{name}_uids.txt"
        tmp.write_text("".join(u + "\n" for u in uids))
        tmp.replace(out / f"narration_{name}_uids.txt")
    if missing:
        print(f"warning: {len(missing)} benchmark files missing (their videos count as train): {', '.join(missing)}")
    print(", ".join(f"{k}: {len(v)}" for k, v in splits.items()) + f" video uids -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
