"""A notification tick in its own process, for the test that kills it mid-delivery."""

import sys

from acm_assets.database import create_engine
from acm_assets.notifications.changes import Told
from acm_assets.notifications.delivery import WebhookSender
from acm_assets.notifications.tick import notify

if __name__ == "__main__":
    database_url, webhook_url = sys.argv[1:3]
    notify(create_engine(database_url), Told(), {"webhook": WebhookSender(webhook_url, timeout_s=60)}, 100, 3.0)
