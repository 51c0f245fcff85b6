"""deploy/cloudformation/herald.yaml: cfn-lint finds no error, and the template agrees with the code it deploys —
resource names and keys with ResourceNames and provisioning, the load balancer's rules with the services' real
routes, each task role with the AWS calls its service's source makes, and the four alarms of the flow document."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode

from herald_common import provisioning
from herald_common.resources import EMAIL_JOB_PRIORITIES, ResourceNames

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "deploy" / "cloudformation" / "herald.yaml"
NAMES = ResourceNames("${Prefix}")  # the template's names are `!Sub "${Prefix}-…"`
TABLES = {
    "CampaignsTable": ("campaigns", NAMES.campaigns_table),
    "LedgerTable": ("ledger", NAMES.ledger_table),
    "EventsTable": ("events", NAMES.events_table),
    "SuppressionsTable": ("suppressions", NAMES.suppressions_table),
    "AuditTable": ("audit", NAMES.audit_table),
    "IdempotencyTable": ("idempotency", NAMES.idempotency_table),
    "WebhooksTable": ("webhooks", NAMES.webhooks_table),
    "WebhookDeliveriesTable": ("webhook-deliveries", NAMES.webhook_deliveries_table),
}
SERVICES = {"campaign": 8001, "template": 8002, "analytics": 8003, "processor": 8004}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(TEMPLATE_PATH))
    assert not problems, problems
    assert decoded is not None
    return dict(decoded)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    body: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return body


def sub(value: Any) -> str:
    assert isinstance(value, dict), value
    assert "Fn::Sub" in value, value
    text = value["Fn::Sub"]
    assert isinstance(text, str)
    return text


def test_cfn_lint_reports_no_errors() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert not errors, json.dumps(errors, indent=1)[:4000]


def test_cfn_lint_would_catch_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE_PATH.read_text().replace("BillingMode: PAY_PER_REQUEST", "BillingMode: PER_REQUEST", 1))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", str(broken)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert any(f["Level"] == "Error" for f in json.loads(result.stdout or "[]"))


# --- data stores ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_tables_have_the_documented_keys_recovery_and_kms_encryption(template: dict[str, Any], logical_id: str) -> None:
    short, name = TABLES[logical_id]
    table = props(template, logical_id)
    assert sub(table["TableName"]) == name
    pk, sk = provisioning._TABLE_KEYS[short]
    expected = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk:
        expected.append({"AttributeName": sk, "KeyType": "RANGE"})
    assert [dict(k) for k in table["KeySchema"]] == expected
    index_keys = {k for i in provisioning._TABLE_INDEXES.get(short, ()) for k in (i.pk, i.sk)}
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == ({pk, sk} | index_keys) - {None}
    # The indexes docs/architecture.md defines, and only those: the same keys and attributes as provisioning makes.
    indexes = provisioning._TABLE_INDEXES.get(short, ())
    assert [
        (i["IndexName"], [k["AttributeName"] for k in i["KeySchema"]], i["Projection"].get("NonKeyAttributes"))
        for i in table.get("GlobalSecondaryIndexes", [])
    ] == [(i.name, [i.pk, i.sk], list(i.attributes)) for i in indexes]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["SSESpecification"]["SSEType"] == "KMS"
    assert table["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}
    if short == "events":
        assert table["TimeToLiveSpecification"] == {
            "AttributeName": provisioning.EVENTS_TTL_ATTRIBUTE,
            "Enabled": True,
        }
    assert template["Resources"][logical_id].get("DeletionPolicy") == "Retain"


def test_bucket_is_the_services_bucket_encrypted_and_private(template: dict[str, Any]) -> None:
    bucket = props(template, "DataBucket")
    assert sub(bucket["BucketName"]) == NAMES.bucket
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(
        block[key] is True
        for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )


@pytest.mark.parametrize(
    ("queue_id", "dlq_id", "name", "visibility"),
    [
        *(
            (
                f"EmailJobs{priority.capitalize()}Queue",
                f"EmailJobs{priority.capitalize()}DeadLetterQueue",
                NAMES.email_jobs_queue_for(priority),
                provisioning.EMAIL_JOBS_VISIBILITY_SECONDS,
            )
            for priority in EMAIL_JOB_PRIORITIES
        ),
        (
            "SesEventsQueue",
            "SesEventsDeadLetterQueue",
            NAMES.ses_events_queue,
            provisioning.SES_EVENTS_VISIBILITY_SECONDS,
        ),
    ],
)
def test_queues_redrive_to_their_dead_letter_queues_as_provisioning_does(
    template: dict[str, Any], queue_id: str, dlq_id: str, name: str, visibility: int
) -> None:
    queue, dlq = props(template, queue_id), props(template, dlq_id)
    assert sub(queue["QueueName"]) == name
    assert sub(dlq["QueueName"]) == NAMES.dead_letter_queue(name)
    assert queue["VisibilityTimeout"] == visibility
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == provisioning.DEFAULT_MAX_RECEIVE_COUNT
    assert dlq["MessageRetentionPeriod"] == provisioning.DLQ_RETENTION_SECONDS
    assert queue["KmsMasterKeyId"] == dlq["KmsMasterKeyId"] == {"Ref": "DataKey"}


def test_ses_events_flow_from_the_configuration_set_through_sns_to_the_analytics_queue(
    template: dict[str, Any],
) -> None:
    assert sub(props(template, "ConfigurationSet")["Name"]) == NAMES.configuration_set
    assert sub(props(template, "SesEventsTopic")["TopicName"]) == NAMES.ses_events_topic
    assert sub(props(template, "CampaignUpdatesTopic")["TopicName"]) == NAMES.campaign_updates_topic
    destination = props(template, "ConfigurationSetEventDestination")
    assert destination["ConfigurationSetName"] == {"Ref": "ConfigurationSet"}
    assert destination["EventDestination"]["MatchingEventTypes"] == list(provisioning.SES_EVENT_TYPES)
    assert destination["EventDestination"]["SnsDestination"]["TopicARN"] == {"Ref": "SesEventsTopic"}
    subscription = props(template, "SesEventsSubscription")
    assert subscription["TopicArn"] == {"Ref": "SesEventsTopic"}
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["SesEventsQueue", "Arn"]}
    policy = props(template, "SesEventsQueuePolicy")["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "sns.amazonaws.com"}
    assert policy["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "SesEventsTopic"}


def test_the_webhooks_queue_hears_the_campaign_updates_topic_only(template: dict[str, Any]) -> None:
    """As provisioning does: SES's events reach the webhooks from analytics (only tenants with an endpoint)."""
    queue = {"Fn::GetAtt": ["WebhooksQueue", "Arn"]}
    subscriptions = resources(template, "AWS::SNS::Subscription").values()
    topics = [s["Properties"]["TopicArn"] for s in subscriptions if s["Properties"]["Endpoint"] == queue]
    assert topics == [{"Ref": "CampaignUpdatesTopic"}]
    (statement,) = props(template, "WebhooksQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "CampaignUpdatesTopic"}
    forwarding = [s for s in _allowed(template, "AnalyticsTaskRole") if "sqs:SendMessage" in s["Action"]]
    assert any(s["Resource"] == {"Fn::GetAtt": ["WebhooksQueue", "Arn"]} for s in forwarding)


# --- routing ----------------------------------------------------------------------------------------------------
def _service_routes() -> dict[str, list[tuple[str, str]]]:
    """Each routed service's real (method, path) pairs, with sample values for the path parameters."""
    from herald_analytics.app import create_app as analytics_app
    from herald_campaign.app import create_app as campaign_app
    from herald_template.app import create_app as template_app

    routes: dict[str, list[tuple[str, str]]] = {}
    for service, factory in (("campaign", campaign_app), ("template", template_app), ("analytics", analytics_app)):
        openapi = factory().openapi()
        routes[service] = [
            (method.upper(), re.sub(r"\{[^}]+\}", "x1", path))
            for path, operations in openapi["paths"].items()
            for method in operations
        ]
        assert routes[service]
    return routes


def _matches(condition: dict[str, Any], method: str, path: str) -> bool:
    if condition["Field"] == "path-pattern":
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in condition["PathPatternConfig"]["Values"])
    if condition["Field"] == "http-request-method":
        return method in condition["HttpRequestMethodConfig"]["Values"]
    raise AssertionError(f"unexpected condition {condition['Field']}")


