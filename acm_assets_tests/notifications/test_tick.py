"""Notifications end to end against a real webhook receiver and a real SMTP server on loopback, on SQLite and
PostgreSQL: one message per change, none lost or repeated across an outage and a killed tick."""

import datetime as dt
import subprocess
import sys
from collections import Counter

import pandas as pd

from acm_assets.cli.main import main
from acm_assets.notifications.changes import Told
from acm_assets.notifications.delivery import EmailSender, WebhookSender
from acm_assets.notifications.outbox import CLAIM_LEASE, FIRST_RETRY, Outbox, utcnow
from acm_assets.notifications.tick import notify
from acm_assets_tests.outputs.episodes import CLASH, FAN_EPISODE, episode_row, write_episodes

ALERT_Z = 3.0
FIRST_CHANGES = 5  # FD_FAN and COND_PUMP opened and closed, GAS_TURBINE opened (open, peak 9: "high")


def _senders(webhook=None, smtp=None) -> dict:
    senders = {}
    if webhook is not None:
        senders["webhook"] = WebhookSender(webhook.url, timeout_s=5)
    if smtp is not None:
        senders["email"] = EmailSender(smtp.url, "ops@example.com, rel@example.com", "acm@example.com", timeout_s=5)
    return senders


def test_each_change_is_told_once_per_channel(fleet, webhook, smtp):
    result = notify(fleet, Told(), _senders(webhook, smtp), 100, ALERT_Z)
    assert (result.changes, result.enqueued, result.delivery.delivered) == (5, 10, 10)
    assert len(webhook.texts) == len(smtp.mails) == FIRST_CHANGES
    assert sorted(webhook.texts) == sorted(m["body"] for m in smtp.mails)
    opened = next(t for t in webhook.texts if t.startswith("ACM GAS_TURBINE: new episode (high)"))
    assert f"GAS_TURBINE:{CLASH}" in opened and "peak z 9.0" in opened and "TAG_A, TAG_B" in opened
    assert f"acm episodes triage GAS_TURBINE:{CLASH} --as" in opened
    assert "TAG_A reaches its limit in 14 h (9-23 h)" in opened
    closed = next(t for t in webhook.texts if t.startswith("ACM FD_FAN: episode closed"))
    assert "2024-05-03 11:40 .. 2024-05-03 16:40 UTC" in closed
    assert all("limit" not in t for t in webhook.texts if "GAS_TURBINE" not in t)  # closed: no time to a limit
    assert smtp.mails[0]["to"] == ["ops@example.com", "rel@example.com"]

    again = notify(fleet, result.told, _senders(webhook, smtp), 100, ALERT_Z)
    assert (again.changes, again.enqueued) == (0, 0)

    # The turbine's episode rises to "critical" on its next day, then closes: two changes, two messages each.
    write_episodes(fleet, 3, [episode_row(CLASH, 40, open_=True, peak=13.0)])
    rose = notify(fleet, again.told, _senders(webhook, smtp), 100, ALERT_Z)
    write_episodes(fleet, 3, [episode_row(CLASH, 44, peak=13.0)])
    closed = notify(fleet, rose.told, _senders(webhook, smtp), 100, ALERT_Z)
    assert (rose.changes, closed.changes) == (1, 1)
    assert [t.splitlines()[0] for t in webhook.texts[FIRST_CHANGES:]] == [
        f"ACM GAS_TURBINE: severity rose to critical - GAS_TURBINE:{CLASH}",
        f"ACM GAS_TURBINE: episode closed - GAS_TURBINE:{CLASH}",
    ]
    assert len(smtp.mails) == FIRST_CHANGES + 2
    assert Outbox(fleet).pending().empty
    assert len(set(webhook.keys)) == len(webhook.keys) and len({m["message_id"] for m in smtp.mails}) == len(smtp.mails)


def test_a_receiver_down_for_a_while_loses_nothing_and_repeats_nothing(fleet, webhook, smtp):
    webhook.stop()
    smtp.stop()
    t0 = utcnow()
    told = notify(fleet, Told(), _senders(webhook, smtp), 100, ALERT_Z, now=t0).told
    pending = Outbox(fleet).pending()
    assert len(pending) == 10 and pending["Attempts"].max() == 1
    errors = " ".join(pending["LastError"].dropna())
    assert f"webhook http://127.0.0.1:{webhook.port}: ConnectionRefusedError" in errors
    assert f"smtp 127.0.0.1:{smtp.port}: ConnectionRefusedError" in errors
    assert "secret-token" not in errors  # the webhook's path is a secret

    now = t0
    for _ in range(3):  # still down: each tick tries each channel once, the rest wait their turn
        now += FIRST_RETRY * 4
        told = notify(fleet, told, _senders(webhook, smtp), 100, ALERT_Z, now=now).told
    assert len(Outbox(fleet).pending()) == 10
    webhook.start()
    smtp.start()
    for _ in range(8):
        now += dt.timedelta(minutes=31)  # past the longest backoff
        told = notify(fleet, told, _senders(webhook, smtp), 100, ALERT_Z, now=now).told
    assert Outbox(fleet).pending().empty
    assert len(webhook.texts) == len(set(webhook.texts)) == FIRST_CHANGES
    assert len(smtp.mails) == len({m["body"] for m in smtp.mails}) == FIRST_CHANGES


