"""Redaction of patient identifiers from free text, before anything is stored.

Feedback comes from pharmacy staff who may paste a patient's details into a bug report. We keep the
report useful and drop the identifier: each one becomes "[REDACTED:<kind>]" and the record lists the
kinds removed. Detection is by kind (docs/feedback.md "Redaction" has the list, with examples and the
limits):

- the text is normalised first (Unicode NFKC, invisible characters removed), so fullwidth digits or a
  zero-width space inside a number do not hide it; what is stored is the normalised text;
- phone numbers are found by libphonenumber (`phonenumbers`), not by our own patterns; a candidate
  counts when it is a valid number, is written with a "+" country code, or follows a phone cue;
- the other kinds are patterns anchored on what makes them identifiers: a label (MRN, Rx, member id,
  SSN, DOB...), a separator shape (SSN), a street suffix (address), a cue word (a name after
  "Patient" or "Mrs.").

A second detector (Amazon Comprehend Medical on deployed stages, see
chalicelib/integrations/comprehend.py) can run on the already-redacted text; `redact_fields` takes it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

KINDS = ("email", "phone", "ssn", "dob", "mrn", "address", "name")

# A second detector: given texts (already pattern-redacted), the (start, end, kind) spans to redact in
# each, or None when it could not run (the pattern result then stands).
SecondDetector = Callable[[Sequence[str]], "list[list[tuple[int, int, str]]] | None"]


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    kind: str


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z]+\]")

# ------------------------------------------------------------------------------------ normalise

# Invisible characters that are not category Cf but still render as nothing (combining grapheme
# joiner, Hangul fillers).
_INVISIBLE = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"}


def normalise(text: str) -> str:
    """NFKC (fullwidth digits become ASCII, ligatures split) without format characters (zero-width
    spaces and joiners, soft hyphens, BOM, bidi controls) and other invisible ones."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ch not in _INVISIBLE)


# ---------------------------------------------------------------------------------------- email

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# "name at gmail dot com", "name(at)domain(dot)org", "name [at] domain [dot] net": the "at" and every
# "dot" spelled out or bracketed; the last label must look like a top-level domain, so a sentence with
# "at" and "dot" in it is not taken for an address.
_AT = r"(?:\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+|\s*@\s*)"
_DOT = r"(?:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+|\.)"
_TLD = r"(?:com|org|net|edu|gov|mil|io|co|us|uk|ca|info|biz|me|health|app|de|fr|es|mx|au|in)"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?i)(?<![\w.%+-])[\w%+-]+(?:{_DOT}[\w%+-]+){{0,3}}{_AT}[a-z0-9-]+(?:{_DOT}[a-z0-9-]+){{0,3}}?"
    rf"(?:{_DOT}){_TLD}(?![\w-])"
)


def _emails(text: str) -> Iterator[Span]:
    for pattern in (_EMAIL, _OBFUSCATED_EMAIL):
        for match in pattern.finditer(text):
            yield Span(match.start(), match.end(), "email")


# ------------------------------------------------------------------------------------------ ssn

_SSN_SHAPE = re.compile(r"(?<![\w.-])\d{3}([-. ])\d{2}\1\d{4}(?![\w-]|\.\d)")
_SSN_LABELLED = re.compile(
    r"(?i)\b(?P<label>ssn|ss\s?#|ss\s?no\b\.?|social\s+security(?:\s+(?:number|no\b\.?|num\b|#))?|social)"
    r"(?P<filler>(?:\s*(?:#|:|=|is\b|was\b|of\b|ending(?:\s+in)?\b|last\s+(?:4|four)\b))*)\s*"
    r"(?P<value>\d{3}[-. ]?\d{2}[-. ]?\d{4}|\d{4})(?![\w-])"
)


def _ssns(text: str) -> Iterator[Span]:
    for match in _SSN_SHAPE.finditer(text):
        yield Span(match.start(), match.end(), "ssn")
    for match in _SSN_LABELLED.finditer(text):
        bare_social = match.group("label").lower() == "social"
        # "social" alone is an ordinary word: only a whole SSN after it counts.
        if bare_social and len(re.sub(r"\D", "", match.group("value"))) != 9:
            continue
        yield Span(match.start("value"), match.end("value"), "ssn")


