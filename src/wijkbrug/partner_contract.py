"""Partner data-sharing contracts (partners/contracts/<partner>.yaml): loaded, validated, applied.

A contract names, per person-level event, the purposes (doelen) a partner may receive it under,
which signal categories or milestones, and per field what happens to it: keep, pseudonymise,
generalise or drop. A field the contract does not name is dropped. Each (event, purpose) is
compiled once into a :class:`Transform` that builds the outgoing data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from wijkbrug.codes import MILESTONES, PURPOSES, SIGNAL_CATEGORIES
from wijkbrug.partners import Partner, load_partners
from wijkbrug.paths import data_dir
from wijkbrug.schemas import all_schemas, latest

CHANNELS: tuple[str, ...] = ("kafka", "webhook", "file")
ACTIONS: tuple[str, ...] = ("keep", "pseudonymise", "generalise", "drop")
DELIVER_AS: tuple[str, ...] = ("event", "alert")
WARM_HANDOVER = "warme_overdracht"
ALL_CATEGORIES = "all"

#: The person-level events a partner can receive, and what narrows their purposes.
DELIVERABLE: Mapping[str, str] = MappingProxyType(
    {"signal.consented": "categories", "renovation.milestone": "milestones"}
)
#: Free text may hold anything (health, neighbours): only ever kept, and only for warme_overdracht.
FREE_TEXT: Mapping[str, frozenset[str]] = MappingProxyType(
    {"signal.consented": frozenset({"note"}), "renovation.milestone": frozenset({"remark"})}
)
#: String identifiers a per-partner pseudonym may replace.
PSEUDONYMISABLE: frozenset[str] = frozenset(
    {"tenant_number", "unit_id", "registration_id", "resident.bsn"}
)

#: ``pseudonymise(value, field_path)``: the field path namespaces the pseudonym (decision 14).
Pseudonymiser = Callable[[str, str], str]
Generaliser = Callable[[Any, Mapping[str, Any], date], Any]  # (value, whole record, reference date)
_Src = Mapping[str, Any]
_Dst = dict[str, Any]
_Apply = Callable[[_Src, _Dst, _Src, Pseudonymiser, date], None]
_PLURAL = {"category": "categories"}
_BANDS = tuple(f"{age - age % 5}-{age - age % 5 + 4}" for age in range(90))
_PC4 = re.compile(r"\s*([1-9][0-9]{3})\s*(?:[A-Za-z]{2})?\s*")


def age_band(birth_date: str, on: date) -> str:
    """The 5-year age band on ``on`` ("0-4", "35-39", ..., "85-89", "90+")."""
    try:
        born = date.fromisoformat(birth_date)
    except (TypeError, ValueError):
        raise ValueError("birth date is not an ISO date (YYYY-MM-DD)") from None  # no value
    age = on.year - born.year - (on.month * 100 + on.day < born.month * 100 + born.day)
    if age < 0:
        raise ValueError("birth date lies after the reference date")
    return _BANDS[age] if age < 90 else "90+"


def pc4(postcode: str) -> str:
    """The four digits of a Dutch postcode: "3573AB" -> "3573"."""
    match = _PC4.fullmatch(postcode) if isinstance(postcode, str) else None
    if match is None:
        raise ValueError("not a Dutch postcode (1234AB)")  # no value: a postcode is personal
    return match.group(1)


#: Fields that can be generalised: what they become, and how.
GENERALISERS: Mapping[str, tuple[str, Generaliser]] = MappingProxyType(
    {
        "resident.birth_date": ("5-year age band", lambda value, _data, on: age_band(value, on)),
        "address.postcode": ("PC4, the four digits", lambda value, _data, _on: pc4(value)),
        "address": ("the complex code", lambda _value, data, _on: data.get("complex")),
    }
)


class ContractError(ValueError):
    """A contract is wrong; the message names the file, the place in it and the problem."""


class Transform:
    """The compiled field operations of one (event, purpose): build the data a partner gets."""

    __slots__ = ("_apply", "actions", "fields")

    def __init__(self, event_name: str, actions: Mapping[str, str]) -> None:
        leaving = {path: action for path, action in actions.items() if action != "drop"}
        #: Every field path this transform can output, in contract order (for the ledger).
        self.fields: tuple[str, ...] = tuple(leaving)
        #: What happens to each of those fields: keep, pseudonymise or generalise.
        self.actions: Mapping[str, str] = MappingProxyType(leaving)
        overlap = _overlap(leaving)
        if overlap:
            raise ValueError(f"{overlap[0]} and {overlap[1]} are both named; name one of them")
        tree: dict[str, Any] = {}
        for path, action in leaving.items():
            *parents, leaf = path.split(".")
            node = tree
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = (path, action)
        self._apply = _compile_level(event_name, tree, "")

    def __call__(
        self, data: Mapping[str, Any], *, pseudonymise: Pseudonymiser, reference_date: date
    ) -> dict[str, Any]:
        """A new dict with only the named fields, transformed; ``data`` is left untouched."""
        out: dict[str, Any] = {}
        self._apply(data, out, data, pseudonymise, reference_date)
        return out

    def __repr__(self) -> str:
        return f"Transform({dict(self.actions)!r})"


def _overlap(paths: Iterable[str]) -> tuple[str, str] | None:
    """An object path and one of its fields' paths, if both are among ``paths``."""
    named = set(paths)
    for path in sorted(named):
        parts = path.split(".")
        for end in range(1, len(parts)):
            if ".".join(parts[:end]) in named:
                return ".".join(parts[:end]), path
    return None


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _compile_level(event_name: str, tree: Mapping[str, Any], prefix: str) -> _Apply:
    """One object level (the record, or resident) as a function; scalars kept are a fast path."""
    keep: list[str] = []
    ops: list[_Apply] = []
    for key, node in tree.items():
        if isinstance(node, dict):
            inner = _compile_level(event_name, node, f"{prefix}{key}.")
            ops.append(_nested(key, prefix + key, inner))
            continue
        path, action = node
        if action == "keep" and not _is_container(event_name, path):
            keep.append(key)
        elif action == "keep":
            ops.append(_kept_copy(key))
        elif action == "pseudonymise":
            ops.append(_pseudonymised(key, path))
        elif action == "generalise":
            ops.append(_generalised(key, GENERALISERS[path][1]))
        else:
            raise ValueError(f"{path}: unknown action {action!r}")
    keys, rest = tuple(keep), tuple(ops)

    def apply(src: _Src, dst: _Dst, root: _Src, ps: Pseudonymiser, on: date) -> None:
        for key in keys:
            if key in src:
                dst[key] = src[key]
        for op in rest:
            op(src, dst, root, ps, on)

    return apply


