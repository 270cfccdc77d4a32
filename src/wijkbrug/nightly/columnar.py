"""The nightly file channel, planned column-wise: the same rows as :class:`Planner`, for a night.

:meth:`Planner.plan <wijkbrug.delivery.Planner.plan>` costs 50-80 us per event in Python, too
slow for a night of a million events. :class:`ColumnarPlanner` gives exactly the deliveries the
per-event planner gives on the ``file`` channel (partners, kinds, purposes, consent ids, contract
versions, key ids, fields, data), but decides the consent gate with joins over the whole night:

- **signals**: the valid consents of the day, one row per (tenant, partner, category) they
  cover, filtered on what the contract allows, broadest purpose first and then consent id (the
  planner's order); the first row of each group serves. Signals join on (tenant, category).
  A signal without a consent is held when its visit lists a consent the registry does not know.
- **milestones**: the same with (tenant, partner, milestone); buurtteam alerts only within
  :data:`~wijkbrug.delivery.ALERT_HORIZON`, their texts from
  :func:`~wijkbrug.alerts.milestone_alert`.

The contract transforms run per (partner, event type, purpose) column by column; pseudonyms are
computed once per unique (field, value) of a partner, age bands once per (birth date, day). The
result is the partner's Arrow table as :mod:`wijkbrug.nightly.drop` writes it (same schema,
order and ``data`` text, so the same Parquet bytes) and, for the ledger, the
:class:`~wijkbrug.ledger.Delivery` rows with the planner's envelope bytes.

An event the fast path does not model (no day to judge it by) goes through the per-event planner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wijkbrug.alerts import milestone_alert
from wijkbrug.consent import PURPOSE_RANK, ConsentState
from wijkbrug.delivery import ALERT_HORIZON, Contacts, Incoming, Keys, Planner
from wijkbrug.ledger import Delivery
from wijkbrug.nightly import drop
from wijkbrug.nightly.heap import gc_paused
from wijkbrug.partner_contract import GENERALISERS, EventRule, PartnerContract, Transform, age_band
from wijkbrug.partner_contract import pc4 as _pc4

CHANNEL = "file"
SIGNAL, MILESTONE = "signal.consented", "renovation.milestone"
_MISSING: Any = object()
_SORT = orjson.OPT_SORT_KEYS


@dataclass(slots=True)
class _Block:
    """Rows of one partner made in one go: same kind and, for events, same purpose."""

    positions: list[int]  # into the night's events
    kind: str
    purposes: list[str]
    consent_ids: list[str]
    data: list[str]  # JSON text, sorted keys
    fields: list[tuple[str, ...]]


@dataclass
class NightPlan:
    """A night's file deliveries, column-wise, per partner; ``held``: signals waiting for the
    registry (counted as the planner counts ``Plan.held``)."""

    events: Sequence[Incoming]
    contracts: Mapping[str, PartnerContract]
    key_ids: Mapping[str, str | None]
    partition_of: Callable[[str], int]
    keys: Keys
    held: int = 0
    blocks: dict[str, list[_Block]] = field(default_factory=lambda: defaultdict(list))
    _tables: dict[str, pa.Table] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(b.positions) for blocks in self.blocks.values() for b in blocks)

    def partners(self) -> list[str]:
        return sorted(p for p, blocks in self.blocks.items() if any(b.positions for b in blocks))

    def table(self, partner: str) -> pa.Table:
        """The partner's rows in :data:`drop.SCHEMA`, in the file's order (time, event id)."""
        if partner not in self._tables:
            self._tables[partner] = self._build(partner)
        return self._tables[partner]

    def _build(self, partner: str) -> pa.Table:
        blocks = self.blocks.get(partner, [])
        positions = [p for b in blocks for p in b.positions]
        if not positions:
            return drop.SCHEMA.empty_table()
        events = self.events
        contract = self.contracts[partner]
        n = len(positions)
        occurred = pa.array([events[p].time for p in positions], pa.timestamp("us", tz="UTC"))
        ids = pa.array([events[p].id for p in positions], pa.string())
        columns = {
            "event_id": ids,
            "kind": pa.array([b.kind for b in blocks for _ in b.positions], pa.string()),
            "event_type": pa.array([events[p].name for p in positions], pa.string()),
            "occurred_at": occurred,
            "purpose": pa.array([x for b in blocks for x in b.purposes], pa.string()),
            "consent_id": pa.array([x for b in blocks for x in b.consent_ids], pa.string()),
            "contract_version": pa.array([contract.version] * n, pa.string()),
            "key_id": pa.array([self.key_ids[partner]] * n, pa.string()),
            "data": pa.array([x for b in blocks for x in b.data], pa.string()),
        }
        table = pa.Table.from_arrays(list(columns.values()), schema=drop.SCHEMA)
        order = pc.sort_indices(
            table, sort_keys=[("occurred_at", "ascending"), ("event_id", "ascending")]
        )
        return table.take(order).combine_chunks()

    def file_table(self, partner: str, leaving: Sequence[Delivery] | None = None) -> pa.Table:
        """The partner's file: only the rows of ``leaving`` (the ledger's say), retractions last,
        exactly as ``drop.table(leaving)`` would build it; ``None``: every planned row."""
        table = self.table(partner)
        if leaving is None:
            return table
        wanted = [d.event_id for d in leaving if d.kind != "retraction"]
        if len(wanted) != table.num_rows:
            table = table.filter(
                pc.is_in(table["event_id"], value_set=pa.array(wanted, pa.string()))
            )
        retractions = [d for d in leaving if d.kind == "retraction"]
        if retractions:
            table = pa.concat_tables([table, drop.table(retractions)]).combine_chunks()
        return table

    def deliveries(self) -> list[Delivery]:
        """The planner's :class:`Delivery` rows (envelope bytes included) for the ledger."""
        with gc_paused():
            return self._deliveries()

    def _deliveries(self) -> list[Delivery]:
        events, keys = self.events, self.keys
        iso: dict[int, str] = {}
        subjects: dict[str, str] = {}
        bsns: dict[str, str] = {}
        partitions: dict[str, int] = {}
        out: list[Delivery] = []
        for partner in sorted(self.blocks):
            contract = self.contracts[partner]
            key_id = self.key_ids[partner]
            for block in self.blocks[partner]:
                kind = block.kind
                for p, purpose, cid, data, fields in zip(
                    block.positions, block.purposes, block.consent_ids, block.data, block.fields,
                    strict=True,
                ):  # fmt: skip
                    event = events[p]
                    occurred = iso.get(p)
                    if occurred is None:
                        occurred = iso[p] = event.time.isoformat()
                    payload = orjson.dumps(
                        {
                            "event_id": event.id,
                            "kind": kind,
                            "event_type": event.name,
                            "occurred_at": occurred,
                            "partner": partner,
                            "purpose": purpose,
                            "consent_id": cid,
                            "contract_version": contract.version,
                            "key_id": key_id,
                            "data": orjson.Fragment(data),
                        },
                        option=_SORT,
                    )
                    src = event.data
                    tenant = src["tenant_number"]
                    subject = subjects.get(tenant)
                    if subject is None:
                        subject = subjects[tenant] = keys.subject("huurder", tenant)
                    bsn = (src.get("resident") or {}).get("bsn")
                    bsn_subject = None
                    if bsn:
                        bsn_subject = bsns.get(bsn)
                        if bsn_subject is None:
                            bsn_subject = bsns[bsn] = keys.subject("bsn", bsn)
                    unit = src["unit_id"]
                    partition = partitions.get(unit)
                    if partition is None:
                        partition = partitions[unit] = self.partition_of(unit)
                    out.append(
                        Delivery(
                            event_id=event.id,
                            partner=partner,
                            channel=CHANNEL,
                            kind=kind,
                            event_type=event.name,
                            purpose=purpose,
                            consent_id=cid,
                            contract_version=contract.version,
                            key_id=key_id,
                            unit_partition=partition,
                            subject=subject,
                            bsn_subject=bsn_subject,
                            fields=fields,
                            payload=payload,
                        )
                    )
        return out


