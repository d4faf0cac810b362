"""Template token ids match docs/design/stream-format.md byte for byte with the real Llama-3 tokenizer."""
import json

import pytest

from vstream_ros.engine.template import EOT_ID, SPEAK_ID, V_TOKEN_ID, load_tokenizer

from vstream_ros.engine.protocol import StreamState, frame_prefix_text, query_prompt_text

FIRST_FRAME_IDS = [128000, 32, 80149, 58697, 15592, 18328, 374, 10695, 3932, 449, 1063, 7640, 13, 21883, 374, 872,
                   10652, 11, 96068, 4234, 449, 279, 1160, 315, 2835, 14418, 4036, 555, 279, 18328, 382, 58]


def test_first_frame_prefix_is_32_ids_ending_with_merged_newlines(protocol):
    assert list(protocol.first_frame_ids) == FIRST_FRAME_IDS


def test_piecewise_tokenisation_would_differ(protocol):
    piecewise = protocol.encode(frame_prefix_text(StreamState.START)[:-2]) + protocol.encode("\n[")
    assert list(piecewise[-3:]) == [627, 198, 58]
    assert list(piecewise) != FIRST_FRAME_IDS


def test_silent_reply_and_after_reply_pieces(protocol):
    assert protocol.silent_ids == (11,)
    assert protocol.reply_prompt_ids == (933, 72803, 25)
    assert protocol.after_reply_ids == (128009, 198, 58)
    assert protocol.frame_prefix_ids(StreamState.AFTER_REPLY) == (128009, 198, 58)


def test_query_prompt_in_run_uses_demo_form(protocol):
    ids = protocol.query_ids(StreamState.IN_RUN, "What is on the table?")
    assert ids[:3] == (SPEAK_ID, 1502, 25)
    assert ids[-2:] == (72803, 25)
    assert protocol.decode(ids) == "]\nUser: What is on the table?\nAssistant:"


def test_query_prompt_after_reply_keeps_pending_eos(protocol):
    ids = protocol.query_ids(StreamState.AFTER_REPLY, "Where am I?")
    assert ids[:4] == (EOT_ID, 198, 1502, 25)
    assert ids[-2:] == (72803, 25)


def test_query_prompt_ending_with_period_merges_newline(protocol):
    ids = protocol.query_ids(StreamState.IN_RUN, "Describe it.")
    assert 627 in ids and ids[-2:] == (72803, 25)      # `.\n` is one token before `Assistant`


def test_query_before_any_frame_renders_system_turn(protocol):
    ids = protocol.query_ids(StreamState.START, "Hi")
    text = query_prompt_text(StreamState.START, "Hi")
    assert ids[0] == 128000 and text.endswith("\n\nUser: Hi\nAssistant:")


def test_v_placeholder_id(tokenizer):
    assert tokenizer.convert_tokens_to_ids("<v>") == V_TOKEN_ID
    assert len(tokenizer) == V_TOKEN_ID + 1
    assert tokenizer("<v><v>,", add_special_tokens=False)["input_ids"] == [V_TOKEN_ID, V_TOKEN_ID, 11]


def test_non_llama3_tokenizer_is_rejected(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    tok = Tokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    with pytest.raises(ValueError, match="not the Llama-3 vocabulary"):
        load_tokenizer(str(path))
    json.loads(path.read_text())
