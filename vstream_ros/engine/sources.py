"""Where a model's files come from: turn a ModelSpec (what the user typed) into the adapter folder, the base
LLM and the SigLIP tower to load, checking every path before anything heavy is imported.

`--model` (the node's `model.checkpoint`, the launch file's `model:=`) accepts
  * `demo`: the shipped demo model (found in $VSTREAM_DEMO_MODEL, the source tree's models/demo, or an
    installed share/vstream_ros/models/demo: pip prefix, colcon/ament prefixes);
  * a model root holding `checkpoint/` (+ `llm/`, `vision/`), e.g. `models/demo`;
  * an adapter folder (adapter_config.json + weights); one named `checkpoint` inside a model root also gets
    that root's `llm/` and `vision/` as defaults;
  * a hub id (see engine/hub.py: offline and unreachable hubs fail at once, in one line).
The adapter's `base_model_name_or_path`, when relative, is resolved against the adapter folder, then its parent
folders, then the working directory, so a checkpoint works from any working directory. `--llm` / `--vision`
always win; otherwise the tower defaults to the model root's `vision/`, else google/siglip-large-patch16-384.

Every problem is a `CheckpointError` (a ValueError) with one line naming the path and the option to fix it.
Imports: stdlib and engine.config/hub (huggingface_hub lazily). Never torch, transformers or ROS.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .config import DEFAULT_VISION, ModelSpec
from .hub import HubUnavailable, looks_like_hub_id, resolve_hub_id

ADAPTER_CONFIG = "adapter_config.json"
CONTEXT_FILE = "trained_context.json"         # the context the model was trained on (engine/memory/context.py)
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
DEMO_NAME = "demo"
DEMO_ENV = "VSTREAM_DEMO_MODEL"
SHARE_DEMO = Path("share") / "vstream_ros" / "models" / "demo"
ACCEPTS = "--model takes `demo`, a model root such as models/demo, an adapter folder or a hub id"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ModelSources:
    """What to load: all local folders, except hub ids the hub can serve right now."""

    checkpoint: Path            # adapter folder (local; a hub checkpoint is its downloaded snapshot)
    llm: str                    # base LLM folder or hub id
    vision: str                 # SigLIP folder or hub id
    adapter_config: dict = field(repr=False)
    root: Path | None = None    # the model root, when the checkpoint sits in one


# ----------------------------------------------------------------------------- the shipped demo model
def demo_candidates() -> list[Path]:
    """Where the shipped demo model may be, in search order."""
    out = []
    if os.environ.get(DEMO_ENV):
        out.append(Path(os.environ[DEMO_ENV]).expanduser())
    here = Path(__file__).resolve()
    out.append(here.parents[2] / "models" / "demo")                       # source tree / editable install
    out.append(Path(sys.prefix) / SHARE_DEMO)                             # pip install into a prefix
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):   # colcon / ROS install
        if prefix:
            out.append(Path(prefix) / SHARE_DEMO)
    for parent in here.parents[1:]:                                       # <prefix>/lib/pythonX/site-packages/…
        if (parent / SHARE_DEMO).is_dir():
            out.append(parent / SHARE_DEMO)
            break
    return list(dict.fromkeys(out))


def is_model_root(path: Path) -> bool:
    return (path / "checkpoint" / ADAPTER_CONFIG).is_file()


def find_demo_root() -> Path:
    cands = demo_candidates()
    for c in cands:
        if is_model_root(c) and (c / "llm").is_dir() and (c / "vision").is_dir():
            return c.resolve()
    raise CheckpointError("no demo model (checkpoint/, llm/, vision/) in " + ", ".join(str(c) for c in cands) +
                          f"; set ${DEMO_ENV}, or train one: python -m vstream_lab.demo_model.train_demo "
                          "--config config/train/demo.yaml --out models/demo")


# ----------------------------------------------------------------------------- adapter folder
def read_adapter_config(ckpt: Path) -> dict:
    path = ckpt / ADAPTER_CONFIG
    if not path.is_file():
        hint = ""
        if (ckpt / "checkpoint").is_dir():
            hint = f" (did you mean {ckpt / 'checkpoint'}?)"
        raise CheckpointError(f"{ckpt} is not a VideoLLM-online checkpoint: {ADAPTER_CONFIG} is missing{hint}; "
                              f"{ACCEPTS}")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    if cfg.get("peft_type", "LORA") != "LORA":
        raise CheckpointError(f"{path}: peft_type {cfg.get('peft_type')!r} is not LORA")
    if "connector" not in (cfg.get("modules_to_save") or []):
        raise CheckpointError(f"{path}: modules_to_save lacks 'connector' (the vision connector is not saved)")
    return cfg


def _hub_checkpoint(repo_id: str) -> Path:
    source = resolve_hub_id(repo_id, "checkpoint", "--model DIR", filename=ADAPTER_CONFIG,
                            hint=" (the shipped demo model: --model demo; with ros2 launch: model:=demo)")
    if source != repo_id:
        return Path(source)                                  # cached snapshot: no network
    try:
        from huggingface_hub import snapshot_download  # noqa: PLC0415
        return Path(snapshot_download(repo_id, allow_patterns=[ADAPTER_CONFIG, *ADAPTER_WEIGHTS, CONTEXT_FILE]))
    except Exception as e:  # noqa: BLE001 - hub errors are many; one line for the user
        raise CheckpointError(f"checkpoint {repo_id!r} is neither a local folder nor a reachable hub id: "
                              f"{' '.join(str(e).split())[:300]}") from None


def local_checkpoint(name: str) -> Path | None:
    """The adapter folder `name` names when it is on this machine now (a folder, a model root, `demo`, a hub
    snapshot already cached), else None. Never downloads, never raises (locate_checkpoint reports problems)."""
    try:
        p = Path(name).expanduser()
        if p.is_dir() or name == DEMO_NAME:
            return locate_checkpoint(name)[0]
        if looks_like_hub_id(name):
            from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415
            hit = try_to_load_from_cache(name, ADAPTER_CONFIG)
            return Path(hit).parent if isinstance(hit, str) else None
    except (CheckpointError, OSError, ImportError, ValueError):
        return None
    return None


def locate_checkpoint(name: str) -> tuple[Path, Path | None]:
    """(adapter folder, model root or None) for what --model says."""
    p = Path(name).expanduser()
    if name == DEMO_NAME and not ((p / ADAPTER_CONFIG).is_file() or is_model_root(p)):
        p = find_demo_root()                        # a ./demo folder that holds no model does not shadow it
    if p.exists():
        if not p.is_dir():
            raise CheckpointError(f"checkpoint {p} is a file; pass the folder holding {ADAPTER_CONFIG}")
        p = p.resolve()
        if not (p / ADAPTER_CONFIG).is_file() and is_model_root(p):
            return p / "checkpoint", p
        if p.name == "checkpoint" and (p.parent / "vision" / "config.json").is_file():
            return p, p.parent
        return p, None
    if looks_like_hub_id(name):
        try:
            return _hub_checkpoint(name), None
        except HubUnavailable as e:
            raise CheckpointError(str(e)) from None
    raise CheckpointError(f"checkpoint folder not found: {name} ({ACCEPTS})")


# ----------------------------------------------------------------------------- base LLM and vision tower
def resolve_base(ckpt: Path, base: str) -> str:
    """The adapter's base model: a relative path against the adapter folder, its parents, then the cwd."""
    p = Path(base).expanduser()
    if p.is_absolute():
        return str(p)
    for folder in (ckpt, *ckpt.parents):
        if (folder / p / "config.json").is_file():
            return str((folder / p).resolve())
        if looks_like_hub_id(base):                  # an owner/name id: only a folder right beside the adapter
            break
    if (Path.cwd() / p / "config.json").is_file():
        return str((Path.cwd() / p).resolve())
    return base