class ColumnarPlanner:
    """Plans a whole night for the ``file`` channel; the same answers as ``Planner.plan``."""

    def __init__(
        self,
        contracts: Mapping[str, PartnerContract],
        keys: Keys,
        partition_of: Callable[[str], int],
    ) -> None:
        self.contracts = contracts
        self.keys = keys
        self.partition_of = partition_of
        self._fallback = Planner(dict(contracts), keys, partition_of, channels=(CHANNEL,))
        self._rules = {
            name: [(c, rule) for c in contracts.values() if (rule := c.rule(name)) is not None]
            for name in (SIGNAL, MILESTONE)
        }

    # -- the night --------------------------------------------------------------------------

    def plan(
        self,
        events: Sequence[Incoming],
        consents: ConsentState,
        today: date,
        contacts: Contacts | None = None,
        excluded: Iterable[str] = (),
    ) -> NightPlan:
        """Plan ``events`` (the night, in order) on ``today``; ``excluded`` ids are not planned.

        ``contacts``: what was learned before the night (None: no warm-handover contacts at
        all); the night's signals are learned in order, as the per-event loop learns them.
        """
        with gc_paused():
            return self._plan(events, consents, today, contacts, excluded)

    def _plan(
        self,
        events: Sequence[Incoming],
        consents: ConsentState,
        today: date,
        contacts: Contacts | None,
        excluded: Iterable[str],
    ) -> NightPlan:
        excluded = set(excluded)
        partners = sorted(self.contracts)
        pseudonymisers = {p: self.keys.pseudonymiser(p) for p in partners}
        night = NightPlan(
            events=events,
            contracts=self.contracts,
            key_ids={p: getattr(ps, "key_id", None) for p, ps in pseudonymisers.items()},
            partition_of=self.partition_of,
            keys=self.keys,
        )
        signals: list[int] = []
        milestones: list[int] = []
        fallback: list[int] = []
        learning: list[int] = []  # signals that teach a contact
        days: dict[int, date] = {}
        day_of: dict[str, date] = {}
        for i, event in enumerate(events):
            name = event.name
            if name != SIGNAL and name != MILESTONE:
                continue
            data = event.data
            if name == SIGNAL and (data.get("resident") or {}).get("name"):
                learning.append(i)
            if event.id in excluded or data.get("tenant_number") is None:
                continue
            text = data.get("visit_date") or data.get("realised_date") or data.get("planned_date")
            if not text:
                fallback.append(i)  # the planner falls back to the clock: not modelled here
                continue
            day = day_of.get(text)
            if day is None:
                day = day_of[text] = date.fromisoformat(text)
            days[i] = day
            (signals if name == SIGNAL else milestones).append(i)

        valid = _valid_consents(consents, today)
        cache: dict[str, dict[tuple[str, str], str]] = {p: {} for p in partners}
        contact_needed: list[int] = []
        alerts: list[tuple[PartnerContract, EventRule, str, list[int], list[Any]]] = []
        if signals:
            night.held = self._signals(night, events, signals, days, valid, consents, today, cache,
                                       pseudonymisers)  # fmt: skip
        if milestones:
            alerts = self._milestones(night, events, milestones, days, valid, today, cache,
                                      pseudonymisers)  # fmt: skip
            contact_needed = sorted(
                {p for _c, _r, purpose, pos, _v in alerts if purpose == "warme_overdracht"
                 for p in pos}
            )  # fmt: skip
        snapshot = _contacts_at(events, learning, sorted({*contact_needed, *fallback}), contacts)
        categories: dict[str, dict[str, dict[str, set[str]]]] = {}
        for contract, rule, purpose, positions, chosen in alerts:
            if contract.partner not in categories:
                categories[contract.partner] = _alert_categories(valid, contract)
            self._alerts(night, events, contract, rule, purpose, positions, chosen, valid,
                         categories[contract.partner], days, cache, pseudonymisers,
                         snapshot)  # fmt: skip
        for i in fallback:
            held = self._fallback.plan(events[i], consents, today, _One(snapshot.get(i)))
            night.held += len(held.held)
            for d in held.deliveries:
                envelope = orjson.loads(d.payload)
                night.blocks[d.partner].append(
                    _Block([i], d.kind, [d.purpose], [d.consent_id],
                           [orjson.dumps(envelope["data"], option=_SORT).decode()], [d.fields])
                )  # fmt: skip
        return night

    # -- signals ----------------------------------------------------------------------------

    def _signals(
        self,
        night: NightPlan,
        events: Sequence[Incoming],
        positions: list[int],
        days: Mapping[int, date],
        valid: pd.DataFrame,
        consents: ConsentState,
        today: date,
        cache: dict[str, dict[tuple[str, str], str]],
        pseudonymisers: Mapping[str, Callable[..., str]],
    ) -> int:
        rules = self._rules[SIGNAL]
        sig = pd.DataFrame(
            {
                "pos": np.asarray(positions, dtype=np.int64),
                "tenant": [events[i].data["tenant_number"] for i in positions],
                "category": [events[i].data["category"] for i in positions],
            }
        )
        # Which (partner, purpose, category) each contract allows, asked of the rule itself.
        categories = set(sig["category"].unique()) | {c for cs in valid["categories"] for c in cs}
        allowed = pd.DataFrame(
            [
                (c.partner, purpose, category)
                for c, rule in rules
                for purpose in PURPOSE_RANK
                for category in categories
                if rule.allows(purpose, category=category)
            ],
            columns=["partner", "purpose", "category"],
        )
        covered = valid.explode("categories").rename(columns={"categories": "category"})
        covered = covered.merge(allowed, on=["partner", "purpose", "category"])
        # valid is sorted by (tenant, partner, broadest purpose, consent id): first one serves.
        covered = covered.sort_values("order", kind="stable").drop_duplicates(
            ["tenant", "partner", "category"], keep="first"
        )
        served = sig.merge(
            covered[["tenant", "partner", "category", "purpose", "consent_id"]],
            on=["tenant", "category"],
        )
        file_partners = {c.partner for c, _ in rules if CHANNEL in c.channels}
        for (partner, purpose), group in served.groupby(["partner", "purpose"], sort=True):
            if partner not in file_partners:
                continue
            contract = self.contracts[partner]
            rule = contract.rule(SIGNAL)
            assert rule is not None
            pos = group["pos"].tolist()
            self._emit(night, events, contract, rule, purpose, pos, group["consent_id"].tolist(),
                       "signal", days, cache[partner], pseudonymisers[partner])  # fmt: skip
        return self._held(events, sig, served, consents, rules)

    @staticmethod
    def _held(
        events: Sequence[Incoming],
        sig: pd.DataFrame,
        served: pd.DataFrame,
        consents: ConsentState,
        rules: list[tuple[PartnerContract, EventRule]],
    ) -> int:
        """Signals x partners without a consent whose visit lists one the registry lacks."""
        by_partner = {c.partner: rule for c, rule in rules}
        got = set(zip(served["pos"].tolist(), served["partner"].tolist(), strict=True))
        allows: dict[tuple[str, str, str], bool] = {}
        known: dict[tuple[str, str, str], bool] = {}
        waiting: set[tuple[int, str]] = set()
        for pos, category in zip(sig["pos"].tolist(), sig["category"].tolist(), strict=True):
            data = events[pos].data
            for ref in data.get("consents", ()):
                partner, purpose = ref["partner"], ref["purpose"]
                rule = by_partner.get(partner)
                if rule is None or (pos, partner) in got or (pos, partner) in waiting:
                    continue
                key = (partner, purpose, category)
                ok = allows.get(key)
                if ok is None:
                    ok = allows[key] = rule.allows(purpose, category=category)
                if not ok:
                    continue
                reg = (data["registration_id"], partner, purpose)
                seen = known.get(reg)
                if seen is None:
                    seen = known[reg] = consents.registration_known(*reg)
                if not seen:
                    waiting.add((pos, partner))
        return len(waiting)

    # -- milestones -------------------------------------------------------------------------

    def _milestones(
        self,
        night: NightPlan,
        events: Sequence[Incoming],
        positions: list[int],
        days: Mapping[int, date],
        valid: pd.DataFrame,
        today: date,
        cache: dict[str, dict[tuple[str, str], str]],
        pseudonymisers: Mapping[str, Callable[..., str]],
    ) -> list[tuple[PartnerContract, EventRule, str, list[int], list[Any]]]:
        """Milestone events now; alerts are returned (they need contacts) as groups."""
        alerts = []
        ms = pd.DataFrame(
            {
                "pos": np.asarray(positions, dtype=np.int64),
                "tenant": [events[i].data["tenant_number"] for i in positions],
                "milestone": [events[i].data["milestone"] for i in positions],
                "day": [days[i] for i in positions],
            }
        )
        horizon = today - ALERT_HORIZON
        for contract, rule in self._rules[MILESTONE]:
            partner = contract.partner
            rows = ms
            if rule.milestones is not None:
                rows = rows[rows["milestone"].isin(sorted(rule.milestones))]
            if rule.deliver_as == "alert":
                rows = rows[[day >= horizon for day in rows["day"]]]
            if rows.empty or CHANNEL not in contract.channels:
                continue  # no delivery on this channel (refusals are not counted)
            allowed = pd.DataFrame(
                [
                    (purpose, milestone)
                    for purpose in PURPOSE_RANK
                    for milestone in rows["milestone"].unique()
                    if rule.allows(purpose, milestone=milestone)
                ],
                columns=["purpose", "milestone"],
            )
            mine = valid[valid["partner"] == partner].merge(allowed, on="purpose")
            first = mine.sort_values("order", kind="stable").drop_duplicates(
                ["tenant", "milestone"], keep="first"
            )
            served = rows.merge(first[["tenant", "milestone", "purpose", "consent_id", "order"]],
                                on=["tenant", "milestone"])  # fmt: skip
            for purpose, group in served.groupby("purpose", sort=True):
                pos = group["pos"].tolist()
                if rule.deliver_as == "alert":
                    alerts.append((contract, rule, str(purpose), pos, group["order"].tolist()))
                    continue
                self._emit(night, events, contract, rule, str(purpose), pos,
                           group["consent_id"].tolist(), "milestone", days, cache[partner],
                           pseudonymisers[partner])  # fmt: skip
        return alerts

    def _alerts(
        self,
        night: NightPlan,
        events: Sequence[Incoming],
        contract: PartnerContract,
        rule: EventRule,
        purpose: str,
        positions: list[int],
        orders: list[Any],
        valid: pd.DataFrame,
        categories: Mapping[str, Mapping[str, set[str]]],
        days: Mapping[int, date],
        cache: dict[str, dict[tuple[str, str], str]],
        pseudonymisers: Mapping[str, Callable[..., str]],
        snapshot: Mapping[int, dict[str, str | None] | None],
    ) -> None:
        partner = contract.partner
        transform = rule.transform(purpose)
        srcs = [events[i].data for i in positions]
        outs = _apply(transform, srcs, [days[i] for i in positions], cache[partner],
                      pseudonymisers[partner])  # fmt: skip
        ids = valid["consent_id"].to_numpy()
        allows: dict[tuple[str, str], bool] = {}
        base = {*transform.fields, "title", "body", "categories"}
        sorted_base = tuple(sorted(base))
        block = _Block([], "alert", [], [], [], [])
        for pos, src, out, order in zip(positions, srcs, outs, orders, strict=True):
            tenant = src["tenant_number"]
            milestone = src["milestone"]
            shown: set[str] = set()
            for granted, cats in categories.get(tenant, {}).items():
                ok = allows.get((granted, milestone))
                if ok is None:
                    ok = allows[(granted, milestone)] = rule.allows(granted, milestone=milestone)
                if ok:
                    shown |= cats
            alert = milestone_alert(
                out, purpose=purpose, categories=sorted(shown), contact=snapshot.get(pos)
            )
            fields = sorted_base
            if alert["contact"] is not None:
                fields = (*fields, "contact.name", "contact.phone")
            block.positions.append(pos)
            block.purposes.append(purpose)
            block.consent_ids.append(ids[order])
            block.data.append(orjson.dumps(alert, option=_SORT).decode())
            block.fields.append(fields)
        night.blocks[partner].append(block)

    # -- transforms -------------------------------------------------------------------------

    @staticmethod
    def _emit(
        night: NightPlan,
        events: Sequence[Incoming],
        contract: PartnerContract,
        rule: EventRule,
        purpose: str,
        positions: list[int],
        consent_ids: list[str],
        kind: str,
        days: Mapping[int, date],
        cache: dict[tuple[str, str], str],
        pseudonymise: Callable[..., str],
    ) -> None:
        transform = rule.transform(purpose)
        outs = _apply(transform, [events[i].data for i in positions], [days[i] for i in positions],
                      cache, pseudonymise)  # fmt: skip
        dumps = orjson.dumps
        night.blocks[contract.partner].append(
            _Block(
                positions,
                kind,
                [purpose] * len(positions),
                consent_ids,
                [dumps(o, option=_SORT).decode() for o in outs],
                [transform.fields] * len(positions),
            )
        )


