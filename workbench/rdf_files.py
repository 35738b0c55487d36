"""Target g(r) tables from the text layouts people have, read without silent guesses.

``read_table(path)`` returns an ``RDFTable``: ``r``, the g columns, their names, where each
point sits in the file, a one-line ``layout`` (what was read as what) and ``notes`` (what the
reader left out, assumed or changed). ``tidy`` then sorts a stray out-of-order point, averages
repeated r, and sets noise-level negative g to 0, naming the lines it touched, and refuses what
it cannot repair, naming the line. ``pairs_from_names`` maps g column names (``gOO gOH gHH``,
``O-O``, ``g_1_2``) to species pairs. Plain numpy and the standard library;
``workbench.targets.TargetRDF.from_file`` turns the table into a target.

Layouts read:

- columns ``r, g[, g2, ...]`` separated by spaces, tabs, commas or semicolons (a semicolon
  file may use decimal commas, as European spreadsheets write them);
- ``#`` comment lines (and text after ``#`` on a data line), title lines before the data, and a
  header line naming the columns (``r,g``; ``r gOO gOH gHH``; ``r (nm), g(r)``); a ``#`` comment
  right before the data that names every column (``# r g(r) int``) serves as the header;
- GROMACS ``.xvg``: ``@`` lines (the x-axis label gives r and its unit, ``sN legend`` names the
  g columns, ``@TYPE xydy`` marks an error column), one data set;
- LAMMPS ``fix ave/time`` output of ``compute rdf`` (blocks of ``timestep n_rows`` then
  ``row r g coord ...``): the last complete block;
- a row-index column first (pandas ``df.to_csv()``: an empty first header cell; R's
  ``write.table``: one name fewer than columns; LAMMPS ``Row``; or an unnamed 0, 1, 2, ...
  beside a column that looks like r): left out, never taken as r;
- running integral / coordination-number columns (VMD's ``r g(r) int``, LAMMPS ``coord``),
  histogram counts and error bars: left out, never taken as another g. Found by name or,
  unnamed, by their shape: an integral never decreases and its steps follow g r^2 (or g) of a
  g column; a histogram follows g r^2;
- transposed files: two (or a few) rows, r then g (as the mdgrad authors ship their targets),
  optionally each row starting with a label (``r, 0.1, 0.2, ...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: g values down to this (g is dimensionless, -> 1 at large r) are read as noise and set to 0.
#: A g(r) from diffraction data is the Fourier transform of an S(q) cut off at q_max, whose
#: ripples below the first peak reach a few 1e-2; a clearly larger negative g is an error.
NEGATIVE_G_NOISE = 0.05
#: Points at one repeated r are averaged when their g agree within this fraction of the curve's
#: scale, max(1, peak g): two clicks on one point of a digitised plot differ by the digitiser's
#: resolution, ~1 % of the axis; 5 % apart they are two different points and averaging them
#: would invent a value.
REPEAT_G_TOLERANCE = 0.05
#: Out-of-order points that are sorted into place: at most this fraction of the points (and at
#: least one). More than that is not a stray point but an unsorted or reversed file, or a wrong
#: column taken as r: refused.
STRAY_FRACTION = 0.05

_BOHR_IN_A = 0.52917721067  # CODATA 2014, as ase.units
LENGTH_IN_ANGSTROM = {"nm": 10.0, "Å": 1.0, "pm": 0.01, "bohr": _BOHR_IN_A}


@dataclass
class RDFTable:
    """A g(r) table read from a file (module docstring)."""

    r: np.ndarray  # [n]
    g: np.ndarray  # [n_g, n]
    g_names: list[str]  # header name of each g column ('' where the file names none)
    where: list[str]  # where each point sits in the file: "line 12" (or "column 12")
    layout: str
    notes: list[str] = field(default_factory=list)
    r_unit: str | None = None  # length unit the file names for r: nm, Å, pm, bohr, sigma
    r_name: str = ""  # the r column's name in the file


@dataclass
class _Series:
    values: np.ndarray
    name: str | None  # header name; None where the file names no columns
    label: str  # where it is: "column 2" (or "line 2" in a transposed file)
    role: str | None = None  # index, r, g, integral, histogram, error

    def called(self) -> str:
        return f"{self.label} ({self.name})" if self.name else self.label


# --- reading ---------------------------------------------------------------------------------

def read_table(path: Path) -> RDFTable:
    """The g(r) table in the text file ``path`` (module docstring); ``ValueError`` naming the
    line (and column) of anything it cannot read."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it as text ({exc})") from exc
    content, comments, xvg = _scan(text)
    if not content:
        raise ValueError("no rows of numbers (expected columns r, g)")
    sep = _separator(content)
    decimal_comma = sep == ";"
    rows = [(no, _split(s, sep)) for no, s in content]
    rows = _drop_trailing_empty_cell(rows)
    notes: list[str] = []
    if any(re.search(r"timestep\s+number-of-rows", c, re.I) for _, c in comments):
        return _lammps(rows, comments, sep, decimal_comma, notes)
    nums = [[_number(c, decimal_comma) for c in cells] for _, cells in rows]
    first = next((i for i, v in enumerate(nums) if None not in v), None)
    if first is None:
        labelled = _labelled_rows(rows, nums)
        if labelled is None:
            raise ValueError("no rows of numbers (expected columns r, g)")
        table, line_numbers, labels = labelled
        return _build(table, line_numbers, names=None, row_labels=labels,
                      header="rows named by their first cell", sep=sep, kind=None, xvg=xvg,
                      notes=notes)
    for no, cells in rows[:first]:  # title or header lines; a broken data row is an error
        if _number(cells[0], decimal_comma) is not None:
            _check_numbers(no, cells, decimal_comma)
    data = rows[first:]
    table, line_numbers = _numeric_block(data, decimal_comma)
    names, header, short = _header(rows[:first], comments, data[0][0], table.shape[1], sep,
                                   xvg, notes)
    if short:  # one name fewer than columns: R's write.table names no row-name column
        short = _integers_rising(table[:, 0])
        names = [None, *names] if short else [*names, None]
    kind = "GROMACS .xvg" if xvg["seen"] else None
    return _build(table, line_numbers, names=names, row_labels=None, header=header, sep=sep,
                  kind=kind, xvg=xvg, notes=notes, index_named_by_header=short)


