import logging
import os
import sys

# Arrow's default allocator (mimalloc) reserves a large arena it asks the kernel to back with
# huge pages; a short process pays for that in system time on every first touch (0.3-0.5 s of
# a 1M-deal forecast) and never lives long enough to reuse it. The C library's allocator
# costs a short command nothing extra. Read when pyarrow is first imported; a user's own
# setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from core.cli import main
from core.config import get_settings
from core.monitoring import configure_process

# The command line's output is its answer: it logs warnings and errors only; the API logs
# an event per request, forecast, ingest and LLM call.
serving = sys.argv[1:2] == ["serve"]
level = logging.INFO if serving else logging.WARNING
configure_process("api" if serving else "cli", get_settings(), level=level)
sys.exit(main())
