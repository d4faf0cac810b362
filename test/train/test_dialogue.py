"""Label placement of docs/design/stream-format.md §7, token by token, with the real Llama-3 tokenizer."""
import json

import pytest

from vstream_ros.engine.template import load_tokenizer

from vstream_ros.engine.protocol import StreamProtocol, StreamState
from vstream_ros.train.dialogue import (
    IGNORE,
    DialogueError,
    StreamDialogue,
    encode_dialogue,
    read_dialogues,
    validate_conversation,
    write_dialogues,
)

V, COMMA, SPEAK, EOT, USER, COLON, ASSIST, NL, LBR = 128256, 11, 933, 128009, 1502, 25, 72803, 198, 58


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def _frames(n):
    """ids of n frames joined by `,` (no brackets)."""
    out = []
    for i in range(n):
        out += [V] * 10 + ([COMMA] if i < n - 1 else [])
    return out


def test_hand_built_sample_token_by_token(tok):
    conv = validate_conversation([
        {"role": "stream", "num_frames": 1, "learn": False},
        {"role": "user", "content": "Help me."},
        {"role": "assistant", "content": "Sure."},
        {"role": "stream", "num_frames": 3, "learn": True},
        {"role": "user", "content": "What now?"},
        {"role": "assistant", "content": "Cut it."},
        {"role": "stream", "num_frames": 2, "learn": 1},
        {"role": "assistant", "content": "Done.", "learn": False},
    ])
    prefix = list(StreamProtocol.build(tok).frame_prefix_ids(StreamState.START))   # BOS system .\n\n [
    # (token, label) pairs; label = target of the NEXT position (pre-shifted), None = ignored
    seq = [(t, None) for t in prefix]
    seq += [(V, None)] * 10                                             # frame 0, learn=False
    seq += [(SPEAK, None), (USER, None), (COLON, None), (11736, None), (757, None)]  # ]\nUser: Help me
    seq += [(627, ASSIST)]                                              # `.\n` predicts Assistant
    seq += [(ASSIST, COLON), (COLON, 23371), (23371, 13), (13, EOT), (EOT, None)]   # Assistant: Sure.<eot>
    seq += [(NL, None), (LBR, None)]
    for i in range(3):                                                  # 3 learned frames
        seq += [(V, None)] * 9 + [(V, COMMA if i < 2 else SPEAK)]
        seq += [(COMMA, None)] if i < 2 else []
    seq += [(SPEAK, None), (USER, None), (COLON, None), (3639, None), (1457, None)]   # ]\nUser: What now
    seq += [(5380, ASSIST), (ASSIST, COLON), (COLON, 20223), (20223, 433), (433, 13), (13, EOT), (EOT, None)]
    seq += [(NL, None), (LBR, None)]
    seq += [(V, None)] * 9 + [(V, COMMA), (COMMA, None)]                # learn=1: only the first frame
    seq += [(V, None)] * 10
    seq += [(SPEAK, None), (ASSIST, None), (COLON, None), (28457, None), (13, None), (EOT, None)]  # unlearned reply
    enc = encode_dialogue(conv, tok)
    assert enc.input_ids == [t for t, _ in seq]
    assert enc.labels == [IGNORE if lab is None else lab for _, lab in seq]
    assert enc.num_frames == 6


def test_every_learned_label_is_next_token(tok):
    conv = validate_conversation([{"role": "stream", "num_frames": 4},
                                  {"role": "assistant", "content": "You pick up a knife."},
                                  {"role": "stream", "num_frames": 2},
                                  {"role": "user", "content": "And then?"},
                                  {"role": "assistant", "content": "Then cut."}])
    enc = encode_dialogue(conv, tok)
    learned = [i for i, lab in enumerate(enc.labels) if lab != IGNORE]
    assert all(enc.labels[i] == enc.input_ids[i + 1] for i in learned)
    stream_targets = [enc.labels[i] for i in learned if enc.input_ids[i] == V]
    assert stream_targets == [COMMA, COMMA, COMMA, SPEAK, COMMA, SPEAK]
    # no `<v>` other than a frame's last one is labelled
    v_pos = [i for i, t in enumerate(enc.input_ids) if t == V]
    assert [i for i in learned if enc.input_ids[i] == V] == v_pos[9::10]


def test_trailing_stream_last_frame_unlabelled(tok):
    conv = validate_conversation([{"role": "stream", "num_frames": 2},
                                  {"role": "assistant", "content": "Hi."},
                                  {"role": "stream", "num_frames": 2}])
    enc = encode_dialogue(conv, tok)
    v_pos = [i for i, t in enumerate(enc.input_ids) if t == V]
    assert [enc.labels[i] for i in v_pos[9::10]] == [COMMA, SPEAK, COMMA, IGNORE]


@pytest.mark.parametrize("conv, msg", [
    ([], "non-empty"),
    ([{"role": "stream", "num_frames": 0}], "positive int"),
    ([{"role": "robot", "content": "x"}], "role must be"),
    ([{"role": "user", "content": "  "}], "non-empty string"),
    ([{"role": "user", "content": "a <v> b"}], "reserved token"),
    ([{"role": "stream", "num_frames": 1}, {"role": "stream", "num_frames": 2}], "consecutive"),
])
def test_bad_conversations(conv, msg):
    with pytest.raises(DialogueError, match=msg):
        validate_conversation(conv)


def test_jsonl_roundtrip_and_counted_skips(tmp_path):
    good = StreamDialogue(id="a", video_uid="vid", start_frame=3, text_variant="user",
                          conversation=validate_conversation([{"role": "stream", "num_frames": 2},
                                                              {"role": "assistant", "content": "Hi."}]))
    p = tmp_path / "d.jsonl"
    write_dialogues(str(p), [good])
    with open(p, "a") as f:
        f.write("{not json\n")
        f.write(json.dumps({"video_uid": "v2", "conversation": [{"role": "stream", "num_frames": -1}]}) + "\n")
        f.write(json.dumps({"conversation": []}) + "\n")
    got, skipped = read_dialogues(str(p))
    assert got == [good] and got[0].num_frames == 2
    assert sum(skipped.values()) == 3 and skipped["invalid JSON"] == 1
    empty = tmp_path / "e.jsonl"
    empty.write_text("{bad\n")
    with pytest.raises(DialogueError, match="no usable dialogue"):
        read_dialogues(str(empty))
