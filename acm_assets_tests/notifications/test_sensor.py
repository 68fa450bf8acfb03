"""`notification_sensor` through Dagster's sensor context, with its targets from the environment (dg.EnvVar)."""

import json

import dagster as dg

from acm_assets.definitions import build_resources
from acm_assets.sensors import NOTIFY_ENV_HINT, notification_sensor
from acm_assets_tests.outputs.episodes import FAN_EPISODE, episode_row, write_episodes


def _tick(url, instance, cursor=None):
    resources = build_resources(url)
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "acm_database": resources["acm_database"], "notifications": resources["notifications"]}) as context:
        result = notification_sensor(context)
        return result, context.cursor


def test_the_sensor_tells_each_change_once_and_remembers_in_its_cursor(fleet, database_url, webhook, monkeypatch):
    monkeypatch.setenv("ACM_NOTIFY_WEBHOOK_URL", webhook.url)
    # Scored long before the latest day: a first tick starts from the last week, not the whole history.
    write_episodes(fleet, 1, [episode_row(FAN_EPISODE - 60 * 86400, 2)])
    with dg.instance_for_test() as instance:
        result, cursor = _tick(database_url, instance)
        assert result.skip_message.startswith("5 episode changes, 5 new messages; 5 delivered")
        assert "secret-token" not in result.skip_message
        assert len(webhook.texts) == 5
        assert sorted(json.loads(cursor)["episodes"]) == ["COND_PUMP:1714551600", "FD_FAN:1714736400",
                                                          "GAS_TURBINE:1714551600"]
        result, _ = _tick(database_url, instance, cursor)
        assert result.skip_message.startswith("0 episode changes, 0 new messages; 0 delivered")
    assert len(webhook.texts) == 5


def test_without_a_target_the_sensor_says_how_to_set_one(sqlite_url, monkeypatch):
    for name in ("ACM_NOTIFY_WEBHOOK_URL", "ACM_SMTP_URL", "ACM_NOTIFY_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    with dg.instance_for_test() as instance:
        result, cursor = _tick(sqlite_url, instance)
    assert result.skip_message == NOTIFY_ENV_HINT and cursor is None
