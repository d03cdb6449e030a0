"""Uploaded text files, read one way: a lead list, a bank's statement, exchange rates.

Size, encoding (UTF-8, with or without Excel's byte-order mark), NUL bytes, the header row,
blank rows, the row limit and broken quoting are refused here, with a message on the upload's
own field, before anything in the file is looked at; what each file must hold (its columns,
its values) is its reader's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from portal.core.errors import ValidationError


def _size(limit: int) -> str:
    if limit % 1_048_576 == 0 or limit % 1_000_000 == 0:
        return f"{limit // 1_000_000} MB"
    return f"{limit // 1024} KB"


def upload_text(content: bytes | str, *, field: str, what: str, max_bytes: int) -> str:
    """The text of an upload of at most `max_bytes`; `what` names it in a refusal ("The
    file", "The rates file")."""
    if len(content) > max_bytes:
        raise ValidationError({field: f"{what} is larger than {_size(max_bytes)}; split it."})
    try:
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    except UnicodeDecodeError as error:
        raise ValidationError(
            {field: f"{what} is not UTF-8 text (byte {error.start}); save it as “CSV UTF-8”."}
        ) from None
    if "\x00" in text:
        raise ValidationError({field: f"{what} contains NUL bytes; it is not a text file."})
    return text


def column_name(name: str) -> str:
    """A header as the readers compare it: `Client Name ` is `client_name`."""
    return name.strip().lower().replace(" ", "_")


@dataclass(frozen=True)
class Table:
    """A CSV file's header (as `column_name`s) and its non-blank rows with their lines."""

    columns: list[str]
    rows: list[tuple[int, list[str]]]

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Each row by column name (a short row's missing cells are empty)."""
        for line, values in self.rows:
            yield (
                line,
                {
                    name: (values[i] if i < len(values) else "")
                    for i, name in enumerate(self.columns)
                },
            )

    def require(
        self, field: str, required: Sequence[str], optional: Sequence[str] | None = None
    ) -> None:
        """The header must name every `required` column, once; with `optional` given, no
        column outside the two."""
        missing = [name for name in required if name not in self.columns]
        unknown = (
            [name for name in self.columns if name not in (*required, *optional)]
            if optional is not None
            else []
        )
        repeated = len(set(self.columns)) != len(self.columns)
        if missing or unknown or repeated:
            raise ValidationError(
                {
                    field: f"The columns must be {', '.join(required)}"
                    + (f" and optionally {', '.join(optional)}" if optional else "")
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                    + ("; a column is repeated" if repeated else "")
                    + "."
                }
            )


def read_csv(text: str, *, field: str, what: str, max_rows: int) -> Table:
    """The header and rows of a CSV text (see `upload_text`), blank rows left out."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ValidationError({field: f"{what} is empty."})
        rows: list[tuple[int, list[str]]] = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            if len(rows) >= max_rows:
                raise ValidationError(
                    {field: f"{what} has more than {max_rows} rows; split it into smaller files."}
                )
            rows.append((reader.line_num, values))
    except csv.Error as error:
        raise ValidationError(
            {field: f"Line {reader.line_num}: the CSV quoting is broken ({error})."}
        ) from None
    return Table([column_name(name) for name in header], rows)
