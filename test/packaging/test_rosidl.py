"""The .msg/.action files go through rosidl's own adapter + IDL parser (Debian python3-rosidl, system Python).

This is the same conversion `rosidl_generate_interfaces` runs first, so naming/type errors fail here; it does not
run the C/Python code generators (not packaged for Debian)."""
import json
import subprocess
from pathlib import Path

import pytest

SYS_PY = "/usr/bin/python3"
SCRIPT = r"""
import json, pathlib, sys, contextlib, io
from rosidl_adapter.msg import convert_msg_to_idl
from rosidl_adapter.action import convert_action_to_idl
from rosidl_parser.parser import parse_idl_file
from rosidl_parser.definition import IdlLocator, Message, Action
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
result = {}
def tname(t):
    if hasattr(t, 'namespaced_name'):
        return '::'.join(t.namespaced_name())
    if hasattr(t, 'value_type'):
        return tname(t.value_type)
    return getattr(t, 'typename', '')
def members(msg):
    return [[m.name, type(m.type).__name__, tname(m.type)] for m in msg.structure.members]
with contextlib.redirect_stdout(io.StringIO()):
    for f in sorted((root / 'msg').glob('*.msg')):
        p = convert_msg_to_idl(root, 'vstream_msgs', f.relative_to(root), out / 'msg')
        idl = parse_idl_file(IdlLocator(out, p.relative_to(out)))
        msg = idl.content.get_elements_of_type(Message)[0]
        result[f.stem] = {'members': members(msg), 'constants': [c.name for c in msg.constants]}
    for f in sorted((root / 'action').glob('*.action')):
        p = convert_action_to_idl(root, 'vstream_msgs', f.relative_to(root), out / 'action')
        idl = parse_idl_file(IdlLocator(out, p.relative_to(out)))
        act = idl.content.get_elements_of_type(Action)[0]
        result[f.stem] = {part: members(getattr(act, part)) for part in ('goal', 'result', 'feedback')}
print(json.dumps(result))
"""


def rosidl_available():
    if not Path(SYS_PY).exists():
        return False
    r = subprocess.run([SYS_PY, "-c", "import rosidl_adapter.msg, rosidl_parser.parser"], capture_output=True)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not rosidl_available(), reason="Debian python3-rosidl not importable by "
                                "/usr/bin/python3 (apt-get install python3-rosidl python3-empy python3-lark)")


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path_factory.mktemp("idl")
    r = subprocess.run([SYS_PY, "-c", SCRIPT, str(root), str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_messages_parse_with_expected_fields_in_wire_order(parsed):
    nar = [m[0] for m in parsed["Narration"]["members"]]
    assert nar == ["header", "kind", "text", "language", "confidence", "window_start", "frames_in_window",
                   "latency_ms", "utterance_id", "seq", "final"]
    assert parsed["Narration"]["constants"] == ["KIND_NARRATION", "KIND_ALERT", "KIND_ANSWER"]
    assert parsed["StepGuidance"]["constants"] == ["STATUS_PENDING", "STATUS_IN_PROGRESS", "STATUS_DONE",
                                                   "STATUS_MISTAKE"]
    audio = {m[0]: m for m in parsed["SpeechAudio"]["members"]}
    assert audio["data"][1] == "UnboundedSequence" and audio["data"][2] == "uint8"
    assert audio["header"][2] == "std_msgs::msg::Header"
    nar_types = {m[0]: m[2] for m in parsed["Narration"]["members"]}
    assert nar_types["window_start"] == "builtin_interfaces::msg::Time" and nar_types["confidence"] == "float"


def test_ask_action_parses(parsed):
    ask = parsed["Ask"]
    assert [m[0] for m in ask["goal"]] == ["question"]
    assert [m[0] for m in ask["result"]] == ["answer", "utterance_id", "evidence"]
    assert {m[0]: m[2] for m in ask["result"]}["evidence"] == "builtin_interfaces::msg::Time"
    assert [m[0] for m in ask["feedback"]] == ["partial_text"]
