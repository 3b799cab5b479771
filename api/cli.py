"""The `creditmeter` command: serve, migrate, seed, api-key create, export-schema."""

from __future__ import annotations

import argparse
import os
import sys

from domain import services
from domain.model import Role


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="creditmeter", description="GraphQL billing for AI calls.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the GraphQL API (GraphiQL at /graphql)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")

    commands.add_parser("migrate", help="bring the database schema to the latest revision")
    commands.add_parser("seed", help="load the catalogue, operations and settings (idempotent)")
    commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")

    api_key = commands.add_parser("api-key", help="manage API keys")
    key_commands = api_key.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser("create", help="create a key; its secret is the last line printed")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[role.value.lower() for role in Role])
    create.add_argument("--account", default=None, help="the account an ACCOUNT key belongs to")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        from persistence.engine import database_url
        from persistence.migrate import upgrade

        upgrade(database_url())
        print("database is at the latest revision")
        return 0
    if args.command == "seed":
        return _seed()
    if args.command == "export-schema":
        from api.schema import schema

        sys.stdout.write(schema.as_str() + "\n")
        return 0
    return _create_key(args.name, Role(args.role.upper()), args.account)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1:
        # A revocation empties only its own worker's key cache: with several workers, every
        # request looks its key up unless the operator chose a cache time.
        os.environ.setdefault("CREDITMETER_KEY_CACHE_SECONDS", "0")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        http="httptools",
        loop="uvloop",
        log_level="info",
    )
    return 0


def _factory():  # type: ignore[no-untyped-def]
    from persistence.engine import make_engine
    from persistence.unit_of_work import SqlUnitOfWorkFactory

    return SqlUnitOfWorkFactory(make_engine(pool_size=2))


def _seed() -> int:
    from api.context import SystemClock
    from api.seed import seed

    factory = _factory()
    try:
        report = seed(factory, SystemClock())
        print(report.summary())
        if report.admin_secret:
            print(
                "\nNo API key existed, so a local ADMIN key was created. It is shown ONCE; keep it.\n"
                "In GraphiQL (http://127.0.0.1:8000/graphql) open Headers and paste:\n"
                f'  {{"Authorization": "Bearer {report.admin_secret}"}}\n'
                "ADMIN secret:"
            )
            print(report.admin_secret)
    finally:
        factory.engine.dispose()
    return 0


def _create_key(name: str, role: Role, account_id: str | None) -> int:
    from api.context import SystemClock
    from domain.errors import BillingError

    factory = _factory()
    try:
        key, secret = services.create_api_key(factory(), SystemClock(), name, role, account_id)
    except BillingError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    finally:
        factory.engine.dispose()
    print(f"created {key.role.value} key {key.id} ({key.name}); the secret is shown once:")
    print(secret)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
