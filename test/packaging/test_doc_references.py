"""Every design or doc page the code cites is a file in this repository: docstring/comment `.md` paths resolve, the
docs' Markdown links resolve, and nothing points outside the repo at the design notes it was built from."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_NAMES = {"report.md", "demo_results.md", "recall.md"}   # files our commands write (eval report, bench tables)
OLD_NAMES = ("live-format.md", "memory-design.md", "ego4d-formats.md", "shared/spec")


def tracked(*suffixes):
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in out if f.endswith(suffixes)]


def test_md_paths_cited_by_the_code_exist():
    pat = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
    missing = []
    for f in tracked(".py", ".sh", ".yaml"):
        if f.name == Path(__file__).name:
            continue                  # names the old notes on purpose
        for m in pat.finditer(f.read_text()):
            ref = m.group(1)
            if ref in OUTPUT_NAMES or ref.split("/")[-1] in OUTPUT_NAMES:
                continue
            candidates = [ROOT / ref, f.parent / ref] + ([] if "/" in ref else list(ROOT.glob(f"**/{ref}")))
            if not any(c.is_file() and ".venv" not in c.parts for c in candidates):
                missing.append(f"{f.relative_to(ROOT)}: {ref}")
    assert not missing, "references to pages that are not in the repo:\n" + "\n".join(missing)


def test_markdown_links_resolve():
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    missing = []
    for f in tracked(".md"):
        text = re.sub(r"`[^`\n]*`", "", f.read_text())        # code spans are not links
        for m in link.finditer(text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            if not (f.parent / target).exists():
                missing.append(f"{f.relative_to(ROOT)}: {target}")
    assert not missing, "\n".join(missing)


def test_nothing_points_at_notes_outside_the_repo():
    hits = [f"{f.relative_to(ROOT)}: {name}" for f in tracked(".py", ".md", ".sh", ".yaml", ".cfg")
            if f.name != Path(__file__).name for name in OLD_NAMES if name in f.read_text()]
    assert not hits, "\n".join(hits)


def test_design_pages_have_the_sections_the_code_cites():
    cite = re.compile(r"docs/design/([\w-]+\.md) §\s?(\d+(?:\.\d+)?)")
    missing = []
    for f in tracked(".py", ".md"):
        for m in cite.finditer(f.read_text()):
            page, sec = ROOT / "docs/design" / m.group(1), m.group(2)
            if not page.is_file() or not re.search(rf"^#+ .*§{re.escape(sec)}\b", page.read_text(), re.M):
                missing.append(f"{f.relative_to(ROOT)}: {m.group(0)}")
    assert not missing, "\n".join(missing)
