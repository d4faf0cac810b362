"""`speech_listener` executable: hear (or keep) what the assistant says — SpeechAudio in, one WAV per utterance out.

    ros2 run vstream_ros speech_listener --ros-args -r speech:=/vstream/speech -p out:=speech_wav -p play:=true

Subscribes `speech` (vstream_msgs/SpeechAudio, the speech node's RELIABLE depth-50 QoS), joins each utterance's
chunks (by `seq`, until `final`), writes `OUT/<capture stamp>_<utterance_id>.wav` (atomic; 16-bit PCM) and, with
`play: true`, plays it with `aplay` (ALSA; `player` names another command that takes a WAV path, e.g. `paplay`).
A malformed utterance is logged and skipped; the node keeps listening.

Imports rclpy and ROS message packages (this is an adapter); the WAV part is vstream_ros/speech/wav.py.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rclpy.node import Node
from rcl_interfaces.msg import ParameterDescriptor

from vstream_ros.ros.spin import spin_main
from vstream_ros.ros.qos import SPEECH_QOS
from vstream_ros.speech.wav import UtteranceAudio, write_wav

PARAMS = (("out", "speech_wav", "folder for one WAV per utterance"),
          ("play", False, "play each utterance as it completes"),
          ("player", "aplay", "command that plays a WAV file (its path is the last argument)"))


class SpeechListener(Node):
    def __init__(self, node_name: str = "speech_listener", **kwargs):
        super().__init__(node_name, **kwargs)
        for name, default, desc in PARAMS:
            self.declare_parameter(name, default, ParameterDescriptor(name=name, description=desc))
        from vstream_msgs.msg import SpeechAudio  # noqa: PLC0415 - needs the built package
        self.out = Path(self.get_parameter("out").value)
        self.play = bool(self.get_parameter("play").value)
        self.player = str(self.get_parameter("player").value)
        if self.play and shutil.which(self.player) is None:
            self.get_logger().warning(f"play: {self.player} not found (apt install alsa-utils, or set player); "
                                      "writing WAV files only")
            self.play = False
        self.pending: dict[str, UtteranceAudio] = {}
        self.written: list[Path] = []
        self.create_subscription(SpeechAudio, "speech", self._on_audio, SPEECH_QOS)

    def _on_audio(self, msg) -> None:
        uid = msg.utterance_id or "utterance"
        u = self.pending.setdefault(uid, UtteranceAudio(uid))
        try:
            u.add(msg.seq, bytes(msg.data), msg.final, msg.sample_rate, msg.channels, msg.sample_format)
        except ValueError as e:
            self.get_logger().warning(f"{e}: utterance skipped")
            self.pending.pop(uid, None)
            return
        if not u.complete:
            return
        del self.pending[uid]
        st = msg.header.stamp
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in uid)
        path = write_wav(self.out / f"{st.sec}.{st.nanosec:09d}_{safe}.wav", u.pcm(), u.sample_rate, u.channels)
        self.written.append(path)
        self.get_logger().info(f"{path} ({len(u.pcm()) / 2 / max(1, u.sample_rate * u.channels):.1f} s)")
        if self.play:
            subprocess.Popen([self.player, "-q", str(path)] if self.player == "aplay" else [self.player, str(path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(args=None) -> int:
    return spin_main(SpeechListener, "speech_listener", (ImportError,),
                     " (build vstream_msgs and source its install/setup.bash)", args=args)


if __name__ == "__main__":
    raise SystemExit(main())
