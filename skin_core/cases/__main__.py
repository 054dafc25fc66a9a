"""Case-history administration: users, migrations, backups.

    python -m skin_core.cases add-user lan --role doctor        # asks for the password twice
    python -m skin_core.cases add-user admin --role admin --password-stdin < password.txt
    python -m skin_core.cases set-password lan
    python -m skin_core.cases list-users
    python -m skin_core.cases upgrade                            # migrate the database to this version
    python -m skin_core.cases backup backups/cases-2026-11-26.db # SQLite only; PostgreSQL: pg_dump

The database is --database, else SKIN_CASES_DATABASE, else ``[cases] database`` in .streamlit/secrets.toml.
"""

import argparse
import getpass
import sys

from skin_core.cases.store import COMMAND_LINE, ROLES, CaseError, CaseStore, configured_database


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CaseError("The two passwords differ; nothing was changed.")
    return first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core.cases", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--database", default=None, help="SQLite file or database URL")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("add-user", "set-password"):
        sub = commands.add_parser(name)
        sub.add_argument("username")
        sub.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        if name == "add-user":
            sub.add_argument("--role", choices=ROLES, default="doctor")
    commands.add_parser("list-users")
    commands.add_parser("upgrade")
    commands.add_parser("backup").add_argument("destination")
    args = parser.parse_args(argv)

    try:
        database = args.database or configured_database()
        if database is None:
            raise CaseError("No case-history database is configured: pass --database, set SKIN_CASES_DATABASE or "
                            "set database in the [cases] table of .streamlit/secrets.toml.")
        store = CaseStore.open(database)  # also migrates: "upgrade" needs nothing more
        try:
            if args.command == "add-user":
                store.add_user(args.username, _password(args.password_stdin), args.role)
                print(f"user {args.username} ({args.role}) added")
            elif args.command == "set-password":
                store.set_password(args.username, _password(args.password_stdin))
                print(f"password of {args.username} changed")
            elif args.command == "list-users":
                for user in store.users(COMMAND_LINE):
                    print(f"{user['username']}\t{user['role']}\t{'active' if user['active'] else 'inactive'}")
            elif args.command == "upgrade":
                print(f"database {store.engine.url.render_as_string(hide_password=True)} is up to date")
            elif args.command == "backup":
                print(f"backup written to {store.backup(args.destination)}")
        finally:
            store.close()
    except CaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
