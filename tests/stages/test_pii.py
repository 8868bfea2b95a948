"""pii with a real local Spark. The checksums the tests rely on are written here from their definitions
(Luhn: ISO/IEC 7812-1 Annex B; IBAN: ISO 13616 with ISO 7064 MOD 97-10; SSN: the SSA's never-issued ranges),
not imported from the stage."""
from __future__ import annotations

import random

from helpers import run_stage

from gristmill.stages.pii import find_pii, iban_ok, luhn_ok, ssn_ok


def luhn_check_digit(payload: str) -> str:
    """The digit that makes payload + digit pass Luhn: sum with every second digit from the right of the
    full number doubled (digits of products added), then 10 - sum mod 10."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)  # the check digit will sit at position 0, so these shift by one
        total += d // 10 + d % 10
    return str((10 - total % 10) % 10)


def iban_with_check(country: str, bban: str) -> str:
    """ISO 13616: check digits = 98 - (country + "00" moved behind the BBAN, letters as 10..35) mod 97."""
    digits = "".join(str(ord(c) - 55) if c.isalpha() else c for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def test_validators_agree_with_the_definitions():
    rng = random.Random(0)
    for _ in range(300):
        payload = "4" + "".join(rng.choice("0123456789") for _ in range(14))
        good = payload + luhn_check_digit(payload)
        assert luhn_ok(good)
        bad = good[:-1] + str((int(good[-1]) + rng.randint(1, 9)) % 10)
        assert not luhn_ok(bad)
    for country, n in (("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14)):
        bban = "".join(rng.choice("0123456789") for _ in range(n))
        if country in ("GB", "NL"):
            bban = "ABCD" + bban[4:]
        iban = iban_with_check(country, bban)
        assert iban_ok(iban), iban
        assert not iban_ok(iban[:-1] + str((int(iban[-1]) + 1) % 10))
    assert iban_ok("DE89 3704 0044 0532 0130 00")  # the ECBS example IBAN
    assert not ssn_ok("000", "12", "3456") and not ssn_ok("666", "12", "3456") and not ssn_ok("900", "12", "3456")
    assert not ssn_ok("123", "00", "4567") and not ssn_ok("123", "45", "0000") and ssn_ok("123", "45", "6789")


PLANTED = {
    "email": "maria.lopez@example-mail.com",
    "phone_number": "(415) 555-0132",
    "ip_address": "8.8.4.4",
    "credit_card": "4111 1111 1111 1111",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "us_ssn": "219-09-9998",
}
HARD_NEGATIVES = [
    "Upgrade to version 2.4.10.1 before Friday.",          # a version string shaped like an IP
    "The router answers on 192.168.1.1 and 10.0.0.1.",     # private addresses (public_ips_only)
    "Order number 4111 1111 1111 1112 was shipped.",       # fails Luhn
    "ISBN 978-3-16-148410-0 and ISBN 9780306406157.",      # ISBN-13s
    "Meeting on 2023-04-05, then 05.04.2023 at 10:30.",    # dates and times
    "Bank reference GB82 WEST 1234 5698 7654 33.",         # IBAN with a wrong check digit
    "Account ES89 3057 8636 9725 5278 4156 is closed.",    # bad IBAN whose first 16 digits pass Luhn
    "Ticket 666-12-3456 and 123-00-4567 are not SSNs.",    # never-issued SSN ranges
    "Retina image icon@2x.png is loaded lazily.",          # not an e-mail address
    "The population grew from 1,234,567 to 1,345,678.",
    "Python slices prog[1::] and prog[1::2] are not IPv6.",
]


def page() -> tuple[str, str]:
    """A real-looking page with the planted entities and the expected text with placeholders put in by hand."""
    parts = [("Contact ", None), (PLANTED["email"], "email"), (" or phone ", None),
             (PLANTED["phone_number"], "phone_number"), (". Our server is ", None),
             (PLANTED["ip_address"], "ip_address"),
             (". Pay with card ", None), (PLANTED["credit_card"], "credit_card"), (" or transfer to ", None),
             (PLANTED["iban"], "iban"), (". Employee SSN ", None), (PLANTED["us_ssn"], "us_ssn"), (".\n", None)]
    text = "".join(p for p, _ in parts) + "\n".join(HARD_NEGATIVES)
    expected = "".join(f"<{k.upper()}>" if k else p for p, k in parts) + "\n".join(HARD_NEGATIVES)
    return text, expected


def test_placeholders_replace_exactly_the_planted_spans(spark, tmp_path):
    text, expected = page()
    rows = [{"id": "p", "text": text}, {"id": "clean", "text": "\n".join(HARD_NEGATIVES)}]
    kept, rejected, _ = run_stage(spark, "pii", {}, rows, tmp_path)
    assert not rejected
    out = {r["id"]: r for r in kept}
    assert out["p"]["text"] == expected
    assert out["clean"]["text"] == "\n".join(HARD_NEGATIVES)
    assert out["clean"]["pii_spans"] is None
    for t in PLANTED:
        assert out["p"][f"pii_{t}"] == 1 and out["clean"][f"pii_{t}"] == 0
    spans = out["p"]["pii_spans"]
    assert [expected[s["start"]:s["end"]] for s in spans] == [f"<{s['type'].upper()}>" for s in spans]


def test_tag_mask_and_drop(spark, tmp_path):
    text, _ = page()
    kept, _, _ = run_stage(spark, "pii", {"action": "tag"}, [{"id": "p", "text": text}], tmp_path)
    assert kept[0]["text"] == text
    assert sorted(text[s["start"]:s["end"]] for s in kept[0]["pii_spans"]) == sorted(PLANTED.values())
    kept, _, _ = run_stage(spark, "pii", {"action": "mask"}, [{"id": "p", "text": text}], tmp_path)
    assert "*****.*****@*******-****.***" in kept[0]["text"] and len(kept[0]["text"]) == len(text)
    assert "(***) ***-****" in kept[0]["text"]
    rows = [{"id": "p", "text": text}, {"id": "clean", "text": "\n".join(HARD_NEGATIVES)}]
    kept, rejected, _ = run_stage(spark, "pii", {"action": "drop", "types": ["credit_card"]}, rows, tmp_path)
    assert [r["id"] for r in kept] == ["clean"]
    assert rejected[0]["drop_reason"] == "pii:credit_card" and rejected[0]["text"] == text


def test_private_ips_count_when_asked():
    assert find_pii("gateway 192.168.1.1", ["ip_address"]) == []
    assert find_pii("gateway 192.168.1.1", ["ip_address"], public_ips_only=False) == [("ip_address", 8, 19)]
    assert find_pii("dns 2001:4860:4860::8888 and fe80::1", ["ip_address"]) == [("ip_address", 4, 24)]


def test_doctests():
    import doctest

    from gristmill.stages import pii
    result = doctest.testmod(pii)
    assert result.failed == 0 and result.attempted >= 4