def _local_or_hub(source: str, what: str, flag: str) -> str:
    p = Path(source).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise CheckpointError(f"{what} folder {p} has no config.json: pass the model folder with {flag}")
        return str(p.resolve())
    if looks_like_hub_id(source):
        try:
            return resolve_hub_id(source, what, flag)
        except HubUnavailable as e:
            raise CheckpointError(str(e)) from None
    raise CheckpointError(f"{what} folder not found: {source} (pass a folder or hub id with {flag})")


def resolve_sources(spec: ModelSpec) -> ModelSources:
    """Check what `spec` names and say exactly what to load (CheckpointError otherwise). Loads nothing heavy."""
    ckpt, root = locate_checkpoint(spec.checkpoint)
    cfg = read_adapter_config(ckpt)
    if spec.llm:
        llm = spec.llm
    elif root is not None and (root / "llm" / "config.json").is_file():
        llm = str(root / "llm")
    else:
        base = cfg.get("base_model_name_or_path")
        if not base:
            raise CheckpointError(f"{ckpt / ADAPTER_CONFIG} names no base model; pass --llm")
        llm = resolve_base(ckpt, str(base))
    llm = _local_or_hub(llm, "base LLM", "--llm DIR")
    if spec.vision:
        vision = spec.vision
    elif root is not None and (root / "vision" / "config.json").is_file():
        vision = str(root / "vision")
    else:
        vision = DEFAULT_VISION
    vision = _local_or_hub(vision, "vision tower", "--vision DIR")
    return ModelSources(checkpoint=ckpt, llm=llm, vision=vision, adapter_config=cfg, root=root)
