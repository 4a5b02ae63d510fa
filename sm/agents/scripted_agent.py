"""The ``scripted`` agent: a stand-in for Claude Code that runs in a tmux pane.

    python -m sm.agents.scripted_agent --settings S.json --script S.yaml --session-id ID
        [--resume ID] --transcript-dir DIR [--cwd DIR]

It reads raw keystrokes like Claude Code (composer, Enter, bracketed paste, Escape to
interrupt, typed-while-busy prompts queued), runs Claude Code-format hooks at the same
points, and plays a YAML script (``scripted_script``) for each turn. See
docs/scripted-agent.md.

Threads: the main thread owns the tty — it reads keys with select() and edits the
composer, so Escape is seen while a turn or a hook runs. Each turn runs in a worker
thread; a queued prompt's UserPromptSubmit runs in a helper thread, chained so hooks and
transcript lines keep submission order. One lock guards the state and the screen; no
hook runs while it is held.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sm.agents.scripted_script import (
    Action,
    Crash,
    Exit,
    Permission,
    Run,
    Say,
    Script,
    ScriptError,
    Sleep,
    Write,
    load_script,
    read_script,
)

PROMPT = "\u276f "  # the composer's prompt, Claude Code's glyph
ESCAPE_TIMEOUT = 0.05  # a lone ESC not followed by "[" within this is the Escape key
_PASTE_START, _PASTE_END = "\x1b[200~", "\x1b[201~"
_CONTROLS = {
    "\r": "enter",
    "\x7f": "backspace",
    "\x08": "backspace",
    "\x15": "clear",
    "\x03": "interrupt",
    "\x04": "eof",
}
_TEXT = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f]+")  # printable runs; \t and \n are text
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_COLLAPSE_CHARS, _COLLAPSE_LINES = 1000, 10

KeyKind = Literal[
    "text", "paste", "enter", "backspace", "clear", "interrupt", "eof", "escape", "sequence"
]


@dataclass(frozen=True)
class Key:
    kind: KeyKind
    text: str = ""


class KeyParser:
    """Turns tty bytes into keys. Pure: ``feed`` bytes as read, and call ``flush`` when
    ``pending_escape`` and nothing arrived within ESCAPE_TIMEOUT."""

    def __init__(self) -> None:
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._buf = ""  # input not yet decided: a lone ESC, a partial sequence or paste end
        self._paste: list[str] | None = None

    @property
    def pending_escape(self) -> bool:
        return self._paste is None and self._buf.startswith("\x1b")

    def feed(self, data: bytes) -> list[Key]:
        self._buf += self._decode(data)
        return self._parse(final=False)

    def flush(self) -> list[Key]:
        return self._parse(final=True)

    def _parse(self, final: bool) -> list[Key]:
        s, i, keys = self._buf, 0, []
        while i < len(s):
            if self._paste is not None:
                end = s.find(_PASTE_END, i)
                if end < 0:
                    keep = _partial_suffix(s, i, _PASTE_END)
                    self._paste.append(s[i : len(s) - keep])
                    i = len(s) - keep
                    break
                self._paste.append(s[i:end])
                text = "".join(self._paste).replace("\r\n", "\n").replace("\r", "\n")
                keys.append(Key("paste", text))
                self._paste, i = None, end + len(_PASTE_END)
            elif s[i] == "\x1b":
                if i + 1 == len(s):
                    if final:
                        keys.append(Key("escape"))
                        i += 1
                    break
                if s[i + 1] != "[":
                    keys.append(Key("escape"))
                    i += 1
                    continue
                j = i + 2
                while j < len(s) and "\x20" <= s[j] <= "\x3f":
                    j += 1
                if j == len(s):
                    i = len(s) if final else i  # an unfinished sequence is dropped on timeout
                    break
                if not "\x40" <= s[j] <= "\x7e":
                    i = j  # malformed: drop what came so far, go on from here
                    continue
                sequence, i = s[i : j + 1], j + 1
                if sequence == _PASTE_START:
                    self._paste = []
                elif sequence != _PASTE_END:
                    keys.append(Key("sequence", sequence))
            elif (kind := _CONTROLS.get(s[i])) is not None:
                keys.append(Key(kind))  # type: ignore[arg-type]
                i += 1
            elif (match := _TEXT.match(s, i)) is not None:
                keys.append(Key("text", match.group()))
                i = match.end()
            else:
                i += 1  # other control characters are ignored
        self._buf = s[i:]
        return keys


def _partial_suffix(s: str, start: int, marker: str) -> int:
    """Length of the longest tail of ``s[start:]`` that could begin ``marker``."""
    for k in range(min(len(marker) - 1, len(s) - start), 0, -1):
        if s.endswith(marker[:k]):
            return k
    return 0


def render_composer(text: str) -> list[str]:
    """Screen lines for the composer; big or long text collapses to one summary line."""
    lines = text.split("\n")
    if len(text) > _COLLAPSE_CHARS or len(lines) > _COLLAPSE_LINES:
        return [f"{PROMPT}[Pasted text +{len(lines)} lines, {len(text)} chars] {lines[-1][-40:]}"]
    return [PROMPT + lines[0]] + [f"  {line}" for line in lines[1:]]


def _summary(text: str) -> str:
    lines = text.split("\n")
    more = f" … +{len(lines) - 1} lines" if len(lines) > 1 else ""
    return lines[0][:200] + more


def _visible(line: str) -> str:
    line = line.replace("\t", "    ")
    return _UNPRINTABLE.sub(lambda m: "^" + chr((ord(m.group()) + 64) % 128), line)


def _columns(line: str) -> int:
    if line.isascii():
        return len(line)
    width = unicodedata.east_asian_width
    return sum(0 if unicodedata.combining(c) else 2 if width(c) in "WF" else 1 for c in line)


class Terminal:
    """The pane: raw mode, bracketed paste, and a live area (status, composer or dialog)
    redrawn at the bottom below the scrolling log."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd, self._out = in_fd, out_fd
        self._saved: list[Any] | None = None
        self._live: list[str] = []
        self._rows = 0

    def enter(self) -> None:
        """Raw mode now (TCSANOW keeps bytes already typed); no-op when not a tty."""
        import termios
        import tty

        try:
            self._saved = termios.tcgetattr(self.in_fd)
            tty.setraw(self.in_fd, termios.TCSANOW)
        except termios.error:
            return
        self.write("\x1b[?2004h")

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            self.write("\x1b[?2004l\r\n")
            termios.tcsetattr(self.in_fd, termios.TCSANOW, self._saved)
            self._saved = None

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self._out, data) :]
        except OSError:
            pass  # the pane is gone; hooks and the transcript still matter

    def show(self, log: Sequence[str], live: list[str]) -> None:
        """Print ``log`` lines above the live area and redraw it as ``live``."""
        old = self._live
        self._live = [_visible(line) for line in live]
        grown = self._live[-1][len(old[-1]) :] if old and self._live else ""
        if (
            not log
            and len(old) == len(self._live)
            and old[:-1] == self._live[:-1]
            and self._live[-1].startswith(old[-1])
        ):
            self._rows = self._count_rows(self._live)
            self.write(grown)  # typing: echo only what was added
            return
        up = f"\x1b[{self._rows - 1}A" if self._rows > 1 else ""
        lines = [_visible(part) for line in log for part in line.split("\n")]
        self._rows = self._count_rows(self._live)
        self.write(
            f"\r{up}\x1b[J" + "".join(f"{line}\r\n" for line in lines) + "\r\n".join(self._live)
        )

    def _count_rows(self, lines: list[str]) -> int:
        try:
            width = max(1, os.get_terminal_size(self._out).columns)
        except OSError:
            width = 80
        return sum(max(1, -(-_columns(line) // width)) for line in lines)


@dataclass(frozen=True)
class HookResult:
    exit_code: int
    stdout: str
    stderr: str


def hook_decision(results: Sequence[HookResult]) -> tuple[str, str] | None:
    """A PreToolUse verdict from hook results, as Claude Code reads them: exit code 2
    (stderr is the reason) or JSON ``hookSpecificOutput.permissionDecision`` "deny" or
    "ask" (or the older ``{"decision": "block"}``). Returns (decision, reason) or None."""
    for result in results:
        if result.exit_code == 2:
            return "deny", result.stderr.strip() or "blocked by hook"
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        specific = doc.get("hookSpecificOutput")
        if isinstance(specific, dict) and specific.get("permissionDecision") in ("deny", "ask"):
            return specific["permissionDecision"], str(specific.get("permissionDecisionReason", ""))
        if doc.get("decision") == "block":
            return "deny", str(doc.get("reason", ""))
    return None


_MATCHED_FIELD = {
    "PreToolUse": "tool_name",
    "PostToolUse": "tool_name",
    "SessionStart": "source",
    "Notification": "notification_type",
}


class Hooks:
    """The ``hooks`` of a Claude Code settings file. Raises ValueError on a bad shape."""

    def __init__(self, settings: object, cwd: str) -> None:
        hooks = settings.get("hooks", {}) if isinstance(settings, dict) else None
        if not isinstance(hooks, dict):
            raise ValueError("expected an object with a 'hooks' object")
        self._cwd = cwd
        self._groups: dict[str, list[tuple[str, str, float]]] = {}
        for event, groups in hooks.items():
            for group in groups if isinstance(groups, list) else [None]:
                if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                    raise ValueError(f"hooks.{event}: expected a list of {{matcher, hooks}}")
                for hook in group["hooks"]:
                    if not isinstance(hook, dict):
                        raise ValueError(f"hooks.{event}: each hook must be an object")
                    if hook.get("type", "command") != "command":
                        continue  # Claude Code's other hook types do not apply here
                    command, timeout = hook.get("command"), hook.get("timeout", 60)
                    if not isinstance(command, str) or not isinstance(timeout, int | float):
                        raise ValueError(
                            f"hooks.{event}: a hook needs a 'command' and a number 'timeout'"
                        )
                    matcher = str(group.get("matcher") or "")
                    self._groups.setdefault(event, []).append((matcher, command, float(timeout)))

    def commands(self, event: str, payload: dict[str, Any]) -> list[tuple[str, float]]:
        """The (command, timeout) pairs to run for ``event``, in settings order."""
        subject = str(payload.get(_MATCHED_FIELD.get(event, ""), ""))
        return [
            (command, timeout)
            for matcher, command, timeout in self._groups.get(event, [])
            if event not in _MATCHED_FIELD or _matches(matcher, subject)
        ]

    def run(
        self, event: str, payload: dict[str, Any], cancelled: threading.Event | None = None
    ) -> list[HookResult] | None:
        """Run each command with ``payload`` as JSON on stdin, one after another. Returns
        None once ``cancelled`` is set; the hook then finishes on its own (never killed,
        so its report is not lost)."""
        data = json.dumps(payload).encode()
        env = {**os.environ, "CLAUDE_PROJECT_DIR": self._cwd}
        results = []
        for command, timeout in self.commands(event, payload):
            result = run_shell(command, self._cwd, data, timeout, cancelled, env=env)
            if result is None:
                return None
            results.append(result)
        return results


def _matches(matcher: str, subject: str) -> bool:
    if matcher in ("", "*"):
        return True
    try:
        return re.fullmatch(matcher, subject) is not None
    except re.error:
        return matcher == subject


def run_shell(
    command: str,
    cwd: str,
    stdin: bytes | None,
    timeout: float | None,
    cancelled: threading.Event | None,
    kill_on_cancel: bool = False,
    env: dict[str, str] | None = None,
) -> HookResult | None:
    """Run ``command`` with /bin/sh -c, watching ``cancelled`` every 20 ms. Returns None
    if cancelled (the process is killed or left to finish); a timeout kills it."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    data = stdin
    while True:
        try:
            out, err = proc.communicate(data, timeout=0.02)
            return HookResult(
                proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
            )
        except subprocess.TimeoutExpired:
            data = None
        if cancelled is not None and cancelled.is_set():
            if kill_on_cancel:
                _kill(proc)
            else:
                threading.Thread(target=_reap, args=(proc, deadline), daemon=True).start()
            return None
        if deadline is not None and time.monotonic() > deadline:
            _kill(proc)
            return HookResult(124, "", f"timed out after {timeout:g} s")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _reap(proc: subprocess.Popen[bytes], deadline: float | None) -> None:
    try:
        proc.communicate(timeout=None if deadline is None else max(0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)


class Transcript:
    """``<dir>/<conversation-id>.jsonl``: one JSON line per prompt and assistant message,
    written and flushed (file closed) before the call returns."""

    def __init__(self, directory: str) -> None:
        self._dir = directory

    def path(self, conversation: str) -> str:
        return os.path.join(self._dir, f"{conversation}.jsonl")

    def append(self, conversation: str, record: dict[str, Any]) -> None:
        os.makedirs(self._dir, exist_ok=True)
        with open(self.path(conversation), "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def count(self, conversation: str) -> int | None:
        """Messages in the conversation, or None when it has no transcript."""
        try:
            with open(self.path(conversation), encoding="utf-8") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return None


@dataclass
class _Turn:
    prompt: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    finishing: bool = False  # Stop is being fired: too late to interrupt
    last_say: str = ""


@dataclass
class _Queued:
    text: str
    announced: threading.Event


@dataclass
class _Ask:
    tool: str
    answered: threading.Event = field(default_factory=threading.Event)
    allowed: bool = False


_Outcome = Literal["next", "done", "cancelled", "exit"]


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
        self._term, self._conversation, self._cwd, self._speed = terminal, conversation, cwd, speed
        self._lock = threading.RLock()
        self._composer = ""
        self._queue: list[_Queued] = []
        self._turn: _Turn | None = None
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
        self._term.show(banner, [])
        self._fire("SessionStart", {"source": source})
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
        self._fire("SessionEnd", {"reason": reason})
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
        args = (text, self._conversation, previous, announced)
        if self._turn is not None:
            self._queue.append(_Queued(text, announced))
            threading.Thread(target=self._announce, args=args, daemon=True).start()
            self._draw([f"(queued) {_summary(text)}"])
        else:
            self._turn = _Turn(text)
            self._draw([f"> {_summary(text)}"])
            threading.Thread(target=self._work, args=(self._turn, *args), daemon=True).start()
        return None

    def _interrupt(self) -> bool:
        """Cancel the running turn (no Stop, like Claude Code) and put queued prompts
        back into the composer. False when there was nothing to interrupt."""
        if self._turn is None or self._turn.finishing:
            return False
        self._stop_turn()
        self._draw(["  ⎿  Interrupted by user"])
        return True

    def _stop_turn(self) -> None:
        if self._turn is not None:
            self._turn.cancelled.set()
            self._turn = None
        if self._ask is not None:
            self._ask.answered.set()
            self._ask = None
        queued = [q.text for q in self._queue] + ([self._composer] if self._composer else [])
        self._queue, self._composer = [], "\n".join(queued)

    def _clear(self) -> None:
        with self._lock:
            self._stop_turn()
            self._composer = ""
        self._fire("SessionEnd", {"reason": "clear"})
        with self._lock:
            self._conversation = str(uuid.uuid4())
        self._fire("SessionStart", {"source": "clear"})
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
        self, prompt: str, conversation: str, previous: threading.Event, announced: threading.Event
    ) -> None:
        previous.wait()
        try:
            self._fire("UserPromptSubmit", {"prompt": prompt}, conversation=conversation)
            record = {"type": "user", "prompt": prompt, "ts": time.time()}
            self._transcript.append(conversation, record)
        finally:
            announced.set()

    def _work(
        self,
        turn: _Turn,
        prompt: str,
        conversation: str,
        previous: threading.Event,
        announced: threading.Event,
    ) -> None:
        self._announce(prompt, conversation, previous, announced)
        while True:
            if self._play(turn) in ("cancelled", "exit"):
                return
            with self._lock:
                if turn.cancelled.is_set():
                    return
                turn.finishing = True
            self._fire("Stop", {"stop_hook_active": False, "last_assistant_message": turn.last_say})
            with self._lock:
                if self._turn is not turn:
                    return
                if not self._queue:
                    self._turn = None
                    self._draw()
                    return
                queued, self._queue = self._queue, []
                turn = self._turn = _Turn("\n".join(q.text for q in queued))
                self._draw()
            queued[-1].announced.wait()

    def _play(self, turn: _Turn) -> _Outcome:
        for action in self._script.plan(turn.prompt, self._conversation):
            if turn.cancelled.is_set():
                return "cancelled"
            outcome = self._act(turn, action)
            if outcome != "next":
                return outcome
        return "cancelled" if turn.cancelled.is_set() else "done"

    def _act(self, turn: _Turn, action: Action) -> _Outcome:
        if isinstance(action, Say):
            first, *rest = action.text.split("\n")
            if self._emit(turn, [f"● {first}"] + [f"  {line}" for line in rest]):
                turn.last_say = action.text
                record = {"type": "assistant", "text": action.text}
                self._transcript.append(self._conversation, record)
        elif isinstance(action, Sleep):
            turn.cancelled.wait(action.seconds * self._speed)
        elif isinstance(action, Run):
            return self._tool(turn, "Bash", {"command": action.command}, self._bash)
        elif isinstance(action, Write):
            path = os.path.normpath(os.path.join(self._cwd, action.path))
            tool_input = {"file_path": path, "content": action.content}
            return self._tool(turn, "Write", tool_input, self._write)
        elif isinstance(action, Permission):
            allowed = self._permission(turn, action.tool)
            if allowed is None:
                return "cancelled"
            if not allowed:
                self._emit(turn, ["  ⎿  Denied"])
                return "done"
        elif isinstance(action, Crash):
            self._term.restore()
            os._exit(action.code)  # a crash: no Stop, no SessionEnd
        elif isinstance(action, Exit):
            self.request_exit(action.code, "other")
            return "exit"
        return "next"

    def _tool(
        self,
        turn: _Turn,
        name: str,
        tool_input: dict[str, Any],
        execute: Callable[[_Turn, dict[str, Any]], dict[str, Any] | None],
    ) -> _Outcome:
        """One tool call: PreToolUse (may refuse, or ask), the tool, PostToolUse."""
        subject = tool_input.get("command", tool_input.get("file_path", ""))
        self._emit(turn, [f"● {name}({_summary(str(subject))})"])
        fields = {"tool_name": name, "tool_input": tool_input}
        results = self._fire("PreToolUse", fields, turn.cancelled)
        if results is None:
            return "cancelled"
        decision = hook_decision(results)
        if decision is not None and decision[0] == "ask":
            allowed = self._permission(turn, name)
            if allowed is None:
                return "cancelled"
            decision = None if allowed else ("deny", "denied by user")
        if decision is not None:
            self._emit(turn, [f"  ⎿  Refused: {decision[1]}"])
            return "next"
        response = execute(turn, tool_input)
        if response is None:
            return "cancelled"
        posted = self._fire("PostToolUse", {**fields, "tool_response": response}, turn.cancelled)
        return "cancelled" if posted is None else "next"

    def _bash(self, turn: _Turn, tool_input: dict[str, Any]) -> dict[str, Any] | None:
        result = run_shell(
            tool_input["command"], self._cwd, None, None, turn.cancelled, kill_on_cancel=True
        )
        if result is None:
            return None
        lines = (result.stdout + result.stderr).rstrip("\n").split("\n")
        lines = lines if lines != [""] else ["(No content)"]
        shown = lines[:5] + ([f"… +{len(lines) - 5} lines"] if len(lines) > 5 else [])
        if result.exit_code:
            shown.insert(0, f"Error: exit code {result.exit_code}")
        self._emit(turn, [f"  ⎿  {shown[0]}"] + [f"     {line}" for line in shown[1:]])
        return {
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exit_code": result.exit_code,
            "interrupted": False,
        }

    def _write(self, turn: _Turn, tool_input: dict[str, Any]) -> dict[str, Any] | None:
        path, content = tool_input["file_path"], tool_input["content"]
        kind = "update" if os.path.exists(path) else "create"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
        except OSError as exc:
            self._emit(turn, [f"  ⎿  Error: {exc}"])
            return {"error": str(exc)}
        self._emit(turn, [f"  ⎿  Wrote {content.count(chr(10)) + 1} lines to {path}"])
        return {"type": kind, "filePath": path, "content": content}

    def _permission(self, turn: _Turn, tool: str) -> bool | None:
        """Show the dialog and wait for 1/2/Enter (allow) or 3/Escape (deny). None when
        the turn was interrupted meanwhile."""
        ask = _Ask(tool)
        with self._lock:
            if turn.cancelled.is_set():
                return None
            self._ask = ask
            self._draw()
        self._fire(
            "Notification",
            {
                "message": f"Claude needs your permission to use {tool}",
                "notification_type": "permission_prompt",
            },
            turn.cancelled,
        )
        ask.answered.wait()
        return None if turn.cancelled.is_set() else ask.allowed

    def _emit(self, turn: _Turn, lines: list[str]) -> bool:
        """Print ``lines`` unless the turn was interrupted; True when printed."""
        with self._lock:
            if turn.cancelled.is_set():
                return False
            self._draw(lines)
            return True

    def _fire(
        self,
        event: str,
        fields: dict[str, Any],
        cancelled: threading.Event | None = None,
        conversation: str | None = None,
    ) -> list[HookResult] | None:
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
