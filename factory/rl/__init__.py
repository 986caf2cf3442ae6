"""`factory rl` (GRPO on the factory's verifiers) and `factory tasks` (TinyZero task problems)."""
