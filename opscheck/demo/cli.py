"""The ``opscheck demo`` command group."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from opscheck.demo import configfile, faults
from opscheck.demo.layout import DEFAULT_DIR
from opscheck.demo.stack import DemoStack, UpResult
from opscheck.errors import DemoError

F = TypeVar("F", bound=Callable[..., Any])

_FAULT_HELP = "\n".join(
    f"  {fault.name}: {fault.help}" for fault in faults.REGISTRY.values()
)

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Demo folder: compose file, .env, backups, nginx logs and state.",
)
config_option = click.option(
    "--config-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=configfile.DEFAULT_PATH,
    show_default=True,
    help="Where to write the opscheck config that points at the stack.",
)
break_option = click.option(
    "--break",
    "breaks",
    multiple=True,
    type=click.Choice(sorted(faults.REGISTRY)),
    metavar="FAULT",
    help="Fault to inject (repeatable); see the list above.",
)


def _demo_errors(function: F) -> F:
    """Turn a DemoError into one line on stderr and exit status 1, with no traceback."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DemoError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _report_up(result: UpResult) -> None:
    if result.imported_images:
        click.echo(f"imported images: {', '.join(result.imported_images)}")
    ports = ", ".join(f"{name} {port}" for name, port in result.ports.items())
    click.echo(f"stack taskmanagement is up on 127.0.0.1 ({ports})")
    for note in result.notes:
        click.echo(note)
    if result.faults:
        click.echo(f"faults applied: {', '.join(result.faults)}")
    else:
        click.echo("no faults applied; every service is healthy")
    click.echo(f"wrote {result.config_path} in {result.duration_s:.1f} s")
    click.echo(f"run a suite with: opscheck daily --config {result.config_path}")


@click.group(
    invoke_without_command=True,
    help="Start the bundled demo stack and run the daily suite on it.\n\n"
    "Without a subcommand: 'demo up', then 'opscheck daily' against the written "
    "config, exiting with the suite's status.",
)
@dir_option
@config_option
@click.pass_context
@_demo_errors
def demo(ctx: click.Context, directory: Path, config_out: Path) -> None:
    """Start the demo stack, then run the daily suite on it."""
    if ctx.invoked_subcommand is not None:
        return
    result = DemoStack(directory, config_path=config_out).up()
    _report_up(result)

    daily = ctx.find_root().command
    command = (
        daily.get_command(ctx, "daily") if isinstance(daily, click.Group) else None
    )
    if command is None:
        raise DemoError("the opscheck command has no 'daily' suite to run on the demo")
    status = ctx.invoke(command, config=str(result.config_path))
    ctx.exit(status if isinstance(status, int) else 0)


@demo.command(
    help="Build missing images, start the stack healthy and apply faults.\n\n"
    "Clears every fault that is not named, so 'demo up' alone heals the "
    "stack.\n\nOne demo stack runs on a Docker engine at a time, from one folder. "
    "When another folder started it, 'demo up' changes nothing and stops with the "
    "command that takes it down ('opscheck demo down --dir OTHER'). The database "
    "always takes the password of this folder's .env, also when its volume was "
    f"initialised with another one.\n\nFaults:\n\n\b\n{_FAULT_HELP}",
)
@dir_option
@config_option
@break_option
@_demo_errors
def up(directory: Path, config_out: Path, breaks: tuple[str, ...]) -> None:
    """Start the demo stack and apply faults."""
    result = DemoStack(directory, config_path=config_out).up(list(breaks))
    _report_up(result)


@demo.command(
    help="Stop and remove the containers and volumes; keep the images.\n\n"
    "Refuses, naming the right --dir, when another folder started the stack."
)
@dir_option
@_demo_errors
def down(directory: Path) -> None:
    """Stop the demo stack."""
    DemoStack(directory).down()
    click.echo("stack taskmanagement is down; its containers and volumes are removed")


@demo.command(help="Show each service's state and health, and the active faults.")
@dir_option
@_demo_errors
def status(directory: Path) -> None:
    """Show the demo stack's status."""
    stack = DemoStack(directory)
    for service in stack.status():
        state = (
            service.state
            if service.health is None
            else f"{service.state} ({service.health})"
        )
        click.echo(f"{service.service:<10} {service.container or '-':<28} {state}")
    record = stack.fault_record()
    if record.folder != stack.demo.root:
        click.echo(f"started from {record.folder}")
    if record.faults is None:
        click.echo(
            f"faults: unknown here; they are recorded in {record.folder} "
            f"({record.problem})"
        )
    else:
        click.echo(f"faults: {', '.join(record.faults) if record.faults else 'none'}")
