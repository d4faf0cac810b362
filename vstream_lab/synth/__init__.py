"""Synthetic egocentric streams with exact ground truth (a tabletop seen from above, a hand that picks
and places coloured objects): world script, renderer, Ego4D/GoalStep writers, needle variants and
ground-truth labels. `vstream-lab synth` is in cli_synth.py; the model-free baseline narrators are the
product's (vstream_ros/demo/baselines.py).

Imports nothing heavy at package import; no ROS, no torch.
"""
