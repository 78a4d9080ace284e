"""What a refused write looks like to its caller: who writes (Actor), the problems found, and the errors the
write path raises. str(error) is always a message for the user; nothing was written."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError

from models.store.db import database_problem


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return self.message


class RecordError(Exception):
    """A refused write; str(error) is a message for the user. Nothing was written."""


class ValidationFailed(RecordError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(" ".join(p.message for p in problems))


class RefusedByDatabase(ValidationFailed):
    """A constraint of the database refused the statement (the checks before it had passed). On PostgreSQL
    the transaction can run nothing more after it."""


class DuplicateRecord(ValidationFailed):
    def __init__(self, problem: Problem, existing_id: int):
        self.existing_id = existing_id
        super().__init__([problem])


class StaleRecord(RecordError):
    pass


class RecordNotFound(RecordError):
    pass


class NotPermitted(RecordError):
    pass


class DatabaseUnavailable(RecordError):
    """The database could not be reached or stayed locked; nothing was saved."""


def database_errors(function):
    """Connection failures and lock time-outs become a clear RecordError; the caller keeps the input."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except OperationalError as error:
            raise DatabaseUnavailable(database_problem(error)) from error
    return wrapper


class HeldRowsRefused(RecordError):
    """The database refused rows a write batch had held back; which row is not known. Nothing more can run
    in the transaction (PostgreSQL): roll it back and write the rows one at a time to find the row."""
