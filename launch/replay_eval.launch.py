"""Live replay evaluation: play a recorded bag on /clock, run the assistant on sim time, record its outputs.

    ros2 launch vstream_ros replay_eval.launch.py bag:=session.mcap out:=/tmp/run_live \\
        image_topic:=/camera/image_raw model:=chenjoya/videollm-online-8b-v1plus
    vstream eval --pred /tmp/run_live --ref session.mcap --ref-topic /ref/narration --report /tmp/run_live_report

First it looks for a node already named <namespace>/assistant (`ros2 node list --no-daemon`): one left running by
an earlier launch would answer the activity check for the new one and narrate into the recording, so the launch
stops with that reason instead (stop the old node, or use another namespace:=). Then it starts: the assistant
(assistant.launch.py with use_sim_time:=true), `ros2 bag record -o <out>` of
<namespace>/{narration,narration_text,guidance}, and a wait for the assistant to be ACTIVE (`ros2 lifecycle get`
every half second, up to `active_timeout` seconds): then, after `play_delay` more seconds (default 0),
`ros2 bag play <bag> --clock -r <rate>`. With autostart:=false the bag plays once you configure and activate the
node yourself (`ros2 lifecycle set /<namespace>/assistant configure`, then `activate`). If its autostart failed
(it answers `unconfigured`: e.g. the model failed to load, see its error above) or it is not active in time, the
launch shuts down with that reason instead of playing.
User queries recorded on <namespace>/query reach the node as they play. When playback ends the launch waits `tail`
seconds for the last replies, then shuts down. Score offline with `vstream eval` (it reads Narration header stamps
= deciding frames' capture stamps, so the recorder's wall-clock receive times do not matter). Unlike `vstream
replay`, the live node drops frames when the model is slower than `rate` × real time: compare both to see what the
robot would have missed.

Arguments: bag, out, image_topic, compressed, model, namespace, rate, autostart, active_timeout, play_delay, tail,
params_file. Imports launch / launch_ros only (this file is loaded by `ros2 launch`).
"""
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    TimerAction,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def node_path(namespace: str) -> str:
    """/<namespace>/assistant, whatever slashes the namespace argument has."""
    ns = "/".join(p for p in namespace.split("/") if p)
    return f"/{ns}/assistant" if ns else "/assistant"


def wait_until_active(node: str, timeout: str, autostart: bool) -> list:
    """A shell loop on `ros2 lifecycle get NODE`: exit 0 once it says active; with autostart, exit 3 if it says
    unconfigured (the node answers only after its autostart, so that is a failed configure); 124 after `timeout` s."""
    unconfigured = "exit 3" if autostart else ":"
    return ["timeout", timeout, "bash", "-c",
            f"while :; do case $(ros2 lifecycle get {node} 2>/dev/null) in active*) exit 0;; "
            f"unconfigured*) {unconfigured};; esac; sleep 0.5; done"]


def name_is_free(node: str) -> list:
    """A shell command: exit 4 if a running node is already named NODE (a fresh graph, not the daemon's cache, so a
    node that has exited does not count), else 0."""
    return ["bash", "-c", f"ros2 node list --no-daemon --spin-time 2 2>/dev/null | grep -qx '{node}' && exit 4; exit 0"]


def _start_if_name_free(context, namespace, started):
    """Run the name check, then the launch's processes (`started`) once it passes, or shut down with the reason."""
    node = node_path(namespace.perform(context))
    check = ExecuteProcess(cmd=name_is_free(node), name="check_node_name", output="log")

    def after_check(event, _context):
        if event.returncode == 0:
            return started
        reason = (f"a node named {node} is already running (an earlier launch that did not stop?): it would answer "
                  f"for the new one and narrate into the recording; stop it, or pass another namespace:=")
        return [LogInfo(msg=reason), EmitEvent(event=Shutdown(reason=reason))]
    return [check, RegisterEventHandler(OnProcessExit(target_action=check, on_exit=after_check))]


