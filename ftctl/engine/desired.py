"""What the configuration wants, in the planner's terms. Resources are evaluated in dependency
order; each instance's plan decides what later references to it see: a new object's id is
unknown, an object that stays keeps its attributes, a running job's model is unknown until the
job finishes. The same walk serves validate (no state), plan, and apply (one instance)."""

import contextlib
import hashlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ftctl.diagnostics import Diagnostic, DiagnosticsError, SourceRange, error
from ftctl.lang.config import (
    EXPORTS,
    FINISH_EXPORTS,
    RESOURCE_SCHEMAS,
    Configuration,
    ResourceConfig,
    check_data_file,
    load_configuration,
)
from ftctl.lang.evaluate import EvaluationFailed, Evaluator
from ftctl.lang.syntax import Block, IndexStep
from ftctl.lang.values import (
    UNKNOWN,
    EvaluationError,
    Sensitive,
    SetValue,
    is_known,
    to_number,
    type_name,
    unmark,
)
from ftctl.lang.variables import VariableInput, no_resources, variable_values
from ftctl.plan import DEPOSED, Action
from ftctl.planner import FINISHED_STATUSES, Desired, Tracked, plan_change
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job, provider
from ftctl.resources.schema import Decoder

# Attributes the API assigns: "(known after apply)" on a new object.
COMPUTED: Mapping[str, tuple[str, ...]] = {
    fine_tuning_job.TYPE: ("fine_tuned_model", "organization_id", "status", "created_at"),
    openai_file.TYPE: ("bytes", "created_at"),
}


@dataclass(frozen=True)
class Instance:
    address: str  # openai_file.shard[2], openai_fine_tuning_job.sweep["lr-0.1"]
    resource: ResourceConfig
    key: str | int | None
    bound: Mapping[str, Any]  # each / count


def instance_address(resource_address: str, key: str | int | None) -> str:
    if key is None:
        return resource_address
    if isinstance(key, int):
        return f"{resource_address}[{key}]"
    return f"{resource_address}[{json.dumps(key, ensure_ascii=False)}]"


def resource_of(address: str) -> str:
    """The resource address of an instance address: TYPE.NAME."""
    return address.split("[", 1)[0].removesuffix(DEPOSED)


def prepare(
    directory: Path,
    inputs: Sequence[VariableInput],
    environ: Mapping[str, str],
    *,
    require_variables: bool = True,
) -> tuple[Configuration, list[Diagnostic]]:
    """The configuration with its variables' values and provider settings, checked by one
    evaluation against an empty state (validate's work), with every problem found."""
    configuration, problems = load_configuration(directory)
    if not configuration.complete:
        return configuration, problems
    values, found = variable_values(configuration, inputs, environ, require=require_variables)
    problems += found
    settings: dict[str, Any] = {}
    if configuration.provider_body is not None:
        evaluator = Evaluator(
            directory=directory,
            variables=values,
            locals_={name: a.value for name, a in configuration.locals.items()},
            resource_types=(),
            resources=no_resources,
        )
        decoded = Decoder(problems).decode(
            configuration.provider_body, provider.SCHEMA, evaluator.evaluate
        )
        settings = {k: v for k, v in unmark(decoded)[0].items() if v is not UNKNOWN}
    configuration = replace(configuration, values=values, provider=settings)
    if not configuration.has_cycle:
        walk = Walk(configuration, values, {}, 0, validating=True)
        walk.run()
        walk.outputs()
        # Where the static checks found a problem, evaluating it again only repeats it.
        reported = {p.where for p in problems if p.where is not None}
        problems += [p for p in walk.problems if p.where not in reported]
    return configuration, unique(problems)


def desired_resource(
    configuration: Configuration,
    address: str,
    state_tracked: Mapping[str, Tracked],
    now: int = 0,
) -> Desired:
    """One instance's desire against the tracked state; DiagnosticsError if it cannot be had.
    `now` judges deadlines, which decide whether a job is replaced and so what it exports."""
    return Walk(configuration, configuration.values, state_tracked, now).desire(address)