def _scan(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]], dict]:
    """Content lines ``(line number, text)`` (inline ``#`` comments cut), ``#`` comment lines,
    and the GROMACS ``@`` settings."""
    content, comments = [], []
    xvg: dict = {"seen": False, "xlabel": None, "legends": {}, "type": None}
    end_of_set = None
    for no, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s:
            continue
        if s.startswith("@"):
            xvg["seen"] = True
            if m := re.match(r'@\s*xaxis\s+label\s+"(.*)"', s, re.I):
                xvg["xlabel"] = m.group(1).strip()
            elif m := re.match(r'@\s*s(\d+)\s+legend\s+"(.*)"', s, re.I):
                xvg["legends"][int(m.group(1))] = m.group(2).strip()
            elif m := re.match(r"@\s*type\s+(\w+)", s, re.I):
                xvg["type"] = m.group(1).lower()
            continue
        if s.startswith("&"):  # end of an xvg data set
            end_of_set = end_of_set or no
            continue
        if s.startswith("#"):
            comments.append((no, s[1:].strip()))
            continue
        s = s.split("#", 1)[0].strip()
        if not s:
            continue
        if end_of_set is not None:
            raise ValueError(f"line {no}: a second data set after the '&' on line "
                             f"{end_of_set}; keep one g(r) per file")
        content.append((no, s))
    return content, comments, xvg


_NUMBER_START = re.compile(r"""^["']?[+-]?\.?\d""")
_SEPARATOR_NAMES = {";": "semicolon-separated", ",": "comma-separated",
                    "\t": "tab-separated", " ": "whitespace-separated"}


def _separator(content: list[tuple[int, str]]) -> str:
    """``;`` or ``,`` where most rows of numbers hold one, else whitespace (tabs included;
    ``\\t`` is returned for the name only)."""
    numeric = [s for _, s in content if _NUMBER_START.match(s)] or [s for _, s in content]
    for sep in (";", ",", "\t"):
        if sum(sep in s for s in numeric) > len(numeric) / 2:
            return sep
    return " "


def _split(line: str, sep: str) -> list[str]:
    cells = line.split(sep) if sep in ",;" else line.split()
    return [c.strip().strip("\"'").strip() for c in cells]


def _drop_trailing_empty_cell(rows: list[tuple[int, list[str]]]) -> list:
    """``0.1,1.0,`` on every data row: a separator at the end of the line, not an empty cell."""
    data = [cells for _, cells in rows if _NUMBER_START.match(cells[0] if cells else "")]
    if data and all(len(c) > 1 and c[-1] == "" for c in data):
        return [(no, cells[:-1] if len(cells) > 1 and cells[-1] == "" else cells)
                for no, cells in rows]
    return rows


def _number(cell: str, decimal_comma: bool) -> float | None:
    try:
        return float(cell)
    except ValueError:
        pass
    if decimal_comma and re.fullmatch(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?", cell):
        return float(cell.replace(",", "."))
    if re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)[dD][+-]?\d+", cell):  # Fortran 1.0D-03
        return float(cell.replace("D", "e").replace("d", "e"))
    return None


