"""The Comprehend Medical adapter against botocore's Stubber: requests as the service model defines
them, responses shaped as DetectPHI documents them (Entities with Id, BeginOffset, EndOffset, Score,
Text, Category, Type, Traits)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from chalicelib.errors import UpstreamUnavailable
from chalicelib.feedback.redaction import redact_fields
from chalicelib.feedback.service import FREE_TEXT_FIELDS
from chalicelib.integrations.comprehend import MAX_TEXT_BYTES, SEPARATOR, batches, detect_phi


@pytest.fixture
def client():
    return boto3.client(
        "comprehendmedical",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def entity(
    text: str, value: str, type_: str, score: float = 0.99, category: str = "PROTECTED_HEALTH_INFORMATION"
):
    begin = text.index(value)
    return {
        "Id": 0,
        "BeginOffset": begin,
        "EndOffset": begin + len(value),
        "Score": score,
        "Text": value,
        "Category": category,
        "Type": type_,
        "Traits": [],
    }


def phi_response(*entities: dict) -> dict:
    """A DetectPHI response: entities numbered as the service numbers them, and the model version."""
    return {"Entities": [{**e, "Id": n} for n, e in enumerate(entities)], "ModelVersion": "2.4.0"}


def test_one_call_for_all_texts_and_spans_mapped_back_to_each(client):
    # Given three fields, the second blank
    texts = ["Reminder for Maria failed", "", "She lives near Oak Park, see ticket BUG-12"]
    joined = texts[0] + SEPARATOR + texts[2]
    response = phi_response(
        entity(joined, "Maria", "NAME"),
        entity(joined, "Oak Park", "ADDRESS", score=0.8),
        entity(joined, "BUG-12", "ID", score=0.3),  # below the threshold
        entity(joined, "Reminder", "PROFESSION"),  # not an identifier for us
    )
    with Stubber(client) as stub:
        stub.add_response("detect_phi", response, {"Text": joined})
        # When DetectPHI runs once over them
        spans = detect_phi(texts, min_score=0.5, client=client)
        stub.assert_no_pending_responses()

    # Then each reported identifier is placed in its own text
    assert spans == [[(13, 18, "name")], [], [(15, 23, "address")]]
    assert texts[2][15:23] == "Oak Park"


def test_dates_and_ages_are_left_to_the_patterns(client):
    text = "Appointment on 11/03/2025 for a patient aged 45 was not reminded"
    response = phi_response(entity(text, "11/03/2025", "DATE"), entity(text, "45", "AGE"))
    with Stubber(client) as stub:
        stub.add_response("detect_phi", response, {"Text": text})
        assert detect_phi([text], client=client) == [[]]


def test_blank_texts_make_no_call(client):
    with Stubber(client):  # any call would fail: nothing is queued
        assert detect_phi(["", "   "], client=client) == [[], []]


def test_texts_past_the_size_limit_are_split_and_offsets_kept(client):
    # Given one text bigger than a call may carry, with a name near its end
    long = ("word " * 4500) + "Ms Eleanor Whitfield called"
    assert len(long.encode()) > MAX_TEXT_BYTES
    groups = batches([long])
    assert len(groups) == 2 and all(
        len(SEPARATOR.join(p for _, _, p in g).encode()) <= MAX_TEXT_BYTES for g in groups
    )
    second_piece_offset = groups[1][0][1]
    second = groups[1][0][2]
    with Stubber(client) as stub:
        stub.add_response("detect_phi", phi_response(), {"Text": groups[0][0][2]})
        stub.add_response(
            "detect_phi", phi_response(entity(second, "Eleanor Whitfield", "NAME")), {"Text": second}
        )
        spans = detect_phi([long], client=client)
    # Then the span is placed in the whole text
    [[(start, end, kind)]] = spans
    assert long[start:end] == "Eleanor Whitfield" and kind == "name" and start > second_piece_offset


def test_multibyte_text_is_measured_in_bytes():
    text = "é" * 15000  # 30,000 bytes in 15,000 characters
    pieces = [piece for group in batches([text]) for _, _, piece in group]
    assert len(pieces) == 2 and all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    assert "".join(pieces) == text


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ServiceUnavailableException", "InvalidRequestException"]
)
def test_service_errors_become_upstream_unavailable(client, code):
    with Stubber(client) as stub:
        stub.add_client_error("detect_phi", service_error_code=code, http_status_code=400)
        with pytest.raises(UpstreamUnavailable) as raised:
            detect_phi(["Patient Maria"], client=client)
    assert raised.value.details == {"awsCode": code}


def test_connection_errors_become_upstream_unavailable(client):
    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://comprehendmedical.us-east-1.amazonaws.com")

    client.meta.events.register("before-call.comprehendmedical.DetectPHI", unreachable)
    with pytest.raises(UpstreamUnavailable, match="could not be reached"):
        detect_phi(["Patient Maria"], client=client)


def test_comprehend_finds_what_the_patterns_cannot_and_leaves_placeholders(client):
    # Given a feedback payload with a cue-less name and a phone number
    record = {
        "title": "Wrong reminder",
        "description": "I spoke with Maria Gonzalez on 312-555-0142 about her refill",
        "steps": ["Open her profile"],
    }
    seen = "I spoke with Maria Gonzalez on [REDACTED:phone] about her refill"
    joined = SEPARATOR.join(["Wrong reminder", seen, "Open her profile"])
    response = phi_response(
        entity(joined, "Maria Gonzalez", "NAME"),
        # Should the service report our placeholder as an identifier, it is left as it is.
        entity(joined, "[REDACTED:phone]", "PHONE_OR_FAX"),
    )
    with Stubber(client) as stub:
        stub.add_response("detect_phi", response, {"Text": joined})
        # When the patterns run and then Comprehend Medical, on the patterns' output
        out, kinds = redact_fields(record, FREE_TEXT_FIELDS, lambda texts: detect_phi(texts, client=client))
    # Then the name is gone too
    assert out["description"] == "I spoke with [REDACTED:name] on [REDACTED:phone] about her refill"
    assert kinds == {"name", "phone"}
