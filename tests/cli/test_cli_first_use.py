"""What a new user meets first (init, doctor, a wrong directory): one true line, exit 1."""

from __future__ import annotations

from pathlib import Path

from cli_support import Runner, tree_digest


def test_init_on_an_existing_database_is_one_line_and_exit_1_not_usage(
    run: Runner, shop: Path
) -> None:
    before = tree_digest(shop)
    done = run("init", "db")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        "error: db already holds a DriftDB database; nothing was changed "
        "(open it with -d, or choose a new directory)\n"
    )
    assert tree_digest(shop) == before


def test_doctor_on_a_missing_directory_says_there_is_no_database_not_damaged(
    run: Runner,
) -> None:
    done = run("doctor", "-d", "nowhere")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        'error: no DriftDB database at nowhere; create one with "driftdb init nowhere" or '
        "driftdb.open(path, create=True)\n"
    )


def test_doctor_still_reports_a_link_where_the_tables_directory_should_be(
    run: Runner, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "tables").symlink_to(tmp_path / "elsewhere")
    done = run("doctor", "-d", "db")
    assert done.code == 1
    assert "error: tables: " in done.out and "never followed" in done.out


def test_doctor_names_a_damaged_schema_file_once(run: Runner, shop: Path) -> None:
    (shop / "tables" / "orders" / "schema.yaml").write_text('name: "orders"\n')
    done = run("doctor", "-d", "db")
    assert done.code == 1
    first = done.out.splitlines()[0]
    assert first == "error: tables/orders/schema.yaml: missing field 'primary_key'"


def test_a_directory_of_other_files_gets_no_hint_to_run_init(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    expected = (
        "error: photos holds other files and is not a DriftDB database (it has no tables/ "
        "directory); check the path\n"
    )
    for command in (
        ("select", "-d", "photos", "--table", "orders"),
        ("sql", "-d", "photos", "-e", "SHOW TABLES"),
        ("doctor", "-d", "photos"),
    ):
        done = run(*command)
        assert (done.code, done.err) == (1, expected), command
    assert run("init", "photos").code == 1  # which is why init is not the hint


def test_an_empty_directory_gets_the_hint_to_run_init(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "fresh").mkdir()
    done = run("select", "-d", "fresh", "--table", "orders")
    assert done.code == 1
    assert 'create one with "driftdb init fresh"' in done.err
