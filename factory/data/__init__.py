"""Real public data shipped inside the package (see SOURCES.md): benchmarks, traces, samples,
chat templates and accelerate configs. `DATA_DIR` is the one way code finds them."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
