"""The trained demo model on synthetic worlds: data, training (vision pre-training + LLM from scratch),
evaluation against model-free baselines, and `vstream demo`."""
