"""SpeechNode against the rclpy double: Narration chunks in → SpeechAudio out (real espeak-ng when installed)."""
import shutil

import pytest

from vstream_ros.speech.tts import Audio


class StubTTS:
    """Deterministic stand-in used where the audio content is not the point (espeak is tested separately)."""

    def __init__(self):
        self.said = []

    def synthesize(self, text):
        self.said.append(text)
        return Audio(b"\x01\x00" * 100 * len(text), 16000, 1)


def narration(ros, uid, seq, text, final, sec):
    N = ros.msg("vstream_msgs/msg/Narration")
    m = N(utterance_id=uid, seq=seq, text=text, final=final)
    m.header.stamp.sec = sec
    return m


def make(ros, backend=None):
    from vstream_ros.ros.speech_node import SpeechNode
    node = SpeechNode(backend=backend, start_worker=False, namespace="vstream")
    node.get_clock().ns = 1000 * 10**9
    return node


def test_chunks_become_sentences_with_seq_final_and_stamp(ros):
    tts = StubTTS()
    node = make(ros, tts)
    sub = node.subscription("/vstream/narration")
    for seq, (text, final) in enumerate([("Take the", False), (" cup. Now pour", False), (" slowly.", False),
                                         ("", True)]):
        sub.deliver(narration(ros, "u1", seq, text, final, 999))
    while node.step():
        pass
    out = node.publisher("/vstream/speech").decoded
    assert tts.said == ["Take the cup.", "Now pour slowly."]
    assert [(m.seq, m.final) for m in out] == [(0, False), (1, True)]
    assert all(m.utterance_id == "u1" and m.header.stamp.sec == 999 and m.sample_format == "S16LE" for m in out)
    assert out[0].sample_rate == 16000 and len(out[0].data) == 2 * 100 * len("Take the cup.")


def test_stale_and_superseded_utterances_are_dropped(ros):
    tts = StubTTS()
    node = make(ros, tts)
    sub = node.subscription("/vstream/narration")
    sub.deliver(narration(ros, "old", 0, "Ancient news.", True, 900))       # 100 s old
    sub.deliver(narration(ros, "a", 0, "First. Second. ", False, 999))
    sub.deliver(narration(ros, "b", 0, "Latest.", True, 999))
    while node.step():
        pass
    assert tts.said == ["Latest."]
    assert node.queue.dropped == {"too_old": 1, "superseded": 2}


def test_guidance_instruction_is_spoken_and_qos_transient_local(ros):
    from rclpy.qos import DurabilityPolicy
    tts = StubTTS()
    node = make(ros, tts)
    sub = node.subscription("/vstream/guidance")
    assert sub.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    G = ros.msg("vstream_msgs/msg/StepGuidance")
    g = G(instruction="Boil the water", utterance_id="u9")
    g.header.stamp.sec = 999
    sub.deliver(g)
    node.step()
    assert tts.said == ["Boil the water"] and node.publisher("/vstream/speech").decoded[0].final


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_real_espeak_audio_through_the_node(ros):
    node = make(ros)                                  # default backend: espeak-ng
    node.subscription("/vstream/narration").deliver(narration(ros, "u", 0, "Turn off the stove now.", True, 999))
    node.step()
    m = node.publisher("/vstream/speech").decoded[0]
    seconds = len(m.data) / (2 * m.sample_rate * m.channels)
    assert m.final and m.sample_rate == 22050 and 0.8 < seconds < 6.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_main_spins_and_shuts_down_cleanly(ros):
    """main(): init → node → spin (the double's spin acts like Ctrl-C at once) → destroy → try_shutdown → 0."""
    import rclpy
    from vstream_ros.ros.speech_node import main
    rclpy.try_shutdown()
    assert main([]) == 0
    assert not rclpy.ok() and ros.context.nodes == []
