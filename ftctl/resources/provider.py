"""`provider "openai"`: how to reach the API. Each argument falls back to the environment
variable the openai SDK itself reads."""

from ftctl.resources.schema import Argument, BlockType, Kind, integer_range, number_range

NAME = "openai"
ENVIRONMENT = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "organization": "OPENAI_ORG_ID",
    "project": "OPENAI_PROJECT_ID",
}

SCHEMA = BlockType(
    name=f'provider "{NAME}"',
    arguments=(
        Argument("api_key", Kind.STRING),
        Argument("base_url", Kind.STRING),
        Argument("organization", Kind.STRING),
        Argument("project", Kind.STRING),
        Argument("max_retries", Kind.INTEGER, check=integer_range(0, 10)),
        Argument("timeout", Kind.NUMBER, check=number_range(0)),
    ),
)
