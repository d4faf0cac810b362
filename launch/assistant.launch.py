"""Launch the vstream assistant (and optionally the speech node).

    ros2 launch vstream_ros assistant.launch.py image_topic:=/camera/color/image_raw
    ros2 launch vstream_ros assistant.launch.py compressed:=true image_topic:=/camera/image_raw/compressed
    ros2 launch vstream_ros assistant.launch.py use_sim_time:=true      # with `ros2 bag play --clock`
    ros2 launch vstream_ros assistant.launch.py overlay:=true           # + /vstream/overlay (rqt_image_view)

Arguments: params_file, image_topic, compressed, namespace (default vstream), use_sim_time, speech, model, overlay.
The assistant is started as a launch_ros LifecycleNode (it autostarts unless `autostart: false` in the params).
Imports launch / launch_ros only (this file is loaded by `ros2 launch`).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params_file = LaunchConfiguration("params_file")
    image_topic = LaunchConfiguration("image_topic")
    compressed = LaunchConfiguration("compressed")
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    speech = LaunchConfiguration("speech")
    model = LaunchConfiguration("model")
    overlay = LaunchConfiguration("overlay")

    transport = PythonExpression(["'compressed' if '", compressed, "'.lower() in ('true', '1') else 'raw'"])
    # the node subscribes `image` (raw) or `image/compressed`; the camera topic is remapped onto both names.
    # A lifecycle node: with autostart (default) it configures and activates itself; `ros2 lifecycle set` and
    # launch lifecycle events drive it otherwise.
    assistant = LifecycleNode(
        package="vstream_ros",
        executable="assistant",
        name="assistant",
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[params_file, {"use_sim_time": use_sim_time, "image.transport": transport,
                                  "model.checkpoint": model,
                                  "overlay.enabled": ParameterValue(overlay, value_type=bool)}],
        remappings=[("image", image_topic), ("image/compressed", image_topic)],
    )
    speech_node = Node(
        package="vstream_ros",
        executable="speech",
        name="speech",
        namespace=namespace,
        output="screen",
        condition=IfCondition(speech),
        parameters=[{"use_sim_time": use_sim_time}],
    )
    return LaunchDescription([
        DeclareLaunchArgument("params_file", description="assistant parameters (YAML, /**: ros__parameters:)",
                              default_value=PathJoinSubstitution([FindPackageShare("vstream_ros"), "config",
                                                                  "assistant.yaml"])),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="camera topic (sensor_msgs/Image, or CompressedImage with compressed:=true)"),
        DeclareLaunchArgument("compressed", default_value="false", choices=["true", "false"],
                              description="subscribe sensor_msgs/CompressedImage instead of Image"),
        DeclareLaunchArgument("namespace", default_value="vstream", description="namespace of the nodes and topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="use /clock (bag replay with --clock)"),
        DeclareLaunchArgument("speech", default_value="false", choices=["true", "false"],
                              description="also start the speech node (espeak-ng)"),
        DeclareLaunchArgument("model", default_value="chenjoya/videollm-online-8b-v1plus",
                              description="`demo` (the shipped demo model, any working directory), a model root, "
                                          "a VideoLLM-online checkpoint folder or a hub id"),
        DeclareLaunchArgument("overlay", default_value="false", choices=["true", "false"],
                              description="publish the overlay image topic `overlay` (the model's frame with its "
                                          "utterance and P(silent) drawn on it; overlay.compressed adds JPEG)"),
        assistant,
        speech_node,
    ])
