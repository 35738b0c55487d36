"""Target g(r) files in the layouts people have (issue "No silent wrong numbers"): each layout is
written in tmp_path from one analytic g(r) and must load with r and g equal to the written
numbers (exactly, to the precision the file holds) and say which layout it was read as; repairs
(sorting, averaging repeats, clipping noise) are noted with the lines they touched, and bad files
are refused naming the line or column."""

import logging

import numpy as np
import pandas as pd
import pytest

from workbench import rdf_files
from workbench.targets import TargetRDF

STATE = {"density": 0.7, "temperature": 1.2}


def _analytic_g(r: np.ndarray) -> np.ndarray:
    """A liquid-like g(r): 0 inside the core, a damped oscillation about 1 outside (>= 0)."""
    g = 1.0 + 1.2 * np.exp(-(r - 1.0) / 0.5) * np.cos(2 * np.pi * (r - 1.0) / 1.1)
    return np.where(r < 0.8, 0.0, g)


R = np.round(np.arange(1, 201) * 0.02, 10)  # 0.02 ... 4.0
G = _analytic_g(R)
assert G.min() >= 0
RG = list(zip(R.tolist(), G.tolist(), strict=True))  # Python floats: repr gives every bit


def _fmt(values, spec: str) -> list[str]:
    return [format(float(v), spec) for v in values]


def _as_read(strings: list[str]) -> np.ndarray:
    """What the file holds: the written strings as numbers."""
    return np.array([float(s.replace(",", ".")) for s in strings])


def _load(path, **kw) -> TargetRDF:
    return TargetRDF.from_file(path, **{**STATE, **kw})


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- layouts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sep, decimal, name", [
    (" ", ".", "whitespace-separated"), ("\t", ".", "tab-separated"),
    (",", ".", "comma-separated"), (";", ".", "semicolon-separated"),
    (";", ",", "semicolon-separated"),  # a European spreadsheet: decimal commas
])
def test_columns_with_any_separator_header_and_comments(tmp_path, sep, decimal, name):
    rs, gs = _fmt(R, ".4f"), _fmt(G, ".6f")
    if decimal == ",":
        rs, gs = [s.replace(".", ",") for s in rs], [s.replace(".", ",") for s in gs]
    text = ("# liquid argon, from a paper\nr" + sep + "g\n"
            + "\n".join(f"{a}{sep}{b}" for a, b in zip(rs, gs, strict=True)) + "\n")
    target = _load(_write(tmp_path, "g.txt", text))
    np.testing.assert_array_equal(target.r, _as_read(rs))
    np.testing.assert_array_equal(target.g, _as_read(gs))
    np.testing.assert_allclose(target.g, G, atol=5e-7)  # the file's 6 decimals
    assert target.layout == f"columns, {name}, header on line 2: r, g"
    assert target.notes == [] and target.species_pairs == []


def test_two_rows_as_mdgrad_ships_its_targets(tmp_path):
    # mdgrad's data/LJ_data/rdf_*.csv: np.savetxt of [r; g], comma-separated, %.18e
    path = tmp_path / "rdf_rho0.7_T1.2.csv"
    np.savetxt(path, np.stack([R, G]), delimiter=",")
    target = _load(path)
    np.testing.assert_array_equal(target.r, R)  # %.18e holds every bit of a double
    np.testing.assert_array_equal(target.g, G)
    assert target.layout == "2 rows (transposed), comma-separated, rows not named: r, g"
    labelled = _write(tmp_path, "rows.csv", "r," + ",".join(_fmt(R, ".4f")) + "\ng(r),"
                      + ",".join(_fmt(G, ".5f")) + "\n")
    target = _load(labelled)
    np.testing.assert_array_equal(target.g, _as_read(_fmt(G, ".5f")))
    assert "transposed" in target.layout and "rows named by their first cell" in target.layout


