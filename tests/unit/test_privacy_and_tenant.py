"""Masking of personal data, and tenant rule files validated with errors naming file and key."""

import pytest

from config.tenant import TenantConfigError, load_tenant
from omnibill.model import message_key
from omnibill.privacy import mask_email, mask_tail, scrub


def test_masks():
    assert mask_email("anna.svensson@example.se") == "a***@example.se"
    assert mask_tail("198112189876") == "********9876"
    text = scrub("550 5.1.1 <bounce.me@example.com> unknown; call +46 70 123 45 67 or id 198112189876")
    assert "bounce.me" not in text and "123 45 67" not in text and "198112189876" not in text
    assert "example.com" in text and "9876" in text


def test_message_ids_are_stable_and_distinct():
    assert message_key("demo", "2026-11", "INV-1", "email") == message_key("demo", "2026-11", "INV-1", "email")
    assert message_key("demo", "2026-11", "INV-1", "email") != message_key("demo", "2026-11", "INV-1", "print")
    assert message_key("demo", "2026-11", "INV-1", "email") != message_key("demo", "2026-12", "INV-1", "email")


def test_bad_rule_file_names_file_and_key(tmp_path):
    (tmp_path / "acme.toml").write_text('[sender]\nname = "x"\n[categories.invoice]\nconsent_category = "invoice"\n'
                                        'person_chain = ["fax"]\norganisation_chain = []\n')
    with pytest.raises(TenantConfigError) as err:
        load_tenant("acme", tmp_path)
    message = str(err.value)
    assert "acme.toml" in message and "categories.invoice.person_chain.0" in message and "sender.org_number" in message


def test_unknown_tenant_lists_known_ones(tmp_path):
    (tmp_path / "demo.toml").write_text("")
    with pytest.raises(TenantConfigError, match="known: demo"):
        load_tenant("nope", tmp_path)
