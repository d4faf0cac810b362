"""The seeded script of a synthetic world: which objects, where, and what the hand does when.

`make_script(cfg)` draws the scene and a sequence of multi-step tasks (stack X on Y, put a ball in a
cup, move X left/right/away/closer), each done as two hand events, "pick" then "place", with exact
start/end times and an Ego4D-style narration (`#C C picks up the red block`). Between tasks the hand
rests and the camera/lighting keep changing (distractors that must not be narrated).

The script is pure data (keyframes and segments); `world.py` evaluates it at any time and
`render.py` draws it. Same config → same script, bit for bit: all randomness comes from
`numpy.random.default_rng([seed, stream])`, one stream per concern, so the needle (another stream)
never changes the rest of the world.

Imports: numpy, synth.catalog. Nothing else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vstream_lab.synth import catalog as C

RNG_SCENE, RNG_CAMERA, RNG_LIGHT, RNG_NEEDLE, RNG_NOISE = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class SynthConfig:
    """What world to make. Validated here, once."""

    seed: int = 0
    duration: float = 60.0            # seconds
    fps: float = 10.0                 # capture fps of the rendered stream
    width: int = 320
    height: int = 240
    n_objects: int | None = None      # 4..8; None = drawn from the seed (4..6)
    needle_at: float | None = None    # start time of the needle; None = no needle
    needle_duration: float = 4.0
    split: str = "train"
    idle: tuple[float, float] = (2.0, 8.0)   # pause between tasks (s): nothing to narrate
    hover: float = 0.3                # chance that the hand wanders during a pause (motion, no event)
    rest: tuple[tuple[int, float], ...] = ()   # (object index in the scene, from time s): never picked from then
    #                                           on — long-untouched objects for memory questions; () = none

    def __post_init__(self):
        if not (5.0 <= self.duration <= 4 * 3600):
            raise ValueError(f"duration must be in [5 s, 4 h], got {self.duration}")
        if not (0.5 <= self.fps <= 60):
            raise ValueError(f"fps must be in [0.5, 60], got {self.fps}")
        if self.width < 64 or self.height < 48 or self.width % 2 or self.height % 2:
            raise ValueError(f"size must be even and at least 64x48, got {self.width}x{self.height}")
        if self.n_objects is not None and not (4 <= self.n_objects <= len(C.COLOURS)):
            raise ValueError(f"n_objects must be in [4, {len(C.COLOURS)}], got {self.n_objects}")
        if self.needle_at is not None:
            if not (0.0 <= self.needle_at and self.needle_at + self.needle_duration <= self.duration):
                raise ValueError(f"needle window [{self.needle_at}, {self.needle_at + self.needle_duration}] "
                                 f"must lie inside the stream [0, {self.duration}]")
        if not (0.0 <= self.idle[0] <= self.idle[1] <= 120.0):
            raise ValueError(f"idle must be (min, max) seconds with 0 <= min <= max <= 120, got {self.idle}")
        if not (0.0 <= self.hover <= 1.0):
            raise ValueError(f"hover must be a probability, got {self.hover}")
        for item in self.rest:
            if len(item) != 2 or int(item[0]) < 0 or float(item[1]) < 0:
                raise ValueError(f"rest items must be (object index >= 0, from time >= 0), got {item!r}")
        if not (0.5 <= self.needle_duration <= 60):
            raise ValueError(f"needle_duration must be in [0.5, 60] s, got {self.needle_duration}")

    @property
    def num_frames(self) -> int:
        return int(math.floor(self.duration * self.fps + 1e-9))


@dataclass(frozen=True)
class GTEvent:
    """One hand event with its interval and its narration point `time` (start <= time <= end)."""

    index: int
    kind: str            # "pick" | "place"
    obj: str
    start: float
    end: float
    time: float
    text: str            # Ego4D style: "#C C picks up the red block"
    task: int
    target: str | None = None      # the supporting object of a place, if any
    relation: str | None = None    # "on" | "in" | a direction of C.DIRECTIONS | None


@dataclass(frozen=True)
class GTTask:
    """A task = one GoalStep step made of its pick and place events (substeps)."""

    index: int
    kind: str            # "stack" | "put_in" | "move"
    description: str     # "Stack the red block on the blue block"
    obj: str
    target: str | None
    start: float
    end: float
    events: tuple[int, ...]


@dataclass(frozen=True)
class Distractor:
    """A visual change that is not narrated: lighting change, look-around camera pan, hand hovering."""

    kind: str            # "light" | "look" | "hover"
    start: float
    end: float
    params: tuple[float, ...] = ()


@dataclass(frozen=True)
class Segment:
    """Where an object is from time t0 on: at rest at (x, y, level) or held by the hand."""

    t0: float
    held: bool
    x: float = 0.0
    y: float = 0.0
    level: int = 0


@dataclass
class Script:
    cfg: SynthConfig
    objects: tuple[C.ObjectSpec, ...]
    events: list[GTEvent] = field(default_factory=list)
    tasks: list[GTTask] = field(default_factory=list)
    distractors: list[Distractor] = field(default_factory=list)
    hand_keys: np.ndarray = None          # [K, 4] rows (t, x, y, z); z=1 raised, 0 touching the table
    tracks: dict = field(default_factory=dict)   # object name → list[Segment] sorted by t0

    def object(self, name: str) -> C.ObjectSpec:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)


def _dist(a, b) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _inside(p) -> bool:
    return C.MARGIN <= p[0] <= C.TABLE_W - C.MARGIN and C.MARGIN <= p[1] <= C.TABLE_H - C.MARGIN


class _State:
    """Mutable table state while the script is being drawn."""

    def __init__(self, objects, pos):
        self.objects = {o.name: o for o in objects}
        self.pos = dict(pos)                       # name → (x, y)
        self.below = {o.name: None for o in objects}
        self.level = {o.name: 0 for o in objects}

    def clear(self, name) -> bool:
        return all(b != name for b in self.below.values())

    def free_spot(self, p, ignore) -> bool:
        return _inside(p) and all(_dist(p, q) >= C.MIN_GAP for n, q in self.pos.items()
                                  if n != ignore and self.level[n] == 0)

    def candidates(self, rng, resting=frozenset()):
        """Feasible tasks as (kind, obj, target_or_None, dest (x, y), relation); objects in `resting` stay put."""
        out = {"stack": [], "put_in": [], "move": []}
        names = sorted(self.objects)
        for a in names:
            if not self.clear(a) or a in resting:
                continue
            for b in names:
                if b == a or not self.clear(b) or self.below[a] == b:
                    continue
                sup = self.objects[b].support
                if sup == "on" and self.level[b] < 2 and self.objects[a].shape != "cup":
                    off = rng.uniform(-0.012, 0.012, 2)
                    out["stack"].append(("stack", a, b, (self.pos[b][0] + off[0], self.pos[b][1] + off[1]), "on"))
                elif sup == "in" and self.objects[a].shape == "ball":
                    out["put_in"].append(("put_in", a, b, self.pos[b], "in"))
            for d, ((dx, dy), _) in C.DIRECTIONS.items():
                step = rng.uniform(0.28, 0.45)
                dest = (self.pos[a][0] + dx * step, self.pos[a][1] + dy * step)
                if self.free_spot(dest, a):
                    out["move"].append(("move", a, None, dest, d))
        return out

    def apply(self, obj, target, dest):
        self.pos[obj] = (float(dest[0]), float(dest[1]))
        self.below[obj] = target
        self.level[obj] = 0 if target is None else self.level[target] + 1


def _texts(st: _State, kind, a, b, rel):
    src = st.below[a]
    if src is None:
        pick = f"#C C picks up the {a}"
    elif st.objects[src].support == "in":
        pick = f"#C C takes the {a} out of the {src}"
    else:
        pick = f"#C C picks up the {a} from the {src}"
    if kind == "stack":
        return pick, f"#C C places the {a} on the {b}", f"Stack the {a} on the {b}"
    if kind == "put_in":
        return pick, f"#C C puts the {a} in the {b}", f"Put the {a} in the {b}"
    phrase = C.DIRECTIONS[rel][1]
    return pick, f"#C C moves the {a} {phrase}", f"Move the {a} {phrase}"


def _scene(rng, cfg: SynthConfig):
    n = cfg.n_objects or int(rng.integers(4, 7))
    colours = [str(c) for c in rng.choice(list(C.COLOURS), n, replace=False)]
    shapes = ["block", "block"] + [str(s) for s in rng.choice(["block", "cup", "ball", "card"], n - 2,
                                                             p=[0.3, 0.25, 0.25, 0.2])]
    if "ball" in shapes and "cup" not in shapes and n > 3:
        shapes[-1] = "cup"
    order = rng.permutation(n)
    objects = tuple(C.make_object(colours[i], shapes[int(order[i])]) for i in range(n))
    pos = {}
    for o in objects:
        for _ in range(500):
            p = (float(rng.uniform(C.MARGIN, C.TABLE_W - C.MARGIN)), float(rng.uniform(C.MARGIN, C.TABLE_H - C.MARGIN)))
            if all(_dist(p, q) >= C.MIN_GAP * 1.15 for q in pos.values()):
                break
        pos[o.name] = p
    return objects, pos


def make_script(cfg: SynthConfig) -> Script:
    """Draw the whole script for `cfg` (deterministic)."""
    rng = np.random.default_rng([cfg.seed, RNG_SCENE])
    objects, pos = _scene(rng, cfg)
    st = _State(objects, pos)
    sc = Script(cfg=cfg, objects=objects)
    tracks = {o.name: [Segment(0.0, False, *pos[o.name], 0)] for o in objects}
    keys = [(0.0, C.HOME[0], C.HOME[1], 1.0)]
    speed = float(rng.uniform(0.9, 1.3))
    t = float(rng.uniform(1.0, 2.5))
    hand = C.HOME
    end_limit = cfg.duration - 0.6
    while True:
        resting = frozenset(objects[int(i)].name for i, t0 in cfg.rest if int(i) < len(objects) and t >= float(t0))
        cands = st.candidates(rng, resting)
        kinds = [k for k in ("stack", "put_in", "move") if cands[k]]
        if not kinds:
            break
        w = np.array([{"stack": 0.35, "put_in": 0.2, "move": 0.45}[k] for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=w / w.sum()))]
        _, a, b, dest, rel = cands[kind][int(rng.integers(len(cands[kind])))]
        pa = st.pos[a]
        t_grasp = t + 0.45 + _dist(hand, pa) / speed
        t_lift = t_grasp + 0.35
        t_rel = t_lift + 0.45 + _dist(pa, dest) / speed
        t_done = t_rel + 0.25
        if t_done > end_limit:
            break
        pick_text, place_text, desc = _texts(st, kind, a, b, rel)
        lvl = 0 if b is None else st.level[b] + 1
        keys += [(t, hand[0], hand[1], keys[-1][3]),
                 (t_grasp - 0.25, pa[0], pa[1], 0.6), (t_grasp, pa[0], pa[1], 0.3), (t_lift, pa[0], pa[1], 0.85),
                 (t_rel - 0.3, dest[0], dest[1], 0.85), (t_rel, dest[0], dest[1], 0.35 + 0.15 * lvl),
                 (t_done, dest[0], dest[1], 0.8)]
        tracks[a] += [Segment(t_grasp, True), Segment(t_rel, False, float(dest[0]), float(dest[1]), lvl)]
        i0, ti = len(sc.events), len(sc.tasks)
        sc.events.append(GTEvent(i0, "pick", a, round(t, 3), round(t_lift, 3), round(t_grasp, 3), pick_text, ti,
                                 st.below[a], None))
        sc.events.append(GTEvent(i0 + 1, "place", a, round(t_lift, 3), round(t_done, 3), round(t_rel, 3),
                                 place_text, ti, b, rel))
        sc.tasks.append(GTTask(ti, kind, desc, a, b, round(t, 3), round(t_done, 3), (i0, i0 + 1)))
        st.apply(a, b, dest)
        hand = (float(dest[0]), float(dest[1]))
        t = t_done
        if rng.random() < 0.6:        # retract towards the resting place
            home = (C.HOME[0] + float(rng.uniform(-0.1, 0.1)), C.HOME[1])
            t += 0.5 + _dist(hand, home) / speed
            keys.append((t, home[0], home[1], 1.0))
            hand = home
        idle = float(rng.uniform(*cfg.idle))   # pause: nothing to narrate
        if idle >= 3.0 and rng.random() < cfg.hover:
            t = _hover(rng, keys, sc.distractors, t, hand, speed, idle)
        else:
            t += idle
    keys.append((max(t, cfg.duration) + 1.0, hand[0], hand[1], keys[-1][3]))
    sc.hand_keys = np.asarray(keys, dtype=np.float64)
    sc.tracks = tracks
    sc.distractors = sorted(sc.distractors + _distractors(cfg), key=lambda d: (d.start, d.kind))
    return sc


def _hover(rng, keys, distractors, t, hand, speed, idle) -> float:
    """The hand wanders over the table and comes back without touching anything (a hard negative)."""
    p = (float(rng.uniform(0.3, C.TABLE_W - 0.3)), float(rng.uniform(0.3, C.TABLE_H - 0.3)))
    s = t + float(rng.uniform(0.3, idle - 2.5))
    go = 0.4 + _dist(hand, p) / speed
    keys += [(s, hand[0], hand[1], keys[-1][3]), (s + go, p[0], p[1], 0.9),
             (s + go + 0.4, p[0], p[1], 0.9), (s + 2 * go + 0.4, hand[0], hand[1], 1.0)]
    distractors.append(Distractor("hover", round(s, 3), round(s + 2 * go + 0.4, 3), p))
    return max(t + idle, s + 2 * go + 0.6)


def _distractors(cfg: SynthConfig) -> list[Distractor]:
    """Lighting changes and look-around pans, from their own random streams."""
    out = []
    rng = np.random.default_rng([cfg.seed, RNG_LIGHT])
    for _ in range(int(rng.poisson(cfg.duration / 25.0)) + 1):
        d = float(rng.uniform(2.0, 6.0))
        s = float(rng.uniform(0.0, max(0.1, cfg.duration - d)))
        gain = float(rng.uniform(0.55, 0.8)) if rng.random() < 0.6 else float(rng.uniform(1.15, 1.3))
        tint = tuple(float(x) for x in rng.uniform(0.9, 1.1, 3))
        out.append(Distractor("light", round(s, 3), round(s + d, 3), (gain, *tint)))
    rng = np.random.default_rng([cfg.seed, RNG_CAMERA, 1])
    for _ in range(int(rng.poisson(cfg.duration / 30.0))):
        d = float(rng.uniform(1.5, 3.0))
        s = float(rng.uniform(0.0, max(0.1, cfg.duration - d)))
        ang = float(rng.uniform(0, 2 * math.pi))
        mag = float(rng.uniform(0.15, 0.25))
        out.append(Distractor("look", round(s, 3), round(s + d, 3), (mag * math.cos(ang), mag * math.sin(ang))))
    out.sort(key=lambda d: (d.start, d.kind))
    return out
