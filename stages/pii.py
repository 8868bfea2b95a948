"""pii: find e-mail addresses, public IP addresses, phone numbers, payment card numbers, IBANs and US social
security numbers; replace them with a typed placeholder (`<EMAIL>`), mask them, only tag them, or drop the document.

Every detector is a candidate pattern followed by the check its definition gives, never a bare regex: e-mail: RFC
5321 lengths (local part <= 64, address <= 254), no empty dot-atoms, a letter TLD that is not an image extension
(`icon@2x.png`); IP: `ipaddress` parses it (RFC 791 / RFC 4291) and `is_global` (IANA special-purpose registries)
holds when `public_ips_only`, and a dotted quad after "version", "v" or "build" is a version number, and an IPv6
address needs three groups and six hex digits (`a[1::2]` is a slice); cards: 13-19 digits, an issuer prefix (ISO/IEC
7812 IINs of Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) with its length, and the Luhn
checksum; IBAN: ISO 13616 country length and the ISO 7064 mod-97 check (remainder 1); US SSN: AAA-GG-SSSS with area
not 000, 666 or 900-999, group not 00, serial not 0000 (SSA), bare nine digits only after "SSN"/"social security";
phone: E.164 (`+` and 8-15 digits) or a North American number (NANP: area and exchange codes start with 2-9, area
not N11) written in a phone layout, or any other 10-11 digit national number only after a word such as "phone",
"tel" or "call"; date layouts and ISBNs are never phones. This is the rule-based tier of Presidio's and Dolma's PII
taggers (datatrove's PIIFormatter covers e-mail and IP only).

Columns: one count per type (`pii_email`, `pii_ip_address`, `pii_phone_number`, `pii_credit_card`, `pii_iban`,
`pii_us_ssn`) and `pii_spans` (type, start, end): for `replace` and `mask` the characters of the new text that
stand where an entity was (the entity itself is not kept: it is what the stage removes); for `tag` and `drop`
the entity in the text. `replace` and `mask` rewrite `text`.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Literal

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import DROP_REASON, BatchStage, StageConfig

TYPES = ("email", "iban", "credit_card", "us_ssn", "ip_address", "phone_number")  # precedence on overlaps
PLACEHOLDERS = {t: f"<{t.upper()}>" for t in TYPES}
PiiType = Literal["email", "iban", "credit_card", "us_ssn", "ip_address", "phone_number"]
SPAN_TYPE = "array<struct<type:string,start:int,end:int>>"

# ISO 13616 registry: country -> IBAN length
IBAN_LENGTHS = dict(
    AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BR=29, BY=28, CH=21, CR=22, CY=28, CZ=24, DE=22,
    DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FO=18, FR=27, GB=22, GE=22, GI=23, GL=18, GR=27, GT=28, HR=21, HU=28,
    IE=22, IL=23, IQ=23, IS=26, IT=27, JO=30, KW=30, KZ=20, LB=28, LC=32, LI=21, LT=20, LU=20, LV=21, MC=27, MD=24,
    ME=22, MK=19, MR=27, MT=31, MU=30, NL=18, NO=15, PK=24, PL=28, PS=29, PT=25, QA=29, RO=24, RS=22, SA=24, SC=31,
    SE=24, SI=19, SK=24, SM=27, ST=25, SV=28, TL=23, TN=24, TR=26, UA=29, VA=22, VG=24, XK=20)
IMAGE_TLDS = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "avif"}

EMAIL = re.compile(r"(?<![\w.+%-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                   r"[A-Za-z]{2,24}(?![\w-])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)(?![\w])")
IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{1,4}:[0-9A-Fa-f:]{2,40}(?![\w:])")  # ipaddress decides
# not inside URLs, ids or a longer run of digit groups (an IBAN's BBAN)
CARD = re.compile(r"(?<![\w.,/=-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![\w-]|[.,]\d|[ -]\d)")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
SSN_BARE = re.compile(r"(?<![\d-])(\d{9})(?![\d-])")
SSN_WORDS = re.compile(r"ssn|social security", re.I)
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,5}(?![\w])"
                   r"|(?<![\w])\+\d{8,15}(?![\w])")
VERSION_BEFORE = re.compile(r"(?:version|ver\.?|release|build|v)\s*$", re.I)
SSN_CONTEXT = re.compile(r"(?:ssn|social security(?: number| no\.?)?)\W{0,5}$", re.I)
PHONE_CONTEXT = re.compile(r"(?:phone|tel|telephone|call|fax|mobile|cell|contact|whatsapp)\b[^\n]{0,12}$", re.I)
NANP_LAYOUT = re.compile(r"^(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}$")
DATE_LAYOUT = re.compile(r"^\d{4}[ ./-]\d{1,2}[ ./-]\d{1,2}$|^\d{1,2}[ ./-]\d{1,2}[ ./-]\d{2,4}$")


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812-1 Annex B: double every second digit from the right; the sum is a multiple of 10.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer_ok(d: str) -> bool:
    """An issuer identification number with a length that issuer uses."""
    n, p2, p4, p6 = len(d), int(d[:2]), int(d[:4]), int(d[:6])
    return ((d[0] == "4" and n in (13, 16, 19)) or (51 <= p2 <= 55 and n == 16) or (2221 <= p4 <= 2720 and n == 16)
            or (p2 in (34, 37) and n == 15) or ((d.startswith("6011") or p2 == 65 or 644 <= int(d[:3]) <= 649
                                                 or 622126 <= p6 <= 622925) and 16 <= n <= 19)
            or (3528 <= p4 <= 3589 and 16 <= n <= 19) or ((300 <= int(d[:3]) <= 305 or p2 in (36, 38, 39))
                                                          and 14 <= n <= 19)
            or (p2 == 62 and 16 <= n <= 19) or ((p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19))


def iban_ok(s: str) -> bool:
    """ISO 13616: the country's length, then ISO 7064 MOD 97-10 of the rearranged number equals 1.

    >>> iban_ok("GB82WEST12345698765432"), iban_ok("GB82WEST12345698765433")
    (True, False)
    """
    s = s.replace(" ", "")
    if IBAN_LENGTHS.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return f"{area}{group}{serial}" not in ("078051120", "219099999")  # numbers SSA voided after publication


def _email(text, m) -> bool:
    s = m.group()
    local, domain = s.rsplit("@", 1)
    return (len(s) <= 254 and not local.startswith(".") and not local.endswith(".") and ".." not in local
            and domain.rsplit(".", 1)[1].lower() not in IMAGE_TLDS)


def _ip(text, m, public_only: bool) -> bool:
    s = m.group()
    if ":" in s and (sum(1 for g in s.split(":") if g) < 3 or sum(c.isalnum() for c in s) < 6):
        return False  # `a[1::2]`, `x[1::]`: slices, not addresses
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return False
    if ip.version == 4 and VERSION_BEFORE.search(text[max(0, m.start() - 12):m.start()]):
        return False
    return ip.is_global or not public_only


def _card(text, m) -> bool:
    s = m.group()
    digits = re.sub(r"\D", "", s)
    if not 13 <= len(digits) <= 19 or not card_issuer_ok(digits) or not luhn_ok(digits):
        return False
    groups = re.split(r"[ -]", s)
    # written as one run, or in groups of 4 (the last shorter) or Amex/Diners' 4-6-5 / 4-6-4
    return len(groups) == 1 or all(len(g) == 4 for g in groups[:-1]) or [len(g) for g in groups] in ([4, 6, 5],
                                                                                                       [4, 6, 4])


def _ssn(text, m) -> bool:
    if m.re is SSN_BARE:
        d = m.group(1)
        return bool(SSN_CONTEXT.search(text[max(0, m.start() - 30):m.start()])) and ssn_ok(d[:3], d[3:5], d[5:])
    return ssn_ok(m.group(1), m.group(3), m.group(4))


def _phone(text, m) -> bool:
    s = m.group()
    digits = re.sub(r"\D", "", s)
    if DATE_LAYOUT.match(s) or re.search(r"isbn[\s:-]*(?:1[03])?[\s:-]*$", text[max(0, m.start() - 12):m.start()],
                                         re.I):
        return False
    if s.startswith("+"):
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    nanp = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    if len(nanp) == 10 and NANP_LAYOUT.match(s):
        return nanp[0] in "23456789" and nanp[3] in "23456789" and nanp[1:3] != "11"
    context = PHONE_CONTEXT.search(text[max(0, m.start() - 30):m.start()])
    return bool(context) and 10 <= len(digits) <= 11 and (digits[0] == "0" or len(nanp) == 10)


def find_pii(text: str, types=TYPES, public_ips_only: bool = True) -> list[tuple[str, int, int]]:
    """(type, start, end) of every validated entity, earlier types winning where two overlap.

    >>> find_pii("mail bob@example.org or call (415) 555-0199 from 8.8.8.8, not 10.0.0.1 or version 1.2.3.4")
    [('email', 5, 20), ('phone_number', 29, 43), ('ip_address', 49, 56)]
    """
    found: list[tuple[str, int, int]] = []
    taken: list[tuple[int, int]] = []
    checks = {"email": (EMAIL, _email), "iban": (IBAN, lambda t, m: iban_ok(m.group())), "credit_card": (CARD, _card),
              "us_ssn": (SSN, _ssn), "phone_number": (PHONE, _phone)}
    for kind in TYPES:
        if kind not in types:
            continue
        if kind == "ip_address":
            cands = [(m, lambda t, m: _ip(t, m, public_ips_only)) for rx in (IPV4, IPV6) for m in rx.finditer(text)]
        elif kind == "us_ssn":
            rxs = (SSN, SSN_BARE) if SSN_WORDS.search(text) else (SSN,)
            cands = [(m, _ssn) for rx in rxs for m in rx.finditer(text)]
        else:
            rx, ok = checks[kind]
            cands = [(m, ok) for m in rx.finditer(text)] if kind != "email" or "@" in text else []
        for m, ok in cands:
            s, e = m.span()
            if any(s < b and a < e for a, b in taken) or not ok(text, m):
                continue
            found.append((kind, s, e))
            taken.append((s, e))
    return sorted(found, key=lambda x: x[1])


def mask(s: str, char: str = "*") -> str:
    """Letters and digits become `char`; separators stay, so the layout still shows.

    >>> mask("bob@example.org"), mask("(415) 555-0199")
    ('***@*******.***', '(***) ***-****')
    """
    return re.sub(r"[^\W_]", char, s)


def apply(text: str, spans: list[tuple[str, int, int]], action: str, mask_char: str = "*",
          placeholders: dict | None = None) -> tuple[str, list[tuple[str, int, int]]]:
    """The new text and where the entities now sit in it (unchanged for tag and drop)."""
    if action not in ("replace", "mask") or not spans:
        return text, spans
    out, where, prev, shift = [], [], 0, 0
    for kind, s, e in spans:
        new = (placeholders or PLACEHOLDERS)[kind] if action == "replace" else mask(text[s:e], mask_char)
        out += [text[prev:s], new]
        where.append((kind, s + shift, s + shift + len(new)))
        shift += len(new) - (e - s)
        prev = e
    out.append(text[prev:])
    return "".join(out), where


class PiiConfig(StageConfig):
    types: list[PiiType] = Field(default_factory=lambda: list(TYPES), description="entity types to find")
    action: Literal["replace", "mask", "tag", "drop"] = Field(
        "replace", description="replace with <TYPE>, mask letters and digits, only tag, or drop the document")
    public_ips_only: bool = Field(True, description="IPs count only when `ipaddress` calls them global")
    mask_char: str = Field("*", min_length=1, max_length=1)
    placeholders: dict[str, str] = Field(default_factory=dict, description="type -> replacement text overrides")


class Pii(BatchStage):
    name = "pii"
    Config = PiiConfig
    rewrites_text = True  # with action replace or mask
    text_records = ("pii_spans",)  # where each placeholder or mask now stands
    drop_reasons = tuple(f"pii:{t}" for t in TYPES)

    def produced_columns(self):
        cols = {f"pii_{t}": "int" for t in TYPES}
        cols["pii_spans"] = SPAN_TYPE
        if self.config.action in ("replace", "mask"):
            cols["text"] = "string"
        return cols

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cfg = self.config
        placeholders = {**PLACEHOLDERS, **cfg.placeholders}
        texts, counts, spans_col, reasons = [], {t: [] for t in TYPES}, [], []
        for text in batch.column("text").to_pylist():
            found = find_pii(text or "", cfg.types, cfg.public_ips_only)
            new, where = apply(text, found, cfg.action, cfg.mask_char, placeholders) if text else (text, [])
            texts.append(new)
            for t in TYPES:
                counts[t].append(sum(k == t for k, _, _ in found))
            spans_col.append([{"type": k, "start": s, "end": e} for k, s, e in where] or None)
            reasons.append(f"pii:{found[0][0]}" if cfg.action == "drop" and found else None)
        struct = pa.struct([("type", pa.string()), ("start", pa.int32()), ("end", pa.int32())])
        new_cols = {f"pii_{t}": pa.array(counts[t], pa.int32()) for t in TYPES}
        new_cols["pii_spans"] = pa.array(spans_col, pa.list_(struct))
        if cfg.action in ("replace", "mask"):
            new_cols["text"] = pa.array(texts, pa.string())
        new_cols[DROP_REASON] = pa.array(reasons, pa.string())
        return self.emit(batch, new_cols)
