"""The vectors and PROTOCOL.md's tables are what the generator makes from the message table."""

from protocol.vectors import generate


def test_vectors_and_protocol_md_are_up_to_date() -> None:
    assert generate.main(["--check"]) == 0, "run: python -m protocol.vectors.generate"


def test_protocol_md_documents_every_message_type() -> None:
    text = generate.DOC.read_text()
    for message in generate.MESSAGES:
        assert "### %d %s" % (message.type_id, message.name) in text