def _check_numbers(no: int, cells: list[str], decimal_comma: bool) -> None:
    for k, cell in enumerate(cells, 1):
        if _number(cell, decimal_comma) is None:
            what = "is empty" if not cell else f"{cell!r} is not a number"
            raise ValueError(f"line {no}, column {k}: {what} (line {no} is not a row of "
                             "numbers)")


def _numeric_block(data: list[tuple[int, list[str]]], decimal_comma: bool
                   ) -> tuple[np.ndarray, list[int]]:
    """The rows of numbers as ``[n_rows, n_cols]``; ``ValueError`` naming the line of a cell
    that is not a number or of a row of another width."""
    width0, line0 = len(data[0][1]), data[0][0]
    values = []
    for no, cells in data:
        _check_numbers(no, cells, decimal_comma)
        if len(cells) != width0:
            raise ValueError(f"line {no} has {len(cells)} columns but line {line0} has "
                             f"{width0}: every row needs the same number (>= 2) of columns: "
                             "r, g[, g2, ...]")
        values.append([_number(c, decimal_comma) for c in cells])
    return np.asarray(values, float), [no for no, _ in data]


def _labelled_rows(rows, nums):
    """Transposed rows that each start with a label (``r, 0.1, 0.2, ...`` / ``g, 0, ...``),
    after any title lines: ``(table, line numbers, labels)``, or None."""
    start = len(rows)
    while start > 0 and (v := nums[start - 1])[0] is None and len(v) >= 4 \
            and None not in v[1:] and len(v) == len(nums[-1]):
        start -= 1
    if len(rows) - start < 2:
        return None
    table = np.asarray([v[1:] for v in nums[start:]], float)
    return table, [no for no, _ in rows[start:]], [cells[0] for _, cells in rows[start:]]


def _header(preamble, comments, first_data_line: int, width: int, sep: str, xvg: dict,
            notes: list[str]) -> tuple[list[str | None] | None, str, bool]:
    """Column names (None where unnamed), where they came from, and whether the header names
    one column fewer than there are (``width - 1`` names then)."""
    candidates = []
    if preamble:  # the last line before the data
        no, cells = preamble[-1]
        candidates.append((f"header on line {no}", cells))
    elif comments and not xvg["seen"]:  # the comment right before the data: "# r g(r) int"
        no, text = max((c for c in comments if c[0] < first_data_line), default=(0, ""))
        cells = _split(text, sep)
        if any(_role_from_name(c) not in (None, "index") for c in _merge_units(cells)):
            candidates.append((f"header from the comment on line {no}", cells))
    for where, cells in candidates:
        if sep == " ":
            cells = _merge_units(cells)
        if len(cells) == width:
            return list(cells), where, False
        if len(cells) == width - 1:  # R's row names, or a last column left unnamed
            return list(cells), where, True
        if any(_role_from_name(c) not in (None, "index") for c in cells):
            notes.append(f"the {where} has {len(cells)} names for {width} columns: names "
                         "not used")
    if xvg["seen"]:
        names = [xvg["xlabel"]] + [xvg["legends"].get(k) for k in range(width - 1)]
        return names, "names from the @ lines", False
    return None, "no header", False


def _merge_units(cells: list[str]) -> list[str]:
    """``r (nm) g(r)`` split at spaces: glue ``(nm)``, ``[Å]`` to the name before it."""
    out: list[str] = []
    for c in cells:
        if out and re.fullmatch(r"[\(\[\{][^\)\]\}]*[\)\]\}]", c):
            out[-1] = f"{out[-1]} {c}"
        else:
            out.append(c)
    return out


def _lammps(rows, comments, sep, decimal_comma, notes) -> RDFTable:
    """LAMMPS ``fix ave/time`` vector output: blocks of ``timestep n_rows`` then n_rows rows;
    the last complete block (the latest average)."""
    names = None
    for _, text in comments:
        if text.lower().startswith("row"):
            names = text.split()
    blocks, i = [], 0
    while i < len(rows):
        no, cells = rows[i]
        values = [_number(c, decimal_comma) for c in cells]
        if len(values) != 2 or None in values or values[1] != int(values[1]) or values[1] < 1:
            raise ValueError(f"line {no}: expected 'timestep number-of-rows' (a LAMMPS fix "
                             f"ave/time block), found {' '.join(cells)!r}")
        n = int(values[1])
        block = rows[i + 1:i + 1 + n]
        if len(block) < n:
            notes.append(f"the block of timestep {int(values[0])} (line {no}) is incomplete "
                         f"({len(block)} of {n} rows): not used")
            break
        blocks.append((int(values[0]), block))
        i += 1 + n
    if not blocks:
        raise ValueError("no complete block of rows in this LAMMPS fix ave/time file")
    step, block = blocks[-1]
    table, line_numbers = _numeric_block(block, decimal_comma)
    if len(blocks) > 1:
        notes.append(f"{len(blocks)} blocks (timesteps {blocks[0][0]} to {step}): the last "
                     f"one, timestep {step} (lines {line_numbers[0]}-{line_numbers[-1]}), read")
    if names is not None and len(names) != table.shape[1]:
        names = None
    return _build(table, line_numbers, names=names, row_labels=None,
                  header="names from the '# Row ...' comment" if names else "no header",
                  sep=sep, kind=f"LAMMPS fix ave/time, timestep {step}", xvg=None,
                  notes=notes, transposed=False)


