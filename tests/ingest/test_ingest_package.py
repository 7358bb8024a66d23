"""core.ingest's surface: every public name resolves, and importing the package is cheap."""

import subprocess
import sys

import core.ingest


def test_every_public_name_of_core_ingest_resolves():
    assert all(getattr(core.ingest, name) is not None for name in core.ingest.__all__)


def test_importing_core_ingest_loads_neither_the_pipeline_nor_duckdb_nor_pandas():
    heavy = ("core.ingest.pipeline", "core.store", "duckdb", "pandas", "pyarrow")
    script = f"import sys, core.ingest; print(sorted(set({heavy!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_ingest_command_and_its_pipeline_load_neither_numpy_nor_pyarrow():
    """Their import (~0.16 s) happens in the thread that packs an upload's raw bytes, so the
    start of an ingest does not wait for it."""
    modules = ("core.cli.ingest", "core.ingest.pipeline", "core.ingest.direct")
    script = (
        f"import importlib, sys; [importlib.import_module(name) for name in {modules!r}]; "
        "print(sorted({'numpy', 'pyarrow', 'pandas'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
