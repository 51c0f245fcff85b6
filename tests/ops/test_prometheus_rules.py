"""deploy/prometheus/alerts.yml: the flow document's four alerts, and deploy/prometheus/recording.yml: its tracked
metrics as recording rules, over metrics Herald really exports; checked by parsing (always) and by promtool's own
rule checker and rule unit tests (deploy/prometheus/{alerts,recording}_test.yml) where promtool is installed
(Debian: `apt-get install prometheus`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from herald_common import metrics
from herald_common.resources import ResourceNames

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
RECORDING = ROOT / "deploy" / "prometheus" / "recording.yml"
RECORDING_TESTS = ROOT / "deploy" / "prometheus" / "recording_test.yml"
# The flow document's "Metrics Tracked": processing rate, delivery rate, error rate, queue depth.
FLOW_RECORDINGS = {
    "herald:emails_processed:rate1m",
    "herald:delivery_rate:ratio5m",
    "herald:error_rate:ratio5m",
    "herald:queue_depth:max",
}
FLOW_ALERTS = {"HeraldHighErrorRate", "HeraldQueueBackup", "HeraldSesQuotaApproaching", "HeraldProcessingDelays"}
# SPEC.md, "Metrics and logs": the values of herald_emails_total{result}.
EMAIL_RESULTS = {"sent", "failed", "suppressed", "invalid", "throttled", "unknown"}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _recordings() -> list[dict[str, Any]]:
    document = yaml.safe_load(RECORDING.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_series() -> set[str]:
    """Every series name herald_common.metrics produces, with the suffixes Prometheus adds per type."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            for family in value.describe():
                names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def _series_in(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    return {name for name in re.findall(r"\b[a-z_][a-z0-9_]*\b", without_strings) if name.startswith("herald_")}


def test_the_four_alerts_of_the_flow_document_are_there() -> None:
    assert FLOW_ALERTS <= {rule["alert"] for rule in _rules()}


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_each_alert_waits_is_labelled_and_explains_itself(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["for"] != "0s"
    assert rule["labels"]["severity"] in {"page", "warning"}
    assert rule["annotations"]["summary"].strip()
    assert len(rule["annotations"]["description"].split()) >= 10


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_each_alert_reads_only_metrics_herald_exports(rule: dict[str, Any]) -> None:
    used = _series_in(rule["expr"])
    assert used, "an alert with no Herald metric"
    assert used <= exported_series()


def test_the_metric_name_check_catches_a_misspelt_metric() -> None:
    assert not _series_in("sum(rate(herald_email_total[5m]))") <= exported_series()
    assert _series_in('herald_queue_depth{queue="herald_x"}') == {"herald_queue_depth"}


def test_result_label_values_are_spec_values() -> None:
    for rule in [*_rules(), *_recordings()]:
        for matcher in re.findall(r'result=~?"([^"]*)"', rule["expr"]):
            assert set(matcher.split("|")) <= EMAIL_RESULTS, (rule.get("alert") or rule["record"], matcher)


def test_the_flow_documents_tracked_metrics_are_recorded() -> None:
    recorded = {rule["record"] for rule in _recordings()}
    assert recorded >= FLOW_RECORDINGS
    assert all(re.fullmatch(r"herald:[a-z0-9_]+:[a-z0-9_]+", name) for name in recorded)  # level:metric:operations
    assert len(recorded) == len(_recordings()), "a series recorded twice"


@pytest.mark.parametrize("rule", _recordings(), ids=lambda rule: rule["record"])
def test_each_recording_reads_only_metrics_herald_exports(rule: dict[str, Any]) -> None:
    used = _series_in(rule["expr"])
    assert used, "a recording rule with no Herald metric"
    assert used <= exported_series()


def test_ses_event_types_in_the_rules_are_the_ones_analytics_counts() -> None:
    from herald_analytics.events.schemas import EventType

    for rule in _recordings():
        for value in re.findall(r'type=~?"([^"]*)"', rule["expr"]):
            assert set(value.split("|")) <= {t.value for t in EventType}, (rule["record"], value)


def test_prometheus_loads_both_rule_files() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert set(config["rule_files"]) == {RULES.name, RECORDING.name}


def test_queue_matchers_tell_the_job_queue_from_its_dead_letter_queue() -> None:
    """herald_queue_depth{queue} carries the full queue name (the processor labels it with ResourceNames)."""
    names = ResourceNames("acme-prod")
    by_alert = {rule["alert"]: rule["expr"] for rule in _rules()}

    def selects(expr: str, queue: str) -> bool:
        (pattern,) = re.findall(r'queue=~"([^"]*)"', expr)
        return re.fullmatch(pattern, queue) is not None  # PromQL regex matchers are fully anchored

    for jobs in (*names.email_jobs_queues, names.legacy_email_jobs_queue):
        dlq = names.dead_letter_queue(jobs)
        assert selects(by_alert["HeraldQueueBackup"], jobs)
        assert not selects(by_alert["HeraldQueueBackup"], dlq)
        assert selects(by_alert["HeraldDeadLetters"], dlq)
        assert not selects(by_alert["HeraldDeadLetters"], jobs)
    assert not selects(by_alert["HeraldQueueBackup"], names.ses_events_queue)


PROMTOOL = shutil.which("promtool")
# Outside CI a missing promtool skips; CI installs it (scripts/test-tools.sh --ci), so there these run and fail.
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and os.environ.get("CI") != "true", reason="promtool not installed (Debian: prometheus)"
)


@needs_promtool
def test_promtool_accepts_the_rules_and_the_prometheus_config() -> None:
    assert PROMTOOL is not None
    rules = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES), str(RECORDING)], capture_output=True, text=True, timeout=30
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    checked = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_alerts_fire_on_their_series_and_not_on_healthy_ones(tmp_path: Path) -> None:
    """promtool's rule unit tests; annotations are left out of the copy since promtool compares their text."""
    assert PROMTOOL is not None
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document))
    (tmp_path / "alerts_test.yml").write_text(RULE_TESTS.read_text())
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(tmp_path / "alerts_test.yml")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested == {rule["alert"] for rule in _rules()}


@needs_promtool
def test_recording_rules_compute_the_flow_documents_metrics() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(RECORDING_TESTS)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"expr: (?:round\()?(herald:[a-z0-9_:]+)", RECORDING_TESTS.read_text()))
    assert tested >= FLOW_RECORDINGS
