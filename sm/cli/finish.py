"""What an agent reports at the end of its job, on the stdlib fast path (see ``fast``):

    sm job done [RESULT…|-]          its job is done, with a one-line result
    sm kb learn LEARNING… | -        up to five learnings, each "TITLE: CONTENT"

The rest of ``sm job`` and ``sm kb`` is the typer app (``jobs``, ``kb``).
"""

from __future__ import annotations

import argparse
import json
import sys

from sm.cli.plain import print_result
from sm.client import Client
from sm.errors import InvalidInput

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any

HELP = {
    "job done": "Your job is done: sm job done \"RESULT\" (it completes when your turn ends).",
    "kb learn": "Report up to 5 learnings: sm kb learn \"TITLE: CONTENT\" …",
}
_TITLE = 120  # a "TITLE: CONTENT" title is at most this long


def add_parsers(sub: Any) -> None:
    job = sub.add_parser("job", help="jobs (agent side: sm job done)")
    job_actions = job.add_subparsers(dest="action", required=True, metavar="ACTION",
                                     help="done")
    done = job_actions.add_parser("done", help=HELP["job done"])
    done.add_argument("result", nargs="*", metavar="RESULT",
                      help="a one-line result; - reads stdin")
    done.add_argument("--job", metavar="JOB", help="the job (the operator must name it)")
    done.add_argument("--json", action="store_true", help="print JSON")
    kb = sub.add_parser("kb", help="the knowledge base (agent side: sm kb learn)")
    kb_actions = kb.add_subparsers(dest="action", required=True, metavar="ACTION",
                                   help="learn")
    learn = kb_actions.add_parser("learn", help=HELP["kb learn"])
    learn.add_argument("learnings", nargs="+", metavar="LEARNING",
                       help='"TITLE: CONTENT"; - reads a JSON list of {title, content, tags}')
    learn.add_argument("--tags", default="", metavar="A,B",
                       help="comma-separated, for every learning")
    learn.add_argument("--scope", choices=("project", "global"), default="project",
                       metavar="SCOPE", help="project (default) or global")
    learn.add_argument("--project", metavar="PROJECT", help="default: your job's project")
    learn.add_argument("--json", action="store_true", help="print JSON")


def split_learning(text: str) -> dict[str, str]:
    """``"TITLE: CONTENT"`` → title and content; without a short title before a colon,
    the first words are the title and the whole text the content."""
    text = " ".join(text.split())
    head, sep, rest = text.partition(": ")
    if sep and head and rest and len(head) <= _TITLE:
        return {"title": head, "content": rest}
    words, title = text.split(), ""
    for word in words:
        if len(title) + len(word) + 1 > 60:
            break
        title = f"{title} {word}".strip()
    return {"title": title or text[:60], "content": text}


def _stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"stdin is not valid UTF-8 (offset {exc.start})") from None


def _job(client: Client, args: argparse.Namespace) -> int:
    result = _stdin().strip() if args.result == ["-"] else " ".join(args.result)
    j = client.post("/jobs/done", {"result": result, "job": args.job})
    when = "now" if j["state"] != "running" or not client.token else "when this turn ends"
    print_result(j, args.json, f"job {j['name'] or j['id']} done ({when})")
    return 0


def _kb(client: Client, args: argparse.Namespace) -> int:
    tags = [t for t in args.tags.split(",") if t.strip()]
    if args.learnings == ["-"]:
        try:
            items = json.loads(_stdin())
        except ValueError as exc:
            raise InvalidInput(f"stdin is not a JSON list of learnings: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidInput("stdin must be a JSON list of {title, content, tags} objects")
    else:
        items = [split_learning(text) for text in args.learnings]
    learnings = [{"title": str(i.get("title", "")), "content": str(i.get("content", "")),
                  "tags": list(i.get("tags") or []) + tags} for i in items]
    data = client.post("/kb/learn", {"learnings": learnings, "scope": args.scope,
                                     "project": args.project})
    lines = [f"{'merged into' if a['merged'] else 'added'} #{a['entry']['id']} "
             f"{a['entry']['title']}" for a in data["items"]]
    print_result(data, args.json, "\n".join(lines))
    return 0


COMMANDS = {"job": _job, "kb": _kb}