def _valid_consents(consents: ConsentState, today: date) -> pd.DataFrame:
    """The consents valid on ``today``, in the planner's order: tenant, partner, broadest
    purpose first, consent id; ``order`` is the row's place in that order."""
    found = [c for c in consents.all() if c.valid_on(today)]
    found.sort(key=lambda c: (c.tenant_number, c.partner, -PURPOSE_RANK[c.purpose], c.consent_id))
    return pd.DataFrame(
        {
            "tenant": pd.Series([c.tenant_number for c in found], dtype=object),
            "partner": pd.Series([c.partner for c in found], dtype=object),
            "purpose": pd.Series([c.purpose for c in found], dtype=object),
            "consent_id": pd.Series([c.consent_id for c in found], dtype=object),
            "categories": pd.Series([sorted(c.categories) for c in found], dtype=object),
            "order": np.arange(len(found), dtype=np.int64),
        }
    )


def _alert_categories(
    valid: pd.DataFrame, contract: PartnerContract
) -> dict[str, dict[str, set[str]]]:
    """Per tenant and purpose of a valid consent for the partner: the categories its signal
    rule allows under that purpose (an alert's "U mag handelen op")."""
    signals = contract.rule(SIGNAL)
    mine = valid[valid["partner"] == contract.partner]
    allows: dict[tuple[str, str], bool] = {}
    out: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for tenant, purpose, cats in zip(mine["tenant"], mine["purpose"], mine["categories"],
                                     strict=True):  # fmt: skip
        keep = out[tenant].setdefault(purpose, set())
        for category in cats:
            ok = allows.get((purpose, category))
            if ok is None:
                ok = allows[(purpose, category)] = signals is not None and signals.allows(
                    purpose, category=category
                )
            if ok:
                keep.add(category)
    return out


