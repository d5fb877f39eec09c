#!/usr/bin/env python3
"""prom watched by a real Prometheus (Debian's package), as .ci/run runs it.

Starts `prom serve` with a metrics listener on a fresh database, starts
Prometheus scraping it every second with the shipped alert rules loaded,
drives three submissions (one red), and asks Prometheus's HTTP API for the
submission counter, the open red items and the age of the oldest red item,
and for the rules it loaded. Exit 0 when every value is as expected.

usage: check.py PROM_BINARY RULES_FILE
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def wait(url, what):
    for _ in range(200):
        try:
            status, _ = http(url)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{what} never answered at {url}")


def main():
    prom, rules = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="prom-prometheus-")
    db = ["--db", os.path.join(work, "prom.db")]

    def cli(*args):
        return subprocess.run([prom, *args, *db], check=True, capture_output=True, text=True).stdout.strip()

    cli("clinic", "add", "c1", "--name", "C1", "--alert-email", "alerts@c1.example")
    key = cli("apikey", "add", "--clinic", "c1")
    cli("patient", "add", "--ref", "M1", "--clinic", "c1")
    app, metrics, prom_port = free_port(), free_port(), free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            [prom, "serve", *db, "--listen", f"127.0.0.1:{app}",
             "--metrics-listen", f"127.0.0.1:{metrics}",
             "--mail-dir", os.path.join(work, "mail"), "--base-url", "https://prom.example"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prom.log"), "w")))
        wait(f"http://127.0.0.1:{app}/readyz", "prom")
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: prom
    static_configs:
      - targets: ["127.0.0.1:{metrics}"]
""")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w")))
        base = f"http://127.0.0.1:{prom_port}"
        wait(f"{base}/-/ready", "Prometheus")

        answers = [{"pain_now": 2, "pain_worst": 3}, {"pain_now": 1, "pain_worst": 2},
                   {"pain_now": 9, "pain_worst": 9}]
        for a in answers:
            body = json.dumps({"questionnaire": "pain_nrs", "patient": "M1", "answers": a}).encode()
            status, text = http(f"http://127.0.0.1:{app}/api/v1/responses", body,
                                {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            assert status == 201, text
        submitted = time.time()

        def query(q):
            _, text = http(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
            result = json.loads(text)["data"]["result"]
            return [float(r["value"][1]) for r in result]

        expected = {
            'sum(prom_submissions_stored_total{channel="api"})': lambda v: v == [3.0],
            'prom_flags_raised_total{level="red"}': lambda v: v == [1.0],
            'prom_review_open_items{level="red"}': lambda v: v == [1.0],
            "prom_review_oldest_open_red_age_seconds": lambda v: len(v) == 1 and 0 <= v[0] <= time.time() - submitted + 5,
            'up{job="prom"}': lambda v: v == [1.0],
        }
        got = {}
        for _ in range(60):
            got = {q: query(q) for q in expected}
            if all(check(got[q]) for q, check in expected.items()):
                break
            time.sleep(0.5)
        for q, check in expected.items():
            print(f"{'ok  ' if check(got[q]) else 'FAIL'} {q} = {got[q]}")
        if not all(check(got[q]) for q, check in expected.items()):
            print(open(os.path.join(work, "prom.log")).read()[-2000:])
            sys.exit(1)
        _, text = http(f"{base}/api/v1/rules")
        names = {r["name"] for g in json.loads(text)["data"]["groups"] for r in g["rules"]}
        for alert in ["PromRedItemUnreviewed", "PromDeadEmails", "PromDown", "PromDiskNearlyFull"]:
            if alert not in names:
                sys.exit(f"Prometheus did not load the rule {alert}: {sorted(names)}")
        print(f"ok   Prometheus loaded {len(names)} alert rules from {os.path.basename(rules)}")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