# --- what each column is -----------------------------------------------------------------

def _build(table: np.ndarray, line_numbers: list[int], *, names: list[str | None] | None,
           row_labels: list[str] | None, header: str, sep: str, kind: str | None,
           xvg: dict | None, notes: list[str], index_named_by_header: bool = False,
           transposed: bool | None = None) -> RDFTable:
    """The table of numbers ``[n_rows, n_cols]`` as columns (or, transposed, rows) r and g."""
    n_rows, width = table.shape
    if width == 1:
        raise ValueError(f"one column of numbers (lines {line_numbers[0]}-{line_numbers[-1]}):"
                         " a target needs columns r, g (or two rows r and g)")
    if row_labels is not None:
        transposed = True
    elif transposed is None:  # a few rows of many numbers, rising along the first row
        transposed = (2 <= n_rows < width and width >= 3
                      and _rising(table[0]) >= _rising(table[:, 0]))
    if transposed:
        series = [_Series(table[i], row_labels[i] if row_labels else None,
                          f"line {line_numbers[i]}") for i in range(n_rows)]
        offset = 2 if row_labels else 1  # a row label is the first cell
        where = [f"column {k + offset}" for k in range(width)]
        orientation = f"{n_rows} rows (transposed)"
        if row_labels is None:
            header = "rows not named"
    else:
        if n_rows == 1:
            raise ValueError(f"line {line_numbers[0]} is the only row of numbers: a target "
                             "needs columns r, g (one row per r) or two rows r and g")
        series = [_Series(table[:, k], names[k] if names else None, f"column {k + 1}")
                  for k in range(width)]
        where = [f"line {no}" for no in line_numbers]
        orientation = "columns"
    if xvg and xvg["seen"] and xvg["type"] in ("xydy", "xydydy") and not transposed:
        for s in series[-(1 if xvg["type"] == "xydy" else 2):]:
            s.role = "error"
    r_series, g_series, parts = _roles(series, index_named_by_header, notes)
    layout = ", ".join(p for p in (kind, orientation, _SEPARATOR_NAMES[sep], header) if p)
    r_unit = _unit_of(r_series.name) if r_series.name else None
    return RDFTable(r=r_series.values, g=np.stack([s.values for s in g_series]),
                    g_names=[s.name or "" for s in g_series], where=where,
                    layout=f"{layout}: {', '.join(parts)}", notes=notes, r_unit=r_unit,
                    r_name=r_series.name or "")


