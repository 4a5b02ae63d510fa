"""The ``scripted`` agent: a stand-in for Claude Code that runs in a tmux pane.

    python -m sm.agents.scripted_agent --settings S.json --script S.yaml --session-id ID
        [--resume ID] --transcript-dir DIR [--cwd DIR]

It reads raw keystrokes like Claude Code (composer, Enter, bracketed paste, Escape to
interrupt, typed-while-busy prompts queued), runs Claude Code-format hooks at the same
points, and plays a YAML script (``scripted_script``) for each turn. See
docs/scripted-agent.md. This module holds the agent's state, its key handling and the
command line; its parts are ``scripted_keys`` (tty bytes to keys), ``scripted_screen``
(the pane), ``scripted_hooks`` (settings hooks, running commands), ``scripted_transcript``
and ``scripted_turn`` (playing a turn's actions).

Threads: the main thread owns the tty — it reads keys with select() and edits the
composer, so Escape is seen while a turn or a hook runs. Each turn runs in a worker
thread; a queued prompt's UserPromptSubmit runs in a helper thread, chained so hooks and
transcript lines keep submission order. One lock guards the state and the screen; no
hook runs while it is held.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import select
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from sm.agents.scripted_hooks import HookResult, Hooks
from sm.agents.scripted_keys import ESCAPE_TIMEOUT, Key, KeyParser
from sm.agents.scripted_screen import PROMPT, Terminal, render_composer, summary
from sm.agents.scripted_script import (
    Script,
    ScriptError,
    StartLimit,
    load_script,
    read_script,
)
from sm.agents.scripted_transcript import Transcript
from sm.agents.scripted_turn import Player, Turn


@dataclass
class _Queued:
    text: str
    announced: threading.Event
    record: str  # its transcript line's id


@dataclass
class _Ask:
    tool: str
    answered: threading.Event = field(default_factory=threading.Event)
    allowed: bool = False


class Agent:
    """The agent's state (conversation, composer, queue, turn, permission dialog) and
    its main loop. ``run`` returns the process exit code."""

    def __init__(
        self,
        script: Script,
        hooks: Hooks,
        transcript: Transcript,
        terminal: Terminal,
        conversation: str,
        cwd: str,
        speed: float = 1.0,
    ) -> None:
        self._script, self._hooks, self._transcript = script, hooks, transcript
        self._term, self._conversation, self._cwd = terminal, conversation, cwd
        self._player = Player(self, cwd, speed)
        self._lock = threading.RLock()
        self._composer = ""
        self._queue: list[_Queued] = []
        self._turn: Turn | None = None
        self._ask: _Ask | None = None
        self._announced = threading.Event()  # tail of the UserPromptSubmit chain
        self._announced.set()
        self._ctrl_c_at = 0.0
        self._exit: tuple[int, str] | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def run(self, source: Literal["startup", "resume"] = "startup", note: str = "") -> int:
        """Start (banner, SessionStart), then read keys until exit; fires SessionEnd."""
        banner = [f"sm scripted agent · {self._conversation}"] + ([note] if note else [])
        limit = self._script.start_limit
        if limit is not None and not start_admitted(limit, time.time()):
            self._term.show(banner + [f"API Error: 429 rate_limit_error · too many sessions "
                                      f"starting at once (start_limit: {limit.max} in "
                                      f"{limit.within:g}s)"], [])
            return 1
        self._term.show(banner, [])
        self.fire("SessionStart", {"source": source})
        with self._lock:
            self._draw()
        parser = KeyParser()
        while self._exit is None:
            timeout = ESCAPE_TIMEOUT if parser.pending_escape else None
            ready, _, _ = select.select([self._term.in_fd, self._wake_r], [], [], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 512)
            keys = parser.flush() if not ready else []
            if self._term.in_fd in ready:
                try:
                    data = os.read(self._term.in_fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    self.request_exit(0, "other")
                keys = parser.feed(data)
            for key in keys:
                if self._exit is None:
                    self._on_key(key)
        code, reason = self._exit
        with self._lock:
            self._stop_turn()
        self.fire("SessionEnd", {"reason": reason})
        return code

    def request_exit(self, code: int, reason: str) -> None:
        """Ask the main loop to end; safe from any thread and from signal handlers."""
        if self._exit is None:
            self._exit = (code, reason)
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"!")

    # -- keys (main thread) ------------------------------------------------------------

    def _on_key(self, key: Key) -> None:
        with self._lock:
            after = self._handle(key)
        if after is not None:
            after()  # hooks run outside the lock

    def _handle(self, key: Key) -> Callable[[], None] | None:
        if key.kind == "interrupt":
            self._ctrl_c()
            return None
        if self._ask is not None:
            typed = key.text if key.kind == "text" else ""
            choice = next((c for c in typed if c in "123"), "")
            if key.kind == "enter" or choice in ("1", "2"):
                self._answer(True)
            elif key.kind == "escape" or choice == "3":
                self._answer(False)
            return None  # anything else is swallowed by the dialog
        if key.kind in ("text", "paste"):
            self._composer += key.text
        elif key.kind == "backspace":
            self._composer = self._composer[:-1]
        elif key.kind == "clear":
            self._composer = ""
        elif key.kind == "escape":
            self._interrupt()
        elif key.kind == "eof" and not self._composer:
            self.request_exit(0, "prompt_input_exit")
        elif key.kind == "enter":
            return self._submit()
        self._draw()
        return None

    def _ctrl_c(self) -> None:
        now = time.monotonic()
        if now - self._ctrl_c_at < 2.0:
            self.request_exit(0, "prompt_input_exit")
            return
        self._ctrl_c_at = now
        if not self._interrupt():
            self._composer = ""
        self._draw(["Press Ctrl-C again to exit"])

    def _answer(self, allowed: bool) -> None:
        assert self._ask is not None
        self._ask.allowed = allowed
        self._ask.answered.set()
        self._ask = None
        self._draw()

    def _submit(self) -> Callable[[], None] | None:
        text, self._composer = self._composer, ""
        if not text.strip():
            self._draw()
            return None
        command = text.strip()
        if command in ("/clear", "/exit", "/quit"):
            self._draw([f"> {command}"])
            if command == "/clear":
                return self._clear
            self.request_exit(0, "prompt_input_exit")
            return None
        previous, announced = self._announced, threading.Event()
        self._announced = announced
        record = uuid.uuid4().hex
        args = (text, self._conversation, previous, announced, record)
        if self._turn is not None and self._turn.tool:
            # Claude Code sends a prompt typed during a tool call with the tool's result:
            # it is answered inside the running turn
            self._turn.joined.append(text)
            self._turn.records.append(record)
            threading.Thread(target=self._announce, args=args, daemon=True).start()
            self._draw([f"(with the tool's result) {summary(text)}"])
        elif self._turn is not None:
            self._queue.append(_Queued(text, announced, record))
            threading.Thread(target=self._announce, args=args, daemon=True).start()
            self._draw([f"(queued) {summary(text)}"])
        else:
            self._turn = Turn(text, [record])
            self._draw([f"> {summary(text)}"])
            threading.Thread(target=self._work, args=(self._turn, *args), daemon=True).start()
        return None

    def _interrupt(self) -> bool:
        """Cancel the running turn, as Claude Code does: no Stop; a turn that had shown
        nothing yet puts its prompt back into the composer (and out of the
        conversation); prompts queued meanwhile are sent at once as the next turn.
        False when there was nothing to interrupt."""
        turn = self._turn
        if turn is None or turn.finishing:
            return False
        queued, self._queue = self._queue, []
        self._stop_turn()
        if not turn.output:
            conversation = self._conversation
            for record in turn.records:
                self._transcript.retract(conversation, record)
            self._composer = turn.prompt + ("\n" + self._composer if self._composer else "")
        self._draw(["  ⎿  Interrupted by user"])
        if queued:
            text = "\n".join(q.text for q in queued)
            nxt = self._turn = Turn(text, [q.record for q in queued])
            self._draw([f"> {summary(text)}"])
            threading.Thread(target=self._work, args=(nxt, text, self._conversation,
                             queued[-1].announced, None, None), daemon=True).start()
        return True

    def _stop_turn(self) -> None:
        if self._turn is not None:
            self._turn.cancelled.set()
            self._turn = None
        if self._ask is not None:
            self._ask.answered.set()
            self._ask = None

    def _clear(self) -> None:
        with self._lock:
            self._stop_turn()
            self._queue, self._composer = [], ""
        self.fire("SessionEnd", {"reason": "clear"})
        with self._lock:
            self._conversation = str(uuid.uuid4())
        self.fire("SessionStart", {"source": "clear"})
        with self._lock:
            self._draw(["(conversation cleared)"])

    def _draw(self, log: Sequence[str] = ()) -> None:
        if self._ask is not None:
            live = [
                f"● Permission to use {self._ask.tool}",
                "Do you want to proceed?",
                f"{PROMPT}1. Yes",
                "  2. Yes, and don't ask again",
                "  3. No",
            ]
        else:
            status = ["● Working… (esc to interrupt)"] if self._turn is not None else []
            live = status + render_composer(self._composer)
        self._term.show(log, live)

    # -- turns (worker threads) ------------------------------------------------------

    def _announce(
        self, prompt: str, conversation: str, previous: threading.Event,
        announced: threading.Event, record_id: str,
    ) -> None:
        previous.wait()
        try:
            self.fire("UserPromptSubmit", {"prompt": prompt}, conversation=conversation)
            record = {"type": "user", "prompt": prompt, "ts": time.time(), "id": record_id}
            self._transcript.append(conversation, record)
        finally:
            announced.set()

    def _work(
        self,
        turn: Turn,
        prompt: str,
        conversation: str,
        previous: threading.Event,
        announced: threading.Event | None,
        record_id: str | None,
    ) -> None:
        """Play ``turn`` and the turns queued behind it. ``announced`` None: its prompt
        fired UserPromptSubmit when it was queued (``previous`` is set once it has)."""
        if announced is not None and record_id is not None:
            self._announce(prompt, conversation, previous, announced, record_id)
        else:
            previous.wait()
        while True:
            actions = self._script.plan(turn.prompt, self._conversation)
            outcome = self._player.play(turn, actions)
            while outcome == "done":
                with self._lock:
                    joined, turn.joined = turn.joined, []
                if not joined:
                    break
                self._announced.wait()  # their UserPromptSubmit first, as in Claude Code
                actions = self._script.plan("\n".join(joined), self._conversation)
                outcome = self._player.play(turn, actions)
            if outcome in ("cancelled", "exit"):
                return
            with self._lock:
                if turn.cancelled.is_set():
                    return
                turn.finishing = True
            if turn.failure is not None:  # an API error ended it: no Stop
                self.fire("StopFailure", {**turn.failure,
                                          "last_assistant_message": turn.last_say})
            else:
                self.fire("Stop", {"stop_hook_active": False,
                                   "last_assistant_message": turn.last_say})
            with self._lock:
                if self._turn is not turn:
                    return
                if not self._queue:
                    self._turn = None
                    self._draw()
                    return
                queued, self._queue = self._queue, []
                turn = self._turn = Turn("\n".join(q.text for q in queued),
                                         [q.record for q in queued])
                self._draw()
            queued[-1].announced.wait()

    # -- the stage of turns (scripted_turn.Stage; any thread) ----------------------------

    def permission(self, turn: Turn, tool: str) -> bool | None:
        """Show the dialog and wait for 1/2/Enter (allow) or 3/Escape (deny). None when
        the turn was interrupted meanwhile."""
        ask = _Ask(tool)
        with self._lock:
            if turn.cancelled.is_set():
                return None
            self._ask = ask
            self._draw()
        self.fire(
            "Notification",
            {
                "message": f"Claude needs your permission to use {tool}",
                "notification_type": "permission_prompt",
            },
            turn.cancelled,
        )
        ask.answered.wait()
        return None if turn.cancelled.is_set() else ask.allowed

    def emit(self, turn: Turn, lines: list[str]) -> bool:
        """Print ``lines`` unless the turn was interrupted; True when printed."""
        with self._lock:
            if turn.cancelled.is_set():
                return False
            turn.output = True
            self._draw(lines)
            return True

    def settle(self) -> None:
        self._announced.wait()

    def record(self, record: dict[str, Any]) -> None:
        """Append ``record`` to the current conversation's transcript."""
        self._transcript.append(self._conversation, record)

    def crash(self, code: int) -> NoReturn:
        """Die at once with ``code``: no Stop, no SessionEnd."""
        self._term.restore()
        os._exit(code)

    def fire(
        self,
        event: str,
        fields: dict[str, Any],
        cancelled: threading.Event | None = None,
        conversation: str | None = None,
    ) -> list[HookResult] | None:
        """Run the hooks of ``event`` for ``conversation`` (the current one by default);
        blocks until they end. None once ``cancelled`` is set."""
        conversation = conversation or self._conversation
        transcript_path = self._transcript.path(conversation)
        payload = {
            "session_id": conversation,
            "transcript_path": transcript_path,
            "cwd": self._cwd,
            "hook_event_name": event,
            **fields,
        }
        return self._hooks.run(event, payload, cancelled)


