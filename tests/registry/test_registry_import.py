from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path

import pytest
import typer
from registry_factories import Factory, new_id_number
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from elicense.errors import ValidationFailed
from elicense.registry import service
from elicense.registry.cli import clerk_app, registry_app
from elicense.registry.importer import ImportKind, import_csv, savepoint_per_row
from elicense.registry.models import Marriage, Person
from elicense.registry.types import MaritalState, Sex
from elicense.storage.db import Database
from elicense.storage.sealing import Sealer

MAN = new_id_number(sex=Sex.MALE, birth_date=dt.date(1988, 8, 8))
WOMAN = new_id_number(sex=Sex.FEMALE, birth_date=dt.date(1990, 2, 14))
HEADER = "id_number,name_zh,name_latin,sex,birth_date,nationality\n"
PERSONS = (
    HEADER
    + "\n".join(
        [
            f"{MAN},黄强,Huang Qiang,M,1988-08-08,CHN",  # line 2: created
            f"{WOMAN},林芳,Lin Fang,女,1990-02-14,",  # line 3: created
            f"{MAN[:17]}{'0' if MAN[17] != '0' else '1'},黄强,Huang Qiang,M,1988-08-08,CHN",  # 4
            f"{new_id_number()},何军,He Jun,M",  # line 5: too short
            f"{new_id_number()},何军,He Jun,M,1999-02-30,CHN",  # line 6: impossible date
            f"{MAN},黄强,Huang Qiang,M,1988-08-08,CHN",  # line 7: duplicate, identical
            f"{MAN},黄刚,Huang Gang,M,1988-08-08,CHN",  # line 8: duplicate, different
            f"{new_id_number()},何军,He Jun,M,1990-01-01,CHN,extra",  # line 9: too long
            f"{new_id_number()},何军,He Jun,X,1990-01-01,CHN",  # line 10: bad sex
        ]
    )
)
EXPECTED_ERRORS = [
    (4, "id_number_checksum"),
    (5, "csv_row_too_short"),
    (6, "date_invalid"),
    (8, "row_conflicts_with_record"),
    (9, "csv_row_too_long"),
    (10, "sex_invalid"),
]