# ------------------------------------------------------------------------------------------ dob

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_ORDINAL_WORD = (
    r"(?:(?:twenty|thirty)[\s-]?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
    r"|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth"
    r"|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:\d{4}|'?\d{2})(?!\d)"
_DATE = re.compile(
    r"(?i)(?<![\w/.-])(?:"
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 1956-03-04, 1956/03/04
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2}(?:\d{2})?"  # 03/04/1956, 3/4/56, 12.11.1948
    rf"|{_DAY}[-\s/.]*(?:of\s+)?{_MONTH}[-\s/.,]*{_YEAR}"  # 04-Mar-1956, 4 March 1956, 2nd of July, 1961
    rf"|{_MONTH}\s*{_DAY},?\s*{_YEAR}"  # March 4th, 1956; Nov 12 1948
    rf"|(?:the\s+)?{_ORDINAL_WORD}\s+(?:day\s+)?of\s+{_MONTH},?\s+\d{{4}}"  # the fourth of March 1956
    rf"|{_MONTH}\s+(?:the\s+)?{_ORDINAL_WORD},?\s+\d{{4}}"  # March fourth, 1956
    rf"|{_MONTH},?\s+\d{{4}}"  # March 1956 (month and year are still a date of birth)
    r"|(?:19|20)\d{2}[01]\d[0-3]\d|[01]\d[0-3]\d(?:19|20)\d{2}"  # 19560304, 03041956
    r")(?![\w/]|[.-]\d)"
)
_BIRTH_LABEL = re.compile(
    r"(?i)\b(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|birth\s*date|birthday|b-?day|born)"
)
# A date counts as a date of birth when a birth label stands at most this many characters before it
# (in the same sentence: "DOB 04-Mar-1956 is shown as 1956-04-03" has two), or right after it
# ("03/04/1956 (DOB)").
_BIRTH_WINDOW = 40
_SENTENCE_BREAK = re.compile(r"[!?;\n]|\.\s+[A-Z]")
_LABEL_AFTER = re.compile(r"^\s*[(\[,-]?\s*" + _BIRTH_LABEL.pattern.removeprefix("(?i)"), re.IGNORECASE)


def _dobs(text: str) -> Iterator[Span]:
    labels = [match.end() for match in _BIRTH_LABEL.finditer(text)]
    if not labels:
        return
    for match in _DATE.finditer(text):
        start, end = match.span()
        before = any(
            0 <= start - label_end <= _BIRTH_WINDOW and not _SENTENCE_BREAK.search(text[label_end:start])
            for label_end in labels
        )
        if before or _LABEL_AFTER.match(text[end : end + 20]):
            yield Span(start, end, "dob")


# ------------------------------------------------------------------------------- record numbers

# Labels whose next letters-and-digits token is an identifier. "mrn" is the kind for all of them
# (medical record, chart, insurance, prescription and account numbers).
_STRONG_RECORD_LABEL = (
    r"mrn|mr\s*(?:#|no\b\.?|num(?:ber)?\b)|medical\s+records?|med\s*rec|chart|mbi|medicare|medicaid|"
    r"rx|member|subscriber|policy(?:holder)?|insurance\s+(?:id|number|no\b\.?|#)|health\s+plan|acct"
)
# Ordinary words that are a label only with a connector ("#", "no.", "number", "id", ":", "is") or
# before a long token: "group 2" and "account settings" stay.
_WEAK_RECORD_LABEL = r"record|patient|group|account|prescription|script|claim"
_CONNECTOR = r"(?:\s*(?:#|:|=|no\b\.?|nbr\b\.?|num\b\.?|number\b|id\b|identifier\b|is\b|for\b))"
_RECORD = re.compile(
    rf"(?i)\b(?:(?P<strong>{_STRONG_RECORD_LABEL})|(?P<weak>{_WEAK_RECORD_LABEL}))"
    rf"(?P<connector>{_CONNECTOR}*)\s*"
    r"(?P<value>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?:\s\d{3,}(?![\w-]))*)(?![\w-])"
)
# A Medicare Beneficiary Identifier has a shape of its own (11 characters, letters without S, L, O,
# I, B, Z), so it is found with no label: 1EG4-TE5-MK73.
_MBI_LETTER = "[AC-HJKMNP-RT-Y]"
_MBI = re.compile(
    rf"(?<![\w-])[1-9]{_MBI_LETTER}[{_MBI_LETTER[1:-1]}0-9]\d-?{_MBI_LETTER}[{_MBI_LETTER[1:-1]}0-9]\d-?"
    rf"{_MBI_LETTER}{{2}}\d{{2}}(?![\w-])"
)


