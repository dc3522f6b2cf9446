# Prints what the real Circus makes of a circus.ini, as JSON: the
# watchers (name, numprocesses, argv words, env as circusd hands it to the
# watcher) and the sockets. Used by circusini's tests, with PYTHONPATH
# pointing at Circus 0.19.0's sources.
import json
import shlex
import sys

from circus.config import get_config
from circus.util import parse_env_dict

cfg = get_config(sys.argv[1])
out = {"watchers": [], "sockets": []}
for w in cfg["watchers"]:
    argv = shlex.split(w["cmd"]) + shlex.split(w.get("args") or "")
    out["watchers"].append({
        "name": w["name"],
        "numprocesses": w["numprocesses"],
        "argv": argv,
        "copy_env": w["copy_env"],
        "env": parse_env_dict(w["env"]),
        "priority": w["priority"],
        "graceful_timeout": float(w["graceful_timeout"]),
        "max_retry": w["max_retry"],
        "rlimits": {k: v for k, v in w["rlimits"].items()},
    })
for s in cfg["sockets"]:
    out["sockets"].append({"name": s["name"], "host": s.get("host", "localhost"),
                           "port": int(s.get("port", 8080)), "path": s.get("path"),
                           "backlog": int(s.get("backlog", 2048))})
json.dump(out, sys.stdout)
