"""The Alembic migrations build exactly the schema that ``contract.schema`` describes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from contract.schema import metadata
from sink.migrate import upgrade

pytestmark = pytest.mark.integration


def test_migrations_create_the_modelled_schema(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # running it again is harmless
    engine = sa.create_engine(database_url)
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == {column.name for column in table.columns}, table.name
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        assert indexes == {index.name for index in table.indexes}, table.name
    engine.dispose()
