"""Runs prom's FHIRPath with an independent engine.

    python tests/fhir/fhirpath_check.py QUESTIONNAIRES_DIR RESPONSE.json ...

QUESTIONNAIRES_DIR holds prom's FHIR exports (a Bundle or Questionnaire
per file). For every QuestionnaireResponse given (alone or in a Bundle),
`fhirpathpy` (from PyPI, installed by .ci/run) evaluates, against the
response as `%resource`:

- each score item's SDC `variable`s and `calculatedExpression`: the value
  must be the score prom stored in the response (none when prom has none);
- each item's SDC `enableWhenExpression`: an item prom stored an answer for
  must be enabled by it (prom drops the answers of hidden items).

Ends with "N passed, N failed" (a response is one check).
"""

import glob
import json
import sys
from decimal import Decimal

from fhirpathpy import evaluate
from fhirpathpy.models import models

MODEL = models["r4"]
CALC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
ENABLE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"


def resources(doc):
    if doc.get("resourceType") == "Bundle":
        return [e["resource"] for e in doc.get("entry", [])]
    return [doc]


def items(xs):
    for it in xs or []:
        yield it
        yield from items(it.get("item"))


questionnaires = {}
for path in glob.glob(f"{sys.argv[1]}/*.json"):
    with open(path, encoding="utf-8") as f:
        for r in resources(json.load(f)):
            if r.get("resourceType") == "Questionnaire":
                questionnaires[r["url"]] = r

passed = failed = scores = conditions = 0
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    for qr in resources(doc):
        if qr.get("resourceType") != "QuestionnaireResponse":
            continue
        q = questionnaires.get(qr["questionnaire"].split("|")[0])
        if q is None:
            continue
        answered = {it["linkId"]: it.get("answer") for it in items(qr.get("item"))}
        problems = []
        for it in items(q.get("item")):
            exts = it.get("extension", [])
            calc = [e for e in exts if e["url"] == CALC]
            if calc:
                env = {"resource": qr}
                for v in (e["valueExpression"] for e in exts if e["url"] == VARIABLE):
                    env[v["name"]] = evaluate(qr, v["expression"], env, MODEL)
                got = evaluate(qr, calc[0]["valueExpression"]["expression"], env, MODEL)
                stored = answered.get(it["linkId"])
                want = [Decimal(str(stored[0]["valueDecimal"]))] if stored else []
                if [Decimal(str(x)) for x in got] != want:
                    problems.append(f"score {it['linkId']}: FHIRPath gives {got}, prom stored {want}")
                scores += 1
            enable = [e for e in exts if e["url"] == ENABLE]
            if enable and it["linkId"] in answered:
                got = evaluate(qr, enable[0]["valueExpression"]["expression"], {"resource": qr}, MODEL)
                if got != [True]:
                    problems.append(f"{it['linkId']} is answered but its enableWhenExpression gives {got}")
                conditions += 1
        name = f"{path}: {qr.get('id', '')}"
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"       {p}")
        else:
            passed += 1
print(f"{scores} scores and {conditions} conditions evaluated")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
