"""Training: feature extraction, stream-dialogue datasets (Ego4D narration / GoalStep / JSONL), dialogue
synthesis, collator, stream loss and the HF Trainer entry point.

Imports engine/ only; never ROS, never replay/ at import time.
"""
