"""`resource "openai_file"`: a JSONL file ftctl uploads; its content's sha256 decides whether
it must be replaced."""

from ftctl.resources.schema import Argument, BlockType, Kind, one_of

TYPE = "openai_file"
PURPOSES = ("fine-tune",)

SCHEMA = BlockType(
    name=TYPE,
    arguments=(
        Argument(
            "file",
            Kind.STRING,
            required=True,
            hint="a path to a .jsonl file, relative to the configuration directory.",
        ),
        Argument("purpose", Kind.STRING, check=one_of(*PURPOSES)),
    ),
)
