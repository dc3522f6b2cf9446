# An ASGI app whose import fails, as a deploy with a missing dependency
# does: uvicorn --workers N keeps its supervisor running with no worker.
import module_this_deploy_forgot  # noqa: F401
