"""An agent host's conversation with `ai-session mcp`, through the official MCP Python SDK.

Run by tests/mcp_sdk.rs as `python3 conversation.py AI_SESSION_BINARY WORKDIR`. Each check
prints one `ok NAME: detail` line; any failure raises and exits non-zero. Timings are printed
so the Rust side (and a person) can read them.
"""

import asyncio
import json
import os
import socket
import sys
import time
import urllib.request

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BINARY, WORKDIR = sys.argv[1], sys.argv[2]


def ok(name, detail=""):
    print(f"ok {name}: {detail}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def result_of(reply):
    """The tool's structured result; raises with the tool's message on a tool error."""
    if reply.is_error:
        raise AssertionError(f"tool error: {reply.content[0].text}")
    return reply.structured_content


async def main():
    params = StdioServerParameters(command=BINARY, args=["mcp"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            for needed in ["exec", "wait", "watch", "history", "task_status", "task_wait", "session_new", "list"]:
                assert needed in tools, f"{needed} missing from {sorted(tools)}"
            ok("tools", ",".join(sorted(tools)))
            await parallel_calls(session)
            await progress(session)
            await cancellation(session)
            await dev_server(session)
            await awaiting_input(session)
            await sandboxed(session)
            await bad_arguments(session)


async def parallel_calls(session):
    """A `list` is answered while a 10 s exec runs in another session."""
    result_of(await session.call_tool("session_new", {"name": "slow"}))
    result_of(await session.call_tool("list", {}))
    slow = {}

    async def run_slow():
        slow["reply"] = result_of(
            await session.call_tool("exec", {"session": "slow", "command": "sleep 10; echo slept"})
        )

    async with anyio.create_task_group() as group:
        group.start_soon(run_slow)
        await anyio.sleep(1.0)
        begun = time.monotonic()
        listed = result_of(await session.call_tool("list", {}))
        took_ms = (time.monotonic() - begun) * 1000
        states = {s["id"]: s["state"] for s in listed["sessions"]}
        assert states.get("slow") == "running", states
        assert took_ms < 100, f"list took {took_ms:.1f} ms while exec ran"
        ok("list_during_exec", f"{took_ms:.1f} ms, slow is {states['slow']}")
    assert slow["reply"]["exit_code"] == 0, slow["reply"]
    ok("slow_exec", f"{slow['reply']['duration_ms']} ms")


async def progress(session):
    """With a progress token, a long exec sends notifications/progress while output arrives."""
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, message))

    reply = result_of(
        await session.call_tool(
            "exec",
            {"session": "slow", "command": "for i in 1 2 3; do echo step-$i; sleep 0.9; done"},
            progress_callback=on_progress,
        )
    )
    assert reply["exit_code"] == 0, reply
    assert seen, "no progress notification arrived"
    assert any("step-" in (m or "") and "lines" in (m or "") for _, m in seen), seen
    ok("progress", f"{len(seen)} notifications, last: {seen[-1][1]}")


async def cancellation(session):
    """Cancelling a waiting exec returns at once and interrupts the command."""
    result_of(await session.call_tool("session_new", {"name": "cancel"}))
    begun = time.monotonic()
    with anyio.move_on_after(1.0):
        await session.call_tool("exec", {"session": "cancel", "command": "sleep 30"})
    took = time.monotonic() - begun
    assert took < 2.0, f"cancel took {took:.2f} s"
    # The command was interrupted (SIGINT): the session is free again at once.
    deadline = time.monotonic() + 5
    while True:
        history = result_of(await session.call_tool("history", {"session": "cancel"}))
        last = history["commands"][-1]
        if last["state"] == "exited":
            break
        assert time.monotonic() < deadline, history
        await anyio.sleep(0.05)
    assert last["exit_code"] == 130, last
    ok("cancel_interrupts", f"returned after {took:.2f} s, command exited {last['exit_code']}")
    # With on_cancel detach the command goes on.
    with anyio.move_on_after(0.5):
        await session.call_tool(
            "exec", {"session": "cancel", "command": "sleep 1; echo detached-done", "on_cancel": "detach"}
        )
    waited = result_of(await session.call_tool("wait", {"session": "cancel", "exit": True, "timeout_secs": 10}))
    finished = [e for e in waited["events"] if e["kind"] == "command_finished"]
    assert finished and finished[0]["exit_code"] == 0, waited
    ok("cancel_detach", "the detached command finished with 0")


async def dev_server(session):
    """A real HTTP server started by exec answers after exec returned within its yield; the
    agent waits for its port and its output line, talks to it, reads only new output, stops it."""
    port = free_port()
    result_of(await session.call_tool("session_new", {"name": "web", "cwd": WORKDIR}))
    begun = time.monotonic()
    started = result_of(
        await session.call_tool(
            "exec",
            {"session": "web", "command": f"python3 -u -m http.server {port} --bind 127.0.0.1", "yield_secs": 1},
        )
    )
    took = time.monotonic() - begun
    assert started["state"] == "running", started
    assert took < 3, f"exec took {took:.2f} s to yield"
    cursor = started["next_event"]
    ok("server_yielded", f"state running after {took:.2f} s, next_event {cursor}")

    waited = result_of(
        await session.call_tool("wait", {"session": "web", "port": port, "since_event": cursor, "timeout_secs": 20})
    )
    listening = [e for e in waited["events"] if e["kind"] == "port_listening"]
    assert listening and listening[0]["port"] == port, waited
    ok("wait_port", f"port {port} listening (event {listening[0]['seq']})")

    line = result_of(
        await session.call_tool(
            "wait", {"session": "web", "regex": "Serving HTTP", "since_event": cursor, "timeout_secs": 20}
        )
    )
    matched = [e for e in line["events"] if e["kind"] == "output_matched"]
    assert matched and "Serving HTTP" in matched[0]["line"], line
    ok("wait_line", matched[0]["line"])

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
        assert reply.status == 200
    since = started["output"]["range"]["end"]
    await asyncio.sleep(0.3)
    read = result_of(await session.call_tool("read", {"session": "web", "since": since}))
    assert "GET / HTTP" in read["text"], read
    ok("server_answers", f"HTTP 200; new output: {read['text'].strip().splitlines()[-1]}")

    result_of(await session.call_tool("send_keys", {"session": "web", "keys": ["C-c"]}))
    stopped = result_of(
        await session.call_tool("wait", {"session": "web", "exit": True, "since_event": cursor, "timeout_secs": 10})
    )
    finished = [e for e in stopped["events"] if e["kind"] == "command_finished"]
    assert finished, stopped
    ok("server_stopped", f"exit {finished[0].get('exit_code')}")

    # A long build: its finish is an event.
    build = result_of(
        await session.call_tool("exec", {"session": "web", "command": "sleep 1.5; echo built; (exit 3)", "background": True})
    )
    assert build["state"] == "running", build
    done = result_of(
        await session.call_tool(
            "wait", {"session": "web", "exit": True, "since_event": build["next_event"], "timeout_secs": 10}
        )
    )
    finished = [e for e in done["events"] if e["kind"] == "command_finished"]
    assert finished[0]["exit_code"] == 3 and "built" in finished[0].get("digest", ""), done
    ok("wait_exit", f"exit {finished[0]['exit_code']}, digest {finished[0]['digest']!r}")


async def awaiting_input(session):
    """A REPL-like prompt is an awaiting_input event; answering it finishes the command."""
    result_of(await session.call_tool("session_new", {"name": "repl"}))
    started = result_of(
        await session.call_tool(
            "exec", {"session": "repl", "command": "read -p 'name? ' n; echo \"hello $n\"", "background": True}
        )
    )
    waited = result_of(
        await session.call_tool(
            "wait", {"session": "repl", "awaiting_input": True, "since_event": started["next_event"], "timeout_secs": 10}
        )
    )
    event = [e for e in waited["events"] if e["kind"] == "awaiting_input"][0]
    assert any("name?" in line for line in event["screen_tail"]), event
    ok("awaiting_input_event", event["screen_tail"][-1])
    result_of(await session.call_tool("send_keys", {"session": "repl", "text": "ada", "keys": ["Enter"]}))
    done = result_of(
        await session.call_tool(
            "wait", {"session": "repl", "exit": True, "since_event": waited["next_event"], "timeout_secs": 10}
        )
    )
    finished = [e for e in done["events"] if e["kind"] == "command_finished"][0]
    assert "hello ada" in finished.get("digest", ""), finished
    ok("answered", finished["digest"].strip())


async def sandboxed(session):
    """A sandboxed session cannot read a file outside its workspace."""
    workspace = os.path.join(WORKDIR, "ws")
    os.makedirs(workspace, exist_ok=True)
    secret = os.path.join(WORKDIR, "outside-secret.txt")
    with open(secret, "w") as f:
        f.write("top secret\n")
    info = result_of(
        await session.call_tool(
            "session_new", {"name": "box", "cwd": workspace, "workspace": workspace, "policy": "strict"}
        )
    )
    assert info["policy"] == "strict", info
    inside = result_of(await session.call_tool("exec", {"session": "box", "command": "echo hi > inside.txt && cat inside.txt"}))
    assert inside["exit_code"] == 0, inside
    outside = result_of(await session.call_tool("exec", {"session": "box", "command": f"cat {secret}"}))
    assert outside["exit_code"] != 0, outside
    assert "top secret" not in (outside["output"]["digest"] or ""), outside
    listed = result_of(await session.call_tool("list", {}))
    policies = {s["id"]: s.get("policy") for s in listed["sessions"]}
    assert policies["box"] == "strict", policies
    ok("sandbox", f"inside ok; outside exit {outside['exit_code']}: {outside['output']['digest'].strip()}")


async def bad_arguments(session):
    """Bad arguments are clear tool errors, and the server goes on."""
    reply = await session.call_tool("exec", {"cmd": "ls"})
    assert reply.is_error, reply
    text = reply.content[0].text
    assert "cmd" in text and "command" in text, text
    reply = await session.call_tool("wait", {"session": "nope", "exit": True, "timeout_secs": 1})
    assert reply.is_error and "nope" in reply.content[0].text, reply
    reply = await session.call_tool("watch", {"session": "web"})
    assert reply.is_error and "exactly one" in reply.content[0].text, reply
    result_of(await session.call_tool("list", {}))
    ok("bad_arguments", text)


anyio.run(main)