def _route(template: dict[str, Any], method: str, path: str) -> str | None:
    """The target group an ALB sends the request to: the first rule by priority whose conditions all match (ALB `*`
    matches any characters, `/` included, as fnmatch's does)."""
    rules = sorted(
        resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values(),
        key=lambda rule: int(rule["Properties"]["Priority"]),
    )
    for rule in rules:
        if all(_matches(condition, method, path) for condition in rule["Properties"]["Conditions"]):
            (action,) = rule["Properties"]["Actions"]
            target = action["TargetGroupArn"]["Ref"]
            assert isinstance(target, str)
            return target
    return None


def test_every_route_of_every_service_reaches_that_service(template: dict[str, Any]) -> None:
    target_of = {
        service: next(
            lb["TargetGroupArn"]["Ref"]
            for lb in props(template, f"{service.capitalize()}Service").get("LoadBalancers", [])
        )
        for service in ("campaign", "template", "analytics")
    }
    for service, routes in _service_routes().items():
        for method, path in routes:
            assert _route(template, method, path) == target_of[service], (service, method, path)
    assert _route(template, "GET", "/metrics") is None  # operations endpoints stay inside the VPC
    assert _route(template, "POST", "/_emulator/reset") is None


def test_processor_is_a_worker_without_a_load_balancer_scaled_on_its_queue(template: dict[str, Any]) -> None:
    processor = props(template, "ProcessorService")
    assert "LoadBalancers" not in processor
    policy = props(template, "ProcessorBacklogScaling")
    assert policy["ScalingTargetId"] == {"Ref": "ProcessorScalableTarget"}
    assert "ProcessorService" in json.dumps(props(template, "ProcessorScalableTarget")["ResourceId"])
    metrics = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Metrics"]
    queue_metrics = [m for m in metrics if "MetricStat" in m and m["MetricStat"]["Metric"]["Namespace"] == "AWS/SQS"]
    # The backlog of every priority's queue counts.
    assert {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for m in queue_metrics} == {
        f"EmailJobs{priority.capitalize()}Queue" for priority in EMAIL_JOB_PRIORITIES
    }
    backlog = next(m for m in metrics if m["Id"] == "backlog")
    assert all(m["Id"] in backlog["Expression"] for m in queue_metrics)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_task_definitions_run_the_image_on_its_port_with_secrets_from_secrets_manager(
    template: dict[str, Any], service: str
) -> None:
    (container,) = props(template, f"{service.capitalize()}TaskDefinition")["ContainerDefinitions"]
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [SERVICES[service]]
    # the image's probe: /healthz on the image's HERALD_PORT, which the task does not override
    assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "herald_common.healthcheck"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"] if isinstance(e, dict) and "Name" in e}
    assert "HERALD_PORT" not in environment
    assert environment["HERALD_ENV"] == "prod"
    assert environment["HERALD_RESOURCE_PREFIX"] == {"Ref": "Prefix"}
    assert not [name for name in environment if "SECRET" in name]
    secrets = {s["Name"]: s["ValueFrom"]["Ref"] for s in container["Secrets"]}
    assert secrets["HERALD_JWT_SECRET"] == "JwtSecret"
    for secret in secrets.values():
        assert template["Resources"][secret]["Type"] == "AWS::SecretsManager::Secret"
    if service in ("campaign", "processor"):  # unsubscribe links are signed and verified there
        assert secrets["HERALD_UNSUBSCRIBE_SECRET"] == "UnsubscribeSecret"
    if service in ("template", "processor"):  # the processor renders with the service key; prod refuses none
        assert secrets["HERALD_SERVICE_KEY"] == "ServiceKey"


