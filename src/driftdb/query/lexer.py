"""The DriftQL tokenizer: source text in, a list of positioned tokens out.

Hand-written, one branch per kind of token, so that every error can say exactly which character
is wrong ("Unterminated string", "Unexpected character '$'") and where. The whole statement is
tokenized before parsing, which lets the parser count `?` placeholders up front.
"""

from __future__ import annotations

import math
from typing import NoReturn

from driftdb.errors import QuerySyntaxError
from driftdb.query.tokens import Token, TokenKind, is_word_start

# The characters str.splitlines() breaks on ("\r\n" counts once). Counting lines the same way
# keeps error line numbers in step with QuerySyntaxError.render().
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

_SINGLE = {
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    "{": TokenKind.LBRACE,
    "}": TokenKind.RBRACE,
    "[": TokenKind.LBRACKET,
    "]": TokenKind.RBRACKET,
    ",": TokenKind.COMMA,
    ".": TokenKind.DOT,
    ":": TokenKind.COLON,
    ";": TokenKind.SEMICOLON,
    "*": TokenKind.STAR,
    "?": TokenKind.QUESTION,
    "=": TokenKind.EQ,
    "<": TokenKind.LT,
    ">": TokenKind.GT,
}
_DOUBLE = {"!=": TokenKind.NE, "<>": TokenKind.NE, "<=": TokenKind.LE, ">=": TokenKind.GE}
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
# A number literal longer than this is refused (Python's int() refuses over 4,300 digits, and
# no stored number has more than 20).
MAX_NUMBER_DIGITS = 1_000
_HEX = frozenset("0123456789abcdefABCDEF")


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens, ending with one EOF token.

    Raises QuerySyntaxError at the first character that cannot start or continue a token.
    """
    return _Lexer(source).run()


def is_digit(char: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and other digits int() refuses."""
    return "0" <= char <= "9"


