"""The randomised plan of a reading set: codes, labels, each reader's order and repeats.

Every random choice is derived from the per-study secret through HMAC-SHA256 (see
:mod:`collarreader.study.prepare`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collarreader.study.manifest import (
    ManifestRow,
    TimePoint,
    View,
)
from collarreader.study.readingset import (
    BLINDED_LABELS,
    CASE_CODE_LENGTH,
    CODE_ALPHABET,
    IMAGE_CODE_LENGTH,
)

# --------------------------------------------------------------------------- randomness


class Stream:
    """Deterministic random choices from HMAC-SHA256(secret, label ‖ counter).

    Written out rather than ``random.Random`` so a seeded set is identical on every Python
    version, and so the choices are unpredictable without the secret.
    """

    def __init__(self, secret: bytes, label: str) -> None:
        self._key = secret
        self._label = label.encode("utf-8")
        self._counter = 0
        self._pool = b""

    def bytes(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        while len(self._pool) < n:
            message = self._label + b"\x00" + self._counter.to_bytes(8, "big")
            self._pool += hmac.new(self._key, message, hashlib.sha256).digest()
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        return out

    def below(self, n: int) -> int:
        """Uniform integer in ``[0, n)`` (rejection sampling: no modulo bias)."""
        if n <= 0:
            raise ValueError(f"below() needs a positive bound, got {n}.")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            value = int.from_bytes(self.bytes(8), "big")
            if value < limit:
                return value % n

    def shuffled(self, items: Sequence[Any]) -> list[Any]:
        """A shuffled copy of ``items`` (Fisher–Yates)."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):  # Fisher–Yates
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def code(self, length: int) -> str:
        """A random code of ``length`` characters from the code alphabet."""
        return "".join(CODE_ALPHABET[self.below(len(CODE_ALPHABET))] for _ in range(length))


def derive_secret(seed: int | str | None) -> bytes:
    """The per-study secret: random from :mod:`secrets`, or derived from ``seed`` when given."""
    if seed is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"collarreader/prepare/seed\x00" + str(seed).encode("utf-8")).digest()


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedImage:
    """One image of the plan: its manifest row, new code, time point label and case."""

    row: ManifestRow
    image_code: str
    label: str
    case_code: str


@dataclass(frozen=True)
class PlannedCase:
    """One case (a patient's joint): its code, rows and planned images."""

    case_code: str
    rows: tuple[ManifestRow, ...]
    images: tuple[PlannedImage, ...]


@dataclass(frozen=True)
class Plan:
    """The whole plan: set UUID, cases, each reader's worklist and repeat reads."""

    set_uuid: str
    cases: tuple[PlannedCase, ...]
    worklists: dict[str, list[dict[str, str]]]
    repeats: dict[str, dict[str, str]]
    n_repeats: int


def make_plan(
    secret: bytes,
    rows: Sequence[ManifestRow],
    readers: Sequence[str],
    repeat_fraction: float,
    blind_timepoints: bool,
) -> Plan:
    """Codes, labels, orders and repeats of a set, all drawn from ``secret``."""
    codes = Stream(secret, "codes")
    used: set[str] = set()

    def new_code(length: int) -> str:
        while True:
            code = codes.code(length)
            if code not in used:
                used.add(code)
                return code

    set_uuid = str(uuid.UUID(bytes=Stream(secret, "set-uuid").bytes(16), version=4))
    by_patient: dict[tuple[str, str], list[ManifestRow]] = {}
    for row in rows:
        by_patient.setdefault(row.patient_key, []).append(row)

    timepoint_order = {timepoint: i for i, timepoint in enumerate(TimePoint)}
    view_order = {view: i for i, view in enumerate(View)}
    cases: list[PlannedCase] = []
    # Sorted, so codes do not depend on the order of the manifest's rows.
    for patient_key in sorted(by_patient):
        patient_rows = sorted(
            by_patient[patient_key],
            key=lambda row: (timepoint_order[row.timepoint], view_order[row.view]),
        )
        case_code = new_code(CASE_CODE_LENGTH)
        labels = {timepoint: timepoint.value for timepoint in TimePoint}
        if blind_timepoints:
            shuffled = Stream(secret, f"labels/{case_code}").shuffled(BLINDED_LABELS)
            labels = dict(zip(TimePoint, shuffled, strict=True))
        images = tuple(
            PlannedImage(row, new_code(IMAGE_CODE_LENGTH), labels[row.timepoint], case_code)
            for row in patient_rows
        )
        cases.append(PlannedCase(case_code, tuple(patient_rows), images))

    primaries = sorted(case.case_code for case in cases)
    n_repeats = min(len(primaries), math.floor(repeat_fraction * len(primaries) + 0.5))
    worklists: dict[str, list[dict[str, str]]] = {}
    repeats: dict[str, dict[str, str]] = {}
    orders: list[list[str]] = []
    for reader in readers:
        stream = Stream(secret, f"reader/{reader}")
        order = stream.shuffled(primaries)
        # Readers must not share an order (a shared order would carry fatigue and learning
        # effects into the agreement figures alike); re-draw while orders remain to be had.
        if len(orders) < math.factorial(min(len(primaries), 10)):
            while order in orders:
                order = stream.shuffled(primaries)
        orders.append(order)
        repeated = stream.shuffled(stream.shuffled(primaries)[:n_repeats])
        if len(repeated) >= 2 and repeated[0] == order[-1]:
            # Never re-present a case straight after its primary read.
            repeated = repeated[1:] + repeated[:1]
        repeat_codes = {primary: new_code(CASE_CODE_LENGTH) for primary in repeated}
        worklists[reader] = [{"case_code": code, "kind": "primary"} for code in order] + [
            {"case_code": repeat_codes[primary], "kind": "repeat", "repeat_of": primary}
            for primary in repeated
        ]
        repeats[reader] = {repeat_codes[primary]: primary for primary in repeated}
    return Plan(set_uuid, tuple(cases), worklists, repeats, n_repeats)
