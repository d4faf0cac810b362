"""Live replay evaluation: play a recorded bag on /clock, run the assistant on sim time, record its outputs.

    ros2 launch vstream_ros replay_eval.launch.py bag:=session.mcap out:=/tmp/run_live \\
        image_topic:=/camera/image_raw model:=chenjoya/videollm-online-8b-v1plus
    vstream eval --pred /tmp/run_live --ref session.mcap --ref-topic /ref/narration --report /tmp/run_live_report

Starts: the assistant (assistant.launch.py with use_sim_time:=true), `ros2 bag record -o <out>` of
<namespace>/{narration,narration_text,guidance}, and after `play_delay` seconds (model loading)
`ros2 bag play <bag> --clock -r <rate>`. User queries recorded on <namespace>/query reach the node
as they play. When playback ends the launch waits `tail` seconds for the last replies, then shuts down.
Score offline with `vstream eval` (it reads Narration header stamps = deciding frames' capture stamps, so
the recorder's wall-clock receive times do not matter). Unlike `vstream replay`, the live node drops frames
when the model is slower than `rate` × real time: compare both to see what the robot would have missed.

Arguments: bag, out, image_topic, compressed, model, namespace, rate, play_delay, tail, params_file.
Imports launch / launch_ros only (this file is loaded by `ros2 launch`).
"""
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    RegisterEventHandler,
    TimerAction,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    bag = LaunchConfiguration("bag")
    out = LaunchConfiguration("out")
    namespace = LaunchConfiguration("namespace")
    assistant = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("vstream_ros"), "launch",
                                                            "assistant.launch.py"])),
        launch_arguments={"use_sim_time": "true", "image_topic": LaunchConfiguration("image_topic"),
                          "compressed": LaunchConfiguration("compressed"), "model": LaunchConfiguration("model"),
                          "namespace": namespace, "params_file": LaunchConfiguration("params_file")}.items())
    record = ExecuteProcess(
        cmd=["ros2", "bag", "record", "-o", out,
             ["/", namespace, "/narration"], ["/", namespace, "/narration_text"], ["/", namespace, "/guidance"]],
        output="screen")
    play = ExecuteProcess(cmd=["ros2", "bag", "play", bag, "--clock", "-r", LaunchConfiguration("rate")],
                          output="screen")
    stop_after_play = RegisterEventHandler(OnProcessExit(
        target_action=play,
        on_exit=[TimerAction(period=LaunchConfiguration("tail"), actions=[EmitEvent(event=Shutdown(
            reason="bag playback finished"))])]))
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
        DeclareLaunchArgument("play_delay", default_value="20.0",
                              description="seconds to wait before playing (model loading)"),
        DeclareLaunchArgument("tail", default_value="5.0", description="seconds to keep running after playback"),
        DeclareLaunchArgument("params_file", description="assistant parameters (YAML)",
                              default_value=PathJoinSubstitution([FindPackageShare("vstream_ros"), "config",
                                                                  "assistant.yaml"])),
        assistant,
        record,
        TimerAction(period=LaunchConfiguration("play_delay"), actions=[play]),
        stop_after_play,
    ])
