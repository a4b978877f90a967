"""The ceiling for ``bench_collector``: the collector's stack (uvicorn, Starlette, orjson)
answering ``/v1/batch`` without checking or storing anything."""

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def batch(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(b'{"success":true}', media_type="application/json")


app = Starlette(routes=[Route("/v1/batch", batch, methods=["POST"])])
