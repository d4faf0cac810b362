"""The request endpoints of one camera: the `query` topic, the `reset` service and the `ask` action.

They exist for the node's whole life (made at construction, remade at configure only when the `cameras` names
changed), so a request made while the node is unconfigured or inactive gets a prompt answer instead of waiting for
a server that does not exist yet: `ask` goals finish ABORTED with the reason in `answer`, `reset` answers
success=false with the reason, `query` messages are logged as ignored. While active they go to the camera's host
runtime (ros/camera.py's CameraPort). Names as in ros/camera.py (`NAME/ask` with several cameras).

Imports rclpy and ROS message packages (an adapter); never the stream host or the model.
"""
from __future__ import annotations

import time

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vstream_ros.interfaces.stamps import sec_to_stamp
from vstream_ros.ros.qos import ASK_FEEDBACK_QOS

ASK_TIMEOUT_S = 300.0


class Endpoints:
    """`node` is the AssistantNode: `node.active`, `node.cameras` (CameraPort objects, by `name`) and
    `node.state_label()` are read at each request."""

    def __init__(self, node, name: str, actions, group):
        self.node, self.name = node, name
        self.prefix = f"{name}/" if name else ""
        # a group of their own: destroyed (configure with other camera names) while a request is queued, they must
        # not wedge the node's default group, which serves the lifecycle services (see assistant_node.py)
        own = MutuallyExclusiveCallbackGroup()
        self.query = node.create_subscription(String, self.prefix + "query", self._on_query, 10, callback_group=own)
        self.reset = node.create_service(Trigger, self.prefix + "reset", self._on_reset, callback_group=own)
        self.action = None
        if actions is not None:
            from rclpy.action import ActionServer  # noqa: PLC0415
            self.ask_type = actions.Ask
            self.action = ActionServer(node, actions.Ask, self.prefix + "ask", execute_callback=self._execute_ask,
                                       goal_callback=self._on_ask_goal, cancel_callback=self._on_ask_cancel,
                                       callback_group=group, feedback_pub_qos_profile=ASK_FEEDBACK_QOS)

    def destroy(self) -> None:
        self.node.destroy_subscription(self.query)
        self.node.destroy_service(self.reset)
        if self.action is not None:
            self.action.destroy()
            self.action = None

    def _host(self):
        """The camera's stream host while the node is configured, else None."""
        port = next((c for c in self.node.cameras if c.name == self.name), None)
        return None if port is None else port.host

    def _not_active(self) -> str:
        return (f"not active (the assistant is {self.node.state_label()}): "
                f"ros2 lifecycle set {self.node.get_namespace().rstrip('/')}/{self.node.get_name()} "
                + ("activate" if self.node.state_label() == "inactive" else "configure, then activate"))

    # ---------------------------------------------------------------- query topic, reset service
    def _on_query(self, msg) -> None:
        if not msg.data.strip():
            return
        host = self._host()
        if host is None or not self.node.active:
            self.node.get_logger().warning(f"{self.prefix}query ignored: {self._not_active()}",
                                           throttle_duration_sec=5.0)
            return
        host.ask(msg.data)

    def _on_reset(self, request, response):
        host = self._host()
        if host is None:
            response.success, response.message = False, self._not_active().replace("not active", "not configured", 1)
            return response
        host.reset()
        response.success, response.message = True, "stream reset queued"
        return response

    # ---------------------------------------------------------------- ask action
    def _on_ask_goal(self, goal):
        from rclpy.action import GoalResponse  # noqa: PLC0415
        if not goal.question.strip():
            self.node.get_logger().warning(f"{self.prefix}ask goal rejected: empty question")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT          # not active: accepted and aborted at once, with the reason (below)

    def _on_ask_cancel(self, goal_handle):
        from rclpy.action import CancelResponse  # noqa: PLC0415
        return CancelResponse.ACCEPT

    def _execute_ask(self, goal_handle):
        result = self.ask_type.Result()
        host = self._host()
        if host is None or not self.node.active:
            result.answer = self._not_active()
            self.node.get_logger().warning(f"{self.prefix}ask aborted: {result.answer}")
            goal_handle.abort()
            return result
        feedback = self.ask_type.Feedback()

        def on_chunk(text):
            feedback.partial_text = text
            goal_handle.publish_feedback(feedback)
        ticket = host.ask(goal_handle.request.question, on_chunk=on_chunk)
        deadline = time.monotonic() + ASK_TIMEOUT_S
        while not ticket.done.wait(0.05):
            if goal_handle.is_cancel_requested:
                ticket.cancel()
            if time.monotonic() > deadline or not self.node.active:
                ticket.cancel()
                break
        result.answer, result.utterance_id = ticket.answer, ticket.utterance_id
        if ticket.evidence:                  # recall on: the camera stamps the answer drew on
            from builtin_interfaces.msg import Time  # noqa: PLC0415
            stamps = [sec_to_stamp(t) for t in ticket.evidence]
            result.evidence = [Time(sec=sec, nanosec=ns) for sec, ns in stamps]
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif ticket.done.is_set() and not ticket.error:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result
