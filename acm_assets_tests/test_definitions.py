import dagster as dg

from acm_assets.definitions import defs


def test_definitions_load():
    assert isinstance(defs, dg.Definitions)
    defs.get_repository_def().load_all_definitions()