def _xvg(r_label: str, columns: list[np.ndarray], legends: list[str], extra: str = "") -> str:
    head = ["# This file was created by gmx rdf", "# gmx rdf -f traj.xtc -ref OW -sel OW",
            '@    title "Radial distribution"', f'@    xaxis  label "{r_label}"',
            '@    yaxis  label "g(r)"', "@TYPE xy", '@ subtitle "reference OW"',
            "@ legend on"] + [f'@ s{k} legend "{n}"' for k, n in enumerate(legends)]
    rows = ["  ".join(f"{v:10.3f}" if j == 0 else f"{v:10.5f}" for j, v in enumerate(row))
            for row in zip(*columns, strict=True)]
    return "\n".join(head + rows) + "\n" + extra


def test_gromacs_xvg_r_in_nm_is_converted_to_angstrom_or_refused_in_lj_units(tmp_path):
    r_nm = R / 4  # 0.005 ... 1.0 nm
    path = _write(tmp_path, "rdf.xvg", _xvg("r (nm)", [r_nm, G], ["OW"]))
    target = _load(path, units="ase")
    np.testing.assert_array_equal(target.r, 10 * _as_read(_fmt(r_nm, ".3f")))
    np.testing.assert_array_equal(target.g, _as_read(_fmt(G, ".5f")))
    assert target.layout.startswith("GROMACS .xvg, columns, whitespace-separated")
    assert "names from the @ lines" in target.layout and "g 'OW'" in target.layout
    assert any("r is in nm" in n and "converted to Å (x 10)" in n for n in target.notes)
    with pytest.raises(ValueError, match=r"r is in nm .* reduced LJ .*units='ase'") as info:
        _load(path)  # the default units, 'lj': a length in nm has no place there
    assert str(path) in str(info.value)
    unitless = _load(_write(tmp_path, "reduced.xvg", _xvg("r", [R, G], ["g"])))
    np.testing.assert_array_equal(unitless.r, _as_read(_fmt(R, ".3f")))


def test_gromacs_xvg_with_an_error_column_or_two_data_sets(tmp_path):
    text = _xvg("r", [R, G, np.full_like(G, 0.01)], ["g"]).replace("@TYPE xy", "@TYPE xydy")
    target = _load(_write(tmp_path, "err.xvg", text))
    assert target.g.ndim == 1 and "error bars (not used)" in target.layout
    two = _xvg("r", [R, G], ["g"], extra="&\n" + "\n".join(f"{a} {b}" for a, b in RG))
    with pytest.raises(ValueError, match=r"line \d+: a second data set after the '&'"):
        _load(_write(tmp_path, "two.xvg", two))


def test_pandas_csv_with_its_index_column_loads_r_not_the_index(tmp_path):
    path = tmp_path / "df.csv"
    pd.DataFrame({"r": R, "g": G}).to_csv(path)  # the default: ",r,g" then "0,r,g" rows
    assert path.read_text().startswith(",r,g\n0,0.02,")
    target = _load(path)
    np.testing.assert_array_equal(target.r, R)  # pandas writes repr: every bit
    np.testing.assert_array_equal(target.g, G)
    assert target.layout == ("columns, comma-separated, header on line 1: row index (not "
                             "used), r, g")
    assert any("column 1 is a row index" in n and "pandas" in n for n in target.notes)
    # the old advice, species_pairs for "2 g columns", now meets one g column: refused
    with pytest.raises(ValueError, match="1 g column.* but 2 species_pairs"):
        _load(path, species_pairs=[(0, 0), (0, 0)])
    bare = tmp_path / "bare.csv"
    pd.DataFrame({"r": R, "g": G}).to_csv(bare, header=False)
    target = _load(bare)
    np.testing.assert_array_equal(target.r, R)
    assert target.layout.startswith("columns, comma-separated, no header: row index (not used)")
    assert any("0, 1, 2, ... beside column 2, which looks like r" in n for n in target.notes)


def test_r_write_table_row_names(tmp_path):
    text = '"r" "g"\n' + "\n".join(f'"{i + 1}" {a!r} {b!r}'
                                   for i, (a, b) in enumerate(RG))
    target = _load(_write(tmp_path, "from_r.txt", text))
    np.testing.assert_array_equal(target.r, R)
    np.testing.assert_array_equal(target.g, G)
    assert "row index (not used)" in target.layout
    assert any("R's write.table" in n for n in target.notes)


