"""Running SQL over pandas frames (core.cashflow.sql)."""

import threading

import numpy as np
import pandas as pd

from core.cashflow.sql import frames


def test_a_frame_is_read_under_its_name_with_its_types():
    frame = pd.DataFrame(
        {
            "kind": pd.Categorical(["forecast", None]),
            "day": np.array(["2026-01-05", "NaT"], dtype="datetime64[s]"),
            "name": pd.array(["a", None], dtype="str"),
        }
    )
    with frames(deals=frame) as con:
        rows = con.execute("SELECT kind::VARCHAR, CAST(day AS DATE) + 1, name FROM deals").fetchall()
    assert [(kind, str(day), name) for kind, day, name in rows] == [
        ("forecast", "2026-01-06", "a"),
        (None, "None", None),
    ]


def test_each_block_sees_only_its_own_frames_even_across_threads():
    counts: dict[int, int] = {}
    barrier = threading.Barrier(4)

    def count(rows: int) -> None:
        with frames(deals=pd.DataFrame({"x": range(rows)})) as con:
            barrier.wait()  # every thread holds its frame under the same name at once
            counts[rows] = con.execute("SELECT count(*) FROM deals").fetchone()[0]

    threads = [threading.Thread(target=count, args=(rows,)) for rows in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == {1: 1, 2: 2, 3: 3, 4: 4}


def test_the_names_are_gone_after_the_block():
    with frames(deals=pd.DataFrame({"x": [1]})) as con:
        pass
    with frames() as other:
        assert other.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'deals'"
        ).fetchone() == (0,)
    assert con is not other
