"""Print the latest figures of each reliability test as a Markdown table (for
docs/RELIABILITY.md): `python -m tests.reliability.report`."""

from __future__ import annotations

import json

from tests.reliability.harness import FIGURES

COMMANDS = {
    "worker_sigkilled": "pytest tests/reliability/test_faults.py -k worker_sigkilled",
    "postgres_stopped_fast": "pytest tests/reliability/test_faults.py -k postgres_stopped_fast",
    "postgres_stopped_immediately": "pytest tests/reliability/test_faults.py -k immediately",
    "postgres_restarted": "pytest tests/reliability/test_faults.py -k postgres_restarted",
    "postgres_restart_fast": "pytest tests/reliability/test_postgres_restarts.py -k fast",
    "postgres_restart_immediate": "pytest tests/reliability/test_postgres_restarts.py -k immediate",
    "retry_after_api_death": "pytest tests/reliability/test_postgres_restarts.py -k retry",
    "temporal_restarted": "pytest tests/reliability/test_faults.py -k temporal_restarted",
    "api_restarted": "pytest tests/reliability/test_faults.py -k api_restarted",
    "race_submits_disassociation": "pytest tests/reliability/test_races.py -k 'submits and dis'",
    "race_submits_type_change": "pytest tests/reliability/test_races.py -k 'submits and type'",
    "race_decisions_disassociation": "pytest tests/reliability/test_races.py -k 'withdraw and dis'",
    "race_decisions_type_change": "pytest tests/reliability/test_races.py -k 'withdraw and type'",
    "race_deadline_disassociation": "pytest tests/reliability/test_races.py -k 'deadline and dis'",
    "race_deadline_type_change": "pytest tests/reliability/test_races.py -k 'deadline and type'",
    "race_type_change_vs_disassociation": "pytest tests/reliability/test_races.py"
    " -k type_change_and_a_disassociation",
    "race_partner_change_consents": "pytest tests/reliability/test_races.py -k consents_at_once",
    "race_partner_change_agree_vs_decline": "pytest tests/reliability/test_races.py"
    " -k agree_and_a_decline",
    "race_partner_change_withdraw_vs_accept": "pytest tests/reliability/test_races.py"
    " -k withdrawal_against",
    "race_deadline_partner_change": "pytest tests/reliability/test_races.py"
    " -k acceptance_around_the_deadline",
    "scale_out": "pytest tests/reliability/test_scale_out.py",
    "schemathesis": "pytest tests/reliability/test_fuzz_api.py",
    "hypothesis_state_machine": "pytest tests/reliability/test_model.py",
}


def latest() -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for line in FIGURES.read_text().splitlines():
        row = json.loads(line)
        rows[row["test"]] = row
    return rows


def main() -> None:
    print("| run | figures | command |")
    print("|---|---|---|")
    for name, row in latest().items():
        figures = ", ".join(f"{k}: {v}" for k, v in row.items() if k not in ("test", "at"))
        print(f"| {name} | {figures} | `.venv/bin/python -m {COMMANDS.get(name, 'pytest')}` |")


if __name__ == "__main__":
    main()
