"""An MCP client that is not part of kino (the official Python `mcp` package): lists kino's
tools and runs a generation to completion, over stdio or streamable HTTP. Prints one JSON line."""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
try:  # mcp 2.x
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as http_client


async def exercise(session):
    await session.initialize()
    tools = await session.list_tools()
    names = sorted(t.name for t in tools.tools)
    result = await session.call_tool(
        "generate", {"provider": "dashscope", "prompt": "a cat via mcp", "wait_seconds": 40}
    )
    job = json.loads(result.content[0].text)
    if not job.get("done"):
        waited = await session.call_tool("wait", {"job_id": job["job_id"], "wait_seconds": 40})
        job = json.loads(waited.content[0].text)
    is_error = getattr(result, "is_error", getattr(result, "isError", False))
    return {"tools": names, "job": job, "is_error": bool(is_error)}


async def call(target, tool, args):
    params = StdioServerParameters(command=target, args=["mcp"], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool(tool, args)
            print(result.content[0].text)


async def main():
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "call":
        await call(target, sys.argv[3], json.loads(sys.argv[4]))
        return
    if mode == "stdio":
        params = StdioServerParameters(command=target, args=["mcp"], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await exercise(session)
    else:
        async with http_client(target) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                out = await exercise(session)
    print(json.dumps(out))


asyncio.run(main())
