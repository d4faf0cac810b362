"""Training of the small demo model shipped in models/demo (`python -m vstream_lab.demo_model.train_demo`), and the
held-out streams shipped beside it (`vstream-lab demo-streams`). The product's `vstream demo` only reads the result.
"""