def _roles(series: list[_Series], index_named_by_header: bool, notes: list[str]
           ) -> tuple[_Series, list[_Series], list[str]]:
    """The r column, the g columns and a description of every column; the others (index,
    running integral, histogram, error bars) are left out with a note."""
    for s in series:
        if s.role is None and s.name is not None:
            s.role = _role_from_name(s.name)
    first = series[0]
    if first.role in (None, "index", "r"):
        named = first.role == "index" or index_named_by_header
        bare = (_index_like(first.values) and _r_like(series[1].values)
                and not _index_like(series[1].values))
        if len(series) >= 3 and ((named and _integers_rising(first.values)) or bare):
            if first.role == "r":
                raise ValueError(f"{first.called()} is named like r but holds 0, 1, 2, ... "
                                 f"(a row index?) while {series[1].called()} looks like "
                                 "distances: rename the columns so that r is the distances")
            if index_named_by_header:
                why = "the header names one column fewer, as R's write.table writes row names"
            elif first.name == "":
                why = "an empty header cell, as pandas' to_csv writes its index"
            elif named:
                why = f"named {first.name!r}"
            else:
                why = f"0, 1, 2, ... beside {series[1].label}, which looks like r"
            notes.append(f"{first.called()} is a row index ({why}): not used as r")
            first.role = "index"
        elif first.role == "index":
            first.role = None  # an unnamed first column of data (pandas Series with r index)
    named_r = [s for s in series if s.role == "r"]
    if len(named_r) > 1:
        raise ValueError(f"{named_r[0].called()} and {named_r[1].called()} are both named "
                         "like r: name one of them differently")
    if named_r:
        r_series = named_r[0]
    else:
        r_series = next(s for s in series if s.role != "index")
        if r_series.role in ("g", "integral", "histogram", "error"):
            raise ValueError(f"no column is named like r (r, distance, radius, x) and the first "
                             f"one, {r_series.called()}, is named like a {r_series.role}")
        r_series.role = "r"
    r = r_series.values
    g_series: list[_Series] = []
    for s in series:
        if s.role in ("index", "r"):
            continue
        if s.role is None:
            if g_series and _integral_like(s.values, r, [x.values for x in g_series]):
                s.role = "integral"
                notes.append(f"{s.called()} never decreases and its steps follow g r^2 (or g) "
                             "of a g column: read as a running integral (coordination "
                             "number), not as a g; if it is a g, name the columns in a header "
                             "line")
                continue
            if g_series and _histogram_like(s.values, r, [x.values for x in g_series]):
                s.role = "histogram"
                notes.append(f"{s.called()} follows g r^2 of a g column: read as histogram "
                             "counts, not as a g; if it is a g, name the columns in a header "
                             "line")
                continue
            s.role = "g"
        elif s.role == "integral":
            notes.append(f"{s.called()} is a running integral (coordination number): not used")
        elif s.role == "histogram":
            notes.append(f"{s.called()} holds histogram counts: not used")
        elif s.role == "error":
            notes.append(f"{s.called()} holds error bars: not used")
        if s.role == "g":
            g_series.append(s)
    if not g_series:
        raise ValueError("no g column: the columns are " + ", ".join(
            _describe(s) for s in series))
    return r_series, g_series, [_describe(s) for s in series]


def _describe(s: _Series) -> str:
    text = {"index": "row index", "integral": "running integral",
            "histogram": "histogram counts", "error": "error bars"}.get(s.role, s.role or "?")
    if s.name and s.name.lower() != text:
        text += f" '{s.name}'"
    return text + (" (not used)" if s.role not in ("r", "g") else "")


_INDEX_NAMES = {"", "index", "idx", "row", "#", "unnamed: 0", "id", "no", "no.", "i"}
_UNIT = r"nm|å|a|ang|angstroms?|pm|bohr|a\.u\.|a0|sigma|σ"
_ROLE_PATTERNS = [
    ("r", r"r|rr|dist|distance|radius|separation|x|r_?mid|r_?cent(?:re|er)s?|"
          r"bin_?cent(?:re|er)s?"),
    ("integral", r"int|integral|int\W*g.*|numint|igr|cn|n|n\(r\)|nr|n_r|coord\w*|"
                 r"coordination.*|cumul\w*|running.*|rcn"),
    ("histogram", r"hist\w*|counts?|npairs"),
    ("error", r"err\w*|std\w*|sd|sem|unc\w*|uncertainty|dg|d_g|dy|delta_?g|sigma_?g|"
              r"error.*"),
    ("g", r"g|gr|g\(r\)|g_?of_?r|gofr|rdf\w*|g_?r\w*"),
]


def _base(name: str) -> str:
    """The name in lower case without its length unit: ``r (nm)`` -> ``r``."""
    s = name.strip().lower()
    s = re.sub(rf"\s*[\(\[\{{]\s*(?:{_UNIT})\s*[\)\]\}}]\s*$", "", s)
    s = re.sub(rf"\s*/\s*(?:{_UNIT})$", "", s)
    s = re.sub(r"[_ ](?:nm|angstroms?|ang|pm|bohr)$", "", s)
    return s.strip()


def _role_from_name(name: str) -> str | None:
    base = _base(name)
    if base in _INDEX_NAMES:
        return "index"
    for role, pattern in _ROLE_PATTERNS:
        if re.fullmatch(pattern, base):
            return role
    if pair_of(name) is not None:
        return "g"
    return None


def _unit_of(name: str) -> str | None:
    """The length unit a column name gives (``r (nm)``, ``r [Å]``, ``r/nm``), canonical."""
    m = (re.search(rf"[\(\[\{{]\s*({_UNIT})\s*[\)\]\}}]", name, re.I)
         or re.search(rf"/\s*({_UNIT})\s*$", name, re.I)
         or re.search(r"[_ ](nm|angstroms?|ang|pm|bohr)$", name, re.I))
    if not m:
        return None
    unit = m.group(1).lower()
    if unit in ("nm", "pm", "bohr"):
        return unit
    if unit in ("a.u.", "a0"):
        return "bohr"
    if unit in ("sigma", "σ"):
        return "sigma"
    return "Å"


# --- column shapes ---------------------------------------------------------------------------