def _kept_copy(key: str) -> _Apply:
    def op(src: _Src, dst: _Dst, root: _Src, ps: Pseudonymiser, on: date) -> None:
        if key in src:
            dst[key] = _clone(src[key])

    return op


def _pseudonymised(key: str, path: str) -> _Apply:
    def op(src: _Src, dst: _Dst, root: _Src, ps: Pseudonymiser, on: date) -> None:
        if key in src:
            value = src[key]
            if type(value) is str:
                dst[key] = ps(value, path)
            elif value is None:
                dst[key] = None
            else:
                raise TypeError(f"{path}: only strings can be pseudonymised")  # no value

    return op


def _generalised(key: str, generaliser: Generaliser) -> _Apply:
    def op(src: _Src, dst: _Dst, root: _Src, ps: Pseudonymiser, on: date) -> None:
        if key in src:
            value = src[key]
            dst[key] = None if value is None else generaliser(value, root, on)

    return op


def _nested(key: str, path: str, inner: _Apply) -> _Apply:
    def op(src: _Src, dst: _Dst, root: _Src, ps: Pseudonymiser, on: date) -> None:
        if key in src:
            value = src[key]
            if type(value) is dict or isinstance(value, Mapping):
                dst[key] = out = {}
                inner(value, out, root, ps, on)
            elif value is None:
                dst[key] = None
            else:
                raise TypeError(f"{path}: expected an object")  # fail closed, no value

    return op


