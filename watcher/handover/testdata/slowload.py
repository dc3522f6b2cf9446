# An app whose import computes for $SLOWLOAD seconds before it defines
# app (a large app's imports on a loaded machine): gunicorn and uvicorn
# serve it in the handover tests, as WSGI (app) or ASGI (asgi).
import os
import time

_until = time.monotonic() + float(os.environ.get("SLOWLOAD", "3"))
while time.monotonic() < _until:
    pass


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"hello\n"]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello\n"})
