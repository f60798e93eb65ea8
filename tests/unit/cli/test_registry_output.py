"""start-cli's table format (prettytable ``FORMAT_DEFAULT``) as ``s9reg registry`` draws it."""

from __future__ import annotations

from s9reg.cli.registry._output import Table

# What prettytable prints for row![bc => "Hello World"], row![br -> "VERSION", "1.0.0:0"],
# a two-line cell and a short row: rules between all rows, one space of padding, missing
# cells blank, centred and right-aligned cells padded on both or the left side.
EXPECTED = """\
+---------------+---------+
|  Hello World  |         |
+---------------+---------+
|       VERSION | 1.0.0:0 |
+---------------+---------+
| RELEASE NOTES | one     |
|               | two     |
+---------------+---------+
|    VERSION    |  NOTES  |
+---------------+---------+
"""


def test_table_draws_prettytables_default_format() -> None:
    t = Table()
    t.add_row(["Hello World"], "center")
    t.add_row(["VERSION", "1.0.0:0"], first="right")
    t.add_row(["RELEASE NOTES", "one\ntwo"], first="right")
    t.add_row(["VERSION", "NOTES"], "center")
    assert t.render() == EXPECTED


def test_an_empty_table_draws_nothing() -> None:
    assert Table().render() == ""