@dataclass(frozen=True, slots=True)
class EventRule:
    """What a partner may receive of one event, and under which purposes."""

    event_name: str
    purposes: Mapping[str, frozenset[str] | None]  # purpose -> allowed categories; None = any
    deliver_as: str  # "event" | "alert"
    milestones: frozenset[str] | None  # None = every milestone
    fields: Mapping[str, Mapping[str, str]]  # field path -> purpose -> action
    _transforms: Mapping[str, Transform] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        transforms = {
            purpose: Transform(
                self.event_name,
                {path: acts.get(purpose, "drop") for path, acts in self.fields.items()},
            )
            for purpose in self.purposes
        }
        object.__setattr__(self, "_transforms", MappingProxyType(transforms))

    def allows(
        self, purpose: str, category: str | None = None, milestone: str | None = None
    ) -> bool:
        """May this event go out under ``purpose`` (and for this category / milestone)?"""
        if purpose not in self.purposes:
            return False
        categories = self.purposes[purpose]
        if categories is not None and category not in categories:
            return False
        return self.milestones is None or milestone in self.milestones

    def transform(self, purpose: str) -> Transform:
        """The compiled transform for ``purpose``; KeyError if the rule does not grant it."""
        try:
            return self._transforms[purpose]
        except KeyError:
            raise KeyError(f"{self.event_name}: no purpose {purpose!r} in this rule") from None


@dataclass(frozen=True, slots=True)
class PartnerContract:
    """One partner's data-sharing contract, validated against the registry and the schemas."""

    partner: str
    version: str
    channels: tuple[str, ...]
    person_level: bool
    events: Mapping[str, EventRule]
    reviewed: str | None = None

    def rule(self, event_name: str) -> EventRule | None:
        """The rule for ``event_name``, or None: the partner never receives that event."""
        return self.events.get(event_name)


# ---------------------------------------------------------------------------------------------
# Loading and validation


def load_contracts(directory: Path | None = None) -> dict[str, PartnerContract]:
    """Every partner's contract by partner id, validated; cached for the default folder."""
    if directory is None:
        return _load_default()
    return _load_directory(Path(directory))


@cache
def _load_default() -> dict[str, PartnerContract]:
    return _load_directory(data_dir("partners") / "contracts")


def _load_directory(directory: Path) -> dict[str, PartnerContract]:
    if not directory.is_dir():
        raise ContractError(f"{directory}: contracts folder not found")
    partners = load_partners()
    contracts: dict[str, PartnerContract] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix == ".yml":
            raise ContractError(f"{path}: name contract files <partner>.yaml, not .yml")
        if path.suffix == ".yaml":
            contract = _Reader(path, partners).contract()
            contracts[contract.partner] = contract
    missing = sorted(set(partners) - set(contracts))
    if missing:
        raise ContractError(
            f"{directory}: no contract for partner(s) {', '.join(missing)} of the registry; every "
            "partner needs one (a partner that gets aggregates only: events: {})"
        )
    return contracts


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice (YAML would silently keep the last one)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Iterable) and not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


@cache
def _schema_fields(event_name: str) -> Mapping[str, Mapping[str, Any]]:
    """Every field path of the event's newest schema (dotted for nested objects) -> its node."""
    found: dict[str, Mapping[str, Any]] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            found[prefix + name] = sub
            walk(sub, f"{prefix}{name}.")

    walk(latest(event_name).document, "")
    return MappingProxyType(found)


def _json_types(node: Mapping[str, Any]) -> set[str]:
    value = node.get("type", ())
    return {value} if isinstance(value, str) else set(value)


def _is_container(event_name: str, path: str) -> bool:
    try:
        node = _schema_fields(event_name).get(path)
    except KeyError:  # no schema: be safe and copy
        return True
    return node is None or bool(_json_types(node) & {"object", "array"})


