"""Validates prom's FHIR output with an independent library.

    python tests/fhir/validate.py FILE.json ...

Each file is a FHIR R4 resource (a Bundle or a Questionnaire) as prom
wrote it; `fhir.resources` 6.1 (FHIR 4.0.1, from PyPI, installed by
.ci/run) parses and validates it: types, cardinalities, value formats.
Ends with "N passed, N failed".
"""

import json
import sys

from fhir.resources import construct_fhir_element

passed = failed = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    resources = [data]
    if data.get("resourceType") == "Bundle":
        resources += [e["resource"] for e in data.get("entry", [])]
    for r in resources:
        name = f"{path}: {r.get('resourceType')} {r.get('id', '')}".strip()
        try:
            construct_fhir_element(r["resourceType"], r)
        except Exception as e:  # the validator's own report
            failed += 1
            print(f"FAIL {name}\n       {e}")
        else:
            passed += 1
            print(f"ok   {name}")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
