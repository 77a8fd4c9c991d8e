"""The one error the emulator's service raises; the HTTP layer renders it as OpenAI's body."""

from typing import Any


class ApiError(Exception):
    """An answer in OpenAI's error shape. A plain class, not a frozen dataclass: Starlette
    writes to `__traceback__` of the exceptions it handles."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(message: str, param: str | None = "id", code: str | None = None) -> ApiError:
    return ApiError(404, message, param=param, code=code)
