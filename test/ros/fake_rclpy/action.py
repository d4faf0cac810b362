"""rclpy.action (ActionServer, goal handle) and rclpy.executors for the double."""
from __future__ import annotations

import enum

from .messages import round_trip


# ---------------------------------------------------------------------- actions
class GoalResponse(enum.Enum):
    REJECT = 1
    ACCEPT = 2


class CancelResponse(enum.Enum):
    REJECT = 1
    ACCEPT = 2


class ServerGoalHandle:
    def __init__(self, action_type, request):
        self.request, self._type = request, action_type
        self.feedback: list = []
        self.status = "executing"
        self.is_cancel_requested = False

    def publish_feedback(self, feedback):
        if not isinstance(feedback, self._type.Feedback):
            raise TypeError("feedback must be an instance of the action's Feedback type")
        round_trip(feedback)
        self.feedback.append(feedback.partial_text if hasattr(feedback, "partial_text") else feedback)

    def succeed(self):
        self.status = "succeeded"

    def abort(self):
        self.status = "aborted"

    def canceled(self):
        self.status = "canceled"


class ActionServer:
    def __init__(self, node, action_type, action_name, execute_callback, *, callback_group=None,
                 goal_callback=None, handle_accepted_callback=None, cancel_callback=None,
                 goal_service_qos_profile=None, result_service_qos_profile=None, cancel_service_qos_profile=None,
                 feedback_pub_qos_profile=None, status_pub_qos_profile=None, result_timeout=900):
        for part in ("Goal", "Result", "Feedback"):
            if not hasattr(action_type, part):
                raise TypeError("action_type must be an action type")
        self.node, self.action_type = node, action_type
        self.name = node.resolve_topic_name(action_name)
        self.execute_callback = execute_callback
        self.goal_callback = goal_callback or (lambda goal: GoalResponse.ACCEPT)
        self.cancel_callback = cancel_callback or (lambda handle: CancelResponse.REJECT)
        node._actions = getattr(node, "_actions", []) + [self]

    def send_goal(self, goal):   # test helper: synchronous goal → (handle, result)
        if not isinstance(goal, self.action_type.Goal):
            raise TypeError("goal must be an instance of the action's Goal type")
        round_trip(goal)
        if self.goal_callback(goal) != GoalResponse.ACCEPT:
            return None, None
        handle = ServerGoalHandle(self.action_type, goal)
        result = self.execute_callback(handle)
        if not isinstance(result, self.action_type.Result):
            raise TypeError("execute callback must return the action's Result type")
        round_trip(result)
        return handle, result

    def destroy(self):
        self.node._actions = [a for a in getattr(self.node, "_actions", []) if a is not self]


class _Executor:
    def __init__(self, *, context=None):
        self.nodes = []

    def add_node(self, node):
        self.nodes.append(node)
        return True

    def spin(self):
        raise KeyboardInterrupt   # the double has no event loop: behave like Ctrl-C right away

    def shutdown(self, timeout_sec=None):
        return True


class SingleThreadedExecutor(_Executor):
    pass


class MultiThreadedExecutor(_Executor):
    def __init__(self, num_threads=None, *, context=None):
        super().__init__(context=context)
        self.num_threads = num_threads


class ExternalShutdownException(Exception):
    pass
