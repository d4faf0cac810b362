"""`vstream run` with several sources in one process (one model): one events file whose events carry `stream`,
a real HTTP stream served from loopback (127.0.0.1) next to files, typed stdin questions reaching every stream,
and each file stream's events equal to that file run alone."""
import functools
import http.server
import json
import subprocess
import sys
import threading

import pytest

from vstream_ros.testing.media import write_test_video


def run_cli(*args, stdin=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "vstream_ros.cli", *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=timeout, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})


def model_args(p):
    return ["--model", p.checkpoint, "--llm", p.llm, "--vision", p.vision, "--device", "cpu", "--max-new-tokens", "4"]


@pytest.fixture
def http_root(tmp_path):
    """A tiny threaded HTTP server on 127.0.0.1 serving tmp_path/www (a real network source for PyAV)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def events_of(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in rows if r["event"] in ("frame", "query", "response")]


def strip(rows):
    """What must equal between a stream of a multi-source run and its source alone: all but the stream's name (the
    `stream` field, utterance ids NAME-N vs u-N) and float rounding (p_silent, checked apart)."""
    return [{k: (v.rsplit("-", 1)[-1] if k == "utterance_id" else v) for k, v in r.items()
             if k not in ("stream", "p_silent", "cache")} for r in rows]


def test_several_sources_one_model_one_log_with_stream_names(tiny_paths, tmp_path, http_root):
    root, url = http_root
    a = write_test_video(tmp_path / "a.mp4", n=40, fps=10, noise=True, seed=1)
    b = write_test_video(tmp_path / "b.mp4", n=30, fps=10, noise=True, seed=2)
    write_test_video(root / "cam.ts", n=30, fps=10, noise=True, seed=3)          # MPEG-TS: streamable over HTTP
    out = tmp_path / "ev.jsonl"
    r = run_cli("run", a, b, f"{url}/cam.ts", *model_args(tiny_paths), "--ask", "1.0:What do you see?",
                "--ask-stdin", "--events-jsonl", out, "--no-progress", stdin="a: Anything new?\n")
    assert r.returncode == 0, r.stderr
    rows = events_of(out)
    assert {e["stream"] for e in rows} == {"a", "b", "127.0.0.1_cam.ts"}
    frames = {s: [e["index"] for e in rows if e["stream"] == s and e["event"] == "frame"] for s in ("a", "b")}
    assert frames == {"a": list(range(8)), "b": list(range(6))}                 # files never drop (4 s, 3 s at 2 fps)
    live = [e for e in rows if e["stream"] == "127.0.0.1_cam.ts" and e["event"] == "frame"]
    assert live and [e["index"] for e in live] == list(range(len(live)))
    queries = {s: [e["text"] for e in rows if e["stream"] == s and e["event"] == "query"]
               for s in ("a", "b", "127.0.0.1_cam.ts")}
    assert sorted(queries["a"]) == ["Anything new?", "What do you see?"]     # typed "a: …" reached stream a only
    assert queries["b"] == queries["127.0.0.1_cam.ts"] == ["What do you see?"]
    assert "a [" in r.stdout and "b [" in r.stdout
    # stream b equals the same file run alone (decisions, replies, order; p_silent may round differently)
    alone = tmp_path / "alone.jsonl"
    r1 = run_cli("run", b, *model_args(tiny_paths), "--ask", "1.0:What do you see?", "--events-jsonl", alone,
                 "--no-progress")
    assert r1.returncode == 0, r1.stderr
    mine = [e for e in rows if e["stream"] == "b"]
    assert {e["utterance_id"] for e in mine if e["event"] == "response"} <= {f"b-{i}" for i in range(len(mine))}
    assert strip(mine) == strip(events_of(alone))
    assert max(abs(x["p_silent"] - y["p_silent"]) for x, y in zip(mine, events_of(alone))
               if x["event"] == "frame") <= 1e-5


def test_unsupported_scheme_and_missing_file_fail_in_one_line(tiny_paths, tmp_path):
    r = run_cli("run", "ftp://127.0.0.1/x.mp4", *model_args(tiny_paths))
    assert r.returncode != 0 and "unsupported video URL scheme ftp://" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("run", tmp_path / "a.mp4", tmp_path / "missing.mp4", *model_args(tiny_paths))
    assert r.returncode != 0 and "video not found" in r.stderr
