"""How long items live: the expiry each store writes, and the settings that choose it (pure)."""
import pytest

from functions.config import DEFAULT_LOG_MAX_LINES, _flag, _whole
from functions.retention import (DAY, LOG_MARGIN_DAYS, Retention, RetentionError, expired, is_preview_lane,
                                 parse)
from functions.store import logs

pytestmark = pytest.mark.unit
T = 1_750_000_000  # an epoch second


def test_defaults_keep_history_90_days_dedup_keys_7_sent_reports_14_and_the_audit_log_forever():
    r = parse({})
    assert r == Retention(days=90, dedup_days=7, outbox_days=14, audit_days=0)
    assert r.event(T) == T + 90 * DAY
    assert r.dedup(T) == T + 7 * DAY
    assert r.outbox_done(T, "tests/web@" + "a" * 40) == T + 14 * DAY
    assert r.audit(T) is None


def test_settings_come_from_the_environment():
    r = parse({"TAHOBUDDY_RETENTION_DAYS": "30", "TAHOBUDDY_DEDUP_RETENTION_DAYS": "3",
               "TAHOBUDDY_OUTBOX_RETENTION_DAYS": "2", "TAHOBUDDY_AUDIT_RETENTION_DAYS": "400"})
    assert (r.event(T), r.dedup(T), r.outbox_done(T, "o/n@x"), r.audit(T)) == \
        (T + 30 * DAY, T + 3 * DAY, T + 2 * DAY, T + 400 * DAY)


def test_a_preview_lane_keeps_its_reports_as_long_as_the_events_its_comment_and_deployments_live_there():
    r = Retention(days=60, outbox_days=14)
    assert is_preview_lane("tests/web#pr-7/web") and not is_preview_lane("tests/web@" + "a" * 40)
    assert r.outbox_done(T, "tests/web#pr-7/web") == T + 60 * DAY


@pytest.mark.parametrize("ran_for", [0, 1800, 3 * DAY, LOG_MARGIN_DAYS * DAY])
def test_a_job_never_outlives_its_first_log_line_and_keeps_its_full_retention_after_a_normal_run(ran_for):
    r = Retention(days=90)
    first_line = r.log_line(T)              # written when it started
    ended = T + ran_for
    job = r.finished_job(ended, first_line)
    assert job <= first_line                # its log is still there as long as the job is
    assert job == ended + 90 * DAY          # runs up to the margin lose nothing


def test_a_job_that_ran_longer_than_the_margin_goes_with_its_first_log_line():
    r = Retention(days=90)
    first_line = r.log_line(T)
    assert r.finished_job(T + (LOG_MARGIN_DAYS + 2) * DAY, first_line) == first_line


def test_a_job_without_log_lines_expires_retention_days_after_it_ended():
    assert Retention(days=10).finished_job(T, None) == T + 10 * DAY


def test_expired_follows_dynamodbs_rule_and_an_item_without_the_attribute_never_expires():
    assert expired(T, T) and expired(T - 1, T)
    assert not expired(T + 1, T)
    assert not expired(None, T)


@pytest.mark.parametrize("env, words", [
    ({"TAHOBUDDY_DEDUP_RETENTION_DAYS": "2"}, ["TAHOBUDDY_DEDUP_RETENTION_DAYS=2", "at least 3 days", "redeliver"]),
    ({"TAHOBUDDY_RETENTION_DAYS": "ninety"}, ["TAHOBUDDY_RETENTION_DAYS='ninety'", "whole number", "e.g. 90"]),
    ({"TAHOBUDDY_RETENTION_DAYS": "0"}, ["TAHOBUDDY_RETENTION_DAYS=0", "at least 1 day"]),
    ({"TAHOBUDDY_OUTBOX_RETENTION_DAYS": "0"}, ["TAHOBUDDY_OUTBOX_RETENTION_DAYS=0"]),
    ({"TAHOBUDDY_AUDIT_RETENTION_DAYS": "-1"}, ["TAHOBUDDY_AUDIT_RETENTION_DAYS=-1", "0 keeps"]),
])
def test_a_setting_that_cannot_work_is_refused_saying_which_and_what_to_set(env, words):
    with pytest.raises(RetentionError) as err:
        parse(env)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_deleting_expired_items_ourselves_defaults_to_on_only_on_an_emulator():
    assert _flag("", default=True) and not _flag("", default=False)
    assert _flag("1", default=False) and not _flag("no", default=True)
    with pytest.raises(ValueError, match="TAHOBUDDY_DELETE_EXPIRED='maybe'"):
        _flag("maybe", default=False)


def test_the_log_cap_defaults_to_ten_thousand_lines_and_refuses_what_is_not_a_whole_number():
    assert _whole("TAHOBUDDY_LOG_MAX_LINES", "", DEFAULT_LOG_MAX_LINES) == 10_000
    assert _whole("TAHOBUDDY_LOG_MAX_LINES", " 0 ", 10_000) == 0  # no limit
    with pytest.raises(ValueError, match="TAHOBUDDY_LOG_MAX_LINES='10k': set a whole number"):
        _whole("TAHOBUDDY_LOG_MAX_LINES", "10k", 10_000)


def test_dropped_lines_are_counted_from_the_numbers_alone():
    kept = [{"seq": 251, "line": "a"}, {"seq": 252, "line": "b"}]
    assert logs.dropped(kept) == 250 and logs.dropped(kept, after=250) == 0 and logs.dropped(kept, after=100) == 150
    assert logs.dropped([]) == 0 and logs.dropped([{"seq": 1, "line": "x"}]) == 0
    assert logs.dropped_note(250).startswith("250 earlier lines dropped") and "1 earlier line dropped" in \
        logs.dropped_note(1)