def _hint(word: object, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Reads one contract file; every problem becomes a ContractError that says where."""

    def __init__(self, path: Path, partners: Mapping[str, Partner]) -> None:
        self.path = path
        self.partners = partners
        self.partner: str | None = None

    def fail(self, at: str, problem: str) -> NoReturn:
        who = f" (partner {self.partner})" if self.partner else ""
        raise ContractError(
            f"{self.path}{who}: {at}: {problem}" if at else f"{self.path}{who}: {problem}"
        )

    def keys(
        self, at: str, value: object, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(at, "must be a mapping (key: value)")
        allowed = required + optional
        for key in value:
            if key not in allowed:
                where = f"{at}.{key}" if at else str(key)
                self.fail(
                    where, f"unknown key{_hint(key, allowed)} (allowed: {', '.join(allowed)})"
                )
        missing = [key for key in required if key not in value]
        if missing:
            self.fail(at, f"missing {', '.join(missing)}")
        return value

    def codes(self, at: str, value: object, allowed: Iterable[str], what: str) -> frozenset[str]:
        """A non-empty list of distinct codes, each one of ``allowed`` (``what``: singular noun)."""
        allowed = tuple(allowed)
        if not isinstance(value, list) or not value:
            self.fail(at, f"must be a non-empty list of {_PLURAL.get(what, what + 's')}")
        for code in value:
            if code not in allowed:
                self.fail(
                    at,
                    f"unknown {what} {code!r}{_hint(code, allowed)} (known: {', '.join(allowed)})",
                )
        if len(set(value)) != len(value):
            self.fail(at, f"lists a {what} twice")
        return frozenset(value)

    def contract(self) -> PartnerContract:
        try:
            with self.path.open(encoding="utf-8") as stream:
                doc = yaml.load(stream, Loader=_StrictLoader)
        except yaml.YAMLError as exc:
            self.fail("", f"not valid YAML: {exc}")
        except (OSError, UnicodeDecodeError) as exc:
            self.fail("", f"cannot be read: {exc}")
        doc = self.keys(
            "", doc, ("partner", "version", "channels", "events"), ("reviewed", "person_level")
        )
        partner = doc["partner"]
        if partner != self.path.stem:
            self.fail(
                "partner", f"is {partner!r} but the file is named {self.path.name}; they must match"
            )
        if partner not in self.partners:
            self.fail(
                "partner",
                f"{partner!r} is not in partners/registry.yaml{_hint(partner, self.partners)}",
            )
        self.partner = partner
        registered = self.partners[partner]
        if "person_level" in doc and doc["person_level"] is not registered.person_level:
            self.fail(
                "person_level",
                f"says {doc['person_level']!r} but partners/registry.yaml says "
                f"{registered.person_level!r}",
            )
        version = doc["version"]
        if not isinstance(version, str) or not version.strip():
            self.fail("version", 'must be a non-empty quoted string, e.g. "2026.11-1"')
        reviewed = doc.get("reviewed")
        if reviewed is not None and not isinstance(reviewed, str):
            self.fail("reviewed", "must be free text")
        channels = doc["channels"]
        self.codes("channels", channels, CHANNELS, "channel")
        events = doc["events"]
        if not isinstance(events, dict):
            self.fail("events", "must be a mapping of event name to rule ({} for none)")
        if events and not registered.person_level:
            self.fail(
                f"events.{next(iter(events))}",
                "partner is person_level: false in partners/registry.yaml (aggregates only); it "
                "can receive no person-level event: events must be {}",
            )
        rules = {name: self.rule(name, spec) for name, spec in events.items()}
        return PartnerContract(
            partner=partner,
            version=version.strip(),
            channels=tuple(channels),
            person_level=registered.person_level,
            events=MappingProxyType(rules),
            reviewed=reviewed,
        )

    def rule(self, name: object, spec: object) -> EventRule:
        at = f"events.{name}"
        if name not in all_schemas():
            self.fail(at, f"no schema for this event in schemas/{_hint(name, all_schemas())}")
        if name not in DELIVERABLE:
            self.fail(
                at,
                f"not a person-level event a partner can receive (only {', '.join(DELIVERABLE)})",
            )
        assert isinstance(name, str)
        by_milestone = DELIVERABLE[name] == "milestones"
        optional = ("deliver_as", "milestones") if by_milestone else ("deliver_as",)
        spec = self.keys(at, spec, ("purposes", "fields"), optional)

        purposes: dict[str, frozenset[str] | None] = {}
        if by_milestone:
            if not isinstance(spec["purposes"], list):
                self.fail(
                    f"{at}.purposes", "must be a list of purposes (milestones have no category)"
                )
            purposes = dict.fromkeys(
                sorted(
                    self.codes(f"{at}.purposes", spec["purposes"], PURPOSES, "purpose"),
                    key=PURPOSES.index,
                )
            )
        else:
            if not isinstance(spec["purposes"], dict) or not spec["purposes"]:
                self.fail(f"{at}.purposes", "must map each purpose to its categories (or all)")
            for purpose, categories in spec["purposes"].items():
                pat = f"{at}.purposes.{purpose}"
                if purpose not in PURPOSES:
                    self.fail(
                        pat,
                        f"unknown purpose{_hint(purpose, PURPOSES)} (known: {', '.join(PURPOSES)})",
                    )
                if categories == ALL_CATEGORIES or categories == [ALL_CATEGORIES]:
                    purposes[purpose] = frozenset(SIGNAL_CATEGORIES)
                else:
                    purposes[purpose] = self.codes(pat, categories, SIGNAL_CATEGORIES, "category")

        deliver_as = spec.get("deliver_as", "event")
        if deliver_as not in DELIVER_AS:
            self.fail(
                f"{at}.deliver_as", f"must be one of {', '.join(DELIVER_AS)}, not {deliver_as!r}"
            )
        milestones = None
        if "milestones" in spec:
            milestones = self.codes(f"{at}.milestones", spec["milestones"], MILESTONES, "milestone")

        fields = spec["fields"]
        if not isinstance(fields, dict) or not fields:
            self.fail(f"{at}.fields", "must name at least one field (every other field is dropped)")
        normalised = {
            path: self.field(name, f"{at}.fields.{path}", path, action, purposes)
            for path, action in fields.items()
        }
        for purpose in purposes:
            overlap = _overlap(path for path, acts in normalised.items() if acts[purpose] != "drop")
            if overlap:
                self.fail(
                    f"{at}.fields",
                    f"{overlap[0]} and {overlap[1]} both leave under {purpose}; an object and one "
                    "of its fields cannot both be named for the same purpose",
                )
        return EventRule(
            event_name=name,
            purposes=MappingProxyType(purposes),
            deliver_as=deliver_as,
            milestones=milestones,
            fields=MappingProxyType(normalised),
        )

    def field(
        self, event: str, at: str, path: object, spec: object, purposes: Mapping[str, object]
    ) -> Mapping[str, str]:
        """One field's action per purpose: a single action, or {action: [purposes]}."""
        known = _schema_fields(event)
        if not isinstance(path, str) or path not in known:
            self.fail(at, f"no such field in the {event} schema{_hint(path, known)}")
        if isinstance(spec, str):
            if spec not in ACTIONS:
                self.fail(
                    at,
                    f"unknown action {spec!r}{_hint(spec, ACTIONS)} (known: {', '.join(ACTIONS)})",
                )
            per = dict.fromkeys(purposes, spec)
        elif isinstance(spec, dict) and spec:
            per = dict.fromkeys(purposes, "drop")
            named: dict[str, str] = {}
            for action, listed in spec.items():
                if action not in ACTIONS:
                    self.fail(at, f"unknown action {action!r}{_hint(action, ACTIONS)}")
                for purpose in self.codes(f"{at}.{action}", listed, PURPOSES, "purpose"):
                    if purpose not in purposes:
                        self.fail(
                            f"{at}.{action}",
                            f"purpose {purpose!r} is not granted by this rule (purposes: "
                            f"{', '.join(purposes)})",
                        )
                    if purpose in named:
                        self.fail(
                            at, f"purpose {purpose!r} is given both {named[purpose]} and {action}"
                        )
                    named[purpose] = per[purpose] = action
        else:
            self.fail(
                at, f"must be an action ({', '.join(ACTIONS)}) or a mapping action: [purposes]"
            )
        node = known[path]
        free_text = [f for f in FREE_TEXT.get(event, ()) if f == path or f.startswith(path + ".")]
        for purpose, action in per.items():
            if action == "generalise" and path not in GENERALISERS:
                self.fail(
                    at,
                    f"cannot generalise {path} (under {purpose}): a generaliser exists only for "
                    + ", ".join(f"{p} (-> {what})" for p, (what, _) in GENERALISERS.items()),
                )
            if action == "pseudonymise" and (
                path not in PSEUDONYMISABLE or "string" not in _json_types(node)
            ):
                self.fail(
                    at,
                    f"cannot pseudonymise {path} (under {purpose}): only the string identifiers "
                    f"{', '.join(sorted(PSEUDONYMISABLE))} can be",
                )
            if free_text and action == "keep" and purpose != WARM_HANDOVER:
                self.fail(
                    at,
                    f"{free_text[0]} is free text and may only be kept for {WARM_HANDOVER}, "
                    f"not for {purpose}",
                )
        return MappingProxyType(per)