def test_person_import_reports_bad_rows_and_keeps_good_ones(
    session: Session, sealer: Sealer
) -> None:
    seen: list[tuple[int, int]] = []
    report = import_csv(
        io.StringIO(PERSONS),
        ImportKind.PERSONS,
        sealer=sealer,
        unit=savepoint_per_row(session),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (report.total, report.created, report.unchanged) == (9, 2, 1)
    assert [(e.line, e.code) for e in report.errors] == EXPECTED_ERRORS
    assert seen[-1] == (9, 9)
    assert len(seen) == 9
    assert session.scalar(select(func.count()).select_from(Person)) == 2
    woman = service.find_person_by_id_number(session, sealer, WOMAN)
    assert (woman.sex, woman.nationality) == (Sex.FEMALE, "CHN")


def test_person_import_is_idempotent(session: Session, sealer: Sealer) -> None:
    import_csv(
        io.StringIO(PERSONS), ImportKind.PERSONS, sealer=sealer, unit=savepoint_per_row(session)
    )
    again = import_csv(
        io.StringIO(PERSONS), ImportKind.PERSONS, sealer=sealer, unit=savepoint_per_row(session)
    )
    assert (again.created, again.unchanged) == (0, 3)
    assert [(e.line, e.code) for e in again.errors] == EXPECTED_ERRORS
    assert session.scalar(select(func.count()).select_from(Person)) == 2


def test_import_never_logs_or_reports_personal_data(
    session: Session, sealer: Sealer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report = import_csv(
        io.StringIO(PERSONS), ImportKind.PERSONS, sealer=sealer, unit=savepoint_per_row(session)
    )
    assert caplog.records, "the import should log its progress"
    text = caplog.text + repr(report)
    for secret in (MAN, WOMAN, MAN[:17], "黄强", "Huang", "1988-08-08", "1999-02-30"):
        assert secret not in text


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("id_number,name_zh,sex,birth_date\n", "csv_missing_columns"),
        (HEADER.strip() + ",nickname\n", "csv_unknown_columns"),
        ("", "csv_missing_columns"),
    ],
)
def test_bad_header_refuses_the_whole_file(
    session: Session, sealer: Sealer, header: str, code: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        import_csv(
            io.StringIO(header), ImportKind.PERSONS, sealer=sealer, unit=savepoint_per_row(session)
        )
    assert info.value.instance_code == code


def _marriages_csv(make: Factory) -> tuple[str, list[service.PersonRecord]]:
    make.office()
    people = [make.person(sex=Sex.MALE if i % 2 == 0 else Sex.FEMALE) for i in range(6)]
    young = make.person(sex=Sex.FEMALE, birth_date=dt.date(2010, 1, 1))
    n = [p.id_number for p in people]
    rows = [
        "certificate_number,office_code,registration_date,spouse_a_id_number,spouse_b_id_number,"
        "dissolution_date,dissolution_office_code,dissolution_number",
        f"J330106-2015-000001,HZSC,2015-05-20,{n[0]},{n[1]},2019-03-01,HZSC,L330106-2019-000009",
        f"J330106-2020-000002,HZSC,2020-10-01,{n[0]},{n[3]},,,",  # remarriage after divorce
        f"J330106-2021-000003,HZSC,2021-01-01,{n[2]},{n[3]},,,",  # already married
        f"J330106-2021-000004,HZSC,2021-01-01,{n[2]},{new_id_number(sex=Sex.FEMALE)},,,",
        f"J330106-2021-000005,HZSC,2021-01-01,{n[2]},{n[5]},2022-01-01,,",  # incomplete
        f"J330106-2021-000006,HZSC,2021-01-01,{n[4]},{young.id_number},,,",  # under age
        f"J330106-2021-000007,NOPE,2021-01-01,{n[4]},{n[5]},,,",  # unknown office
    ]
    return "\n".join(rows) + "\n", people


def test_marriage_import_and_rerun(make: Factory, session: Session) -> None:
    text, people = _marriages_csv(make)
    unit = savepoint_per_row(session)
    report = import_csv(io.StringIO(text), ImportKind.MARRIAGES, sealer=make.sealer, unit=unit)
    assert report.created == 2
    assert [(e.line, e.code) for e in report.errors] == [
        (4, "already_married"),
        (5, "person_unknown"),
        (6, "dissolution_incomplete"),
        (7, "under_legal_age"),
        (8, "office_unknown"),
    ]
    status = service.marital_status(session, people[0].id)
    assert status.state is MaritalState.MARRIED
    assert [m.certificate_number for m in status.history] == [
        "J330106-2015-000001",
        "J330106-2020-000002",
    ]
    assert status.history[0].dissolution_number == "L330106-2019-000009"
    again = import_csv(io.StringIO(text), ImportKind.MARRIAGES, sealer=make.sealer, unit=unit)
    assert (again.created, again.unchanged, again.failed) == (0, 2, 5)
    assert session.scalar(select(func.count()).select_from(Marriage)) == 2


def test_marriage_import_can_add_a_later_dissolution(make: Factory, session: Session) -> None:
    make.office()
    man, woman = make.couple()
    head = "certificate_number,office_code,registration_date,spouse_a_id_number,spouse_b_id_number"
    row = f"J1-2016-1,HZSC,2016-06-06,{man.id_number},{woman.id_number}"
    unit = savepoint_per_row(session)
    first = import_csv(
        io.StringIO(f"{head}\n{row}\n"), ImportKind.MARRIAGES, sealer=make.sealer, unit=unit
    )
    assert first.created == 1
    later = f"{head},dissolution_date,dissolution_office_code\n{row},2020-02-02,HZSC\n"
    second = import_csv(io.StringIO(later), ImportKind.MARRIAGES, sealer=make.sealer, unit=unit)
    assert (second.updated, second.failed) == (1, 0)
    assert service.marital_status(session, man.id).state is MaritalState.DIVORCED
    changed = f"{head}\nJ1-2016-1,HZSC,2016-06-07,{man.id_number},{woman.id_number}\n"
    third = import_csv(io.StringIO(changed), ImportKind.MARRIAGES, sealer=make.sealer, unit=unit)
    assert [e.code for e in third.errors] == ["row_conflicts_with_record"]


# --- the CLI, committing one transaction per row on both backends ---------------------


# mounted as the top-level ``elicense`` command mounts them
cli = typer.Typer()
cli.add_typer(registry_app, name="registry")
cli.add_typer(clerk_app, name="clerk")


@pytest.fixture
def cli_env(fresh_db: Database, tmp_path: Path) -> dict[str, str]:
    return {"ELICENSE_DATA_DIR": str(tmp_path / "data"), "ELICENSE_DATABASE_URL": fresh_db.url}


def test_cli_import_writes_an_error_report_and_exits_1(
    cli_env: dict[str, str], tmp_path: Path, fresh_db: Database
) -> None:
    source = tmp_path / "persons.csv"
    source.write_text(PERSONS, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["registry", "import", str(source)], env=cli_env)
    assert result.exit_code == 1, result.output
    assert "9 rows: 2 created, 0 updated, 1 unchanged, 6 failed" in result.output
    report = (tmp_path / "persons.csv.errors.csv").read_text(encoding="utf-8").splitlines()
    assert report[0] == "line,code,message"
    assert [tuple(line.split(",")[:2]) for line in report[1:]] == [
        (str(n), c) for n, c in EXPECTED_ERRORS
    ]
    assert MAN not in "\n".join(report)
    with fresh_db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 2
    rerun = runner.invoke(cli, ["registry", "import", str(source)], env=cli_env)
    assert "0 created, 0 updated, 3 unchanged, 6 failed" in rerun.output


def test_cli_import_of_a_clean_file_exits_0(cli_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "ok.csv"
    source.write_text(
        "\ufeff" + HEADER + f"{MAN},黄强,Huang Qiang,M,1988-08-08,CHN\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["registry", "import", str(source), "--kind", "persons"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert "1 rows: 1 created" in result.output


def test_cli_bad_header_is_one_clear_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("who,what\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["registry", "import", str(source)], env=cli_env)
    assert result.exit_code == 1
    assert result.output.startswith("error [csv_missing_columns]: the CSV header lacks column(s)")
    assert "Traceback" not in result.output


def test_cli_clerk_add(cli_env: dict[str, str], fresh_db: Database) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["clerk", "add", "chen", "--role", "registrar", "--generate"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].strip()
    with fresh_db.transaction() as session:
        assert service.authenticate(session, "chen", password).role == "registrar"
    again = runner.invoke(
        cli, ["clerk", "add", "chen", "--role", "auditor", "--password", "x" * 12], env=cli_env
    )
    assert again.exit_code == 1
    assert again.output.strip() == "error [clerk_exists]: a clerk with this username already exists"
    prompted = runner.invoke(
        cli,
        ["clerk", "add", "zhou", "--role", "admin"],
        input="a password here\na password here\n",
        env=cli_env,
    )
    assert prompted.exit_code == 0, prompted.output
    with fresh_db.transaction() as session:
        assert service.authenticate(session, "zhou", "a password here").role == "admin"
