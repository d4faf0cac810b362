"""A scripted LLMBackend for session logic tests: it records every fed id and returns logits that make
the session take chosen decisions and decode chosen tokens. Not a model; a controllable oracle."""
from __future__ import annotations

import torch

from vstream_ros.engine.llm_backend import BackendBase
from vstream_ros.engine.template import EOT_ID, SILENT_ID, SPEAK_ID, TEXT_VOCAB_SIZE, V_TOKEN_ID


def peaked(token: int, height: float = 30.0) -> torch.Tensor:
    logits = torch.zeros(TEXT_VOCAB_SIZE)
    logits[token] = height
    return logits


class ScriptedBackend(BackendBase):
    vocab_size = TEXT_VOCAB_SIZE

    def __init__(self, decisions=(), replies=(), frame_token=None, eos=EOT_ID):
        self.decisions = list(decisions)     # per frame: True = respond, False = silent
        self.replies = [list(r) for r in replies]
        self.frame_token = frame_token       # override the argmax at frames (e.g. an unexpected token)
        self.eos = eos
        self.fed: list[list[int]] = []
        self._reply: list[int] = []
        self.resets = 0

    @property
    def length(self) -> int:
        return sum(len(x) for x in self.fed)

    def reset(self) -> None:
        self.fed = []
        self.resets += 1

    def prefill(self, ids, vision_tokens, logits_at):
        ids = list(ids)
        self.fed.append(ids)
        if ids[-1] == V_TOKEN_ID:
            assert vision_tokens is not None and vision_tokens.shape[:2] == (1, 10)
            respond = self.decisions.pop(0) if self.decisions else False
            token = self.frame_token if (respond and self.frame_token is not None) else (SPEAK_ID if respond else SILENT_ID)
            return peaked(token).unsqueeze(0)
        self._reply = self.replies.pop(0) if self.replies else []
        return self._next().unsqueeze(0)

    def decode(self, token_id):
        self.fed.append([token_id])
        return self._next()

    def _next(self):
        if self._reply:
            return peaked(self._reply.pop(0))
        return peaked(self.eos) if self.eos is not None else peaked(1000)

    def truncate(self, length):
        raise NotImplementedError
