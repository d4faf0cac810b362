"""`vstream synthesize-dialogues --task goalstep|refine-narration --input FILE --out FILE [--llm ID | --rule-based]`.

goalstep: goalstep_{train,val}.json → timed conversations JSON (the `ego4d_livechat` data source of
`vstream train`). refine-narration: all_narrations_redacted.json / narration.json → {cleaned: second-person}
JSON map (the `refined_map` of the `ego4d_narration` source, variant `refined`). `--llm` takes any
transformers causal LM (hub id or folder), batched greedy decoding; `--rule-based` needs no LLM and labels
its output "rule-based" (an approximation). Interrupted runs resume from `<out>.partial.jsonl`.

Imports: train.synthesize / ego4d_* (lazily). Never ROS.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("synthesize-dialogues", help="annotations → stream dialogue text (LLM or rules)",
                              description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=("goalstep", "refine-narration"))
    p.add_argument("--input", required=True, help="annotation JSON (official schema)")
    p.add_argument("--out", required=True, help="output JSON (written atomically at the end)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--llm", help="transformers causal LM id or folder, e.g. meta-llama/Meta-Llama-3-8B-Instruct")
    src.add_argument("--rule-based", action="store_true", help="deterministic rules, no LLM (approximation)")
    p.add_argument("--batch", type=int, default=8, help="prompts per generate() call (default 8)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default 1024 (goalstep) / 64 (refine)")
    p.add_argument("--conversations-per-unit", type=int, default=1, help="goalstep: dialogues per unit (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main)


def main(args, generate=None) -> int:
    """`generate` (prompts → texts) replaces the HF model in tests."""
    from .ego4d_goalstep import goalstep_units  # noqa: PLC0415
    from .ego4d_narration import (  # noqa: PLC0415
        DatasetError,
        clean_text,
        load_json,
        read_narrations,
        rule_based_you,
    )
    from .synthesize import (  # noqa: PLC0415
        WorkLog,
        goalstep_prompt,
        goalstep_value,
        hf_generator,
        parse_refined,
        refine_prompt,
        rule_based_dialogue,
        run_jobs,
        unit_key,
    )

    if args.batch < 1 or args.conversations_per_unit < 1:
        print("error: --batch and --conversations-per-unit must be >= 1", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = load_json(args.input)
        if args.task == "goalstep":
            units, rep = goalstep_units(data)
            print(f"goalstep: {rep.summary()}")
        else:
            texts = sorted({c for passes in read_narrations(data).values() for items in passes.values()
                            for _, t in items if isinstance(t, str) and (c := clean_text(t))})
            if not texts:
                raise DatasetError(f"{args.input}: no narration text survives cleaning")
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    variant = "rule-based" if args.rule_based else f"llm:{args.llm}"
    if generate is None and not args.rule_based:
        default = 1024 if args.task == "goalstep" else 64
        generate = hf_generator(args.llm, args.device, args.max_new_tokens or default)
    log = WorkLog(out)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm  # noqa: PLC0415
        bar = tqdm(desc="synthesize", unit="item")
    progress = bar.update if bar else None
    if args.task == "goalstep":
        by_key = {unit_key(u, n): u for u in units for n in range(args.conversations_per_unit)}
        jobs = [(k, goalstep_prompt(u, random.Random(f"{args.seed}/{k}"))) for k, u in by_key.items()]
        counts = run_jobs(jobs, None if args.rule_based else generate, lambda a: goalstep_value(a, variant),
                          lambda k: {"text_variant": "rule-based", "conversation": rule_based_dialogue(by_key[k])},
                          log, args.batch, progress)
        result = [{"id": k, "video_uid": by_key[k].video_uid, **log.done[k]} for k in by_key]
    else:
        jobs = [(t, refine_prompt(t)) for t in texts]
        counts = run_jobs(jobs, None if args.rule_based else generate, parse_refined, rule_based_you, log,
                          args.batch, progress)
        result = {t: log.done[t] for t in texts}
    if bar:
        bar.close()
    log.finish(out, result)
    label = "rule-based" if args.rule_based else "rule-based fallback (unparsable LLM output)"
    print(f"synthesize-dialogues: {len(result)} written to {out}; {counts['generated']} from the LLM, "
          f"{counts['fallback']} {label}, {counts['resumed']} resumed")
    return 0
