"""Admin commands: ``mesa-bench leaderboard revoke-token | new-token | hide-entry |
show-entry | remove-entry | audit-log``.

Each acts on an existing, current database only (a mistyped ``--db`` is an error, never a
new board) and is recorded in the database's audit log with its reason. A running server
sees each change at once: hiding or removing an entry bumps the board's generation, and
tokens are looked up on every submission.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def add_admin_commands(sub, db_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the admin actions to the ``leaderboard`` subparsers ``sub``."""
    s = sub.add_parser("revoke-token", help="revoke a submitter's token (entries stay)")
    s.add_argument("name", help="the submitter's name")
    s.add_argument("--reason", default="", help="why, for the audit log")
    db_option(s)
    s.set_defaults(func=cmd_revoke_token)

    s = sub.add_parser("new-token", help="give a submitter a new token, printed once")
    s.add_argument("name", help="the submitter's name")
    s.add_argument("--reason", default="", help="why, for the audit log")
    db_option(s)
    s.set_defaults(func=cmd_new_token)

    for action, what in (
        ("hide-entry", "hide an entry from every page, listing and export"),
        ("show-entry", "show a hidden entry again"),
        ("remove-entry", "delete an entry for good"),
    ):
        s = sub.add_parser(action, help=what)
        s.add_argument("entry_id", type=int, metavar="ID", help="the entry's id")
        s.add_argument("--reason", default="", help="why, for the audit log")
        db_option(s)
        s.set_defaults(func=cmd_entry_action, action=action)

    s = sub.add_parser("audit-log", help="print every admin action, oldest first")
    db_option(s)
    s.set_defaults(func=cmd_audit_log)


def _open(db: str | None):
    from leaderboard.store import Store

    return Store(db, migrate=False, existing=True)


def _fail(message: str) -> int:
    print(f"mesa-bench: error: {message}", file=sys.stderr)
    return 2


def cmd_revoke_token(args) -> int:
    from leaderboard.store import StoreError

    try:
        store = _open(args.db)
    except StoreError as e:
        return _fail(str(e))
    try:
        store.revoke_token(args.name, args.reason)
    except StoreError as e:
        return _fail(str(e))
    finally:
        store.close()
    print(f"token of {args.name!r} revoked; their entries stay on the board")
    return 0


def cmd_new_token(args) -> int:
    from leaderboard.store import StoreError

    try:
        store = _open(args.db)
    except StoreError as e:
        return _fail(str(e))
    try:
        token = store.new_token(args.name, args.reason)
    except StoreError as e:
        return _fail(str(e))
    finally:
        store.close()
    print(token)
    print(
        f"new token of {args.name!r}: shown only once; the old one no longer works", file=sys.stderr
    )
    return 0


def cmd_entry_action(args) -> int:
    from leaderboard.store import StoreError

    try:
        store = _open(args.db)
    except StoreError as e:
        return _fail(str(e))
    try:
        if args.action == "remove-entry":
            row = store.remove_entry(args.entry_id, args.reason)
            done = "removed"
        else:
            row = store.set_hidden(args.entry_id, args.action == "hide-entry", args.reason)
            done = "hidden" if row.hidden else "shown again"
    except StoreError as e:
        return _fail(str(e))
    finally:
        store.close()
    print(f"entry {row.id} ({row.method_name} v{row.method_version} on {row.suite}) {done}")
    return 0


def cmd_audit_log(args) -> int:
    from leaderboard.store import StoreError

    try:
        store = _open(args.db)
    except StoreError as e:
        return _fail(str(e))
    try:
        for at, action, target, detail in store.audit_log():
            print(f"{at.isoformat()}Z  {action}  {target}" + (f"  ({detail})" if detail else ""))
    finally:
        store.close()
    return 0