def _play_when_active(context, bag, rate, namespace, autostart, active_timeout, play_delay, tail):
    node = node_path(namespace.perform(context))
    timeout = active_timeout.perform(context)
    self_starting = autostart.perform(context).strip().lower() != "false"
    wait = ExecuteProcess(cmd=wait_until_active(node, timeout, self_starting), name="wait_for_active", output="log")
    play = ExecuteProcess(cmd=["ros2", "bag", "play", bag, "--clock", "-r", rate], output="screen")

    def after_wait(event, _context):
        if event.returncode == 0:
            return [LogInfo(msg=f"{node} is active: playing the bag"), TimerAction(period=play_delay, actions=[play])]
        if event.returncode == 3:
            reason = f"{node} stayed unconfigured (its autostart failed: see the error above); the bag is not played"
        else:
            reason = f"{node} did not become active within {timeout} s (see its log above); the bag is not played"
        return [LogInfo(msg=reason), EmitEvent(event=Shutdown(reason=reason))]
    return [
        wait,
        RegisterEventHandler(OnProcessExit(target_action=wait, on_exit=after_wait)),
        RegisterEventHandler(OnProcessExit(target_action=play, on_exit=[TimerAction(period=tail, actions=[
            EmitEvent(event=Shutdown(reason="bag playback finished"))])])),
    ]


def generate_launch_description():
    bag = LaunchConfiguration("bag")
    out = LaunchConfiguration("out")
    namespace = LaunchConfiguration("namespace")
    assistant = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("vstream_ros"), "launch",
                                                            "assistant.launch.py"])),
        launch_arguments={"use_sim_time": "true", "image_topic": LaunchConfiguration("image_topic"),
                          "compressed": LaunchConfiguration("compressed"), "model": LaunchConfiguration("model"),
                          "namespace": namespace, "params_file": LaunchConfiguration("params_file"),
                          "autostart": LaunchConfiguration("autostart")}.items())
    record = ExecuteProcess(
        cmd=["ros2", "bag", "record", "-o", out,
             ["/", namespace, "/narration"], ["/", namespace, "/narration_text"], ["/", namespace, "/guidance"]],
        output="screen")
    play_when_active = OpaqueFunction(function=_play_when_active, args=[
        bag, LaunchConfiguration("rate"), namespace, LaunchConfiguration("autostart"),
        LaunchConfiguration("active_timeout"),
        LaunchConfiguration("play_delay"), LaunchConfiguration("tail")])
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="input bag (rosbag2 folder or file) with the camera stream"),
        DeclareLaunchArgument("out", default_value="vstream_live_run",
                              description="output bag folder for `ros2 bag record` (must not exist)"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw", description="camera topic in the bag"),
        DeclareLaunchArgument("compressed", default_value="",
                              description="true: the camera topic is sensor_msgs/CompressedImage; empty = the "
                                          "params file's image.transport"),
        DeclareLaunchArgument("model", default_value="",
                              description="`demo`, a VideoLLM-online checkpoint folder or hub id; empty = the params "
                                          "file's model.checkpoint"),
        DeclareLaunchArgument("namespace", default_value="vstream", description="namespace of the assistant"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate (1.0 = real time)"),
        DeclareLaunchArgument("autostart", default_value="",
                              description="the assistant configures and activates itself: true | false (you do, "
                                          "with `ros2 lifecycle set`; the bag plays once it is active) | empty "
                                          "(the params file's autostart, default true)"),
        DeclareLaunchArgument("active_timeout", default_value="600",
                              description="seconds to wait for the assistant to be active (model loading) before "
                                          "shutting down without playing"),
        DeclareLaunchArgument("play_delay", default_value="0.0",
                              description="extra seconds to wait after the assistant is active, before playing"),
        DeclareLaunchArgument("tail", default_value="5.0", description="seconds to keep running after playback"),
        DeclareLaunchArgument("params_file", description="assistant parameters (YAML)",
                              default_value=PathJoinSubstitution([FindPackageShare("vstream_ros"), "config",
                                                                  "assistant.yaml"])),
        OpaqueFunction(function=_start_if_name_free, args=[namespace, [assistant, record, play_when_active]]),
    ])
