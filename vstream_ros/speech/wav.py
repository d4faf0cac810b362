"""SpeechAudio chunks → one WAV per utterance: what the `speech_listener` executable writes and plays.

`UtteranceAudio` collects one utterance's chunks (any order: by `seq`) and, once the `final` chunk and every chunk
before it are in, gives the PCM; `write_wav` writes it atomically (16-bit little-endian, the node's `S16LE`).

Imports: stdlib (wave), vstream_ros.atomic. Never ROS.
"""
from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

from vstream_ros.atomic import atomic_path

FORMAT = "S16LE"


@dataclass
class UtteranceAudio:
    utterance_id: str
    sample_rate: int = 0
    channels: int = 0
    chunks: dict = field(default_factory=dict)      # seq → bytes
    final_seq: int | None = None

    def add(self, seq: int, data: bytes, final: bool, sample_rate: int, channels: int, sample_format: str) -> None:
        if sample_format != FORMAT:
            raise ValueError(f"utterance {self.utterance_id}: sample format {sample_format!r}, expected {FORMAT}")
        if self.sample_rate and (sample_rate, channels) != (self.sample_rate, self.channels) and data:
            raise ValueError(f"utterance {self.utterance_id}: the format changed mid-utterance")
        if data:
            self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.chunks[int(seq)] = bytes(data)
        if final:
            self.final_seq = int(seq)

    @property
    def complete(self) -> bool:
        return self.final_seq is not None and all(s in self.chunks for s in range(self.final_seq + 1))

    def pcm(self) -> bytes:
        return b"".join(self.chunks[s] for s in sorted(self.chunks))


def write_wav(path: str | Path, pcm: bytes, sample_rate: int, channels: int) -> Path:
    """Write 16-bit PCM as a WAV file atomically; returns the path."""
    path = Path(path)
    with atomic_path(path, suffix=".wav") as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(max(1, int(channels)))
            w.setsampwidth(2)
            w.setframerate(max(1, int(sample_rate)))
            w.writeframes(pcm)
    return path
