"""Training presets from published distillation runs. Each is a starting point; every value can
be overridden on the command line (`factory train --preset s1 --set learning_rate=2e-5`).

| preset | source | lr | epochs | global batch | context |
|---|---|---|---|---|---|
| sky-t1 | Sky-T1-32B-Preview (NovaSky, 2025) | 1e-5 | 3 | 96 | 16K |
| openr1-distill | open-r1 OpenR1-Distill-7B recipe | 4e-5 | 5 | 128 | 32K |
| s1 | s1: Simple test-time scaling (Muennighoff et al., 2025) | 1e-5 | 5 | 16 | 32K |
| limo | LIMO: Less is More for Reasoning (Ye et al., 2025) | 5e-6 | 15 | 64 | 16K |
| tiny | CPU smoke runs on the tiny random model | 1e-3 | 1 | 4 | 512 |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from factory.schemas.errors import FactoryError


@dataclass(frozen=True)
class TrainPreset:
    learning_rate: float
    num_train_epochs: float
    global_batch_size: int
    max_length: int
    per_device_batch_size: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    lr_scheduler_type: str = "cosine"
    packing: bool = True
    gradient_checkpointing: bool = True
    max_steps: int = -1
    save_steps: int = 500
    logging_steps: int = 10
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 42

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, TrainPreset] = {
    "sky-t1": TrainPreset(learning_rate=1e-5, num_train_epochs=3, global_batch_size=96, max_length=16384, warmup_ratio=0.0),
    "openr1-distill": TrainPreset(learning_rate=4e-5, num_train_epochs=5, global_batch_size=128, max_length=32768, warmup_ratio=0.03),
    "s1": TrainPreset(learning_rate=1e-5, num_train_epochs=5, global_batch_size=16, max_length=32768, warmup_ratio=0.05, weight_decay=1e-4),
    "limo": TrainPreset(learning_rate=5e-6, num_train_epochs=15, global_batch_size=64, max_length=16384, warmup_ratio=0.0),
    "tiny": TrainPreset(learning_rate=1e-3, num_train_epochs=1, global_batch_size=4, per_device_batch_size=2, max_length=512,
                        gradient_checkpointing=False, save_steps=50, logging_steps=1),
}


def _coerce(name: str, value: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise ValueError(value)
        return type(current)(float(value)) if isinstance(current, int) and not isinstance(current, bool) else type(current)(value)
    except ValueError:
        raise FactoryError(f"--set {name}={value}: expected a {type(current).__name__}, found {value!r}") from None

