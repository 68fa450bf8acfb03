"""The production `ModelRegistry` table on SQLAlchemy Core, exactly as it exists on customer servers, and
`ModelTrainingData`, the registry's own table of the data sets models were fitted on.

SQL Server needs explicit types (the generic ones would render TEXT/IMAGE-era or length-less types), so every
column carries its mssql variant. No extra columns in ModelRegistry: integrity data and the commit marker
live in the JSON.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mssql

from acm_assets.database import READ_ONLY, redact
from acm_assets.registry.errors import RegistrySchemaError, describe_database_error

TABLE_NAME = "ModelRegistry"
TRAINING_DATA_TABLE_NAME = "ModelTrainingData"
MODEL_TYPE_LENGTH = 16
FINGERPRINT_LENGTH = 64

metadata = sa.MetaData()

model_registry = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("ModelType", sa.String(MODEL_TYPE_LENGTH), nullable=False),
    sa.Column("EquipID", sa.Integer, nullable=False, autoincrement=False),
    sa.Column("Version", sa.Integer, nullable=False, autoincrement=False),
    sa.Column("EntryDateTime", sa.DateTime().with_variant(mssql.DATETIME2(), "mssql")),
    sa.Column("ParamsJSON", sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")),
    sa.Column("StatsJSON", sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")),
    sa.Column(
        "RunID",
        sa.Uuid(as_uuid=False).with_variant(mssql.UNIQUEIDENTIFIER(as_uuid=False), "mssql"),
        nullable=True,
    ),
    sa.Column("ModelBytes", sa.LargeBinary().with_variant(mssql.VARBINARY("max"), "mssql")),
    sa.PrimaryKeyConstraint("EquipID", "Version", "ModelType", name="PK_ModelRegistry"),
)

# One row per data set a run group fitted models on; never updated, so a run reading one is never
# overtaken by a newer run. `Fingerprint` is the id the models' manifests record.
training_data = sa.Table(
    TRAINING_DATA_TABLE_NAME,
    metadata,
    sa.Column("EquipID", sa.Integer, nullable=False, autoincrement=False),
    sa.Column("Fingerprint", sa.String(FINGERPRINT_LENGTH), nullable=False),
    sa.Column(
        "RunID", sa.Uuid(as_uuid=False).with_variant(mssql.UNIQUEIDENTIFIER(as_uuid=False), "mssql"), nullable=False
    ),
    sa.Column("EntryDateTime", sa.DateTime().with_variant(mssql.DATETIME2(), "mssql"), nullable=False),
    sa.Column("FingerprintJSON", sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql"), nullable=False),
    sa.Column("DataBytes", sa.LargeBinary().with_variant(mssql.VARBINARY("max"), "mssql"), nullable=False),
    sa.PrimaryKeyConstraint("EquipID", "Fingerprint", "RunID", name="PK_ModelTrainingData"),
)

# What each column must reflect as on an existing table: a generic SQLAlchemy type family.
_EXPECTED_FAMILIES: dict[str, tuple[type, ...]] = {
    "ModelType": (sa.String,),
    "EquipID": (sa.Integer,),
    "Version": (sa.Integer,),
    "EntryDateTime": (sa.DateTime,),
    "ParamsJSON": (sa.String, sa.Text),
    "StatsJSON": (sa.String, sa.Text),
    "RunID": (sa.Uuid, sa.String),
    "ModelBytes": (sa.LargeBinary, sa.VARBINARY, sa.BINARY),
}


# Columns the registry may leave NULL: an existing table must not make them NOT NULL.
_NULLABLE = {"runid"}
_OURS = {name.lower() for name in _EXPECTED_FAMILIES}


def create_registry_table(engine: sa.Engine) -> bool:
    """Create `ModelRegistry` and `ModelTrainingData` where missing (an existing table is never altered);
    True when ModelRegistry was created."""
    create_training_data_table(engine)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(TABLE_NAME):
                return False
            model_registry.create(conn)
    except sa.exc.DBAPIError as exc:
        raise RegistrySchemaError(describe_database_error(exc, engine.url)) from None
    return True


def create_training_data_table(engine: sa.Engine) -> None:
    """Create `ModelTrainingData` where missing; a process that loses the race to create it finds it there.
    The look comes first and reads only, so a step starting while a version commits does not wait for it."""
    if _has_training_data_table(engine):
        return
    try:
        training_data.create(engine, checkfirst=True)
    except sa.exc.DBAPIError as exc:
        if not _has_training_data_table(engine):
            raise RegistrySchemaError(describe_database_error(exc, engine.url)) from None


def _has_training_data_table(engine: sa.Engine) -> bool:
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            return sa.inspect(conn).has_table(TRAINING_DATA_TABLE_NAME)
    except sa.exc.DBAPIError:
        return False


def check_registry_table(engine: sa.Engine) -> None:
    """Fail clearly when the table is missing or its columns cannot hold what the registry writes."""
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(TABLE_NAME):
                raise RegistrySchemaError(
                    f"table {TABLE_NAME} does not exist in {redact(engine.url)}: run `acm registry init`"
                )
            columns = {column["name"].lower(): column for column in inspector.get_columns(TABLE_NAME)}
    except sa.exc.DBAPIError as exc:
        raise RegistrySchemaError(describe_database_error(exc, engine.url)) from None
    problems = []
    for name, families in _EXPECTED_FAMILIES.items():
        column = columns.get(name.lower())
        if column is None:
            problems.append(f"column {name} is missing")
        elif not isinstance(column["type"], families):
            problems.append(f"column {name} is {column['type']!r}, expected {families[0].__name__}")
        elif name == "ModelType" and (column["type"].length or 0) < MODEL_TYPE_LENGTH:
            problems.append(f"column ModelType holds {column['type'].length} characters, expected {MODEL_TYPE_LENGTH}")
    for name, column in columns.items():
        generated = column.get("default") is not None or column.get("identity") or column.get("computed")
        if (name not in _OURS or name in _NULLABLE) and not column["nullable"] and not generated:
            problems.append(
                f"column {column['name']} is NOT NULL without a default (the registry never writes it, so every "
                "insert would fail): give it a default or make it nullable"
            )
    if problems:
        raise RegistrySchemaError(
            f"table {TABLE_NAME} in {redact(engine.url)} is incompatible: " + "; ".join(problems)
        )
