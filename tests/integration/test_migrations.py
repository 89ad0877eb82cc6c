"""The Alembic migrations build exactly the schema that ``contract.schema`` describes."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import ReflectedColumn

from contract.schema import metadata
from sink.migrate import alembic_config, upgrade

pytestmark = pytest.mark.integration


def modelled_default(column: sa.Column[Any]) -> str | None:
    """The column's server default as SQL text (``''``, ``0``, ``now()``…), or None."""
    default = column.server_default
    if not isinstance(default, sa.DefaultClause):
        return None
    if isinstance(default.arg, str):
        return default.arg
    return str(default.arg.compile(dialect=postgresql.dialect()))


def reflected_default(text: str | None) -> str | None:
    """PostgreSQL's default expression without its cast: ``'[]'::jsonb`` is ``[]``."""
    if text is None:
        return None
    value = text.split("::")[0]
    return value[1:-1] if value.startswith("'") else value


def describe(table: sa.Table, reflected: list[ReflectedColumn]) -> dict[str, Any]:
    """Per column, whether it may be NULL and its default (a key's defaults left out: an
    autoincrementing key's sequence is the database's business)."""
    keys = {column.name for column in table.primary_key}
    return {
        column["name"]: (
            column["nullable"],
            None if column["name"] in keys else reflected_default(column["default"]),
        )
        for column in reflected
    }


def test_migrations_create_the_modelled_schema(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # running it again is harmless
    engine = sa.create_engine(database_url)
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        reflected = inspector.get_columns(table.name)
        columns = {column["name"] for column in reflected}
        assert columns == {column.name for column in table.columns}, table.name
        # the same type (PostgreSQL's name for it may be a subclass: DOUBLE PRECISION is a Float)
        for column in reflected:
            modelled = table.c[column["name"]].type
            assert isinstance(column["type"], type(modelled)), (table.name, column["name"])
        assert describe(table, reflected) == {
            column.name: (
                column.nullable,
                None if column.primary_key else modelled_default(column),
            )
            for column in table.columns
        }, table.name
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        assert indexes == {index.name for index in table.indexes}, table.name
    engine.dispose()


@pytest.mark.parametrize(
    ("revision", "below", "added"),
    [
        pytest.param(
            "0004",
            "0003",
            {"campaign_stats": {"insights"}, "message_status": {"template", "variant", "tags"}},
            id="insights",
        ),
        pytest.param(
            "0006",
            "0005",
            {"campaign_stats": set(), "message_status": {"erased"}},
            id="erased",
        ),
    ],
)
def test_a_column_migration_goes_down_and_up_again(
    database_url: str, revision: str, below: str, added: dict[str, set[str]]
) -> None:
    """0004 and 0006 (docs/sink.md, docs/operations.md "Erasure") add columns only; going below
    one drops exactly those."""
    engine = sa.create_engine(database_url)

    def columns() -> dict[str, set[str]]:
        inspector = sa.inspect(engine)
        return {
            table: {column["name"] for column in inspector.get_columns(table)}
            for table in ("campaign_stats", "message_status")
        }

    try:
        upgrade(database_url, revision)
        with_it = columns()
        command.downgrade(alembic_config(database_url), below)
        assert {table: with_it[table] - names for table, names in columns().items()} == added
        upgrade(database_url, revision)
        assert columns() == with_it
    finally:
        engine.dispose()
