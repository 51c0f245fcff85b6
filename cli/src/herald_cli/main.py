"""`herald`: the command-line client (`herald token`, `herald dev`, `herald demo`)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from herald_cli.client import HeraldApiError, HeraldClient, ServiceUrls
from herald_cli.demo import DemoOptions, expectation_table, run_demo, stats_table
from herald_cli.demo_data import MIN_RECIPIENTS
from herald_cli.dev_oidc import DEFAULT_PORT as DEV_OIDC_PORT
from herald_cli.dev_oidc import DevIdentityProvider, DevIdentityProviderError
from herald_cli.stack import DevStack, StackError, stack_is_up
from herald_common.auth import Role, mint_token
from herald_common.settings import HeraldSettings

app = typer.Typer(
    help="Herald: the email campaign platform's command-line client.", no_args_is_help=True, add_completion=False
)
console = Console()
LOG_DIR = Path(".herald") / "logs"
DEMO_TENANT = "acme"


def _interrupt(_signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    # SIGTERM (a supervisor, `kill`) stops the stack as Ctrl-C does. SIGINT is set explicitly because a shell
    # starting us in the background (`herald dev &`) leaves it ignored, and `kill -INT` should still work.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="the tenant_id claim")] = DEMO_TENANT,
    role: Annotated[list[Role] | None, typer.Option(help="a role claim (repeatable)")] = None,
    ttl: Annotated[int, typer.Option(help="seconds until it expires")] = 12 * 3600,
    subject: Annotated[str, typer.Option(help="the sub claim")] = "dev-user",
) -> None:
    """Print a dev JWT signed with HERALD_JWT_SECRET (the dev secret unless set)."""
    roles = [r.value for r in (role or [Role.MARKETER])]
    typer.echo(mint_token(HeraldSettings(), tenant_id=tenant, roles=roles, subject=subject, ttl_seconds=ttl))


def _urls_table(stack: DevStack) -> Table:
    table = Table(title="Herald dev stack", show_header=False)
    for name in ("emulator", "campaign", "template", "analytics", "processor"):
        table.add_row(name, getattr(stack.urls, name), str(stack.log_path(name)))
    return table


def _users_table(idp: DevIdentityProvider) -> Table:
    table = Table(title=f"Sign in at the dashboard (make ui) through {idp.issuer}  [dev passwords]")
    for column in ("email", "password", "tenant", "role"):
        table.add_column(column)
    for user in idp.users:
        table.add_row(user.email, user.password, user.tenant, user.role)
    return table


def _start_identity_provider(port: int, ui_port: int) -> DevIdentityProvider | None:
    """The dev OIDC provider, or None (with the reason printed) when it cannot run: token sign-in still works."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    dashboards = [f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"]
    try:
        return DevIdentityProvider(port=port, dashboards=dashboards, log_path=LOG_DIR / "dev-oidc.log").start()
    except DevIdentityProviderError as exc:
        console.print(f"[yellow]no identity provider: {exc}; sign in with the token below[/]")
        return None


@app.command()
def dev(
    prefix: Annotated[str, typer.Option(help="resource prefix")] = "herald",
    idp_port: Annotated[int, typer.Option(help="port of the development OIDC provider")] = DEV_OIDC_PORT,
    idp: Annotated[bool, typer.Option(help="start the development OIDC provider")] = True,
    ui_port: Annotated[int, typer.Option(help="port of the dashboard that signs in there (make ui)")] = 4200,
) -> None:
    """Start the emulator, the four services and the dev OIDC provider on their default ports; Ctrl-C stops all."""
    provider = _start_identity_provider(idp_port, ui_port) if idp else None
    stack = DevStack(prefix=prefix, log_dir=LOG_DIR, env=provider.service_env() if provider else None)
    _stop_on_signals()
    console.print("starting the Herald stack …")
    try:
        stack.start()
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        if provider:
            provider.stop()
        raise typer.Exit(1) from exc
    try:
        console.print(_urls_table(stack))
        if provider:
            console.print(_users_table(provider))
        console.print(f"dev token for scripts and token sign-in (tenant {DEMO_TENANT}, admin):")
        typer.echo(stack.token(DEMO_TENANT, "admin", ttl_seconds=12 * 3600))  # unwrapped: it is copied whole
        console.print("[dim]Ctrl-C stops everything[/]")
        reported: set[str] = set()
        while True:
            time.sleep(1)
            for name in ("emulator", "campaign", "template", "analytics", "processor"):
                if name not in reported and not stack.is_running(name):
                    reported.add(name)
                    console.print(f"[red]{name} exited[/] (see {stack.log_path(name)})")
            if provider and "idp" not in reported and not provider.running():
                reported.add("idp")
                console.print(f"[red]the identity provider exited[/] (see {LOG_DIR / 'dev-oidc.log'})")
    except KeyboardInterrupt:
        console.print("stopping …")
    finally:
        stack.stop()
        if provider:
            provider.stop()


