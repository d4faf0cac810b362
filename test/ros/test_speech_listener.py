"""speech_listener against the rclpy double: SpeechAudio chunks (any order) → one WAV per utterance, exactly the
PCM sent; a malformed utterance is skipped and the node keeps listening."""
import wave

import numpy as np


def audio(ros, uid, seq, pcm, final, sec=42, rate=16000, fmt="S16LE"):
    A = ros.msg("vstream_msgs/msg/SpeechAudio")
    m = A(utterance_id=uid, seq=seq, final=final, sample_rate=rate, channels=1, sample_format=fmt, data=pcm)
    m.header.stamp.sec = sec
    return m


def test_chunks_become_one_wav_per_utterance(ros, tmp_path):
    from rclpy.parameter import Parameter
    from vstream_ros.ros.speech_listener import SpeechListener
    node = SpeechListener(namespace="vstream", parameter_overrides=[Parameter("out", value=str(tmp_path / "wav"))])
    sub = node.subscription("/vstream/speech")
    a = np.arange(800, dtype="<i2").tobytes()
    b = (-np.arange(400, dtype="<i2")).tobytes()
    sub.deliver(audio(ros, "u-1", 1, b, False))               # out of order: seq 1 before seq 0
    sub.deliver(audio(ros, "u-1", 0, a, False))
    assert node.written == []
    sub.deliver(audio(ros, "u-1", 2, b"", True))
    sub.deliver(audio(ros, "bad", 0, a, True, fmt="F32LE"))   # skipped with a warning
    sub.deliver(audio(ros, "u-2", 0, a, True, sec=43))
    assert [p.name for p in node.written] == ["42.000000000_u-1.wav", "43.000000000_u-2.wav"]
    with wave.open(str(node.written[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.readframes(w.getnframes()) == a + b
    assert not list((tmp_path / "wav").glob(".*"))             # written atomically: no temp files left
    assert any(level == "warning" and "F32LE" in text for level, text in node.get_logger().records)
