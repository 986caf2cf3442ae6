"""Data contracts of factory: Problem, Trace and SFT example rows, their Arrow schemas,
validators, stable ids and the error family every stage raises.

Exercise it with `factory schema show trace` (prints the Arrow schema and field docs) or
`factory schema json problem` (JSON Schema export).
"""

from factory.schemas.contracts import (
    CONTRACTS,
    SCHEMA_VERSION,
    Contract,
    contract_for,
)
from factory.schemas.errors import (
    DatasetError,
    FactoryError,
    InputError,
    MissingDependencyError,
    NotBuiltYetError,
    RecipeError,
    SchemaError,
)
from factory.schemas.ids import problem_id, sft_id, stable_hash, trace_id

__all__ = [
    "CONTRACTS",
    "SCHEMA_VERSION",
    "Contract",
    "DatasetError",
    "FactoryError",
    "InputError",
    "MissingDependencyError",
    "NotBuiltYetError",
    "RecipeError",
    "SchemaError",
    "contract_for",
    "problem_id",
    "sft_id",
    "stable_hash",
    "trace_id",
]