def test_an_index_named_r_is_refused_when_another_column_looks_like_r(tmp_path):
    text = "r,distance,g\n" + "\n".join(f"{i},{a!r},{b!r}"
                                        for i, (a, b) in enumerate(RG))
    with pytest.raises(ValueError, match=r"column 1 \(r\) is named like r but holds 0, 1, 2"):
        _load(_write(tmp_path, "index_r.csv", text))


def _vmd_columns():
    """VMD's ``measure gofr`` output as its users write it: r, g(r), the running integral
    (coordination number, rho 4 pi sum g r^2 dr) and the histogram, 4 decimals."""
    dr = 0.02
    numint = np.cumsum(0.7 * 4 * np.pi * G * R**2 * dr)
    histogram = 500 * G * R**2 * dr
    return [_fmt(x, ".4f") for x in (R, G, numint, histogram)]


@pytest.mark.parametrize("header, n_cols", [("", 3), ("# r g(r) int\n", 3), ("", 4)])
def test_vmd_running_integral_is_not_a_second_g(tmp_path, header, n_cols):
    cols = _vmd_columns()[:n_cols]
    text = header + "\n".join("\t".join(row) for row in zip(*cols, strict=True)) + "\n"
    target = _load(_write(tmp_path, "gofr.dat", text))
    assert target.g.ndim == 1 and target.species_pairs == []
    np.testing.assert_array_equal(target.r, _as_read(cols[0]))
    np.testing.assert_array_equal(target.g, _as_read(cols[1]))
    assert "running integral" in target.layout and "(not used)" in target.layout
    if header:
        assert "header from the comment on line 1" in target.layout
        assert "column 3 (int) is a running integral (coordination number): not used" \
            in target.notes
    else:
        assert any(n.startswith("column 3 never decreases") for n in target.notes)
    if n_cols == 4:
        assert target.layout.endswith("histogram counts (not used)")


def test_lammps_fix_ave_time_rdf_reads_the_last_block(tmp_path):
    rows = _vmd_columns()[:3]
    text = ("# Time-averaged data for fix rdf\n# TimeStep Number-of-rows\n"
            "# Row c_rdf[1] c_rdf[2] c_rdf[3]\n")
    first = [f"{i + 1} {a} 9.0 {c}" for i, (a, c) in enumerate(zip(rows[0], rows[2], strict=True))]
    last = [f"{i + 1} {a} {b} {c}" for i, (a, b, c) in enumerate(zip(*rows, strict=True))]
    text += f"1000 {len(R)}\n" + "\n".join(first) + f"\n2000 {len(R)}\n" + "\n".join(last)
    target = _load(_write(tmp_path, "rdf.lammps", text + "\n"))
    np.testing.assert_array_equal(target.r, _as_read(rows[0]))
    np.testing.assert_array_equal(target.g, _as_read(rows[1]))  # not the 9.0 of block 1
    assert target.layout.startswith("LAMMPS fix ave/time, timestep 2000, columns")
    assert "row index 'Row' (not used)" in target.layout
    assert any("2 blocks" in n and "timestep 2000" in n for n in target.notes)


def test_named_partials_map_to_species_pairs(tmp_path):
    g_oh, g_hh = _analytic_g(R * 1.1), _analytic_g(R * 1.3)
    text = "r gOO gOH gHH\n" + "\n".join(
        " ".join(_fmt(row, ".6f")) for row in zip(R, G, g_oh, g_hh, strict=True))
    path = _write(tmp_path, "water.txt", text)
    target = _load(path)
    assert target.species_pairs == [(0, 0), (0, 1), (1, 1)]
    assert target.species_names == ["O", "H"]
    np.testing.assert_allclose(target.g[1], g_oh, atol=5e-7)
    assert any("equal mole fractions" in n for n in target.notes)
    # species named by the caller, in another order
    again = _load(path, species_names=["H", "O"], composition=[2 / 3, 1 / 3])
    assert again.species_pairs == [(1, 1), (1, 0), (0, 0)]
    # given pairs win when they agree with the names, are refused when they do not
    _load(path, species_names=["O", "H"], species_pairs=[(0, 0), (1, 0), (1, 1)])
    with pytest.raises(ValueError, match=r"g column 2 is named gOH \(O-H\) but species_pairs"):
        _load(path, species_names=["O", "H"], species_pairs=[(0, 0), (1, 1), (0, 1)])
    for names, pairs in [("r O-O O-H", [(0, 0), (0, 1)]), ("r g_1_1 g_1_2", [(0, 0), (0, 1)]),
                         ("r g11 g22", [(0, 0), (1, 1)])]:
        text = names + "\n" + "\n".join(f"{a!r} {b!r} {b!r}" for a, b in RG)
        assert _load(_write(tmp_path, "p.txt", text)).species_pairs == pairs, names