class _Lexer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.line = 1
        self.line_start = 0  # offset of the first character of the current line
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        if self.source.startswith("\ufeff"):  # a byte-order mark left by an editor
            self.pos = self.line_start = 1
        while True:
            self._skip_blanks()
            if self.pos >= len(self.source):
                break
            self._scan_token()
        self.tokens.append(self._eof())
        return self.tokens

    def _eof(self) -> Token:
        # Placed just after the last token, not after trailing blank lines, so a caret for
        # "Expect X at end of input" lands where the statement stopped.
        if self.tokens:
            last = self.tokens[-1]
            column = last.column + (last.end - last.start)
            return Token(TokenKind.EOF, "", "", last.line, column, last.end, last.end)
        return Token(TokenKind.EOF, "", "", 1, 1, len(self.source), len(self.source))

    def _peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.source[index] if index < len(self.source) else ""

    def _skip_blanks(self) -> None:
        """Whitespace and `--` comments (to the end of the line)."""
        while self.pos < len(self.source):
            char = self.source[self.pos]
            if char in LINE_BREAKS:
                self.pos += 1
                if not (char == "\r" and self._peek() == "\n"):
                    self.line += 1
                    self.line_start = self.pos
            elif char.isspace():
                self.pos += 1
            elif char == "-" and self._peek(1) == "-":
                while self.pos < len(self.source) and self.source[self.pos] not in LINE_BREAKS:
                    self.pos += 1
            else:
                return

    def _add(self, kind: TokenKind, start: int, value: str | int | float | None = None) -> None:
        text = self.source[start : self.pos]
        column = start - self.line_start + 1
        token = Token(
            kind, text, text if value is None else value, self.line, column, start, self.pos
        )
        self.tokens.append(token)

    def _error(
        self, message: str, start: int, length: int = 1, hint: str | None = None
    ) -> NoReturn:
        raise QuerySyntaxError(
            message,
            source=self.source,
            line=self.line,
            column=start - self.line_start + 1,
            length=length,
            hint=hint,
        )

    def _scan_token(self) -> None:
        start = self.pos
        char = self.source[start]
        pair = self.source[start : start + 2]
        if is_word_start(char):
            self._scan_word()
        elif char in "\"'":
            self._scan_string(char)
        elif char == "`":
            self._scan_quoted_name()
        elif is_digit(char) or (char == "-" and is_digit(self._peek(1))):
            self._scan_number()
        elif char == "@":
            self._scan_timepoint()
        elif pair in _DOUBLE:
            self.pos += 2
            self._add(_DOUBLE[pair], start)
        elif char in _SINGLE:
            self.pos += 1
            self._add(_SINGLE[char], start)
        else:
            shown = f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"
            self._error(f"Unexpected character {shown}", start)

    def _scan_word(self) -> None:
        start = self.pos
        while self.pos < len(self.source) and (
            is_word_start(self.source[self.pos]) or is_digit(self.source[self.pos])
        ):
            self.pos += 1
        self._add(TokenKind.WORD, start)

    def _scan_timepoint(self) -> None:
        """`@` and what follows up to a blank or a delimiter; the parser judges the text, so
        that `@seq:-1` and `@seqq:1` get a message about timepoints, not about characters."""
        start = self.pos
        self.pos += 1
        while self.pos < len(self.source):
            char = self.source[self.pos]
            if char == "-" and self._peek(1) == "-":
                break  # a comment
            if not (is_word_start(char) or is_digit(char) or char in ":.+-"):
                break
            self.pos += 1
        self._add(TokenKind.TIMEPOINT, start)

    def _scan_number(self) -> None:
        """JSON-style numbers: -?digits(.digits)?([eE][+-]?digits)?"""
        start = self.pos
        if self._peek() == "-":
            self.pos += 1
        self._skip_digits()
        is_float = False
        if self._peek() == "." and is_digit(self._peek(1)):
            is_float = True
            self.pos += 1
            self._skip_digits()
        if self._peek() in ("e", "E") and self._peek(1) != "":
            sign = 1 if self._peek(1) in "+-" else 0
            if is_digit(self._peek(1 + sign)):
                is_float = True
                self.pos += 1 + sign
                self._skip_digits()
        if self.pos < len(self.source) and (
            is_word_start(self.source[self.pos]) or self.source[self.pos] == "."
        ):
            # `12abc`, `1e`, `1.` or `1.2.3`: one bad number, not a number and a stray word.
            while self.pos < len(self.source) and (
                is_word_start(self.source[self.pos])
                or is_digit(self.source[self.pos])
                or self.source[self.pos] == "."
            ):
                self.pos += 1
            text = self.source[start : self.pos]
            self._error(f"Invalid number '{text}'", start, self.pos - start)
        text = self.source[start : self.pos]
        if len(text) > MAX_NUMBER_DIGITS:
            self._error(
                f"Number too long ({len(text)} characters; at most {MAX_NUMBER_DIGITS})",
                start,
                len(text),
            )
        if not is_float:
            self._add(TokenKind.NUMBER, start, int(text))
            return
        value = float(text)
        if not math.isfinite(value):
            self._error(f"Number out of range '{text}'", start, len(text))
        self._add(TokenKind.NUMBER, start, value)

    def _skip_digits(self) -> None:
        while self.pos < len(self.source) and is_digit(self.source[self.pos]):
            self.pos += 1

    def _scan_string(self, quote: str) -> None:
        """A string in single or double quotes, with JSON escapes plus \\'.

        A raw line break ends the search: strings do not span lines (write \\n), so a missing
        quote is reported on the line where the string starts instead of swallowing the rest.
        """
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        while True:
            if self.pos >= len(self.source) or self.source[self.pos] in LINE_BREAKS:
                self._error("Unterminated string", start, hint=f"add the closing {quote}")
            char = self.source[self.pos]
            if char == quote:
                self.pos += 1
                break
            if char == "\\":
                parts.append(self._scan_escape())
            else:
                parts.append(char)
                self.pos += 1
        self._add(TokenKind.STRING, start, "".join(parts))

    def _scan_quoted_name(self) -> None:
        """A name in backticks, for a field or table name that is not a plain identifier or
        is a reserved word: `first-name`, `order`. A backtick inside is written twice (``);
        there are no other escapes, and a name does not span lines. The token's value is the
        name itself."""
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        while True:
            if self.pos >= len(self.source) or self.source[self.pos] in LINE_BREAKS:
                self._error("Unterminated quoted name", start, hint="add the closing `")
            char = self.source[self.pos]
            if char == "`":
                if self._peek(1) != "`":
                    self.pos += 1
                    break
                self.pos += 1  # `` stands for one backtick
            parts.append(char)
            self.pos += 1
        if not parts:
            self._error("Empty quoted name", start, 2)
        self._add(TokenKind.QUOTED_NAME, start, "".join(parts))

    def _scan_escape(self) -> str:
        """One backslash escape; a \\uXXXX high surrogate must be followed by its low half."""
        start = self.pos
        code = self._peek(1)
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        if code != "u":
            shown = "\\" + code if code and code not in LINE_BREAKS else "\\"
            self._error(f"Invalid escape '{shown}' in string", start, len(shown))
        high = self._scan_unicode_escape()
        if not 0xD800 <= high <= 0xDFFF:
            return chr(high)
        if high <= 0xDBFF and self._peek() == "\\" and self._peek(1) == "u":
            low = self._scan_unicode_escape()
            if 0xDC00 <= low <= 0xDFFF:
                return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        self._error(
            "Invalid escape: unpaired surrogate in string",
            start,
            self.pos - start,
            hint="a \\uD800-\\uDFFF escape must be a high then a low surrogate",
        )

    def _scan_unicode_escape(self) -> int:
        start = self.pos
        digits = self.source[start + 2 : start + 6]
        if len(digits) != 4 or not all(c in _HEX for c in digits):
            run = len(digits) - len(digits.lstrip("0123456789abcdefABCDEF"))
            shown = "\\u" + digits[:run]
            self._error(
                f"Invalid escape '{shown}' in string",
                start,
                len(shown),
                hint="write \\u and four hex digits",
            )
        self.pos += 6
        return int(digits, 16)
