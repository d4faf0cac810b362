"""vstream_lab: the research and test-data side of this repository, apart from the product (`vstream_ros`).

What lives here: the synthetic world generator (`synth/`, the `vstream-lab synth` command), the demo model's
training (`demo_model/`: vision pre-training, LLM training, export, and the shipped held-out streams), and the
experiments and benchmark harnesses. The product package never imports this one (a test checks it); this one
builds on the product freely. It is installed by `pip install -e .` in a checkout and is NOT installed by
`colcon build` (a robot needs none of it: see setup.py).

Imports nothing heavy at package import; never ROS.
"""
