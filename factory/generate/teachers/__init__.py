"""Teacher backends (one protocol: a batch of prompts + sampling parameters in, n completions
per prompt out) and teacher utilities such as the tiny random model for offline tests."""