def _rising(v: np.ndarray) -> float:
    return float(np.mean(np.diff(v) > 0)) if len(v) > 1 else 0.0


def _r_like(v: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(v)) and v.min() >= 0 and _rising(v) >= 0.9)


def _integers_rising(v: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.all(np.diff(v) > 0))


def _index_like(v: np.ndarray) -> bool:
    """0, 1, 2, ... (or 1, 2, 3, ...): a row index."""
    return bool(_integers_rising(v) and v[0] in (0, 1) and np.all(np.diff(v) == 1))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0 or not (np.all(np.isfinite(a))
                                                and np.all(np.isfinite(b))):
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _integral_like(c: np.ndarray, r: np.ndarray, gs: list[np.ndarray]) -> bool:
    """Never decreasing, and its steps follow g r^2 (a coordination number) or g (a plain
    running integral) of one of the g columns."""
    if len(c) < 4 or not np.all(np.isfinite(c)):
        return False
    steps = np.diff(c)
    span = float(c.max() - c.min())
    if span <= 0 or np.any(steps < -1e-9 * max(span, float(np.abs(c).max()))):
        return False
    for g in gs:
        for w in (g * r**2, g):
            if max(_corr(steps, w[1:]), _corr(steps, 0.5 * (w[1:] + w[:-1]))) > 0.98:
                return True
    return False


def _histogram_like(c: np.ndarray, r: np.ndarray, gs: list[np.ndarray]) -> bool:
    """Non-negative and following g r^2 (not g itself) of one of the g columns."""
    if not np.all(np.isfinite(c)) or c.min() < 0:
        return False
    return any(_corr(c, g * r**2) > 0.98 and _corr(c, g * r**2) > _corr(c, g) + 0.02
               for g in gs)


# --- repairing and checking the points -------------------------------------------------------

