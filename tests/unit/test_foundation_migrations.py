from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.core.models import Base


def test_migrations_build_exactly_the_models_schema(app) -> None:
    with app.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrate_is_idempotent(app) -> None:
    app.db.migrate()
    app.db.migrate()