def test_unnamed_partials_still_need_species_pairs(tmp_path):
    text = "\n".join(f"{a!r} {b!r} {0.5 * b!r}" for a, b in RG)
    path = _write(tmp_path, "partials.txt", text)
    with pytest.raises(ValueError, match="2 g columns .*give species_pairs"):
        _load(path)
    target = _load(path, species_pairs=[(0, 0), (0, 1)])
    np.testing.assert_array_equal(target.g[1], 0.5 * G)


# --- digitised and measured curves -------------------------------------------------------------

def _csv_lines(r=R, g=G) -> list[str]:
    return [f"{a!r},{b!r}" for a, b in zip(r.tolist(), g.tolist(), strict=True)]


def test_a_stray_out_of_order_point_is_sorted_in_with_a_note(tmp_path):
    lines = _csv_lines()
    lines.insert(10, lines.pop(40))  # the point of r = 0.82 clicked late: now on line 11
    target = _load(_write(tmp_path, "digitised.csv", "\n".join(lines)))
    np.testing.assert_array_equal(target.r, R)
    np.testing.assert_array_equal(target.g, G)
    assert target.notes == ["r out of order at line 11 (r = 0.82): sorted into place"]


def test_a_repeated_point_is_averaged_and_a_conflicting_one_refused(tmp_path):
    lines = _csv_lines()
    lines.insert(31, f"{RG[30][0]!r},{RG[30][1] + 0.01!r}")  # lines 31 and 32: r = 0.62 twice
    target = _load(_write(tmp_path, "twice.csv", "\n".join(lines)))
    np.testing.assert_array_equal(target.r, R)
    assert target.g[30] == pytest.approx(G[30] + 0.005, abs=1e-15)
    assert target.notes == ["repeated r at lines 31 and 32 (r = 0.62): g averaged"]
    lines = _csv_lines()
    lines.insert(51, f"{RG[50][0]!r},{RG[50][1] + 0.5!r}")
    with pytest.raises(ValueError, match=r"lines 51 and 52 have the same r = 1.02 but g = "):
        _load(_write(tmp_path, "conflict.csv", "\n".join(lines)))


def test_an_unsorted_file_is_refused_naming_the_lines(tmp_path):
    lines = _csv_lines()
    lines[20:40] = lines[20:40][::-1]
    with pytest.raises(ValueError, match=r"r is not increasing: 19 of 200 points are out of "
                       r"order \(line 21 \(r = 0.8\), line 22"):
        _load(_write(tmp_path, "unsorted.csv", "\n".join(lines)))


def test_noise_level_negative_g_is_clipped_and_a_clear_negative_refused(tmp_path, caplog):
    g = G.copy()
    g[[2, 5, 7]] = [-1e-5, -0.03, -2e-4]  # a measured g below its core
    with caplog.at_level(logging.INFO, logger="workbench.targets"):
        target = _load(_write(tmp_path, "neutron.csv", "\n".join(_csv_lines(g=g))))
    assert np.all(target.g >= 0) and np.all(target.g[[2, 5, 7]] == 0)
    np.testing.assert_array_equal(np.delete(target.g, [2, 5, 7]), np.delete(G, [2, 5, 7]))
    assert target.notes == ["3 negative g value(s) between -0.05 and 0 set to 0 (most "
                            "negative: -0.03 at line 6)"]
    assert "most negative: -0.03 at line 6" in caplog.text  # logged for the dashboard
    g[12] = -0.2
    with pytest.raises(ValueError, match=r"line 13: g = -0.2 is below -0.05; g\(r\) must be "
                       ">= 0"):
        _load(_write(tmp_path, "negative.csv", "\n".join(_csv_lines(g=g))))


