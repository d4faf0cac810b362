"""The streaming engine: pure PyTorch, importable without ROS.

Modules: config and options (settings), template and protocol (the stream grammar), events, frames and
video_sources (decoding, the model clock), vision (encode_frames), live_model and checkpoint (loading),
llm_backend (the backend contract), reference (the transformers oracle), runtime/ (the fast decoder) and memory/
(bounded caches), factory (backends per stream), stream (one stream's state), decision (THE decision routine),
session (one stream, synchronous), scheduler (many streams, one model), pipeline (+ pipeline_llm, pipeline_queue:
one stream's overlapped loop), runner (raw frames → session), sources and hub (where model files come from),
quantize, teacher_forced (teacher-forced metrics), agreement (how far two runs agree), accounting (weight and KV bytes), yuv
(bit-exact pixel formats).
Import what you need from the modules; this package imports nothing heavy at import time.
"""
