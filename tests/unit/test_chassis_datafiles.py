"""services/datafiles.py: how every rule-data file is found, read and validated, and how it is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from intake.catalogue import CatalogueError
from routing.geography import GeographyDataError, GeographyError
from routing.routes import RouteDataError, RouteError
from services.datafiles import DataFileError, read_mapping, validated, yaml_files


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^\d{2}$")


def test_every_data_error_is_a_data_file_error_and_keeps_its_module_base() -> None:
    assert issubclass(CatalogueError, DataFileError)
    assert issubclass(GeographyDataError, DataFileError) and issubclass(GeographyDataError, GeographyError)
    assert issubclass(RouteDataError, DataFileError) and issubclass(RouteDataError, RouteError)
    error = RouteDataError("routes/a.yaml", "no steps")
    assert (str(error), error.file, error.reason) == ("routes/a.yaml: no steps", "routes/a.yaml", "no steps")


def test_a_directory_gives_its_yaml_files_sorted_and_a_file_itself(tmp_path: Path) -> None:
    for name in ("b.yml", "a.yaml", "notes.txt"):
        (tmp_path / name).write_text("{}\n", encoding="utf-8")

    assert yaml_files(tmp_path) == [tmp_path / "a.yaml", tmp_path / "b.yml"]
    assert yaml_files(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]


def test_a_missing_path_or_a_directory_without_yaml_raises_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(RouteDataError, match="no such file or directory"):
        yaml_files(tmp_path / "absent", error=RouteDataError)
    with pytest.raises(GeographyDataError, match="no YAML files"):
        yaml_files(tmp_path, error=GeographyDataError)


@pytest.mark.parametrize(("text", "reason"), [
    ("a: [1\n", "not valid YAML"),
    ("- 1\n- 2\n", "expected a mapping at the top level"),
    ("units: []\nunit: []\n", r"unknown top-level keys \['unit'\]; expected \['agencies', 'units'\]"),
])
def test_a_file_that_is_not_the_expected_mapping_is_refused_naming_it(tmp_path: Path, text: str, reason: str) -> None:
    file = tmp_path / "data.yaml"
    file.write_text(text, encoding="utf-8")

    with pytest.raises(DataFileError, match=f"data.yaml: {reason}"):
        read_mapping(file, allowed={"units", "agencies"})


def test_an_item_that_does_not_fit_its_model_is_refused_with_every_field_and_reason() -> None:
    with pytest.raises(CatalogueError) as error:
        validated(Item, {"code": "123", "name": "x"}, file="1.000001.yaml", label="item '123'", error=CatalogueError)

    assert error.value.source == "1.000001.yaml"
    assert error.value.reason.startswith("item '123': code: String should match pattern")
    assert "; name: Extra inputs are not permitted" in error.value.reason