@app.command()
def demo(
    recipients: Annotated[int, typer.Option(min=MIN_RECIPIENTS, help="rows in the demo's recipient list")] = 1000,
    campaign_url: Annotated[str | None, typer.Option(help="use the stack whose campaign service is here")] = None,
    template_url: Annotated[str | None, typer.Option(help="its template service")] = None,
    analytics_url: Annotated[str | None, typer.Option(help="its analytics service")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the send to settle")] = 150.0,
    emails_per_minute: Annotated[int | None, typer.Option(help="campaign throttle (default: the service's)")] = None,
    strict: Annotated[bool, typer.Option(help="exit 1 when a counter differs from the expectation")] = False,
) -> None:
    """Send a 1,000-recipient campaign through the whole stack, watch it live, print its statistics."""
    _stop_on_signals()
    defaults = ServiceUrls.defaults()
    stack: DevStack | None = None
    if stack_is_up(campaign_url or defaults.campaign):
        urls = ServiceUrls(
            emulator=defaults.emulator,
            campaign=(campaign_url or defaults.campaign).rstrip("/"),
            template=(template_url or defaults.template).rstrip("/"),
            analytics=(analytics_url or defaults.analytics).rstrip("/"),
            processor=defaults.processor,
        )
        console.print(f"using the stack at {urls.campaign}")
    elif campaign_url is not None:
        console.print(f"[red]no Herald campaign service answers at {campaign_url}[/]")
        raise typer.Exit(1)
    else:
        stack = DevStack(log_dir=LOG_DIR)
        console.print(f"starting the Herald stack (logs in {LOG_DIR}) …")
        try:
            stack.start()
        except StackError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
        urls = stack.urls
    try:
        code = _run_demo(
            urls, DemoOptions(recipients=recipients, timeout=timeout, emails_per_minute=emails_per_minute), strict
        )
    except KeyboardInterrupt:
        console.print("interrupted")
        code = 130
    finally:
        if stack is not None:
            console.print("stopping the stack it started …")
            stack.stop()
    raise typer.Exit(code)


def _run_demo(urls: ServiceUrls, options: DemoOptions, strict: bool) -> int:
    token = mint_token(
        HeraldSettings(), tenant_id=DEMO_TENANT, roles=["admin"], subject="herald-demo", ttl_seconds=3600
    )
    with HeraldClient(urls, token) as client:
        try:
            result = run_demo(client, console, options)
        except (HeraldApiError, httpx.HTTPError) as exc:
            console.print(f"[red]the demo failed: {exc}[/]")
            return 1
    console.print(stats_table(result))
    console.print(expectation_table(result))
    if not result.settled:
        status = result.stats.get("status", "unknown")
        console.print(f"[red]the campaign did not settle within {options.timeout:.0f} s (status {status})[/]")
        return 1
    mismatches = result.mismatches()
    console.print(
        f"settled in {result.elapsed:.1f} s; {len(mismatches) or 'no'} counter(s) differ from the expectation"
    )
    return 1 if strict and mismatches else 0


if __name__ == "__main__":
    app()
