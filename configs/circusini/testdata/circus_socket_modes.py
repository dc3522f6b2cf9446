# Binds each unix [socket:NAME] of a circus.ini with the real Circus's
# CircusSocket, as circusd does, and prints the socket files' permission
# bits as JSON ({name: mode}). Used by circusini's tests, with PYTHONPATH
# pointing at Circus 0.19.0's sources.
import json
import os
import sys

from circus.config import get_config
from circus.sockets import CircusSocket

modes = {}
for conf in get_config(sys.argv[1])["sockets"]:
    if conf.get("path") is None:
        continue
    sock = CircusSocket.load_from_config(conf)
    sock.bind_and_listen()
    modes[conf["name"]] = os.stat(conf["path"]).st_mode & 0o777
    sock.close()
json.dump(modes, sys.stdout)
