"""`speech` executable: narration/guidance text in → SpeechAudio (S16LE PCM) chunks out (thin adapter).

Subscribes `narration` (vstream_msgs/Narration) and `guidance` (StepGuidance, transient-local); splits text into
sentences as chunks arrive and synthesizes them on a worker thread (vstream_ros/speech/), publishing `speech`
(vstream_msgs/SpeechAudio, RELIABLE depth 50). Stale utterances (older than `max_age_s` of capture time, or
superseded by a newer one) are dropped instead of queued. Needs vstream_msgs; exits with a clear error without it.

Imports rclpy and ROS message packages (this is an adapter).
"""
from __future__ import annotations

import threading

from rclpy.node import Node
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult

from vstream_ros.interfaces.narration import speech_audio
from vstream_ros.interfaces.stamps import stamp_to_sec
from vstream_ros.ros.conversions import fill
from vstream_ros.ros.spin import spin_main
from vstream_ros.ros.qos import GUIDANCE_QOS, SPEECH_QOS
from vstream_ros.speech.chunker import SentenceChunker, StalePolicy
from vstream_ros.speech.queue import SpeechQueue
from vstream_ros.speech.tts import TTSError, make_backend

PARAMS = (("backend", "espeak-ng", "espeak-ng (offline) or chattts (optional, GPU)"),
          ("voice", "en-us", "espeak-ng voice"),
          ("rate_wpm", 175, "espeak-ng words per minute"),
          ("max_age_s", 6.0, "drop text captured longer ago than this"),
          ("speak_guidance", True, "also speak StepGuidance instructions"))


class SpeechNode(Node):
    def __init__(self, node_name: str = "speech", backend=None, start_worker: bool = True, **kwargs):
        super().__init__(node_name, **kwargs)
        for name, default, desc in PARAMS:
            self.declare_parameter(name, default, ParameterDescriptor(name=name, description=desc))
        self.add_on_set_parameters_callback(self._on_set)
        from vstream_msgs.msg import Narration, SpeechAudio, StepGuidance  # noqa: PLC0415 - needs the built pkg
        self._SpeechAudio = SpeechAudio
        g = self.get_parameter
        self.tts = backend or make_backend(g("backend").value, **(
            {"voice": g("voice").value, "rate_wpm": g("rate_wpm").value} if g("backend").value != "chattts" else {}))
        self.queue = SpeechQueue(SentenceChunker(), StalePolicy(max_age_s=g("max_age_s").value))
        self._seq: dict[str, int] = {}
        self.pub = self.create_publisher(SpeechAudio, "speech", SPEECH_QOS)
        self.create_subscription(Narration, "narration", self._on_narration, 50)
        self.create_subscription(StepGuidance, "guidance", self._on_guidance, GUIDANCE_QOS)
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="vstream-tts", daemon=True)
        if start_worker:
            self._thread.start()

    def _on_set(self, params) -> SetParametersResult:
        for p in params:
            if p.name == "max_age_s" and not (isinstance(p.value, float) and p.value > 0):
                return SetParametersResult(successful=False, reason="max_age_s must be a positive float")
            if p.name == "max_age_s":
                self.queue.policy.max_age_s = p.value
        return SetParametersResult(successful=True, reason="")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_narration(self, msg) -> None:
        st = msg.header.stamp
        self._enqueue(msg.utterance_id, msg.text, msg.final, (st.sec, st.nanosec))

    def _on_guidance(self, msg) -> None:
        if self.get_parameter("speak_guidance").value and msg.instruction:
            st = msg.header.stamp
            uid = msg.utterance_id or f"guidance-{msg.step_index}"
            self._enqueue(f"{uid}/guidance", msg.instruction, True, (st.sec, st.nanosec))

    def _enqueue(self, uid: str, text: str, final: bool, stamp) -> None:
        if self.queue.add(uid, text, final, stamp_to_sec(*stamp), stamp):
            with self._cv:
                self._cv.notify()

    def step(self) -> bool:
        """Synthesize and publish one queued sentence; False when nothing is queued (tests call this directly)."""
        item = self.queue.pop(self._now())
        if item is None:
            return False
        try:
            audio = self.tts.synthesize(item.text) if item.text else None
        except TTSError as e:
            self.get_logger().error(f"speech synthesis failed: {e}", throttle_duration_sec=10.0)
            audio = None
        seq = self._seq.get(item.utterance_id, 0)
        self._seq[item.utterance_id] = seq + 1
        if item.final:
            self._seq.pop(item.utterance_id, None)
        while len(self._seq) > 64:
            self._seq.pop(next(iter(self._seq)))
        fields = speech_audio(item.utterance_id, seq, item.final, item.stamp, audio.pcm if audio else b"",
                              audio.sample_rate if audio else 0, audio.channels if audio else 1)
        self.pub.publish(fill(self._SpeechAudio(), fields))
        return True

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not len(self.queue):
                    self._cv.wait(0.5)
                if self._stop:
                    return
            self.step()

    def destroy_node(self):
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(5.0)
        return super().destroy_node()


def main(args=None) -> int:
    return spin_main(SpeechNode, "speech", (ImportError, TTSError), args=args)


if __name__ == "__main__":
    raise SystemExit(main())