def test_a_tick_killed_mid_delivery_loses_nothing_and_repeats_nothing(fleet, database_url, webhook):
    webhook.hang_after = 2
    tick = subprocess.Popen([sys.executable, "-m", "acm_assets_tests.notifications.tick_process", database_url,
                             webhook.url])
    try:
        assert webhook.hanging.wait(60), "the tick never reached its third message"
    finally:
        tick.kill()
        tick.wait()
    webhook.hang_after = None
    webhook.release.set()
    outbox = Outbox(fleet).all()
    assert outbox["DeliveredAt"].notna().sum() == 2 and outbox["ClaimedBy"].notna().sum() == 3

    # The killed tick never saved what it told: the next one finds the same five changes (enqueued already),
    # and once the dead claim's lease is over it sends the three that were not delivered.
    later = utcnow() + CLAIM_LEASE + dt.timedelta(seconds=1)
    result = notify(fleet, Told(), _senders(webhook), 100, ALERT_Z, now=later)
    assert (result.changes, result.enqueued, result.delivery.delivered) == (5, 0, 3)
    assert len(webhook.texts) == len(set(webhook.texts)) == FIRST_CHANGES
    assert Outbox(fleet).pending().empty


def test_a_flapping_machine_is_held_to_the_rate_limit_without_losing_a_change(fleet, webhook):
    write_episodes(fleet, 1, [episode_row(FAN_EPISODE + k * 86400, 1) for k in range(1, 5)])  # 4 more, each closed
    t0 = utcnow()
    told = notify(fleet, Told(), _senders(webhook), 3, ALERT_Z, now=t0).told
    fan = [t for t in webhook.texts if "FD_FAN" in t.splitlines()[0]]
    assert len(fan) == 3  # two changes, then a digest of the other eight
    assert fan[2].startswith("ACM FD_FAN: 8 changes (rate limit 3 messages per hour reached)")
    assert Counter(t.count("ACM FD_FAN:") for t in fan) == Counter({1: 2, 9: 1})

    write_episodes(fleet, 1, [episode_row(FAN_EPISODE + 9 * 86400, 1)])
    told = notify(fleet, told, _senders(webhook), 3, ALERT_Z, now=t0 + dt.timedelta(minutes=5)).told
    held = Outbox(fleet).pending()
    assert len(held) == 2 and (pd.to_datetime(held["NextAttemptAt"]) > t0 + dt.timedelta(minutes=59)).all()
    notify(fleet, told, _senders(webhook), 3, ALERT_Z, now=t0 + dt.timedelta(minutes=61))
    assert Outbox(fleet).pending().empty
    told_changes = [line for t in webhook.texts for line in t.splitlines() if line.startswith("ACM FD_FAN:")
                    and "changes (rate limit" not in line]
    assert len(told_changes) == len(set(told_changes)) == 2 + 8 + 2


def test_acm_notifications_pending_shows_what_waits_and_why(fleet, database_url, webhook, capsys):
    webhook.stop()
    told = notify(fleet, Told(), _senders(webhook), 100, ALERT_Z).told
    assert main(["notifications", "pending", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 notifications waiting")
    assert f"FD_FAN:{FAN_EPISODE}|opened|webhook  " in out
    assert f"last error: webhook http://127.0.0.1:{webhook.port}: ConnectionRefusedError" in out
    assert "secret-token" not in out
    webhook.start()
    for minutes in (31, 62, 93):
        told = notify(fleet, told, _senders(webhook), 100, ALERT_Z, now=utcnow() + dt.timedelta(minutes=minutes)).told
    assert main(["notifications", "pending", "--database-url", database_url]) == 0
    assert capsys.readouterr().out.strip() == "nothing waiting: every notification was delivered"


def test_two_ticks_never_claim_the_same_message(fleet):
    from acm_assets.notifications.changes import changes, messages
    from acm_assets.notifications.tick import read_episodes

    outbox = Outbox(fleet)
    outbox.create_table()
    found = changes(read_episodes(fleet, None), Told(), ALERT_Z)
    assert outbox.enqueue(messages(found, ["webhook"])) == 5
    assert outbox.enqueue(messages(found, ["webhook"])) == 0  # the same changes again: nothing new
    now = utcnow()
    first, held = outbox.claim(now)
    second, none = outbox.claim(now + dt.timedelta(seconds=1))
    assert len(held) == 5 and none.empty and first != second
    outbox.delivered(second, [int(i) for i in held["MessageID"]], now)  # a claim it does not hold: no effect
    assert len(outbox.pending()) == 5
    _, after_lease = outbox.claim(now + CLAIM_LEASE + dt.timedelta(seconds=1))
    assert len(after_lease) == 5
