"""`factory schema show|json NAME`: print a data contract as an Arrow schema with field docs,
or export it as JSON Schema."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
from factory.cli.console import out

schema_app = typer.Typer(help="Show the data contracts (problem, trace, sft).", no_args_is_help=True)

ContractName = Literal["problem", "trace", "sft"]


@schema_app.command("show")
def show(name: Annotated[ContractName, typer.Argument(help="problem | trace | sft")]) -> None:
    """Print the Arrow schema of a contract and the schema version."""
    from factory.schemas.contracts import SCHEMA_VERSION, contract_for
    from rich.table import Table

    c = contract_for(name)
    t = Table(title=f"{c.name} (schema version {SCHEMA_VERSION})", show_lines=False)
    t.add_column("field")
    t.add_column("arrow type")
    t.add_column("nullable")
    for f in c.schema:
        t.add_row(f.name, str(f.type), "yes" if f.nullable else "no")
    out.print(t)
    out.print(c.doc.strip())


@schema_app.command("json")
def json_schema(name: Annotated[ContractName, typer.Argument(help="problem | trace | sft")]) -> None:
    """Export a contract as JSON Schema (draft 2020-12) on stdout."""
    from factory.schemas.contracts import contract_for

    typer.echo(json.dumps(contract_for(name).json_schema(), indent=2))
