import pytest

from acm_assets_tests.notifications.receivers import SmtpReceiver, WebhookReceiver
from acm_assets_tests.outputs.episodes import make_fleet


@pytest.fixture
def fleet(database_url):
    engine = make_fleet(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp():
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()
