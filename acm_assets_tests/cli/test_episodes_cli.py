"""`acm episodes list|triage` through the real `acm` entry point, on SQLite and PostgreSQL."""

import pytest

from acm_assets.cli.main import main
from acm_assets.database import create_engine
from acm_assets.outputs.triage import triage_history
from acm_assets_tests.outputs.episodes import CLASH, FAN_EPISODE, make_fleet


@pytest.fixture
def url(database_url):
    make_fleet(database_url).dispose()
    return database_url


def acm(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_every_episode_with_its_fleet_wide_id(url, capsys):
    code, out, _ = acm(capsys, "episodes", "list", "--database-url", url)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["EPISODE_ID", "EQUIPMENT", "START"]
    assert len(lines) == 4
    fan = next(line for line in lines if line.startswith(f"FD_FAN:{FAN_EPISODE}"))
    assert "2024-05-03 11:40" in fan and "6.0" in fan and "50%" in fan and "FD1.BEARING_TEMP" in fan
    turbine = next(line for line in lines if line.startswith(f"GAS_TURBINE:{CLASH}"))
    assert " open " in turbine and turbine.endswith("TAG_A reaches its limit in 14 h (9-23 h)")
    assert fan.endswith("FD1.BEARING_TEMP  -")  # closed: nothing heads for a limit any more


def test_triage_records_a_decision_that_list_then_filters_on(url, capsys):
    code, out, _ = acm(capsys, "episodes", "triage", f"GAS_TURBINE:{CLASH}", "--as", "normal", "--note", "new duty",
                       "--by", "ana", "--database-url", url)
    assert code == 0 and f"GAS_TURBINE:{CLASH}: normal by ana" in out and "(new duty)" in out
    code, out, _ = acm(capsys, "episodes", "list", "--triage", "normal", "--database-url", url)
    assert [line.split()[0] for line in out.splitlines()[1:]] == [f"GAS_TURBINE:{CLASH}"]
    assert "normal (ana)" in out
    code, out, _ = acm(capsys, "episodes", "list", "--triage", "untriaged", "--database-url", url)
    assert sorted(line.split()[0] for line in out.splitlines()[1:]) == [f"COND_PUMP:{CLASH}", f"FD_FAN:{FAN_EPISODE}"]
    code, out, _ = acm(capsys, "episodes", "list", "--open", "--equipment", "COND_PUMP", "--database-url", url)
    assert out.strip() == "no episodes match"


def test_a_bare_id_is_accepted_when_it_names_one_episode(url, capsys):
    code, out, _ = acm(capsys, "episodes", "triage", str(FAN_EPISODE), "--as", "fault", "--by", "bo",
                       "--database-url", url)
    assert code == 0 and out.startswith(f"FD_FAN:{FAN_EPISODE}: fault by bo")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(CLASH), "--as", "normal", "--by", "ana"], f"type one of: COND_PUMP:{CLASH}, GAS_TURBINE:{CLASH}"),
        (["FD_FAN:42", "--as", "normal", "--by", "ana"], "episode 'FD_FAN:42' is not a recorded episode"),
        ([f"FD_FAN:{FAN_EPISODE}", "--as", "normal", "--by", " "], "name of who decides is empty"),
    ],
)
def test_a_refused_decision_exits_2_naming_the_problem_and_changes_nothing(url, capsys, args, message):
    code, _, err = acm(capsys, "episodes", "triage", *args, "--database-url", url)
    assert code == 2 and message in err
    assert triage_history(create_engine(url)).empty


def test_a_bad_state_exits_2_naming_the_choices(url, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["episodes", "triage", f"FD_FAN:{FAN_EPISODE}", "--as", "fine", "--by", "ana", "--database-url", url])
    assert exited.value.code == 2
    assert "invalid choice: 'fine'" in capsys.readouterr().err
    assert triage_history(create_engine(url)).empty
