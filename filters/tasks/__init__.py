"""Tasks with exact, sandbox-free verifiers (TinyZero's Countdown and multiplication): seeded
problem generators and checkers. A task problem row carries its spec in `meta`
(`{"task": "countdown", "numbers": [...], "target": 24}`); `check(completion, spec)` judges a
completion against it. A new task is one module plus one line in TASKS (see `registry.py`).
"""
