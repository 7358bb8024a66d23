"""Write sample snapshots as files, byte for byte the same on every run.

CSV is UTF-8 with ``\\n`` line ends, every cell as text. XLSX holds the same cells on one sheet
"Deals"; the cells of ID, Value, Weighted value and Probability that are plain numbers become
number cells (Value and Weighted value with a currency number format, as Pipedrive's XLSX
exports have), everything else stays text. Workbook properties and zip entry times are fixed
to the as-of date, so the same snapshot always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.xml.functions import tostring

from core.errors import InputError
from core.sample.export import CURRENCY, ID, PROBABILITY, VALUE, WEIGHTED
from core.sample.history import SampleSnapshot

FORMATS = ("csv", "xlsx")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_CORE_PROPERTIES = "docProps/core.xml"


def write_history(
    history: Iterable[SampleSnapshot], out_dir: Path | str, *, formats: Sequence[str] = ("csv",)
) -> list[Path]:
    """Write each snapshot as ``pipedrive_deals_<as_of>.<format>`` in ``out_dir`` (created if
    missing); return the paths in snapshot order, formats in the order given."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"formats must be among {', '.join(FORMATS)}, got {', '.join(formats) or 'none'}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for snapshot in history:
        for fmt in formats:
            path = out / f"{snapshot.file_stem}.{fmt}"
            path.write_bytes(csv_bytes(snapshot) if fmt == "csv" else xlsx_bytes(snapshot))
            paths.append(path)
    return paths


def csv_bytes(snapshot: SampleSnapshot) -> bytes:
    return snapshot.export.to_csv(index=False, lineterminator="\n").encode("utf-8")


def xlsx_bytes(snapshot: SampleSnapshot) -> bytes:
    """The snapshot as an XLSX workbook whose bytes depend only on the snapshot."""
    moment = dt.datetime.combine(snapshot.as_of, dt.time(18, 0))
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Dealcast sample generator"
    sheet = workbook.create_sheet("Deals")
    export = snapshot.export
    sheet.append(list(export.columns))
    for row in export.itertuples(index=False, name=None):
        cells = dict(zip(export.columns, row, strict=True))
        sheet.append([_cell(sheet, header, text, cells[CURRENCY]) for header, text in cells.items()])
    buffer = io.BytesIO()
    workbook.save(buffer)
    workbook.properties.created = workbook.properties.modified = moment
    return _fix_zip_times(buffer.getvalue(), moment, tostring(workbook.properties.to_tree()))


def _cell(sheet, header: str, text: str, currency: str):
    """A number cell for plain numbers in the numeric columns, else the text itself."""
    if header not in (ID, VALUE, WEIGHTED, PROBABILITY) or not _PLAIN_NUMBER.fullmatch(text):
        return text
    if header in (ID, PROBABILITY):
        return int(text) if text.lstrip("-").isdigit() else float(text)
    cell = WriteOnlyCell(sheet, value=float(text))
    cell.number_format = f'#,##0.00 "{currency}"'
    return cell


def _fix_zip_times(data: bytes, moment: dt.datetime, core_properties: bytes) -> bytes:
    """Rewrite the archive with every entry dated ``moment`` and fixed document properties
    (openpyxl stamps the save time into both)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = core_properties if info.filename == _CORE_PROPERTIES else src.read(info)
            fixed = zipfile.ZipInfo(info.filename, date_time=moment.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, content)
    return out.getvalue()
