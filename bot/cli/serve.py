"""`copilot serve ...`: run a chat platform adapter (each platform adds its command here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from bot.app import App
    from bot.infra.jobs import Worker

__all__ = ["serve_app", "start_worker"]

serve_app = typer.Typer(help="Run the copilot for a chat platform.", no_args_is_help=True)


def start_worker(app: App) -> Worker:
    """Start this process's job workers on the app's queue (niced: webhooks keep the CPU)."""
    from bot.infra.jobs import Worker

    settings = app.settings
    return Worker(app.jobs, threads=settings.job_workers, nice=settings.job_worker_nice).start()


@serve_app.command("wecom")
def serve_wecom(
    host: str = typer.Option("0.0.0.0", help="Interface to listen on."),
    port: int = typer.Option(8090, help="Port of the callback server."),
) -> None:
    """Run the WeCom (企业微信) callback server at /wecom/callback, with the job workers."""
    import uvicorn

    from bot.cli.common import cli_errors, get_app, warm_up_in_background
    from integrations.wecom import CALLBACK_PATH, WeComAdapter

    @cli_errors
    def run() -> None:
        app = get_app()
        adapter = WeComAdapter(app.settings, app.jobs, app.copilot)
        worker = start_worker(app)
        warm_up_in_background(app, nice=app.settings.job_worker_nice)
        typer.echo(f"WeCom callback URL path: {CALLBACK_PATH} on port {port}")
        try:
            uvicorn.run(adapter.asgi(), host=host, port=port, log_level="warning")
        finally:
            worker.stop()

    run()


@serve_app.command("slack")
def serve_slack(
    socket: bool = typer.Option(False, "--socket", help="Socket Mode (no public URL; needs SLACK_APP_TOKEN)."),
    host: str = typer.Option("0.0.0.0", help="Interface to listen on (HTTP mode)."),
    port: int = typer.Option(3000, help="Port of the events endpoint /slack/events (HTTP mode)."),
) -> None:
    """Run the Slack bot: HTTP events endpoint (replicas behind a load balancer) or Socket Mode."""
    from bot.cli.common import cli_errors, get_app, warm_up_in_background
    from bot.core.errors import ConfigurationError
    from integrations.slack import EVENTS_PATH, SlackAdapter

    @cli_errors
    def run() -> None:
        app = get_app()
        settings = app.settings
        socket_token: str | None = None
        if socket:
            if settings.slack_app_token is None:
                raise ConfigurationError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write).")
            socket_token = settings.slack_app_token.get_secret_value()
        adapter = SlackAdapter(settings, app.db.session, app.jobs, app.copilot)
        worker = start_worker(app)
        warm_up_in_background(app, nice=settings.job_worker_nice)
        try:
            if socket_token is not None:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                SocketModeHandler(adapter.bolt, socket_token).start()
            else:
                import uvicorn

                typer.echo(f"Slack events endpoint: http://{host}:{port}{EVENTS_PATH}")
                uvicorn.run(adapter.asgi(), host=host, port=port, log_level="warning")
        finally:
            worker.stop()

    run()
