"""Tenant rule files: new sections validated, errors name the file and the key."""

import pytest

from config.tenant import TenantConfigError, load_tenant
from tests.conftest import REPO

DEMO = (REPO / "config" / "tenants" / "demo.toml").read_text()


def test_demo_rules_have_every_category():
    rules = load_tenant("demo", REPO / "config" / "tenants")
    assert set(rules.categories) == {"invoice", "credit_note", "reminder", "marketing", "service"}
    assert rules.categories["marketing"].cap.max == 2 and rules.categories["marketing"].cap.days == 30
    assert rules.categories["invoice"].companion.channels == ["sms", "email"]


@pytest.mark.parametrize("old, new, key", [
    ('start = "21:00"', 'start = "25:00"', "quiet_hours.start"),
    ("[categories.service]", "[categories.newsletter]", "unknown categories ['newsletter']"),
    ("cap = { max = 4, days = 30 }", "cap = { max = -1, days = 30 }", "categories.service.cap.max"),
    ('channels = ["sms", "email"]', 'channels = ["fax", "email"]', "categories.invoice.companion.channels.0"),
    ("max_per_run = 2", "max_per_run = 2\nextra = 1", "categories.service.extra"),
    ('SE = "Europe/Stockholm"', 'SE = "Europe/Nowhere"', "quiet_hours.timezones"),
    ('consent_category = "marketing"', 'consent_category = "promo"', "categories.marketing.consent_category"),
    ('equal_preference = [["email", "push"]]', 'equal_preference = [["email", "print"]]',
     "categories.marketing"),
])
def test_bad_values_name_the_key(tmp_path, old, new, key):
    assert old in DEMO
    (tmp_path / "acme.toml").write_text(DEMO.replace(old, new, 1))
    with pytest.raises(TenantConfigError) as err:
        load_tenant("acme", tmp_path)
    assert "acme.toml" in str(err.value) and key in str(err.value)
