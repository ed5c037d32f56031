"""Command line for the knowledge base: ``.venv/bin/python -m knowledge_base COMMAND``.

Commands: init, list, show, add, edit, delete, import, export, history, restore, reindex,
eval, serve. Changes name an author (``--author``, default: the login name) and a reason
(``--reason``); every change is a new revision and is audited.

Exit status: 0 done; 2 refused (a missing or unreadable file, a YAML syntax error, an
unknown format, invalid entries: every problem on its own line of stderr, nothing written);
1 the database could not be used. Never a traceback for any of these.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from pathlib import Path

import sqlalchemy as sa
import yaml

from knowledge_base.files import builtin_entries, format_of, read_entries, read_entry_file, write_entries
from knowledge_base.schema import Entry, EntryValidationError, KnowledgeBaseError
from knowledge_base.store import KBStore

logger = logging.getLogger(__name__)


def _print_entry(entry: Entry) -> None:
    print(yaml.safe_dump(entry.to_dict(), allow_unicode=True, sort_keys=False), end="")


def _warm(store: KBStore) -> None:
    """Build the configured index once, filling the embedding cache for the servers."""
    from knowledge_base.retrieval import LiveIndex

    index = LiveIndex(store, background=False)
    index.refresh(force=True)
    print(f"index: {len(index.entries)} entries at version {index.version}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m knowledge_base", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", help="database URL (default: KB_DATABASE_URL, DATABASE_URL, or var/ SQLite)")
    sub = parser.add_subparsers(dest="command", required=True)

    def change(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--author", default=getpass.getuser())
        p.add_argument("--reason", required=True, help="why this change is made (kept in the history)")
        return p

    sub.add_parser("init", help="create the database, import knowledge_base/data if empty, build the index")
    p_list = sub.add_parser("list", help="list entries")
    p_list.add_argument("--collection")
    sub.add_parser("show", help="show one entry").add_argument("id")
    change(sub.add_parser("add", help="add an entry from a YAML file")).add_argument("file")
    change(sub.add_parser("edit", help="replace an entry with the one in a YAML file")).add_argument("file")
    change(sub.add_parser("delete", help="delete an entry")).add_argument("id")
    change(sub.add_parser("import", help="import entries from .yml/.csv/.xlsx files")).add_argument("files", nargs="+")
    p_export = sub.add_parser("export", help="export entries to a .yml, .csv or .xlsx file")
    p_export.add_argument("file")
    p_export.add_argument("--collection")
    sub.add_parser("history", help="revisions of an entry").add_argument("id")
    p_restore = change(sub.add_parser("restore", help="make an old revision current again"))
    p_restore.add_argument("id")
    p_restore.add_argument("revision", type=int)
    sub.add_parser("reindex", help="rebuild the retrieval index (fills the embedding cache)")
    p_eval = sub.add_parser("eval", help="evaluate retrieval (see knowledge_base/evaluate.py)")
    p_eval.add_argument("--entries")
    p_eval.add_argument("--queries")
    p_eval.add_argument("--json", action="store_true")
    p_serve = sub.add_parser(
        "serve", help="run the staff app, which serves the admin API under /api/kb (same as python -m staff serve)"
    )
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=5057)
    args = parser.parse_args(argv)

    if args.command == "eval":
        from knowledge_base.evaluate import main as eval_main

        return eval_main(args.entries, args.queries, args.json)
    try:
        # Read and check every input file before touching the database.
        if args.command == "import":
            entries = read_entries([Path(f) for f in args.files])
        elif args.command in ("add", "edit"):
            entry = read_entry_file(Path(args.file))
        elif args.command == "export":
            format_of(Path(args.file))
        store = KBStore(args.database)
        who = f"cli:{getattr(args, 'author', getpass.getuser())}"
        if args.command == "init":
            seeded = store.seed_if_empty(builtin_entries())
            print("database: seeded from knowledge_base/data" if seeded else "database: already has entries")
            _warm(store)
        elif args.command == "list":
            for entry in store.entries(args.collection):
                flags = "".join(f for f, on in (("S", entry.sample), ("?", entry.unsure)) if on)
                print(f"{entry.id}\t{entry.collection}\t{flags}\t{entry.title}")
        elif args.command == "show":
            _print_entry(store.get(args.id))
        elif args.command in ("add", "edit"):
            revision = (store.add if args.command == "add" else store.edit)(entry, args.author, args.reason)
            store.audit(who, args.command, entry.id)
            print(f"{entry.id}: revision {revision}")
        elif args.command == "delete":
            revision = store.delete(args.id, args.author, args.reason)
            store.audit(who, "delete", args.id)
            print(f"{args.id}: deleted (revision {revision})")
        elif args.command == "import":
            counts = store.import_entries(entries, args.author, args.reason)
            store.audit(who, "import", ",".join(args.files))
            print(json.dumps(counts))
        elif args.command == "export":
            entries = store.entries(args.collection)
            write_entries(entries, Path(args.file))
            store.audit(who, "export", args.file)
            print(f"exported {len(entries)} entries to {args.file}")
        elif args.command == "history":
            for rev in store.history(args.id):
                print(f"{rev.revision}\t{rev.action}\t{rev.created_at:%Y-%m-%d %H:%M:%S}\t{rev.author}\t{rev.reason}")
        elif args.command == "restore":
            revision = store.restore(args.id, args.revision, args.author, args.reason)
            store.audit(who, "restore", f"{args.id}@{args.revision}")
            print(f"{args.id}: revision {args.revision} restored as revision {revision}")
        elif args.command == "reindex":
            _warm(store)
        elif args.command == "serve":
            # The admin API moved into the staff app (logins, roles, CSRF, audit): start that.
            from staff.__main__ import main as staff_main

            return staff_main(["serve", "--host", args.host, "--port", str(args.port)])
    except EntryValidationError as err:
        for problem in err.problems:
            print(f"knowledge_base: {problem}", file=sys.stderr)
        return 2
    except KnowledgeBaseError as err:
        print(f"knowledge_base: {err}", file=sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as err:
        # The driver's message may hold a host or a query; the type says enough here.
        logger.debug("database error", exc_info=True)
        print(
            f"knowledge_base: the database could not be used ({type(err).__name__}); "
            "check --database, KB_DATABASE_URL or DATABASE_URL",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