# --- the task definitions run what docker-compose.yml runs --------------------------------------------------------
COMPOSE_PATH = ROOT / "docker-compose.yml"
DEPLOY_SCRIPT = ROOT / "deploy" / "deploy.sh"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_PATH.read_text())
    assert isinstance(document, dict)
    return document


def containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every ECS container of the template, by container name."""
    return {
        container["Name"]: container
        for body in resources(template, "AWS::ECS::TaskDefinition").values()
        for container in body["Properties"]["ContainerDefinitions"]
    }


def long_running_herald_services(compose: dict[str, Any]) -> set[str]:
    """Compose services that keep running a Herald image: not the emulator, not one-shot jobs such as provisioning
    (on AWS, CloudFormation creates the resources)."""
    return {
        name
        for name, spec in compose["services"].items()
        if str(spec.get("image", "")).startswith("herald-")
        and not str(spec["image"]).startswith("herald-emulator")
        and spec.get("restart") != "no"
    }


def _command_form(rest: str) -> list[str]:
    """An exec-form (JSON) or shell-form ENTRYPOINT/CMD as the argument list Docker runs."""
    if rest.startswith("["):
        parsed = json.loads(rest)
        assert isinstance(parsed, list)
        return [str(part) for part in parsed]
    return ["/bin/sh", "-c", rest]


def _healthcheck_form(rest: str) -> list[str] | None:
    probe = re.sub(r"^(--[\w-]+=\S+\s+)*", "", rest)
    if probe.upper() == "NONE":
        return None
    probe = re.sub(r"^CMD\s+", "", probe, flags=re.IGNORECASE)
    return ["CMD", *json.loads(probe)] if probe.startswith("[") else ["CMD-SHELL", probe]


def image_defaults(build: dict[str, Any]) -> dict[str, Any]:
    """What the image a compose `build:` makes starts with: ENTRYPOINT, CMD, HEALTHCHECK (as a compose `test` list)
    and USER of the target stage (or the last), including what it inherits from earlier stages of the file. Docker
    expands build arguments in USER but not in exec-form commands, and neither is done differently here. What only
    the base image sets (nginx-unprivileged's user) is None."""
    text = re.sub(r"\\\n", " ", (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).read_text())
    build_args = {str(key): str(value) for key, value in (build.get("args") or {}).items()}
    named: dict[str, dict[str, Any]] = {}
    stage: dict[str, Any] = {}
    arguments: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            inherited = named.get(words[0], {"ENTRYPOINT": None, "CMD": None, "HEALTHCHECK": None, "USER": None})
            stage, arguments = dict(inherited), {}
            if len(words) == 3 and words[1].upper() == "AS":
                named[words[2]] = stage
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            arguments[name] = build_args.get(name, default.strip('"'))
        elif keyword == "ENTRYPOINT":
            stage["ENTRYPOINT"], stage["CMD"] = _command_form(rest), None  # a new ENTRYPOINT resets CMD
        elif keyword == "CMD":
            stage["CMD"] = _command_form(rest)
        elif keyword == "USER":
            stage["USER"] = re.sub(r"\$\{?(\w+)\}?", lambda m, known=arguments: known.get(m.group(1), m.group(0)), rest)
        elif keyword == "HEALTHCHECK":
            stage["HEALTHCHECK"] = _healthcheck_form(rest)
    return named[build["target"]] if "target" in build else stage


def test_image_defaults_reads_stages_targets_and_build_arguments(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim AS base\nARG UID=10001\nARG GID=10001\nUSER ${UID}:${GID}\n"
        'HEALTHCHECK --interval=10s \\\n  CMD ["python", "-c", "probe"]\nENTRYPOINT ["herald-x", "--port", "1"]\n'
        "FROM base AS worker\nCMD --verbose\n"
        "FROM nginx AS ui\nHEALTHCHECK CMD wget -qO- http://127.0.0.1/healthz || exit 1\n"
    )
    build = {"context": str(tmp_path), "args": {"UID": "20002"}}
    worker = image_defaults({**build, "target": "worker"})
    assert worker["ENTRYPOINT"] == ["herald-x", "--port", "1"]
    assert worker["CMD"] == ["/bin/sh", "-c", "--verbose"]
    assert worker["USER"] == "20002:10001"  # a build argument overrides its ARG's default
    assert worker["HEALTHCHECK"] == ["CMD", "python", "-c", "probe"]
    assert image_defaults({**build, "target": "base"})["CMD"] is None
    ui = image_defaults(build)
    assert ui["USER"] is None
    assert ui["ENTRYPOINT"] is None
    assert ui["HEALTHCHECK"] == ["CMD-SHELL", "wget -qO- http://127.0.0.1/healthz || exit 1"]


def as_list(value: Any) -> list[str] | None:
    """A compose entrypoint or command as the argument list it stands for (compose splits a string shell-like)."""
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def test_ecs_runs_every_long_running_herald_service_of_compose(
    template: dict[str, Any], compose: dict[str, Any]
) -> None:
    assert set(containers(template)) <= set(compose["services"])
    deployed = {repository(compose["services"][name]) for name in containers(template)}
    for name in long_running_herald_services(compose):
        assert repository(compose["services"][name]) in deployed, name


def repository(spec: dict[str, Any]) -> str:
    """`herald-campaign:dev` → `herald-campaign`."""
    return str(spec["image"]).rsplit(":", 1)[0]


def build_of(compose: dict[str, Any], name: str) -> dict[str, Any] | None:
    """How the service's image is built: its own `build:`, or that of another service running the same image."""
    spec = compose["services"][name]
    if "build" in spec:
        build: dict[str, Any] = spec["build"]
        return build
    for other in compose["services"].values():
        if other.get("image") == spec.get("image") and "build" in other:
            found: dict[str, Any] = other["build"]
            return found
    return None


def test_every_deployed_image_parameter_is_the_image_compose_runs(
    template: dict[str, Any], compose: dict[str, Any]
) -> None:
    """The dry run of deploy/deploy.sh shows which pushed image each task definition's parameter receives; it must be
    the repository compose runs for that service (`herald-campaign:dev` → `<registry>/herald-campaign:<tag>`)."""
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "HERALD_DEPLOY_DRY_RUN": "1"}
    environment |= {"AWS_REGION": "eu-west-1", "HERALD_DEPLOY_BUCKET": "b", "HERALD_DEPLOY_TAG": "t1"}
    environment |= {"HERALD_DEPLOY_REGISTRY": "registry.example"}
    for name, body in template["Parameters"].items():
        if "Default" not in body:
            environment["HERALD_DEPLOY_" + re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).upper()] = "x"
    result = subprocess.run(["bash", str(DEPLOY_SCRIPT)], capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    (deploy,) = [shlex.split(line[2:]) for line in result.stdout.splitlines() if "cloudformation deploy" in line]
    overrides = dict(item.split("=", 1) for item in deploy[deploy.index("--parameter-overrides") + 1 :])
    for name, container in containers(template).items():
        pushed = f"registry.example/{repository(compose['services'][name])}:t1"
        assert overrides[container["Image"]["Ref"]] == pushed, name


def runtime_differences(template: dict[str, Any], compose: dict[str, Any]) -> list[str]:
    """Where an ECS container would not run what its compose service runs: port, entrypoint, command, health check,
    user. Each side runs its own override or else the image's; ECS ignores an image's HEALTHCHECK, so the task
    definition must state the one compose runs."""
    found: list[str] = []
    for name, container in containers(template).items():
        spec = compose["services"][name]
        build = build_of(compose, name)
        image = image_defaults(build) if build else dict.fromkeys(("ENTRYPOINT", "CMD", "HEALTHCHECK", "USER"))
        ports = {int(str(entry).rsplit(":", 1)[1]) for entry in spec["ports"]}
        if ports != {mapping["ContainerPort"] for mapping in container["PortMappings"]}:
            found.append(f"{name}: port")
        for compose_key, ecs_key, image_key in (
            ("entrypoint", "EntryPoint", "ENTRYPOINT"),
            ("command", "Command", "CMD"),
        ):
            if (as_list(spec.get(compose_key)) or image[image_key]) != (container.get(ecs_key) or image[image_key]):
                found.append(f"{name}: {compose_key}")
        entrypoint = as_list(spec.get("entrypoint")) or image["ENTRYPOINT"] or []
        if "--port" in entrypoint and entrypoint[entrypoint.index("--port") + 1] not in {str(p) for p in ports}:
            found.append(f"{name}: the process listens elsewhere")
        if entrypoint and "$" in entrypoint[0]:
            found.append(f"{name}: Docker does not expand variables in an exec-form ENTRYPOINT")

        healthcheck = spec.get("healthcheck") or {}
        probe = healthcheck.get("test")
        in_compose = ["CMD-SHELL", probe] if isinstance(probe, str) else probe or image["HEALTHCHECK"]
        if healthcheck.get("disable") or not in_compose or container["HealthCheck"]["Command"] != in_compose:
            found.append(f"{name}: health check")

        users = {spec.get("user") or image["USER"], container.get("User") or image["USER"]}
        if len(users) != 1:
            found.append(f"{name}: user")
        elif any(user is not None and str(user).split(":")[0] in ("", "0", "root") for user in users):
            found.append(f"{name}: runs as root")
        elif name in SERVICES and users == {None}:  # the Python images set their unprivileged user themselves
            found.append(f"{name}: no user")
    return found


def test_task_definitions_run_what_compose_runs(template: dict[str, Any], compose: dict[str, Any]) -> None:
    assert runtime_differences(template, compose) == []


@pytest.mark.parametrize(
    ("service", "change", "difference"),
    [
        ("campaign", {"ports": ["127.0.0.1:8001:8011"]}, "campaign: port"),
        ("template", {"entrypoint": ["herald-template", "--port", "8002"]}, "template: entrypoint"),
        ("processor", {"command": "--workers 2"}, "processor: command"),
        ("analytics", {"healthcheck": {"test": "wget -qO- http://127.0.0.1:8003/readyz"}}, "analytics: health check"),
        ("ui", {"healthcheck": {"disable": True}}, "ui: health check"),
        ("campaign", {"user": "0"}, "campaign: user"),
    ],
)
def test_a_compose_service_drifting_from_its_task_definition_is_found(
    template: dict[str, Any], compose: dict[str, Any], service: str, change: dict[str, Any], difference: str
) -> None:
    drifted = copy.deepcopy(compose)
    drifted["services"][service] |= change
    assert difference in runtime_differences(template, drifted)


def test_a_task_definition_running_as_root_is_found_even_where_compose_agrees(
    template: dict[str, Any], compose: dict[str, Any]
) -> None:
    as_root = copy.deepcopy(template)
    containers(as_root)["processor"]["User"] = "root"
    assert "processor: user" in runtime_differences(as_root, compose)
    compose_as_root = copy.deepcopy(compose)
    compose_as_root["services"]["processor"]["user"] = "root"
    assert "processor: runs as root" in runtime_differences(as_root, compose_as_root)


def test_the_ui_task_serves_the_images_own_nginx_configuration_which_proxies_nothing(
    template: dict[str, Any], compose: dict[str, Any]
) -> None:
    """Compose mounts the gateway configuration over the dashboard image's; the ECS task runs the image's own, where
    the load balancer does the API routing and no `campaign`/`analytics` host name resolves (nginx would not start)."""
    mounts = [point["ContainerPath"] for point in containers(template)["ui"].get("MountPoints", [])]
    assert not [path for path in mounts if path.startswith("/etc/nginx")]
    build = build_of(compose, "ui")
    assert build is not None
    dockerfile = (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).read_text()
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+/etc/nginx/conf\.d/default\.conf\s*$", dockerfile, re.MULTILINE)
    assert copied, "the dashboard image installs its own nginx configuration"
    conf = (ROOT / build.get("context", ".") / copied[-1]).read_text()
    assert "proxy_pass" not in conf
    assert "/healthz" in conf


# --- IAM: each task role allows the calls its service's code makes ----------------------------------------------
BOTO_TO_IAM = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "transact_write_items": "dynamodb:UpdateItem",
    "transact_get_items": "dynamodb:GetItem",
    "describe_table": "dynamodb:DescribeTable",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "delete_object": "s3:DeleteObject",
    "delete_objects": "s3:DeleteObject",
    "head_bucket": "s3:ListBucket",
    "list_objects_v2": "s3:ListBucket",
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "receive_message": "sqs:ReceiveMessage",
    "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
    "get_queue_url": "sqs:GetQueueUrl",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "publish": "sns:Publish",
    "list_topics": "sns:ListTopics",
    "send_email": "ses:SendEmail",
    "send_raw_email": "ses:SendRawEmail",
    "get_send_quota": "ses:GetSendQuota",
    "get_account": "ses:GetAccount",
    "get_identity_verification_attributes": "ses:GetIdentityVerificationAttributes",
    "get_identity_dkim_attributes": "ses:GetIdentityDkimAttributes",
}
RESOURCE_OF_NAME: dict[str, str | tuple[str, ...]] = {
    "campaigns_table": "CampaignsTable",
    "ledger_table": "LedgerTable",
    "events_table": "EventsTable",
    "suppressions_table": "SuppressionsTable",
    "audit_table": "AuditTable",
    "idempotency_table": "IdempotencyTable",
    "webhooks_table": "WebhooksTable",
    "webhook_deliveries_table": "WebhookDeliveriesTable",
    "webhooks_queue": "WebhooksQueue",
    "email_jobs_queue": "EmailJobsNormalQueue",
    "email_jobs_queue_for": tuple(f"EmailJobs{p.capitalize()}Queue" for p in EMAIL_JOB_PRIORITIES),
    "email_jobs_queues": tuple(f"EmailJobs{p.capitalize()}Queue" for p in EMAIL_JOB_PRIORITIES),
    "ses_events_queue": "SesEventsQueue",
    "bucket": "DataBucket",
    "campaign_updates_topic": "CampaignUpdatesTopic",
    "configuration_set": "ConfigurationSet",
}


