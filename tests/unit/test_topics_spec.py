"""The topics declaration in infra/topics.yaml and its loader."""

from pathlib import Path

import pytest

from infra.topics import TopicSpecError, load_spec
from shared_events.topics import AGENCY_TOPIC_PREFIX, DEAD_LETTERS, FIXED_TOPICS

FOREVER = "-1"
DAY_MS = 24 * 60 * 60 * 1000


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_declared_topic_has_at_least_one_partition():
    assert all(topic.partitions >= 1 for topic in load_spec())


def test_every_declared_topic_has_a_description():
    assert all(topic.description.strip() for topic in load_spec())


def test_every_declared_topic_has_replication_factor_one_on_the_single_node_broker():
    assert {topic.replication_factor for topic in load_spec()} == {1}


def test_topic_names_are_unique_and_namespaced():
    names = [topic.name for topic in load_spec()]
    assert len(names) == len(set(names))
    assert all(name.startswith("lienthong.") for name in names)


def test_the_dead_letter_topic_exists_and_keeps_records_for_ninety_days():
    dead_letters = {topic.name: topic for topic in load_spec()}[DEAD_LETTERS]
    assert dead_letters.config["retention.ms"] == str(90 * DAY_MS)


def test_dossier_history_topics_are_kept_forever():
    retention = {topic.name: topic.config.get("retention.ms") for topic in load_spec()}
    for name in ("lienthong.intake.dossier-events", "lienthong.dossier-status",
                 "lienthong.routing.dossier-events", "lienthong.postal.events"):
        assert retention[name] == FOREVER


def test_config_values_are_loaded_as_strings_for_kafka():
    assert all(isinstance(value, str) for topic in load_spec() for value in topic.config.values())


def test_a_topic_declared_twice_is_refused(tmp_path):
    entry = "  - {name: lienthong.a, description: A, partitions: 1, replication_factor: 1}\n"
    with pytest.raises(TopicSpecError, match="more than once"):
        load_spec(write_spec(tmp_path, "topics:\n" + entry + entry))


def test_a_topic_without_a_description_is_refused(tmp_path):
    spec = "topics:\n  - {name: lienthong.a, description: ' ', partitions: 1, replication_factor: 1}\n"
    with pytest.raises(TopicSpecError, match="no description"):
        load_spec(write_spec(tmp_path, spec))


@pytest.mark.parametrize("partitions", [0, -1, "3", True])
def test_a_topic_without_a_positive_integer_partition_count_is_refused(tmp_path, partitions):
    spec = ("topics:\n  - {name: lienthong.a, description: A, "
            f"partitions: {partitions!r}, replication_factor: 1}}\n")
    with pytest.raises(TopicSpecError, match="partitions"):
        load_spec(write_spec(tmp_path, spec))


def test_a_topic_with_an_illegal_name_is_refused(tmp_path):
    spec = "topics:\n  - {name: 'lienthong/a', description: A, partitions: 1, replication_factor: 1}\n"
    with pytest.raises(TopicSpecError, match="illegal topic name"):
        load_spec(write_spec(tmp_path, spec))


def test_a_file_without_topics_is_refused(tmp_path):
    with pytest.raises(TopicSpecError, match="declares no topics"):
        load_spec(write_spec(tmp_path, "topics: []\n"))


def test_every_fixed_topic_the_services_use_is_declared():
    assert set(FIXED_TOPICS) <= {topic.name for topic in load_spec()}


def test_no_topic_is_declared_under_the_prefix_of_the_per_agency_topics_routing_creates():
    assert not [topic.name for topic in load_spec() if topic.name.startswith(AGENCY_TOPIC_PREFIX)]
