"""Header normalisation and finding the phone and time-zone columns."""

from __future__ import annotations

import re

from dialer.lists.errors import ListImportError

PHONE_NAMES = frozenset(
    {
        "phone", "phone_number", "phonenumber", "phone_no", "telephone", "telephone_number",
        "tel", "tel_no", "mobile", "mobile_number", "mobile_phone", "mobilephone", "cell",
        "cell_phone", "cellphone", "cell_number", "msisdn", "number", "contact_number",
        "contact_phone", "primary_phone",
    }
)  # fmt: skip
TIMEZONE_NAMES = ("timezone", "time_zone", "tz")


def normalise_name(raw: str) -> str:
    """``" Phone Number "`` → ``phone_number``; letters of any script are kept."""
    lowered = raw.replace("\ufeff", "").strip().lower()
    parts = re.split(r"[^\w]+|_+", lowered)
    return "_".join(part for part in parts if part)


def normalise_headers(raw: list[str]) -> list[str]:
    """Normalised, non-empty and unique names, in column order."""
    names: list[str] = []
    seen: set[str] = set()
    for index, header in enumerate(raw, start=1):
        base = normalise_name(header) or f"column_{index}"
        name, suffix = base, 2
        while name in seen:
            name, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(name)
        names.append(name)
    return names


def find_phone_column(names: list[str], raw: list[str], requested: str | None) -> int:
    if requested is not None:
        return _requested_column(names, raw, requested, "phone")
    candidates = [i for i, name in enumerate(names) if name in PHONE_NAMES]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ListImportError(
            "no phone column found: none of the headers "
            f"({_quote_list(raw)}) looks like a phone number column "
            "(phone, number, mobile, cell, telephone, tel, msisdn, …); "
            "name it with --phone-column"
        )
    names_found = _quote_list([raw[i] for i in candidates])
    raise ListImportError(
        f"several columns could hold the phone number ({names_found}); "
        "choose one with --phone-column"
    )


def find_timezone_column(names: list[str], raw: list[str], requested: str | None) -> int | None:
    if requested is not None:
        return _requested_column(names, raw, requested, "time-zone")
    for candidate in TIMEZONE_NAMES:
        if candidate in names:
            return names.index(candidate)
    return None


def _requested_column(names: list[str], raw: list[str], requested: str, what: str) -> int:
    wanted = normalise_name(requested)
    if wanted in names:
        return names.index(wanted)
    raise ListImportError(
        f"{what} column {requested!r} is not in the file; its columns are {_quote_list(raw)}"
    )


def _quote_list(values: list[str]) -> str:
    shown = [repr(v) for v in values[:20]]
    if len(values) > 20:
        shown.append(f"… {len(values) - 20} more")
    return ", ".join(shown)
