"""Speech: sentence chunking of streamed text, stale-utterance dropping, TTS backends (espeak-ng, optional ChatTTS).

Imports: stdlib (+ numpy in backends). Must not import rclpy."""
