"""Which ISO codes each lid.176 label stands for, to score the model on sets labelled in ISO 639-3/639-1.

lid.176 labels are mostly ISO 639-1 (`en`), some ISO 639-3 or Wikipedia codes (`ceb`, `als` = Alemannic,
`eml`, `sh`). A labelled code counts as covered only when one label clearly names that language or the
macrolanguage it belongs to (Quechua varieties -> `qu`, Dari -> `fa`); related languages without a label of
their own (Gan, Hakka, Montenegrin, Ambonese Malay) are left uncovered rather than guessed.
"""
from __future__ import annotations

# lid.176 label -> the ISO 639-3 codes it covers
LID176_TO_ISO639_3: dict[str, tuple[str, ...]] = {
    "af": ("afr",), "als": ("gsw",), "am": ("amh",), "ar": ("arb", "ara"), "ast": ("ast",),
    "az": ("azj", "aze"), "azb": ("azb",), "bcl": ("bcl",), "be": ("bel",), "bg": ("bul",),
    "bh": ("bho", "mag"), "bn": ("ben",), "bo": ("bod",), "br": ("bre",), "bs": ("bos",), "ca": ("cat",),
    "ceb": ("ceb",), "ckb": ("ckb",), "co": ("cos",), "cs": ("ces",), "cy": ("cym",), "da": ("dan",),
    "de": ("deu",), "dv": ("div",), "el": ("ell",), "eml": ("rgn", "egl"), "en": ("eng",), "eo": ("epo",),
    "es": ("spa",), "et": ("ekk", "est"), "eu": ("eus",), "fa": ("pes", "prs", "fas"), "fi": ("fin",),
    "fr": ("fra",), "fy": ("fry",), "ga": ("gle",), "gd": ("gla",), "gl": ("glg",), "gn": ("gug", "gnw", "grn"),
    "gu": ("guj",), "gv": ("glv",), "he": ("heb",), "hi": ("hin",), "hr": ("hrv",), "hsb": ("hsb",),
    "ht": ("hat",), "hu": ("hun",), "hy": ("hye",), "ia": ("ina",), "id": ("ind",), "ilo": ("ilo",),
    "io": ("ido",), "is": ("isl",), "it": ("ita",), "ja": ("jpn",), "jv": ("jav",), "ka": ("kat",),
    "kk": ("kaz",), "km": ("khm",), "kn": ("kan",), "ko": ("kor",), "ku": ("kmr", "kur"), "kv": ("koi", "kpv"),
    "ky": ("kir",), "la": ("lat",), "lb": ("ltz",), "lo": ("lao",), "lt": ("lit",), "lv": ("lvs", "lav"),
    "mai": ("mai",), "mg": ("plt", "mlg"), "min": ("min",), "mk": ("mkd",), "ml": ("mal",), "mn": ("khk", "mon"),
    "mr": ("mar",), "ms": ("zlm", "zsm", "msa"), "mt": ("mlt",), "mwl": ("mwl",), "my": ("mya",),
    "nah": ("nhn",), "nds": ("nds",), "ne": ("npi", "nep"), "nl": ("nld",), "nn": ("nno",), "no": ("nob", "nor"),
    "oc": ("oci",), "os": ("oss",), "pa": ("pan",), "pam": ("pam",), "pl": ("pol",), "pnb": ("pnb",),
    "ps": ("pbu", "pus"), "pt": ("por",),
    "qu": ("que", "quy", "quz", "quh", "qug", "qul", "qva", "qvc", "qvh", "qvm", "qvn", "qwh", "qxn", "qxu"),
    "rm": ("roh",), "ro": ("ron",), "ru": ("rus",), "sa": ("san",), "sah": ("sah",), "sc": ("src", "srd"),
    "sco": ("sco",), "si": ("sin",), "sk": ("slk",), "sl": ("slv",), "so": ("som",), "sq": ("als", "sqi"),
    "sr": ("srp",), "su": ("sun",), "sv": ("swe",), "sw": ("swh", "swa"), "ta": ("tam",), "te": ("tel",),
    "tg": ("tgk",), "th": ("tha",), "tk": ("tuk",), "tl": ("tgl",), "tr": ("tur",), "tt": ("tat",),
    "tyv": ("tyv",), "ug": ("uig",), "uk": ("ukr",), "ur": ("urd",), "uz": ("uzn", "uzb"), "vec": ("vec",),
    "vep": ("vep",), "vi": ("vie",), "wa": ("wln",), "war": ("war",), "wuu": ("wuu",), "yi": ("ydd", "yid"),
    "yo": ("yor",), "yue": ("yue",), "zh": ("cmn", "zho"),
}

ISO639_3_TO_LID176 = {code: label for label, codes in LID176_TO_ISO639_3.items() for code in codes}

# ISO 639-1 codes whose lid.176 label differs (Norwegian Bokmål is `no` in lid.176)
ISO639_1_TO_LID176 = {"nb": "no"}


def lid176_label(code: str, labels: set[str]) -> str | None:
    """The lid.176 label for an ISO 639-3 or 639-1 code, or None when the model has no such language.

    >>> lid176_label("swh", {"sw", "en"}), lid176_label("nb", {"no"}), lid176_label("zu", {"en"})
    ('sw', 'no', None)
    """
    if len(code) == 3:
        label = ISO639_3_TO_LID176.get(code)
    else:
        label = ISO639_1_TO_LID176.get(code, code)
    return label if label in labels else None