def tidy(r: np.ndarray, g: np.ndarray, where: list[str], g_names: list[str] | None = None
         ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``r [n]``, ``g [n_g, n]`` checked point by point: a stray out-of-order point or two
    sorted into place, repeated r averaged (when their g agree), negative g down to
    ``-NEGATIVE_G_NOISE`` set to 0. Returns ``(r, g, where, notes)``; ``ValueError`` naming
    the line of what it cannot repair (non-finite values, negative r, an unsorted file,
    repeated r with different g, a clearly negative g)."""
    r, g = np.asarray(r, float), np.atleast_2d(np.asarray(g, float))
    where = list(where)
    names = list(g_names or [""] * len(g))
    notes: list[str] = []

    def col(k: int) -> str:
        if len(g) == 1:
            return ""
        return f" (g column {k + 1}{': ' + names[k] if names[k] else ''})"

    for i in range(len(r)):
        if not np.isfinite(r[i]):
            raise ValueError(f"{where[i]}: r is {r[i]}; r and g must be finite numbers")
        for k in range(len(g)):
            if not np.isfinite(g[k, i]):
                raise ValueError(f"{where[i]}: g{col(k)} is {g[k, i]}; r and g must be finite "
                                 "numbers")
        if r[i] < 0:
            raise ValueError(f"{where[i]}: r = {r[i]:.6g} is negative; r must be "
                             "non-negative and strictly increasing")
    # out of order: the points off the longest non-decreasing run
    keep = _longest_nondecreasing(r)
    stray = [i for i in range(len(r)) if i not in keep]
    if stray:
        listed = _list_points(stray, r, where)
        if len(stray) > max(1, int(STRAY_FRACTION * len(r))):
            raise ValueError(f"r is not increasing: {len(stray)} of {len(r)} points are out "
                             f"of order ({listed}), more than a stray point or two; r must be "
                             "non-negative and strictly increasing (sort the file, or check "
                             "which column is r)")
        notes.append(f"r out of order at {listed}: sorted into place")
        order = np.argsort(r, kind="stable")
        r, g, where = r[order], g[:, order], [where[i] for i in order]
    # repeated r: average g if the points agree
    if np.any(np.diff(r) == 0):
        scale = np.maximum(1.0, g.max(axis=1))
        keep_r, keep_g, keep_where, merged = [], [], [], []
        i = 0
        while i < len(r):
            j = i + 1
            while j < len(r) and r[j] == r[i]:
                j += 1
            group = g[:, i:j]
            if j - i > 1:
                spread = group.max(axis=1) - group.min(axis=1)
                k = int(np.argmax(spread / scale))
                if spread[k] > REPEAT_G_TOLERANCE * scale[k]:
                    values = ", ".join(f"{v:.4g}" for v in group[k])
                    raise ValueError(
                        f"{_joined(where[i:j])} have the same r = {r[i]:.6g} but g{col(k)} = "
                        f"{values}: two different points at one r (they differ by more than "
                        f"{REPEAT_G_TOLERANCE:.0%} of the curve's scale); keep one of them")
                merged.append(f"{_joined(where[i:j])} (r = {r[i]:.6g})")
            keep_r.append(r[i])
            keep_g.append(group.mean(axis=1))
            keep_where.append(where[i])
            i = j
        r, g, where = np.asarray(keep_r), np.stack(keep_g, axis=1), keep_where
        notes.append(f"repeated r at {'; '.join(merged)}: g averaged")
    # negative g: noise set to 0, anything more refused
    for k in range(len(g)):
        below = np.flatnonzero(g[k] < -NEGATIVE_G_NOISE)
        if below.size:
            i = int(below[0])
            raise ValueError(f"{where[i]}: g{col(k)} = {g[k, i]:.6g} is below "
                             f"-{NEGATIVE_G_NOISE}; g(r) must be >= 0 (negatives down to "
                             f"-{NEGATIVE_G_NOISE}, noise in a measured g, are set to 0)")
        negative = np.flatnonzero(g[k] < 0)
        if negative.size:
            i = int(negative[np.argmin(g[k, negative])])
            notes.append(f"{negative.size} negative g value(s){col(k)} between "
                         f"-{NEGATIVE_G_NOISE} and 0 set to 0 (most negative: {g[k, i]:.3g} "
                         f"at {where[i]})")
            g = g.copy()
            g[k, negative] = 0.0
    return r, g, where, notes


def _longest_nondecreasing(r: np.ndarray) -> set[int]:
    """Indices of a longest non-decreasing subsequence of ``r`` (patience sorting)."""
    import bisect

    tails: list[float] = []
    tail_index: list[int] = []
    previous = [-1] * len(r)
    for i, x in enumerate(r):
        k = bisect.bisect_right(tails, x)
        if k == len(tails):
            tails.append(x)
            tail_index.append(i)
        else:
            tails[k], tail_index[k] = x, i
        previous[i] = tail_index[k - 1] if k else -1
    keep, i = set(), tail_index[-1] if tail_index else -1
    while i >= 0:
        keep.add(i)
        i = previous[i]
    return keep


def _joined(wheres: list[str]) -> str:
    """``["line 3", "line 4"]`` -> ``lines 3 and 4``."""
    words = {w.split(" ", 1)[0] for w in wheres}
    if len(words) == 1 and all(" " in w for w in wheres):
        numbers = [w.split(" ", 1)[1] for w in wheres]
        return f"{words.pop()}s {', '.join(numbers[:-1])} and {numbers[-1]}"
    return " and ".join(wheres)


def _list_points(indices: list[int], r: np.ndarray, where: list[str], most: int = 6) -> str:
    shown = [f"{where[i]} (r = {r[i]:.6g})" for i in indices[:most]]
    more = f" and {len(indices) - most} more" if len(indices) > most else ""
    return ", ".join(shown) + more


def plausibility_notes(r: np.ndarray, length_unit: str) -> list[str]:
    """Notes on an r grid that reads oddly as distances in ``length_unit``."""
    notes = []
    if len(r) >= 5 and _index_like(r):
        notes.append(f"r is {r[0]:g}, {r[1]:g}, {r[2]:g}, ... (whole numbers): if these are "
                     "bin numbers rather than distances, convert them")
    if length_unit == "Å" and r[-1] < 2.5:
        notes.append(f"r ends at {r[-1]:.4g} Å, before any first peak: if r is in nm, give "
                     "it in Å (or name the unit in the header, e.g. 'r (nm)')")
    if length_unit == "sigma" and r[-1] > 25:
        notes.append(f"r ends at {r[-1]:.4g} sigma: is r in sigma (reduced LJ units)?")
    return notes


# --- species pairs from column names -------------------------------------------------------

_G_PREFIX = re.compile(r"^(?:g\s*\(\s*r\s*\)|g_?of_?r|gofr|rdf|RDF|gr|g|G)(?=$|[^a-z])[\s_:\-]*")


def pair_of(name: str) -> tuple[str, str] | None:
    """The two species a g column name names: ``gOO``, ``g_OH``, ``g(O-H)``, ``O-H``,
    ``rdf_OW_HW``, ``g12``, ``g_1_2``; None for ``g``, ``g(r)`` or a single name (``OW``)."""
    s = name.strip()
    m = _G_PREFIX.match(s)
    prefixed = bool(m and m.end())
    rest = s[m.end():] if m else s
    rest = rest.strip().strip("()[]{}").strip()
    if not rest:
        return None
    parts = [p for p in re.split(r"\s*[-–—_:/,\s]\s*", rest) if p]
    label = r"[A-Za-z][A-Za-z0-9]{0,5}|\d{1,3}" if prefixed else r"[A-Z][A-Za-z0-9]{0,5}|\d{1,3}"
    if len(parts) == 2 and all(re.fullmatch(label, p) for p in parts):
        return parts[0], parts[1]
    if len(parts) == 1 and prefixed:
        p = parts[0]
        if m2 := (re.fullmatch(r"([A-Z][a-z]?)([A-Z][a-z]?)", p) or
                  re.fullmatch(r"(\d)(\d)", p)):
            return m2.group(1), m2.group(2)
        half = len(p) // 2
        if len(p) % 2 == 0 and p[:half] == p[half:]:
            return p[:half], p[half:]
    return None


def pairs_from_names(g_names: list[str], species_names: list[str] | None = None
                     ) -> tuple[list[tuple[int, int]], list[str]] | None:
    """Species pairs ``[(a, b), ...]`` of the g columns from their names, and the species
    names (``species_names`` when given, else the names in order of appearance); None when
    a name does not say its pair, or a name is not among ``species_names``. ``ValueError``
    when two columns name the same pair."""
    labels = [pair_of(n) for n in g_names]
    if not labels or any(p is None for p in labels):
        return None
    flat = [x for p in labels for x in p]
    numeric = all(x.isdigit() for x in flat)
    if species_names:
        lookup = {n: i for i, n in enumerate(species_names)}
        lower = {n.lower(): i for i, n in enumerate(species_names)}

        def index(x: str) -> int | None:
            if x in lookup:
                return lookup[x]
            if x.lower() in lower:
                return lower[x.lower()]
            if numeric:  # g11 g12 g22: 1-based unless a 0 appears
                i = int(x) - (0 if "0" in flat else 1)
                return i if 0 <= i < len(species_names) else None
            return None
        names = list(species_names)
    else:
        if numeric:
            base = 0 if "0" in flat else 1
            n = max(int(x) for x in flat) - base + 1
            names = [str(i + base) for i in range(n)]
        else:
            names = list(dict.fromkeys(flat))

        def index(x: str) -> int | None:
            return int(x) - (0 if "0" in flat else 1) if numeric else names.index(x)
    pairs = []
    for p in labels:
        a, b = index(p[0]), index(p[1])
        if a is None or b is None:
            return None
        pairs.append((a, b))
    seen: dict[frozenset, int] = {}
    for k, p in enumerate(pairs):
        key = frozenset(p)
        if key in seen:
            raise ValueError(f"g columns {seen[key] + 1} ({g_names[seen[key]]}) and {k + 1} "
                             f"({g_names[k]}) name the same species pair")
        seen[key] = k
    return pairs, names


_STATE_NUMBER = r"[_=-]?(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
_STATE_PATTERNS = {
    "density": re.compile(r"(?:^|[_\-. ])(?:rho|dens(?:ity)?|d)" + _STATE_NUMBER
                          + r"(g(?:cc|cm3|_cm3))?(?=$|[_\-. ]|[a-zA-Z])", re.IGNORECASE),
    "temperature": re.compile(r"(?:^|[_\-. ])(?:t|temp(?:erature)?)" + _STATE_NUMBER
                              + r"(k)?(?=$|[_\-. ])", re.IGNORECASE),
    "kelvin": re.compile(r"(?:^|[_\-. ])" + r"(\d+(?:\.\d*)?)k(?=$|[_\-. ])", re.IGNORECASE),
}


def state_point_from_name(filename: str) -> dict[str, float | bool]:
    """The state point a file name states, as a suggestion to confirm: ``rdf_rho0.845_T1.0.dat``
    -> ``{"density": 0.845, "temperature": 1.0}``; ``water_298K_d1.0gcc.csv`` ->
    ``{"temperature": 298.0, "kelvin": True, "density": 1.0, "mass_density": True}``
    (``kelvin``: the temperature was written with a K; ``mass_density``: in g/cm^3). Keys that
    the name does not give are absent; nothing is guessed from bare numbers."""
    stem, suffix = Path(filename).name, Path(filename).suffix
    if re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]*", suffix):  # an extension, not a decimal point
        stem = stem[:-len(suffix)]
    out: dict[str, float | bool] = {}
    m = _STATE_PATTERNS["density"].search(stem)
    if m:
        out["density"] = float(m.group(1))
        if m.group(2):
            out["mass_density"] = True
    m = _STATE_PATTERNS["temperature"].search(stem)
    if m:
        out["temperature"] = float(m.group(1))
        if m.group(2):
            out["kelvin"] = True
    elif (m := _STATE_PATTERNS["kelvin"].search(stem)) is not None:
        out["temperature"], out["kelvin"] = float(m.group(1)), True
    return out
