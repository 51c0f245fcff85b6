"""The dashboard's one origin: the routing table (ui/gateway/routes.mjs, used by the Angular dev server and the test
gateway) and nginx's gateway configuration (deploy/nginx/herald-ui.conf, docker-compose) send every real route of
every service to that service, and the dashboard's own pages to the app. The load balancer's rules are checked the
same way in test_cloudformation.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
ROUTES_MODULE = ROOT / "ui" / "gateway" / "routes.mjs"
NGINX_GATEWAY = ROOT / "deploy" / "nginx" / "herald-ui.conf"
NGINX_STATIC = ROOT / "deploy" / "nginx" / "herald-ui-static.conf"
UPSTREAM_PORTS = {"campaign": 8001, "template": 8002, "analytics": 8003}
DASHBOARD_PATHS = ("/", "/sign-in", "/dashboard", "/dashboard/campaigns/camp_x1", "/main-ABC123.js", "/favicon.ico")


def _service_routes() -> list[tuple[str, str, str]]:
    """(service, method, path) for every operation of the three routed services, path parameters filled in."""
    from herald_analytics.app import create_app as analytics_app
    from herald_campaign.app import create_app as campaign_app
    from herald_template.app import create_app as template_app

    routes = []
    for service, factory in (("campaign", campaign_app), ("template", template_app), ("analytics", analytics_app)):
        for path, operations in factory().openapi()["paths"].items():
            if path in ("/healthz", "/readyz", "/metrics"):
                continue  # operations endpoints are not published on the dashboard's origin
            for method in operations:
                routes.append((service, method.upper(), re.sub(r"\{[^}]+\}", "x1", path)))
    return routes


@pytest.fixture(scope="module")
def service_routes() -> list[tuple[str, str, str]]:
    routes = _service_routes()
    assert {service for service, _, _ in routes} == set(UPSTREAM_PORTS)
    return routes


def _routing_table(requests: list[tuple[str, str]]) -> list[str | None]:
    node = shutil.which("node")
    assert node, "node is needed for the dashboard (see .ci/run)"
    script = (
        f"import({json.dumps(ROUTES_MODULE.as_uri())}).then(({{ serviceFor }}) => "
        "console.log(JSON.stringify(JSON.parse(process.argv[1]).map(([m, p]) => serviceFor(m, p)))))"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(requests)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: list[str | None] = json.loads(out.stdout)
    return answer


def test_the_routing_table_sends_every_service_route_to_its_service(service_routes: list[tuple[str, str, str]]) -> None:
    requests = [(method, path) for _, method, path in service_routes]
    assert _routing_table(requests) == [service for service, _, _ in service_routes]


def test_the_routing_table_leaves_the_dashboard_pages_and_operations_endpoints_alone() -> None:
    paths = [*DASHBOARD_PATHS, "/metrics", "/healthz", "/_emulator/reset"]
    assert _routing_table([("GET", path) for path in paths]) == [None] * len(paths)


# --- nginx ---------------------------------------------------------------------------------------------------------
@dataclass
class Location:
    modifier: str  # "", "=", "^~", "~", "~*" or "@" (a named location)
    pattern: str
    body: str


def _locations(conf: str) -> list[Location]:
    """The `location` blocks of the file, in order (their bodies hold no nested location)."""
    found = []
    for match in re.finditer(r"location\s+(=|\^~|~\*|~)?\s*(\S+)\s*\{", conf):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(conf[i], 0)
            i += 1
        pattern = match.group(2)
        modifier = "@" if pattern.startswith("@") else (match.group(1) or "")
        found.append(Location(modifier, pattern, conf[match.end() : i - 1]))
    return found


def _select(locations: list[Location], path: str) -> Location:
    """nginx's choice: an exact match; else the longest prefix, unless a regex (in file order) matches and that
    prefix is not `^~`."""
    for loc in locations:
        if loc.modifier == "=" and loc.pattern == path:
            return loc
    prefixes = [loc for loc in locations if loc.modifier in ("", "^~") and path.startswith(loc.pattern)]
    longest = max(prefixes, key=lambda loc: len(loc.pattern), default=None)
    if longest is not None and longest.modifier == "^~":
        return longest
    for loc in locations:
        flags = re.IGNORECASE if loc.modifier == "~*" else 0
        if loc.modifier in ("~", "~*") and re.search(loc.pattern, path, flags):
            return loc
    assert longest is not None, path
    return longest


def _nginx_route(locations: list[Location], method: str, path: str) -> str | None:
    """The upstream nginx proxies `method path` to, or None when it serves the dashboard's files."""
    loc = _select(locations, path)
    body = loc.body
    guard = re.search(r"if \(\$request_method !~ \^\(([A-Z|]+)\)\$\)", body)
    if guard and method not in guard.group(1).split("|"):
        named = re.search(r"error_page 418 = (@\w+);", body)
        assert named is not None, loc.pattern
        body = next(other.body for other in locations if other.pattern == named.group(1))
    upstream = re.search(r"proxy_pass http://(\w+);", body)
    return upstream.group(1) if upstream else None


def test_nginx_gateway_sends_every_service_route_to_its_service(service_routes: list[tuple[str, str, str]]) -> None:
    conf = NGINX_GATEWAY.read_text()
    locations = _locations(conf)
    for service, method, path in service_routes:
        assert _nginx_route(locations, method, path) == service, (service, method, path)
    for path in DASHBOARD_PATHS:
        assert _nginx_route(locations, "GET", path) is None, path
    for name, port in UPSTREAM_PORTS.items():
        assert re.search(rf"upstream {name}\s*\{{\s*server {name}:{port};", conf), name


def test_nginx_streams_the_statistics_unbuffered() -> None:
    locations = _locations(NGINX_GATEWAY.read_text())
    stream = _select(locations, "/campaigns/camp_x1/stream")
    assert "proxy_buffering off;" in stream.body
    assert re.search(r"proxy_read_timeout\s+\d+[hm];", stream.body)


def test_the_dashboard_image_alone_serves_only_the_app() -> None:
    """Behind the load balancer the image's own configuration proxies nothing; pages fall back to index.html."""
    conf = NGINX_STATIC.read_text()
    assert "proxy_pass" not in conf
    locations = _locations(conf)
    assert "try_files $uri /index.html;" in _select(locations, "/dashboard/campaigns/camp_x1").body
    assert "return 200" in _select(locations, "/healthz").body


def test_the_nginx_check_sees_a_misrouted_upload() -> None:
    """Without the method guard, POST …/recipients (the campaign service's upload) would reach analytics."""
    conf = NGINX_GATEWAY.read_text()
    broken = re.sub(r"if \(\$request_method[^}]+\}", "", conf, count=1)
    assert broken != conf
    locations = _locations(broken)
    assert _nginx_route(locations, "POST", "/campaigns/camp_x1/recipients") == "analytics"
    assert _nginx_route(_locations(conf), "POST", "/campaigns/camp_x1/recipients") == "campaign"