def _records(text: str) -> Iterator[Span]:
    for match in _RECORD.finditer(text):
        value = match.group("value")
        compact = value.replace("-", "").replace(" ", "")
        if len(compact) < 4:
            continue
        connector = match.group("connector").strip().lower()
        if match.group("weak") is not None:
            # "for" joins only a record to its number ("the record for PHRM-0048292").
            if connector == "for" and match.group("weak").lower() != "record":
                continue
            if not connector and len(compact) < 6:
                continue
        yield Span(match.start("value"), match.end("value"), "mrn")
    for match in _MBI.finditer(text):
        yield Span(match.start(), match.end(), "mrn")


# ---------------------------------------------------------------------------------------- phone

# A number right after one of these words is a phone number even when libphonenumber finds it
# incomplete (7 digits, no area code) or invalid (area code 555).
_PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|ph|tel|telephone|cell|cellphone|mobile|mob|fax|landline|whatsapp|sms|text(?:ed)?|"
    r"call(?:ed|ing)?|callback|reach(?:ed)?|contact|portable|number)\b\.?"
    r"(?:\s*(?:[:#=(-]|no\b\.?|(?:is|was|at|on|to|of|back|again|him|her|them|me|us|his|their|the|"
    r"patient'?s?)\b)){0,4}\s*$"
)
# Grouped as a North American number is written ((312) 555-0142, 555.123.4567): a phone number even
# when its area code is not a real one.
_NANP_GROUPING = re.compile(r"\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}")
# A valid-looking number after one of these is a reference, not a phone: "order 2125550134".
_REFERENCE = re.compile(
    r"(?i)\b(?:order|invoice|ticket|build|batch|job|request|trace|transaction|tracking|confirmation|ref|"
    r"reference|incident|error|code|version|release)s?(?:\s*(?:#|:|no\b\.?|number|id))*\s*$"
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def _phones(text: str) -> Iterator[Span]:
    # Imported here: libphonenumber loads its metadata on import, and only redaction needs it.
    import phonenumbers

    matcher = phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        if _IPV4.match(match.raw_string):
            continue
        before = text[max(0, match.start - 40) : match.start]
        if _REFERENCE.search(before) and not match.raw_string.startswith("+"):
            continue
        if (
            _PHONE_CUE.search(before)
            or match.raw_string.startswith("+")
            or _NANP_GROUPING.search(match.raw_string)
            or phonenumbers.is_valid_number(match.number)
        ):
            yield Span(match.start, match.end, "phone")


# -------------------------------------------------------------------------------------- address

_STREET_WORD_SUFFIX = (
    r"Street|Avenue|Road|Boulevard|Lane|Drive|Court|Way|Place|Parkway|Highway|Terrace|Circle|Square|"
    r"Trail|Crescent|Alley|Plaza|Loop|Row|Walk|Pike|Turnpike|Expressway|Freeway|Heights|Path"
)
_STREET_ABBR_SUFFIX = r"St|Ave|Av|Rd|Blvd|Ln|Ct|Dr|Pkwy|Hwy|Ter|Terr|Cir|Pl|Sq|Trl|Cres|Plz|Expy|Fwy"
# Lowercase abbreviations that are not also ordinary words or honorifics.
_STREET_LOWER_SUFFIX = r"st|ave|rd|blvd|ln|pkwy|hwy"
_HOUSE_NUMBER = r"(?<![\w.,/#$-])\d{1,6}(?:-\d{1,4})?[A-Za-z]?"
_DIRECTION = r"(?:NE|NW|SE|SW|[NSEW]\.?|North|South|East|West|Northeast|Northwest|Southeast|Southwest)"
_TITLE_WORD = r"(?:[A-Z][a-z]+(?:['-][A-Za-z]+)?|\d+(?:st|nd|rd|th))"
_UNIT = r"(?:,?\s*(?i:apt|apartment|unit|suite|ste|fl|floor|bldg|building|rm|room|#)\.?\s*#?\s*[A-Za-z0-9-]+)"
_CITY_STATE_ZIP = (
    r"(?:,\s*[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2},?\s+[A-Z]{2}\b(?:\s+\d{5}(?:-\d{4})?)?"
    r"|,?\s+\d{5}(?:-\d{4})?(?![\w-]))"
)
_ADDRESS = re.compile(
    rf"{_HOUSE_NUMBER}\s+(?:"
    rf"(?:{_DIRECTION}\s+)?(?:{_TITLE_WORD}\s+){{1,4}}?(?:{_STREET_WORD_SUFFIX}|(?:{_STREET_ABBR_SUFFIX})\b\.?)"
    rf"|(?:[a-z]+\s+){{1,3}}?(?:{_STREET_LOWER_SUFFIX})\b\.?"
    rf")(?:\s+{_DIRECTION}(?![\w]))?{_UNIT}?{_CITY_STATE_ZIP}?(?![\w])"
)
_PO_BOX = re.compile(r"(?i)\b(?:p\.?\s?o\.?\s*box|post\s+office\s+box)\s+\d+\b")


def _addresses(text: str) -> Iterator[Span]:
    for pattern in (_ADDRESS, _PO_BOX):
        for match in pattern.finditer(text):
            end = match.end()
            # A street abbreviation's own period is part of it, a sentence's is not.
            if text[end - 1] == "." and end == len(text):
                end -= 1
            yield Span(match.start(), end, "address")


# ----------------------------------------------------------------------------------------- name

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_NAME_WORD = rf"(?:[{_UPPER}]'|Mc|Mac)?[{_UPPER}][{_LOWER}]+(?:[-'][{_UPPER}][{_LOWER}]+)?"
_NAME = (
    rf"{_NAME_WORD}(?:\s+(?:[{_UPPER}]\.\s+)?{_NAME_WORD}){{0,2}}"
    rf"(?:,\s*{_NAME_WORD}(?:\s+(?:[{_UPPER}]\.\s+)?{_NAME_WORD})?)?"  # Last, First (Middle)
)
_HONORIFIC = r"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|MR|MRS)\b\.?\s*"
_PATIENT_CUE = (
    r"(?i:\b(?:patient|pt|client|customer|caregiver|resident)\b\.?(?:'s)?"
    r"(?:\s+(?:name|named|called))?(?:\s+(?:is|was))?\s*[:,-]?\s*"
    r"|\bname(?:d|\s+is|\s*:)\s*)"
    rf"(?:{_HONORIFIC})?"
)
_NAME_AFTER_CUE = re.compile(rf"(?:{_PATIENT_CUE}|{_HONORIFIC})(?P<name>{_NAME})")
# Typed in a hurry: "mrs garcia". Only Mr and Mrs: "ms" is also milliseconds and "miss" a verb.
_LOWERCASE_NAME = re.compile(r"(?<![\w.])(?:mr|mrs)\.?\s+(?P<name>[a-z][a-z'-]+)\b")
# Capitalised words that follow "Patient" in a sentence about the software without being a name.
_NOT_NAMES = frozenset(
    """
    portal list lists profile profiles search record records detail details page pages screen tab tabs
    engagement reminder reminders module name names number numbers info information summary dashboard
    view chart card queue message messages notes note history settings form forms field fields lookup
    banner header sync app data export import report reports status consent preferences contact
    communication outreach care education safety experience home support service services intake
    registration check login account id is was the a an i we he she they it this that has had will can
    cannot could did does not no yes and or but said says called calls asked reported received got gets
    success relations feedback satisfaction journey onboarding facing first portal's team desk
    monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow app's
    """.split()
)


def _names(text: str) -> Iterator[Span]:
    for match in _NAME_AFTER_CUE.finditer(text):
        start = match.start("name")
        words = list(re.finditer(rf"{_NAME_WORD}|[{_UPPER}]\.", match.group("name")))
        kept = []
        for word in words:
            if word.group().lower() in _NOT_NAMES:
                break
            kept.append(word)
        if kept:
            yield Span(start, start + kept[-1].end(), "name")
    for match in _LOWERCASE_NAME.finditer(text):
        if match.group("name") not in _NOT_NAMES:
            yield Span(match.start("name"), match.end("name"), "name")


def _fold(text: str) -> str:
    """Accents removed character by character (same length): "José" -> "Jose"."""
    return "".join(unicodedata.normalize("NFD", ch)[0] for ch in text)


def _repeated_names(text: str, names: Iterable[Span]) -> Iterator[Span]:
    """Other occurrences of a name already found ("Patient Maria Lopez ... Maria said"), accents
    ignored; the cue is needed once, not every time the name is written."""
    folded = _fold(text)
    words = {
        word
        for span in names
        for word in re.findall(rf"[{_UPPER}][{_LOWER}'-]{{2,}}", folded[span.start : span.end])
        if word.lower() not in _NOT_NAMES
    }
    for word in words:
        for match in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", folded):
            yield Span(match.start(), match.end(), "name")


# ------------------------------------------------------------------------------------ combining

# Order is priority: where two detectors claim overlapping text, the earlier one keeps it (an MRN
# that libphonenumber would also take for a phone number stays an MRN).
_DETECTORS: tuple[Callable[[str], Iterator[Span]], ...] = (
    _emails,
    _ssns,
    _dobs,
    _records,
    _phones,
    _addresses,
    _names,
)


def _claim(claimed: list[Span], spans: Iterable[Span]) -> None:
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.end > span.start and not any(span.start < c.end and c.start < span.end for c in claimed):
            claimed.append(span)


def find_identifiers(text: str) -> list[Span]:
    """The identifiers in a normalised text, without overlaps, in text order."""
    claimed: list[Span] = [
        Span(m.start(), m.end(), "placeholder") for m in _PLACEHOLDER.finditer(text)
    ]  # text redacted once already keeps its placeholders
    for detector in _DETECTORS:
        _claim(claimed, detector(text))
    _claim(claimed, _repeated_names(text, [s for s in claimed if s.kind == "name"]))
    return sorted(s for s in claimed if s.kind != "placeholder")


def apply(text: str, spans: Iterable[Span]) -> tuple[str, set[str]]:
    """Replace non-overlapping spans by their placeholders."""
    kinds: set[str] = set()
    for span in sorted(spans, reverse=True):
        text = text[: span.start] + placeholder(span.kind) + text[span.end :]
        kinds.add(span.kind)
    return text, kinds


def redact(text: str) -> tuple[str, set[str]]:
    """The normalised text with identifiers replaced, and the kinds that were found."""
    text = normalise(text)
    return apply(text, find_identifiers(text))


def redact_texts(texts: Sequence[str], second: SecondDetector | None = None) -> tuple[list[str], set[str]]:
    """Redact several texts by the patterns, then (when given) by a second detector run once over
    all of them; its spans that touch a placeholder already there are ignored."""
    out: list[str] = []
    kinds: set[str] = set()
    for text in texts:
        cleaned, found = redact(text)
        out.append(cleaned)
        kinds |= found
    if second is None or not any(out):
        return out, kinds
    detected = second(out)
    if detected is None:
        return out, kinds
    for index, spans in enumerate(detected):
        text = out[index]
        claimed = [Span(m.start(), m.end(), "placeholder") for m in _PLACEHOLDER.finditer(text)]
        _claim(
            claimed, (Span(start, end, kind) for start, end, kind in spans if 0 <= start < end <= len(text))
        )
        out[index], found = apply(text, [s for s in claimed if s.kind != "placeholder"])
        kinds |= found
    return out, kinds


def redact_fields(
    record: dict, fields: Iterable[str], second: SecondDetector | None = None
) -> tuple[dict, set[str]]:
    """Redact the named free-text fields of a record (strings or lists of strings); the second
    detector, when given, sees all of them in one call."""
    out = dict(record)
    slots: list[tuple[str, int | None]] = []
    texts: list[str] = []
    for name in fields:
        value = out.get(name)
        if isinstance(value, str):
            slots.append((name, None))
            texts.append(value)
        elif isinstance(value, list):
            out[name] = list(value)
            for position, item in enumerate(value):
                if isinstance(item, str):
                    slots.append((name, position))
                    texts.append(item)
    cleaned, kinds = redact_texts(texts, second)
    for (name, position), text in zip(slots, cleaned, strict=True):
        if position is None:
            out[name] = text
        else:
            out[name][position] = text
    return out, kinds