def test_npz_targets_get_the_same_checks(tmp_path):
    g = G.copy()
    g[3] = -1e-4
    path = tmp_path / "t.npz"
    np.savez(path, r=R, g=g, density=0.7, temperature=1.2)
    target = TargetRDF.from_file(path)
    assert target.g[3] == 0 and "at point 4" in target.notes[0]
    assert target.layout == "npz arrays r (200,), g (200,)"


# --- bad files ----------------------------------------------------------------------------

@pytest.mark.parametrize("content, match", [
    ("r,g\n0.1,0.0\n0.2,\n0.3,1.0\n", r"line 3, column 2: is empty"),  # pandas' NaN
    ("r g\n0.1 0.0\n0.2 1.0 # ok\n0.3 one\n", r"line 4, column 2: 'one' is not a number"),
    ("0.1 0.0\n0.2 1.0\n0.3 1.0 2.0\n", r"line 3 has 3 columns but line 1 has 2"),
    ("0.1 0.0\n0.2 nan\n0.3 1.0\n", r"line 2: g is nan"),
    ("-0.1 0.0\n0.2 1.0\n0.3 1.0\n", r"line 1: r = -0.1 is negative"),
    ("0.1 0.2 0.3 0.4\n", r"line 1 is the only row of numbers"),
    ("r int\n0.1 0.0\n0.2 1.0\n0.3 2.0\n", r"no g column: the columns are r, running "
                                            r"integral 'int' \(not used\)"),
])
def test_bad_files_are_refused_naming_the_line_or_column(tmp_path, content, match):
    path = _write(tmp_path, "bad.txt", content)
    with pytest.raises(ValueError, match=match) as info:
        _load(path)
    assert str(path) in str(info.value)


def test_layout_and_notes_travel_with_the_target(tmp_path):
    lines = _csv_lines()
    lines[3] = f"{RG[3][0]!r},-1e-5"
    target = _load(_write(tmp_path, "t.csv", "\n".join(lines)))
    meta = target.to_dict()
    assert meta["layout"] == target.layout and meta["notes"] == target.notes
    again = TargetRDF(r=target.r, g=target.g, **meta)  # as a stored fit rebuilds it
    assert again.layout == target.layout and again.notes == target.notes


def test_integer_r_gets_a_note():
    notes = rdf_files.plausibility_notes(np.arange(10.0), "sigma")
    assert notes and "bin numbers" in notes[0]
    assert rdf_files.plausibility_notes(R, "sigma") == []


def test_the_tune_dashboard_says_how_it_read_a_file():
    """The Tune dashboard shows "target: <source>": the file name, its layout and the notes."""
    from workbench.fit import TuneSession
    from workbench.ui.tune import TuneDashboard

    session = TuneSession(n_atoms=108, replicas=1)
    received = []
    session.set_target = lambda target, reference=None: received.append(target)  # no fits
    board = TuneDashboard(session, auto_target=False)
    try:
        board.source.value = "File"
        board.t_file.filename = "df.csv"
        board.t_file.value = (",r,g\n" + "\n".join(
            f"{i},{a!r},{b!r}" for i, (a, b) in enumerate(RG))).encode()
        board.make_target()
    finally:
        board.close()
    (target,) = received
    np.testing.assert_array_equal(target.r, R)
    assert target.source.startswith("df.csv (read as columns, comma-separated, header on "
                                    "line 1: row index (not used), r, g); column 1 is a row "
                                    "index")


def test_labelled_rows_after_a_title_and_pair_names_outside_species_names(tmp_path):
    text = ("mdgrad-style target\nr," + ",".join(_fmt(R, ".4f")) + "\ng,"
            + ",".join(_fmt(G, ".5f")) + "\n")
    target = _load(_write(tmp_path, "titled.csv", text))
    np.testing.assert_array_equal(target.r, _as_read(_fmt(R, ".4f")))
    assert target.layout.startswith("2 rows (transposed)")
    text = "r gOO gOH\n" + "\n".join(f"{a!r} {b!r} {b!r}" for a, b in RG)
    with pytest.raises(ValueError, match=r"name species not among species_names \['O'\]: "
                       "give species_pairs"):
        _load(_write(tmp_path, "oh.txt", text), species_names=["O"])