def _contacts_at(
    events: Sequence[Incoming],
    learning: list[int],
    needed: list[int],
    before: Contacts | None,
) -> dict[int, dict[str, str | None] | None]:
    """The contact of the event's tenant as the per-event loop knows it at each ``needed``
    position (learned from history and the night's signals up to and including it)."""
    if not needed or before is None:
        return {}
    learned: dict[str, dict[str, str | None]] = {}
    out: dict[int, dict[str, str | None] | None] = {}
    at = 0
    for pos in needed:
        while at < len(learning) and learning[at] <= pos:
            data = events[learning[at]].data
            resident = data.get("resident") or {}
            learned[data["tenant_number"]] = {
                "name": resident["name"],
                "phone": resident.get("phone"),
            }
            at += 1
        tenant = events[pos].data.get("tenant_number")
        out[pos] = learned.get(tenant) or before.get(tenant)
    return out


class _One:
    """A Contacts stand-in that knows one event's contact (for the per-event fallback)."""

    def __init__(self, contact: dict[str, str | None] | None) -> None:
        self.contact = contact

    def get(self, tenant: str) -> dict[str, str | None] | None:
        return self.contact


# -- column-wise transforms ---------------------------------------------------------------------


def _tree(transform: Transform) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, action in transform.actions.items():
        *parents, leaf = path.split(".")
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = (path, action)
    return tree


