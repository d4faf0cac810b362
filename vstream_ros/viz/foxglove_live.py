"""The live Foxglove view: the Foxglove SDK's own WebSocket server (`foxglove.start_server`) on one context.

Foxglove (app or web) connects to ws://HOST:PORT (SDK subprotocol `foxglove.sdk.v1`), gets the channels advertised
and subscribes to the topics its panels show; a message logged while nobody subscribes to its channel goes nowhere,
so `wait_for_client()` (`--foxglove-wait`) holds the run until a client's subscriptions are in force: the SDK calls
the listener's on_subscribe for each channel of a subscribe request, and the channels get their sinks one by one
(seen: a test lost the first messages of later channels when the wait ended at the first), so the wait ends when
every subscribed channel has a sink and no more subscriptions arrived for a moment.

Imports: stdlib, foxglove (the [viz] extra). Never ROS or torch.
"""
from __future__ import annotations

import threading
import time

import foxglove
from foxglove.websocket import ServerListener

SERVER_NAME = "vstream"


class _Subscriptions(ServerListener):
    def __init__(self):
        self.channel_ids: list[int] = []
        self.changed = threading.Event()

    def on_subscribe(self, client, channel) -> None:
        self.channel_ids.append(int(channel.id))
        self.changed.set()


class LiveServer:
    """A started server on `context`; `port` is the port it listens on (useful when asked for port 0)."""

    def __init__(self, context, host: str, port: int):
        self._subs = _Subscriptions()
        try:
            self.server = foxglove.start_server(name=SERVER_NAME, host=host, port=port, context=context,
                                                server_listener=self._subs)
        except Exception as e:  # noqa: BLE001 - the SDK raises its own error types; one line for the user
            raise OSError(f"cannot serve the Foxglove view on {host}:{port}: {' '.join(str(e).split())}") from None
        self.host = host
        self.port = int(self.server.port)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def wait_for_client(self, channels, poll_s: float = 0.01, quiet_s: float = 0.2) -> None:
        """Block until a client subscribed to some of `channels` (foxglove channels), every channel it subscribed to
        is live (has a sink) and no further subscription arrived for `quiet_s` (a client's subscribe request reaches
        the SDK channel by channel; returning at the first one loses messages on the others)."""
        by_id = {ch.id(): ch for ch in channels}
        while True:
            self._subs.changed.clear()                  # cleared before looking: a later subscribe sets it again
            ours = [by_id[i] for i in list(self._subs.channel_ids) if i in by_id]
            if not ours:
                self._subs.changed.wait()
            elif not all(ch.has_sinks() for ch in ours):
                time.sleep(poll_s)
            elif not self._subs.changed.wait(quiet_s):
                return

    def stop(self) -> None:
        self.server.stop()
