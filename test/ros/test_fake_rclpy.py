"""The rclpy double enforces the rules it claims (so tests built on it can fail). Label: test double, not ROS."""
import pytest


def test_qos_is_a_required_positional_and_extras_keyword_only(ros):
    from rclpy.node import Node
    from std_msgs.msg import String
    n = Node("t")
    with pytest.raises(TypeError):
        n.create_publisher(String, "x")                               # qos_profile missing
    with pytest.raises(TypeError):
        n.create_subscription(String, "x", lambda m: None, 10, None)  # callback_group is keyword-only
    assert n.create_publisher(String, "x", 7).qos_profile.depth == 7


def test_qos_profile_history_depth_rule(ros):
    from rclpy.qos import HistoryPolicy, InvalidQoSProfileException, QoSProfile, ReliabilityPolicy
    with pytest.raises(InvalidQoSProfileException):
        QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT)
    assert QoSProfile(depth=3).history == HistoryPolicy.KEEP_LAST


def test_static_parameter_typing_and_already_declared(ros):
    from rclpy.exceptions import InvalidParameterTypeException, ParameterAlreadyDeclaredException
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    n = Node("t", parameter_overrides=[Parameter("fps", value=2.5)])
    with pytest.raises(InvalidParameterTypeException):
        n.declare_parameter("fps", 2)                                 # int default, YAML float → rejected
    n2 = Node("u")
    n2.declare_parameter("fps", 2.0)
    with pytest.raises(ParameterAlreadyDeclaredException):
        n2.declare_parameter("fps", 3.0)
    with pytest.raises(ParameterAlreadyDeclaredException):
        n2.declare_parameter("use_sim_time", True)                    # rclpy declares it itself
    assert not n2.set_parameters([Parameter("fps", value=3)])[0].successful
    assert Parameter.Type.from_parameter_value([]) == Parameter.Type.BYTE_ARRAY   # the empty-list trap


@pytest.mark.parametrize("bad", ["", "a//b", "a/", "1abc", "a b", "a/~b"])
def test_topic_name_validation(ros, bad):
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.node import Node
    from std_msgs.msg import String
    with pytest.raises(InvalidTopicNameException):
        Node("t").create_publisher(String, bad, 10)


def test_publish_serializes_and_rejects_wrong_fields(ros):
    from rclpy.node import Node
    from vstream_msgs.msg import Narration
    n = Node("t", namespace="vstream")
    pub = n.create_publisher(Narration, "narration", 10)
    assert pub.topic_name == "/vstream/narration"
    m = Narration()
    with pytest.raises(AttributeError):
        m.txt = "typo"
    with pytest.raises(AssertionError):
        m.seq = 1.5
    m.text, m.seq, m.confidence = "hi", 2, 0.5
    pub.publish(m)
    assert pub.decoded[0].text == "hi" and pub.decoded[0].seq == 2
    with pytest.raises(TypeError):
        pub.publish("hi")


def test_node_kwargs_differ_by_distro(ros):
    from rclpy.node import Node
    if ros.distro == "jazzy":
        Node("t", enable_logger_service=True)
    else:
        with pytest.raises(TypeError):
            Node("t", enable_logger_service=True)


def test_typed_parameter_without_value_is_uninitialized(ros):
    from rclpy.exceptions import ParameterUninitializedException
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    n = Node("t")
    n.declare_parameter("steps", Parameter.Type.STRING_ARRAY)
    with pytest.raises(ParameterUninitializedException):
        n.get_parameter("steps")
    with pytest.raises(ValueError):
        n.declare_parameter("x", Parameter.Type.NOT_SET)
    m = Node("u", parameter_overrides=[Parameter("steps", value=["a", "b"])])
    m.declare_parameter("steps", Parameter.Type.STRING_ARRAY)
    assert m.get_parameter("steps").value == ["a", "b"]


def test_lifecycle_rejects_invalid_transitions(ros):
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
    n = LifecycleNode("t")
    with pytest.raises(RuntimeError):
        n.trigger_activate()                                   # must configure first
    assert n.trigger_configure() == TransitionCallbackReturn.SUCCESS


def test_lifecycle_publishers_and_raising_callbacks_follow_rclpy(ros):
    """As rclpy: a lifecycle publisher drops messages until the base on_activate ran; an exception in a transition
    callback is an ERROR return (then on_error decides: SUCCESS → unconfigured)."""
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    class Node(LifecycleNode):
        def on_configure(self, state):
            self.pub = self.create_lifecycle_publisher(ros.msg("std_msgs/msg/String"), "out", 10)
            return TransitionCallbackReturn.SUCCESS

    n = Node("t")
    n.trigger_configure()
    n.pub.publish(ros.msg("std_msgs/msg/String")(data="early"))
    n.trigger_activate()
    n.pub.publish(ros.msg("std_msgs/msg/String")(data="on"))
    assert [m.data for m in n.pub.decoded] == ["on"] and n.pub.dropped_inactive == 1

    class Broken(LifecycleNode):
        def on_configure(self, state):
            raise ValueError("boom")

    b = Broken("b")
    assert b.trigger_configure() == TransitionCallbackReturn.ERROR and b.lifecycle_state == "unconfigured"
