"""Armed faults: the next N requests that match a rule fail in the way the rule says.

A rule can delay, answer an error status (with Retry-After), drop the connection (status 0),
or answer normally after a delay (status null). With after_commit the request is carried out
first and only its answer fails: the trap that makes naive clients create duplicates.
"""

from dataclasses import asdict, dataclass, replace
from typing import Any

from ftctl.emulator.errors import bad_request

DROP = 0


@dataclass(frozen=True)
class FaultRule:
    path: str
    method: str | None = None  # None matches every method
    status: int | None = 500  # None: answer normally; 0: drop the connection
    times: int = 1
    retry_after: float | None = None
    delay_ms: int = 0
    after_commit: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Any) -> "FaultRule":
        if not isinstance(body, dict):
            raise bad_request("A fault rule is a JSON object.")
        unknown = sorted(set(body) - set(cls.__dataclass_fields__))
        if unknown:
            raise bad_request(f"Unknown fault rule field {unknown[0]!r}.", param=unknown[0])
        path = body.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise bad_request("path must be a URL path such as /v1/fine_tuning/jobs.", "path")
        status = body.get("status", 500)
        if status is not None and (
            not _is_int(status) or not (status == DROP or 100 <= status <= 599)
        ):
            raise bad_request("status must be an HTTP status, 0 (drop) or null.", "status")
        times = body.get("times", 1)
        if not _is_int(times) or times < 1:
            raise bad_request("times must be a positive integer.", "times")
        retry_after = body.get("retry_after")
        if retry_after is not None and (
            not (_is_int(retry_after) or isinstance(retry_after, float)) or retry_after < 0
        ):
            raise bad_request("retry_after must be a number of seconds.", "retry_after")
        delay_ms = body.get("delay_ms", 0)
        if not _is_int(delay_ms) or delay_ms < 0:
            raise bad_request("delay_ms must be a non-negative integer.", "delay_ms")
        method = body.get("method")
        if method is not None and (not isinstance(method, str) or not method.strip()):
            raise bad_request("method must be an HTTP method, '*' or null.", "method")
        after_commit = body.get("after_commit", False)
        if not isinstance(after_commit, bool):
            raise bad_request("after_commit must be true or false.", "after_commit")
        return cls(
            path=path,
            method=None if method in (None, "*") else method.upper(),
            status=status,
            times=times,
            retry_after=retry_after,
            delay_ms=delay_ms,
            after_commit=after_commit,
        )


class FaultBook:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def arm(self, rule: FaultRule) -> None:
        self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first armed rule matching the request, used up by one."""
        for index, rule in enumerate(self._rules):
            if rule.matches(method, path):
                if rule.times > 1:
                    self._rules[index] = replace(rule, times=rule.times - 1)
                else:
                    del self._rules[index]
                return rule
        return None

    def armed(self) -> list[FaultRule]:
        return list(self._rules)

    def clear(self) -> None:
        self._rules.clear()


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as Python bools, which are ints: refuse them.
    return isinstance(value, int) and not isinstance(value, bool)
