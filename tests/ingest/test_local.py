from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.extractors.local import extract_path
from tests.http_server import FIXTURES


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    path = write(
        tmp_path / "post.md",
        '---\ntitle: "Why I write"\nauthor: Ann Lee\ndate: 2024-05-01\ntags: [a, b]\n---\n'
        "# A heading in the body\n\nFirst   paragraph.\n\n\n\n```\n  code  stays\n```\n",
    )
    [doc] = extract_path(path)
    assert doc.url == path.resolve().as_uri() and doc.url.startswith("file:///")
    assert doc.platform == "local"
    assert doc.title == "Why I write"
    assert doc.author == "Ann Lee"
    assert doc.published_at == datetime(2024, 5, 1, tzinfo=UTC)
    assert doc.text == "# A heading in the body\n\nFirst paragraph.\n\n```\n  code  stays\n```"
    assert doc.source_url == ""  # the pipeline records the input the owner gave


def test_title_from_first_heading_which_leaves_the_body(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.markdown", "\n# On testing\n\nWrite the test first.\n")
    [doc] = extract_path(path)
    assert doc.title == "On testing" and doc.text == "Write the test first."
    assert doc.author == "" and doc.published_at is None


def test_title_from_file_stem_and_crlf_text(tmp_path: Path) -> None:
    path = write(tmp_path / "morning-pages.txt", b"Line one.\r\n\r\nLine two.\r\n")
    [doc] = extract_path(path)
    assert doc.title == "morning-pages" and doc.text == "Line one.\n\nLine two."


def test_front_matter_date_with_time_and_utf8_bom(tmp_path: Path) -> None:
    text = "---\ntitle: Été\ndate: '2024-05-01T10:30:00+02:00'\n---\nBody text.\n"
    path = write(tmp_path / "bom.md", "\ufeff".encode() + text.encode())
    [doc] = extract_path(path)
    assert doc.title == "Été" and doc.text == "Body text."
    assert doc.published_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def test_unparseable_date_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "p.md", "---\ndate: last tuesday\n---\nBody.\n")
    with caplog.at_level(logging.WARNING):
        [doc] = extract_path(path)
    assert doc.published_at is None and "last tuesday" in caplog.text


def test_saved_html_page_uses_the_article_parser(tmp_path: Path) -> None:
    src = FIXTURES / "pages" / "lemire.me.json.html"
    path = write(tmp_path / "saved" / "simdjson.HTML", src.read_bytes())
    [doc] = extract_path(path)
    assert doc.platform == "local" and doc.url == path.resolve().as_uri()
    assert doc.title == "JSON parsing: simdjson vs. JSON for Modern C++"
    assert doc.author == "Daniel Lemire" and "about 20x slower" in doc.text
    assert doc.source_url == ""


def test_directory_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path / "b.md", "Bee.")
    write(tmp_path / "a.txt", "Ay.")
    write(tmp_path / "sub" / "c.markdown", "See.")
    write(tmp_path / "sub" / "image.png", b"\x89PNG")
    write(tmp_path / ".git" / "notes.md", "hidden")
    write(tmp_path / ".obsidian.md", "hidden too")
    docs = extract_path(tmp_path)
    assert [Path(d.url).name for d in docs] == ["a.txt", "b.md", "c.markdown"]
    assert [d.text for d in docs] == ["Ay.", "Bee.", "See."]


def test_bad_file_in_a_directory_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "good.md", "Good.")
    write(tmp_path / "empty.md", "")
    write(tmp_path / "latin1.txt", "caf\xe9".encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        docs = extract_path(tmp_path)
    assert [d.text for d in docs] == ["Good."]
    assert "empty.md" in caplog.text and "latin1.txt" in caplog.text


def test_directory_where_nothing_can_be_read_raises_the_first_reason(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "   \n")
    write(tmp_path / "b.md", "")
    with pytest.raises(InputError, match=r"a\.md: the file is empty"):
        extract_path(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("paper.pdf", b"%PDF-1.7", "'.pdf' files are not supported; supported: .md, .markdown"),
        ("README", b"text", "files without an extension are not supported"),
        ("empty.md", b"", "the file is empty"),
        ("blank.txt", b" \n\t\n", "the file is empty"),
        ("only-front-matter.md", b"---\ntitle: x\n---\n", "no text besides its front matter"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8 text (invalid byte at offset 3)"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        extract_path(path)
    assert info.value.source == str(path) and reason in info.value.reason


def test_missing_path_and_folder_without_supported_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no such file or folder; supported: \.md"):
        extract_path(tmp_path / "nope.md")
    write(tmp_path / "only.png", b"\x89PNG")
    with pytest.raises(InputError, match="the folder has no supported files"):
        extract_path(tmp_path)


def test_front_matter_platform_is_honoured(tmp_path: Path) -> None:
    path = write(tmp_path / "saved.md", "---\nplatform: LinkedIn\n---\nA post I saved.\n")
    [doc] = extract_path(path)
    assert doc.platform == "linkedin"
