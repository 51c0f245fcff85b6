"""deploy/prometheus/alerts.yml: the flow document's four alerts over metrics Herald really exports, checked by
parsing (always) and by promtool's own rule checker and rule unit tests (deploy/prometheus/alerts_test.yml) where
promtool is installed (Debian: `apt-get install prometheus`)."""

from __future__ import annotations

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
FLOW_ALERTS = {"HeraldHighErrorRate", "HeraldQueueBackup", "HeraldSesQuotaApproaching", "HeraldProcessingDelays"}
# Metrics the alerts use that no Herald service exports yet (reported to the processor's owner).
NOT_YET_EXPORTED = {"herald_ses_quota_used_ratio"}
# SPEC.md, "Metrics and logs": the values of herald_emails_total{result}.
EMAIL_RESULTS = {"sent", "failed", "suppressed", "invalid", "throttled", "unknown"}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
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
    assert used <= exported_series() | NOT_YET_EXPORTED


def test_the_metric_name_check_catches_a_misspelt_metric() -> None:
    assert not _series_in("sum(rate(herald_email_total[5m]))") <= exported_series() | NOT_YET_EXPORTED
    assert _series_in('herald_queue_depth{queue="herald_x"}') == {"herald_queue_depth"}


def test_not_yet_exported_metrics_are_really_missing() -> None:
    """When the processor starts exporting one, it leaves this list (and the alert comment changes)."""
    assert not (NOT_YET_EXPORTED & exported_series())


def test_result_label_values_are_spec_values() -> None:
    for rule in _rules():
        for matcher in re.findall(r'result=~?"([^"]*)"', rule["expr"]):
            assert set(matcher.split("|")) <= EMAIL_RESULTS, (rule["alert"], matcher)


def test_queue_matchers_tell_the_job_queue_from_its_dead_letter_queue() -> None:
    """herald_queue_depth{queue} carries the full queue name (the processor labels it with ResourceNames)."""
    names = ResourceNames("acme-prod")
    jobs, dlq = names.email_jobs_queue, names.dead_letter_queue(names.email_jobs_queue)
    by_alert = {rule["alert"]: rule["expr"] for rule in _rules()}

    def selects(expr: str, queue: str) -> bool:
        (pattern,) = re.findall(r'queue=~"([^"]*)"', expr)
        return re.fullmatch(pattern, queue) is not None  # PromQL regex matchers are fully anchored

    assert selects(by_alert["HeraldQueueBackup"], jobs)
    assert not selects(by_alert["HeraldQueueBackup"], dlq)
    assert not selects(by_alert["HeraldQueueBackup"], names.ses_events_queue)
    assert selects(by_alert["HeraldDeadLetters"], dlq)
    assert not selects(by_alert["HeraldDeadLetters"], jobs)


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")


@needs_promtool
def test_promtool_accepts_the_rules_and_the_prometheus_config() -> None:
    assert PROMTOOL is not None
    rules = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=30)
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