def start_admitted(limit: StartLimit, now: float) -> bool:
    """Record this start in ``limit.ledger`` (under an exclusive lock); False when
    ``limit.max`` other starts are in it from the last ``limit.within`` seconds. A
    refused start is recorded too: it reached the service."""
    with open(limit.ledger, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        recent = 0
        for word in f.read().split():
            with contextlib.suppress(ValueError):
                recent += now - limit.within < float(word) <= now
        f.write(f"{now!r}\n")
    return recent < limit.max


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripted", description="sm's stand-in for Claude Code")
    parser.add_argument("--settings", required=True, help="Claude Code settings JSON (hooks)")
    script = parser.add_mutually_exclusive_group(required=True)
    script.add_argument("--script", help="YAML script file")
    script.add_argument("--script-text", help="YAML script given inline")
    parser.add_argument("--session-id", help="conversation id for a new conversation")
    parser.add_argument("--resume", metavar="ID", help="resume this conversation instead")
    parser.add_argument("--transcript-dir", required=True)
    parser.add_argument("--cwd", default=os.getcwd())
    return parser


class _StartError(Exception):
    pass


def _build(args: argparse.Namespace, terminal: Terminal) -> Agent:
    if not (args.session_id or args.resume):
        raise _StartError("one of --session-id or --resume is required")
    speed_text = os.environ.get("SM_SCRIPTED_SPEED", "1")
    try:
        speed = float(speed_text)
    except ValueError:
        raise _StartError(f"SM_SCRIPTED_SPEED: expected a number, got {speed_text!r}") from None
    script = (
        read_script(args.script)
        if args.script is not None
        else load_script(args.script_text, "--script-text")
    )
    try:
        with open(args.settings, encoding="utf-8") as f:
            hooks = Hooks(json.load(f), os.path.abspath(args.cwd))
    except (OSError, ValueError) as exc:
        raise _StartError(f"{args.settings}: {exc}") from None
    return Agent(
        script,
        hooks,
        Transcript(args.transcript_dir),
        terminal,
        args.resume or args.session_id,
        os.path.abspath(args.cwd),
        speed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent in this terminal. Exit codes: as scripted (0 on a clean exit),
    1 when --resume finds no conversation, 2 for bad arguments, script or settings."""
    args = _arguments().parse_args(argv)
    terminal = Terminal(sys.stdin.fileno(), sys.stdout.fileno())
    terminal.enter()  # at once: keys typed while starting must not be cooked by the tty
    try:
        try:
            agent = _build(args, terminal)
        except (ScriptError, _StartError) as exc:
            terminal.restore()
            print(f"scripted: {exc}", file=sys.stderr)
            return 2
        note = ""
        if args.resume:
            count = Transcript(args.transcript_dir).count(args.resume)
            if count is None:
                terminal.restore()
                print(f"No conversation found with session ID: {args.resume}", file=sys.stderr)
                return 1
            note = f"Resumed conversation {args.resume} ({count} messages)"
        for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda n, _f: agent.request_exit(128 + n, "other"))
        return agent.run("resume" if args.resume else "startup", note)
    finally:
        terminal.restore()


if __name__ == "__main__":
    sys.exit(main())
