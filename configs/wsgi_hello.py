"""A minimal WSGI app for configs/gunicorn.toml: answers with its pid."""

import os


def app(environ, start_response):
    body = "hello from pid {}\n".format(os.getpid()).encode()
    start_response("200 OK", [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
