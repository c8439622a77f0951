"""Choosing the cases to adjudicate (Qt-free core of ``collarreader adjudicate``)."""

from __future__ import annotations

import pytest

from collarreader.analysis.adjudication import CONSENSUS_READER, ConsensusSet, select_cases
from collarreader.errors import AnalysisError
from collarreader.study.phantom import generate_study
from collarreader.study.prepare import prepare_reading_set
from collarreader.study.readingset import ReadingSet, open_reading_set


@pytest.fixture(scope="module")
def reading_set(tmp_path_factory: pytest.TempPathFactory) -> ReadingSet:
    root = tmp_path_factory.mktemp("adjudication")
    phantom = generate_study(root / "phantom", patients=2, seed=8, small=True)
    prepare_reading_set(phantom.manifest, root / "set", root / "key.json", "A,B", seed=8)
    return open_reading_set(root / "set", verify=False)


def test_disagreement_list_order_is_kept_and_repeats_dropped(reading_set: ReadingSet) -> None:
    codes = [case.case_code for case in reading_set.cases]
    listed = [codes[1], codes[0], codes[1], "REPEAT-CODE-NOT-PRIMARY"]
    assert select_cases(reading_set, lambda: listed) == [codes[1], codes[0]]


def test_all_or_chosen_codes(reading_set: ReadingSet) -> None:
    codes = [case.case_code for case in reading_set.cases]

    def never() -> list[str]:
        raise AssertionError("the disagreement list is not needed")

    assert select_cases(reading_set, never, all_cases=True) == codes
    assert select_cases(reading_set, never, codes=[codes[-1]]) == [codes[-1]]
    with pytest.raises(AnalysisError, match="ZZZZ are not primary cases"):
        select_cases(reading_set, never, codes=["ZZZZ"])
    with pytest.raises(AnalysisError, match="pass --all or --cases"):
        select_cases(reading_set, list)


def test_consensus_worklist_is_the_chosen_cases(reading_set: ReadingSet) -> None:
    codes = [case.case_code for case in reading_set.cases][:2]
    wrapped = ConsensusSet(reading_set, codes)
    assert [entry.case_code for entry in wrapped.worklist(CONSENSUS_READER)] == codes
    assert wrapped.worklist("A") == reading_set.worklist("A")
    assert wrapped.set_uuid == reading_set.set_uuid
