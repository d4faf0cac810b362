"""Text-to-speech backends returning raw PCM: espeak-ng (default, offline, via `espeak-ng --stdout`) and ChatTTS
(optional, import-guarded; for GPU workstations).

Every backend: `synthesize(text) -> Audio(pcm=S16LE bytes, sample_rate, channels)`. Errors are `TTSError` with a
one-line actionable message (e.g. how to install espeak-ng).

Imports: stdlib, numpy (ChatTTS path only). Must not import rclpy.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass


class TTSError(RuntimeError):
    pass


@dataclass(frozen=True)
class Audio:
    pcm: bytes            # interleaved signed 16-bit little endian
    sample_rate: int
    channels: int = 1

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / (2 * self.channels * self.sample_rate) if self.sample_rate else 0.0


def wav_to_audio(blob: bytes) -> Audio:
    """Parse a RIFF/WAVE blob (espeak-ng writes a streaming header with unknown sizes; we trust the data)."""
    if len(blob) < 44 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise TTSError("TTS output is not a WAV stream")
    try:
        with wave.open(io.BytesIO(blob)) as w:
            if w.getsampwidth() != 2:
                raise TTSError(f"expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
            rate, ch = w.getframerate(), w.getnchannels()
    except (wave.Error, EOFError) as e:
        raise TTSError(f"cannot parse TTS WAV output: {e}") from e
    idx = blob.find(b"data", 12)
    if idx < 0:
        raise TTSError("TTS WAV output has no data chunk")
    pcm = blob[idx + 8:]
    return Audio(pcm[: len(pcm) - len(pcm) % (2 * ch)], rate, ch)


class EspeakBackend:
    """espeak-ng through a subprocess; text goes in on stdin (never parsed as options)."""

    name = "espeak-ng"

    def __init__(self, voice: str = "en-us", rate_wpm: int = 175, executable: str = "espeak-ng", timeout_s: float = 30):
        self.exe = shutil.which(executable)
        if self.exe is None:
            raise TTSError(f"{executable} not found on PATH; install it with `sudo apt-get install espeak-ng`")
        if not (80 <= rate_wpm <= 500):
            raise TTSError(f"speech rate must be in [80, 500] words per minute, got {rate_wpm}")
        self.voice, self.rate, self.timeout = voice, int(rate_wpm), timeout_s

    def synthesize(self, text: str) -> Audio:
        text = text.strip()
        if not text:
            return Audio(b"", 22050, 1)
        try:
            res = subprocess.run([self.exe, "--stdout", "-v", self.voice, "-s", str(self.rate)],
                                 input=text.encode("utf-8"), capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise TTSError(f"espeak-ng took longer than {self.timeout:g} s") from e
        if res.returncode != 0:
            msg = res.stderr.decode("utf-8", "replace").strip().splitlines()
            raise TTSError(f"espeak-ng failed (rc {res.returncode}): {msg[-1] if msg else 'no message'}")
        return wav_to_audio(res.stdout)


class ChatTTSBackend:
    """ChatTTS (pip `ChatTTS`, needs torch; best on a GPU). 24 kHz mono."""

    name = "chattts"

    def __init__(self, compile: bool = False):   # noqa: A002 - mirrors ChatTTS' own keyword
        try:
            import ChatTTS  # noqa: PLC0415
        except ImportError as e:
            raise TTSError("ChatTTS is not installed; `pip install ChatTTS` (GPU recommended) or use backend "
                           "espeak-ng") from e
        self._chat = ChatTTS.Chat()
        if not self._chat.load(compile=compile):
            raise TTSError("ChatTTS failed to load its models")

    def synthesize(self, text: str) -> Audio:
        import numpy as np  # noqa: PLC0415

        wavs = self._chat.infer([text])
        x = np.clip(np.asarray(wavs[0], dtype=np.float32).reshape(-1), -1.0, 1.0)
        return Audio((x * 32767.0).astype("<i2").tobytes(), 24000, 1)


def make_backend(name: str, **kw):
    if name in ("espeak-ng", "espeak"):
        return EspeakBackend(**kw)
    if name == "chattts":
        return ChatTTSBackend()
    raise TTSError(f"unknown TTS backend {name!r}; expected espeak-ng or chattts")
