"""Fixed catalogues of the synthetic world: object kinds, colours, needle objects and phrases.

Everything here is constant data (no randomness): a scene draws from these lists with its own seeded
generator. Colours are RGB uint8 and were picked to stay distinct from each other, from the wooden
table and from the skin/sleeve of the hand, also after the lighting gain of the renderer.

Imports: stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass

# Scene object colours (RGB). One colour per object in a scene, so a colour names an object.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 36, 36),
    "blue": (36, 78, 214),
    "green": (34, 160, 64),
    "yellow": (240, 212, 30),
    "purple": (128, 52, 178),
    "white": (244, 244, 244),
    "black": (28, 28, 32),
    "cyan": (30, 200, 215),
}

# Shapes of scene objects. `support` = what can be put on/in it ("on" a block, "in" a cup).
SHAPES: dict[str, dict] = {
    "block": {"support": "on", "radius": 0.072},
    "cup": {"support": "in", "radius": 0.075},
    "ball": {"support": None, "radius": 0.058},
    "card": {"support": None, "radius": 0.075},
}

# Needle objects: each has a shape and a colour used by no scene object and by no other needle.
NEEDLE_COLOURS: dict[str, tuple[int, int, int]] = {
    "pink": (255, 105, 200),
    "orange": (255, 128, 0),
    "gold": (200, 160, 20),
    "lime": (150, 240, 40),
    "brown": (110, 60, 20),
    "navy": (10, 20, 110),
}
NEEDLES: tuple[tuple[str, str], ...] = (
    ("star", "pink"), ("heart", "orange"), ("cross", "gold"),
    ("diamond", "lime"), ("moon", "brown"), ("hexagon", "navy"),
)

# Hand appearance.
SKIN = (226, 184, 152)
SKIN_DARK = (196, 150, 118)
SLEEVE = (70, 86, 96)

# Directions of "move" tasks in table coordinates (x right, y towards the camera wearer).
DIRECTIONS: dict[str, tuple[tuple[float, float], str]] = {
    "left": ((-1.0, 0.0), "to the left"),
    "right": ((1.0, 0.0), "to the right"),
    "away": ((0.0, -1.0), "further away"),
    "closer": ((0.0, 1.0), "closer"),
}

# Table geometry (world units; y grows towards the wearer, i.e. downwards in the image).
TABLE_W, TABLE_H = 1.6, 1.2
MARGIN = 0.16                         # keep object centres this far inside the table edge
MIN_GAP = 0.21                        # minimum distance between centres of objects on the table
HOME = (1.05, 1.32)                   # resting hand position (just off the near edge, right hand)

GOAL_CATEGORY = "TABLETOP:ARRANGE_OBJECTS"
STEP_CATEGORY = {"stack": "Arrange objects: Stack", "put_in": "Arrange objects: Put in",
                 "move": "Arrange objects: Move"}
SUBSTEP_CATEGORY = {"pick": "Arrange objects: Pick up", "place": "Arrange objects: Put down"}


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a scene: `name` ("red block") is how narrations refer to it."""

    name: str
    colour: str
    shape: str
    rgb: tuple[int, int, int]
    radius: float

    @property
    def support(self) -> str | None:
        return SHAPES[self.shape]["support"]


def make_object(colour: str, shape: str) -> ObjectSpec:
    if colour not in COLOURS or shape not in SHAPES:
        raise ValueError(f"unknown object {colour} {shape}")
    return ObjectSpec(f"{colour} {shape}", colour, shape, COLOURS[colour], SHAPES[shape]["radius"])


def needle_name(shape: str, colour: str) -> str:
    return f"{colour} {shape}"
