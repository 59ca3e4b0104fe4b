"""`copilot serve ...`: run a chat platform adapter (each platform adds its command here)."""

from __future__ import annotations

import typer

__all__ = ["serve_app"]

serve_app = typer.Typer(help="Run the copilot for a chat platform.", no_args_is_help=True)


@serve_app.command("wecom")
def serve_wecom(
    host: str = typer.Option("0.0.0.0", help="Interface to listen on."),
    port: int = typer.Option(8090, help="Port of the callback server."),
) -> None:
    """Run the WeCom (企业微信) callback server at /wecom/callback, with the job workers."""
    import uvicorn

    from bot.cli.common import cli_errors, get_app, warm_up_in_background
    from bot.infra.jobs import Worker
    from integrations.wecom import CALLBACK_PATH, WeComAdapter

    @cli_errors
    def run() -> None:
        app = get_app()
        adapter = WeComAdapter(app)
        worker = Worker(app.jobs, threads=app.settings.job_workers, nice=app.settings.job_worker_nice).start()
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
    from bot.infra.jobs import Worker
    from integrations.slack import SlackAdapter

    @cli_errors
    def run() -> None:
        app = get_app()
        adapter = SlackAdapter(app)
        worker = Worker(app.jobs, threads=app.settings.job_workers, nice=app.settings.job_worker_nice).start()
        warm_up_in_background(app, nice=app.settings.job_worker_nice)
        try:
            if socket:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                if app.settings.slack_app_token is None:
                    raise ConfigurationError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write).")
                SocketModeHandler(adapter.bolt, app.settings.slack_app_token.get_secret_value()).start()
            else:
                import uvicorn

                typer.echo(f"Slack events endpoint: http://{host}:{port}/slack/events")
                uvicorn.run(adapter.asgi(), host=host, port=port, log_level="warning")
        finally:
            worker.stop()

    run()
