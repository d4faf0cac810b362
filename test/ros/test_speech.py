"""Speech pieces without ROS: sentence chunking, stale dropping, and real espeak-ng audio."""
import shutil

import pytest

from vstream_ros.speech.chunker import SentenceChunker, StalePolicy
from vstream_ros.speech.queue import SpeechQueue
from vstream_ros.speech.tts import EspeakBackend, TTSError, make_backend, wav_to_audio


def test_sentences_emerge_as_chunks_arrive():
    c = SentenceChunker()
    assert c.feed("u", "Pick up the", False) == []
    assert c.feed("u", " knife. Now cut", False) == ["Pick up the knife."]
    assert c.feed("u", " the onion! Then", False) == ["Now cut the onion!"]
    assert c.feed("u", " stop", True) == ["Then stop"]
    assert c.feed("u", "", True) == []


def test_run_on_text_is_cut_at_max_chars_on_a_space():
    c = SentenceChunker(max_chars=30)
    out = c.feed("u", "word " * 20, False)
    assert out and all(len(s) <= 30 for s in out)


def test_queue_drops_stale_and_superseded_and_always_closes_utterances():
    q = SpeechQueue(policy=StalePolicy(max_age_s=5.0))
    q.add("a", "First one. Second", False, captured_at=100.0)
    q.add("b", "New thing.", True, captured_at=101.0)         # b supersedes a
    it = q.pop(now=101.5)
    assert it.utterance_id == "b" and it.final and it.text == "New thing."
    assert q.dropped["superseded"] == 1
    q.add("c", "Old news.", True, captured_at=90.0)
    assert q.pop(now=101.5) is None and q.dropped["too_old"] == 1
    q.add("d", "Done. ", False, captured_at=101.0)       # sentence complete (followed by whitespace)
    q.add("d", "", True, captured_at=101.0)              # nothing left: an empty final marker closes it
    items = [q.pop(101.2), q.pop(101.2)]
    assert [(i.text, i.final) for i in items] == [("Done.", False), ("", True)]
    q.add("e", "Wait.", False, captured_at=101.0)        # no whitespace yet: "Wait." may still continue ("Wait.5")
    assert q.pop(101.2) is None
    q.add("e", "", True, captured_at=101.0)
    assert (q.pop(101.2).text, q.pop(101.2)) == ("Wait.", None)


def test_wav_parser_rejects_garbage():
    with pytest.raises(TTSError):
        wav_to_audio(b"not a wav at all" * 4)
    with pytest.raises(TTSError):
        make_backend("festival")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_espeak_produces_real_audio_of_plausible_duration():
    tts = EspeakBackend(rate_wpm=175)
    short = tts.synthesize("Stop.")
    long = tts.synthesize("Pour the hot water slowly into the cup, then wait three minutes before you drink it.")
    assert long.sample_rate == 22050 and long.channels == 1 and len(long.pcm) % 2 == 0
    # ~16 words at 175 wpm ≈ 5.5 s; allow wide bounds but require real speech, longer than the one-word clip
    assert 2.0 < long.duration_s < 12.0 and short.duration_s < long.duration_s
    import numpy as np
    x = np.frombuffer(long.pcm, "<i2").astype(float)
    assert np.sqrt((x ** 2).mean()) > 300                 # not silence
    assert tts.synthesize("  ").pcm == b""
