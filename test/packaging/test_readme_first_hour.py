"""The README's first section works when pasted line by line: every `vstream` call comes after the venv is
activated (or names .venv/bin/vstream); the stated demo times are measured and agree with docs/demo.md."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_DOC = (ROOT / "docs" / "demo.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start: nxt if nxt > 0 else len(text)]


def _bash_lines(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.split("#")[0].strip() for b in blocks for line in b.splitlines() if line.split("#")[0].strip()]


def test_first_sections_call_vstream_only_once_it_is_on_path():
    first = _section(README, "## Set-up and tests") + _section(README, "## Try it on a laptop")
    lines = _bash_lines(first)
    assert lines[:3] == ["python3 -m venv .venv", ".venv/bin/pip install torch==2.13.0",
                         ".venv/bin/pip install -e '.[test]'"]
    activated = False
    for line in lines:
        assert not line.endswith("\\"), f"a line continues onto the next: {line}"
        activated |= line in ("source .venv/bin/activate", ". .venv/bin/activate")
        if re.match(r"(vstream|python|pytest)\b", line):
            assert activated, f"{line!r} needs the venv activated first (or .venv/bin/…)"


def test_demo_times_are_measured_and_agree():
    heading = re.search(r"## Try it on a laptop: `vstream demo` \(no GPU, about (\d+) s\)", README)
    doc = re.search(r"vstream demo +# .*about (\d+) s on 2 cores", DEMO_DOC)
    assert heading and doc and heading.group(1) == doc.group(1)
    measured = re.compile(r"Measured on 2 CPU cores: (\d+)–(\d+) s")
    lo, hi = map(int, measured.search(_section(README, "## Try it on a laptop")).groups())
    assert lo <= int(heading.group(1)) <= hi
    assert measured.search(DEMO_DOC).groups() == (str(lo), str(hi))
