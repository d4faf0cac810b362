"""Launch the vstream assistant (and optionally the speech node).

    ros2 launch vstream_ros assistant.launch.py image_topic:=/camera/color/image_raw
    ros2 launch vstream_ros assistant.launch.py compressed:=true image_topic:=/camera/image_raw/compressed
    ros2 launch vstream_ros assistant.launch.py use_sim_time:=true      # with `ros2 bag play --clock`
    ros2 launch vstream_ros assistant.launch.py overlay:=true           # + /vstream/overlay (rqt_image_view)
    ros2 launch vstream_ros assistant.launch.py cameras:=front:/cam_front/image_raw,wrist:/cam_wrist/image_raw

Arguments: params_file, image_topic, compressed, namespace (default vstream), use_sim_time, speech, model, overlay,
cameras (NAME:TOPIC,… several cameras on one model: outputs under /vstream/NAME/…; empty = image_topic),
autostart. model, compressed, overlay and autostart pass their node parameter only when given (empty = the params
file's value): the table of vstream_ros/options_table.py.
The assistant is started as a launch_ros LifecycleNode (it configures and activates itself when autostart).
Imports launch / launch_ros only (this file is loaded by `ros2 launch`).
"""
import re

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare


CAMERA_ITEM = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):(/?[A-Za-z~{][A-Za-z0-9_/{}~]*)$")


def parse_cameras(spec: str) -> list:
    """`front:/cam_front/image_raw,wrist:/cam_wrist/image_raw` → [(name, topic), …]; '' → [] (one camera)."""
    out = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        m = CAMERA_ITEM.match(item)
        if not m:
            raise RuntimeError(f"cameras: {item!r} is not NAME:TOPIC (e.g. front:/cam_front/image_raw; NAME is a "
                               f"letter then letters, digits or _)")
        if m.group(1) in [n for n, _ in out]:
            raise RuntimeError(f"cameras: {m.group(1)!r} is given twice; each camera needs its own name")
        out.append((m.group(1), m.group(2)))
    return out


def _assistant(context, params_file, image_topic, compressed, namespace, use_sim_time, model, overlay, cameras,
               autostart):
    """The assistant node, once the arguments are known (the camera list decides its remappings)."""
    cams = parse_cameras(cameras.perform(context))
    overrides = {"use_sim_time": use_sim_time.perform(context).lower() in ("true", "1")}
    # only what is given: an empty argument leaves the params file's value (vstream_ros/options_table.py)
    given = {name: arg.perform(context).strip() for name, arg in (("compressed", compressed), ("overlay", overlay),
                                                                  ("autostart", autostart))}
    for name, value in given.items():
        if value and value.lower() not in ("true", "false"):
            raise RuntimeError(f"{name} must be true, false or empty (the params file's), got {value!r}")
    if given["compressed"]:
        overrides["image.transport"] = "compressed" if given["compressed"].lower() == "true" else "raw"
    if given["overlay"]:
        overrides["overlay.enabled"] = given["overlay"].lower() == "true"
    if given["autostart"]:
        overrides["autostart"] = given["autostart"].lower() == "true"
    if model.perform(context).strip():
        overrides["model.checkpoint"] = model.perform(context).strip()
    # the node subscribes `image` (raw) or `image/compressed` (per camera: `NAME/image`, …); each camera topic is
    # remapped onto both names. With autostart it configures and activates itself; `ros2 lifecycle set` and
    # launch lifecycle events drive it otherwise.
    if cams:
        overrides["cameras"] = [name for name, _ in cams]
        remaps = [(f"{name}/{leaf}", topic) for name, topic in cams for leaf in ("image", "image/compressed")]
    else:
        topic = image_topic.perform(context)
        remaps = [("image", topic), ("image/compressed", topic)]
    return [LifecycleNode(
        package="vstream_ros",
        executable="assistant",
        name="assistant",
        namespace=namespace.perform(context),
        output="screen",
        emulate_tty=True,
        parameters=[params_file.perform(context), overrides],
        remappings=remaps,
    )]


def generate_launch_description():
    params_file = LaunchConfiguration("params_file")
    image_topic = LaunchConfiguration("image_topic")
    compressed = LaunchConfiguration("compressed")
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    speech = LaunchConfiguration("speech")
    model = LaunchConfiguration("model")
    overlay = LaunchConfiguration("overlay")
    cameras = LaunchConfiguration("cameras")
    autostart = LaunchConfiguration("autostart")
    assistant = OpaqueFunction(function=_assistant, args=[params_file, image_topic, compressed, namespace,
                                                          use_sim_time, model, overlay, cameras, autostart])
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
        DeclareLaunchArgument("compressed", default_value="",
                              description="true: subscribe sensor_msgs/CompressedImage instead of Image (sets "
                                          "image.transport); empty = the params file's image.transport (raw)"),
        DeclareLaunchArgument("namespace", default_value="vstream", description="namespace of the nodes and topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="use /clock (bag replay with --clock)"),
        DeclareLaunchArgument("speech", default_value="false", choices=["true", "false"],
                              description="also start the speech node (espeak-ng)"),
        DeclareLaunchArgument("model", default_value="",
                              description="`demo` (the shipped demo model, any working directory), a model root, "
                                          "a VideoLLM-online checkpoint folder or a hub id; empty = the params "
                                          "file's model.checkpoint (chenjoya/videollm-online-8b-v1plus)"),
        DeclareLaunchArgument("cameras", default_value="",
                              description="several cameras on one model: NAME:TOPIC,… (outputs under "
                                          "<namespace>/NAME/…); empty = one camera on image_topic"),
        DeclareLaunchArgument("autostart", default_value="",
                              description="configure and activate at start: true | false | empty (the params "
                                          "file's autostart, default true)"),
        DeclareLaunchArgument("overlay", default_value="",
                              description="true: publish the overlay image topic `overlay` (the model's frame with "
                                          "its utterance and P(silent) drawn on it; overlay.compressed adds JPEG); "
                                          "empty = the params file's overlay.enabled (false)"),
        assistant,
        speech_node,
    ])
