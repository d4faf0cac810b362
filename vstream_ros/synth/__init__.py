"""Synthetic egocentric streams with exact ground truth (a tabletop seen from above, a hand that picks
and places coloured objects): world script, renderer, Ego4D/GoalStep writers, needle variants and
model-free baseline narrators. `vstream synth` is in cli_synth.py.

Imports nothing heavy at package import; no ROS, no torch.
"""
