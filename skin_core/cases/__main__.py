"""Case-history administration: users, migrations, backups.

    python -m skin_core.cases add-user lan --role doctor        # asks for the password twice
    python -m skin_core.cases add-user admin --role admin --password-stdin < password.txt
    python -m skin_core.cases set-password lan
    python -m skin_core.cases deactivate lan                    # can no longer sign in; reactivate lan undoes it
    python -m skin_core.cases list-users
    python -m skin_core.cases upgrade                            # migrate the database to this version
    python -m skin_core.cases backup backups/cases-2026-11-26.db # SQLite only; PostgreSQL: pg_dump

The database is --database, else SKIN_CASES_DATABASE, else ``[cases] database`` in .streamlit/secrets.toml.
Exit status: 0 done, 1 the database or the system failed (unreachable, locked, disk), 2 refused as asked (a
name that exists, a weak password, no database configured); the reason is one line on standard error.
"""

import argparse
import getpass
import sys

from sqlalchemy.exc import SQLAlchemyError

from skin_core.cases.store import (COMMAND_LINE, ROLES, CaseError, CaseStore, DatabaseUnavailableError,
                                   configured_database)


def _password(from_stdin: bool) -> str:
    if from_stdin:  # a file written on Windows ends its line with \r\n: neither is part of the password
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CaseError("The two passwords differ; nothing was changed.")
    return first


def _one_line(error: BaseException) -> str:
    """The reason on one line (a driver's message can span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def _run(args, store: CaseStore) -> None:
    if args.command == "add-user":
        if store.user_exists(args.username):  # said before the password is asked for, not after
            raise CaseError(f"User {args.username!r} exists already; change the password with set-password, or "
                            f"reactivate the account with reactivate.")
        store.add_user(args.username, _password(args.password_stdin), args.role)
        print(f"user {args.username} ({args.role}) added")
    elif args.command == "set-password":
        store.set_password(args.username, _password(args.password_stdin))
        print(f"password of {args.username} changed")
    elif args.command in ("deactivate", "reactivate"):
        store.set_user(args.username, by=COMMAND_LINE, active=args.command == "reactivate")
        print(f"user {args.username} {args.command}d")
    elif args.command == "list-users":
        for user in store.users(COMMAND_LINE):
            print(f"{user['username']}\t{user['role']}\t{'active' if user['active'] else 'inactive'}")
    elif args.command == "upgrade":
        print(f"database {store.engine.url.render_as_string(hide_password=True)} is up to date")
    elif args.command == "backup":
        print(f"backup written to {store.backup(args.destination)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core.cases", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--database", default=None, help="SQLite file or database URL")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, purpose in (("add-user", "a new user (asks for the password twice)"),
                          ("set-password", "a new password for a user (asks twice)")):
        sub = commands.add_parser(name, help=purpose)
        sub.add_argument("username")
        sub.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        if name == "add-user":
            sub.add_argument("--role", choices=ROLES, default="doctor")
    commands.add_parser("deactivate", help="the user can no longer sign in").add_argument("username")
    commands.add_parser("reactivate", help="a deactivated user can sign in again").add_argument("username")
    commands.add_parser("list-users", help="every user with role and whether active")
    commands.add_parser("upgrade", help="migrate the database to this version of the app")
    commands.add_parser("backup", help="a consistent copy of a SQLite history (PostgreSQL: pg_dump)").add_argument(
        "destination")
    args = parser.parse_args(argv)

    try:
        database = args.database or configured_database()
        if database is None:
            raise CaseError("No case-history database is configured: pass --database, set SKIN_CASES_DATABASE or "
                            "set database in the [cases] table of .streamlit/secrets.toml.")
        store = CaseStore.open(database)  # also migrates: "upgrade" needs nothing more
        try:
            _run(args, store)
        finally:
            store.close()
    except (DatabaseUnavailableError, SQLAlchemyError, OSError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 1
    except CaseError as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, EOFError):  # Ctrl-C or Ctrl-D at the password prompt
        print("error: cancelled; nothing was changed.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
