"""The `factory` command line (typer + rich). `cli/app.py` assembles the commands; each command
lives in its own module and stays thin: parse options, call the core, print. Importing this
package must stay cheap: no torch/transformers/trl/vllm/ray/huggingface_hub at import time.

Exercise: `factory --help`.
"""