def unique(problems: Sequence[Diagnostic]) -> list[Diagnostic]:
    """Each problem once: every instance of a resource finds the same ones."""
    seen: set[tuple[str, str, SourceRange | None]] = set()
    kept = []
    for problem in problems:
        key = (problem.severity.value, problem.summary, problem.where)
        if key not in seen:
            seen.add(key)
            kept.append(problem)
    return kept


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Walk:
    """One evaluation of the configuration against what the state tracks.

    `tracked` is the state's view (empty for validate); `requested` the addresses to replace.
    `validating`: a for_each or count that is not yet known is skipped rather than an error."""

    def __init__(
        self,
        configuration: Configuration,
        variables: Mapping[str, Any],
        tracked: Mapping[str, Tracked],
        now: int,
        requested: Collection[str] = (),
        *,
        validating: bool = False,
    ) -> None:
        self.configuration = configuration
        self.tracked = dict(tracked)
        self.now = now
        self.requested = frozenset(requested)
        self.validating = validating
        self.problems: list[Diagnostic] = []
        self.decoder = Decoder(self.problems)
        self.values: dict[str, Any] = {}  # resource address → what references to it see
        self.desired: dict[str, Desired] = {}  # instance address → its desire
        self.instances: dict[str, list[Instance]] = {}  # resource address → its instances
        self.creating: set[str] = set()  # instance addresses planned to get a new object
        self.triggered: set[str] = set()  # replaced because of lifecycle.replace_triggered_by
        self.actions: dict[str, Action] = {}  # instance address → its planned action
        self._digests: dict[Path, str] = {}
        self._checked_files: set[str] = set()
        self.evaluator = Evaluator(
            directory=configuration.directory,
            variables=variables,
            locals_={name: a.value for name, a in configuration.locals.items()},
            resource_types=tuple(RESOURCE_SCHEMAS),
            resources=self._reference,
        )

    def run(self) -> list[Desired]:
        for address in self.configuration.resource_order():
            self._resource(address)
        return list(self.desired.values())

    def one(self, address: str) -> Desired | None:
        """One instance's desire, evaluating only the resources it needs first."""
        resource_address = resource_of(address)
        needed = self.configuration.resource_closure(resource_address)
        for each in self.configuration.resource_order():
            if each in needed:
                self._resource(each)
        self.desired.pop(address, None)  # asked again: evaluated again
        self._resource(resource_address, only=address)
        return self.desired.get(address)

    def desire(self, address: str) -> Desired:
        """`one`, or DiagnosticsError with what this instance's evaluation found wrong. A walk
        answers any number of these: what the instances share is evaluated once."""
        before = len(self.problems)
        desired = self.one(address)
        found = [p for p in self.problems[before:] if p.severity.value == "error"]
        if found:
            raise DiagnosticsError(unique(found), self.configuration.sources)
        if desired is None:
            made = [i.address for i in self.instances.get(resource_of(address), [])]
            raise DiagnosticsError(
                [
                    error(
                        f"No instance {address} in the configuration",
                        "Its block makes "
                        + (", ".join(made) if made else "no instances")
                        + ": use one of those addresses (quoted in a shell).",
                    )
                ],
                self.configuration.sources,
            )
        return desired

    def outputs(self) -> dict[str, Any]:
        """Each output's value; an output derived from a sensitive value must say so."""
        found: dict[str, Any] = {}
        for name, output in self.configuration.outputs.items():
            try:
                value = self.evaluator.evaluate(output.value)
            except EvaluationFailed as exc:
                self.problems.append(exc.diagnostic)
                continue
            _, sensitive = unmark(value)
            if sensitive and not output.sensitive:
                self.problems.append(
                    error(
                        "Output refers to sensitive values",
                        "To reduce the risk of accidentally exporting sensitive data that was "
                        "intended to be only internal, ftctl requires that any output containing "
                        "sensitive data be explicitly marked as sensitive, to confirm your intent."
                        " If you do intend to export this data, add sensitive = true to the "
                        "output block.",
                        output.value.where,
                    )
                )
                continue
            found[name] = Sensitive(unmark(value)[0]) if output.sensitive else value
        return found

    # -- resources ------------------------------------------------------------------------------

    def _reference(self, kind: str, name: str, where: SourceRange) -> Any:
        return self.values.get(f"{kind}.{name}", UNKNOWN)

    def _resource(self, address: str, only: str | None = None) -> None:
        if address in self.values and only is None:
            return
        resource = self.configuration.resources[address]
        known = self.instances.get(address) if only is not None else None
        instances = known if known is not None else self._expand(resource)
        if instances is None:
            self.values[address] = UNKNOWN
            return
        self.instances[address] = instances
        objects: dict[str | int | None, Any] = {}
        for instance in instances:
            if only is not None and instance.address != only:
                continue
            objects[instance.key] = self._instance(instance)
        if only is not None:
            return
        if resource.count is not None:
            self.values[address] = [objects[i.key] for i in instances]
        elif resource.for_each is not None:
            self.values[address] = {str(i.key): objects[i.key] for i in instances}
        else:
            self.values[address] = objects.get(None, UNKNOWN)

    def _expand(self, resource: ResourceConfig) -> list[Instance] | None:
        """The resource's instances; None when they cannot be known yet (validate only)."""
        address = resource.address
        if resource.count is not None:
            try:
                count, sensitive = unmark(self.evaluator.evaluate(resource.count))
            except EvaluationFailed as exc:
                self.problems.append(exc.diagnostic)
                return None
            if isinstance(count, str):  # Terraform converts "2" as it would for any number
                with contextlib.suppress(EvaluationError):
                    count = to_number(count)
            problem = _count_problem(count, sensitive)
            if count is UNKNOWN and self.validating:
                return None
            if problem is not None:
                self.problems.append(error("Invalid count argument", problem, resource.count.where))
                return None
            return [
                Instance(instance_address(address, i), resource, i, {"count": {"index": i}})
                for i in range(int(count))
            ]
        if resource.for_each is not None:
            try:
                value = self.evaluator.evaluate(resource.for_each)
            except EvaluationFailed as exc:
                self.problems.append(exc.diagnostic)
                return None
            if not is_known(value) and self.validating:
                return None
            pairs, problem = _for_each_pairs(value)
            if problem is not None:
                self.problems.append(
                    error("Invalid for_each argument", problem, resource.for_each.where)
                )
                return None
            return [
                Instance(
                    instance_address(address, key),
                    resource,
                    key,
                    {"each": {"key": key, "value": item}},
                )
                for key, item in pairs
            ]
        return [Instance(address, resource, None, {})]

    def _instance(self, instance: Instance) -> Any:
        resource = instance.resource
        schema = RESOURCE_SCHEMAS[resource.type]

        def evaluate(expression: Any) -> Any:
            return self.evaluator.evaluate(expression, instance.bound)

        found_before = self._errors()
        arguments = self.decoder.decode(resource.body, schema, evaluate)
        plain, _ = unmark(arguments)
        hidden = frozenset(name for name, value in arguments.items() if unmark(value)[1])
        # What references see keeps the marks: a value derived from a secret stays hidden.
        seen = {k: Sensitive(v) if k in hidden else v for k, v in plain.items()}
        old = self.tracked.get(instance.address)
        if resource.type == fine_tuning_job.TYPE:
            self.problems.extend(
                p
                for p in fine_tuning_job.check(plain, _block_of(resource))
                if p not in self.problems
            )
        missing = [a.name for a in schema.arguments if a.required and a.name not in plain]
        broken = resource.address in self.configuration.invalid
        if self._errors() > found_before or missing or broken:
            return _unknown_object(resource.type, seen)
        desired = self._desired(instance, plain, old, hidden)
        if desired is None:
            return _unknown_object(resource.type, seen)
        self.desired[instance.address] = desired
        if old is not None and self._triggered(resource):
            self.triggered.add(instance.address)
        change = plan_change(desired, old, self.now, self.requested, self.triggered)
        self.actions[instance.address] = change.action
        if change.action.creates:
            self.creating.add(instance.address)
            exports = {name: UNKNOWN for name in EXPORTS[resource.type]}
            if resource.type == openai_file.TYPE:
                exports["sha256"] = desired.arguments["sha256"]
            return {**seen, **exports}
        assert old is not None
        observed = {name: old.observed.get(name) for name in EXPORTS[resource.type]}
        observed["id"] = old.remote_id
        if resource.type == openai_file.TYPE:
            observed["sha256"] = old.applied.get("sha256")
        if resource.type == fine_tuning_job.TYPE and old.status not in FINISHED_STATUSES:
            # Known only when the job finishes: whatever needs them waits for it.
            observed.update({name: UNKNOWN for name in FINISH_EXPORTS})
        return {**seen, **observed}

    def _errors(self) -> int:
        return sum(1 for p in self.problems if p.severity.value == "error")

    def _triggered(self, resource: ResourceConfig) -> bool:
        """lifecycle.replace_triggered_by: a referenced instance is planned to be created,
        replaced or updated; or, for a reference to one attribute, that attribute changes."""
        for reference in resource.lifecycle.replace_triggered_by:
            if not reference.steps or not isinstance(reference.steps[0], str):
                continue
            target = f"{reference.root}.{reference.steps[0]}"
            rest = reference.steps[1:]
            key = rest[0].key if rest and isinstance(rest[0], IndexStep) else None
            if key is not None:
                rest = rest[1:]
            attribute = rest[0] if rest and isinstance(rest[0], str) else None
            addresses = (
                [instance_address(target, key)]
                if key is not None
                else [i.address for i in self.instances.get(target, [])]
            )
            for address in addresses:
                action = self.actions.get(address)
                if action is None or not (action.creates or action is Action.UPDATE):
                    continue
                if attribute is None or action.creates:
                    return True
                new = self.desired[address]
                old = self.tracked.get(address)
                if old is not None and new.settings.get(attribute) != old.settings.get(attribute):
                    return True
        return False

    def _desired(
        self,
        instance: Instance,
        arguments: dict[str, Any],
        old: Tracked | None,
        hidden: frozenset[str] = frozenset(),
    ) -> Desired | None:
        """`hidden`: arguments derived from sensitive values."""
        resource = instance.resource
        lifecycle = resource.lifecycle
        if resource.type == openai_file.TYPE:
            relative = arguments.get("file")
            if not isinstance(relative, str):
                return None
            relative = os.path.normpath(relative) if not os.path.isabs(relative) else relative
            if relative not in self._checked_files:
                self._checked_files.add(relative)
                found = check_data_file(
                    self.configuration.directory, instance.address, relative, resource.where
                )
                self.problems += found
                if found:
                    return None
            path = self.configuration.directory / relative
            if path not in self._digests:
                self._digests[path] = file_digest(path)
            wanted: dict[str, Any] = {
                "file": relative,
                "purpose": arguments.get("purpose", "fine-tune"),
                # The content decides replacement: a changed file is a new upload.
                "sha256": self._digests[path],
            }
            settings: dict[str, Any] = {"create_before_destroy": lifecycle.create_before_destroy}
        else:
            wanted = fine_tuning_job.create_request(arguments)
            settings = fine_tuning_job.settings(arguments, lifecycle.create_before_destroy)
        if old is not None and (lifecycle.ignore_all or lifecycle.ignore_changes):
            # Considered on create only: for an existing object the recorded value stands.
            ignored: list[tuple[str | int, ...]] = (
                [(name,) for name in (*wanted, *settings)]
                if lifecycle.ignore_all
                else list(lifecycle.ignore_changes)
            )
            if ("file",) in ignored:
                ignored.append(("sha256",))
            for steps in ignored:
                name = str(steps[0])
                if len(steps) == 1 and name in settings:
                    settings[name] = old.settings.get(name, settings[name])
                else:
                    _keep_old(wanted, old.applied, steps)
        return Desired(
            address=instance.address,
            type=resource.type,
            arguments=wanted,
            settings=settings,
            depends_on=tuple(
                sorted(
                    i.address
                    for needed in self.configuration.resource_needs(resource.address)
                    for i in self.instances.get(needed, [])
                )
            ),
            computed=COMPUTED[resource.type],
            sensitive=tuple(sorted(hidden & set(wanted))),
        )


