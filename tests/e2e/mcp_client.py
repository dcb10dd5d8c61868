"""An MCP client that is not rmcp: the official Python SDK drives `nightjarctl mcp` over stdio.

Run by tests/e2e/tests/mcp_python.rs with the path of nightjarctl, the sandbox's URL and an open
ticket id; the environment carries the NIGHTJAR_* directories of the daemon under test. It runs
the scenario twice, once with the `initialize` handshake and once with the newer `server/discover`
style, prints one JSON line of findings, and exits non-zero on the first failed check.
"""

import json
import sys
import urllib.request

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def journal(url):
    with urllib.request.urlopen(f"{url}/__sandbox/journal", timeout=10) as r:
        return json.load(r)["entries"]


def clear_journal(url):
    req = urllib.request.Request(f"{url}/__sandbox/journal", method="DELETE")
    urllib.request.urlopen(req, timeout=10).close()


async def call(session, action, params, confirm=False, progress=None):
    result = await session.call_tool(
        "cw_tickets",
        {"action": action, "params": params, "confirm": confirm},
        progress_callback=progress,
    )
    return result


async def scenario(ctl, env, url, ticket, style):
    server = StdioServerParameters(command=ctl, args=["mcp"], env=env)
    findings = {"style": style}
    async with stdio_client(server) as (read, write):
        async with ClientSession(
            read, write, client_info=types.Implementation(name=f"python-sdk-{style}", version="1")
        ) as session:
            if style == "initialize":
                init = await session.initialize()
                findings["protocol"] = init.protocol_version
                check(init.server_info.name == "nightjard", f"server name {init.server_info.name}")
                check("action table" in (init.instructions or ""), "instructions")
            else:
                found = await session.discover()
                findings["protocol"] = session._negotiated_version
                check(found.capabilities.tools is not None, "discover: no tools capability")

            tools = (await session.list_tools()).tools
            findings["tools"] = len(tools)
            check(len(tools) == 14, f"{len(tools)} tools")
            for t in tools:
                check(t.annotations is not None, f"{t.name}: no annotations")
                check(t.input_schema.get("type") == "object", f"{t.name}: schema")
            meta = next(t for t in tools if t.name == "cw_meta")
            check(meta.annotations.read_only_hint is True, "cw_meta is read-only")

            read_result = await call(session, "get", {"id": ticket})
            check(not read_result.is_error, f"read failed: {read_result}")
            check(read_result.structured_content["result"]["id"] == ticket, "read returns the ticket")
            if style == "discover":
                return findings

            clear_journal(url)
            preview = await call(session, "update", {"id": ticket, "priority_id": 2})
            check(preview.structured_content["status"] == "preview", f"preview: {preview}")
            check(preview.structured_content["request"]["method"] == "PATCH", "preview request")
            check(journal(url) == [], "a preview sent something upstream")

            executed = await call(session, "update", {"id": ticket, "priority_id": 2}, confirm=True)
            check(executed.structured_content["status"] == "executed", f"executed: {executed}")
            patches = [e for e in journal(url) if e["method"] == "PATCH"]
            check(len(patches) == 1, f"{len(patches)} PATCHes")

            clear_journal(url)
            updates = []

            async def progress(done, total, message):
                updates.append((done, total, message))

            hard = await call(session, "close", {"id": ticket}, confirm=True, progress=progress)
            text = hard.content[0].text
            check(text.startswith("timed out (not executed)"), f"hard: {text}")
            check(hard.structured_content["reason"] == "approval_timed_out", "timeout reason")
            check(len(updates) >= 2, f"progress updates: {updates}")
            check(all(e["method"] == "GET" for e in journal(url)), "a hard action was sent")
            findings["progress"] = len(updates)
    return findings


async def main():
    ctl, url, ticket = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = {k: v for k, v in json.loads(sys.argv[4]).items()}
    results = []
    for style in ("initialize", "discover"):
        results.append(await scenario(ctl, env, url, ticket, style))
    print(json.dumps(results))


anyio.run(main)
