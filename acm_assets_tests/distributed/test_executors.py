"""The executor choice of the code location and the Celery settings file the workers start from."""

import dagster as dg
import pytest
from dagster_celery.cli import get_validated_config

from acm_assets.bench.fleet import DEPLOY_DIR
from acm_assets.executors import CELERY_BROKER_ENV, CELERY_QUEUE_ENV, CELERY_SETTINGS, EXECUTOR_ENV, executor_from_env

BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.parametrize("value", [None, "", "in_process"])
def test_laptop_default_is_in_process(value):
    environ = {} if value is None else {EXECUTOR_ENV: value}
    assert executor_from_env(environ) is dg.in_process_executor


def test_multiprocess_on_request():
    assert executor_from_env({EXECUTOR_ENV: "multiprocess"}) is dg.multiprocess_executor


def test_celery_on_request():
    executor = executor_from_env({EXECUTOR_ENV: "celery", CELERY_BROKER_ENV: BROKER, CELERY_QUEUE_ENV: "acm-plant-7"})
    assert executor.name == "celery"


def test_celery_without_broker_is_a_clear_error():
    with pytest.raises(dg.DagsterInvariantViolationError, match=CELERY_BROKER_ENV):
        executor_from_env({EXECUTOR_ENV: "celery"})


def test_unknown_executor_names_the_variable_and_the_choices():
    with pytest.raises(dg.DagsterInvariantViolationError, match=r"ACM_EXECUTOR='celry'.*in_process, multiprocess, celery"):
        executor_from_env({EXECUTOR_ENV: "celry"})


def test_worker_settings_file_takes_the_broker_from_the_environment(monkeypatch):
    monkeypatch.setenv(CELERY_BROKER_ENV, BROKER)
    config = get_validated_config(str(DEPLOY_DIR / "celery.yaml"))
    assert config["broker"] == BROKER
    assert config["backend"] == "rpc://"
    # The workers and the code location acknowledge tasks the same way.
    assert config["config_source"] == CELERY_SETTINGS