def _keep_old(wanted: dict[str, Any], applied: Mapping[str, Any], path: tuple[Any, ...]) -> None:
    """Sets `wanted` at `path` to what `applied` has there (or removes it if applied has none)."""
    old: Any = applied
    for step in path:
        old = old.get(step, _ABSENT) if isinstance(old, Mapping) else _ABSENT
        if old is _ABSENT:
            break
    target: Any = wanted
    for step in path[:-1]:
        inner = target.get(step) if isinstance(target, dict) else None
        if not isinstance(inner, dict):
            if old is _ABSENT:
                return
            inner = {}
            target[step] = inner
        target[step] = inner = dict(inner)
        target = inner
    if not isinstance(target, dict):
        return
    if old is _ABSENT:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = old


_ABSENT = object()


def _unknown_object(kind: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {**arguments, **{name: UNKNOWN for name in EXPORTS[kind]}}


def _block_of(resource: ResourceConfig) -> Block:
    return Block("resource", (resource.type, resource.name), resource.body, resource.where)


def _count_problem(count: Any, sensitive: bool) -> str | None:
    if sensitive:
        return "Sensitive values, or values derived from sensitive values, cannot be used as count."
    if count is UNKNOWN:
        return (
            'The "count" value depends on resource attributes that cannot be determined until '
            "apply, so ftctl cannot predict how many instances will be created. Use values "
            "known before apply, such as variables."
        )
    if count is None:
        return 'The given "count" argument value is null. An integer is required.'
    if isinstance(count, bool) or not isinstance(count, int | float):
        return (
            'The given "count" argument value is unsuitable: a number is required, '
            f"not {type_name(count)}."
        )
    if isinstance(count, float) and not count.is_integer():
        return 'The given "count" argument value is unsuitable: it must be a whole number.'
    if count < 0:
        return (
            'The given "count" argument value is unsuitable: must be greater than or equal to zero.'
        )
    return None


def _for_each_pairs(value: Any) -> tuple[list[tuple[str, Any]], str | None]:
    """The (key, value) pairs a for_each makes, or why it cannot. Keys must not be sensitive;
    a map's sensitive values stay marked in each.value, as in Terraform."""
    plain, sensitive = unmark(value)
    if isinstance(value, Sensitive) or (isinstance(value, SetValue) and sensitive):
        return [], (
            "Sensitive values, or values derived from sensitive values, cannot be used as "
            "for_each arguments. If used, the sensitive value could be exposed as a resource "
            "instance key."
        )
    if plain is UNKNOWN or (isinstance(plain, SetValue) and not is_known(plain)):
        return [], (
            'The "for_each" value depends on resource attributes that cannot be determined '
            "until apply, so ftctl cannot determine the full set of keys that will identify the "
            "instances of this resource. Define the keys statically in the configuration and "
            "place apply-time results only in the map values."
        )
    if plain is None:
        return [], (
            'The given "for_each" argument value is unsuitable: the given "for_each" argument '
            "value is null. A map, or set of strings is allowed."
        )
    if isinstance(plain, dict):
        return [
            (key, value[key] if isinstance(value, dict) else plain[key]) for key in sorted(plain)
        ], None
    if isinstance(plain, SetValue):
        if not all(isinstance(item, str) for item in plain):
            return [], (
                'The given "for_each" argument value is unsuitable: "for_each" supports sets of '
                f"strings, but you have provided a {type_name(plain)}."
            )
        return [(item, item) for item in plain], None
    return [], (
        'The given "for_each" argument value is unsuitable: the "for_each" argument must be a '
        f"map, or set of strings, and you have provided a value of type {type_name(plain)}."
    )
