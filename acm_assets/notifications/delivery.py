"""Sending what the outbox holds: a webhook (Slack and Teams incoming webhooks read the JSON `text` field)
and e-mail over SMTP, under a per-equipment rate limit. Errors name the target by its host only: a webhook's
path and an SMTP password are secrets."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlsplit

from acm_assets.notifications.outbox import Outbox, utcnow

RATE_WINDOW = dt.timedelta(hours=1)


class DeliveryError(RuntimeError):
    """A target refused or could not be reached; the message stays in the outbox for a retry."""


class WebhookSender:
    channel = "webhook"

    def __init__(self, url: str, timeout_s: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"notification webhook URL must be http(s)://host/...; got scheme {parts.scheme!r}")
        self.url, self.timeout_s = url, timeout_s
        self.name = f"webhook {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"

    def send(self, subject: str, text: str, message_key: str) -> None:
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": _message_id(message_key)})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"{self.name}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{self.name}: {type(reason).__name__}: {reason}") from None


class EmailSender:
    """`smtp://[user:password@]host[:port]` (STARTTLS when the server offers it), or `smtps://` (TLS)."""

    channel = "email"

    def __init__(self, smtp_url: str, to: str, sender: str, timeout_s: float = 10.0):
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                f"notification SMTP URL must be smtp://host[:port] or smtps://...; got scheme {parts.scheme!r}")
        recipients = [a.strip() for a in to.split(",") if a.strip()]
        if not recipients:
            raise ValueError("no e-mail recipient: set ACM_NOTIFY_EMAIL_TO (comma-separated addresses)")
        self.parts, self.to, self.sender, self.timeout_s = parts, recipients, sender, timeout_s
        self.name = f"smtp {parts.hostname}:{parts.port or (465 if parts.scheme == 'smtps' else 25)}"

    def send(self, subject: str, text: str, message_key: str) -> None:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = subject, self.sender, ", ".join(self.to)
        message["Message-ID"] = f"<{_message_id(message_key)}@acm>"  # the same on a retry: receivers can dedup
        message.set_content(text)
        p = self.parts
        try:
            if p.scheme == "smtps":
                client = smtplib.SMTP_SSL(p.hostname, p.port or 465, timeout=self.timeout_s)
            else:
                client = smtplib.SMTP(p.hostname, p.port or 25, timeout=self.timeout_s)
            with client:
                client.ehlo_or_helo_if_needed()  # has_extn knows the server's extensions only after EHLO
                if p.scheme == "smtp" and client.has_extn("starttls"):
                    client.starttls()
                    client.ehlo()
                if p.username:
                    client.login(p.username, p.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else ""
            if p.password:
                reason = reason.replace(p.password, "***")
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {reason}") from None


def _message_id(message_key: str) -> str:
    return hashlib.sha256(message_key.encode()).hexdigest()[:32]


@dataclass
class DeliveryReport:
    delivered: int = 0
    digests: int = 0
    failed: list[str] = field(default_factory=list)
    held: int = 0

    def summary(self) -> str:
        parts = [f"{self.delivered} delivered" + (f" ({self.digests} as digests)" if self.digests else "")]
        if self.held:
            parts.append(f"{self.held} held by the rate limit")
        if self.failed:
            parts.append(f"{len(self.failed)} failed, retried with backoff ({self.failed[0]})")
        return ", ".join(parts)


def deliver(outbox: Outbox, senders: dict, rate_limit: int, now: dt.datetime | None = None,
            budget_s: float = 40.0) -> DeliveryReport:
    """Send every due message. Per equipment and channel at most `rate_limit` sends per hour: a backlog
    beyond it goes as one digest in the last free send, or waits for the next free one. A channel that fails
    is not tried again in this call; its messages wait for their retry."""
    now = now or utcnow()
    report = DeliveryReport()
    claim, rows = outbox.claim(now)
    if rows.empty:
        return report
    history = outbox.deliveries_since(now - RATE_WINDOW)
    started, down = time.monotonic(), set()
    for (equip_id, channel), group in rows.groupby(["EquipID", "Channel"], sort=False):
        ids = [int(i) for i in group["MessageID"]]
        sender = senders.get(channel)
        if sender is None:
            outbox.failed(claim, ids, f"channel {channel} is not configured (messages wait until it is)", now)
            report.failed.append(f"channel {channel} is not configured")
            continue
        if channel in down or time.monotonic() - started > budget_s:
            outbox.release(claim, ids, now)
            continue
        recent = history.get((int(equip_id), channel), [])
        budget = rate_limit - len(recent)
        if budget <= 0:
            outbox.release(claim, ids, recent[-rate_limit] + RATE_WINDOW)
            report.held += len(ids)
            continue
        rows_ = list(group.itertuples())
        singles, backlog = (rows_, []) if len(rows_) <= budget else (rows_[:budget - 1], rows_[budget - 1:])
        sends = [[r] for r in singles] + ([backlog] if backlog else [])
        for batch in sends:
            batch_ids = [int(r.MessageID) for r in batch]
            if channel in down:
                outbox.release(claim, batch_ids, now)
                continue
            subject, text = _digest(batch, rate_limit) if len(batch) > 1 else (batch[0].Subject, batch[0].Text)
            try:
                sender.send(subject, text, "+".join(r.DedupKey for r in batch))
            except DeliveryError as exc:
                outbox.failed(claim, batch_ids, str(exc), now)
                report.failed.append(str(exc))
                down.add(channel)
                continue
            outbox.delivered(claim, batch_ids, now)
            report.delivered += len(batch)
            report.digests += len(batch) > 1
    return report


def _digest(batch, rate_limit: int) -> tuple[str, str]:
    code = batch[0].EquipCode
    subject = f"ACM {code}: {len(batch)} changes (rate limit {rate_limit} messages per hour reached)"
    return subject, "\n\n".join([subject, *[r.Text for r in batch]])
