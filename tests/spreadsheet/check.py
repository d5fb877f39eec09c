"""Opens prom's CSV exports in a real spreadsheet and checks them.

    python tests/spreadsheet/check.py FILE.csv ...

Each CSV is converted by LibreOffice Calc (headless, installed by .ci/run)
to .xlsx, as a person opening it would see it, and read back with
openpyxl: no cell may be a formula, the patient column holds only
pseudonyms (p + 16 hex digits), and the number columns stay numbers. As a
control, the same file with the export's leading ' removed must give
formula cells, or the check would prove nothing. Ends with "N passed,
N failed".
"""

import csv
import os
import re
import subprocess
import sys
import tempfile

import openpyxl

NUMBERS = {"response", "version", "pain_now", "pain_worst"}


def to_xlsx(path, outdir):
    subprocess.run(
        ["soffice", "--headless", "--infilter=CSV:44,34,76,1",
         "--convert-to", "xlsx", "--outdir", outdir, path],
        check=True, capture_output=True, timeout=300,
    )
    return os.path.join(outdir, os.path.splitext(os.path.basename(path))[0] + ".xlsx")


def formulas(xlsx):
    ws = openpyxl.load_workbook(xlsx).active
    return ws, [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]


passed = failed = 0
for path in sys.argv[1:]:
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        ws, found = formulas(to_xlsx(path, tmp))
        if found:
            problems.append(f"formula cells: {found}")
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            cells = dict(zip(header, row))
            if not re.fullmatch(r"p[0-9a-f]{16}", str(cells["patient"].value)):
                problems.append(f"not a pseudonym: {cells['patient'].value!r}")
            for name in NUMBERS & set(header):
                if cells[name].value is not None and cells[name].data_type != "n":
                    problems.append(f"{name} is not a number: {cells[name].value!r}")
        # The control: without the guard, Calc must see formulas.
        unguarded = os.path.join(tmp, "unguarded.csv")
        with open(path, newline="", encoding="utf-8") as f, \
                open(unguarded, "w", newline="", encoding="utf-8") as g:
            w = csv.writer(g)
            for rec in csv.reader(f):
                w.writerow([c[1:] if c.startswith("'") else c for c in rec])
        _, control = formulas(to_xlsx(unguarded, os.path.join(tmp, "c")))
        if not control:
            problems.append("the control without the guard shows no formula: the check proves nothing")
    if problems:
        failed += 1
        print(f"FAIL {path}")
        for p in problems:
            print(f"       {p}")
    else:
        passed += 1
        print(f"ok   {path}: no formula cell (the unguarded control has {len(control)})")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
