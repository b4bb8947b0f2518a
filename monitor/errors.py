"""The exception tree: one root `MonitorError`, one branch per concern.

Stdlib only. Each error carries the data a caller needs to act on it (file and
line, URL and status, delivery id), and its message reads as one lowercase line.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(MonitorError):
    """config.yaml or the environment is invalid."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = message
        super().__init__(_located(message, path, line))


class ConfigErrors(ConfigError):
    """Several config errors found in one pass over config.yaml, in file order."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in errors))
        self.path, self.line = errors[0].path, errors[0].line


class RuleError(MonitorError):
    """A rule or actor file is invalid."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.rule_id = rule_id
        self.key = key
        self.problem = message
        prefix = ""
        if rule_id:
            prefix += f"rule '{rule_id}': "
        if key:
            prefix += f"key '{key}': "
        super().__init__(_located(prefix + message, path, line))


class RuleSetError(MonitorError):
    """Several rule errors found in one pass over the rules folder."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in errors))


class FetchError(MonitorError):
    """A feed or page could not be fetched."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after_s: float | None = None,
        is_permanent: bool = False,
    ) -> None:
        self.url = url
        self.status = status
        self.retry_after_s = retry_after_s
        self.is_permanent = is_permanent
        super().__init__(f"fetch: '{url}': {message}")


class ParseError(MonitorError):
    """Fetched bytes are not a usable feed."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"parse: '{url}': {message}")


class InputError(MonitorError):
    """A file named on the command line cannot be used: missing, a folder, not text."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class StoreError(MonitorError):
    """The database refused or is unusable."""


class DeliveryError(MonitorError):
    """A channel could not deliver a message."""

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        is_permanent: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        self.channel = channel
        self.is_permanent = is_permanent
        self.retry_after_s = retry_after_s
        super().__init__(f"{channel}: {message}")


def _located(message: str, path: str | None, line: int | None) -> str:
    if path is None:
        return message
    if line is None:
        return f"{path}: {message}"
    return f"{path}:{line}: {message}"
