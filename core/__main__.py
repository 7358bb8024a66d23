import logging
import sys

from core.cli import main
from core.config import get_settings
from core.monitoring import configure_process

# The command line's output is its answer: it logs warnings and errors only; the API logs
# an event per request, forecast, ingest and LLM call.
serving = sys.argv[1:2] == ["serve"]
level = logging.INFO if serving else logging.WARNING
configure_process("api" if serving else "cli", get_settings(), level=level)
sys.exit(main())
