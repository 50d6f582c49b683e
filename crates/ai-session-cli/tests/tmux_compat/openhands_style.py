"""An agent terminal the way OpenHands drives tmux, unchanged for both backends.

Like OpenHands' BashSession: libtmux's Server(), a 1000x1000 session, a large global
history-limit, a fresh window whose shell gets a JSON prompt (PS1) that carries each command's
exit code, commands typed with send_keys, output read back with `capture-pane -J -pS -`,
C-c for a command that runs too long, clear-history, and kill at the end. Prints what it
extracted, one JSON object per line; `cargo xtask tmux-compat` runs it against real tmux and
against ai-session and compares the two outputs.
"""

from __future__ import annotations

import json
import os
import sys
import time

import libtmux

PS1_BEGIN = "###PS1JSON###"
PS1_END = "###PS1END###"
# The prompt prints the last exit code and cwd as JSON between markers (OpenHands' CmdOutputMetadata).
PS1 = PS1_BEGIN + r'\n{\"exit_code\": \"$?\", \"working_dir\": \"$(pwd)\"}\n' + PS1_END + r"\n"
HISTORY_LIMIT = 10_000
WORK_DIR = os.environ["HARNESS_DIR"]


def pane_content(pane: libtmux.Pane) -> str:
    lines = pane.cmd("capture-pane", "-J", "-pS", "-").stdout
    return "\n".join(line.rstrip() for line in lines)


def wait_prompts(pane: libtmux.Pane, count: int, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = pane_content(pane)
        if content.count(PS1_END) >= count:
            return content
        if time.monotonic() > deadline:
            raise TimeoutError(f"no prompt #{count} in:\n{content}")
        time.sleep(0.02)


def last_block(content: str, command: str) -> dict[str, object]:
    """The output between the last two prompts, and the exit code from the last one."""
    blocks = content.split(PS1_END)
    last = blocks[-2]
    meta = json.loads(last.split(PS1_BEGIN)[1].strip())
    output = last.split(PS1_BEGIN)[0].strip("\n").splitlines()
    # The first line is the echoed command itself.
    if output and output[0].strip() == command:
        output = output[1:]
    return {
        "command": command,
        "exit_code": meta["exit_code"],
        "cwd": meta["working_dir"],
        "output": output,
    }


def main() -> None:
    server = libtmux.Server()
    session = server.new_session(
        session_name="openhands-style",
        start_directory=WORK_DIR,
        kill_session=True,
        x=1000,
        y=1000,
    )
    session.set_option("history-limit", str(HISTORY_LIMIT), global_=True)
    initial_window = session.active_window
    window = session.new_window(
        window_name="bash",
        window_shell="/bin/bash --norc --noprofile",
        start_directory=WORK_DIR,
    )
    pane = window.active_pane
    assert pane is not None
    initial_window.kill()
    print(json.dumps({"windows": [w.window_name for w in session.windows]}))
    print(json.dumps({"size": [window.window_width, window.window_height]}))
    print(
        json.dumps(
            {"history_limit": pane.cmd("display-message", "-p", "#{history_limit}").stdout}
        )
    )

    pane.send_keys(f"export PROMPT_COMMAND='export PS1=\"{PS1}\"'; export PS2=\"\"")
    # The typed line holds the end marker once; the first real prompt is the second.
    prompts = 2
    wait_prompts(pane, prompts)
    # Clear the screen and the scrollback, as OpenHands does before each command.
    pane.send_keys("C-l", enter=False)
    time.sleep(0.1)
    pane.cmd("clear-history")

    def run(command: str) -> None:
        nonlocal prompts
        before = pane_content(pane).count(PS1_END)
        pane.send_keys(command)
        prompts = before + 1
        content = wait_prompts(pane, prompts)
        print(json.dumps(last_block(content, command)))

    run('printf "alpha\\tbeta\\n"; echo two')
    run("false")
    run("cd /tmp && pwd")
    run("seq 1 40 | tail -3")
    run("(exit 7)")
    run(f"cd {WORK_DIR}")

    # A command that does not end by itself: interrupt it with C-c.
    before = pane_content(pane).count(PS1_END)
    pane.send_keys("sleep 30")
    time.sleep(0.3)
    pane.send_keys("C-c", enter=False)
    content = wait_prompts(pane, before + 1)
    block = last_block(content, "sleep 30")
    print(json.dumps({"interrupted": block["exit_code"]}))
    run("echo after-interrupt")

    listed = [s.session_name for s in server.sessions]
    print(json.dumps({"sessions": listed}))
    session.kill()
    print(json.dumps({"alive_after_kill": server.has_session("openhands-style")}))
    if server.is_alive():
        server.kill()
    print(json.dumps({"server_alive": server.is_alive()}))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report, then fail
        print(f"error: {error!r}", file=sys.stderr)
        raise