def _source(service: str) -> str:
    text = "\n".join(p.read_text() for p in (ROOT / "services" / service / "src").rglob("*.py"))
    if "herald_common.sqs" in text:  # the shared poller's calls are the service's calls
        text += (ROOT / "libs/common/src/herald_common/sqs.py").read_text()
    return text


def calls_made(source: str) -> set[str]:
    called = set(re.findall(r"\.([a-z_]+)\(", source)) | set(re.findall(r"get_paginator\(\s*\"([a-z_0-9]+)\"", source))
    return {BOTO_TO_IAM[name] for name in called if name in BOTO_TO_IAM}


def _allowed(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements = []
    for policy in props(template, role)["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                actions = statement["Action"]
                statements.append({**statement, "Action": [actions] if isinstance(actions, str) else list(actions)})
    return statements


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_task_role_allows_every_aws_call_of_its_service_on_the_resources_it_names(
    template: dict[str, Any], service: str
) -> None:
    source = _source(service)
    statements = _allowed(template, f"{service.capitalize()}TaskRole")
    allowed = {action for statement in statements for action in statement["Action"]}
    needed = calls_made(source)
    assert needed, "the scan found no AWS call"
    assert needed <= allowed, sorted(needed - allowed)
    for name in set(re.findall(r"(?:names|resources)\.([a-z_]+)", source)) & set(RESOURCE_OF_NAME):
        logical_ids = RESOURCE_OF_NAME[name]
        for logical_id in (logical_ids,) if isinstance(logical_ids, str) else logical_ids:
            assert any(logical_id in json.dumps(statement.get("Resource")) for statement in statements), (
                service,
                name,
                logical_id,
            )
    assert all("*" not in statement["Action"] and "dynamodb:*" not in statement["Action"] for statement in statements)


def test_the_call_scan_sees_a_call_it_does_not_allow() -> None:
    assert calls_made("await self._db.delete_item(TableName=t)") == {"dynamodb:DeleteItem"}
    assert calls_made('sns.get_paginator("list_topics")') == {"sns:ListTopics"}


def test_template_service_cannot_touch_dynamodb_queues_or_ses(template: dict[str, Any]) -> None:
    statements = _allowed(template, "TemplateTaskRole")
    actions = {a for s in statements for a in s["Action"]}
    assert {a.split(":")[0] for a in actions} == {"s3", "kms", "dynamodb"}
    # its one DynamoDB right: appending audit records of template saves
    assert [(s["Action"], s["Resource"]) for s in statements if "dynamodb:PutItem" in s["Action"]] == [
        (["dynamodb:PutItem"], {"Fn::GetAtt": ["AuditTable", "Arn"]})
    ]
    assert actions & {a for a in BOTO_TO_IAM.values() if a.startswith("dynamodb:")} == {"dynamodb:PutItem"}


@pytest.mark.parametrize("role", ["CampaignTaskRole", "TemplateTaskRole", "AnalyticsTaskRole", "ProcessorTaskRole"])
def test_no_role_can_alter_or_remove_an_audit_record(template: dict[str, Any], role: str) -> None:
    for statement in _allowed(template, role):
        if "AuditTable" in json.dumps(statement.get("Resource")) or statement.get("Resource") == "*":
            changes = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteTable"}
            assert not changes & set(statement["Action"]), (role, statement["Sid"])
            assert not any(a.startswith("dynamodb:") for a in statement["Action"]) or "AuditTable" in json.dumps(
                statement["Resource"]
            )


def test_tenant_read_role_is_confined_to_its_tenants_leading_keys(template: dict[str, Any]) -> None:
    for statement in _allowed(template, "TenantReadRole"):
        if any(action.startswith("dynamodb:") for action in statement["Action"]):
            condition = json.dumps(statement["Condition"])
            assert "dynamodb:LeadingKeys" in condition
            assert "${aws:PrincipalTag/herald-tenant}" in condition


# --- alarms -----------------------------------------------------------------------------------------------------
def test_the_flow_documents_four_alarms_exist_and_notify(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    names = {sub(body["Properties"]["AlarmName"]) for body in alarms.values()}
    assert {
        "${Prefix}-high-error-rate",
        "${Prefix}-queue-backup",
        "${Prefix}-ses-quota",
        "${Prefix}-processing-delays",
    } <= names
    for body in alarms.values():
        assert body["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    watched = {
        (
            metric["MetricStat"]["Metric"]["MetricName"],
            metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0],
        )
        for body in alarms.values()
        for metric in body["Properties"].get("Metrics", [])
        if "MetricStat" in metric and metric["MetricStat"]["Metric"]["Namespace"] == "AWS/SQS"
    }
    for priority in (p.capitalize() for p in EMAIL_JOB_PRIORITIES):
        assert {
            ("ApproximateNumberOfMessagesVisible", f"EmailJobs{priority}Queue"),
            ("ApproximateAgeOfOldestMessage", f"EmailJobs{priority}Queue"),
            ("ApproximateNumberOfMessagesVisible", f"EmailJobs{priority}DeadLetterQueue"),
        } <= watched


def test_error_rate_alarm_counts_the_processors_failure_log_lines(template: dict[str, Any]) -> None:
    metric_filter = props(template, "SendFailuresMetricFilter")
    assert metric_filter["LogGroupName"] == {"Ref": "ProcessorLogGroup"}
    event = re.search(r'\$\.event = "([^"]+)"', metric_filter["FilterPattern"])
    assert event is not None
    assert f'"{event.group(1)}"' in _source("processor")  # the processor really logs this event name


def test_unrouted_paths_answer_with_specs_error_body(template: dict[str, Any]) -> None:
    (action,) = props(template, "Listener")["DefaultActions"]
    body = json.loads(action["FixedResponseConfig"]["MessageBody"])
    assert set(body) == {"error", "detail"}
    assert action["FixedResponseConfig"]["StatusCode"] == "404"


DASHBOARD_PATHS = ("/", "/sign-in", "/dashboard", "/dashboard/campaigns/camp_x1", "/main-ABC123.js", "/styles-X.css")


def test_dashboard_pages_and_bundles_reach_the_ui_service_after_every_api_rule(template: dict[str, Any]) -> None:
    (ui,) = props(template, "UiService")["LoadBalancers"]
    assert ui["ContainerPort"] == 8080
    for path in DASHBOARD_PATHS:
        assert _route(template, "GET", path) == ui["TargetGroupArn"]["Ref"], path
    api_priorities = [
        int(props(template, rule)["Priority"])
        for rule in ("AnalyticsRule", "AnalyticsRecipientsRule", "CampaignRule", "TemplateRule")
    ]
    assert all(int(props(template, rule)["Priority"]) > max(api_priorities) for rule in ("UiPagesRule", "UiAssetsRule"))
    (container,) = props(template, "UiTaskDefinition")["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "UiImage"}
    assert "8080/healthz" in " ".join(container["HealthCheck"]["Command"])
    assert _route(template, "GET", "/metrics") is None  # still the listener's JSON 404


# --- Sign-in for people: the Cognito user pool, the dashboard's client and config, the services' verifier --------
def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container["Environment"] if isinstance(e, dict) and "Name" in e}


def _if(value: Any, condition: str = "UseCognito") -> tuple[Any, Any]:
    """The (true, false) branches of an `!If [condition, …]`."""
    assert isinstance(value, dict), value
    assert "Fn::If" in value, value
    name, when_true, when_false = value["Fn::If"]
    assert name == condition
    return when_true, when_false


def _sub_text(value: Any) -> str:
    """The text of a `!Sub`, in its short form or as the first item of its list form."""
    text = value["Fn::Sub"]
    return text if isinstance(text, str) else text[0]


def test_user_pool_groups_are_herald_roles_and_the_tenant_is_a_custom_attribute(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::Cognito::UserPoolGroup")
    assert {body["Properties"]["GroupName"] for body in groups.values()} == {"admin", "marketer", "viewer"}
    assert all(body["Properties"]["UserPoolId"] == {"Ref": "UserPool"} for body in groups.values())
    pool = props(template, "UserPool")
    (attribute,) = pool["Schema"]
    # Cognito names it custom:tenant_id in tokens: what the services read (HERALD_JWT_TENANT_CLAIM below).
    assert (attribute["Name"], attribute["AttributeDataType"]) == ("tenant_id", "String")
    assert int(attribute["StringAttributeConstraints"]["MaxLength"]) <= 64  # the services' tenant id limit
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props(template, "CognitoDomain")["UserPoolId"] == {"Ref": "UserPool"}


def test_dashboard_client_is_a_public_code_flow_client_on_the_dashboard_url(template: dict[str, Any]) -> None:
    client = props(template, "DashboardClient")
    assert client["GenerateSecret"] is False  # a browser cannot keep a secret: PKCE protects the code
    assert client["AllowedOAuthFlows"] == ["code"]
    assert "openid" in client["AllowedOAuthScopes"]
    assert "custom:tenant_id" not in client["WriteAttributes"]  # a person must not move to another tenant
    assert "custom:tenant_id" in client["ReadAttributes"]
    dashboard = _sub_text(template["Outputs"]["DashboardUrl"]["Value"])
    origin = dashboard.removesuffix("/dashboard")
    assert origin != dashboard
    assert [_sub_text(u) for u in client["CallbackURLs"]] == [f"{origin}/sign-in/callback"]
    assert [_sub_text(u) for u in client["LogoutURLs"]] == [f"{origin}/sign-in"]


def test_sign_in_callback_and_runtime_config_reach_the_ui_service(template: dict[str, Any]) -> None:
    (ui,) = props(template, "UiService")["LoadBalancers"]
    for path in ("/sign-in/callback", "/config.json"):
        assert _route(template, "GET", path) == ui["TargetGroupArn"]["Ref"], path


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_verify_the_chosen_providers_tokens_with_its_claim_names(
    template: dict[str, Any], service: str
) -> None:
    (container,) = props(template, f"{service.capitalize()}TaskDefinition")["ContainerDefinitions"]
    environment = _env(container)
    issuer_cognito, issuer_external = _if(environment["HERALD_JWT_ISSUER"])
    assert issuer_external == {"Ref": "JwtIssuer"}
    assert _if(template["Outputs"]["OidcIssuer"]["Value"])[0] == issuer_cognito
    assert _if(environment["HERALD_JWT_AUDIENCE"]) == ({"Ref": "DashboardClient"}, {"Ref": "JwtAudience"})
    assert _if(environment["HERALD_JWT_TENANT_CLAIM"]) == ("custom:tenant_id", {"Ref": "ExternalTenantClaim"})
    assert _if(environment["HERALD_JWT_ROLES_CLAIM"]) == ("cognito:groups", {"Ref": "ExternalRolesClaim"})
    (jwks,) = [e for e in container["Environment"] if "Fn::If" in e]
    cognito_jwks, external_jwks = _if(jwks)
    assert cognito_jwks["Name"] == "HERALD_JWKS_URL"
    assert _sub_text(cognito_jwks["Value"]) == _sub_text(issuer_cognito) + "/.well-known/jwks.json"
    assert external_jwks["Fn::If"][0] == "HasJwksUrl"


def test_the_ui_task_serves_the_config_the_outputs_describe(template: dict[str, Any]) -> None:
    (container,) = props(template, "UiTaskDefinition")["ContainerDefinitions"]
    environment = _env(container)
    assert environment["HERALD_ENV"] == "prod"  # the image then never offers token paste
    assert environment["HERALD_UI_OIDC_ISSUER"] == template["Outputs"]["OidcIssuer"]["Value"]
    assert environment["HERALD_UI_OIDC_CLIENT_ID"] == template["Outputs"]["DashboardClientId"]["Value"]
    (campaign,) = props(template, "CampaignTaskDefinition")["ContainerDefinitions"]
    # The dashboard reads the tenant and roles from the same claims the services verify.
    assert environment["HERALD_UI_TENANT_CLAIM"] == _env(campaign)["HERALD_JWT_TENANT_CLAIM"]
    assert environment["HERALD_UI_ROLES_CLAIM"] == _env(campaign)["HERALD_JWT_ROLES_CLAIM"]
    # Cognito's access tokens carry no custom attribute: the APIs get the ID token, whose `aud` is the client.
    assert _if(environment["HERALD_UI_API_TOKEN"])[0] == "id_token"
    sign_out = _sub_text(_if(environment["HERALD_UI_SIGN_OUT_URL"])[0])
    assert sign_out.startswith("https://${CognitoDomain}.auth.${AWS::Region}.amazoncognito.com/logout?")
    assert "client_id=${DashboardClient}" in sign_out


def test_dashboard_config_output_has_the_shape_the_dashboard_reads(template: dict[str, Any]) -> None:
    script = ROOT / "ui" / "docker" / "40-herald-config.sh"
    written = subprocess.run(
        ["sh", str(script)],
        env={"PATH": "/usr/bin:/bin", "HERALD_UI_CONFIG_PATH": "/dev/stdout", "HERALD_UI_OIDC_ISSUER": "i"}
        | {"HERALD_UI_OIDC_CLIENT_ID": "c"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    image_config = json.loads(written[: written.rindex("}") + 1])
    for branch in _if(template["Outputs"]["DashboardConfig"]["Value"]):
        text = re.sub(r"\$\{[^}]+\}", "x", _sub_text(branch))
        output_config = json.loads(text)
        assert output_config.keys() == image_config.keys()
        assert output_config["oidc"].keys() == image_config["oidc"].keys()
        assert output_config["tokenSignIn"] is False
