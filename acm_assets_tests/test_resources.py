import multiprocessing

import sqlalchemy as sa

from acm_assets.resources import AcmDatabase


def _open(url: str) -> None:
    AcmDatabase(database_url=url).outputs


def test_processes_starting_together_all_find_the_tables(postgres_url):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_open, args=(postgres_url,)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    tables = set(sa.inspect(sa.create_engine(postgres_url)).get_table_names())
    assert {"Equipment", "HistorianData", "ModelRegistry", "ACM_Scores_Wide", "ACM_Episodes"} <= tables
