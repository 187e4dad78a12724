"""The proof of a run, built after rendering: the sample page in the document store, and the mix against
last period's run, for the Prefect UI and for the person who releases the run."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import S3Settings
from config.tenant import TenantRules
from omnibill.ledger.codec import document_from_row, party_from_json
from omnibill.ledger.db import Ledger
from omnibill.ledger.models import BillingRun
from omnibill.model import MESSAGE_CATEGORIES
from omnibill.ledger.proof import mix, previous_run, proof_candidates
from omnibill.ledger.reports import count_documents
from omnibill.ledger.repository import documents_with_customers
from omnibill.ledger.runs import run_by_id
from omnibill.proof.page import build_proof, mix_table
from omnibill.proof.sample import Sampler, cell_of
from omnibill.render.validation import load_validator, missing_rule_sets
from omnibill.store import ObjectStore, open_store

APART_FROM = 5_000  # bills in a run from which its proof is built in a process of its own
PROOF_LIMIT = 200  # documents on one page at most (~0.1 s and ~200 kB each): a normal run has far fewer cells


@dataclass
class Proof:
    """Where the page is and what it holds."""

    key: str
    documents: int
    shown: int
    cells: int
    rows: list[dict[str, str]] = field(default_factory=list)
    invalid_einvoices: int = 0
    validated: bool = False
    cells_shown: int = 0


def proof_key(run: BillingRun) -> str:
    """The proof page's key in the document store."""
    return f"proofs/{run.tenant}/{run.period}/proof.html"


def run_proof(ledger: Ledger, run: BillingRun, rules: TenantRules, store: ObjectStore, validation_dir: Path,
              limit: int = PROOF_LIMIT) -> Proof:
    """Sample the run's bills about to be sent, write the proof page to the store, return what it shows."""
    sampler = Sampler(rules.proof_per_cell, limit)
    with ledger.read() as session:
        for candidate in proof_candidates(session, run.id):
            # Service and marketing messages are in the mix; the sample shows bills (the documents with amounts).
            if candidate[0].document_type not in MESSAGE_CATEGORIES:
                sampler.add(candidate)
        now = mix(session, run.id)
        before_run = previous_run(session, run.tenant, run.period)
        before = mix(session, before_run.id) if before_run else []
    picked = sampler.picked()
    shown_cells = {cell_of(item[2].channel, item[0], item[1]) for _, item in picked}
    with ledger.read() as session:
        whole = documents_with_customers(session, {item[0].id for _, item in picked})
    docs = []
    for why, (summary, _, message) in picked:
        document, customer = whole[summary.id]
        docs.append((why, message.channel, document_from_row(document, party_from_json(customer.data))))
    senders = rules.senders_by_country()
    sender_for = lambda d: senders.get(d.customer.country, senders[""])  # noqa: E731
    validator = load_validator(validation_dir)
    rows = mix_table(now, before)
    page = build_proof(run.tenant, run.period, docs, sender_for, rows, (len(shown_cells), len(sampler.cells)),
                       sampler.count, validator, missing_rule_sets(validation_dir))
    key = store.put(proof_key(run), page.encode("utf-8"), "text/html")
    invalid = page.count("fatal error(s):")
    return Proof(key, sampler.count, len(docs), len(sampler.cells), rows, invalid, validator is not None,
                 len(shown_cells))


def run_proof_apart(ledger_url: str, run_id: str, rules: TenantRules, store_url: str, s3: S3Settings,
                    validation_dir: Path, limit: int = PROOF_LIMIT) -> Proof:
    """`run_proof` in a process started for it and ended after it.

    The compiled rule sets (about 170 MB in Saxon's heap, which it never gives back) and the page's images
    leave with that process, instead of staying in the run's process for the rest of a long run.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_proof_in_child, ledger_url, run_id, rules, store_url, s3, validation_dir,
                           limit).result()


def _proof_in_child(ledger_url: str, run_id: str, rules: TenantRules, store_url: str, s3: S3Settings,
                    validation_dir: Path, limit: int) -> Proof:
    ledger = Ledger(ledger_url)
    try:
        with ledger.read() as session:
            run = run_by_id(session, run_id)
        return run_proof(ledger, run, rules, open_store(store_url, s3), validation_dir, limit)
    finally:
        ledger.dispose()


def proof_of_run(ledger: Ledger, run: BillingRun, rules: TenantRules, store_url: str, s3: S3Settings,
                 validation_dir: Path) -> Proof:
    """The run's proof: for a run of APART_FROM bills or more in a process of its own (`run_proof_apart`),
    for a smaller (short) run here, where starting a process would cost more than it saves."""
    with ledger.read() as session:
        large = count_documents(session, run.id, billing=True) >= APART_FROM
    if large:
        return run_proof_apart(ledger.url, run.id, rules, store_url, s3, validation_dir)
    return run_proof(ledger, run, rules, open_store(store_url, s3), validation_dir)