def _apply(
    transform: Transform,
    srcs: list[Mapping[str, Any]],
    days: list[date],
    cache: dict[tuple[str, str], str],
    pseudonymise: Callable[..., str],
) -> list[dict[str, Any]]:
    """``transform`` over many records, field by field; the same dicts as ``transform(data)``."""
    outs: list[dict[str, Any]] = [{} for _ in srcs]
    _level(_tree(transform), srcs, outs, srcs, days, cache, pseudonymise)
    return outs


def _level(
    tree: Mapping[str, Any],
    srcs: Sequence[Mapping[str, Any]],
    outs: list[dict[str, Any]],
    roots: Sequence[Mapping[str, Any]],
    days: Sequence[date],
    cache: dict[tuple[str, str], str],
    pseudonymise: Callable[..., str],
) -> None:
    for key, node in tree.items():
        values = [src.get(key, _MISSING) for src in srcs]
        if isinstance(node, dict):
            rows = []
            for i, value in enumerate(values):
                if value is _MISSING:
                    continue
                if value is None:
                    outs[i][key] = None
                elif isinstance(value, Mapping):
                    rows.append(i)
                else:
                    raise TypeError(f"{key}: expected an object")
            inner = [{} for _ in rows]
            for i, out in zip(rows, inner, strict=True):
                outs[i][key] = out
            _level(node, [values[i] for i in rows], inner, [roots[i] for i in rows],
                   [days[i] for i in rows], cache, pseudonymise)  # fmt: skip
            continue
        path, action = node
        if action == "keep":
            for out, value in zip(outs, values, strict=True):
                if value is not _MISSING:
                    out[key] = value
        elif action == "pseudonymise":
            for out, value in zip(outs, values, strict=True):
                if value is _MISSING:
                    continue
                if type(value) is str:
                    found = cache.get((path, value))
                    if found is None:
                        found = cache[(path, value)] = pseudonymise(value, path)
                    out[key] = found
                elif value is None:
                    out[key] = None
                else:
                    raise TypeError(f"{path}: only strings can be pseudonymised")
        elif action == "generalise":
            _generalise(path, key, values, outs, roots, days)
        else:
            raise ValueError(f"{path}: unknown action {action!r}")


def _generalise(
    path: str,
    key: str,
    values: list[Any],
    outs: list[dict[str, Any]],
    roots: Sequence[Mapping[str, Any]],
    days: Sequence[date],
) -> None:
    """Generalised once per distinct input: age bands per (birth date, day), PC4 per postcode."""
    general = GENERALISERS[path][1]
    memo: dict[Any, Any] = {}
    for i, value in enumerate(values):
        if value is _MISSING:
            continue
        if value is None:
            outs[i][key] = None
        elif path == "resident.birth_date" and type(value) is str:
            k = (value, days[i])
            band = memo.get(k)
            if band is None:
                band = memo[k] = age_band(value, days[i])
            outs[i][key] = band
        elif path == "address.postcode" and type(value) is str:
            code = memo.get(value)
            if code is None:
                code = memo[value] = _pc4(value)
            outs[i][key] = code
        else:
            outs[i][key] = general(value, roots[i], days[i])


# -- writing ------------------------------------------------------------------------------------
